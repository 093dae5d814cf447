//! Stopping under load: with every worker busy, jobs queued, a thousand
//! acquires waiting and grinders holding work, `stop` returns without
//! waiting for the running jobs, fails or cancels everything else, and once
//! the running jobs end every worker thread is gone. Then 100 start/stop
//! cycles with work in flight leak nothing, and dropping every handle
//! drains, then shuts down.

use std::future::IntoFuture;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use leasepool::driver::{Acquiring, WorkGrinder};
use leasepool::{Error, Runtime, StopMode};
use rand::Rng;

use crate::common::*;
use crate::{
    Blocked, block_every_worker, every_pool_leased, os_threads, seeded, seeds, thread_baseline, threads_back,
};

const POOLS: usize = 4;
const WORKERS: usize = 25;
const QUEUED_PER_POOL: usize = 10;
const WAITERS: usize = 1_000;
/// Items per grinder batch (the threshold), and items pending behind the
/// blocked batch in each of the two grinders.
const BATCH: usize = 10;
const PENDING: [usize; 2] = [15, 5];

/// 4 pools x 25 workers all blocked on a gate (100 running jobs), 40 jobs
/// queued behind them, 1,000 waiting acquires (some as spawned tasks, some
/// as futures polled once), and two grinders, each with a batch blocked
/// waiting for a lease and items pending behind it. One grinder is stopped
/// with `CancelPending` first, then the manager is stopped:
/// * `stop` returns while the 100 jobs are still blocked;
/// * every waiter fails with `Stopped`, every queued job with
///   `Cancelled`; the running grinder's blocked batch fails with
///   `Stopped`, its pending items are cancelled by its own stop; the
///   stopped grinder's items are all `Cancelled`;
/// * the cut-off leases refuse work, later acquires fail with `Stopped`;
/// * once the gate opens the running jobs finish with their values, and
///   every worker thread exits (the OS thread count is back to where it
///   was before the manager was built).
async fn stop_under_load<R: Runtime + Default>() {
    for seed in seeds(1) {
        let (mut rng, _guard) = seeded("stop::stop_under_load", seed);
        let before = thread_baseline::<R>("stop::stop_under_load").await;
        let (m, leases) = every_pool_leased::<R>(POOLS, WORKERS, "fstop").await;
        assert!(matches!(m.try_acquire().await, Err(Error::Unavailable)));

        let Blocked { gate, finished, running, queued_jobs } =
            block_every_worker(&leases, WORKERS, QUEUED_PER_POOL).await;
        let peak = os_threads().map(|t| t.len());

        // Two grinders, each with a batch blocked waiting for a lease and
        // items pending behind it (one batch at a time).
        let mut grinders = Vec::new();
        for (g, pending) in [("fstop-g1", PENDING[0]), ("fstop-g2", PENDING[1])] {
            let grinder = WorkGrinder::builder(&m)
                .batch_size_threshold(BATCH)
                .max_wait(Duration::from_secs(60))
                .owner_prefix(g)
                .build()
                .unwrap();
            grinder.start().await.expect("start the grinder");
            let waiting = m.waiting_count();
            let batch: Vec<_> = (0..BATCH).map(|i| grinder.enqueue(move || i).unwrap()).collect();
            eventually::<R>("the grinder's batch waits for a lease", || m.waiting_count() == waiting + 1)
                .await;
            let later: Vec<_> = (0..pending).map(|i| grinder.enqueue(move || i).unwrap()).collect();
            let s = grinder.stats();
            assert_eq!((s.pending, s.running_batches), (pending, 1), "{s:?}");
            grinders.push((grinder, batch, later));
        }

        // 1,000 waiting acquires: some futures polled once, some tasks.
        let polled_n = rng.random_range(300..=700);
        let mut polled: Vec<Acquiring<R>> = Vec::with_capacity(polled_n);
        for i in 0..polled_n {
            let mut acquire = m.acquire().owner(format!("polled-{i}"));
            if rng.random_bool(0.5) {
                acquire = acquire.timeout(Duration::from_secs(60));
            }
            polled.push(queued(&m, acquire).await);
        }
        let tasks: Vec<_> = (polled_n..WAITERS)
            .map(|i| {
                let acquire = m.acquire().owner(format!("task-{i}"));
                let acquire = if i % 2 == 0 { acquire.timeout(Duration::from_secs(60)) } else { acquire };
                spawn::<R, _>(async move { acquire.await.map(|lease| lease.id()) })
            })
            .collect();
        eventually::<R>("1,000 acquires wait (+2 grinder batches)", || m.waiting_count() == WAITERS + 2)
            .await;

        // Grinder 1: cancel everything, its blocked batch included.
        let (g1, g1_batch, g1_later) = grinders.remove(0);
        g1.stop(StopMode::CancelPending).await;
        for handle in g1_batch.into_iter().chain(g1_later) {
            assert!(matches!(
                within::<R, _>("a cancelled grinder item", handle).await,
                Err(Error::Cancelled)
            ));
        }
        eventually::<R>("the cancelled batch withdrew its acquire", || m.waiting_count() == WAITERS + 1)
            .await;

        let stop_started = Instant::now();
        m.stop().await;
        let stop_took = stop_started.elapsed();
        assert_eq!(
            finished.load(Ordering::SeqCst),
            0,
            "stop returned while every running job is still blocked"
        );
        assert!(!m.is_running());
        assert_eq!(counts(&m), (0, 0, 0, 0));

        for handle in queued_jobs {
            assert!(handle.is_finished(), "stop cancelled the queued jobs before returning");
            assert!(matches!(handle.await, Err(Error::Cancelled)));
        }
        for fut in polled {
            assert!(matches!(within::<R, _>("a polled waiter fails", fut).await, Err(Error::Stopped)));
        }
        let results = join_all::<R, _>(Duration::from_secs(5), "every waiting task fails", tasks).await;
        assert!(results.iter().all(|r| matches!(r, Err(Error::Stopped))), "every waiter gets Stopped");

        let (g2, g2_batch, g2_later) = grinders.remove(0);
        for handle in g2_batch {
            let result = within::<R, _>("the blocked batch fails", handle).await;
            assert!(matches!(result, Err(Error::Stopped)), "{result:?}");
        }
        assert_eq!(g2.stats().pending, g2_later.len(), "items behind the batch stay queued in the grinder");
        g2.stop(StopMode::CancelPending).await;
        for handle in g2_later {
            assert!(matches!(
                within::<R, _>("a cancelled grinder item", handle).await,
                Err(Error::Cancelled)
            ));
        }

        for lease in &leases {
            assert!(matches!(lease.submit(|| ()), Err(Error::Stopped)), "a cut-off lease refuses work");
        }
        assert!(matches!(m.acquire().await, Err(Error::Stopped)));
        assert!(matches!(m.try_acquire().await, Err(Error::Stopped)));
        assert_eq!(m.waiting_count(), 0);
        assert_eq!(finished.load(Ordering::SeqCst), 0, "the running jobs were blocked throughout");

        gate.open();
        for (i, handle) in running.into_iter().enumerate() {
            assert_eq!(
                within::<R, _>("a running job finishes", handle).await.expect("running jobs finish"),
                i % WORKERS
            );
        }
        drop(leases);
        drop((g1, g2, m));
        match before {
            Some(before) => {
                let after = threads_back::<R>(&before, "fstop").await;
                println!(
                    "stop under load seed {seed}: stop returned in {stop_took:?} with {} jobs running; \
                     {WAITERS} waiters ({polled_n} polled futures, {} tasks) failed Stopped, \
                     {} queued jobs cancelled; grinder items: {} cancelled by CancelPending, {BATCH} failed \
                     Stopped with their blocked batch, {} cancelled; OS threads {} before, {} with the pools, \
                     {after} after",
                    POOLS * WORKERS,
                    WAITERS - polled_n,
                    POOLS * QUEUED_PER_POOL,
                    BATCH + PENDING[0],
                    PENDING[1],
                    before.len(),
                    peak.unwrap_or_default(),
                )
            }
            None => {
                println!("stop under load seed {seed}: stop returned in {stop_took:?} (threads not counted)")
            }
        }
    }
}

