//! The scenarios S1-S7 and S10 (S8 and S9 live in the `leasepool-bench-mem`
//! binary, whose counting allocator must not slow these down).
//!
//! Every implementation of a scenario gets a fresh runtime, manager and
//! peer executor per repetition; setup is never timed. Unless said
//! otherwise the runtime is tokio's multi-threaded one with 2 workers and
//! leasepool is 4 pools x 2 workers with `min_pools = 4`.

use std::collections::VecDeque;
use std::future::{Future, ready};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use leasepool::Runtime;
use leasepool::driver::{LeasedExecutorManager, WorkGrinder};
use leasepool_bench::{LitePool, core_with_leases, deadpool_executors, manager};
use tokio::sync::Semaphore;

use crate::execs::{AsyncStd, Exec, Smol, Tokio};
use crate::harness::{
    Better, Budget, Impl, Samples, Series, Watchdog, calibrate_async, calibrate_sync, interleave,
};
use crate::python::Python;
use crate::report::{Comparison, Group, Report, Target};

type TokioRt = leasepool::tokio::TokioRuntime;
type SmolRt = leasepool::smol::SmolRuntime;
type AsyncStdRt = leasepool::async_std::AsyncStdRuntime;

/// Concurrent tasks in S2, S4 and S5.
const TASKS: usize = 64;
/// Items each S4 task keeps in flight (64 x 16 = 1024 = 4 batches of 256).
const S4_WINDOW: usize = 16;
/// Jobs each S3 lease holder keeps in flight.
const S3_WINDOW: usize = 256;

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

/// Stop flag and deadline shared by the tasks of one throughput run.
pub(crate) struct Ctl {
    stop: AtomicBool,
    deadline: Instant,
}

impl Ctl {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Whether a job finishing now counts in a by-deadline run (S5).
    fn in_time(&self) -> bool {
        Instant::now() <= self.deadline
    }
}

/// Spawns `tasks` tasks built by `make`, stops them after `dur`, awaits
/// them. Returns jobs/s: their summed counts over the time until the last
/// one ended, or over `dur` when `by_deadline` (the tasks then count only
/// jobs finished before the deadline).
async fn throughput<E, F, Fut>(exec: &E, tasks: usize, dur: Duration, by_deadline: bool, make: F) -> f64
where
    E: Exec,
    F: Fn(usize, Arc<Ctl>) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let t0 = Instant::now();
    let ctl = Arc::new(Ctl { stop: AtomicBool::new(false), deadline: t0 + dur });
    let handles: Vec<_> = (0..tasks).map(|i| exec.spawn(make(i, Arc::clone(&ctl)))).collect();
    exec.sleep(dur).await;
    ctl.stop.store(true, Ordering::Relaxed);
    let mut total = 0u64;
    for h in handles {
        total += h.await;
    }
    let elapsed = if by_deadline { dur } else { t0.elapsed() };
    total as f64 / elapsed.as_secs_f64()
}

/// One tiny job.
fn tiny(i: usize) -> usize {
    black_box(i) + 1
}

/// One S5 job: sleeps 1 ms and returns how long it really kept its
/// worker busy, in nanoseconds.
fn sleep_1ms() -> u64 {
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(1));
    t.elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------------------
// S1: acquire + release, uncontended
// ---------------------------------------------------------------------------

const S1_TRY: &str = "leasepool try_acquire+drop";
const S1_ACQ: &str = "leasepool acquire+drop";
const S1_SEM: &str = "tokio Semaphore acquire_owned+drop";
const S1_DP: &str = "deadpool unmanaged get+drop";
const S1_FLOOR: &str = "floor: 2 clock reads + 2 lock/unlock";
const S1_PY_TRY: &str = "python leasepool 0.1.3 acquire(wait=False)+release";
const S1_PY_ACQ: &str = "python leasepool 0.1.3 acquire()+release";

fn s1_leasepool(b: &Budget, wait: bool) -> f64 {
    let rt = Tokio::new();
    let budget = b.ns_sample;
    rt.block_on(async {
        let m = manager::<TokioRt>(4, 2).await;
        let m2 = m.clone();
        let ns = rt
            .spawn(calibrate_async(budget, move |n| {
                let m = m2.clone();
                async move {
                    let t = Instant::now();
                    for _ in 0..n {
                        let lease = if wait { m.acquire().await } else { m.try_acquire().await };
                        drop(black_box(lease.expect("a pool is free")));
                    }
                    t.elapsed()
                }
            }))
            .await;
        m.stop().await;
        ns
    })
}

fn s1_semaphore(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let sem = Arc::new(Semaphore::new(4));
    rt.block_on(rt.spawn(calibrate_async(b.ns_sample, move |n| {
        let sem = Arc::clone(&sem);
        async move {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(Arc::clone(&sem).acquire_owned().await.expect("open")));
            }
            t.elapsed()
        }
    })))
}

