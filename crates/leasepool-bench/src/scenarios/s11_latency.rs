//! S11: the latency of one operation under a light, paced load, in
//! microseconds. Each task sleeps 1 ms on its runtime's timer between
//! operations, so the load stays far below capacity and arrives in bursts
//! (tokio's timer wakes every task due in the same 1 ms tick together).
//! One operation is acquire, run `x + 1`, release, timed from before the
//! acquire to after the release, at 1, 4 and 32 tasks; the peer on each
//! runtime is its semaphore of 4 permits (leasepool's 4 pools) around its
//! own way of running blocking code. A held lease's `run` alone is set
//! against a raw floor: one dedicated thread fed by a channel, the result
//! back through a oneshot. p50, p99 and p99.9 of every operation of every
//! interleaved run (hdrhistogram, 3 significant digits): one run of one
//! task holds about a thousand operations, so its own p99.9 is its one
//! slowest operation, and a median over such runs says little.
//!
//! Beside the peer, a lease per operation is also set against 4 pools of 2
//! channel-fed threads behind a semaphore, each caller running its job on
//! the pool it took: what any design pays that binds a job to its
//! caller's pool, as a lease does, where the peer's jobs share one queue.
//!
//! Each peer also runs a second time, as its own copy interleaved with the
//! first. Both copies are the same code, so what parts them is the noise of
//! the machine in that run (other processes, the scheduler, timer ticks);
//! a target missed by less than the peer missed itself is reported as such.

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
use crate::harness::{Better, Budget, Impl, Samples, Series, Watchdog, interleave};
use crate::report::{Comparison, Group, LatencyRow, Report, Spread, Target};

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
const BOUND: &str = "4 channel-fed pools x 2 threads, one per permit";
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
/// and again, until told to stop. Returns the histogram of the operations
/// started after the warm-up.
async fn paced<E, O, Fut>(
    exec: &E,
    tasks: usize,
    run: Duration,
    setup: impl Fn(usize) -> Fut,
) -> Histogram<u64>
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
    all
}

/// The percentiles of [`QUANTILES`] in microseconds.
fn percentiles(h: &Histogram<u64>) -> Lat {
    QUANTILES.map(|(q, _)| h.value_at_quantile(q) as f64 / 1e3)
}

