//! `stats()`: configuration, counts and per-lease times (time left to soft
//! and hard expiry, never negative).

use std::time::Duration;

use leasepool::{Backend, Runtime};

use crate::common::*;

/// stats() reports the backend, bounds, workers per pool, counts and, per
/// lease, id / owner / pool / duration / time left to soft and hard expiry.
async fn stats_report_config_counts_and_leases<R: Runtime + Default>() {
    let m = started(
        builder::<R>()
            .max_pools(3)
            .min_pools(2)
            .workers_per_pool(2)
            .lease_grace(Duration::from_secs(3))
            .name_prefix("cfstats"),
    )
    .await;
    let s = m.stats();
    assert_eq!(s.backend, Backend::Thread);
    assert_eq!(m.backend(), Backend::Thread);
    assert_eq!(s.backend.to_string(), "thread");
    assert_eq!(&*s.name_prefix, "cfstats");
    assert!(s.running);
    assert_eq!((s.min_pools, s.max_pools, s.workers_per_pool), (2, 3, 2));
    assert_eq!(
        (s.available, s.leased, s.total, s.waiting, s.desired_executor_count, s.units),
        (2, 0, 2, 0, 2, 0)
    );
    assert!(s.leases.is_empty());

    let a = m.acquire().owner("alpha").lease_for(Duration::from_secs(10)).await.unwrap();
    let b = m.acquire().lease_for(Duration::from_secs(20)).await.unwrap();
    let s = m.stats();
    assert_eq!((s.available, s.leased, s.total), (0, 2, 2));
    let ids: Vec<_> = s.leases.iter().map(|l| l.id).collect();
    assert_eq!(ids, [a.id(), b.id()], "one entry per lease, sorted by id");
    let (la, lb) = (&s.leases[0], &s.leases[1]);
    assert_eq!((la.owner.as_deref(), lb.owner.as_deref()), (Some("alpha"), None));
    assert_eq!((la.pool, lb.pool), (a.pool_id(), b.pool_id()));
    assert_eq!((la.lease_for, lb.lease_for), (Duration::from_secs(10), Duration::from_secs(20)));
    assert_eq!(la.leased_at, a.leased_at());
    assert!(la.soft_remaining <= Duration::from_secs(10) && la.soft_remaining > Duration::from_secs(5));
    assert!(lb.soft_remaining <= Duration::from_secs(20) && lb.soft_remaining > Duration::from_secs(15));
    assert_eq!(la.hard_remaining, la.soft_remaining + Duration::from_secs(3), "hard = soft + grace");
    assert_eq!(lb.hard_remaining, lb.soft_remaining + Duration::from_secs(3));
    assert_eq!((la.jobs, la.draining), (0, false));

    let gate = Gate::default();
    let job = a.submit(gate.job(())).unwrap();
    a.release();
    let s = m.stats();
    assert_eq!((s.leases[0].jobs, s.leases[0].draining), (1, true));
    gate.open();
    within::<R, _>("the job ends", job).await.unwrap();
    let s = m.stats();
    assert_eq!(s.leases.len(), 1);
    assert_eq!(s.leases[0].id, b.id());
    m.stop().await;
    assert!(!m.stats().running);
}

/// Times left are never negative: past soft expiry soft_remaining is zero,
/// past hard expiry (not yet revoked) both are zero. Timers are disabled
/// so that the checker does not revoke the lease under the test's feet.
async fn stats_remaining_times_are_never_negative<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(false);
    let m =
        started(b.max_pools(2).lease_grace(Duration::ZERO).check_interval(Duration::from_secs(7200))).await;
    let expired = m.acquire().lease_for(Duration::from_millis(30)).await.unwrap();
    eventually::<R>("the checker arms its timer", || probe.slept_until(expired.hard_expires_at())).await;
    sleep::<R>(Duration::from_millis(60)).await;
    let s = m.stats();
    assert_eq!(s.leases.len(), 1, "not revoked: timers are off");
    assert_eq!(s.leases[0].soft_remaining, Duration::ZERO);
    assert_eq!(s.leases[0].hard_remaining, Duration::ZERO);
    m.stop().await;
}

/// A pool shut down while a job runs on it leaves `total` at once but
/// shows as `winding_down` until its worker threads have finished: the
/// threads it still holds are in sight.
async fn stats_show_pools_winding_down<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).workers_per_pool(1)).await;
    let lease = m.acquire().await.unwrap();
    let gate = Gate::default();
    let job = lease.submit(gate.job(7)).unwrap();
    eventually::<R>("the job runs", || gate.entered() == 1).await;
    assert_eq!(m.stats().winding_down, 0, "nothing shut down yet");
    m.stop().await;
    let s = m.stats();
    assert_eq!((s.total, s.winding_down), (0, 1), "stopped, its job still running: {s:?}");
    gate.open();
    assert_eq!(within::<R, _>("the running job ends", job).await.unwrap(), 7);
    eventually::<R>("its worker thread returns", || m.stats().winding_down == 0).await;
}

/// A stop that cuts two busy leases at once shows both pools winding
/// down.
async fn winding_down_counts_every_pool_stopped_in_one_drain<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).min_pools(2).workers_per_pool(1)).await;
    let a = m.acquire().await.unwrap();
    let b = m.acquire().await.unwrap();
    let gate = Gate::default();
    let ja = a.submit(gate.job(1)).unwrap();
    let jb = b.submit(gate.job(2)).unwrap();
    eventually::<R>("both jobs run", || gate.entered() == 2).await;
    m.stop().await;
    let s = m.stats();
    gate.open();
    let _ = within::<R, _>("job a", ja).await;
    let _ = within::<R, _>("job b", jb).await;
    assert_eq!(s.winding_down, 2, "two pools shut down with a job running each: {s:?}");
}

conformance! {
    stats_report_config_counts_and_leases,
    stats_remaining_times_are_never_negative,
    stats_show_pools_winding_down,
    winding_down_counts_every_pool_stopped_in_one_drain,
}
