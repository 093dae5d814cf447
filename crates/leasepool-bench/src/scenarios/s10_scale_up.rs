//! S10: acquire latency while the manager scales up from 1 pool to 8, in
//! microseconds: what growing the pool count costs the callers who wait
//! while it happens. The same run on 8 pre-created pools is the reference
//! (most of the latency is the place in the queue, the same in every row),
//! and `Semaphore(8)` + `spawn_blocking` the peer. Uses only the facade, so
//! it measures the same thing whatever the manager does inside.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::{TASKS, sleep_1ms};
use crate::execs::{Exec, Tokio};
use crate::harness::{Better, Budget, Impl, Samples, Series, Watchdog, interleave};
use crate::report::{Comparison, Group, Report};

/// Pools S10's manager grows to, from 1.
const S10_MAX_POOLS: usize = 8;
/// Workers per pool in S10.
const S10_WORKERS: usize = 2;

const S10_LP: &str = "leasepool, scales 1 -> 8 pools";
const S10_LP_WARM: &str = "leasepool, 8 pools pre-created";
const S10_SEM: &str = "tokio Semaphore(8)+spawn_blocking";

/// The figures of one S10 run; latencies in microseconds.
#[derive(Debug, Clone, Copy)]
struct S10Run {
    /// p50 and p99 over every acquire of the run.
    all: [f64; 2],
    /// p50 and p99 over each task's first acquire: those made while the
    /// manager scales up.
    first: [f64; 2],
    /// From the start until the 8th first-round grant: all 8 pools (permits)
    /// handed out at least once.
    to_eighth: f64,
    /// Pools once every task has finished its first round (the peer: its
    /// permits).
    pools: usize,
}

/// p50 and p99 of `latencies`, in microseconds.
fn s10_percentiles<'a>(latencies: impl IntoIterator<Item = &'a Duration>) -> [f64; 2] {
    // Nanoseconds up to a minute (the watchdog's bound), 3 significant digits.
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    for d in latencies {
        h.saturating_record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }
    [0.5, 0.99].map(|q| h.value_at_quantile(q) as f64 / 1e3)
}

/// S10's shape: `TASKS` tasks wait at a barrier, then each runs `rounds`
/// times `round()`, which acquires, runs a 1 ms job while holding and
/// releases, and returns how long its acquire took. `pools()` is read once,
/// after every task finished its first round.
async fn s10_drive<F, Fut>(rt: &Tokio, rounds: usize, round: F, pools: impl FnOnce() -> usize) -> S10Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Duration> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS + 1));
    let started = Arc::new(AtomicUsize::new(0));
    let first_done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let round = round.clone();
            let (barrier, started, first_done) =
                (Arc::clone(&barrier), Arc::clone(&started), Arc::clone(&first_done));
            rt.0.spawn(async move {
                let mut latencies = Vec::with_capacity(rounds);
                started.fetch_add(1, Ordering::SeqCst);
                barrier.wait().await;
                let called = Instant::now();
                let first = round().await;
                first_done.fetch_add(1, Ordering::SeqCst);
                latencies.push(first);
                for _ in 1..rounds {
                    latencies.push(round().await);
                }
                (called + first, latencies)
            })
        })
        .collect();
    // The tasks wait at the barrier; the last to arrive (this one) lets
    // them all go.
    while started.load(Ordering::SeqCst) < TASKS {
        tokio::task::yield_now().await;
    }
    let t0 = Instant::now();
    barrier.wait().await;
    while first_done.load(Ordering::SeqCst) < TASKS {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let pools = pools();
    let mut first_grants = Vec::with_capacity(TASKS);
    let mut firsts = Vec::with_capacity(TASKS);
    let mut all = Vec::with_capacity(TASKS * rounds);
    for h in handles {
        let (granted, latencies) = h.await.expect("task");
        first_grants.push(granted.saturating_duration_since(t0));
        firsts.push(latencies[0]);
        all.extend(latencies);
    }
    first_grants.sort();
    S10Run {
        all: s10_percentiles(&all),
        first: s10_percentiles(&firsts),
        to_eighth: first_grants[S10_MAX_POOLS - 1].as_nanos() as f64 / 1e3,
        pools,
    }
}

/// leasepool through its public facade: `min_pools` pools at start (1: the
/// run scales up to 8; 8: nothing to create), default sizing (no size
/// provider), a fresh manager per run.
fn s10_leasepool(rounds: usize, min_pools: usize) -> S10Run {
    let rt = Tokio::new();
    rt.block_on(async {
        let m = leasepool::LeasedExecutorManager::builder()
            .max_pools(S10_MAX_POOLS)
            .min_pools(min_pools)
            .workers_per_pool(S10_WORKERS)
            .name_prefix("bench")
            .build()
            .expect("valid manager config");
        m.start().await.expect("manager starts");
        let m2 = m.clone();
        let round = move || {
            let m = m2.clone();
            async move {
                let t = Instant::now();
                let lease = m.acquire().await.expect("acquire");
                let waited = t.elapsed();
                black_box(lease.run(sleep_1ms).await.expect("job"));
                drop(lease);
                waited
            }
        };
        let run = s10_drive(&rt, rounds, round, || m.total_count()).await;
        m.stop().await;
        run
    })
}