/// What any acquire + release that times its leases pays at least: a grant
/// stamps `leased_at` and a release checks hard expiry, each with one clock
/// read, and each updates state shared with other tasks under a lock. No
/// bookkeeping at all: the row bounds S1 from below.
fn s1_floor(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let state = Arc::new(std::sync::Mutex::new(Instant::now()));
    rt.block_on(rt.spawn(calibrate_async(b.ns_sample, move |n| {
        let state = Arc::clone(&state);
        async move {
            let t = Instant::now();
            for _ in 0..n {
                let leased_at = Instant::now();
                *black_box(&state).lock().expect("not poisoned") = leased_at;
                let now = Instant::now();
                black_box(now < *black_box(&state).lock().expect("not poisoned"));
            }
            t.elapsed()
        }
    })))
}

fn s1_deadpool(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = deadpool::unmanaged::Pool::from(vec![0u64; 4]);
    rt.block_on(rt.spawn(calibrate_async(b.ns_sample, move |n| {
        let pool = pool.clone();
        async move {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(pool.get().await.expect("open")));
            }
            t.elapsed()
        }
    })))
}

pub(crate) fn s1(b: &Budget, dog: &Watchdog, reps: usize, py: &Python, report: &mut Report) {
    let py_secs = b.ns_sample.as_secs_f64() * 5.0;
    let impls = vec![
        Impl::new(S1_TRY, || s1_leasepool(b, false)),
        Impl::new(S1_ACQ, || s1_leasepool(b, true)),
        Impl::new(S1_SEM, || s1_semaphore(b)),
        Impl::new(S1_DP, || s1_deadpool(b)),
        Impl::new(S1_FLOOR, || s1_floor(b)),
        Impl::fallible(S1_PY_TRY, || py.run("s1-nowait", py_secs, &[])),
        Impl::fallible(S1_PY_ACQ, || py.run("s1-wait", py_secs, &[])),
    ];
    let samples = interleave("S1", reps, impls, dog);
    let mut notes = vec![
        "one task on a 2-worker tokio runtime, no work; lower is better".to_owned(),
        format!(
            "{S1_FLOOR}: the least an acquire + release pays that stamps the grant and checks expiry at release"
        ),
    ];
    if !py.available() {
        notes.push(format!("python skipped: {}", py.reason()));
    }
    let peers =
        |python: &str| vec![S1_SEM.to_owned(), S1_DP.to_owned(), S1_FLOOR.to_owned(), python.to_owned()];
    for (lp, key) in [(S1_TRY, "S1 try_acquire+drop"), (S1_ACQ, "S1 acquire+drop")] {
        let v = med(&samples, lp);
        report.targets.push(Target::at_most(key, "ns/op", v, 100.0));
        report.targets.push(Target::ratio_at_most(
            key,
            &format!("<= 2x {S1_SEM}"),
            v / med(&samples, S1_SEM),
            2.0,
        ));
        report.targets.push(Target::ratio_at_most(
            key,
            &format!("faster than {S1_DP} (ratio < 1)"),
            v / med(&samples, S1_DP),
            1.0,
        ));
    }
    report.groups.push(Group {
        id: "S1",
        title: "acquire + release, uncontended, no work".into(),
        unit: "ns/op",
        better: Better::Lower,
        samples,
        notes,
        comparisons: vec![
            Comparison::new("S1 try_acquire+drop", S1_TRY, &peers(S1_PY_TRY)),
            Comparison::new("S1 acquire+drop", S1_ACQ, &peers(S1_PY_ACQ)),
        ],
        chart: false,
        runs: None,
    });
}

fn med(samples: &Samples, name: &str) -> f64 {
    samples.get(name).map_or(f64::NAN, |s| s.median())
}

// ---------------------------------------------------------------------------
// S2: one lease per tiny job
// ---------------------------------------------------------------------------

const S2_LP: &str = "leasepool lease per job";
const S2_LP_ASYNC_STD: &str = "leasepool lease per job (async-std)";
const S2_LP_SMOL: &str = "leasepool lease per job (smol)";
const S2_SB: &str = "tokio spawn_blocking";
const S2_SEM_SB: &str = "tokio Semaphore(8)+spawn_blocking";
const S2_DP: &str = "deadpool emulated lease (4 x 2 threads)";
const S2_UNBLOCK: &str = "blocking::unblock";
const S2_RAW: &str = "raw floor (8 threads + oneshot)";
const S2_RAW4: &str = "raw floor, 4 in flight (4 x 2 threads + oneshot)";
const S2_PY: &str = "python leasepool 0.1.3";

