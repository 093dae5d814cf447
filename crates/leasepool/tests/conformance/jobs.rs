//! The thread backend: panicking jobs, worker names, initializers (broken
//! pools), and what `stop` does to queued and running jobs.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leasepool::{Error, Runtime};

use crate::common::*;

/// A panicking job fails with Panicked (carrying the message); the lease
/// and its only worker keep serving, and the pool is not retired.
async fn job_panic_is_isolated<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let lease = m.acquire().await.unwrap();
    let pool = lease.pool_id();

    let code = 42;
    let err = lease.run(move || -> u32 { panic!("kaboom {code}") }).await.unwrap_err();
    assert!(matches!(&err, Error::Panicked(msg) if msg.contains("kaboom 42")), "{err:?}");
    let err = lease.submit(|| -> u32 { panic!("static kaboom") }).unwrap().await.unwrap_err();
    assert!(matches!(&err, Error::Panicked(msg) if msg.contains("static kaboom")), "{err:?}");

    assert_eq!(lease.run(|| 7).await.unwrap(), 7, "the same lease runs the next job");
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    let again = m.try_acquire().await.unwrap();
    assert_eq!(again.pool_id(), pool, "a job panic does not retire the pool");
    assert_eq!(again.run(|| 8).await.unwrap(), 8);
    m.stop().await;
}

/// Worker threads are named `{name_prefix}-{pool}-{i}`, one per worker.
async fn worker_threads_are_named<R: Runtime + Default>() {
    const WORKERS: usize = 3;
    let m = started(builder::<R>().max_pools(2).workers_per_pool(WORKERS).name_prefix("cfnames")).await;
    let lease = m.acquire().await.unwrap();
    // Three jobs that each hold their worker until all three run: one per worker.
    let arrived = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..WORKERS)
        .map(|_| {
            let arrived = Arc::clone(&arrived);
            lease
                .submit(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let deadline = Instant::now() + EVENTUALLY;
                    while arrived.load(Ordering::SeqCst) < WORKERS && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    std::thread::current().name().map(str::to_owned)
                })
                .unwrap()
        })
        .collect();
    let mut names = Vec::new();
    for handle in handles {
        names.push(within::<R, _>("the job ends", handle).await.unwrap().expect("named thread"));
    }
    names.sort();
    let expected: Vec<_> = (0..WORKERS).map(|i| format!("cfnames-{}-{i}", lease.pool_id())).collect();
    assert_eq!(names, expected);
    m.stop().await;
}

/// A job queued while a worker of the pool is idle never waits for a
/// busy one, however the idle workers wait: after a stretch of
/// back-to-back jobs (which has an idle worker of a busy pool spin for the
/// next job instead of sleeping), a burst of one job per worker, each
/// holding its worker until all have started, still runs on every worker
/// at once. Twenty rounds, since the burst races with the idle workers
/// settling down. Then `stop`, with the idle workers spinning or asleep,
/// ends every worker thread.
async fn a_burst_after_back_to_back_jobs_runs_on_every_worker<R: Runtime + Default>() {
    const WORKERS: usize = 3;
    let m = started(builder::<R>().max_pools(1).workers_per_pool(WORKERS).name_prefix("cfburst")).await;
    let lease = m.acquire().await.unwrap();
    for round in 0..20u32 {
        for i in 0..50 {
            assert_eq!(lease.run(move || round + i).await.unwrap(), round + i);
        }
        let mut names = every_worker_answers(&lease, WORKERS).await;
        names.sort();
        names.dedup();
        assert_eq!(names.len(), WORKERS, "round {round}: one job per worker");
    }
    for i in 0..50 {
        assert_eq!(lease.run(move || i + 1).await.unwrap(), i + 1);
    }
    drop(lease);
    m.stop().await;
    every_worker_thread_exits::<R>("cfburst-").await;
}

thread_local! {
    static INITIALIZED: Cell<bool> = const { Cell::new(false) };
}

/// The initializer runs once on every worker thread, before its jobs, and
/// can set up thread-local state the jobs see.
async fn initializer_runs_on_every_worker<R: Runtime + Default>() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let m = started(builder::<R>().max_pools(2).min_pools(2).workers_per_pool(2).initializer(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        INITIALIZED.with(|i| i.set(true));
        Ok::<(), std::io::Error>(())
    }))
    .await;
    let lease = m.acquire().await.unwrap();
    assert!(lease.run(|| INITIALIZED.with(Cell::get)).await.unwrap());
    eventually::<R>("every worker of both pools initialised", || calls.load(Ordering::SeqCst) == 4).await;
    assert_eq!(counts(&m), (1, 1, 2, 0));
    m.stop().await;
}

