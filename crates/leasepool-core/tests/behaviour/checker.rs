//! Section 6, the checker: growing, shrinking, revoking at a check, `poll_timeout`,
//! stale check tickets and checks requested by a size provider.

use super::*;

/// A check runs when `check_due` says so, on the units handed to
/// `handle_units` (was: a units closure given to `handle_timeout`).
#[test]
fn checker_pass_grows_to_desired() {
    let now = Instant::now();
    let (mut core, _) = started(builder(5), now, 0);
    core.notify_scale_changed(now);
    core.handle_timeout(now);
    assert!(drain_raw(&mut core).is_empty(), "handle_timeout runs no check");
    assert_eq!(core.units(), 0);
    check(&mut core, now, 31);
    let actions = drain_raw(&mut core);
    assert_eq!(created(&actions).len(), 3);
    assert_eq!(actions.len(), 3);
    assert_eq!(
        (core.total_count(), core.creating_count(), core.desired_executor_count(), core.units()),
        (4, 3, 4, 31)
    );
}

#[test]
fn checker_pass_shrinks_idle_pools_above_desired_least_recently_returned_first() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(5), now, 50);
    assert_eq!(pools.len(), 5);
    let gs: Vec<Grant> = (0..5).map(|_| take(&mut core, now)).collect();
    // Return in the order p3, p1, p5, p2, p4.
    for pool in [pools[2], pools[0], pools[4], pools[1], pools[3]] {
        let g = gs.iter().find(|g| g.pool == pool).expect("taken");
        assert_eq!(released(&mut core, now, g.lease).0, PoolFate::Kept);
    }
    core.notify_scale_changed(now);
    check(&mut core, now, 20); // desired 2
    let down = shut_down(&drain_raw(&mut core));
    assert_eq!(
        down,
        vec![
            (pools[2], ShutdownReason::Shrink),
            (pools[0], ShutdownReason::Shrink),
            (pools[4], ShutdownReason::Shrink)
        ]
    );
    // The two most recently returned are left, and leased last returned first.
    assert_eq!(take(&mut core, now).pool, pools[3]);
    assert_eq!(take(&mut core, now).pool, pools[1]);
}

#[test]
fn checker_never_revokes_leased_non_expired_pools_when_the_target_shrinks() {
    let now = Instant::now();
    // No idle timeout: a surplus pool is shut down as it comes back.
    let (mut core, _) = started(builder(5).idle_timeout(Duration::ZERO), now, 50);
    let gs: Vec<Grant> = (0..5).map(|_| take(&mut core, now)).collect();
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    assert!(drain_raw(&mut core).is_empty(), "leased pools stay");
    assert_eq!((core.leased_count(), core.total_count(), core.desired_executor_count()), (5, 5, 1));
    // They shrink as they come back: all but the last one are shut down.
    for g in &gs[..4] {
        assert_eq!(released(&mut core, now, g.lease).0, PoolFate::ShutDown);
    }
    assert_eq!(released(&mut core, now, gs[4].lease).0, PoolFate::Kept);
    assert_eq!(core.total_count(), 1);
}

/// Revocation comes from `handle_timeout`, and also from `handle_units`
/// when the check runs first.
#[test]
fn checker_pass_revokes_expired_leases_and_serves_waiters() {
    let now = Instant::now();
    let b = builder(1).default_lease_for(secs(10)).lease_grace(secs(1));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    let at = core.poll_timeout().unwrap();
    assert_eq!(at, g.hard_expires_at());
    core.handle_timeout(at);
    assert_eq!(core.check_due(at), None, "no check due");
    let actions = drain(&mut core, at);
    assert_eq!(actions[..2], revoked(&g, None));
    let Action::CreatePool(fresh) = actions[2] else { panic!("{actions:?}") };
    assert_eq!(grants(&actions).iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w, fresh)]);

    // The same revocation happens inside a scheduled check pass.
    let b = builder(1).default_lease_for(secs(10)).lease_grace(Duration::ZERO).check_interval(secs(20));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    check(&mut core, now + secs(20), 0);
    let actions = drain(&mut core, now + secs(20));
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(core.total_count(), 1);
}

