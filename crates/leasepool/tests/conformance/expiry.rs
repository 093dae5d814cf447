//! Soft and hard expiry: a lease keeps working through its grace period;
//! past its hard expiry it is revoked by the checker (woken at that
//! instant), on the spot by a submit or an acquire, or at once when
//! released, and its pool is never kept.

use std::time::Duration;

use leasepool::{Error, Runtime};

use crate::common::*;

/// A lease nobody releases is revoked by the checker at hard expiry: its
/// queued job is cancelled, its running job finishes, submissions fail
/// with LeaseExpired and the pool count goes back to `min_pools`.
async fn expired_lease_is_revoked_by_the_checker<R: Runtime + Default>() {
    let m = started(
        builder::<R>()
            .max_pools(3)
            .min_pools(2)
            .lease_grace(Duration::ZERO)
            .check_interval(Duration::from_millis(50))
            .workers_per_pool(1),
    )
    .await;
    // Long enough for the first job to start first, however loaded the machine.
    let lease = m.acquire().owner("forgetful").lease_for(Duration::from_millis(500)).await.unwrap();
    let gate = Gate::default();
    let running = lease.submit(gate.job("finished anyway")).unwrap();
    let waiting_job = lease.submit(|| "never runs").unwrap();
    eventually::<R>("the first job starts", || gate.entered() == 1).await;

    eventually::<R>("the checker revokes the expired lease", || m.leased_count() == 0).await;
    assert!(matches!(
        within::<R, _>("the queued job is cancelled", waiting_job).await,
        Err(Error::Cancelled)
    ));
    assert!(matches!(lease.submit(|| ()), Err(Error::LeaseExpired)));
    assert!(matches!(lease.run(|| ()).await, Err(Error::LeaseExpired)));
    // The replacement is counted at once and idle once its threads run.
    eventually::<R>("the minimum is restored", || counts(&m) == (2, 0, 2, 0)).await;
    assert!(m.stats().leases.is_empty());

    gate.open();
    assert_eq!(within::<R, _>("the running job finishes", running).await.unwrap(), "finished anyway");
    drop(lease);
    assert_eq!(counts(&m), (2, 0, 2, 0));
    m.stop().await;
}

/// With a one-hour check interval the checker still wakes at the next hard
/// expiry by itself; a long lease is left alone and a waiter is served with
/// a fresh pool once the expired one is revoked.
async fn checker_wakes_at_the_next_hard_expiry<R: Runtime + Default>() {
    let m = started(
        builder::<R>()
            .max_pools(2)
            .min_pools(1)
            .lease_grace(Duration::ZERO)
            .check_interval(Duration::from_secs(3600))
            .workers_per_pool(1),
    )
    .await;
    let long = m.acquire().owner("long").lease_for(Duration::from_secs(3600)).await.unwrap();
    // Long enough for the waiter below to queue before it expires (an
    // acquire after the expiry would revoke it itself).
    let short = m.acquire().owner("short").lease_for(Duration::from_millis(500)).await.unwrap();
    let waiter = queued(&m, m.acquire().owner("waiter")).await;

    let lease = within::<R, _>("the waiter is served after the revocation", waiter).await.unwrap();
    assert_eq!(lease.owner(), Some("waiter"));
    assert_ne!(lease.pool_id(), short.pool_id(), "a revoked pool is never reused");
    assert!(matches!(short.submit(|| ()), Err(Error::LeaseExpired)));
    assert_eq!(long.run(|| "untouched").await.unwrap(), "untouched");
    assert_eq!(counts(&m), (0, 2, 2, 0));
    m.stop().await;
}

/// A submission after hard expiry revokes the lease on the spot. The
/// runtime's timers are disabled, so the checker (armed for that expiry)
/// never fires and only the submit can have revoked it.
async fn submit_after_hard_expiry_revokes_on_the_spot<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(false);
    let m = started(
        b.max_pools(2)
            .min_pools(1)
            .lease_grace(Duration::ZERO)
            .check_interval(Duration::from_secs(3600))
            .workers_per_pool(1),
    )
    .await;
    let lease = m.acquire().lease_for(Duration::from_millis(100)).await.unwrap();
    let pool = lease.pool_id();
    eventually::<R>("the checker arms its timer for the hard expiry", || {
        probe.slept_until(lease.hard_expires_at())
    })
    .await;
    sleep::<R>(Duration::from_millis(150)).await;
    assert_eq!(m.leased_count(), 1, "nothing has revoked it yet");

    assert!(matches!(lease.submit(|| ()), Err(Error::LeaseExpired)));
    assert_eq!(counts(&m), (1, 0, 1, 0), "revoked, and the minimum restored");
    let next = m.try_acquire().await.unwrap();
    assert_ne!(next.pool_id(), pool, "the revoked pool was shut down");
    m.stop().await;
}

