//! Panics everywhere user code runs: jobs (`run`, `submit`, the grinder),
//! worker initializers, and the size provider. Each fails only what it
//! belongs to; the manager keeps serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use leasepool::driver::WorkGrinder;
use leasepool::{Error, Runtime, StopMode};
use rand::Rng;

use crate::common::*;
use crate::{INTENDED, named, os_threads, seeded, seeds};

/// Panicking jobs through `run`, `submit` and the grinder fail with
/// `Error::Panicked` (carrying the panic message) for their own caller
/// only; the other jobs return their values; the pool is the same one
/// afterwards, with every one of its workers alive.
async fn panicking_jobs_fail_only_their_caller<R: Runtime + Default>() {
    for seed in seeds(1) {
        let (mut rng, _guard) = seeded("panics::panicking_jobs_fail_only_their_caller", seed);
        let workers = 3;
        let m =
            started(builder::<R>().max_pools(2).min_pools(1).workers_per_pool(workers).name_prefix("fpanic"))
                .await;
        let lease = m.acquire().owner("panics").await.unwrap();
        let pool = lease.pool_id();

        let (mut run_panics, mut submit_panics, mut good) = (0, 0, 0);
        let mut submitted = Vec::new();
        for i in 0..60usize {
            let bad = rng.random_bool(0.5);
            let job = move || {
                if bad {
                    panic!("{INTENDED} #{i}#");
                }
                i * 2
            };
            if rng.random_bool(0.5) {
                check_job(i, bad, lease.run(job).await);
                if bad { run_panics += 1 } else { good += 1 }
            } else {
                submitted.push((i, bad, lease.submit(job).expect("the lease accepts jobs")));
            }
        }
        for (i, bad, handle) in submitted {
            check_job(i, bad, within::<R, _>("a submitted job ends", handle).await);
            if bad { submit_panics += 1 } else { good += 1 }
        }
        assert_eq!(lease.pool_id(), pool);
        every_worker_answers(&lease, workers).await;
        drop(lease);

        // The grinder's batches lease the same pool (the only one).
        let grinder = WorkGrinder::builder(&m)
            .batch_size_threshold(rng.random_range(2..=10))
            .max_wait(Duration::from_millis(5))
            .owner_prefix("fpanic-grinder")
            .build()
            .unwrap();
        grinder.start().await.expect("start the grinder");
        let mut items = Vec::new();
        for i in 0..60usize {
            let bad = rng.random_bool(0.5);
            let handle = grinder
                .enqueue(move || {
                    if bad {
                        panic!("{INTENDED} #{i}#");
                    }
                    i * 2
                })
                .expect("the grinder is running");
            items.push((i, bad, handle));
        }
        let mut grinder_panics = 0;
        for (i, bad, handle) in items {
            check_job(i, bad, within::<R, _>("a grinder item ends", handle).await);
            if bad { grinder_panics += 1 } else { good += 1 }
        }
        grinder.stop(StopMode::Drain).await;
        assert!(grinder.stats().counters.batches_run >= 1);

        let lease = m.try_acquire().await.expect("the pool is free again");
        assert_eq!(lease.pool_id(), pool, "the same pool kept serving");
        assert_eq!(m.total_count(), 1, "no pool was replaced");
        let names = every_worker_answers(&lease, workers).await;
        // (Eventually: the workers of an earlier run of this test, on
        // another runtime, may still be exiting.)
        eventually::<R>("the pool's worker count is unchanged: as many `fpanic-` threads as workers", || {
            os_threads().is_none_or(|threads| named(&threads, "fpanic") == workers)
        })
        .await;
        println!(
            "panics seed {seed}: {run_panics} panics through run, {submit_panics} through submit, \
             {grinder_panics} through the grinder ({} batches), {good} good jobs; pool {pool} kept its {workers} workers {names:?}",
            grinder.stats().counters.batches_run
        );
        drop(lease);
        m.stop().await;
    }
}

