//! Section 2b, `close`: a graceful shutdown. Acquires and waiters fail with
//! `Stopped`, idle pools shut down, leases live on and shut their pools down
//! when they end, nothing is created; `is_drained` once the last lease ends,
//! then `stop`.

use super::*;

#[test]
fn close_fails_waiters_and_acquires_with_stopped_and_keeps_the_leases() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let a = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    assert!(!core.is_closing() && !core.is_drained());

    assert_eq!(core.close(now), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(
        actions,
        vec![
            Action::FailWaiter { waiter: w1, error: AcquireError::Stopped },
            Action::FailWaiter { waiter: w2, error: AcquireError::Stopped },
        ]
    );
    assert!(core.is_closing() && core.is_running() && !core.is_drained());
    assert_eq!((core.waiting_count(), core.leased_count()), (0, 1), "the lease lives on");
    assert_eq!(core.lease_owner(a.lease), None);
    assert_eq!(core.cancel_waiter(now, w2), Err(WaiterError::Ended));

    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Stopped));
    assert_eq!(core.acquire(now, Acquire::wait()), Err(AcquireError::Stopped));
    assert_eq!(core.acquire(now, Acquire::wait_until(now + secs(1))), Err(AcquireError::Stopped));
    assert!(drain_raw(&mut core).is_empty(), "a refused acquire creates nothing");
    assert_eq!(core.close(now), Ok(()), "closing again does nothing");
    assert!(drain_raw(&mut core).is_empty());
}

#[test]
fn a_lease_ending_while_closing_shuts_its_pool_down_and_the_last_one_drains() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3).min_pools(3), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    core.job_submitted(now, b.lease).unwrap();
    assert_eq!(core.close(now), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(shut_down(&actions).len(), 1, "the idle pool: {actions:?}");
    assert_eq!(core.total_count(), 2);

    // Jobs still go in and out through a live lease.
    assert_eq!(core.job_submitted(now, a.lease), Ok(a.pool));
    assert_eq!(core.job_finished(now, a.lease), Ok(()));
    // Released: shut down, not kept for min_pools and not replaced.
    let (fate, actions) = released(&mut core, now, a.lease);
    assert_eq!(fate, PoolFate::ShutDown);
    assert_eq!(shut_down(&actions), vec![(a.pool, ShutdownReason::Stopped)]);
    assert!(created(&actions).is_empty());
    assert_ends_come_first(&actions);
    assert!(!core.is_drained());

    // A draining lease ends with its last job.
    assert_eq!(core.release(now, b.lease), Ok(Released::Draining { jobs: 1 }));
    assert!(!core.is_drained());
    assert_eq!(core.job_finished(now, b.lease), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(end_of(&actions, b.lease), LeaseEnd::Released(PoolFate::ShutDown));
    assert_eq!(shut_down(&actions), vec![(b.pool, ShutdownReason::Stopped)]);
    assert!(core.is_drained());
    assert_eq!(core.total_count(), 0);
    assert_eq!(core.poll_timeout(), None, "nothing left to time");

    assert_eq!(core.stop(now), Ok(()));
    assert!(drain_raw(&mut core).is_empty(), "a drained core has nothing to cut");
    assert!(!core.is_running() && !core.is_closing() && !core.is_drained());
    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Stopped));
}

#[test]
fn close_with_no_lease_is_drained_at_once() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    assert_eq!(core.close(now), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(shut_down(&actions), vec![(pools[0], ShutdownReason::Stopped)]);
    assert!(core.is_drained());
    assert_eq!(core.total_count(), 0);
}

#[test]
fn stop_after_close_cuts_the_leases_still_live() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    core.close(now).unwrap();
    drain_raw(&mut core);
    assert_eq!(core.stop(now + secs(1)), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(
        actions,
        vec![
            lease_ended(&a, None, LeaseEnd::Stopped),
            Action::ShutdownPool { pool: a.pool, reason: ShutdownReason::Stopped },
        ]
    );
    assert_eq!(core.release(now, a.lease), Err(LeaseError::Ended));
    assert_eq!(core.job_submitted(now, a.lease), Err(LeaseError::Ended));
    // And it starts again, open.
    assert_eq!(core.start(now, 0), Ok(()));
    assert!(!core.is_closing());
    drain(&mut core, now);
    take(&mut core, now);
}

#[test]
fn close_on_a_stopped_or_never_started_core_is_not_running() {
    let now = Instant::now();
    let mut never = core_with(builder(1));
    assert_eq!(never.close(now), Err(RunError::NotRunning));
    assert!(!never.is_closing());
    assert_eq!(never.acquire(now, Acquire::no_wait()), Err(AcquireError::NotStarted));
    let (mut core, _) = started(builder(1), now, 0);
    core.stop(now).unwrap();
    drain_raw(&mut core);
    assert_eq!(core.close(now), Err(RunError::NotRunning));
    assert!(drain_raw(&mut core).is_empty());
}

#[test]
fn hard_expiry_still_revokes_while_closing_and_nothing_replaces_it() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2).min_pools(2), now, 0);
    let a = take(&mut core, now);
    core.close(now).unwrap();
    drain_raw(&mut core);
    assert_eq!(core.poll_timeout(), Some(a.hard_expires_at()), "only the lease's expiry is timed");
    assert_eq!(core.check_due(now + secs(1000)), None, "no check while closing");
    core.notify_scale_changed(now);
    assert_eq!(core.poll_timeout(), Some(a.hard_expires_at()));
    core.handle_timeout(a.hard_expires_at());
    let actions = drain_raw(&mut core);
    assert_eq!(actions, revoked(&a, None).to_vec());
    assert!(core.is_drained());
    assert_eq!(core.total_count(), 0);
}

#[test]
fn creations_in_flight_at_close_are_disowned_and_shut_down_when_confirmed() {
    let now = Instant::now();
    let mut core = core_with(builder(2));
    core.start(now, 0).unwrap();
    let first = created(&drain_raw(&mut core));
    // The first waiter waits for the first creation, the second for its own.
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    let second = created(&drain_raw(&mut core));
    assert_eq!((first.len(), second.len()), (1, 1));
    core.close(now).unwrap();
    assert_eq!(fails(&drain_raw(&mut core)), vec![(w1, AcquireError::Stopped), (w2, AcquireError::Stopped)]);
    assert!(core.is_drained());
    core.pool_created(now, first[0]);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::ShutdownPool { pool: first[0], reason: ShutdownReason::Stopped }]
    );
    core.pool_create_failed(now, second[0]);
    assert!(drain_raw(&mut core).is_empty(), "no replacement while closing");
    assert_eq!(core.total_count(), 0);
    assert_eq!(core.stop(now), Ok(()));
    assert!(drain_raw(&mut core).is_empty());
}

#[test]
fn a_pool_breaking_while_closing_ends_its_lease_and_is_not_replaced() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2).min_pools(2), now, 0);
    let a = take(&mut core, now);
    core.close(now).unwrap();
    drain_raw(&mut core);
    assert_eq!(core.pool_broken(now, a.pool), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(end_of(&actions, a.lease), LeaseEnd::PoolBroken);
    assert!(created(&actions).is_empty());
    assert!(core.is_drained());
}
