//! S11: the latency of one operation under a light, paced load, in
//! microseconds. Each task sleeps 1 ms on its runtime's timer between
//! operations, so the load stays far below capacity and arrives in bursts
//! (tokio's timer wakes every task due in the same 1 ms tick together).
//! One operation is acquire, run `x + 1`, release, timed from before the
//! acquire to after the release, at 1, 4 and 32 tasks; the peer on each
//! runtime is its semaphore of 4 permits (leasepool's 4 pools) around its
//! own way of running blocking code. A held lease's `run` alone is set
//! against a raw floor: one dedicated thread fed by a channel, the result
//! back through a oneshot. p50, p99 and p99.9 per run (hdrhistogram, 3
//! significant digits), medians over the interleaved runs.

use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use leasepool::Runtime;
use leasepool::driver::{Lease, LeasedExecutorManager};
use leasepool_bench::{LitePool, manager};

use super::{AsyncStdRt, SmolRt, TokioRt, tiny};
use crate::execs::{AsyncStd, Exec, Smol, Tokio};
use crate::harness::{Better, Budget, Impl, Samples, Series, Watchdog, interleave, median};
use crate::report::{Comparison, Group, LatencyRow, Report, Target};

/// How long each task sleeps between two operations.
const PACE: Duration = Duration::from_millis(1);
/// Paced tasks in the acquire + run + release settings.
const TASK_COUNTS: [usize; 3] = [1, 4, 32];
/// The peers' permits: leasepool's pools.
const PERMITS: usize = 4;
/// Operations started this long after the start are not recorded: threads
/// spawned on first use (the peers' blocking pools) and cold caches.
const WARMUP: Duration = Duration::from_millis(100);
/// The percentiles reported, with their labels.
const QUANTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")];
/// What leasepool may cost over the peer (each percentile), and a held
/// lease's `run` over the raw floor (p50), to meet S11's targets.
const PEER_RATIO: f64 = 1.1;
const FLOOR_RATIO: f64 = 1.2;

const LP: &str = "leasepool";
const LP_HELD: &str = "leasepool Lease::run";
const RAW: &str = "raw floor (1 thread + channel + oneshot)";

/// Percentiles of one run, in microseconds, in the order of [`QUANTILES`].
type Lat = [f64; 3];

/// One task's repeated operation. It borrows the task's own state, so the
/// timed part clones nothing.
trait Op: Send + 'static {
    fn once(&mut self) -> impl Future<Output = ()> + Send + '_;
}

/// Acquire, run `x + 1`, release.
struct LeasePerOp<R: Runtime> {
    m: LeasedExecutorManager<R>,
    i: usize,
}

impl<R: Runtime> Op for LeasePerOp<R> {
    async fn once(&mut self) {
        let lease = self.m.acquire().await.expect("acquire");
        let i = self.i;
        black_box(lease.run(move || tiny(i)).await.expect("job"));
        drop(lease);
    }
}

/// `run(x + 1)` on a lease the task holds for the whole run.
struct Held<R: Runtime> {
    lease: Lease<R>,
    i: usize,
}

impl<R: Runtime> Op for Held<R> {
    async fn once(&mut self) {
        let i = self.i;
        black_box(self.lease.run(move || tiny(i)).await.expect("job"));
    }
}

/// `x + 1` on the task's own thread, through a channel and a oneshot.
struct Raw {
    pool: LitePool,
    i: usize,
}

impl Op for Raw {
    async fn once(&mut self) {
        let i = self.i;
        black_box(self.pool.submit(move || tiny(i)).await.expect("job"));
    }
}

/// A runtime's natural peer of a lease per operation: its semaphore around
/// its way of running blocking code.
trait Peer: Exec {
    type Permits: Send + Sync + 'static;
    /// Its name in the tables.
    const NAME: &'static str;
    fn permits(n: usize) -> Self::Permits;
    /// Takes a permit, runs `x + 1` off the runtime, gives the permit back.
    fn once(permits: &Self::Permits, i: usize) -> impl Future<Output = usize> + Send + '_;
}

impl Peer for Tokio {
    type Permits = tokio::sync::Semaphore;
    const NAME: &'static str = "tokio Semaphore(4)+spawn_blocking";

    fn permits(n: usize) -> Self::Permits {
        tokio::sync::Semaphore::new(n)
    }

    async fn once(permits: &Self::Permits, i: usize) -> usize {
        let _permit = permits.acquire().await.expect("open");
        tokio::task::spawn_blocking(move || tiny(i)).await.expect("job")
    }
}

impl Peer for Smol {
    type Permits = async_lock::Semaphore;
    const NAME: &'static str = "async-lock Semaphore(4)+blocking::unblock";

    fn permits(n: usize) -> Self::Permits {
        async_lock::Semaphore::new(n)
    }

    async fn once(permits: &Self::Permits, i: usize) -> usize {
        let _permit = permits.acquire().await;
        blocking::unblock(move || tiny(i)).await
    }
}

