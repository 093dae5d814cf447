//! The process backend end to end, on every enabled runtime: typed jobs,
//! revocation and stop that kill the worker process (and reap it), crashes
//! and limits as typed errors, malformed replies, worker set-up failure,
//! the grinder, and log forwarding.
//!
//! The worker processes are this test binary, re-executed to run only the
//! test `worker_entry` (which calls `leasepool::process::init`, and in a
//! worker never returns), or only `rogue_entry`, a worker that breaks the
//! protocol on request; `orphan_entry` re-executes it as a parent that
//! dies. Every test runs under the watchdog; nothing
//! waits on a bare sleep; no test asserts a speed, except the bound on the
//! time from hard expiry to the worker process being gone, which is part
//! of the promise.

#![cfg(all(
    unix,
    feature = "process",
    any(
        feature = "runtime-tokio",
        feature = "runtime-smol",
        feature = "runtime-async-std",
        feature = "runtime-threads"
    )
))]

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod crashes;
mod jobs;
mod kills;
mod logs;
#[cfg(target_os = "linux")]
mod orphans;
mod rogue;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use leasepool::Runtime;
use leasepool::driver::Builder;
use leasepool::process::{ProcessConfig, ProcessManager};

/// Instantiates the listed generic tests for every enabled runtime.
macro_rules! process_tests {
    ($($test:ident),* $(,)?) => {
        per_runtime!(crate::common::watchdog => $($test),*);
    };
}
pub(crate) use process_tests;

/// The worker processes' entry: a no-op in the test run itself.
#[test]
fn worker_entry() {
    leasepool::process::init(jobs::registry());
}

/// A config whose workers are this binary's `worker_entry`.
pub(crate) fn config() -> ProcessConfig {
    ProcessConfig::new()
        .worker_args(["worker_entry", "--exact", "--nocapture", "--test-threads=1"])
        .kill_grace(Duration::from_millis(100))
}

/// A started process manager of `pools` pools of `workers` workers.
pub(crate) async fn manager<R: Runtime + Default>(
    workers: usize,
    config: ProcessConfig,
    tune: impl FnOnce(Builder<R>) -> Builder<R>,
) -> ProcessManager<R> {
    let builder = Builder::<R>::with_runtime(R::default()).max_pools(2).workers_per_pool(workers);
    let manager = tune(builder).build_process(config).expect("valid process config");
    manager.start().await.expect("start");
    manager
}

/// A fresh path in the temporary directory, for a worker to mark a moment
/// (a job or set-up started) with a file.
pub(crate) fn marker(what: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("leasepool-{what}-{}-{n}", std::process::id()))
}

/// Whether `pid` is gone: no `/proc/<pid>/stat` (Linux), or a process
/// there that is neither a zombie nor our child (the pid was reused).
pub(crate) fn is_gone(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        if cfg!(target_os = "linux") {
            return true;
        }
        // No procfs: ask the kernel whether the pid exists at all.
        return rustix_gone(pid);
    };
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let mut fields = after.split_whitespace();
    let state = fields.next().unwrap_or("?");
    let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    state != "Z" && ppid != std::process::id()
}

fn rustix_gone(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
}
