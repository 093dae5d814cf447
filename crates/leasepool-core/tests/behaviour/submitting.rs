//! Section 4, submitting through a lease: `job_submitted`, hard expiry on submit,
//! broken pools and failed creations met along the way.

use super::*;

#[test]
fn job_submitted_on_an_unknown_lease_fails() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    assert_eq!(core.job_submitted(now, g.lease), Ok(g.pool));
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    core.release(now, g.lease).unwrap();
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Ended));
    assert_eq!(core.job_finished(now, g.lease), Err(LeaseError::Ended), "ended leases are refused");
}

#[test]
fn job_submitted_on_a_released_draining_lease_fails_released() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Released));
}

/// The replacement is created for the waiter and granted on confirmation.
#[test]
fn job_submitted_past_hard_expiry_revokes_on_the_spot_restores_min_and_serves_waiters() {
    let now = Instant::now();
    let b = builder(1).default_lease_for(secs(10)).lease_grace(secs(5)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = granted(core.acquire(now, Acquire::no_wait().owner("late")));
    let w = queued(core.acquire(now, Acquire::wait()));
    // Soft expiry alone still accepts work.
    assert_eq!(core.job_submitted(now + secs(12), g.lease), Ok(g.pool));
    core.job_finished(now + secs(12), g.lease).unwrap();
    let late = now + secs(15);
    assert_eq!(core.job_submitted(late, g.lease), Err(LeaseError::Expired));
    let actions = drain(&mut core, late);
    assert_eq!(actions[..2], revoked(&g, Some("late")));
    let Action::CreatePool(fresh) = actions[2] else { panic!("min restored: {actions:?}") };
    let [(waiter, grant)] = grants(&actions)[..] else { panic!("one grant: {actions:?}") };
    assert_eq!((waiter, grant.pool), (w, fresh));
    assert_eq!(actions.len(), 4);
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    assert_eq!(core.job_submitted(late, g.lease), Err(LeaseError::Ended));
}

/// Its lease ends `PoolBroken`, before the shutdown; the replacement is
/// created for the waiter and granted on confirmation.
#[test]
fn pool_broken_retires_the_pool_and_serves_waiters() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    assert_eq!(a.pool, pools[0]);
    core.job_submitted(now, a.lease).unwrap();
    let w = queued(core.acquire(now, Acquire::wait()));

    assert_eq!(core.pool_broken(now, a.pool), Ok(()));
    let actions = drain(&mut core, now);
    assert_eq!(actions[0], lease_ended(&a, None, LeaseEnd::PoolBroken));
    assert_eq!(actions[1], Action::ShutdownPool { pool: a.pool, reason: ShutdownReason::Broken });
    let Action::CreatePool(fresh) = actions[2] else { panic!("replacement created: {actions:?}") };
    let [(waiter, grant)] = grants(&actions)[..] else { panic!("one grant: {actions:?}") };
    assert_eq!((waiter, grant.pool), (w, fresh), "the waiter gets the replacement");
    assert_eq!(core.pool_broken(now, a.pool), Err(PoolError::Unknown), "already retired");
    assert_eq!(core.job_finished(now, a.lease), Err(LeaseError::Ended), "its lease is gone");
    assert_eq!(core.job_submitted(now, a.lease), Err(LeaseError::Ended));

    // Never reused: cycle leases many times and never see it again.
    let live = grants(&actions)[0].1;
    core.release(now, live.lease).unwrap();
    core.release(now, b.lease).unwrap();
    drain(&mut core, now);
    for _ in 0..10 {
        let g = take(&mut core, now);
        assert_ne!(g.pool, a.pool);
        core.release(now, g.lease).unwrap();
        drain(&mut core, now);
    }
}

#[test]
fn a_revocation_under_the_replacement_pause_still_restores_the_minimum() {
    // Only a pool lost to breaking waits for the check: a revoked lease's
    // pool is replaced at once, whether the revocation comes from a submit
    // or from the timer.
    for via_timer in [false, true] {
        let now = Instant::now();
        let b = builder(3).min_pools(2).default_lease_for(secs(10)).lease_grace(Duration::ZERO);
        let (mut core, pools) = started(b, now, 0);
        let a = take(&mut core, now);
        let other = if a.pool == pools[0] { pools[1] } else { pools[0] };
        assert_eq!(core.pool_broken(now, other), Ok(()));
        drain(&mut core, now);
        assert_eq!(core.total_count(), 2, "the broken pool replaced at once");
        let at = a.hard_expires_at();
        if via_timer {
            assert_eq!(core.poll_timeout(), Some(at));
            core.handle_timeout(at);
        } else {
            assert_eq!(core.job_submitted(at, a.lease), Err(LeaseError::Expired));
        }
        let actions = drain(&mut core, at);
        assert_eq!(end_of(&actions, a.lease), LeaseEnd::Expired);
        assert_eq!(created(&actions).len(), 1, "via timer {via_timer}: {actions:?}");
        assert_eq!(core.total_count(), 2, "via timer {via_timer}: back at min_pools");
    }
}