impl Peer for AsyncStd {
    type Permits = async_lock::Semaphore;
    const NAME: &'static str = "async-lock Semaphore(4)+task::spawn_blocking";

    fn permits(n: usize) -> Self::Permits {
        async_lock::Semaphore::new(n)
    }

    async fn once(permits: &Self::Permits, i: usize) -> usize {
        let _permit = permits.acquire().await;
        async_std::task::spawn_blocking(move || tiny(i)).await
    }
}

struct PeerOp<E: Peer> {
    permits: Arc<E::Permits>,
    i: usize,
}

impl<E: Peer + 'static> Op for PeerOp<E> {
    async fn once(&mut self) {
        black_box(E::once(&self.permits, self.i).await);
    }
}

/// Nanoseconds up to a minute (the watchdog's bound), 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

/// Runs `tasks` tasks, each built by `setup(i)` (awaited in the task), for
/// [`WARMUP`] and then `run`: each sleeps [`PACE`], times one operation,
/// and again, until told to stop. Returns the percentiles of the
/// operations started after the warm-up.
async fn paced<E, O, Fut>(exec: &E, tasks: usize, run: Duration, setup: impl Fn(usize) -> Fut) -> Lat
where
    E: Exec,
    O: Op,
    Fut: Future<Output = O> + Send + 'static,
{
    let record_from = Instant::now() + WARMUP;
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (setup, stop) = (setup(i), Arc::clone(&stop));
            exec.spawn(async move {
                let mut op = setup.await;
                let mut h = histogram();
                while !stop.load(Ordering::Relaxed) {
                    E::task_sleep(PACE).await;
                    let t = Instant::now();
                    op.once().await;
                    let took = t.elapsed();
                    if t >= record_from {
                        h.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                    }
                }
                h
            })
        })
        .collect();
    exec.sleep(WARMUP + run).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = histogram();
    for h in handles {
        all.add(h.await).expect("histograms of the same bounds");
    }
    QUANTILES.map(|(q, _)| all.value_at_quantile(q) as f64 / 1e3)
}

fn lease_per_op<R: Runtime + Default, E: Exec>(exec: &E, run: Duration, tasks: usize) -> Lat {
    exec.block_on(async {
        let m = manager::<R>(4, 2).await;
        let lat = paced(exec, tasks, run, |i| {
            let m = m.clone();
            async move { LeasePerOp { m, i } }
        })
        .await;
        m.stop().await;
        lat
    })
}

fn held<R: Runtime + Default, E: Exec>(exec: &E, run: Duration, tasks: usize) -> Lat {
    exec.block_on(async {
        let m = manager::<R>(4, 2).await;
        let lat = paced(exec, tasks, run, |i| {
            let m = m.clone();
            async move { Held { lease: m.acquire().await.expect("acquire"), i } }
        })
        .await;
        m.stop().await;
        lat
    })
}

fn peer<E: Peer + 'static>(exec: &E, run: Duration, tasks: usize) -> Lat {
    let permits = Arc::new(E::permits(PERMITS));
    exec.block_on(paced(exec, tasks, run, |i| {
        let permits = Arc::clone(&permits);
        async move { PeerOp::<E> { permits, i } }
    }))
}

fn raw<E: Exec>(exec: &E, run: Duration, tasks: usize) -> Lat {
    exec.block_on(paced(exec, tasks, run, |i| async move {
        Raw { pool: LitePool::new(1, &format!("rawlat{i}")), i }
    }))
}

fn tasks_label(n: usize) -> String {
    if n == 1 { "1 task".into() } else { format!("{n} tasks") }
}

/// What one implementation of S11 runs.
#[derive(Clone, Copy)]
enum Kind {
    /// Acquire, run, release, from this many tasks.
    LeasePerOp(usize),
    /// The runtime's peer of it, from this many tasks.
    Peer(usize),
    /// One task's `run` on its held lease.
    Held,
    /// The raw floor of `Held`.
    Raw,
}

/// One implementation of one setting, as S11 reports it.
struct Row {
    kind: Kind,
    /// The setting: "4 tasks", "held lease, 1 task".
    setting: String,
    name: String,
    /// The percentiles of each run.
    runs: RefCell<Vec<Lat>>,
}

