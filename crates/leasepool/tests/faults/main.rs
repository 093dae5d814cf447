//! The adversarial fault suite: cancellation storms, panics, stop under
//! load, expiry under load and hostile sizing, end to end on real threads,
//! on every enabled runtime.
//!
//! Each test is an `async fn name<R: Runtime + Default>()`, instantiated per
//! runtime by `faults!` (the shared `per_runtime!` macro of
//! `tests/common`, also behind the conformance suite): run it with
//! `cargo test -p leasepool --all-features --test faults` (add `-- smol::`
//! to pick one runtime, `--nocapture` to see the figures each test prints).
//!
//! Every test is
//! * **seeded**: it prints its seed(s) first, and again with a replay
//!   command if it fails; `LEASEPOOL_FAULT_SEED=<seed>[,<seed>...]` replays
//!   exactly those seeds (the event mix is replayed; thread interleavings
//!   are the OS's);
//! * **bounded**: a fixed number of events, every wait has a deadline, and
//!   the watchdog of `tests/common` fails a test that hangs;
//! * **self-stopping**: nothing waits for a human or an outside signal.
//!
//! **The tests of this binary run one at a time** ([`serial`]): some of
//! them count the process's OS threads (`/proc/self/task`) to prove that
//! every worker thread exits, and libtest runs the tests of one binary on
//! parallel threads of one process, so another test's pools would come and
//! go in the middle of the count. Running them serially also keeps the
//! timing-sensitive storms from starving each other on a small machine.
//! The conformance suite is a separate binary (a separate process), so it
//! is unaffected.

#![cfg(any(
    feature = "runtime-tokio",
    feature = "runtime-smol",
    feature = "runtime-async-std",
    feature = "runtime-threads"
))]

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use leasepool::driver::Lease;
use leasepool::{JobHandle, Runtime};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Instantiates the listed generic tests of the calling module for every
/// enabled runtime, each run [`serial`]ly under the watchdog.
macro_rules! faults {
    ($($test:ident),* $(,)?) => {
        per_runtime!(crate::serial => $($test),*);
    };
}

mod expiry;
mod panics;
mod shutdown;
mod sizing;
mod stop;
mod storm;

/// Runs one test body like [`common::serial`] (one test at a time, under
/// the watchdog: see the crate docs for why), failing it if it caused
/// unintended panics on threads it does not join.
pub(crate) fn serial(name: &'static str, body: impl FnOnce() + Send + 'static) {
    serial_for(common::TEST_LIMIT, name, body);
}

/// [`serial`] with a watchdog limit of its own (see `common::watchdog_for`).
pub(crate) fn serial_for(limit: Duration, name: &'static str, body: impl FnOnce() + Send + 'static) {
    let _turn = common::serial_turn();
    quiet_intended_panics();
    let panics = PanicCount::start();
    common::watchdog_for(limit, name, body);
    // A panic on a thread the test does not join (the checker task, a
    // worker thread outside a job) would otherwise go unnoticed.
    let unintended = panics.stop();
    assert_eq!(unintended, 0, "{name}: {unintended} unintended panic(s) on other threads (messages above)");
}

// ---- panics ---------------------------------------------------------------

/// In the message of every panic a test causes on purpose (jobs,
/// initializers, size providers): the panic hook neither prints nor counts
/// those, so hundreds of them neither flood the output nor pay for a
/// backtrace each under `RUST_BACKTRACE=1`.
pub(crate) const INTENDED: &str = "intended fault";

/// Panics other than intended ones, on any thread, since the hook was set.
static UNINTENDED_PANICS: AtomicUsize = AtomicUsize::new(0);

fn quiet_intended_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or_default();
            if message.contains(INTENDED) {
                return;
            }
            UNINTENDED_PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

/// Counts the unintended panics (any thread) from [`PanicCount::start`] to
/// [`PanicCount::stop`]; meaningful because the tests run one at a time.
struct PanicCount(usize);

impl PanicCount {
    fn start() -> Self {
        PanicCount(UNINTENDED_PANICS.load(Ordering::SeqCst))
    }

    fn stop(self) -> usize {
        UNINTENDED_PANICS.load(Ordering::SeqCst) - self.0
    }
}

// ---- seeds ----------------------------------------------------------------

/// The environment variable that replays seeds.
const SEED_VAR: &str = "LEASEPOOL_FAULT_SEED";

/// The seeds for one test: those in `LEASEPOOL_FAULT_SEED` (comma
/// separated, decimal or `0x` hex), else `fresh` random ones.
pub(crate) fn seeds(fresh: usize) -> Vec<u64> {
    match std::env::var(SEED_VAR) {
        Ok(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let parsed = match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                };
                parsed.unwrap_or_else(|e| panic!("{SEED_VAR}: `{s}` is not a u64 seed: {e}"))
            })
            .collect(),
        Err(_) => (0..fresh).map(|_| rand::random()).collect(),
    }
}

/// Announces a seed when created and, if the test panics while it lives,
/// says how to replay it.
pub(crate) struct SeedGuard {
    test: &'static str,
    seed: u64,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n*** {} failed with seed {}: replay with\n    {SEED_VAR}={} cargo test -p leasepool --all-features --test faults -- {}\n",
                self.test, self.seed, self.seed, self.test
            );
        }
    }
}

/// A seeded generator for `test`, and the guard that reports its seed.
pub(crate) fn seeded(test: &'static str, seed: u64) -> (StdRng, SeedGuard) {
    println!("{test}: seed {seed} (replay: {SEED_VAR}={seed})");
    (StdRng::seed_from_u64(seed), SeedGuard { test, seed })
}

