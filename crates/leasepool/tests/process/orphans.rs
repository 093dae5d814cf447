//! A parent that dies takes its worker processes with it, even one in the
//! middle of an endless job (Linux: `PR_SET_PDEATHSIG`). The parent here is
//! this test binary re-executed as `orphan_entry`, which starts an endless
//! job, writes its worker's pid to a file, and aborts.

use std::time::{Duration, Instant};

use leasepool::driver::Builder;
use leasepool_driver::testing::ThreadPerTask;

use crate::jobs::{Spin, WhoAmI};

/// Set to a file path: `orphan_entry` runs, and writes its worker's pid there.
const MARKER: &str = "LEASEPOOL_TEST_ORPHAN_MARKER";

/// The dying parent's entry: a no-op in the test run itself.
#[test]
fn orphan_entry() {
    let Some(marker) = std::env::var_os(MARKER) else { return };
    let manager = Builder::<ThreadPerTask>::with_runtime(ThreadPerTask)
        .max_pools(1)
        .workers_per_pool(1)
        .build_process(crate::config())
        .expect("valid");
    futures_executor::block_on(async {
        manager.start().await.expect("start");
        let lease = manager.acquire().await.expect("a lease");
        let pid = lease.run::<WhoAmI>(()).await.expect("its worker's pid");
        let started = std::path::PathBuf::from(&marker).with_extension("spinning");
        let _spinning = lease.submit::<Spin>(Some(started.clone())).expect("an endless job");
        let since = Instant::now();
        while !started.exists() && since.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::fs::write(&marker, pid.to_string()).expect("write the marker");
        std::process::abort();
    });
}

/// Whether `pid` is no longer a worker of this suite: no such process, a
/// zombie, or another program under a reused pid.
fn is_dead(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return true };
    let state = stat[stat.rfind(')').map_or(0, |i| i + 1)..].split_whitespace().next().unwrap_or("?");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    state == "Z" || !String::from_utf8_lossy(&cmdline).contains("worker_entry")
}

/// Not per runtime: the dying parent runs on plain threads.
#[test]
fn workers_die_with_their_parent() {
    crate::common::watchdog("orphans::workers_die_with_their_parent", workers_die_with_their_parent_body);
}

fn workers_die_with_their_parent_body() {
    let marker = std::env::temp_dir().join(format!("leasepool-orphan-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let status = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["orphans::orphan_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(MARKER, &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the dying parent");
    assert!(!status.success(), "the parent aborted: {status}");
    let pid: u32 = std::fs::read_to_string(&marker).expect("the worker's pid").parse().expect("a pid");
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(marker.with_extension("spinning"));
    let since = Instant::now();
    while !is_dead(pid) {
        assert!(since.elapsed() < Duration::from_secs(5), "worker {pid} outlived its parent");
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("worker process {pid} gone {:?} after its parent", since.elapsed());
}
