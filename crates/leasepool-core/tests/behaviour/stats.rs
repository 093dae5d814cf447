//! Section 7, counts and stats.

use super::*;

#[test]
fn counts_track_available_leased_total_desired_and_waiting() {
    let now = Instant::now();
    // No idle timeout: a surplus pool released is shut down at once.
    let (mut core, _) = started(builder(3).min_pools(2).idle_timeout(Duration::ZERO), now, 0);
    assert_eq!(
        (core.available_count(), core.leased_count(), core.total_count(), core.desired_executor_count()),
        (2, 0, 2, 2)
    );
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    let c = take(&mut core, now);
    core.job_submitted(now, c.lease).unwrap();
    core.release(now, c.lease).unwrap(); // draining
    let _w = queued(core.acquire(now, Acquire::wait()));
    assert_eq!(
        (core.available_count(), core.leased_count(), core.total_count(), core.waiting_count()),
        (0, 3, 3, 1)
    );
    // Handed off to the waiter: still leased.
    assert_eq!(released(&mut core, now, a.lease).0, PoolFate::HandedOff);
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 3, 3));
    // Keeping it would leave 3 > desired 2.
    assert_eq!(released(&mut core, now, b.lease).0, PoolFate::ShutDown);
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 2, 2));
    // The draining lease ends: 1 + 1 <= 2, kept.
    assert_eq!(core.job_finished(now, c.lease), Ok(()));
    assert_eq!(end_of(&drain_raw(&mut core), c.lease), LeaseEnd::Released(PoolFate::Kept));
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (1, 1, 2));
}

#[test]
fn stats_report_each_lease_with_time_left_never_negative() {
    let now = Instant::now();
    let b = builder(3).min_pools(2).workers_per_pool(6).default_lease_for(secs(100)).lease_grace(secs(20));
    let (mut core, _) = started(b, now, 0);
    let a = granted(core.acquire(now, Acquire::no_wait().owner("etl")));
    let b = granted(core.acquire(now + secs(10), Acquire::no_wait().lease_for(secs(30))));
    drain_raw(&mut core);
    core.job_submitted(now + secs(10), a.lease).unwrap();
    let w = queued(core.acquire(now + secs(10), Acquire::wait())); // a third pool, being created

    let s = core.stats(now + secs(20));
    assert!(s.running);
    assert_eq!(
        (s.available, s.leased, s.creating, s.total, s.desired_executor_count, s.waiting),
        (0, 2, 1, 3, 2, 1)
    );
    assert_eq!((s.min_pools, s.max_pools, s.workers_per_pool, s.units), (2, 3, 6, 0));
    assert_eq!(s.leases.len(), 2);
    let (la, lb) = (&s.leases[0], &s.leases[1]);
    assert_eq!((la.id, lb.id), (a.lease, b.lease), "sorted by id");
    assert_eq!(la.owner.as_deref(), Some("etl"));
    assert_eq!(lb.owner, None);
    assert_eq!((la.pool, lb.pool), (a.pool, b.pool));
    assert_eq!((la.soft_remaining, la.hard_remaining), (secs(80), secs(100)));
    assert_eq!((lb.soft_remaining, lb.hard_remaining), (secs(20), secs(40)));
    assert_eq!((la.jobs, la.draining), (1, false));
    assert_eq!(lb.lease_for, secs(30));
    assert_eq!(lb.leased_at, now + secs(10));
    assert_eq!((la.held, lb.held), (secs(20), secs(10)), "held since the grant, at the snapshot");

    // Between soft and hard expiry: soft is zero, hard still counts down.
    let s = core.stats(now + secs(110));
    assert_eq!((s.leases[0].soft_remaining, s.leases[0].hard_remaining), (Duration::ZERO, secs(10)));
    // Past both: zero, never negative (and stats does not revoke anything).
    let s = core.stats(now + secs(10_000));
    for l in &s.leases {
        assert_eq!((l.soft_remaining, l.hard_remaining), (Duration::ZERO, Duration::ZERO));
    }
    assert_eq!(core.leased_count(), 2);
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w]);
}
