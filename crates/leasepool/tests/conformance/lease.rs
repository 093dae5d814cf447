//! The lease API on the thread backend: accessors that follow the
//! configuration, run / submit, idempotent release and release on drop, and
//! draining (a lease released with jobs still queued or running stays
//! leased until the last of them ends).

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leasepool::{Error, Runtime};

use crate::common::*;

/// id / owner / lease_for / grace / leased_at / soft / hard expiry
/// follow the configuration and the acquire options.
async fn lease_accessors_match_config<R: Runtime + Default>() {
    let m = started(
        builder::<R>()
            .max_pools(2)
            .default_lease_for(Duration::from_secs(7))
            .lease_grace(Duration::from_secs(2))
            .workers_per_pool(1),
    )
    .await;
    let before = Instant::now();
    let a = m.acquire().owner("accounting").await.unwrap();
    let after = Instant::now();
    assert_eq!(a.owner(), Some("accounting"));
    assert_eq!(a.lease_for(), Duration::from_secs(7), "default_lease_for");
    assert_eq!(a.grace(), Duration::from_secs(2), "lease_grace");
    assert!(before <= a.leased_at() && a.leased_at() <= after);
    assert_eq!(a.soft_expires_at(), a.leased_at() + Duration::from_secs(7));
    assert_eq!(a.hard_expires_at(), a.soft_expires_at() + Duration::from_secs(2));

    let b = m.acquire().lease_for(Duration::from_secs(3)).await.unwrap();
    assert_eq!(b.owner(), None);
    assert_eq!(b.lease_for(), Duration::from_secs(3), "lease_for overrides default_lease_for");
    assert_eq!(b.grace(), Duration::from_secs(2));
    assert_eq!(b.hard_expires_at(), b.leased_at() + Duration::from_secs(5));
    assert_ne!(a.id(), b.id());
    assert_ne!(a.pool_id(), b.pool_id());
    assert!(format!("{a:?}").contains("accounting"));
    m.stop().await;
}

/// `run` moves captured arguments to a worker thread and returns the
/// closure's value.
async fn run_with_captured_arguments<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(2).name_prefix("cfrun")).await;
    let lease = m.acquire().await.unwrap();
    let words = [String::from("leased"), String::from("pools")];
    let sep = String::from("+");
    let joined = lease.run(move || words.join(&sep)).await.unwrap();
    assert_eq!(joined, "leased+pools");

    let data: Arc<Vec<u64>> = Arc::new((1..=100).collect());
    let shared = Arc::clone(&data);
    assert_eq!(lease.run(move || shared.iter().sum::<u64>()).await.unwrap(), 5050);
    assert_eq!(Arc::strong_count(&data), 1, "the job and its captures are dropped once it ran");

    let caller = std::thread::current().id();
    let (on, name) = lease
        .run(|| (std::thread::current().id(), std::thread::current().name().map(str::to_owned)))
        .await
        .unwrap();
    assert_ne!(on, caller, "jobs run on the pool's worker threads");
    assert!(name.unwrap().starts_with("cfrun-"));
    m.stop().await;
}

/// `submit` returns a handle that can be awaited, or waited on from a plain
/// thread; the lease itself can submit from a plain thread.
async fn submit_await_and_wait_from_a_thread<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(2)).await;
    let lease = m.acquire().await.unwrap();

    let a = lease.submit(|| 6 * 7).unwrap();
    let b = lease.submit(|| "text").unwrap();
    assert_eq!(a.await.unwrap(), 42);
    assert_eq!(b.await.unwrap(), "text");

    let handle = lease.submit(|| 1 + 1).unwrap();
    let waited = std::thread::spawn(move || handle.wait());
    eventually::<R>("the waiting thread returns", || waited.is_finished()).await;
    assert_eq!(waited.join().unwrap().unwrap(), 2);

    let from_thread = std::thread::scope(|s| s.spawn(|| lease.submit(|| 3).unwrap().wait()).join().unwrap());
    assert_eq!(from_thread.unwrap(), 3);

    let gate = Gate::default();
    let handle = lease.submit(gate.job(())).unwrap();
    eventually::<R>("the job starts", || gate.entered() == 1).await;
    assert!(!handle.is_finished());
    gate.open();
    eventually::<R>("the job ends", || handle.is_finished()).await;
    handle.await.unwrap();
    m.stop().await;
}