/// The peer: 8 permits, the 1 ms job on tokio's blocking pool (fresh per
/// run, so its threads too are started during the first round, but while
/// the permit is held, outside the measured acquire).
fn s10_semaphore(rounds: usize) -> S10Run {
    let rt = Tokio::new();
    let sem = Arc::new(Semaphore::new(S10_MAX_POOLS));
    let round = move || {
        let sem = Arc::clone(&sem);
        async move {
            let t = Instant::now();
            let permit = sem.acquire_owned().await.expect("open");
            let waited = t.elapsed();
            black_box(tokio::task::spawn_blocking(sleep_1ms).await.expect("job"));
            drop(permit);
            waited
        }
    };
    rt.block_on(s10_drive(&rt, rounds, round, || S10_MAX_POOLS))
}

/// A figure S10 reports: its label and how to read it from a run.
type S10Metric = (&'static str, fn(&S10Run) -> f64);

/// The figures S10 reports, each a series per implementation.
const S10_METRICS: [S10Metric; 5] = [
    ("acquire p50, all acquires", |r| r.all[0]),
    ("acquire p99, all acquires", |r| r.all[1]),
    ("acquire p50, first round (scale-up)", |r| r.first[0]),
    ("acquire p99, first round (scale-up)", |r| r.first[1]),
    ("time to the 8th first-round grant", |r| r.to_eighth),
];

pub(crate) fn s10(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let rounds = b.s10_rounds;
    let names = [S10_LP, S10_LP_WARM, S10_SEM];
    let runs: [std::cell::RefCell<Vec<S10Run>>; 3] = Default::default();
    let keep = |i: usize, run: S10Run| {
        runs[i].borrow_mut().push(run);
        run.all[1]
    };
    let impls = vec![
        Impl::new(S10_LP, || keep(0, s10_leasepool(rounds, 1))),
        Impl::new(S10_LP_WARM, || keep(1, s10_leasepool(rounds, S10_MAX_POOLS))),
        Impl::new(S10_SEM, || keep(2, s10_semaphore(rounds))),
    ];
    let ran = interleave("S10", reps, impls, dog);
    let runs = runs.map(std::cell::RefCell::into_inner);
    // One series per figure and implementation, grouped by figure.
    let mut samples = Samples { series: Vec::new(), skipped: ran.skipped };
    let mut comparisons = Vec::new();
    for (metric, value) in S10_METRICS {
        let series = |name: &str| format!("{name}: {metric}");
        for (name, runs) in names.iter().zip(&runs) {
            if !runs.is_empty() {
                samples.series.push(Series::new(series(name), runs.iter().map(value).collect()));
            }
        }
        comparisons.push(Comparison::new(
            &format!("S10 {metric}"),
            &series(S10_LP),
            &[series(S10_LP_WARM), series(S10_SEM)],
        ));
    }
    let pools: Vec<usize> = runs[0].iter().map(|r| r.pools).collect();
    report.groups.push(Group {
        id: "S10",
        title: format!(
            "acquire latency while the manager scales up: 64 tasks x {rounds} rounds of acquire, \
             1 ms job, release"
        ),
        unit: "us",
        better: Better::Lower,
        samples,
        notes: vec![
            format!(
                "leasepool: max_pools {S10_MAX_POOLS}, workers_per_pool {S10_WORKERS}, min_pools 1, no size \
                 provider (desired = 1), a fresh manager per run, so every run grows from 1 pool to \
                 {S10_MAX_POOLS} as the 64 tasks' first acquires arrive; the pre-created row (min_pools \
                 {S10_MAX_POOLS}) is the same run without pool creation"
            ),
            "latency: from calling acquire to holding the lease (permit); each task then runs one \
             std::thread::sleep(1 ms) job on it and drops it; p50 / p99 (hdrhistogram, 3 digits) per run, \
             table = median over runs"
                .into(),
            "first round: each task's first acquire (64 per run, so its p99 is the slowest of them); \
             the 8 pools are all created among these"
                .into(),
            "with 8 pools and 64 tasks about 56 acquires queue at every moment: most of the latency is \
             waiting for a pool (about 7 x 1 ms), the same for every row; pool creation shows in the \
             difference from the pre-created row"
                .into(),
            format!("{S10_LP}: pools after the first round, per run: {pools:?}"),
        ],
        comparisons,
        chart: false,
        runs: None,
    });
}
