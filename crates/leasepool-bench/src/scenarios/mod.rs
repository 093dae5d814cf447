//! The benchmark scenarios S1..S13, one file each (S8 and S9 share the
//! code that runs the `leasepool-bench-mem` binary, below). `main.rs` runs
//! them in order through the functions re-exported here.
//!
//! S1-S7, S10 and S11 run in this process. S8 and S9 are measured by the
//! `leasepool-bench-mem` binary, whose counting allocator must not slow
//! the others down; their modules run it and report what it prints.
//!
//! Every implementation of a scenario gets a fresh runtime, manager and
//! peer executor per repetition; setup is never timed. Unless said
//! otherwise the runtime is tokio's multi-threaded one with 2 workers and
//! leasepool is 4 pools x 2 workers with `min_pools = 4`.

use std::future::Future;
use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leasepool::Runtime;
use leasepool::driver::{LeasedExecutorManager, WorkGrinder};

use crate::execs::Exec;
use crate::harness::{Samples, Series, run_command};
use crate::report::Group;

mod s10_scale_up;
mod s11_latency;
mod s12_process;
mod s13_metrics;
mod s1_acquire;
mod s2_lease_per_job;
mod s3_held;
mod s4_grinder;
mod s5_busy;
mod s6_waiters;
mod s7_core;
mod s8_alloc;
mod s9_memory;

pub(crate) use s1_acquire::s1;
pub(crate) use s2_lease_per_job::s2;
pub(crate) use s3_held::s3;
pub(crate) use s4_grinder::s4;
pub(crate) use s5_busy::s5;
pub(crate) use s6_waiters::s6;
pub(crate) use s7_core::s7;
pub(crate) use s8_alloc::s8;
pub(crate) use s9_memory::s9;
pub(crate) use s10_scale_up::s10;
pub(crate) use s11_latency::s11;
pub(crate) use s12_process::{init as process_init, s12};
pub(crate) use s13_metrics::measure;
pub(crate) use s13_metrics::s13;

type TokioRt = leasepool::tokio::TokioRuntime;
type SmolRt = leasepool::smol::SmolRuntime;
type AsyncStdRt = leasepool::async_std::AsyncStdRuntime;

/// Concurrent tasks in S2, S4 and S5.
const TASKS: usize = 64;

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

fn med(samples: &Samples, name: &str) -> f64 {
    samples.get(name).map_or(f64::NAN, |s| s.median())
}

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
    g.start().await.expect("start the grinder");
    g
}

// ---------------------------------------------------------------------------
// S8 / S9 through the sibling binary
// ---------------------------------------------------------------------------

struct MemLine {
    key: String,
    value: f64,
    unit: String,
    note: String,
}

/// Bound on one run of `leasepool-bench-mem` (each takes a second or two).
const MEM_TIMEOUT: Duration = Duration::from_secs(120);

fn mem(which: &str) -> Result<Vec<MemLine>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let sibling = exe.with_file_name(format!("leasepool-bench-mem{}", std::env::consts::EXE_SUFFIX));
    if !sibling.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p leasepool-bench --bins`",
            sibling.display()
        ));
    }
    let text =
        run_command(Command::new(&sibling).arg(which), MEM_TIMEOUT).map_err(|e| format!("{which}: {e}"))?;
    let lines: Vec<MemLine> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 5 && f[0] == "MEM").then(|| MemLine {
                key: f[1].into(),
                value: f[2].parse().unwrap_or(f64::NAN),
                unit: f[3].into(),
                note: f[4].into(),
            })
        })
        .collect();
    if lines.is_empty() { Err(format!("{which}: no MEM lines")) } else { Ok(lines) }
}

/// Runs `leasepool-bench-mem which` and records what it prints in `group`:
/// for each MEM line, `row` gives the series name and value, and the line
/// becomes the note `"{name}: {value} {unit} ({note})"` (its value as
/// printed) and a one-value series. A failed run is skipped under
/// `skip_as`. Prints a progress dot either way.
fn mem_into(group: &mut Group, which: &str, skip_as: &str, row: impl Fn(&MemLine) -> (&'static str, f64)) {
    match mem(which) {
        Ok(lines) => {
            for l in lines {
                let (name, value) = row(&l);
                group.notes.push(format!("{name}: {} {} ({})", l.value, l.unit, l.note));
                group.samples.series.push(Series::new(name, vec![value]));
            }
        }
        Err(e) => group.samples.skipped.push((skip_as.into(), e)),
    }
    eprint!(".");
}
