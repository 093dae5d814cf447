//! Graceful shutdown: `shutdown(timeout)` fails waiters and later acquires
//! with `Stopped` at once, lets leased work finish, returns as soon as the
//! last lease ends (nothing cut), and at the deadline cuts what is left.
//! `WorkGrinder::shutdown` drains within its deadline and cancels the rest.

use std::time::Duration;

use leasepool::driver::{Lease, WorkGrinder};
use leasepool::{Error, Runtime, ShutdownReport};

use crate::common::*;

/// Far beyond what any test here takes: a shutdown that returns "early"
/// returns long before it.
const LONG: Duration = Duration::from_secs(60);
/// Short enough that a test waits for it, long enough to act meanwhile.
const SHORT: Duration = Duration::from_millis(200);

/// Waiters fail with `Stopped` while the shutdown waits, acquires during it
/// fail with `Stopped`, leased work goes on, and once every lease is
/// released the call returns at once: nothing cut, well before the deadline.
async fn shutdown_returns_once_every_lease_is_released<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).min_pools(2).workers_per_pool(1)).await;
    let a = m.acquire().owner("a").await.unwrap();
    let b = m.acquire().owner("b").await.unwrap();
    let gate = Gate::default();
    let running = a.submit(gate.job(7)).unwrap();
    eventually::<R>("the job runs", || gate.entered() == 1).await;
    let waiter = queued(&m, m.acquire().owner("waiter")).await;

    let m2 = m.clone();
    let shutdown = spawn::<R, _>(async move { m2.shutdown(LONG).await });
    let result = within::<R, _>("the waiter fails at once", waiter).await;
    assert!(matches!(result, Err(Error::Stopped)), "{result:?}");
    eventually::<R>("the shutdown has begun", || m.waiting_count() == 0 && m.available_count() == 0).await;
    assert!(matches!(m.acquire().await, Err(Error::Stopped)));
    assert!(matches!(m.try_acquire().await, Err(Error::Stopped)));
    assert!(m.is_running(), "two leases are live: the shutdown waits");

    // Leased work goes on during the shutdown.
    assert_eq!(within::<R, _>("a job during shutdown", b.run(|| 5)).await.unwrap(), 5);
    drop(b);
    a.release(); // draining: its job still runs
    gate.open();
    assert_eq!(within::<R, _>("the running job", running).await.unwrap(), 7);

    let report = within::<R, _>("the shutdown returns", shutdown).await;
    assert!(report.was_running);
    assert_eq!((report.waiters_failed, report.leases_at_start), (1, 2), "{report:?}");
    assert_eq!((report.leases_released, report.leases_cut), (2, 0), "{report:?}");
    assert!(report.drained());
    assert!(report.elapsed < LONG / 2, "returned early: {report:?}");
    assert!(!m.is_running());
    assert_eq!(counts(&m), (0, 0, 0, 0));
    assert!(matches!(m.acquire().await, Err(Error::Stopped)));
    // A stopped manager starts again, open.
    m.start().await.unwrap();
    drop(m.acquire().await.unwrap());
    m.stop().await;
}

/// With no lease at all the shutdown returns at once; on a manager never
/// started it does nothing, and acquires still say `NotStarted`.
async fn shutdown_with_nothing_leased_returns_at_once<R: Runtime + Default>() {
    let never = builder::<R>().max_pools(1).build().unwrap();
    let report = within::<R, _>("shutdown of a manager never started", never.shutdown(LONG)).await;
    assert!(!report.was_running);
    assert!(matches!(never.acquire().await, Err(Error::NotStarted)));

    let m = started(builder::<R>().max_pools(2).min_pools(2).workers_per_pool(1)).await;
    let report = within::<R, _>("shutdown with no lease", m.shutdown(LONG)).await;
    assert!(report.was_running && report.drained(), "{report:?}");
    assert_eq!((report.waiters_failed, report.leases_at_start), (0, 0));
    assert!(!m.is_running());
    assert_eq!(counts(&m), (0, 0, 0, 0));
    let again = within::<R, _>("a second shutdown", m.shutdown(LONG)).await;
    assert!(!again.was_running);
    assert!(matches!(m.acquire().await, Err(Error::Stopped)));
}

/// A lease held past the deadline is cut: the call returns at the deadline,
/// the lease's queued job is cancelled, its submit fails, and its running
/// job still finishes with its value.
async fn shutdown_cuts_a_lease_held_past_the_deadline<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let lease = m.acquire().owner("stubborn").await.unwrap();
    let gate = Gate::default();
    let running = lease.submit(gate.job(1)).unwrap();
    let behind = lease.submit(|| 2).unwrap();
    eventually::<R>("the job runs", || gate.entered() == 1).await;

    let report = within::<R, _>("the shutdown returns at its deadline", m.shutdown(SHORT)).await;
    assert_eq!((report.leases_at_start, report.leases_cut, report.leases_released), (1, 1, 0), "{report:?}");
    assert!(!report.drained());
    assert!(report.elapsed >= SHORT, "waited for the deadline: {report:?}");
    assert!(!m.is_running());
    assert_eq!(counts(&m), (0, 0, 0, 0));
    assert!(lease.submit(|| 3).is_err(), "a cut lease refuses work");
    assert!(matches!(within::<R, _>("the queued job", behind).await, Err(Error::Cancelled)));
    gate.open();
    assert_eq!(within::<R, _>("the running job", running).await.unwrap(), 1);
}

