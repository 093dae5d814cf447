//! Section 2, `stop`: every waiter failed, every lease ended, every pool shut down,
//! and a restart.

use super::*;

/// Stop also ends every lease with one `LeaseEnded { end: Stopped }`, each
/// just before the shutdown of its pool.
#[test]
fn stop_is_idempotent_and_shuts_down_available_and_leased_pools() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(3), now, 30);
    assert_eq!(pools.len(), 3);
    let a = take(&mut core, now); // leased
    let b = take(&mut core, now); // draining
    core.job_submitted(now, b.lease).unwrap();
    assert_eq!(core.release(now, b.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!((core.available_count(), core.leased_count()), (1, 2));

    assert_eq!(core.stop(now), Ok(()));
    let actions = drain_raw(&mut core);
    let mut down: Vec<_> = shut_down(&actions).into_iter().map(|(p, _)| p).collect();
    down.sort();
    assert_eq!(down, pools, "available, leased and draining pools are all shut down");
    assert_eq!(actions.len(), 5, "three shutdowns and two lease ends: {actions:?}");
    assert!(shut_down(&actions).iter().all(|(_, r)| *r == ShutdownReason::Stopped));
    assert_eq!(end_of(&actions, a.lease), LeaseEnd::Stopped);
    assert_eq!(end_of(&actions, b.lease), LeaseEnd::Stopped);
    assert_ends_come_first(&actions);
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 0, 0));
    assert!(core.stats(now).leases.is_empty());
    assert!(!core.stats(now).running);

    assert_eq!(core.stop(now), Err(RunError::NotRunning), "second stop is a no-op");
    assert!(drain_raw(&mut core).is_empty());
    // The driver's in-flight job on the stopped pool finishes later: ignored.
    assert_eq!(core.job_finished(now, b.lease), Err(LeaseError::Ended));
    assert_eq!(core.release(now, a.lease), Err(LeaseError::Ended));
    assert_eq!(core.job_submitted(now, a.lease), Err(LeaseError::Ended));
    assert_eq!(core.pool_broken(now, a.pool), Err(PoolError::Unknown));
    assert!(drain_raw(&mut core).is_empty());
}

/// Waiters fail with `Stopped` (`NotStarted` is only for a core never
/// started).
#[test]
fn stop_fails_every_waiter_with_stopped_and_later_acquires_fail_the_same_way() {
    let now = Instant::now();
    let mut never = core_with(builder(1));
    assert_eq!(never.acquire(now, Acquire::no_wait()), Err(AcquireError::NotStarted));
    assert_eq!(never.acquire(now, Acquire::wait()), Err(AcquireError::NotStarted));

    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    assert_eq!(core.stop(now), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(fails(&actions), vec![(w1, AcquireError::Stopped), (w2, AcquireError::Stopped)]);
    assert_eq!(core.waiting_count(), 0);
    assert_eq!(core.cancel_waiter(now, w1), Err(WaiterError::Ended));

    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Stopped));
    assert_eq!(core.acquire(now, Acquire::wait()), Err(AcquireError::Stopped));
    // A stopped core ignores timers and scale signals.
    core.notify_scale_changed(now);
    core.handle_timeout(now + secs(1000));
    assert_eq!(core.check_due(now + secs(1000)), None, "no check while stopped");
    assert_eq!(core.poll_timeout(), None);
    assert!(drain_raw(&mut core).is_empty());
}

#[test]
fn restart_after_stop_works_and_lease_ids_stay_unique_across_restart() {
    let now = Instant::now();
    let (mut core, first_pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    core.stop(now).unwrap();
    drain_raw(&mut core);

    assert_eq!(core.start(now, 0), Ok(()));
    let second_pools = created(&drain(&mut core, now));
    assert!(second_pools.iter().all(|p| !first_pools.contains(p) && *p != b.pool));
    let c = take(&mut core, now);
    let d = take(&mut core, now);
    let ids: HashSet<LeaseId> = [a.lease, b.lease, c.lease, d.lease].into_iter().collect();
    assert_eq!(ids.len(), 4, "lease ids never repeat across restart");
    // Stale ids from before the restart never match a new lease, even when
    // they reuse the same internal slot.
    assert_eq!(core.release(now, a.lease), Err(LeaseError::Ended));
    assert_eq!(core.job_submitted(now, b.lease), Err(LeaseError::Ended));
    assert_eq!(core.leased_count(), 2);
}