/// S11 on one runtime: `fresh()` gives the executor of one run (a new
/// tokio runtime, or the global smol / async-std executor).
fn on_runtime<R, E>(rt: &str, fresh: fn() -> E, b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report)
where
    R: Runtime + Default,
    E: Peer + 'static,
{
    let run = b.lat_run;
    let row = |kind: Kind, setting: String, name: &str| Row {
        kind,
        setting,
        name: name.to_owned(),
        runs: RefCell::new(Vec::new()),
    };
    // In pairs: leasepool, then what it is compared with.
    let mut rows = Vec::new();
    for n in TASK_COUNTS {
        rows.push(row(Kind::LeasePerOp(n), tasks_label(n), LP));
        rows.push(row(Kind::Peer(n), tasks_label(n), E::NAME));
    }
    let held_setting = format!("held lease, {}", tasks_label(1));
    rows.push(row(Kind::Held, held_setting.clone(), LP_HELD));
    rows.push(row(Kind::Raw, held_setting, RAW));
    let impls = rows
        .iter()
        .map(|r| {
            Impl::new(format!("{}, {}", r.name, r.setting), move || {
                let lat = match r.kind {
                    Kind::LeasePerOp(n) => lease_per_op::<R, E>(&fresh(), run, n),
                    Kind::Peer(n) => peer(&fresh(), run, n),
                    Kind::Held => held::<R, E>(&fresh(), run, 1),
                    Kind::Raw => raw(&fresh(), run, 1),
                };
                r.runs.borrow_mut().push(lat);
                lat[0]
            })
        })
        .collect();
    let ran = interleave(&format!("S11 {rt}"), reps, impls, dog);
    let mut samples = Samples { series: Vec::new(), skipped: ran.skipped };
    let mut comparisons = Vec::new();
    let series_name = |r: &Row, q: &str| format!("{}, {}: {q}", r.name, r.setting);
    for pair in rows.chunks(2) {
        let [lp, other] = pair else { unreachable!("rows come in pairs") };
        let (lp_runs, other_runs) = (lp.runs.borrow(), other.runs.borrow());
        if lp_runs.is_empty() || other_runs.is_empty() {
            continue;
        }
        let medians = |runs: &[Lat]| -> [f64; 3] {
            [0, 1, 2].map(|q| median(&runs.iter().map(|l| l[q]).collect::<Vec<_>>()))
        };
        let (lp_med, other_med) = (medians(&lp_runs), medians(&other_runs));
        for (q, (_, label)) in QUANTILES.iter().enumerate() {
            for (r, runs) in [(lp, &lp_runs), (other, &other_runs)] {
                samples.series.push(Series {
                    name: series_name(r, label),
                    values: runs.iter().map(|l| l[q]).collect(),
                });
            }
            let what = if matches!(lp.kind, Kind::Held) { "held lease run" } else { "paced" };
            comparisons.push(Comparison::new(
                &format!("S11 {what} {label}, {} ({rt})", lp.setting.trim_start_matches("held lease, ")),
                &series_name(lp, label),
                &[series_name(other, label)],
            ));
        }
        if matches!(lp.kind, Kind::Held) {
            report.targets.push(Target::ratio_at_most(
                &format!("S11 held lease run, 1 task ({rt})"),
                &format!("p50 <= {FLOOR_RATIO}x {RAW}"),
                lp_med[0] / other_med[0],
                FLOOR_RATIO,
            ));
        } else {
            let worst = (0..3).map(|q| lp_med[q] / other_med[q]).fold(f64::NAN, f64::max);
            report.targets.push(Target::ratio_at_most(
                &format!("S11 paced, {} ({rt})", lp.setting),
                &format!("p50, p99, p99.9 each <= {PEER_RATIO}x {}", other.name),
                worst,
                PEER_RATIO,
            ));
        }
        for (r, p, leasepool) in [(lp, lp_med, true), (other, other_med, false)] {
            report.latency.push(LatencyRow {
                section: rt.to_owned(),
                setting: r.setting.clone(),
                name: r.name.clone(),
                leasepool,
                percentiles: p,
            });
        }
    }
    report.groups.push(Group {
        id: "S11",
        title: format!(
            "latency under a paced load ({rt}): each task sleeps 1 ms, then acquires, runs x + 1, releases"
        ),
        unit: "us",
        better: Better::Lower,
        samples,
        notes: vec![
            format!(
                "leasepool: 4 pools x 2 workers; {}: {PERMITS} permits; one operation is timed from before \
                 the acquire to after the release (the permit's drop)",
                E::NAME
            ),
            format!(
                "{LP_HELD}: one task holds a lease for the whole run and times only run(x + 1); {RAW}: the \
                 task's own std thread, fed by a crossbeam channel, the result back through a oneshot"
            ),
            format!(
                "{} s per run after a {} ms warm-up; p50 / p99 / p99.9 per run (hdrhistogram, 3 digits), \
                 table = median over runs, min and max across them",
                run.as_secs_f64(),
                WARMUP.as_millis()
            ),
        ],
        comparisons,
        chart: false,
        runs: None,
    });
}

pub(crate) fn s11(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    on_runtime::<TokioRt, Tokio>("tokio", Tokio::new, b, dog, reps, report);
    on_runtime::<SmolRt, Smol>("smol", || Smol, b, dog, reps, report);
    on_runtime::<AsyncStdRt, AsyncStd>("async-std", || AsyncStd, b, dog, reps, report);
}