// ---- load -----------------------------------------------------------------

/// A started manager of `pools` pools (at least one kept) of `workers`
/// workers each, named `{prefix}-...`, with every pool leased (by
/// `holder-{i}`).
pub(crate) async fn every_pool_leased<R: Runtime + Default>(
    pools: usize,
    workers: usize,
    prefix: &str,
) -> (common::Manager<R>, Vec<Lease<R>>) {
    let m = common::started(
        common::builder::<R>().max_pools(pools).min_pools(1).workers_per_pool(workers).name_prefix(prefix),
    )
    .await;
    let mut leases = Vec::new();
    for i in 0..pools {
        leases.push(m.try_acquire().owner(format!("holder-{i}")).await.expect("a free or new pool"));
    }
    (m, leases)
}

/// The jobs [`block_every_worker`] submitted.
pub(crate) struct Blocked {
    /// What the running jobs block on.
    pub(crate) gate: common::Gate,
    /// How many running jobs have got past the gate.
    pub(crate) finished: Arc<AtomicUsize>,
    /// The jobs blocked on the gate, lease by lease: the `i`th returns
    /// `i % workers`.
    pub(crate) running: Vec<JobHandle<usize>>,
    /// The jobs queued behind them, lease by lease.
    pub(crate) queued_jobs: Vec<JobHandle<usize>>,
}

/// Submits to every lease `workers` jobs that block on a gate (each counts
/// itself finished once past it and returns its index on the lease), then
/// `queued_per_lease` jobs behind them, and waits until every worker is
/// running a blocked job.
pub(crate) async fn block_every_worker<R: Runtime + Default>(
    leases: &[Lease<R>],
    workers: usize,
    queued_per_lease: usize,
) -> Blocked {
    let gate = common::Gate::default();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut running = Vec::new();
    let mut queued_jobs = Vec::new();
    for lease in leases {
        for j in 0..workers {
            let (gate, finished) = (gate.clone(), Arc::clone(&finished));
            let job = move || {
                gate.wait();
                finished.fetch_add(1, Ordering::SeqCst);
                j
            };
            running.push(lease.submit(job).unwrap());
        }
        for j in 0..queued_per_lease {
            queued_jobs.push(lease.submit(move || j).unwrap());
        }
    }
    common::eventually::<R>("every worker is running a blocked job", || {
        gate.entered() == leases.len() * workers
    })
    .await;
    Blocked { gate, finished, running, queued_jobs }
}

// ---- OS threads -----------------------------------------------------------

/// The names of this process's OS threads, from `/proc/self/task` (Linux;
/// `None` elsewhere). Names are truncated by the kernel to 15 bytes.
pub(crate) fn os_threads() -> Option<Vec<String>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(Result::ok)
            // A thread that exits between the listing and the read is gone.
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .map(|comm| comm.trim_end().to_owned())
            .collect(),
    )
}

/// Threads whose name starts with `{prefix}-` (worker threads are
/// `{prefix}-{pool}-{worker}`).
pub(crate) fn named(threads: &[String], prefix: &str) -> usize {
    let prefix = format!("{prefix}-");
    threads.iter().filter(|t| t.starts_with(&prefix)).count()
}

/// The thread count before a test builds its manager, or `None` (with a
/// message) where threads cannot be counted. First warms the runtime up
/// (its executor and timer threads start lazily on first use), so that the
/// baseline does not miss threads the runtime starts during the test.
pub(crate) async fn thread_baseline<R: Runtime + Default>(test: &str) -> Option<Vec<String>> {
    if os_threads().is_none() {
        println!("{test}: /proc/self/task is not available on this platform: OS thread counts skipped");
        return None;
    }
    let m =
        common::started(common::builder::<R>().max_pools(1).workers_per_pool(1).name_prefix("warmup")).await;
    let lease = m.acquire().await.expect("warm-up acquire");
    assert_eq!(lease.run(|| 1).await.expect("warm-up job"), 1);
    drop(lease);
    assert_eq!(common::spawn::<R, _>(async { 2 }).await, 2);
    common::sleep::<R>(Duration::from_millis(20)).await;
    m.stop().await;
    drop(m);
    common::eventually::<R>("warm-up worker threads exit", || {
        named(&os_threads().unwrap_or_default(), "warmup") == 0
    })
    .await;
    os_threads()
}

/// Waits (up to 10 s) until no thread named `{prefix}-...` is left and the
/// thread count is back to `baseline` or below; returns the final count.
pub(crate) async fn threads_back<R: Runtime + Default>(baseline: &[String], prefix: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = os_threads().expect("threads were countable at the baseline");
        if named(&now, prefix) == 0 && now.len() <= baseline.len() {
            return now.len();
        }
        if Instant::now() >= deadline {
            panic!(
                "threads not back to baseline within 10 s: {} now vs {} before; {} `{prefix}-` workers left; extra: {:?}",
                now.len(),
                baseline.len(),
                named(&now, prefix),
                extra_threads(baseline, &now)
            );
        }
        common::sleep::<R>(Duration::from_millis(5)).await;
    }
}

/// Thread names in `now` beyond those in `baseline` (as multisets).
fn extra_threads(baseline: &[String], now: &[String]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for name in baseline {
        *seen.entry(name).or_default() += 1;
    }
    let mut extra = Vec::new();
    for name in now {
        match seen.get_mut(name.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => extra.push(name.clone()),
        }
    }
    extra
}