/// 100 start/stop cycles of one manager with leases, running and queued
/// jobs and waiters in flight at each stop: after every stop nothing is
/// counted or waiting, every waiter failed with `Stopped`, every job
/// handle resolved (ran or cancelled), cut-off leases refuse work; after
/// the last, every worker thread has exited.
async fn start_stop_cycles_leak_nothing<R: Runtime + Default>() {
    for seed in seeds(1) {
        let (mut rng, _guard) = seeded("stop::start_stop_cycles_leak_nothing", seed);
        let before = thread_baseline::<R>("stop::start_stop_cycles_leak_nothing").await;
        let m = builder::<R>()
            .max_pools(3)
            .min_pools(1)
            .workers_per_pool(2)
            .check_interval(Duration::from_millis(rng.random_range(1..=20)))
            .name_prefix("fcycle")
            .build()
            .unwrap();
        const CYCLES: usize = 100;
        let (mut leased, mut waiters, mut granted_at_stop, mut ran, mut cancelled) = (0, 0, 0, 0, 0);
        for cycle in 0..CYCLES {
            m.start().await.unwrap_or_else(|e| panic!("cycle {cycle}: start: {e}"));
            let mut leases = Vec::new();
            for _ in 0..rng.random_range(0..=3) {
                leases.push(m.try_acquire().await.expect("a pool below max_pools"));
            }
            leased += leases.len();
            let mut jobs = Vec::new();
            for lease in &leases {
                for _ in 0..rng.random_range(0..=3) {
                    let (nap, x) = (rng.random_range(0..=2), rng.random::<u32>());
                    let job = move || {
                        std::thread::sleep(Duration::from_millis(nap));
                        x
                    };
                    jobs.push((x, lease.submit(job).unwrap()));
                }
            }
            let mut polled = Vec::new();
            let mut tasks = Vec::new();
            let handoffs_before = granted_at_stop;
            if leases.len() == 3 {
                for _ in 0..rng.random_range(0..=3) {
                    polled.push(queued(&m, m.acquire()).await);
                }
                for _ in 0..rng.random_range(0..=2) {
                    let acquire = m.acquire().into_future();
                    tasks.push(spawn::<R, _>(async move { acquire.await.map(|lease| lease.id()) }));
                }
                // Sometimes a pool is handed to the first waiter just
                // before the stop, which it has not polled yet.
                if !polled.is_empty() && rng.random_bool(0.3) {
                    if rng.random_bool(0.5) {
                        sleep::<R>(Duration::from_millis(rng.random_range(0..=3))).await;
                    }
                    leases.remove(0).release();
                    granted_at_stop += 1;
                }
            }
            if handoffs_before == granted_at_stop && rng.random_bool(0.5) {
                // Let some jobs start (and waiting tasks queue) first.
                sleep::<R>(Duration::from_millis(rng.random_range(0..=3))).await;
            }
            m.stop().await;
            assert_eq!(counts(&m), (0, 0, 0, 0), "cycle {cycle}");
            for lease in &leases {
                assert!(matches!(lease.submit(|| 0), Err(Error::Stopped)), "cycle {cycle}: a cut-off lease");
            }
            drop(leases);
            for fut in polled {
                let result = within::<R, _>("a waiter fails at stop", fut).await;
                assert!(
                    matches!(result, Err(Error::Stopped)),
                    "cycle {cycle}: a waiter at stop got {result:?}"
                );
                waiters += 1;
            }
            for result in join_all::<R, _>(Duration::from_secs(5), "waiting tasks fail at stop", tasks).await
            {
                assert!(
                    matches!(result, Err(Error::Stopped)),
                    "cycle {cycle}: a waiting task got {result:?}"
                );
                waiters += 1;
            }
            for (x, handle) in jobs {
                match within::<R, _>("a job handle resolves", handle).await {
                    Ok(v) => {
                        assert_eq!(v, x);
                        ran += 1;
                    }
                    Err(Error::Cancelled) => cancelled += 1,
                    Err(e) => panic!("cycle {cycle}: job: {e:?}"),
                }
            }
            assert_eq!(m.waiting_count(), 0, "cycle {cycle}: no waiter left");
        }
        drop(m);
        match before {
            Some(before) => {
                let after = threads_back::<R>(&before, "fcycle").await;
                println!(
                    "start/stop seed {seed}: {CYCLES} cycles, {leased} leases cut off, {waiters} waiters failed \
                     ({granted_at_stop} stops right after a hand-off), jobs {ran} ran / {cancelled} cancelled; \
                     OS threads {} before, {after} after",
                    before.len()
                );
            }
            None => println!("start/stop seed {seed}: {CYCLES} cycles (threads not counted)"),
        }
    }
}