#[test]
fn poll_timeout_is_the_earliest_of_next_check_next_hard_expiry_and_next_waiter_deadline() {
    let t0 = Instant::now();
    let b = builder(1).check_interval(secs(100)).default_lease_for(secs(50)).lease_grace(secs(10));
    let (mut core, _) = started(b, t0, 0);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(100)), "next check");
    let g = take(&mut core, t0);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(60)), "hard expiry");
    let w = queued(core.acquire(t0, Acquire::wait_until(t0 + secs(30))));
    assert_eq!(core.poll_timeout(), Some(t0 + secs(30)), "waiter deadline");
    core.cancel_waiter(t0, w).unwrap();
    assert_eq!(core.poll_timeout(), Some(t0 + secs(60)));
    core.release(t0, g.lease).unwrap();
    drain_raw(&mut core);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(100)));

    // A check at t schedules the next one at t + check_interval.
    let t1 = t0 + secs(100);
    assert_eq!(core.check_due(t1 - secs(1)), None);
    core.handle_timeout(t1);
    assert_eq!(core.poll_timeout(), Some(t1), "still due until the units come in");
    check(&mut core, t1, 0);
    assert_eq!(core.poll_timeout(), Some(t1 + secs(100)));
    assert_eq!(core.check_due(t1), None);
    // A late timer still schedules from the time of the check.
    let t2 = t1 + secs(130);
    check(&mut core, t2, 0);
    assert_eq!(core.poll_timeout(), Some(t2 + secs(100)));

    // notify_scale_changed makes the check due now; units are taken then only.
    let t3 = t2 + secs(5);
    assert_eq!(core.check_due(t3), None, "no check due yet");
    core.notify_scale_changed(t3);
    assert_eq!(core.poll_timeout(), Some(t3));
    check(&mut core, t3, 7);
    assert_eq!(core.units(), 7);
    assert_eq!(core.poll_timeout(), Some(t3 + secs(100)));
    drain(&mut core, t3);

    core.stop(t3).unwrap();
    assert_eq!(core.poll_timeout(), None);
}

/// A check request that arrives while the units are being read (after
/// the `CheckDue` was issued) makes the next check due at once; a ticket
/// from before a stop, or one already used, does nothing.
#[test]
fn a_stale_check_ticket_makes_the_next_check_due_at_once() {
    let t0 = Instant::now();
    let (mut core, _) = started(builder(5).check_interval(secs(60)), t0, 0);
    core.notify_scale_changed(t0);
    let due = core.check_due(t0).expect("due");
    core.notify_scale_changed(t0 + secs(1)); // while the units were being read
    core.handle_units(t0 + secs(1), due, 31);
    assert_eq!(core.desired_executor_count(), 4, "the stale units still count");
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1)), "due again at once");
    let fresh = core.check_due(t0 + secs(1)).expect("a fresh read is due");
    core.handle_units(t0 + secs(1), fresh, 41);
    assert_eq!(core.desired_executor_count(), 5);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(61)), "not stale: the interval");
    // The same ticket again: the check is no longer due, nothing happens.
    core.handle_units(t0 + secs(2), fresh, 0);
    assert_eq!((core.units(), core.poll_timeout()), (41, Some(t0 + secs(61))));
    drain(&mut core, t0 + secs(2));

    // A ticket issued before a stop is void after a restart.
    core.notify_scale_changed(t0 + secs(2));
    let old = core.check_due(t0 + secs(2)).expect("due");
    core.stop(t0 + secs(2)).unwrap();
    drain_raw(&mut core);
    core.handle_units(t0 + secs(2), old, 0); // stopped: ignored
    core.start(t0 + secs(2), 10).unwrap();
    drain(&mut core, t0 + secs(2));
    core.notify_scale_changed(t0 + secs(3));
    core.handle_units(t0 + secs(3), old, 50);
    assert_eq!(core.units(), 10, "a ticket of an older run does nothing");
    assert!(core.check_due(t0 + secs(3)).is_some(), "the check is still due");
}

/// With a size provider, every grant and every lease ending by release
/// requests a check; without one, neither does.
#[test]
fn with_a_size_provider_grants_and_releases_request_a_check() {
    let t0 = Instant::now();
    for provider in [false, true] {
        let b = builder(3).check_interval(secs(60)).has_size_provider(provider);
        let (mut core, _) = started(b, t0, 0);
        assert_eq!(core.check_due(t0), None);
        let g = take(&mut core, t0 + secs(1));
        assert_eq!(core.check_due(t0 + secs(1)).is_some(), provider, "grant, provider {provider}");
        if provider {
            check(&mut core, t0 + secs(1), 0);
            assert_eq!(core.check_due(t0 + secs(1)), None);
        }
        // A release that only starts draining requests nothing...
        core.job_submitted(t0 + secs(2), g.lease).unwrap();
        assert_eq!(core.release(t0 + secs(2), g.lease), Ok(Released::Draining { jobs: 1 }));
        assert_eq!(core.check_due(t0 + secs(2)), None);
        // ...the end of the lease does.
        core.job_finished(t0 + secs(3), g.lease).unwrap();
        drain_raw(&mut core);
        assert_eq!(core.check_due(t0 + secs(3)).is_some(), provider, "end, provider {provider}");
        // A grant to a waiter while the units are read makes the ticket stale.
        if provider {
            let due = core.check_due(t0 + secs(3)).unwrap();
            let a = take(&mut core, t0 + secs(3));
            core.handle_units(t0 + secs(3), due, 0);
            assert_eq!(core.poll_timeout(), Some(t0 + secs(3)), "stale: due again at once");
            check(&mut core, t0 + secs(3), 0);
            assert_eq!(core.check_due(t0 + secs(3)), None);
            released(&mut core, t0 + secs(4), a.lease);
            assert!(core.check_due(t0 + secs(4)).is_some(), "released and ended");
        }
    }
}
