//! `Stats::counters` (README.md, "Observability"): every count, exact,
//! end to end: the core's decisions (grants, refusals, withdrawn waiters,
//! lease ends, pools) and what only the manager sees (jobs, size provider
//! reads). The grinder's counters are checked with the grinder
//! (`grinder.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use leasepool::{Counters, Error, Runtime, Stats};

use crate::common::*;

/// `pools_created - pools_shut_down` is the pools the core holds.
fn assert_pools_balance(s: &Stats) {
    let c = &s.counters;
    assert_eq!(
        c.pools_created - c.pools_shut_down,
        (s.available + s.leased) as u64,
        "every pool created is live or shut down: {s:?}"
    );
}

/// One of each: a grant at once, a refusal, a timeout, a withdrawn waiter,
/// a grant after waiting (a hand-off), releases, jobs that return, panic
/// and never run, and the stop that ends it all; each counted once.
async fn counters_count_each_grant_refusal_job_and_end<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let mut expected = Counters::default();
    expected.pools_created = 1;
    assert_eq!(m.stats().counters, expected, "a start creates the first pool");

    let first = m.acquire().await.unwrap();
    expected.leases_granted_at_once = 1;
    assert!(matches!(m.try_acquire().await, Err(Error::Unavailable)));
    expected.acquire_unavailable = 1;
    let late = m.acquire().timeout(Duration::from_millis(20)).await;
    assert!(matches!(late, Err(Error::Timeout(_))), "{late:?}");
    expected.acquire_timeouts = 1;
    drop(queued(&m, m.acquire()).await);
    expected.waiters_cancelled = 1;
    assert_eq!(m.stats().counters, expected);

    // A release hands the pool to the waiter.
    let waiter = queued(&m, m.acquire()).await;
    drop(first);
    let second = within::<R, _>("the waiter is granted the released pool", waiter).await.unwrap();
    expected.leases_released = 1;
    expected.leases_granted_after_waiting = 1;
    assert_eq!(m.stats().counters, expected);

    // Jobs: one returns, one panics; both ran, counted before their results.
    assert_eq!(second.run(|| 7).await.unwrap(), 7);
    assert!(matches!(second.run(|| -> u32 { panic!("counted") }).await, Err(Error::Panicked(_))));
    expected.jobs_run = 2;
    expected.jobs_panicked = 1;
    assert_eq!(m.stats().counters, expected);

    // One job holds the only worker, two wait behind it: a stop cancels the
    // two, the running one finishes.
    let gate = Gate::default();
    let running = second.submit(gate.job(1)).unwrap();
    let queued_jobs = [second.submit(|| 2).unwrap(), second.submit(|| 3).unwrap()];
    eventually::<R>("the first job runs", || gate.entered() == 1).await;
    m.stop().await;
    for job in queued_jobs {
        assert!(matches!(within::<R, _>("a queued job is cancelled", job).await, Err(Error::Cancelled)));
    }
    gate.open();
    assert_eq!(within::<R, _>("the running job ends", running).await.unwrap(), 1);
    expected.jobs_run = 3;
    expected.jobs_cancelled = 2;
    expected.pools_shut_down = 1;
    let s = m.stats();
    assert_eq!(s.counters, expected, "the stop cut the lease: neither released nor revoked");
    assert_pools_balance(&s);

    // Released after the stop cut it: nothing more to count.
    drop(second);
    assert_eq!(m.stats().counters, expected);
}

/// The counters live as long as the manager: a stop and a new start add to
/// them, never reset them.
async fn counters_survive_stop_and_start<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).min_pools(2)).await;
    for round in 1..=3u64 {
        let lease = m.acquire().await.unwrap();
        lease.run(|| ()).await.unwrap();
        drop(lease);
        m.stop().await;
        let c = m.stats().counters;
        assert_eq!(
            (c.pools_created, c.pools_shut_down, c.leases_granted_at_once, c.leases_released, c.jobs_run),
            (2 * round, 2 * round, round, round, round),
            "round {round}: {c:?}"
        );
        m.start().await.unwrap();
    }
    let s = quiescent(&m, "the last start's pools are up").await;
    assert_pools_balance(&s);
    m.stop().await;
}

