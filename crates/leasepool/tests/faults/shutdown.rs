//! Graceful shutdown under load: with every worker busy past the deadline,
//! jobs queued behind them and a thousand acquires waiting, `shutdown`
//! answers every caller (waiters `Stopped`, jobs their value or
//! `Cancelled`), returns at its deadline without waiting for the running
//! jobs, and once they end every worker thread is gone.

use std::sync::atomic::Ordering;
use std::time::Duration;

use leasepool::{Error, Runtime};
use rand::Rng;

use crate::common::*;
use crate::{
    Blocked, block_every_worker, every_pool_leased, os_threads, seeded, seeds, thread_baseline, threads_back,
};

const POOLS: usize = 4;
const WORKERS: usize = 25;
const QUEUED_PER_POOL: usize = 10;
const WAITERS: usize = 1_000;
const DEADLINE: Duration = Duration::from_millis(200);

/// 4 pools x 25 workers, each running a job blocked on a gate that opens
/// only after the shutdown returns (100 leases' worth of work outlasting the
/// deadline), 40 jobs queued behind them (some leases released, draining),
/// and 1,000 acquires waiting as tasks. `shutdown(200 ms)`:
/// * fails every waiter with `Stopped` and every later acquire too;
/// * returns at the deadline (not before, not long after) having cut the 4
///   leases, while the 100 jobs are still blocked;
/// * the queued jobs are cancelled, the running ones finish with their
///   values once the gate opens, and the OS thread count returns to the
///   baseline.
async fn shutdown_under_load<R: Runtime + Default>() {
    for seed in seeds(1) {
        let (mut rng, _guard) = seeded("shutdown::shutdown_under_load", seed);
        let before = thread_baseline::<R>("shutdown::shutdown_under_load").await;
        let (m, mut leases) = every_pool_leased::<R>(POOLS, WORKERS, "fshut").await;
        let Blocked { gate, finished, running, queued_jobs } =
            block_every_worker(&leases, WORKERS, QUEUED_PER_POOL).await;
        // Some holders release (their leases drain), the rest hold on.
        let released = rng.random_range(0..=POOLS);
        for lease in leases.drain(..released) {
            lease.release();
        }

        let tasks: Vec<_> = (0..WAITERS)
            .map(|i| {
                let acquire = m.acquire().owner(format!("task-{i}"));
                let acquire = if i % 2 == 0 { acquire.timeout(Duration::from_secs(60)) } else { acquire };
                spawn::<R, _>(async move { acquire.await.map(|lease| lease.id()) })
            })
            .collect();
        eventually::<R>("1,000 acquires wait", || m.waiting_count() == WAITERS).await;
        let during = os_threads().map(|t| t.len());

        let report = within::<R, _>("the shutdown returns", m.shutdown(DEADLINE)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 0, "the shutdown returned while every job is blocked");
        assert!(report.was_running);
        assert_eq!(report.waiters_failed, WAITERS, "{report:?}");
        assert_eq!((report.leases_at_start, report.leases_cut), (POOLS, POOLS), "{report:?}");
        assert!(report.elapsed >= DEADLINE, "waited for its deadline: {report:?}");
        assert!(!m.is_running());
        assert_eq!(counts(&m), (0, 0, 0, 0));

        let results = join_all::<R, _>(Duration::from_secs(5), "every waiting task fails", tasks).await;
        assert!(results.iter().all(|r| matches!(r, Err(Error::Stopped))), "every waiter gets Stopped");
        assert!(matches!(m.acquire().await, Err(Error::Stopped)));
        assert!(matches!(m.try_acquire().await, Err(Error::Stopped)));
        for lease in &leases {
            assert!(lease.submit(|| 0).is_err(), "a cut lease refuses work");
        }

        let mut cancelled = 0;
        for handle in queued_jobs {
            match within::<R, _>("a queued job resolves", handle).await {
                Err(Error::Cancelled) => cancelled += 1,
                other => panic!("a job queued behind blocked ones: {other:?}"),
            }
        }
        gate.open();
        let mut completed = 0;
        for (i, handle) in running.into_iter().enumerate() {
            let v = within::<R, _>("a running job finishes", handle).await.expect("running jobs finish");
            assert_eq!(v, i % WORKERS);
            completed += 1;
        }
        drop(leases);
        drop(m);
        let (before_n, after) = match before {
            Some(before) => (before.len().to_string(), threads_back::<R>(&before, "fshut").await.to_string()),
            None => ("?".into(), "? (threads not counted)".into()),
        };
        println!(
            "shutdown under load seed {seed}: deadline {DEADLINE:?}, returned in {:?}; {} waiters failed \
             Stopped; leases {} at start, {} released before the deadline ({released} by their holders, \
             draining), {} cut; jobs {completed} completed / {cancelled} cancelled; OS threads {before_n} \
             before, {} during, {after} after",
            report.elapsed,
            report.waiters_failed,
            report.leases_at_start,
            report.leases_released,
            report.leases_cut,
            during.map_or("?".into(), |n| n.to_string()),
        );
    }
}

faults! {
    shutdown_under_load,
}
