//! Section 7b, the counters: each decision counted once, when the driver
//! drains it (or when the input answers at once), never reset.

use leasepool_core::CoreCounters;

use super::*;

/// The counters with the given fields set (the rest zero).
fn counters(set: impl FnOnce(&mut CoreCounters)) -> CoreCounters {
    let mut c = CoreCounters::default();
    set(&mut c);
    c
}

#[test]
fn a_new_core_has_counted_nothing() {
    let core = core_with(builder(2));
    assert_eq!(*core.counters(), CoreCounters::default());
}

#[test]
fn grants_at_once_and_after_waiting_are_counted_apart() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2), now, 0);
    let a = granted(core.acquire(now, Acquire::no_wait()));
    // The second pool is created for a waiter: a grant after waiting.
    let w = queued(core.acquire(now, Acquire::wait()));
    grant_for(&drain(&mut core, now), w);
    // A release hands the pool to the next waiter: after waiting again.
    let w = queued(core.acquire(now, Acquire::wait()));
    let (fate, actions) = released(&mut core, now, a.lease);
    assert_eq!(fate, PoolFate::HandedOff);
    grant_for(&actions, w);
    assert_eq!(
        *core.counters(),
        counters(|c| {
            c.pools_created = 2;
            c.leases_granted_at_once = 1;
            c.leases_granted_after_waiting = 2;
            c.leases_released = 1;
        })
    );
}

#[test]
fn an_effect_counts_when_drained_not_when_queued() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let held = granted(core.acquire(now, Acquire::no_wait()));
    let w = queued(core.acquire(now, Acquire::wait()));
    assert_eq!(core.release(now, held.lease), Ok(Released::Ended));
    // The end and the hand-off wait in the queue: nothing counted yet.
    assert_eq!((core.counters().leases_released, core.counters().leases_granted_after_waiting), (0, 0));
    // The waiter leaves before its grant is drained: the grant is taken
    // back and never counted, the release is (drained after).
    assert_eq!(core.cancel_waiter(now, w), Ok(()));
    drain(&mut core, now);
    let c = *core.counters();
    assert_eq!(
        (c.leases_granted_at_once, c.leases_granted_after_waiting, c.leases_released, c.waiters_cancelled),
        (1, 0, 1, 1),
        "{c:?}"
    );
}

#[test]
fn refusals_count_unavailable_and_timeouts() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).max_waiters(1), now, 0);
    granted(core.acquire(now, Acquire::no_wait()));
    // No pool free, none creatable.
    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
    // A deadline already past.
    assert_eq!(core.acquire(now, Acquire::wait_until(now)), Err(AcquireError::Timeout));
    // A waiter failed at its deadline, by the timer.
    let w = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    // The queue is full (max_waiters 1).
    assert_eq!(core.acquire(now, Acquire::wait()), Err(AcquireError::Unavailable));
    core.handle_timeout(now + secs(5));
    assert_eq!(fails(&drain(&mut core, now + secs(5))), [(w, AcquireError::Timeout)]);
    let c = *core.counters();
    assert_eq!((c.acquire_unavailable, c.acquire_timeouts), (2, 2), "{c:?}");
    // Refusals that are neither: not counted.
    core.stop(now + secs(5)).unwrap();
    drain(&mut core, now + secs(5));
    assert_eq!(core.acquire(now + secs(5), Acquire::wait()), Err(AcquireError::Stopped));
    let c2 = *core.counters();
    assert_eq!((c2.acquire_unavailable, c2.acquire_timeouts), (2, 2), "{c2:?}");
}

#[test]
fn a_waiter_failed_for_another_cause_is_no_timeout() {
    let now = Instant::now();
    let (mut core, pool) = starting(builder(1), now);
    let w = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    core.pool_create_failed(now, pool);
    assert_eq!(fails(&drain_raw(&mut core)), [(w, AcquireError::PoolCreationFailed { pool })]);
    assert_eq!(*core.counters(), CoreCounters::default(), "a failed creation creates nothing");
}

#[test]
fn cancelled_waiters_are_counted_once() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    granted(core.acquire(now, Acquire::no_wait()));
    let w = queued(core.acquire(now, Acquire::wait()));
    assert_eq!(core.cancel_waiter(now, w), Ok(()));
    assert_eq!(core.cancel_waiter(now, w), Err(WaiterError::Ended));
    assert_eq!(core.counters().waiters_cancelled, 1);
}