/// The grinder's shutdown runs everything queued when it can, and returns
/// as soon as it has; with a batch stuck past the deadline it cancels the
/// items queued behind it, and the stuck batch's items not yet running.
async fn grinder_shutdown_drains_within_the_deadline_and_cancels_the_rest<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let grinder = WorkGrinder::builder(&m).batch_size_threshold(4).max_wait(LONG).build().unwrap();
    grinder.start().await.expect("the grinder starts");
    let items: Vec<_> = (0..10).map(|i| grinder.enqueue(move || i * 2).unwrap()).collect();
    let report = within::<R, _>("a grinder drains", grinder.shutdown(LONG)).await;
    assert!(report.was_running && report.drained, "{report:?}");
    assert_eq!((report.cancelled, report.batches_cancelled), (0, 0));
    assert!(report.elapsed < LONG / 2, "returned early: {report:?}");
    for (i, item) in items.into_iter().enumerate() {
        assert_eq!(within::<R, _>("a drained item", item).await.unwrap(), i * 2);
    }
    assert!(matches!(grinder.enqueue(|| 0), Err(Error::GrinderNotRunning)));

    // A batch stuck on a gate, and items queued behind it.
    grinder.start().await.expect("the grinder starts");
    let gate = Gate::default();
    let first = grinder.enqueue(gate.job(100)).unwrap();
    let rest: Vec<_> = (1..4).map(|i| grinder.enqueue(move || i).unwrap()).collect();
    eventually::<R>("the batch's first item runs", || gate.entered() == 1).await;
    let behind: Vec<_> = (0..3).map(|i| grinder.enqueue(move || i).unwrap()).collect();
    let report = within::<R, _>("a grinder shutdown at its deadline", grinder.shutdown(SHORT)).await;
    assert!(!report.drained, "{report:?}");
    assert_eq!((report.cancelled, report.batches_cancelled), (3, 1), "{report:?}");
    assert!(report.elapsed >= SHORT, "{report:?}");
    for item in behind {
        assert!(matches!(within::<R, _>("an item behind the batch", item).await, Err(Error::Cancelled)));
    }
    gate.open();
    assert_eq!(within::<R, _>("the running item", first).await.unwrap(), 100);
    for (i, item) in rest.into_iter().enumerate() {
        match within::<R, _>("an item of the stuck batch", item).await {
            Ok(v) => assert_eq!(v, i + 1),
            Err(Error::Cancelled) => {}
            Err(e) => panic!("an item of the stuck batch: {e:?}"),
        }
    }
    assert!(!grinder.stats().started);
    m.stop().await;
}

/// A manager of two pools, one leased, and a `shutdown` of an hour
/// waiting for that lease (begun: the idle pool is shut down and acquires
/// fail with `Stopped`).
async fn shutting_down_around_a_lease<R: Runtime + Default>() -> (Manager<R>, Lease<R>, Joined<ShutdownReport>)
{
    let m = started(builder::<R>().max_pools(2).min_pools(2).workers_per_pool(1)).await;
    let lease = m.acquire().await.unwrap();
    let m2 = m.clone();
    let shutdown = spawn::<R, _>(async move { m2.shutdown(Duration::from_secs(3600)).await });
    // Closing shuts the idle pool down.
    eventually::<R>("the shutdown has begun", || m.available_count() == 0).await;
    assert!(matches!(m.try_acquire().await, Err(Error::Stopped)));
    (m, lease, shutdown)
}

/// A `stop` while a `shutdown` waits for leases ends that wait at once,
/// not at the shutdown's deadline.
async fn a_stop_during_shutdown_ends_it_early<R: Runtime + Default>() {
    let (m, lease, shutdown) = shutting_down_around_a_lease::<R>().await;
    m.stop().await;
    let report = within::<R, _>("the shutdown returns after the stop", shutdown).await;
    assert!(report.was_running);
    drop(lease);
}

/// A second `shutdown` joins the first; when the second's (shorter)
/// deadline cuts the leases, the first returns with it.
async fn a_second_shutdown_ending_at_its_deadline_ends_the_first<R: Runtime + Default>() {
    let (m, lease, first) = shutting_down_around_a_lease::<R>().await;
    let second = within::<R, _>("the second shutdown", m.shutdown(Duration::from_millis(100))).await;
    assert_eq!(second.leases_cut, 1, "{second:?}");
    let first = within::<R, _>("the first shutdown returns with the second", first).await;
    assert!(first.was_running);
    drop(lease);
}

/// A `shutdown` future dropped before it returns (a `select!`, a timeout)
/// stops the manager as its deadline would: a later `start` serves
/// acquires again.
async fn a_start_after_a_dropped_shutdown_serves_acquires<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let lease = m.acquire().await.unwrap();
    {
        let mut fut = Box::pin(m.shutdown(Duration::from_secs(3600)));
        assert!(poll_once(&mut fut).await.is_pending());
    }
    drop(lease);
    m.start().await.expect("start");
    let acquired =
        within::<R, _>("an acquire after start", m.acquire().timeout(Duration::from_secs(1))).await;
    assert!(acquired.is_ok(), "start returned Ok but: {acquired:?}");
}

conformance! {
    a_stop_during_shutdown_ends_it_early,
    a_second_shutdown_ending_at_its_deadline_ends_the_first,
    a_start_after_a_dropped_shutdown_serves_acquires,
    shutdown_returns_once_every_lease_is_released,
    shutdown_with_nothing_leased_returns_at_once,
    shutdown_cuts_a_lease_held_past_the_deadline,
    grinder_shutdown_drains_within_the_deadline_and_cancels_the_rest,
}