/// Dropping a lease releases it; `release` is idempotent, and a stale
/// release (after the pool was leased again) touches nothing.
async fn release_is_idempotent_and_drop_releases<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    {
        let _scoped = m.acquire().await.unwrap();
        assert_eq!(counts(&m), (0, 1, 1, 0));
    }
    assert_eq!(counts(&m), (1, 0, 1, 0), "dropping the lease released it");

    let first = m.acquire().await.unwrap();
    first.release();
    assert_eq!(counts(&m), (1, 0, 1, 0));
    first.release();
    assert_eq!(counts(&m), (1, 0, 1, 0));
    assert!(matches!(first.submit(|| ()), Err(Error::LeaseReleased)));
    assert!(matches!(first.run(|| ()).await, Err(Error::LeaseReleased)));

    let second = m.acquire().await.unwrap();
    assert_eq!(second.pool_id(), first.pool_id(), "the same pool, leased again");
    assert_ne!(second.id(), first.id());
    first.release();
    drop(first);
    assert_eq!(counts(&m), (0, 1, 1, 0), "a stale release must not free someone else's lease");
    assert_eq!(second.run(|| 5).await.unwrap(), 5);
    drop(second);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// Releasing with a job running and one queued drains: the lease still
/// counts as leased (draining in stats), refuses new jobs, and the pool is
/// reused only when both jobs are done.
async fn release_while_jobs_run_drains<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let lease = m.acquire().owner("drainer").await.unwrap();
    let gate = Gate::default();
    let running = lease.submit(gate.job("first")).unwrap();
    let queued_job = lease.submit(|| "second").unwrap();
    eventually::<R>("the first job starts", || gate.entered() == 1).await;

    lease.release();
    assert_eq!(counts(&m), (0, 1, 1, 0), "a draining lease still counts as leased");
    let s = m.stats();
    assert_eq!(s.leases.len(), 1);
    assert!(s.leases[0].draining);
    assert_eq!(s.leases[0].jobs, 2);
    assert_eq!(s.leases[0].owner.as_deref(), Some("drainer"));
    assert!(matches!(lease.submit(|| ()), Err(Error::LeaseReleased)), "a draining lease refuses work");
    assert!(matches!(m.try_acquire().await, Err(Error::Unavailable)));
    lease.release(); // still idempotent while draining
    assert_eq!(counts(&m), (0, 1, 1, 0));

    gate.open();
    assert_eq!(within::<R, _>("the running job ends", running).await.unwrap(), "first");
    assert_eq!(within::<R, _>("the queued job ends", queued_job).await.unwrap(), "second");
    assert_eq!(counts(&m), (1, 0, 1, 0), "drained: the pool is available");
    let again = m.try_acquire().await.unwrap();
    assert_eq!(again.pool_id(), lease.pool_id());
    m.stop().await;
}

/// Dropping a lease with a job in flight drains too, and the drained pool
/// goes straight to a waiter.
async fn drop_while_jobs_run_drains_then_hands_off<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let lease = m.acquire().await.unwrap();
    let pool = lease.pool_id();
    let gate = Gate::default();
    let job = lease.submit(gate.job(())).unwrap();
    eventually::<R>("the job starts", || gate.entered() == 1).await;
    drop(lease);
    let next = queued(&m, m.acquire().owner("next")).await;
    assert_eq!(counts(&m), (0, 1, 1, 1));

    gate.open();
    within::<R, _>("the job ends", job).await.unwrap();
    let lease = within::<R, _>("the waiter gets the drained pool", next).await.unwrap();
    assert_eq!((lease.owner(), lease.pool_id()), (Some("next"), pool));
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// Releases racing the end of their last job, from the lease's task and
/// from another thread: each lease is finalised exactly once (by the
/// release or by its last job, whichever comes second), every job result
/// arrives, a job submitted after the release is refused, and the pool is
/// back every time.
async fn release_racing_job_ends_loses_nothing<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(2)).await;
    for round in 0..300u32 {
        let lease = m.acquire().await.unwrap();
        let a = lease.submit(move || round).unwrap();
        let b = lease.submit(move || round + 1).unwrap();
        if round % 2 == 0 {
            lease.release();
            assert!(matches!(lease.submit(|| 0), Err(Error::LeaseReleased)));
        } else {
            std::thread::spawn(move || drop(lease)).join().unwrap();
        }
        assert_eq!(within::<R, _>("job a", a).await.unwrap(), round);
        assert_eq!(within::<R, _>("job b", b).await.unwrap(), round + 1);
        let next = within::<R, _>("the pool comes back", m.acquire().into_future()).await.unwrap();
        drop(next);
        assert_eq!(counts(&m), (1, 0, 1, 0), "round {round}");
    }
    m.stop().await;
}

conformance! {
    lease_accessors_match_config,
    run_with_captured_arguments,
    submit_await_and_wait_from_a_thread,
    release_is_idempotent_and_drop_releases,
    release_while_jobs_run_drains,
    drop_while_jobs_run_drains_then_hands_off,
    release_racing_job_ends_loses_nothing,
}