/// A lease revoked at hard expiry counts as revoked (not released), its
/// pool as shut down, and the replacement as created.
async fn counters_count_a_revoked_lease<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).lease_grace(Duration::ZERO)).await;
    let lease = m.acquire().lease_for(Duration::from_millis(30)).await.unwrap();
    eventually::<R>("the lease is revoked", || m.stats().counters.leases_revoked == 1).await;
    let s = quiescent(&m, "the pool is replaced").await;
    let c = s.counters;
    assert_eq!(
        (c.leases_granted_at_once, c.leases_released, c.leases_revoked, c.pools_created, c.pools_shut_down),
        (1, 0, 1, 2, 1),
        "{c:?}"
    );
    assert_pools_balance(&s);
    assert!(matches!(lease.run(|| ()).await, Err(Error::LeaseExpired)));
    drop(lease);
    assert_eq!(m.stats().counters, c, "releasing a revoked lease counts nothing more");
    m.stop().await;
}

/// A pool whose worker initializer fails is counted as broken and shut
/// down.
async fn counters_count_a_broken_pool<R: Runtime + Default>() {
    let fail = Arc::new(AtomicBool::new(false));
    let inits = Arc::new(AtomicUsize::new(0));
    let (f, n) = (Arc::clone(&fail), Arc::clone(&inits));
    let m = started(builder::<R>().max_pools(2).workers_per_pool(1).initializer(move || {
        n.fetch_add(1, Ordering::SeqCst);
        if f.load(Ordering::SeqCst) { Err("cursed") } else { Ok(()) }
    }))
    .await;
    eventually::<R>("the first pool's worker is initialised", || inits.load(Ordering::SeqCst) == 1).await;
    let held = m.acquire().await.unwrap();
    fail.store(true, Ordering::SeqCst);
    // The second pool is created for this acquire, and breaks.
    let broken = match m.acquire().await {
        Ok(lease) => lease.run(|| ()).await.map(drop),
        Err(e) => Err(e),
    };
    assert!(matches!(broken, Err(Error::Broken(_))), "{broken:?}");
    eventually::<R>("the broken pool is retired", || m.stats().counters.pools_broken == 1).await;
    let s = m.stats();
    let c = s.counters;
    assert_eq!((c.pools_created, c.pools_shut_down, c.pools_broken), (2, 1, 1), "{c:?}");
    assert_pools_balance(&s);
    drop(held);
    m.stop().await;
}

/// Every call of the size provider is counted, and every panic in it as a
/// failure too.
async fn counters_count_size_provider_reads_and_failures<R: Runtime + Default>() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let m = started(builder::<R>().max_pools(2).size_provider(move || {
        // Every other call panics, from the first.
        if c.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
            panic!("no signal");
        }
        3
    }))
    .await;
    for _ in 0..3 {
        m.desired_executor_count();
    }
    m.notify_scale_changed();
    eventually::<R>("the checker reads the provider", || calls.load(Ordering::SeqCst) >= 5).await;
    m.stop().await;
    // Stopped, the checker calls it no more; a read under way when the
    // stop came is counted as it returns.
    eventually::<R>("every call is counted", || {
        let c = m.stats().counters;
        let calls = calls.load(Ordering::SeqCst) as u64;
        c.size_provider_reads == calls && c.size_provider_failures == calls.div_ceil(2)
    })
    .await;
}

conformance! {
    counters_count_each_grant_refusal_job_and_end,
    counters_survive_stop_and_start,
    counters_count_a_revoked_lease,
    counters_count_a_broken_pool,
    counters_count_size_provider_reads_and_failures,
}