/// Builds a manager whose initializer always fails in the way `fail`
/// describes, and checks: acquires keep working, submissions fail with
/// Broken carrying the cause, nothing hangs, the bounds hold, and broken
/// pools are not recreated in a hot loop.
async fn check_always_broken<R: Runtime + Default>(
    fail: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    cause: &str,
) {
    let inits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&inits);
    let m = started(builder::<R>().max_pools(2).workers_per_pool(2).initializer(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        fail()
    }))
    .await;
    // Each acquire creates a pool that breaks at once: that races with the
    // acquire itself, so repeat it.
    for round in 0..40 {
        let lease = within::<R, _>("acquire with a broken initializer", m.acquire().timeout(EVENTUALLY))
            .await
            .unwrap_or_else(|e| panic!("round {round}: acquire must keep working, got {e}"));
        let result = within::<R, _>("a job on a broken pool ends", lease.run(|| ())).await;
        match result {
            Err(Error::Broken(msg)) => assert!(msg.contains(cause), "round {round}: {msg}"),
            other => panic!("round {round}: expected Broken, got {other:?}"),
        }
        assert!(m.total_count() <= 2);
    }
    eventually::<R>("no lease left", || m.leased_count() == 0).await;
    // A permanently failing initializer must not make the manager respawn
    // pools without pause: a handful of pool creations at most in 200 ms.
    let before = inits.load(Ordering::SeqCst);
    sleep::<R>(Duration::from_millis(200)).await;
    let during = inits.load(Ordering::SeqCst) - before;
    assert!(during <= 8, "{during} initializer runs in 200 ms: broken pools are recreated in a loop");
    m.stop().await;
}

/// An initializer returning an error breaks its pool.
async fn failing_initializer_breaks_pools<R: Runtime + Default>() {
    check_always_broken::<R>(|| Err(String::from("boom: no database")), "boom: no database").await;
}

/// A panicking initializer breaks its pool the same way.
async fn panicking_initializer_breaks_pools<R: Runtime + Default>() {
    check_always_broken::<R>(|| panic!("initializer exploded"), "initializer exploded").await;
}

/// The initializer fails only on pool 1 (read from the worker thread's
/// name): pool 1 is retired and never reused, good pools keep serving.
async fn broken_pool_is_retired_and_good_pools_serve<R: Runtime + Default>() {
    let m =
        started(builder::<R>().max_pools(3).workers_per_pool(2).name_prefix("cfinit").initializer(|| {
            let name = std::thread::current().name().map(str::to_owned).unwrap_or_default();
            if pool_of_thread(&name) == Some(1) { Err(format!("{name} is cursed")) } else { Ok(()) }
        }))
        .await;
    let mut broken = 0;
    let mut held = Vec::new();
    for round in 0..6 {
        let lease = within::<R, _>("acquire", m.acquire().timeout(EVENTUALLY)).await.unwrap();
        let job = lease.run(|| std::thread::current().name().map(str::to_owned));
        match within::<R, _>("the job ends", job).await {
            Ok(name) => {
                let name = name.expect("named worker");
                assert_eq!(pool_of_thread(&name), Some(lease.pool_id().get()), "{name}");
                assert_ne!(lease.pool_id().get(), 1, "pool 1 cannot run jobs");
                assert!(name.starts_with("cfinit-"));
            }
            Err(Error::Broken(msg)) => {
                assert_eq!(lease.pool_id().get(), 1, "round {round}: only pool 1 is broken");
                assert!(msg.contains("cursed"), "{msg}");
                broken += 1;
            }
            Err(other) => panic!("round {round}: {other:?}"),
        }
        if round == 0 || round == 2 {
            held.push(lease); // several pools leased at once (at most 2 of 3)
        }
    }
    assert!(broken <= 1, "the broken pool was leased {broken} times: it must be retired, not reused");
    for lease in &held {
        if lease.pool_id().get() != 1 {
            assert_eq!(lease.run(|| 1).await.unwrap(), 1);
        }
    }
    drop(held);
    m.stop().await;
}