/// An acquire first revokes hard-expired leases, then takes a pool: with
/// the only pool held by an expired lease, `try_acquire` succeeds on a new
/// pool. The runtime's timers are disabled, so the checker (armed for that
/// expiry) never fires and only the acquire can have revoked it. The
/// revoked lease's queued job is cancelled, its running job still
/// finishes, and it refuses new jobs.
async fn acquire_revokes_an_expired_lease<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(false);
    let m = started(b.max_pools(1).lease_grace(Duration::ZERO).workers_per_pool(1)).await;
    let lease = m.acquire().owner("expired").lease_for(Duration::from_millis(100)).await.unwrap();
    let pool = lease.pool_id();
    let gate = Gate::default();
    let running = lease.submit(gate.job("finished anyway")).unwrap();
    let queued_job = lease.submit(|| "never runs").unwrap();
    eventually::<R>("the first job starts", || gate.entered() == 1).await;
    eventually::<R>("the checker arms its timer", || probe.slept_until(lease.hard_expires_at())).await;
    sleep::<R>(Duration::from_millis(150)).await;
    assert_eq!(counts(&m), (0, 1, 1, 0), "nothing has revoked it yet");

    let next = m.try_acquire().owner("next").await.expect("the acquire revokes the expired lease");
    assert_ne!(next.pool_id(), pool, "the revoked pool is shut down, not reused");
    assert_eq!(next.owner(), Some("next"));
    assert_eq!(counts(&m), (0, 1, 1, 0));
    assert_eq!(m.stats().leases.iter().map(|l| l.id).collect::<Vec<_>>(), [next.id()]);
    assert!(matches!(within::<R, _>("the queued job is cancelled", queued_job).await, Err(Error::Cancelled)));
    assert!(matches!(lease.submit(|| ()), Err(Error::LeaseExpired)));
    gate.open();
    assert_eq!(within::<R, _>("the running job finishes", running).await.unwrap(), "finished anyway");
    assert_eq!(next.run(|| "new pool").await.unwrap(), "new pool");
    drop((lease, next));
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// Between soft and hard expiry the lease still works (soft expiry is a
/// deadline to finish by, not a revocation).
async fn lease_works_during_the_grace_period<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(false);
    let m = started(
        b.max_pools(1)
            .lease_grace(Duration::from_secs(3600))
            .check_interval(Duration::from_secs(7200)) // so the checker arms for the hard expiry
            .workers_per_pool(1),
    )
    .await;
    let lease = m.acquire().lease_for(Duration::from_millis(50)).await.unwrap();
    eventually::<R>("the checker arms its timer", || probe.slept_until(lease.hard_expires_at())).await;
    sleep::<R>(Duration::from_millis(100)).await;
    assert_eq!(lease.run(|| "in grace").await.unwrap(), "in grace");
    let s = m.stats();
    assert_eq!(s.leases[0].soft_remaining, Duration::ZERO);
    assert!(s.leases[0].hard_remaining > Duration::from_secs(3000));
    m.stop().await;
}

/// A lease released after its hard expiry (before anyone revoked it) does
/// not return its pool: the pool is shut down and the minimum restored
/// with a new one.
async fn lease_released_past_hard_expiry_is_not_kept<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(false);
    let m = started(b.max_pools(1).lease_grace(Duration::ZERO).workers_per_pool(1)).await;
    let lease = m.acquire().lease_for(Duration::from_millis(50)).await.unwrap();
    let pool = lease.pool_id();
    eventually::<R>("the checker arms its timer", || probe.slept_until(lease.hard_expires_at())).await;
    sleep::<R>(Duration::from_millis(100)).await;
    assert_eq!(m.leased_count(), 1, "nothing has revoked it yet");
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    let next = m.try_acquire().await.unwrap();
    assert_ne!(next.pool_id(), pool, "an expired lease's pool is not reused");
    m.stop().await;
}

/// Released past hard expiry with jobs in flight (before anyone revoked it),
/// a lease does not drain: it is revoked at once, like the checker would
/// have done. Its queued job is cancelled, its running job still finishes,
/// and the minimum is restored with a new pool.
async fn lease_released_past_hard_expiry_with_jobs_is_revoked<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(false);
    let m = started(b.max_pools(2).min_pools(1).lease_grace(Duration::ZERO).workers_per_pool(1)).await;
    let lease = m.acquire().lease_for(Duration::from_millis(100)).await.unwrap();
    let pool = lease.pool_id();
    let gate = Gate::default();
    let running = lease.submit(gate.job(())).unwrap();
    let queued_job = lease.submit(|| "never runs").unwrap();
    eventually::<R>("the first job starts", || gate.entered() == 1).await;
    eventually::<R>("the checker arms its timer", || probe.slept_until(lease.hard_expires_at())).await;
    sleep::<R>(Duration::from_millis(150)).await;
    assert_eq!(m.leased_count(), 1, "nothing has revoked it yet");

    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0), "revoked, not draining; the minimum restored");
    assert!(matches!(within::<R, _>("the queued job is cancelled", queued_job).await, Err(Error::Cancelled)));
    gate.open();
    within::<R, _>("the running job finishes", running).await.unwrap();
    let next = m.try_acquire().await.unwrap();
    assert_ne!(next.pool_id(), pool, "the revoked pool is not reused");
    m.stop().await;
}

conformance! {
    expired_lease_is_revoked_by_the_checker,
    checker_wakes_at_the_next_hard_expiry,
    submit_after_hard_expiry_revokes_on_the_spot,
    acquire_revokes_an_expired_lease,
    lease_works_during_the_grace_period,
    lease_released_past_hard_expiry_is_not_kept,
    lease_released_past_hard_expiry_with_jobs_is_revoked,
}