fn check_job(i: usize, bad: bool, result: Result<usize, Error>) {
    match result {
        Ok(v) if !bad => assert_eq!(v, i * 2),
        Err(Error::Panicked(msg)) if bad => {
            assert!(msg.contains(&format!("{INTENDED} #{i}#")), "job {i}: {msg}")
        }
        other => panic!("job {i} (panics: {bad}) returned {other:?}"),
    }
}

/// An initializer that panics or fails on every odd-numbered pool: those
/// pools are retired and replaced; from several tasks, acquire + run keeps
/// succeeding on good pools within a few retries, each failure is
/// `Error::Broken`, nothing hangs, and afterwards only good pools remain
/// (and only their threads).
async fn failing_initializers_retire_their_pools<R: Runtime + Default>() {
    for seed in seeds(1) {
        let (mut rng, _guard) = seeded("panics::failing_initializers_retire_their_pools", seed);
        let salt: u64 = rng.random();
        let workers = 2;
        let init_failures = Arc::new(AtomicUsize::new(0));
        let failures = Arc::clone(&init_failures);
        let m = started(
            builder::<R>()
                .max_pools(4)
                .min_pools(2)
                .workers_per_pool(workers)
                .check_interval(Duration::from_millis(10))
                // Surplus pools age out quickly: the test waits for the
                // desired count.
                .idle_timeout(Duration::from_millis(10))
                .name_prefix("finit")
                .initializer(move || {
                    let name = std::thread::current().name().map(str::to_owned).unwrap_or_default();
                    let pool = pool_of_thread(&name).expect("worker thread names carry the pool");
                    if pool % 2 == 0 {
                        return Ok(());
                    }
                    failures.fetch_add(1, Ordering::SeqCst);
                    // Seeded choice per pool: panic or return an error.
                    if (pool.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt) & 1 == 0 {
                        panic!("{INTENDED}: initializer panics on pool {pool}");
                    }
                    Err(format!("{INTENDED}: initializer fails on pool {pool}"))
                }),
        )
        .await;

        const TASKS: usize = 4;
        const ROUNDS: usize = 25;
        const ATTEMPTS: usize = 50;
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let m = m.clone();
                spawn::<R, _>(async move {
                    let mut broken = 0;
                    for round in 0..ROUNDS {
                        let mut attempt = 0;
                        loop {
                            attempt += 1;
                            assert!(
                                attempt <= ATTEMPTS,
                                "round {round}: no good pool in {ATTEMPTS} attempts"
                            );
                            let lease = m
                                .acquire()
                                .timeout(Duration::from_secs(5))
                                .await
                                .unwrap_or_else(|e| panic!("acquire must keep succeeding: {e}"));
                            let pool = lease.pool_id().get();
                            match lease
                                .run(|| std::thread::current().name().unwrap_or_default().to_owned())
                                .await
                            {
                                Ok(thread) => {
                                    assert_eq!(pool % 2, 0, "a job ran on odd pool {pool} ({thread})");
                                    assert_eq!(pool_of_thread(&thread), Some(pool));
                                    break;
                                }
                                Err(Error::Broken(msg)) => {
                                    assert_eq!(pool % 2, 1, "even pool {pool} reported broken: {msg}");
                                    assert!(msg.contains("initializer"), "{msg}");
                                    broken += 1;
                                }
                                Err(e) => panic!("run on pool {pool}: unexpected {e:?}"),
                            }
                        }
                    }
                    broken
                })
            })
            .collect();
        let broken: usize = join_all::<R, _>(Duration::from_secs(20), "the acquiring tasks end", tasks)
            .await
            .into_iter()
            .sum();

        eventually::<R>("only good pools remain, back at the desired count", || {
            let s = m.stats();
            is_quiescent(&s)
                && os_threads().is_none_or(|threads| {
                    let odd = threads
                        .iter()
                        .filter(|t| t.starts_with("finit-") && pool_of_thread(t).is_some_and(|p| p % 2 == 1))
                        .count();
                    odd == 0 && named(&threads, "finit") == s.total * workers
                })
        })
        .await;
        let lease = m.acquire().timeout(Duration::from_secs(5)).await.expect("still serving");
        assert_eq!(lease.pool_id().get() % 2, 0, "only good pools are left");
        assert_eq!(lease.run(|| 7).await.expect("a good pool runs jobs"), 7);
        println!(
            "initializers seed {seed}: {} successful rounds from {TASKS} tasks, {broken} runs hit a broken pool, \
             {} initializer failures; {} pools at the end (desired {})",
            TASKS * ROUNDS,
            init_failures.load(Ordering::SeqCst),
            m.total_count(),
            m.desired_executor_count()
        );
        drop(lease);
        m.stop().await;
    }
}