/// `start` succeeds even when one of the pools it creates breaks at once
/// (its initializer fails while `start` is still running). The failure
/// races with `start`, so the test repeats it.
async fn start_survives_a_pool_breaking_during_start<R: Runtime + Default>() {
    for round in 0..100 {
        let m = builder::<R>()
            .max_pools(3)
            .units_per_pool(10)
            .size_provider(|| 25)
            .workers_per_pool(1)
            .name_prefix("cfstart")
            .initializer(|| {
                let name = std::thread::current().name().map(str::to_owned).unwrap_or_default();
                if pool_of_thread(&name) == Some(1) { Err("pool 1 fails") } else { Ok(()) }
            })
            .build()
            .unwrap();
        m.start().await.unwrap_or_else(|e| panic!("round {round}: start failed: {e}"));
        assert!(m.is_running());
        let lease = within::<R, _>("acquire", m.acquire().timeout(EVENTUALLY)).await.unwrap();
        let _ = within::<R, _>("a job ends", lease.run(|| ())).await;
        m.stop().await;
    }
}

/// `stop` cancels queued jobs with Cancelled and returns without waiting
/// for the running job, which then finishes normally.
async fn stop_cancels_queued_jobs_and_does_not_wait_for_running_ones<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let lease = m.acquire().await.unwrap();
    let gate = Gate::default();
    let running = lease.submit(gate.job("ran to the end")).unwrap();
    let q1 = lease.submit(|| 1).unwrap();
    let q2 = lease.submit(|| 2).unwrap();
    eventually::<R>("the first job runs", || gate.entered() == 1).await;

    within::<R, _>("stop returns while a job is still running", m.stop()).await;
    assert!(!m.is_running());
    assert!(matches!(within::<R, _>("q1 is cancelled", q1).await, Err(Error::Cancelled)));
    assert!(matches!(within::<R, _>("q2 is cancelled", q2).await, Err(Error::Cancelled)));
    assert!(!running.is_finished(), "the running job is not interrupted");
    assert!(matches!(lease.submit(|| ()), Err(Error::Stopped)));

    gate.open();
    assert_eq!(within::<R, _>("the running job finishes", running).await.unwrap(), "ran to the end");
}

/// Panics in user `Drop` code that leasepool runs: a result dropped on the
/// worker because its handle was dropped, and the captures of a queued job
/// that `stop` cancels.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("panicking drop");
    }
}

/// A job whose result's `Drop` panics after its handle was dropped fails
/// nothing else: the pool's only worker keeps serving the lease.
async fn a_result_whose_drop_panics_does_not_kill_the_worker<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let lease = m.acquire().await.unwrap();
    let gate = Gate::default();
    let g = gate.clone();
    drop(lease.submit(move || {
        g.wait();
        PanicOnDrop
    }));
    gate.open();
    let next = lease.submit(|| 5).unwrap();
    assert_eq!(within::<R, _>("the next job on the same worker", next).await.unwrap(), 5);
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0), "the pool is kept, idle");
    m.stop().await;
}

/// `stop` cancelling a queued job whose captures panic when dropped still
/// shuts every pool down and fails the job with Cancelled.
async fn stop_survives_a_cancelled_job_whose_captures_panic_on_drop<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).min_pools(2).workers_per_pool(1).name_prefix("cfdrop")).await;
    let lease = m.acquire().await.unwrap();
    let gate = Gate::default();
    let running = lease.submit(gate.job(1)).unwrap();
    let bomb = PanicOnDrop;
    let queued = lease.submit(move || {
        let _keep = &bomb;
        2
    });
    let queued = queued.unwrap();
    eventually::<R>("the first job runs", || gate.entered() == 1).await;
    within::<R, _>("stop returns", m.stop()).await;
    assert!(matches!(within::<R, _>("the queued job is cancelled", queued).await, Err(Error::Cancelled)));
    gate.open();
    assert_eq!(within::<R, _>("the running job ends", running).await.unwrap(), 1);
    every_worker_thread_exits::<R>("cfdrop-").await;
}

/// Waits until no thread of this process is named `prefix...` (Linux's
/// `/proc/self/task`; elsewhere there is nothing to read, and it returns).
async fn every_worker_thread_exits<R: Runtime + Default>(prefix: &str) {
    eventually::<R>("every worker thread exits", || {
        !std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks.filter_map(Result::ok).any(|t| {
                    std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
                })
            })
            .unwrap_or(false)
    })
    .await;
}

conformance! {
    a_result_whose_drop_panics_does_not_kill_the_worker,
    stop_survives_a_cancelled_job_whose_captures_panic_on_drop,
    job_panic_is_isolated,
    worker_threads_are_named,
    a_burst_after_back_to_back_jobs_runs_on_every_worker,
    initializer_runs_on_every_worker,
    failing_initializer_breaks_pools,
    panicking_initializer_breaks_pools,
    broken_pool_is_retired_and_good_pools_serve,
    start_survives_a_pool_breaking_during_start,
    stop_cancels_queued_jobs_and_does_not_wait_for_running_ones,
}