fn s2_leasepool<R: Runtime + Default, E: Exec>(exec: &E, b: &Budget) -> f64 {
    exec.block_on(async {
        let m = manager::<R>(4, 2).await;
        let v = throughput(exec, TASKS, b.run, false, |i, ctl| {
            let m = m.clone();
            async move {
                let mut n = 0;
                while !ctl.stopped() {
                    let lease = m.acquire().await.expect("acquire");
                    black_box(lease.run(move || tiny(i)).await.expect("job"));
                    drop(lease);
                    n += 1;
                }
                n
            }
        })
        .await;
        m.stop().await;
        v
    })
}

fn s2_spawn_blocking(b: &Budget, sem: Option<usize>) -> f64 {
    let rt = Tokio::new();
    let sem = sem.map(|n| Arc::new(Semaphore::new(n)));
    rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| {
        let sem = sem.clone();
        async move {
            let mut n = 0;
            while !ctl.stopped() {
                let permit = match &sem {
                    Some(s) => Some(s.acquire().await.expect("open")),
                    None => None,
                };
                black_box(tokio::task::spawn_blocking(move || tiny(i)).await.expect("job"));
                drop(permit);
                n += 1;
            }
            n
        }
    }))
}

fn s2_deadpool(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = deadpool_executors(4, 2, "dp");
    let v = rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| {
        let pool = pool.clone();
        async move {
            let mut n = 0;
            while !ctl.stopped() {
                let executor = pool.get().await.expect("open");
                black_box(executor.submit(move || tiny(i)).await.expect("job"));
                drop(executor);
                n += 1;
            }
            n
        }
    }));
    drop(rt);
    drop(pool);
    v
}

fn s2_unblock(b: &Budget) -> f64 {
    let rt = Tokio::new();
    rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| async move {
        let mut n = 0;
        while !ctl.stopped() {
            black_box(blocking::unblock(move || tiny(i)).await);
            n += 1;
        }
        n
    }))
}

fn s2_raw(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = Arc::new(LitePool::new(8, "raw"));
    let v = rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| {
        let pool = Arc::clone(&pool);
        async move {
            let mut n = 0;
            while !ctl.stopped() {
                black_box(pool.submit(move || tiny(i)).await.expect("job"));
                n += 1;
            }
            n
        }
    }));
    drop(rt);
    v
}

/// S2's concurrency without leases: a lease per job on 4 pools admits 4
/// jobs in flight, so 4 tasks each keep one job in flight on a 2-thread
/// pool of their own. What is left of S2's time is the executors' hand-off.
fn s2_raw4(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pools: Arc<Vec<LitePool>> = Arc::new((0..4).map(|i| LitePool::new(2, &format!("raw{i}"))).collect());
    let v = rt.block_on(throughput(&rt, 4, b.run, false, |i, ctl| {
        let pools = Arc::clone(&pools);
        async move {
            let pool = &pools[i];
            let mut n = 0;
            while !ctl.stopped() {
                black_box(pool.submit(move || tiny(i)).await.expect("job"));
                n += 1;
            }
            n
        }
    }));
    drop(rt);
    v
}

pub(crate) fn s2(b: &Budget, dog: &Watchdog, reps: usize, py: &Python, report: &mut Report) {
    let secs = b.run.as_secs_f64();
    let impls = vec![
        Impl::new(S2_LP, || s2_leasepool::<TokioRt, _>(&Tokio::new(), b)),
        Impl::new(S2_SB, || s2_spawn_blocking(b, None)),
        Impl::new(S2_SEM_SB, || s2_spawn_blocking(b, Some(8))),
        Impl::new(S2_DP, || s2_deadpool(b)),
        Impl::new(S2_UNBLOCK, || s2_unblock(b)),
        Impl::new(S2_RAW, || s2_raw(b)),
        Impl::new(S2_RAW4, || s2_raw4(b)),
        Impl::fallible(S2_PY, || py.run("s2", secs, &[])),
        Impl::new(S2_LP_ASYNC_STD, || s2_leasepool::<AsyncStdRt, _>(&AsyncStd, b)),
        Impl::new(S2_LP_SMOL, || s2_leasepool::<SmolRt, _>(&Smol, b)),
    ];
    let samples = interleave("S2", reps, impls, dog);
    let lp = med(&samples, S2_LP);
    report.targets.push(Target::at_least("S2 lease per job (tokio)", "jobs/s", lp, 500_000.0));
    report.targets.push(Target::ratio_at_least(
        "S2 lease per job (tokio)",
        &format!(">= 2x {S2_DP}"),
        lp / med(&samples, S2_DP),
        2.0,
    ));
    report.targets.push(Target::ratio_at_least(
        "S2 lease per job (tokio)",
        ">= 70x python leasepool 0.1.3",
        lp / med(&samples, S2_PY),
        70.0,
    ));
    for (name, key) in
        [(S2_LP_ASYNC_STD, "S2 lease per job (async-std)"), (S2_LP_SMOL, "S2 lease per job (smol)")]
    {
        report.targets.push(Target::at_least(key, "jobs/s", med(&samples, name), 500_000.0));
    }
    let peers: Vec<String> = [S2_SB, S2_SEM_SB, S2_DP, S2_UNBLOCK, S2_RAW, S2_RAW4, S2_PY]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut notes = vec![
        "64 tasks, each: acquire a lease, run x + 1 on it, release; peers do the same hand-off their way"
            .into(),
        "async-std and smol rows: leasepool only (the peers are tokio-only), 2 executor threads each".into(),
        format!(
            "\"{S2_RAW4}\": 4 tasks, each with one job in flight on a pool of its own and no lease, \
             the concurrency a lease per job on 4 pools allows"
        ),
    ];
    if !py.available() {
        notes.push(format!("python skipped: {}", py.reason()));
    }
    report.groups.push(Group {
        id: "S2",
        title: "one lease per tiny job (x + 1), 64 concurrent tasks".into(),
        unit: "jobs/s",
        better: Better::Higher,
        samples,
        notes,
        comparisons: vec![
            Comparison::new("S2 lease per job (tokio)", S2_LP, &peers),
            Comparison::new("S2 lease per job (async-std)", S2_LP_ASYNC_STD, &[]),
            Comparison::new("S2 lease per job (smol)", S2_LP_SMOL, &[]),
        ],
        chart: true,
        runs: None,
    });
}