#[test]
fn lease_ends_count_released_and_revoked_only() {
    let now = Instant::now();
    let (mut core, _) =
        started(builder(4).min_pools(4).default_lease_for(secs(10)).lease_grace(secs(1)), now, 0);
    // Released, with and without draining.
    let a = granted(core.acquire(now, Acquire::no_wait()));
    released(&mut core, now, a.lease);
    let b = granted(core.acquire(now, Acquire::no_wait()));
    core.job_submitted(now, b.lease).unwrap();
    assert_eq!(core.release(now, b.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!(core.counters().leases_released, 1, "a draining lease has not ended yet");
    core.job_finished(now, b.lease).unwrap();
    drain(&mut core, now);
    // Revoked by the timer, and released past hard expiry (revoked too).
    let c = granted(core.acquire(now, Acquire::no_wait()));
    let d = granted(core.acquire(now, Acquire::no_wait()));
    let late = now + secs(11);
    core.handle_timeout(late);
    let actions = drain(&mut core, late);
    assert_eq!(end_of(&actions, c.lease), LeaseEnd::Expired);
    assert_eq!(end_of(&actions, d.lease), LeaseEnd::Expired);
    // Ended by a broken pool, or cut by a stop: neither.
    let e = granted(core.acquire(late, Acquire::no_wait()));
    core.pool_broken(late, e.pool).unwrap();
    assert_eq!(end_of(&drain(&mut core, late), e.lease), LeaseEnd::PoolBroken);
    let f = granted(core.acquire(late, Acquire::no_wait()));
    core.stop(late).unwrap();
    assert_eq!(end_of(&drain(&mut core, late), f.lease), LeaseEnd::Stopped);
    let n = *core.counters();
    assert_eq!((n.leases_granted_at_once, n.leases_released, n.leases_revoked), (6, 2, 2), "{n:?}");
}

#[test]
fn pools_created_shut_down_and_broken_balance_the_live_pools() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(3).min_pools(2), now, 0);
    assert_eq!(core.counters().pools_created, 2);
    // An idle pool breaks: shut down (as broken) and replaced at once.
    core.pool_broken(now, pools[0]).unwrap();
    let actions = drain(&mut core, now);
    assert_eq!(shut_down(&actions), [(pools[0], ShutdownReason::Broken)]);
    assert_eq!(created(&actions).len(), 1);
    let c = *core.counters();
    assert_eq!((c.pools_created, c.pools_shut_down, c.pools_broken), (3, 1, 1), "{c:?}");
    assert_eq!(c.pools_created - c.pools_shut_down, (core.available_count() + core.leased_count()) as u64);
    // A stop shuts down the rest.
    core.stop(now).unwrap();
    drain(&mut core, now);
    let c = *core.counters();
    assert_eq!((c.pools_created, c.pools_shut_down, c.pools_broken), (3, 3, 1), "{c:?}");
}

#[test]
fn a_creation_disowned_by_a_stop_counts_as_created_and_shut_down() {
    let now = Instant::now();
    let (mut core, pool) = starting(builder(1), now);
    core.stop(now).unwrap();
    core.pool_created(now, pool);
    assert_eq!(shut_down(&drain_raw(&mut core)), [(pool, ShutdownReason::Stopped)]);
    let c = *core.counters();
    assert_eq!((c.pools_created, c.pools_shut_down), (1, 1), "{c:?}");
}

#[test]
fn a_grant_whose_pool_breaks_before_it_is_drained_is_not_counted() {
    let now = Instant::now();
    let (mut core, pool) = starting(builder(1), now);
    let w = queued(core.acquire(now, Acquire::wait()));
    core.pool_created(now, pool); // queues the grant of `w`
    core.pool_broken(now, pool).unwrap(); // before the grant is drained
    let actions = drain_raw(&mut core);
    assert_eq!(fails(&actions), [(w, AcquireError::PoolBroken { pool })]);
    let c = *core.counters();
    assert_eq!((c.leases_granted_after_waiting, c.pools_broken), (0, 1), "{c:?}");
}

#[test]
fn counters_survive_stop_and_start_and_show_in_stats() {
    let now = Instant::now();
    let mut core = core_with(builder(1));
    for run in 1..=3 {
        core.start(now, 0).unwrap();
        drain(&mut core, now);
        let g = granted(core.acquire(now, Acquire::no_wait()));
        released(&mut core, now, g.lease);
        core.stop(now).unwrap();
        drain(&mut core, now);
        let c = *core.counters();
        assert_eq!(
            (c.pools_created, c.pools_shut_down, c.leases_granted_at_once, c.leases_released),
            (run, run, run, run)
        );
        assert_eq!(core.stats(now).counters, c);
    }
}
