//! S8 (allocations) and S9 (memory) for `leasepool-bench`, in their own
//! binary: its counting global allocator (from `allocation-counter`, which
//! counts per thread) would otherwise slow every timed scenario down.
//!
//! `leasepool-bench-mem <measurement>` runs one measurement in a fresh
//! process (so resident-size deltas do not inherit another measurement's
//! freed-but-cached memory) and prints `MEM<TAB>key<TAB>value<TAB>unit<TAB>note`
//! lines. `leasepool-bench-mem list` prints the measurement names.
//!
//! * `s8-*`: allocations per steady-state cycle, counted on the thread that
//!   runs the cycle, after 1,000 warm-up cycles, over 10,000 cycles. On a
//!   current-thread tokio runtime every task (the checker included) runs on
//!   that thread, so nothing is missed; on the multi-threaded runtime only
//!   the caller's side is counted.
//! * `s9-idle-*`: VmRSS delta of an idle 4 pools x 4 workers manager (or 16
//!   parked peer threads in 4 groups) from before build to 200 ms after start;
//!   the baseline is taken after the runtime's workers have run (see
//!   `warm_up`).
//! * `s9-lease-core`: heap bytes per live lease in `leasepool-core` alone,
//!   10,000 leases on 10,000 pre-created pools (includes the slab and heap
//!   growth slack, amortised).
//! * `s9-lease-driver`: heap bytes per live lease through the async API,
//!   1,000 leases on a 1,000 pools x 1 worker manager whose pools exist
//!   before the leases are taken (10,000 pools would be 10,000 threads), plus
//!   the VmRSS per idle pool of that manager.

use std::future::IntoFuture;
use std::hint::black_box;
use std::time::Duration;

use allocation_counter::{AllocationInfo, measure};
use leasepool::tokio::{LeasedExecutorManager, TokioRuntime};
use leasepool_bench::{core_with_leases, deadpool_executors, take_leases, tokio_runtime};

const WARM_UP: usize = 1_000;
const CYCLES: usize = 10_000;

const MEASUREMENTS: [&str; 11] = [
    "s8-try-acquire-current-thread",
    "s8-acquire-current-thread",
    "s8-try-acquire-multi-thread",
    "s8-acquire-owner",
    "s8-run-job",
    "s8-semaphore",
    "s8-deadpool",
    "s9-idle-leasepool",
    "s9-idle-peer-threads",
    "s9-lease-core",
    "s9-lease-driver",
];

fn emit(key: &str, value: f64, unit: &str, note: &str) {
    println!("MEM\t{key}\t{value}\t{unit}\t{note}");
}

fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// [`leasepool_bench::manager`] on tokio.
async fn manager(pools: usize, workers: usize) -> LeasedExecutorManager {
    leasepool_bench::manager::<TokioRuntime>(pools, workers).await
}

/// Warm up, then count allocations of `CYCLES` cycles of `cycle`, all in
/// one `block_on` on `rt`.
fn per_cycle<F, Fut>(rt: &tokio::runtime::Runtime, mut cycle: F) -> AllocationInfo
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        for _ in 0..WARM_UP {
            cycle().await;
        }
    });
    // What `block_on` itself allocates (tokio may allocate once per call),
    // so that it is not charged to the cycles.
    let baseline = measure(|| {
        rt.block_on(async {
            for _ in 0..CYCLES {
                black_box(());
            }
        });
    });
    let mut info = measure(|| {
        rt.block_on(async {
            for _ in 0..CYCLES {
                cycle().await;
            }
        });
    });
    info.count_total = info.count_total.saturating_sub(baseline.count_total);
    info.bytes_total = info.bytes_total.saturating_sub(baseline.bytes_total);
    info
}

fn emit_allocs(key: &str, info: &AllocationInfo, note: &str) {
    let per = info.count_total as f64 / CYCLES as f64;
    let bytes = info.bytes_total as f64 / CYCLES as f64;
    emit(key, per, "allocs/op", &format!("{bytes:.1} bytes/op; {note}"));
}