// ---------------------------------------------------------------------------
// S3: many tiny jobs through leases held for many jobs
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// S4: the grinder, tiny jobs
// ---------------------------------------------------------------------------

const S4_LP: &str = "leasepool grinder (64 tasks x 16 in flight)";
const S4_LP_ONE: &str = "leasepool grinder (64 tasks x 1 in flight)";
const S4_LP_ASYNC_STD: &str = "leasepool grinder, 64 x 16 (async-std)";
const S4_LP_SMOL: &str = "leasepool grinder, 64 x 16 (smol)";
const S4_RAW: &str = "raw floor (8 threads + oneshot), 64 x 16";
const S4_SB: &str = "tokio spawn_blocking, 64 x 16";
const S4_PY: &str = "python grinder 0.1.3 (64 x 16)";

async fn grinder<R: Runtime + Default>(
    m: &LeasedExecutorManager<R>,
    threshold: usize,
    concurrent: usize,
) -> WorkGrinder<R> {
    let g = WorkGrinder::builder(m)
        .batch_size_threshold(threshold)
        .max_wait(Duration::from_millis(1))
        .max_concurrent_batches(concurrent)
        .build()
        .expect("valid grinder config");
    g.start().await;
    g
}

fn s4_leasepool<R: Runtime + Default, E: Exec>(exec: &E, b: &Budget, window: usize) -> f64 {
    exec.block_on(async {
        let m = manager::<R>(4, 2).await;
        let g = grinder(&m, 256, 4).await;
        let v = windowed(exec, b, window, || {
            let g = g.clone();
            // `submit` spelled out (queue now, await the handle later): the
            // future `submit` returns borrows `g`, so this closure could not
            // return it.
            move |i| {
                let job = g.enqueue(move || tiny(i));
                async move { job.expect("enqueue").await.expect("job") }
            }
        })
        .await;
        g.stop(leasepool::StopMode::Drain).await;
        m.stop().await;
        v
    })
}

/// 64 tasks x `window` in flight through `submit`.
async fn windowed<E, S, Fut, T>(exec: &E, b: &Budget, window: usize, make: impl Fn() -> S) -> f64
where
    E: Exec,
    S: FnMut(usize) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    throughput(exec, TASKS, b.run, false, |i, ctl| {
        let mut submit = make();
        async move {
            let mut n = 0;
            let mut in_flight = VecDeque::with_capacity(window);
            while !ctl.stopped() {
                if in_flight.len() == window {
                    black_box(in_flight.pop_front().expect("non-empty").await);
                    n += 1;
                }
                in_flight.push_back(submit(i));
            }
            for f in in_flight {
                black_box(f.await);
                n += 1;
            }
            n
        }
    })
    .await
}

fn s4_raw(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = Arc::new(LitePool::new(8, "raw"));
    let v = rt.block_on(windowed(&rt, b, S4_WINDOW, || {
        let pool = Arc::clone(&pool);
        move |i| pool.submit(move || tiny(i))
    }));
    drop(rt);
    v
}

fn s4_spawn_blocking(b: &Budget) -> f64 {
    let rt = Tokio::new();
    rt.block_on(windowed(&rt, b, S4_WINDOW, || |i| tokio::task::spawn_blocking(move || tiny(i))))
}

