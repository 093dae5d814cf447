//! S3: many tiny jobs through leases held for many jobs, in jobs/s: 4 tasks
//! each hold one lease and pipeline their jobs through it. Acquisition is
//! amortised away, so this measures the submit path of a held lease,
//! against a raw channel floor (target: at least half of it),
//! `spawn_blocking` and a held deadpool executor.

use std::collections::VecDeque;
use std::future::{Future, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use leasepool_bench::{LitePool, deadpool_executors, manager};

use super::{TokioRt, med, tiny};
use crate::execs::{Exec, Tokio};
use crate::harness::{Better, Budget, Impl, Watchdog, interleave};
use crate::report::{Comparison, Group, Report, Target};

/// Jobs each S3 lease holder keeps in flight.
const S3_WINDOW: usize = 256;

const S3_LP: &str = "leasepool 4 held leases, submit pipelined";
const S3_RAW: &str = "raw floor (8 threads + oneshot)";
const S3_SB: &str = "tokio spawn_blocking, pipelined";
const S3_DP: &str = "deadpool emulated lease, 4 held";

/// Runs 4 producer tasks, each getting its `submit(i)` from `setup()`
/// (awaited in the task: S3's lease holders acquire there) and pushing
/// `jobs` jobs with `S3_WINDOW` in flight through it; returns jobs/s, the
/// setup included.
async fn pipelined<E, Setup, S, Fut, T>(exec: &E, jobs: usize, setup: impl Fn() -> Setup) -> f64
where
    E: Exec,
    Setup: Future<Output = S> + Send + 'static,
    S: FnMut(usize) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let t0 = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let setup = setup();
            exec.spawn(async move {
                let mut submit = setup.await;
                let mut in_flight = VecDeque::with_capacity(S3_WINDOW);
                for i in 0..jobs {
                    if in_flight.len() == S3_WINDOW {
                        black_box(in_flight.pop_front().expect("non-empty").await);
                    }
                    in_flight.push_back(submit(i));
                }
                for f in in_flight {
                    black_box(f.await);
                }
            })
        })
        .collect();
    for h in handles {
        h.await;
    }
    (4 * jobs) as f64 / t0.elapsed().as_secs_f64()
}

fn s3_leasepool(b: &Budget) -> f64 {
    let rt = Tokio::new();
    rt.block_on(async {
        let m = manager::<TokioRt>(4, 2).await;
        let v = pipelined(&rt, b.s3_jobs, || {
            let m = m.clone();
            async move {
                let lease = m.acquire().await.expect("acquire");
                move |i| {
                    let job = lease.submit(move || tiny(i)).expect("submit");
                    async move { job.await.expect("job") }
                }
            }
        })
        .await;
        m.stop().await;
        v
    })
}

fn s3_raw(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = Arc::new(LitePool::new(8, "raw"));
    let v = rt.block_on(pipelined(&rt, b.s3_jobs, || {
        let pool = Arc::clone(&pool);
        ready(move |i| pool.submit(move || tiny(i)))
    }));
    drop(rt);
    v
}

fn s3_spawn_blocking(b: &Budget) -> f64 {
    let rt = Tokio::new();
    rt.block_on(pipelined(&rt, b.s3_jobs, || ready(|i| tokio::task::spawn_blocking(move || tiny(i)))))
}

fn s3_deadpool(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = deadpool_executors(4, 2, "dp");
    let v = rt.block_on(pipelined(&rt, b.s3_jobs, || {
        let pool = pool.clone();
        async move {
            let executor = pool.get().await.expect("open");
            move |i| {
                let job = executor.submit(move || tiny(i));
                async move { job.await.expect("job") }
            }
        }
    }));
    drop(rt);
    drop(pool);
    v
}

pub(crate) fn s3(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let impls = vec![
        Impl::new(S3_LP, || s3_leasepool(b)),
        Impl::new(S3_RAW, || s3_raw(b)),
        Impl::new(S3_SB, || s3_spawn_blocking(b)),
        Impl::new(S3_DP, || s3_deadpool(b)),
    ];
    let samples = interleave("S3", reps, impls, dog);
    report.targets.push(Target::ratio_at_least(
        "S3 held leases",
        ">= 50% of the raw floor",
        med(&samples, S3_LP) / med(&samples, S3_RAW),
        0.5,
    ));
    report.groups.push(Group {
        id: "S3",
        title: format!(
            "tiny jobs through leases held for many jobs: 4 holders x {} jobs, {S3_WINDOW} in flight each",
            b.s3_jobs
        ),
        unit: "jobs/s",
        better: Better::Higher,
        samples,
        notes: vec![
            "4 tasks (one per pool: max_pools is 4) each hold one lease for all their jobs, submitting through \
             JobHandles; the raw floor is 4 tasks feeding 8 threads through one channel"
                .into(),
        ],
        comparisons: vec![Comparison::new(
            "S3 held leases",
            S3_LP,
            &[S3_RAW.to_owned(), S3_SB.to_owned(), S3_DP.to_owned()],
        )],
        chart: true,
        runs: None,
    });
}
