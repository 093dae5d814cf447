//! Section 5, `release` and `release_busy`: draining, the pool kept, handed off or
//! shut down, and release past hard expiry.

use super::*;

#[test]
fn release_is_idempotent() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    assert_eq!(released(&mut core, now, g.lease).0, PoolFate::Kept);
    assert_eq!(core.release(now, g.lease), Err(LeaseError::Ended));
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!((core.available_count(), core.leased_count()), (1, 0));
}

#[test]
fn release_with_jobs_in_flight_drains_until_the_last_job_finishes() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    core.job_submitted(now, g.lease).unwrap();
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 2 }));
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 2 }), "idempotent");
    assert!(drain_raw(&mut core).is_empty(), "no end while draining");
    assert_eq!((core.leased_count(), core.available_count()), (1, 0), "draining counts as leased");
    assert!(core.stats(now).leases[0].draining);
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Released));
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(core.leased_count(), 1);
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    assert_eq!(drain_raw(&mut core), vec![lease_ended(&g, None, LeaseEnd::Released(PoolFate::Kept))]);
    assert_eq!((core.leased_count(), core.available_count()), (0, 1));
    assert_eq!(core.release(now, g.lease), Err(LeaseError::Ended));
}

#[test]
fn finalise_keeps_the_pool_only_while_total_stays_within_desired() {
    let now = Instant::now();
    // The release-time rule without an idle timeout (`idle.rs` has the default).
    let (mut core, _) = started(builder(3).idle_timeout(Duration::ZERO), now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    assert_eq!(core.total_count(), 3);
    for g in &gs[..2] {
        let (fate, actions) = released(&mut core, now, g.lease);
        assert_eq!(fate, PoolFate::ShutDown);
        assert_eq!(
            actions,
            vec![
                lease_ended(g, None, LeaseEnd::Released(PoolFate::ShutDown)),
                Action::ShutdownPool { pool: g.pool, reason: ShutdownReason::NotKept }
            ]
        );
    }
    let (fate, actions) = released(&mut core, now, gs[2].lease);
    assert_eq!((fate, actions.len()), (PoolFate::Kept, 1));
    assert_eq!((core.total_count(), core.available_count()), (1, 1));
}

/// A release at or after hard expiry (even with no job in flight) ends as
/// `Expired`, its pool shut down as `Expired`, like a revocation.
#[test]
fn release_past_hard_expiry_ends_expired_and_restores_min() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease_for(secs(10)).lease_grace(secs(0)), now, 0);
    let g = take(&mut core, now);
    // The timer has not fired yet; the release itself notices.
    let late = now + secs(10);
    assert_eq!(core.release(late, g.lease), Ok(Released::Ended));
    let actions = drain(&mut core, late);
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(created(&actions[2..]).len(), 1, "min restored");
    assert_eq!(core.total_count(), 1);
}

/// A draining lease whose last job finishes past hard expiry ends as
/// `Expired` (its pool is not kept).
#[test]
fn draining_lease_finalised_past_hard_expiry_is_not_kept() {
    let now = Instant::now();
    let b = builder(1).default_lease_for(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    core.release(now, g.lease).unwrap();
    assert_eq!(core.job_finished(now + secs(11), g.lease), Ok(()));
    let actions = drain(&mut core, now + secs(11));
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(core.available_count() + core.creating_count(), 1, "replaced, not kept");
}

#[test]
fn release_past_hard_expiry_with_jobs_revokes_at_once() {
    let now = Instant::now();
    let b =
        builder(2).min_pools(1).default_lease_for(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    let late = now + secs(11);
    assert_eq!(core.release(late, g.lease), Ok(Released::Ended));
    let actions = drain(&mut core, late);
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(created(&actions[2..]).len(), 1, "min restored");
    assert_eq!((core.leased_count(), core.total_count()), (0, 1));
    assert_eq!(core.job_finished(late, g.lease), Err(LeaseError::Ended), "its job's end is refused");
    assert_eq!(core.release(late, g.lease), Err(LeaseError::Ended));
}

#[test]
fn release_busy_drains_until_one_job_finished() {
    let now = Instant::now();
    let b = builder(2).default_lease_for(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    assert_eq!(core.release_busy(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!(core.release_busy(now, g.lease), Ok(Released::Draining { jobs: 1 }), "idempotent");
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Released));
    assert_eq!(core.leased_count(), 1);
    assert!(core.stats(now).leases[0].draining);
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    assert_eq!(end_of(&drain_raw(&mut core), g.lease), LeaseEnd::Released(PoolFate::Kept));
    assert_eq!(core.leased_count(), 0);

    // Past hard expiry it expires instead.
    let g = take(&mut core, now);
    assert_eq!(core.release_busy(now + secs(11), g.lease), Ok(Released::Ended));
    assert_eq!(end_of(&drain(&mut core, now + secs(11)), g.lease), LeaseEnd::Expired);
    assert_eq!(core.leased_count(), 0);
    assert_eq!(core.release_busy(now + secs(11), g.lease), Err(LeaseError::Ended));
}

#[test]
fn release_hands_the_pool_directly_to_the_first_waiter() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait().lease_for(secs(42)).owner("w1")));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    let later = now + secs(1);
    let (fate, actions) = released(&mut core, later, g.lease);
    assert_eq!(fate, PoolFate::HandedOff);
    let [Action::LeaseEnded { .. }, Action::Grant { waiter, grant }] = actions[..] else {
        panic!("the end, then one grant only: {actions:?}")
    };
    assert_eq!(waiter, w1);
    assert_eq!(grant.pool, g.pool, "same pool, no create/shutdown churn");
    assert_eq!(grant.leased_at, later);
    assert_eq!(grant.lease_for, secs(42));
    assert_eq!(core.lease_owner(grant.lease).as_deref(), Some("w1"));
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w2]);
}