pub(crate) fn s4(b: &Budget, dog: &Watchdog, reps: usize, py: &Python, report: &mut Report) {
    let secs = b.run.as_secs_f64();
    let window = S4_WINDOW.to_string();
    let impls = vec![
        Impl::new(S4_LP, || s4_leasepool::<TokioRt, _>(&Tokio::new(), b, S4_WINDOW)),
        Impl::new(S4_LP_ONE, || s4_leasepool::<TokioRt, _>(&Tokio::new(), b, 1)),
        Impl::new(S4_RAW, || s4_raw(b)),
        Impl::new(S4_SB, || s4_spawn_blocking(b)),
        Impl::fallible(S4_PY, || py.run("s4", secs, &[("--window", &window)])),
        Impl::new(S4_LP_ASYNC_STD, || s4_leasepool::<AsyncStdRt, _>(&AsyncStd, b, S4_WINDOW)),
        Impl::new(S4_LP_SMOL, || s4_leasepool::<SmolRt, _>(&Smol, b, S4_WINDOW)),
    ];
    let samples = interleave("S4", reps, impls, dog);
    let lp = med(&samples, S4_LP);
    report.targets.push(Target::at_least("S4 grinder (tokio)", "jobs/s", lp, 1_000_000.0));
    report.targets.push(Target::ratio_at_least(
        "S4 grinder (tokio)",
        ">= 30x the python grinder",
        lp / med(&samples, S4_PY),
        30.0,
    ));
    for (name, key) in [(S4_LP_ASYNC_STD, "S4 grinder (async-std)"), (S4_LP_SMOL, "S4 grinder (smol)")] {
        report.targets.push(Target::at_least(key, "jobs/s", med(&samples, name), 1_000_000.0));
    }
    let mut notes = vec![
        "grinder: batch_size_threshold 256, max_wait 1 ms, max_concurrent_batches 4; each of the 64 tasks keeps \
         16 submit futures in flight (64 x 16 = 4 full batches)"
            .into(),
        "the 1-in-flight row shows why: 64 pending items never reach the 256 threshold, so every batch waits \
         the 1 ms max_wait (ceiling ~64 items/ms)"
            .into(),
        "python's WorkGrinder 0.1.3 runs one batch at a time (no max_concurrent_batches)".into(),
    ];
    if !py.available() {
        notes.push(format!("python skipped: {}", py.reason()));
    }
    report.groups.push(Group {
        id: "S4",
        title: "WorkGrinder, tiny jobs, 64 submitting tasks".into(),
        unit: "jobs/s",
        better: Better::Higher,
        samples,
        notes,
        comparisons: vec![
            Comparison::new(
                "S4 grinder (tokio)",
                S4_LP,
                &[S4_RAW.to_owned(), S4_SB.to_owned(), S4_PY.to_owned()],
            ),
            Comparison::new("S4 grinder, 1 in flight (tokio)", S4_LP_ONE, &[]),
            Comparison::new("S4 grinder (async-std)", S4_LP_ASYNC_STD, &[]),
            Comparison::new("S4 grinder (smol)", S4_LP_SMOL, &[]),
        ],
        chart: true,
        runs: None,
    });
}

// ---------------------------------------------------------------------------
// S5: 1 ms sleeping jobs, utilisation of 8 workers
// ---------------------------------------------------------------------------

const S5_LP: &str = "leasepool lease per job (8 pools x 1 worker)";
const S5_LP2: &str = "leasepool lease per 2 jobs (4 pools x 2 workers)";
const S5_GR: &str = "leasepool grinder (4 x 2, threshold 32, 4 batches)";
const S5_SEM_SB: &str = "tokio Semaphore(8)+spawn_blocking";
const S5_RAW: &str = "raw floor (8 threads + oneshot)";
/// Worker-nanoseconds in one second of 8 workers.
const S5_CAPACITY_NS_PER_SEC: f64 = 8.0 * 1e9;

/// Busy worker-ns per second (the tasks sum what their jobs measured) as a
/// percentage of what 8 workers offer.
fn to_utilisation(busy_ns_per_sec: f64) -> f64 {
    100.0 * busy_ns_per_sec / S5_CAPACITY_NS_PER_SEC
}

fn s5_lease(b: &Budget, pools: usize, per_lease: usize) -> f64 {
    let rt = Tokio::new();
    let v = rt.block_on(async {
        let m = manager::<TokioRt>(pools, 8 / pools).await;
        let v = throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
            let m = m.clone();
            async move {
                let mut busy = 0;
                while !ctl.stopped() {
                    let lease = m.acquire().await.expect("acquire");
                    if ctl.stopped() {
                        break;
                    }
                    let handles: Vec<_> =
                        (0..per_lease).map(|_| lease.submit(sleep_1ms).expect("submit")).collect();
                    for h in handles {
                        let ns = h.await.expect("job");
                        if ctl.in_time() {
                            busy += ns;
                        }
                    }
                    drop(lease);
                }
                busy
            }
        })
        .await;
        m.stop().await;
        v
    });
    to_utilisation(v)
}