fn s8(which: &str) {
    match which {
        "s8-try-acquire-current-thread" | "s8-acquire-current-thread" => {
            let rt = current_thread();
            let m = rt.block_on(manager(4, 2));
            let wait = which == "s8-acquire-current-thread";
            let info = per_cycle(&rt, || {
                let m = m.clone();
                async move {
                    let lease = if wait { m.acquire().await } else { m.try_acquire().await };
                    drop(black_box(lease.expect("a pool is free")));
                }
            });
            let what = if wait { "acquire().await" } else { "try_acquire().await" };
            emit_allocs(which, &info, &format!("{what} + drop, tokio current_thread: everything counted"));
            rt.block_on(m.stop());
        }
        "s8-try-acquire-multi-thread" => {
            let rt = tokio_runtime();
            let m = rt.block_on(manager(4, 2));
            let info = per_cycle(&rt, || {
                let m = m.clone();
                async move { drop(black_box(m.try_acquire().await.expect("a pool is free"))) }
            });
            emit_allocs(which, &info, "try_acquire + drop, tokio multi_thread: caller thread only");
            rt.block_on(m.stop());
        }
        "s8-acquire-owner" => {
            let rt = current_thread();
            let m = rt.block_on(manager(4, 2));
            let info = per_cycle(&rt, || {
                let m = m.clone();
                async move { drop(black_box(m.acquire().owner("importer").await.expect("a pool is free"))) }
            });
            emit_allocs(
                which,
                &info,
                "acquire().owner(\"importer\") + drop: the owner label becomes an Arc<str>",
            );
            rt.block_on(m.stop());
        }
        "s8-run-job" => {
            let rt = current_thread();
            let m = rt.block_on(manager(4, 2));
            let lease = rt.block_on(m.acquire().into_future()).expect("acquire");
            let info = per_cycle(&rt, || {
                let fut = lease.run(|| black_box(1) + 1);
                async move {
                    black_box(fut.await.expect("job"));
                }
            });
            emit_allocs(which, &info, "lease.run(x + 1) per job, submitting thread only (job box + oneshot)");
            drop(lease);
            rt.block_on(m.stop());
        }
        "s8-semaphore" => {
            let rt = current_thread();
            let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
            let info = per_cycle(&rt, || {
                let sem = std::sync::Arc::clone(&sem);
                async move { drop(black_box(sem.acquire_owned().await.expect("open"))) }
            });
            emit_allocs(which, &info, "tokio Semaphore acquire_owned + drop");
        }
        "s8-deadpool" => {
            let rt = current_thread();
            let pool = deadpool::unmanaged::Pool::from(vec![0u64; 4]);
            let info = per_cycle(&rt, || {
                let pool = pool.clone();
                async move { drop(black_box(pool.get().await.expect("open"))) }
            });
            emit_allocs(which, &info, "deadpool unmanaged get + drop");
        }
        _ => unreachable!(),
    }
}

/// Lets every runtime worker thread run tasks that allocate and sleep, so
/// that its first allocation (glibc gives each thread its own malloc arena)
/// and the timer are paid before the baseline, not charged to the manager.
fn warm_up(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(5 + i)).await;
                    black_box(vec![i; 64]).len()
                })
            })
            .collect();
        for t in tasks {
            black_box(t.await.expect("warm-up task"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
}

fn s9_idle_leasepool() {
    let rt = tokio_runtime();
    warm_up(&rt);
    let before = rss_kib();
    let mut m = None;
    let info = measure(|| m = Some(rt.block_on(manager(4, 4))));
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib();
    emit(
        "s9-idle-leasepool",
        after - before,
        "KiB",
        &format!(
            "VmRSS delta, 4 pools x 4 workers started and idle; {} bytes allocated by the starting thread",
            info.bytes_current
        ),
    );
    if let Some(m) = m {
        rt.block_on(m.stop());
    }
}

fn s9_idle_peer_threads() {
    let rt = tokio_runtime();
    warm_up(&rt);
    let before = rss_kib();
    let pool = deadpool_executors(4, 4, "peer-");
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib();
    emit(
        "s9-idle-peer-threads",
        after - before,
        "KiB",
        "VmRSS delta, deadpool of 4 x 4 channel-fed threads, idle",
    );
    drop(pool); // joins the threads
}

fn s9_lease_core() {
    const N: usize = 10_000;
    let (mut core, now) = core_with_leases(N, N, 0);
    let info = measure(|| take_leases(&mut core, now, N));
    emit(
        "s9-lease-core",
        info.bytes_current as f64 / N as f64,
        "bytes/lease",
        &format!(
            "leasepool-core only, {N} live leases on pre-created pools (amortised, growth slack included)"
        ),
    );
}

fn s9_lease_driver() {
    const POOLS: usize = 1_000;
    let rt = current_thread();
    let before = rss_kib();
    let m = rt.block_on(manager(POOLS, 1));
    std::thread::sleep(Duration::from_millis(300));
    let after_start = rss_kib();
    let mut leases = Vec::with_capacity(POOLS);
    let info = measure(|| {
        rt.block_on(async {
            for _ in 0..POOLS {
                leases.push(m.try_acquire().await.expect("a pool is free"));
            }
        });
    });
    let handle = std::mem::size_of::<leasepool::tokio::Lease>();
    emit(
        "s9-lease-driver",
        info.bytes_current as f64 / POOLS as f64,
        "bytes/lease",
        &format!(
            "heap per live lease through the async API, {POOLS} leases on a {POOLS} pools x 1 worker manager; \
             plus the {handle}-byte Lease handle itself"
        ),
    );
    emit(
        "s9-pool-rss",
        (after_start - before) / POOLS as f64,
        "KiB/pool",
        "VmRSS per idle pool of 1 worker thread (1,000 pools started)",
    );
    drop(leases);
    rt.block_on(m.stop());
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    match which.as_str() {
        "list" => {
            for m in MEASUREMENTS {
                println!("{m}");
            }
        }
        w if w.starts_with("s8-") && MEASUREMENTS.contains(&w) => s8(w),
        "s9-idle-leasepool" => s9_idle_leasepool(),
        "s9-idle-peer-threads" => s9_idle_peer_threads(),
        "s9-lease-core" => s9_lease_core(),
        "s9-lease-driver" => s9_lease_driver(),
        other => {
            eprintln!("leasepool-bench-mem: unknown measurement {other:?}; try `list`");
            std::process::exit(2);
        }
    }
}
