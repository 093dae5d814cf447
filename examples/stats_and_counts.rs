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

use leasepool::{LeasedExecutorManager, Stats};

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

fn print_stats(stats: &Stats) {
    println!(
        "stats: backend={} prefix={} pools {}/{} leased (min {}, max {}, desired {}, units {}), {} workers/pool",
        stats.backend,
        stats.name_prefix,
        stats.leased,
        stats.total,
        stats.min_pools,
        stats.max_pools,
        stats.desired,
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
            lease.lease_duration,
            lease.soft_remaining.as_secs_f64(),
            lease.hard_remaining.as_secs_f64(),
        );
    }
}

fn main() -> Result<(), leasepool::Error> {
    leasepool::block_on(async {
        let manager = LeasedExecutorManager::builder()
            .max_pools(4)
            .min_pools(2)
            .workers_per_pool(1)
            .default_lease(Duration::from_secs(30))
            .lease_grace(Duration::from_secs(5))
            .name_prefix("reports")
            .build()?;
        print_counts("built", &manager);
        manager.start().await?;
        print_counts("started", &manager);

        // Three leases: two from the idle pools, one newly created (3 > desired 2).
        let api = manager.acquire().owner("api").await?;
        let nightly = manager.acquire().owner("nightly").lease_for(Duration::from_secs(120)).await?;
        let export = manager.acquire().owner("export").lease_for(Duration::from_secs(10)).await?;
        print_counts("3 leased", &manager);

        // One lease releases with a job still running: it drains.
        let slow = export.submit(|| std::thread::sleep(Duration::from_millis(100)))?;
        export.release();
        print_stats(&manager.stats());

        slow.await?;
        print_counts("export drained", &manager);
        drop((api, nightly));
        print_counts("all released", &manager);

        manager.stop().await;
        print_counts("stopped", &manager);
        Ok(())
    })
}