fn s5_grinder(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let v = rt.block_on(async {
        let m = manager::<TokioRt>(4, 2).await;
        let g = grinder(&m, 32, 4).await;
        let v = throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
            let g = g.clone();
            async move {
                let mut busy = 0;
                let mut in_flight = VecDeque::with_capacity(4);
                while !ctl.stopped() {
                    in_flight.push_back(g.submit(sleep_1ms));
                    if in_flight.len() >= 4 {
                        let f = in_flight.pop_front().expect("non-empty");
                        let ns = f.await.expect("job");
                        if ctl.in_time() {
                            busy += ns;
                        }
                    }
                }
                drop(in_flight); // withdraws what has not started
                busy
            }
        })
        .await;
        g.stop(leasepool::StopMode::CancelPending).await;
        m.stop().await;
        v
    });
    to_utilisation(v)
}

fn s5_semaphore(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let sem = Arc::new(Semaphore::new(8));
    to_utilisation(rt.block_on(throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
        let sem = Arc::clone(&sem);
        async move {
            let mut busy = 0;
            while !ctl.stopped() {
                let permit = sem.acquire().await.expect("open");
                let ns = tokio::task::spawn_blocking(sleep_1ms).await.expect("job");
                drop(permit);
                if ctl.in_time() {
                    busy += ns;
                }
            }
            busy
        }
    })))
}

fn s5_raw(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = Arc::new(LitePool::new(8, "raw"));
    let v = rt.block_on(throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
        let pool = Arc::clone(&pool);
        async move {
            let mut busy = 0;
            while !ctl.stopped() {
                let ns = pool.submit(sleep_1ms).await.expect("job");
                if ctl.in_time() {
                    busy += ns;
                }
            }
            busy
        }
    }));
    drop(rt);
    to_utilisation(v)
}

pub(crate) fn s5(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let impls = vec![
        Impl::new(S5_LP, || s5_lease(b, 8, 1)),
        Impl::new(S5_LP2, || s5_lease(b, 4, 2)),
        Impl::new(S5_GR, || s5_grinder(b)),
        Impl::new(S5_SEM_SB, || s5_semaphore(b)),
        Impl::new(S5_RAW, || s5_raw(b)),
    ];
    let samples = interleave("S5", reps, impls, dog);
    // What one "1 ms" job really lasts here, for the notes.
    let real_us = (0..100).map(|_| sleep_1ms()).sum::<u64>() as f64 / 100.0 / 1e3;
    report.targets.push(Target::at_least("S5 lease per job", "% busy", med(&samples, S5_LP), 90.0));
    report.targets.push(Target::at_least("S5 grinder", "% busy", med(&samples, S5_GR), 90.0));
    let peers = vec![S5_SEM_SB.to_owned(), S5_RAW.to_owned()];
    report.groups.push(Group {
        id: "S5",
        title: "1 ms sleeping jobs, 64 tasks, 8 workers: utilisation (% of worker time spent in jobs)".into(),
        unit: "% busy",
        better: Better::Higher,
        samples,
        notes: vec![
            "utilisation = time the jobs finished before the deadline measured themselves running \
             / (8 workers x run time)"
                .into(),
            format!(
                "measured, not counted, because std::thread::sleep(1 ms) lasts {real_us:.0} us here (timer \
                 slack, wake-up): counting 1 ms per job would cap every dispatcher below 100%"
            ),
            "lease per job: 8 pools x 1 worker, the configuration for one job at a time per lease (on \
             4 x 2 a lone job leaves its pool's second worker idle: 50% at most)"
                .into(),
            "grinder: threshold 32 (a batch = 16 ms on 2 workers), max_wait 1 ms, max_concurrent_batches 4, \
             4 in flight per task"
                .into(),
        ],
        comparisons: vec![
            Comparison::new("S5 lease per job", S5_LP, &peers),
            Comparison::new("S5 lease per 2 jobs", S5_LP2, &peers),
            Comparison::new("S5 grinder", S5_GR, &peers),
        ],
        chart: true,
        runs: None,
    });
}

// ---------------------------------------------------------------------------
// S6: waiter scaling
// ---------------------------------------------------------------------------

/// Waiting-task counts compared.
const S6_SMALL: usize = 10;
const S6_LARGE: usize = 10_000;

