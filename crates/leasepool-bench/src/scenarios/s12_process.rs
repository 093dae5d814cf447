//! S12: the process backend. Tiny jobs through one process pool of 2
//! worker processes (a held lease, 64 jobs in flight), in jobs/s, against
//! `procspawn`'s `Pool` of 2 processes (64 spawned, then joined) and the
//! Python original's process backend (`ProcessPoolExecutor` pools, 64
//! `lease.run` in flight); targets: at least procspawn's throughput and 20x
//! the Python one. And the time from a lease's hard expiry (its endless job
//! killed) to a replacement pool serving a job, in ms.
//!
//! The worker processes are this binary, re-executed: `main` calls
//! [`init`] first, which serves leasepool's and procspawn's workers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use leasepool::process::{self, Jobs, ProcessConfig, ProcessJob, ProcessLogging};

use super::{TokioRt, med};
use crate::execs::{Exec, Tokio};
use crate::harness::{Better, Budget, Impl, Watchdog, interleave};
use crate::python::Python;
use crate::report::{Comparison, Group, Report, Target};

/// Jobs in flight in the throughput runs.
const WINDOW: usize = 64;
/// Worker processes per pool (the machine's 2 cores).
const WORKERS: usize = 2;

const S12_LP: &str = "leasepool process pool, held lease";
const S12_PS: &str = "procspawn Pool";
const S12_PY: &str = "Python leasepool 0.1.3 (process backend)";
const S12_REPLACE: &str = "leasepool hard expiry to replacement serving";

/// One tiny job (procspawn's peer runs the same `Inc::run`).
struct Inc;
impl ProcessJob for Inc {
    const NAME: &'static str = "inc";
    type Input = u64;
    type Output = u64;
    fn run(x: u64) -> u64 {
        black_box(x) + 1
    }
}

/// A job that never returns (revoked and killed).
struct Spin;
impl ProcessJob for Spin {
    const NAME: &'static str = "spin";
    type Input = ();
    type Output = ();
    fn run((): ()) {
        let mut x = 0u64;
        loop {
            x = black_box(x.wrapping_add(1));
        }
    }
}

/// Serves as a worker process (leasepool's or procspawn's) if this process
/// was started as one; returns at once otherwise. First thing in `main`.
pub(crate) fn init() {
    process::init(Jobs::new().register::<Inc>().register::<Spin>());
    procspawn::init();
}

fn config() -> ProcessConfig {
    ProcessConfig::new()
        .kill_grace(Duration::from_millis(100))
        .logging(ProcessLogging { enabled: false, ..ProcessLogging::default() })
}

fn s12_leasepool(b: &Budget) -> f64 {
    let rt = Tokio::new();
    rt.block_on(async {
        let m = leasepool::driver::Builder::<TokioRt>::with_runtime(TokioRt::default())
            .max_pools(1)
            .workers_per_pool(WORKERS)
            .build_process(config())
            .expect("valid process config");
        m.start().await.expect("start");
        let lease = m.acquire().await.expect("acquire");
        // Warm: the worker processes are up before the clock starts.
        for i in 0..WINDOW as u64 {
            lease.run::<Inc>(i).await.expect("warm-up job");
        }
        let t0 = Instant::now();
        let mut jobs = 0u64;
        while t0.elapsed() < b.run {
            let handles: Vec<_> =
                (0..WINDOW as u64).map(|i| lease.submit::<Inc>(i).expect("submit")).collect();
            for h in handles {
                black_box(h.await.expect("job"));
            }
            jobs += WINDOW as u64;
        }
        let v = jobs as f64 / t0.elapsed().as_secs_f64();
        drop(lease);
        m.stop().await;
        v
    })
}