fn lease_per_op<R: Runtime + Default, E: Exec>(exec: &E, run: Duration, tasks: usize) -> Histogram<u64> {
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

fn held<R: Runtime + Default, E: Exec>(exec: &E, run: Duration, tasks: usize) -> Histogram<u64> {
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

fn peer<E: Peer + 'static>(exec: &E, run: Duration, tasks: usize) -> Histogram<u64> {
    let permits = Arc::new(E::permits(PERMITS));
    exec.block_on(paced(exec, tasks, run, |i| {
        let permits = Arc::clone(&permits);
        async move { PeerOp::<E> { permits, i } }
    }))
}

fn raw<E: Exec>(exec: &E, run: Duration, tasks: usize) -> Histogram<u64> {
    exec.block_on(paced(exec, tasks, run, |i| async move {
        Raw { pool: LitePool::new(1, &format!("rawlat{i}")), i }
    }))
}

/// [`PERMITS`] pools of 2 channel-fed threads each, as many as leasepool's
/// pools and workers, and a semaphore with a permit per pool: a lease
/// without its bookkeeping (no expiry, no sizing, no lease table). A job
/// runs on the pool its caller took, as a lease's does, rather than on
/// whichever thread of one shared pool is awake first.
struct Bound {
    permits: async_lock::Semaphore,
    pools: Vec<LitePool>,
    /// The free pools; the last returned is taken first, as leasepool does.
    free: std::sync::Mutex<Vec<usize>>,
}

struct BoundOp {
    bound: Arc<Bound>,
    i: usize,
}

impl Op for BoundOp {
    async fn once(&mut self) {
        let _permit = self.bound.permits.acquire().await;
        let k = self.bound.free.lock().expect("free list").pop().expect("a free pool per permit");
        let i = self.i;
        black_box(self.bound.pools[k].submit(move || tiny(i)).await.expect("job"));
        self.bound.free.lock().expect("free list").push(k);
    }
}

fn bound<E: Exec>(exec: &E, run: Duration, tasks: usize) -> Histogram<u64> {
    let bound = Arc::new(Bound {
        permits: async_lock::Semaphore::new(PERMITS),
        pools: (0..PERMITS).map(|k| LitePool::new(2, &format!("boundlat{k}"))).collect(),
        free: std::sync::Mutex::new((0..PERMITS).collect()),
    });
    exec.block_on(paced(exec, tasks, run, |i| {
        let bound = Arc::clone(&bound);
        async move { BoundOp { bound, i } }
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
    /// [`Bound`], from this many tasks.
    Bound(usize),
}

/// One implementation of one setting, as S11 reports it.
struct Row {
    kind: Kind,
    /// The setting: "4 tasks", "held lease, 1 task".
    setting: String,
    name: String,
    /// The percentiles of each run.
    runs: RefCell<Vec<Lat>>,
    /// Every operation of every run.
    all: RefCell<Histogram<u64>>,
}

impl Row {
    fn new(kind: Kind, setting: String, name: String) -> Self {
        Row { kind, setting, name, runs: RefCell::new(Vec::new()), all: RefCell::new(histogram()) }
    }

    fn pooled(&self) -> Lat {
        percentiles(&self.all.borrow())
    }
}

/// One setting: leasepool, what it is compared with, and that again, a
/// second copy interleaved with the first. How far the peer's figures move
/// against their own copy in the same run is how much of a difference this
/// machine can tell apart from noise.
struct Setting {
    lp: Row,
    other: Row,
    again: Row,
    /// For a lease per operation: [`Bound`], what any design that binds a
    /// job to its caller's pool pays, shown beside the peer.
    bound: Option<Row>,
}

/// The name of the second copy of `name`.
fn again(name: &str) -> String {
    format!("{name} (again)")
}

/// S11 on one runtime: `fresh()` gives the executor of one run (a new
/// tokio runtime, or the global smol / async-std executor).
fn on_runtime<R, E>(rt: &str, fresh: fn() -> E, b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report)
where
    R: Runtime + Default,
    E: Peer + 'static,
{
    let run = b.lat_run;
    let setting = |lp: Kind, other: Kind, label: String, lp_name: &str, other_name: &str| Setting {
        lp: Row::new(lp, label.clone(), lp_name.to_owned()),
        other: Row::new(other, label.clone(), other_name.to_owned()),
        again: Row::new(other, label, again(other_name)),
        bound: None,
    };
    let mut settings: Vec<Setting> = TASK_COUNTS
        .iter()
        .map(|&n| Setting {
            bound: Some(Row::new(Kind::Bound(n), tasks_label(n), BOUND.to_owned())),
            ..setting(Kind::LeasePerOp(n), Kind::Peer(n), tasks_label(n), LP, E::NAME)
        })
        .collect();
    settings.push(setting(Kind::Held, Kind::Raw, format!("held lease, {}", tasks_label(1)), LP_HELD, RAW));
    let impls = settings
        .iter()
        .flat_map(|s| [Some(&s.lp), Some(&s.other), Some(&s.again), s.bound.as_ref()].into_iter().flatten())
        .map(|r| {
            Impl::new(format!("{}, {}", r.name, r.setting), move || {
                let h = match r.kind {
                    Kind::LeasePerOp(n) => lease_per_op::<R, E>(&fresh(), run, n),
                    Kind::Peer(n) => peer(&fresh(), run, n),
                    Kind::Held => held::<R, E>(&fresh(), run, 1),
                    Kind::Raw => raw(&fresh(), run, 1),
                    Kind::Bound(n) => bound(&fresh(), run, n),
                };
                let lat = percentiles(&h);
                r.runs.borrow_mut().push(lat);
                r.all.borrow_mut().add(h).expect("histograms of the same bounds");
                lat[0]
            })
        })
        .collect();
    let ran = interleave(&format!("S11 {rt}"), reps, impls, dog);
    let mut samples = Samples { series: Vec::new(), skipped: ran.skipped };
    let mut comparisons = Vec::new();
    let series_name = |r: &Row, q: &str| format!("{}, {}: {q}", r.name, r.setting);
    for Setting { lp, other, again, bound } in &settings {
        if [lp, other, again].iter().any(|r| r.runs.borrow().is_empty()) {
            continue;
        }
        let [lp_all, other_all, again_all] = [lp, other, again].map(Row::pooled);
        let bound = bound.as_ref().filter(|b| !b.runs.borrow().is_empty());
        for (q, (_, label)) in QUANTILES.iter().enumerate() {
            for r in [Some(lp), Some(other), Some(again), bound].into_iter().flatten() {
                let mut series =
                    Series::new(series_name(r, label), r.runs.borrow().iter().map(|l| l[q]).collect());
                series.pooled = Some(r.pooled()[q]);
                samples.series.push(series);
            }
            let what = if matches!(lp.kind, Kind::Held) { "held lease run" } else { "paced" };
            comparisons.push(Comparison::new(
                &format!("S11 {what} {label}, {} ({rt})", lp.setting.trim_start_matches("held lease, ")),
                &series_name(lp, label),
                &[Some(other), bound]
                    .into_iter()
                    .flatten()
                    .map(|r| series_name(r, label))
                    .collect::<Vec<_>>(),
            ));
        }
        // The peer against its copy, both ways: the larger ratio.
        let spread = |q: usize| (other_all[q] / again_all[q]).max(again_all[q] / other_all[q]);
        let ratio = |q: usize| lp_all[q] / other_all[q];
        let (scenario, text, checked, goal) = if matches!(lp.kind, Kind::Held) {
            (
                format!("S11 held lease run, 1 task ({rt})"),
                format!("p50 <= {FLOOR_RATIO}x {RAW}"),
                &[0][..],
                FLOOR_RATIO,
            )
        } else {
            (
                format!("S11 paced, {} ({rt})", lp.setting),
                format!("p50, p99, p99.9 each <= {PEER_RATIO}x {}", other.name),
                &[0, 1, 2][..],
                PEER_RATIO,
            )
        };
        let worst = checked.iter().map(|&q| ratio(q)).fold(f64::NAN, f64::max);
        let mut target = Target::ratio_at_most(&scenario, &text, worst, goal);
        // Judged at each percentile that misses the goal: the widest of
        // their spreads, and whether each ratio stays within its own.
        let missed: Vec<usize> = checked.iter().copied().filter(|&q| ratio(q) > goal).collect();
        if !missed.is_empty() {
            target.spread = Some(Spread {
                bound: missed.iter().map(|&q| spread(q)).fold(f64::NAN, f64::max),
                within: missed.iter().all(|&q| ratio(q) <= spread(q)),
            });
        }
        report.targets.push(target);
        let rows =
            [(lp, lp_all, true, false), (other, other_all, false, false), (again, again_all, false, true)];
        for (r, p, leasepool, copy) in rows.into_iter().chain(bound.map(|b| (b, b.pooled(), false, false))) {
            report.latency.push(LatencyRow {
                section: rt.to_owned(),
                setting: r.setting.clone(),
                name: r.name.clone(),
                leasepool,
                copy,
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
                "{BOUND}: a semaphore of {PERMITS} permits, each caller runs x + 1 on the pool it took (the \
                 last returned first), as a lease's job does: what binding a job to its caller's pool costs, \
                 without a lease's bookkeeping"
            ),
            format!(
                "{} s per run after a {} ms warm-up; \"all runs\" = the percentile of every operation of every \
                 run (hdrhistogram, 3 digits), min and max = single runs; \"(again)\" = a second copy of the \
                 peer, interleaved with the first: its distance from the first is the noise of this run",
                run.as_secs_f64(),
                WARMUP.as_millis()
            ),
        ],
        comparisons,
        chart: false,
        runs: Some("percentiles of all the interleaved runs' operations"),
    });
}

pub(crate) fn s11(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    on_runtime::<TokioRt, Tokio>("tokio", Tokio::new, b, dog, reps, report);
    on_runtime::<SmolRt, Smol>("smol", || Smol, b, dog, reps, report);
    on_runtime::<AsyncStdRt, AsyncStd>("async-std", || AsyncStd, b, dog, reps, report);
}