/// Common S6 shape, in steady state: `n` tasks loop "take the only permit,
/// give it back", so about `n - 1` are always queued. The permit is held
/// while the tasks are spawned and queue up (untimed); then it is released
/// and the tasks churn for `dur`. Returns ns per grant: `dur` over the
/// grants completed before the deadline.
async fn s6_churn<H>(
    rt: &Tokio,
    n: usize,
    dur: Duration,
    hold: impl Future<Output = H>,
    take_one: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
    queued: impl Fn(usize) -> bool,
) -> f64 {
    let held = hold.await;
    let take_one = Arc::new(take_one);
    let started = Arc::new(AtomicUsize::new(0));
    // Set just before the permit is released; the deadline follows it.
    let ctl: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (take_one, started, ctl) = (Arc::clone(&take_one), Arc::clone(&started), Arc::clone(&ctl));
            rt.0.spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let mut grants = 0u64;
                let mut deadline = None;
                loop {
                    take_one().await;
                    let now = Instant::now();
                    let d = *deadline.get_or_insert_with(|| {
                        ctl.lock().unwrap_or_else(PoisonError::into_inner).expect("released after start")
                    });
                    if now > d {
                        return grants;
                    }
                    grants += 1;
                }
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < n || !queued(n) {
        tokio::task::yield_now().await;
    }
    *ctl.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + dur);
    drop(held);
    let mut grants = 0;
    for h in handles {
        grants += h.await.expect("task");
    }
    dur.as_nanos() as f64 / grants.max(1) as f64
}

fn s6_leasepool(n: usize, dur: Duration) -> f64 {
    let rt = Tokio::new();
    rt.block_on(async {
        let m = manager::<TokioRt>(1, 1).await;
        let (m1, m2) = (m.clone(), m.clone());
        let v = s6_churn(
            &rt,
            n,
            dur,
            async move { m1.acquire().await.expect("acquire") },
            move || {
                let m = m2.clone();
                Box::pin(async move { drop(m.acquire().await.expect("acquire")) })
            },
            |n| m.waiting_count() >= n,
        )
        .await;
        m.stop().await;
        v
    })
}

/// The peers do not expose their queue length; `started` (checked by
/// s6_churn) counts tasks that reached their first acquire, and a short
/// pause lets the last of them enqueue.
fn settle(_: usize) -> bool {
    std::thread::sleep(Duration::from_millis(2));
    true
}

fn s6_semaphore(n: usize, dur: Duration) -> f64 {
    let rt = Tokio::new();
    let sem = Arc::new(Semaphore::new(1));
    let s2 = Arc::clone(&sem);
    rt.block_on(s6_churn(
        &rt,
        n,
        dur,
        Arc::clone(&sem).acquire_owned(),
        move || {
            let s = Arc::clone(&s2);
            Box::pin(async move { drop(s.acquire().await.expect("open")) })
        },
        settle,
    ))
}

fn s6_deadpool(n: usize, dur: Duration) -> f64 {
    let rt = Tokio::new();
    let pool = deadpool::unmanaged::Pool::from(vec![()]);
    let (p1, p2) = (pool.clone(), pool.clone());
    rt.block_on(s6_churn(
        &rt,
        n,
        dur,
        async move { p1.get().await.expect("open") },
        move || {
            let p = p2.clone();
            Box::pin(async move { drop(p.get().await.expect("open")) })
        },
        settle,
    ))
}

const S6_LP_SMALL: &str = "leasepool, 10 waiting";
const S6_LP_LARGE: &str = "leasepool, 10000 waiting";
const S6_SEM_SMALL: &str = "tokio Semaphore(1), 10 waiting";
const S6_SEM_LARGE: &str = "tokio Semaphore(1), 10000 waiting";
const S6_DP_SMALL: &str = "deadpool unmanaged (1 object), 10 waiting";
const S6_DP_LARGE: &str = "deadpool unmanaged (1 object), 10000 waiting";

pub(crate) fn s6(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let d = b.run;
    let impls = vec![
        Impl::new(S6_LP_SMALL, || s6_leasepool(S6_SMALL, d)),
        Impl::new(S6_LP_LARGE, || s6_leasepool(S6_LARGE, d)),
        Impl::new(S6_SEM_SMALL, || s6_semaphore(S6_SMALL, d)),
        Impl::new(S6_SEM_LARGE, || s6_semaphore(S6_LARGE, d)),
        Impl::new(S6_DP_SMALL, || s6_deadpool(S6_SMALL, d)),
        Impl::new(S6_DP_LARGE, || s6_deadpool(S6_LARGE, d)),
    ];
    let samples = interleave("S6", reps, impls, dog);
    let lp_ratio = med(&samples, S6_LP_LARGE) / med(&samples, S6_LP_SMALL);
    let sem_ratio = med(&samples, S6_SEM_LARGE) / med(&samples, S6_SEM_SMALL);
    let dp_ratio = med(&samples, S6_DP_LARGE) / med(&samples, S6_DP_SMALL);
    report.targets.push(Target::at_most("S6 cost per grant, 10000 / 10 waiting", "x", lp_ratio, 1.5));
    report.extra_rows.push(crate::report::Row {
        scenario: "S6 scaling 10000/10 waiting".into(),
        leasepool: lp_ratio,
        peer: "tokio Semaphore(1)".into(),
        peer_value: sem_ratio,
        ratio: sem_ratio / lp_ratio,
        unit: "x".into(),
    });
    report.extra_rows.push(crate::report::Row {
        scenario: "S6 scaling 10000/10 waiting".into(),
        leasepool: lp_ratio,
        peer: "deadpool unmanaged".into(),
        peer_value: dp_ratio,
        ratio: dp_ratio / lp_ratio,
        unit: "x".into(),
    });
    report.groups.push(Group {
        id: "S6",
        title: "waiter scaling: cost per grant with 10 vs 10,000 tasks waiting on one pool".into(),
        unit: "ns/grant",
        better: Better::Lower,
        samples,
        notes: vec![
            format!(
                "max_pools 1 (workers_per_pool 1); steady state: each of the N tasks loops acquire + release, so \
                 about N - 1 are queued at every grant; {:.0} ms per run, ns per grant = run time / grants \
                 (spawning and queueing the tasks is not timed)",
                d.as_secs_f64() * 1e3
            ),
            format!(
                "scaling ratio (10000 / 10): leasepool {lp_ratio:.2}, tokio Semaphore {sem_ratio:.2}, \
                 deadpool {dp_ratio:.2}"
            ),
        ],
        comparisons: vec![
            Comparison::new(
                "S6 per grant, 10 waiting",
                S6_LP_SMALL,
                &[S6_SEM_SMALL.into(), S6_DP_SMALL.into()],
            ),
            Comparison::new(
                "S6 per grant, 10000 waiting",
                S6_LP_LARGE,
                &[S6_SEM_LARGE.into(), S6_DP_LARGE.into()],
            ),
        ],
        chart: false,
        runs: None,
    });
}