fn s12_procspawn(b: &Budget) -> Result<f64, String> {
    let pool = procspawn::Pool::new(WORKERS).map_err(|e| e.to_string())?;
    let run = |n: u64| -> Result<(), String> {
        let handles: Vec<_> = (0..n).map(|i| pool.spawn(i, Inc::run)).collect();
        for h in handles {
            black_box(h.join().map_err(|e| e.to_string())?);
        }
        Ok(())
    };
    run(WINDOW as u64)?;
    let t0 = Instant::now();
    let mut jobs = 0u64;
    while t0.elapsed() < b.run {
        run(WINDOW as u64)?;
        jobs += WINDOW as u64;
    }
    let v = jobs as f64 / t0.elapsed().as_secs_f64();
    pool.shutdown();
    Ok(v)
}

/// Milliseconds from a lease's hard expiry, with an endless job on it, to
/// a job done on the replacement pool.
fn s12_replacement() -> f64 {
    let rt = Tokio::new();
    rt.block_on(async {
        let m = leasepool::driver::Builder::<TokioRt>::with_runtime(TokioRt::default())
            .max_pools(1)
            .workers_per_pool(WORKERS)
            .lease_grace(Duration::ZERO)
            .build_process(config())
            .expect("valid process config");
        m.start().await.expect("start");
        let lease = m.acquire().lease_for(Duration::from_millis(100)).await.expect("acquire");
        lease.run::<Inc>(1).await.expect("warm-up job");
        let hard = lease.hard_expires_at();
        let err = lease.run::<Spin>(()).await.expect_err("revoked");
        assert!(matches!(err, leasepool::Error::LeaseExpired), "{err:?}");
        drop(lease);
        let lease = m.acquire().await.expect("acquire the replacement");
        lease.run::<Inc>(2).await.expect("a job on the replacement");
        let ms = hard.elapsed().as_secs_f64() * 1e3;
        drop(lease);
        m.stop().await;
        ms
    })
}

pub(crate) fn s12(b: &Budget, dog: &Watchdog, reps: usize, py: &Python, report: &mut Report) {
    let seconds = b.run.as_secs_f64();
    let window = WINDOW.to_string();
    let impls = vec![
        Impl::new(S12_LP, || s12_leasepool(b)),
        Impl::fallible(S12_PS, || s12_procspawn(b)),
        Impl::fallible(S12_PY, || py.run("s12", seconds, &[("--window", &window)])),
    ];
    let samples = interleave("S12", reps, impls, dog);
    let lp = med(&samples, S12_LP);
    report.targets.push(Target::ratio_at_least(
        "S12 process pool",
        ">= procspawn's Pool",
        lp / med(&samples, S12_PS),
        1.0,
    ));
    if py.available() {
        report.targets.push(Target::ratio_at_least(
            "S12 process pool",
            ">= 20x the Python process backend",
            lp / med(&samples, S12_PY),
            20.0,
        ));
    }
    report.groups.push(Group {
        id: "S12",
        title: format!("tiny jobs through a pool of {WORKERS} worker processes, {WINDOW} in flight"),
        unit: "jobs/s",
        better: Better::Higher,
        samples,
        notes: vec![
            "each job is a round trip to a worker process (postcard frames over a Unix socket for leasepool, \
             ipc-channel for procspawn, pickling through ProcessPoolExecutor for Python); workers are started \
             and warmed before the clock starts"
                .into(),
        ],
        comparisons: vec![Comparison::new("S12 process pool", S12_LP, &[S12_PS.to_owned(), S12_PY.to_owned()])],
        chart: true,
        runs: None,
    });

    let samples = interleave("S12 replacement", reps, vec![Impl::new(S12_REPLACE, s12_replacement)], dog);
    report.groups.push(Group {
        id: "S12r",
        title: "hard expiry of a lease with an endless job to a job done on the replacement pool".into(),
        unit: "ms",
        better: Better::Lower,
        samples,
        notes: vec![
            "100 ms lease, no grace, kill_grace 100 ms: the revoked pool's worker processes get SIGTERM (then \
             SIGKILL) and are reaped, the core asks for a replacement at once, whose 2 worker processes start \
             (exec, connect, hello) before the waiting acquire gets it"
                .into(),
        ],
        comparisons: vec![],
        chart: false,
        runs: None,
    });
}