/// A size provider that panics keeps the last unit count (start succeeds at
/// the minimum, with no good read yet; every later check keeps the pools it
/// had), the checker keeps running through the panics (they keep coming
/// without any notification), and once the provider works again a
/// notification still scales the pools.
async fn panicking_size_provider_keeps_the_last_value<R: Runtime + Default>() {
    for seed in seeds(1) {
        let (mut rng, _guard) = seeded("panics::panicking_size_provider_keeps_the_last_value", seed);
        let (units, read_units) = units();
        let failing = Arc::new(AtomicBool::new(true));
        let panics = Arc::new(AtomicUsize::new(0));
        let (f, p) = (Arc::clone(&failing), Arc::clone(&panics));
        let m = started(
            builder::<R>()
                .max_pools(5)
                .min_pools(1)
                .units_per_pool(10)
                .check_interval(Duration::from_millis(5))
                .workers_per_pool(1)
                .name_prefix("fprov")
                .size_provider(move || {
                    if f.load(Ordering::SeqCst) {
                        p.fetch_add(1, Ordering::SeqCst);
                        panic!("{INTENDED}: size provider");
                    }
                    read_units()
                }),
        )
        .await;
        assert!(panics.load(Ordering::SeqCst) >= 1, "start read the provider");
        assert_eq!(m.total_count(), 1, "a panicking provider at a first start: no good value yet, 0 units");
        assert_eq!(m.desired_executor_count(), 1);
        let s = m.stats();
        assert_eq!((s.units, s.desired_executor_count), (0, 1));

        let rounds = 6;
        for _ in 0..rounds {
            // A working value: the pools follow it.
            let target = rng.random_range(2..=5usize);
            units.store(rng.random_range((target - 1) * 10 + 1..=target * 10), Ordering::SeqCst);
            failing.store(false, Ordering::SeqCst);
            m.notify_scale_changed();
            eventually::<R>("pools follow a working provider", || m.total_count() == target).await;

            // Panicking: the last value is kept, and the checker keeps
            // running (panics keep coming without notifications).
            failing.store(true, Ordering::SeqCst);
            m.notify_scale_changed();
            let seen = panics.load(Ordering::SeqCst);
            eventually::<R>("the checker keeps running", || panics.load(Ordering::SeqCst) >= seen + 3).await;
            assert_eq!(m.total_count(), target, "a panicking provider keeps the last value");
            let lease =
                m.acquire().timeout(Duration::from_secs(5)).await.expect("acquire while the provider panics");
            assert_eq!(lease.run(|| 3).await.expect("job"), 3);
            drop(lease);
        }
        failing.store(false, Ordering::SeqCst);
        units.store(45, Ordering::SeqCst);
        m.notify_scale_changed();
        eventually::<R>("a later working value still scales", || m.total_count() == 5).await;
        println!(
            "size provider seed {seed}: {rounds} rounds, {} provider panics caught, checker alive (scaled to 5)",
            panics.load(Ordering::SeqCst)
        );
        m.stop().await;
    }
}

faults! {
    panicking_jobs_fail_only_their_caller,
    failing_initializers_retire_their_pools,
    panicking_size_provider_keeps_the_last_value,
}