// ---------------------------------------------------------------------------
// S7: the sans-IO core
// ---------------------------------------------------------------------------

fn s7_pass(b: &Budget, live: usize) -> f64 {
    let (mut core, now) = core_with_leases(10_000, 1, live);
    calibrate_sync(b.ns_sample, |n| {
        let t = Instant::now();
        for _ in 0..n {
            core.notify_scale_changed(now);
            core.handle_timeout(now);
            if let Some(due) = core.check_due(now) {
                core.handle_units(now, due, black_box(0));
            }
            while let Some(a) = core.poll_action() {
                black_box(a);
            }
        }
        t.elapsed()
    })
}

fn s7_poll_timeout(b: &Budget, live: usize) -> f64 {
    let (core, _) = core_with_leases(10_000, 1, live);
    calibrate_sync(b.ns_sample, |n| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(black_box(&core).poll_timeout());
        }
        t.elapsed()
    })
}

const S7_PASS_SMALL: &str = "checker pass, 10 live leases";
const S7_PASS_LARGE: &str = "checker pass, 10000 live leases";
const S7_POLL_SMALL: &str = "poll_timeout, 10 live leases";
const S7_POLL_LARGE: &str = "poll_timeout, 10000 live leases";

pub(crate) fn s7(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let impls = vec![
        Impl::new(S7_PASS_SMALL, || s7_pass(b, 10)),
        Impl::new(S7_PASS_LARGE, || s7_pass(b, 10_000)),
        Impl::new(S7_POLL_SMALL, || s7_poll_timeout(b, 10)),
        Impl::new(S7_POLL_LARGE, || s7_poll_timeout(b, 10_000)),
    ];
    let samples = interleave("S7", reps, impls, dog);
    let pass = med(&samples, S7_PASS_LARGE) / med(&samples, S7_PASS_SMALL);
    let poll = med(&samples, S7_POLL_LARGE) / med(&samples, S7_POLL_SMALL);
    report.targets.push(Target::at_most("S7 checker pass, 10000 / 10 leases", "x", pass, 3.0));
    report.targets.push(Target::at_most("S7 poll_timeout, 10000 / 10 leases", "x", poll, 3.0));
    report.groups.push(Group {
        id: "S7",
        title: "leasepool-core: checker pass and poll_timeout vs live leases (max_pools 10,000)".into(),
        unit: "ns/op",
        better: Better::Lower,
        samples,
        notes: vec![
            "checker pass = notify_scale_changed(now) + handle_timeout(now, || 0) + draining poll_action; \
             no runtime, no peers (the peers have no such state machine)"
                .into(),
            format!("ratio 10000 / 10: checker pass {pass:.2}, poll_timeout {poll:.2}"),
        ],
        comparisons: vec![
            Comparison::new("S7 checker pass, 10 leases", S7_PASS_SMALL, &[]),
            Comparison::new("S7 checker pass, 10000 leases", S7_PASS_LARGE, &[]),
            Comparison::new("S7 poll_timeout, 10 leases", S7_POLL_SMALL, &[]),
            Comparison::new("S7 poll_timeout, 10000 leases", S7_POLL_LARGE, &[]),
        ],
        chart: false,
        runs: None,
    });
}

// ---------------------------------------------------------------------------
// S10: acquire latency while the manager scales up
// ---------------------------------------------------------------------------

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
                samples.series.push(Series { name: series(name), values: runs.iter().map(value).collect() });
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