/// The pool is granted (on confirmation of its creation) and breaks before
/// the driver drained the grant: the waiter fails with `PoolBroken`, and the
/// lease it never saw still ends once (`PoolBroken`).
#[test]
fn a_pool_that_breaks_before_its_grant_is_drained_fails_that_waiter() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease_for(secs(10)).lease_grace(Duration::ZERO), now, 0);
    take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    let at = now + secs(10);
    core.handle_timeout(at);
    assert!(matches!(core.poll_action(), Some(Action::LeaseEnded { end: LeaseEnd::Expired, .. })));
    assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { reason: ShutdownReason::Expired, .. })));
    let Some(Action::CreatePool(fresh)) = core.poll_action() else { panic!("a replacement") };
    core.pool_created(at, fresh);
    // The grant is queued, not yet drained, when the pool breaks.
    assert_eq!(core.pool_broken(at, fresh), Ok(()));
    let actions = drain_raw(&mut core);
    assert!(grants(&actions).is_empty(), "no grant of a forgotten lease: {actions:?}");
    assert_eq!(fails(&actions), vec![(w, AcquireError::PoolBroken { pool: fresh })], "{actions:?}");
    // The driver never saw that lease: no LeaseEnded names it.
    assert!(ended(&actions).is_empty(), "{actions:?}");
    assert!(shut_down(&actions).contains(&(fresh, ShutdownReason::Broken)));
    assert_eq!(core.leased_count(), 0);
}

#[test]
fn a_broken_pool_is_replaced_at_once_but_a_failing_replacement_waits_for_the_check() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    assert_eq!(core.pool_broken(now, pools[0]), Ok(()));
    let actions = drain_raw(&mut core);
    let [Action::ShutdownPool { pool, reason: ShutdownReason::Broken }, Action::CreatePool(fresh)] =
        actions[..]
    else {
        panic!("retired and replaced: {actions:?}")
    };
    assert_eq!(pool, pools[0]);
    assert_eq!(core.total_count(), 1, "the minimum restored at once");
    assert_eq!(core.pool_broken(now, pools[0]), Err(PoolError::Unknown), "retired pool");
    assert_eq!(core.pool_broken(now, fresh), Err(PoolError::Unknown), "not live before it is confirmed");
    core.pool_created(now, fresh);
    // The replacement breaks too (an initializer that always fails): it is
    // not replaced in the same breath, so nothing spins.
    assert_eq!(core.pool_broken(now, fresh), Ok(()));
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::ShutdownPool { pool: fresh, reason: ShutdownReason::Broken }]
    );
    assert_eq!(core.total_count(), 0);
    // Acquires still create on demand; a release (an outside event)
    // restores the desired count, here already met by the kept pool.
    let g = take(&mut core, now);
    core.release(now, g.lease).unwrap();
    drain(&mut core, now);
    assert_eq!(core.total_count(), 1, "kept, no extra creation");
    // The next check restores the count and lifts the pause.
    let later = now + Duration::from_secs(120);
    assert_eq!(core.poll_timeout(), Some(later));
    core.handle_timeout(later);
    check(&mut core, later, 0);
    assert!(drain_raw(&mut core).is_empty(), "the minimum already holds");
    let idle = core.stats(later).available;
    assert_eq!(idle, 1);
    let g = take(&mut core, later);
    assert_eq!(core.pool_broken(later, g.pool), Ok(()));
    assert_eq!(created(&drain(&mut core, later)).len(), 1, "replaced at once again after the check");
}

/// Was "an undrained grant of a failed pool becomes FailWaiter": a pool is
/// never granted before its creation is confirmed, so a failed creation now
/// fails the waiter it was coming for (uncovered, first in line).
#[test]
fn pool_create_failed_fails_the_waiter_its_pool_was_coming_for() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let _b = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    // The replacement pool for the broken one is created for the waiter...
    assert_eq!(core.pool_broken(now, pools[0]), Ok(()));
    assert!(matches!(core.poll_action(), Some(Action::LeaseEnded { end: LeaseEnd::PoolBroken, .. })));
    assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { reason: ShutdownReason::Broken, .. })));
    let Some(Action::CreatePool(fresh)) = core.poll_action() else { panic!("replacement") };
    assert_eq!(core.poll_action(), None, "nothing granted before the creation is confirmed");
    // ...and fails to start: the waiter fails, no other pool coming.
    core.pool_create_failed(now, fresh);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::FailWaiter { waiter: w, error: AcquireError::PoolCreationFailed { pool: fresh } }]
    );
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    assert_eq!(core.job_submitted(now, a.lease), Err(LeaseError::Ended));
}

/// Was "a failed creation forgets the lease granted on it": no lease is
/// granted on an unconfirmed pool now, so the acquire waiting for it fails,
/// and nothing is recreated until a check.
#[test]
fn pool_create_failed_for_an_acquire_fails_it_and_waits_for_the_check_to_restore() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3).min_pools(2), now, 0);
    let _a = take(&mut core, now);
    let _b = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::no_wait()));
    let Some(Action::CreatePool(c)) = core.poll_action() else { panic!("a creation for it") };
    core.pool_create_failed(now, c);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::FailWaiter { waiter: w, error: AcquireError::PoolCreationFailed { pool: c } }]
    );
    assert_eq!(core.cancel_waiter(now, w), Err(WaiterError::Ended));
    assert_eq!((core.total_count(), core.leased_count(), core.creating_count()), (2, 2, 0));
    // Creations that keep failing cannot spin: after a failed creation,
    // nothing is recreated until a check.
    let (mut core, pools) = started(builder(3).min_pools(2), now, 0);
    assert_eq!(core.pool_broken(now, pools[0]), Ok(()));
    let actions = drain_raw(&mut core);
    let [_, Action::CreatePool(replacement)] = actions[..] else { panic!("{actions:?}") };
    core.pool_create_failed(now, replacement);
    assert!(drain_raw(&mut core).is_empty(), "no immediate retry");
    assert_eq!(core.total_count(), 1, "below min_pools until the next check");
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    assert_eq!(created(&drain(&mut core, now)).len(), 1);
    assert_eq!(core.total_count(), 2);
}
