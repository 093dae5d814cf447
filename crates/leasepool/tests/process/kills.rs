//! Revocation and stop kill the worker process running a job, reap it, and
//! give the caller the typed reason; the replacement pool serves.

use std::time::{Duration, Instant};

use leasepool::process::{ProcessHandle, ProcessLease};
use leasepool::{Error, Runtime};

use crate::common::{eventually, eventually_for, within};
use crate::jobs::{Echo, Spin, WhoAmI};
use crate::{config, is_gone, manager, marker, process_tests};

/// Waits until `pid` is gone, at most until `limit` past `from`, and says
/// how long after `from` it was seen gone.
async fn gone_within<R: Runtime + Default>(pid: u32, from: Instant, limit: Duration) -> Duration {
    let left = limit.saturating_sub(from.elapsed());
    eventually_for::<R>(left, &format!("worker process {pid} gone within {limit:?}"), || is_gone(pid)).await;
    from.elapsed()
}

/// Submits an endless job and waits until it runs.
async fn spin<R: Runtime + Default>(lease: &ProcessLease<R>) -> ProcessHandle<()> {
    let marker = marker("spin");
    let handle = lease.submit::<Spin>(Some(marker.clone())).unwrap();
    eventually::<R>("the endless job starts", || marker.exists()).await;
    let _ = std::fs::remove_file(&marker);
    handle
}

async fn revocation_kills_an_endless_job<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b.lease_grace(Duration::from_millis(100))).await;
    let lease = m.acquire().lease_for(Duration::from_millis(200)).await.unwrap();
    let pid = lease.run::<WhoAmI>(()).await.unwrap();
    let hard = lease.hard_expires_at();
    let err = lease.run::<Spin>(None).await.unwrap_err();
    assert!(matches!(err, Error::LeaseExpired), "{err:?}");
    // The promise: gone (and reaped) within 1 s of the hard expiry.
    let took = gone_within::<R>(pid, hard, Duration::from_secs(1)).await;
    println!("worker process {pid} gone {took:?} after the hard expiry");
    drop(lease);
    // The replacement pool serves.
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run::<Echo>("again".into()).await.unwrap(), "echo: again");
    assert_ne!(lease.run::<WhoAmI>(()).await.unwrap(), pid);
    drop(lease);
    m.stop().await;
}

/// Calls queued behind an endless one (sent in its batch, or still waiting
/// for a worker) all end at the revocation, none hangs.
async fn calls_behind_an_endless_job_end_at_revocation<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b.lease_grace(Duration::ZERO)).await;
    let lease = m.acquire().lease_for(Duration::from_millis(200)).await.unwrap();
    let spinning = spin::<R>(&lease).await;
    let behind: Vec<_> = (0..10).map(|i| lease.submit::<Echo>(format!("{i}")).unwrap()).collect();
    assert!(matches!(spinning.await, Err(Error::LeaseExpired)));
    for handle in behind {
        let err = handle.await.unwrap_err();
        assert!(matches!(err, Error::LeaseExpired | Error::Cancelled), "{err:?}");
    }
    drop(lease);
    m.stop().await;
}

async fn stop_kills_running_jobs<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let pid = lease.run::<WhoAmI>(()).await.unwrap();
    let spinning = spin::<R>(&lease).await;
    m.stop().await;
    let stopped = Instant::now();
    let err = spinning.await.unwrap_err();
    assert!(matches!(err, Error::Stopped), "{err:?}");
    gone_within::<R>(pid, stopped, Duration::from_secs(5)).await;
}

async fn a_shutdown_past_its_deadline_kills<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let pid = lease.run::<WhoAmI>(()).await.unwrap();
    let spinning = spin::<R>(&lease).await;
    let report = m.shutdown(Duration::from_millis(200)).await;
    assert!(!report.drained(), "{report:?}");
    let err = spinning.await.unwrap_err();
    assert!(matches!(err, Error::Stopped), "{err:?}");
    gone_within::<R>(pid, Instant::now(), Duration::from_secs(5)).await;
}

/// A stop ends every call of a pool of two workers: the two running
/// endless jobs and those queued behind them.
async fn a_stop_ends_every_queued_call<R: Runtime + Default>() {
    let m = manager::<R>(2, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let spinning = [spin::<R>(&lease).await, spin::<R>(&lease).await];
    let behind: Vec<_> = (0..20).map(|i| lease.submit::<Echo>(format!("{i}")).unwrap()).collect();
    m.stop().await;
    for handle in spinning {
        let err = within::<R, _>("an endless call ends at the stop", handle).await.unwrap_err();
        assert!(matches!(err, Error::Stopped), "{err:?}");
    }
    for handle in behind {
        let err = within::<R, _>("a queued call ends at the stop", handle).await.unwrap_err();
        assert!(matches!(err, Error::Stopped | Error::Cancelled), "{err:?}");
    }
    drop(lease);
}

/// A lease released with calls queued drains: every call completes, then
/// the pool is free for the next lease.
async fn a_release_with_queued_calls_drains_them<R: Runtime + Default>() {
    let m = manager::<R>(2, config(), |b| b.max_pools(1)).await;
    let lease = m.acquire().await.unwrap();
    let handles: Vec<_> = (0..50).map(|i| lease.submit::<Echo>(format!("{i}")).unwrap()).collect();
    drop(lease);
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(within::<R, _>("a call of a released lease", handle).await.unwrap(), format!("echo: {i}"));
    }
    let lease = within::<R, _>("the drained pool is granted again", m.acquire()).await.unwrap();
    assert_eq!(lease.run::<Echo>("next".into()).await.unwrap(), "echo: next");
    drop(lease);
    m.stop().await;
}

async fn idle_workers_exit_when_their_pool_stops<R: Runtime + Default>() {
    let m = manager::<R>(2, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let pid = lease.run::<WhoAmI>(()).await.unwrap();
    drop(lease);
    m.stop().await;
    eventually::<R>("the idle worker process exits", || is_gone(pid)).await;
}

process_tests! {
    revocation_kills_an_endless_job,
    calls_behind_an_endless_job_end_at_revocation,
    stop_kills_running_jobs,
    a_shutdown_past_its_deadline_kills,
    a_stop_ends_every_queued_call,
    a_release_with_queued_calls_drains_them,
    idle_workers_exit_when_their_pool_stops,
}