/// Dropping every handle without `stop` shuts the pools down, as the
/// manager's docs say, but a released lease still drains first: a job
/// queued behind a running one runs and returns its result (nothing is
/// cancelled), and only then does every worker thread exit.
async fn dropping_every_handle_drains_then_shuts_down<R: Runtime + Default>() {
    let before = thread_baseline::<R>("stop::dropping_every_handle_drains_then_shuts_down").await;
    let m = started(builder::<R>().max_pools(1).min_pools(1).workers_per_pool(1).name_prefix("fdrop")).await;
    let gate = Gate::default();
    let lease = m.acquire().await.expect("acquire");
    let running = lease.submit(gate.job(1)).expect("submit the blocking job");
    let queued = lease.submit(|| 2).expect("submit the queued job");
    eventually::<R>("the first job runs", || gate.entered() == 1).await;
    drop(lease);
    drop(m);
    gate.open();
    assert_eq!(within::<R, _>("the running job ends", running).await.expect("running job"), 1);
    assert_eq!(within::<R, _>("the queued job runs", queued).await.expect("queued job"), 2);
    if let Some(before) = before {
        let after = threads_back::<R>(&before, "fdrop").await;
        println!("dropped handles: both jobs ran; OS threads {} before, {after} after", before.len());
    }
}

faults! {
    stop_under_load,
    start_stop_cycles_leak_nothing,
    dropping_every_handle_drains_then_shuts_down,
}
