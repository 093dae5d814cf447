//! Counts and stats: what the manager can tell a dashboard or a log line.
//!
//! What it teaches:
//! * the cheap counters: `available_count`, `leased_count`, `total_count`
//!   (= available + leased), `waiting_count`, `desired_executor_count`,
//!   `is_running`;
//! * `stats()`: one snapshot with the configuration and, per live lease,
//!   its id, owner, pool, jobs in flight, whether it is draining, and the
//!   time left to soft and hard expiry (never negative);
//! * demand can push `total` above `desired` (up to `max_pools`); pools
//!   above `desired` are shut down when their leases come back.
//!
//! Run it with `cargo run --example stats_and_counts`, or on another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example stats_and_counts`.

use std::time::Duration;

use leasepool::Stats;

// The runtime this example runs on: tokio by default, or the one chosen with
// `--no-default-features --features runtime-smol` (or `runtime-async-std`).
// A program names its own: `leasepool::tokio` (also the crate root),
// `leasepool::smol` or `leasepool::async_std`.
#[cfg(not(any(feature = "runtime-tokio", feature = "runtime-smol", feature = "runtime-threads")))]
use leasepool::async_std as rt;
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
use leasepool::smol as rt;
#[cfg(all(feature = "runtime-threads", not(any(feature = "runtime-tokio", feature = "runtime-smol"))))]
use leasepool::threads as rt;
#[cfg(feature = "runtime-tokio")]
use leasepool::tokio as rt;
use rt::LeasedExecutorManager;

fn print_counts(label: &str, m: &LeasedExecutorManager) {
    println!(
        "{label}: running={} available={} leased={} total={} waiting={} desired={}",
        m.is_running(),
        m.available_count(),
        m.leased_count(),
        m.total_count(),
        m.waiting_count(),
        m.desired_executor_count()
    );
}

/// `(available, leased, total)`, to check what `print_counts` showed.
fn counts(m: &LeasedExecutorManager) -> (usize, usize, usize) {
    (m.available_count(), m.leased_count(), m.total_count())
}

fn print_stats(stats: &Stats) {
    println!(
        "stats: backend={} prefix={} pools {}/{} leased (min {}, max {}, desired {}, units {}), {} workers/pool",
        stats.backend,
        stats.name_prefix,
        stats.leased,
        stats.total,
        stats.min_pools,
        stats.max_pools,
        stats.desired_executor_count,
        stats.units,
        stats.workers_per_pool
    );
    for lease in &stats.leases {
        println!(
            "  lease {:>2} owner={:<10} pool={} jobs={} draining={:<5} lease={:?} soft in {:>5.1}s hard in {:>5.1}s",
            lease.id,
            lease.owner.as_deref().unwrap_or("-"),
            lease.pool,
            lease.jobs,
            lease.draining,
            lease.lease_for,
            lease.soft_remaining.as_secs_f64(),
            lease.hard_remaining.as_secs_f64(),
        );
    }
}

fn main() -> Result<(), leasepool::Error> {
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder()
            .max_pools(4)
            .min_pools(2)
            .workers_per_pool(1)
            .default_lease_for(Duration::from_secs(30))
            .lease_grace(Duration::from_secs(5))
            .name_prefix("reports")
            // Shut a pool freed above the desired count down at once (the
            // default keeps it idle 60 s), so the counts below show it.
            .idle_timeout(Duration::ZERO)
            .build()?;
        print_counts("built", &manager);
        assert_eq!(counts(&manager), (0, 0, 0), "no pools before start");
        assert_eq!(manager.desired_executor_count(), 2, "min_pools, with no size signal");
        assert!(!manager.is_running());
        manager.start().await?;
        print_counts("started", &manager);
        assert_eq!(counts(&manager), (2, 0, 2), "start creates min_pools idle pools");
        assert!(manager.is_running());

        // Three leases: two from the idle pools, one newly created (3 > desired 2).
        let api = manager.acquire().owner("api").await?;
        let nightly = manager.acquire().owner("nightly").lease_for(Duration::from_secs(120)).await?;
        let export = manager.acquire().owner("export").lease_for(Duration::from_secs(10)).await?;
        print_counts("3 leased", &manager);
        assert_eq!(counts(&manager), (0, 3, 3), "demand took total above desired");
        assert_eq!(manager.waiting_count(), 0);

        // One lease releases with a job still running: it drains.
        let slow = export.submit(|| std::thread::sleep(Duration::from_millis(100)))?;
        export.release();
        let stats = manager.stats();
        print_stats(&stats);
        assert_eq!((stats.leased, stats.total, stats.desired_executor_count), (3, 3, 2));
        let owners: Vec<_> = stats.leases.iter().map(|l| l.owner.as_deref()).collect();
        assert_eq!(owners, [Some("api"), Some("nightly"), Some("export")], "leases by id");
        let export_stats = &stats.leases[2];
        assert!(export_stats.draining && export_stats.jobs == 1, "released with a job in flight: draining");
        assert!(stats.leases[..2].iter().all(|l| !l.draining && l.jobs == 0), "the others are idle");

        slow.await?;
        print_counts("export drained", &manager);
        assert_eq!(counts(&manager), (0, 2, 2), "the drained pool was above desired: shut down");
        drop((api, nightly));
        print_counts("all released", &manager);
        assert_eq!(counts(&manager), (2, 0, 2), "desired pools are kept idle");

        manager.stop().await;
        print_counts("stopped", &manager);
        assert_eq!(counts(&manager), (0, 0, 0), "stop shuts every pool down");
        assert!(!manager.is_running());
        Ok(())
    })
}
