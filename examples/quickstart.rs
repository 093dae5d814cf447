//! Quick start: a manager with bounded pools, a few leases, blocking work.
//!
//! `cargo run --example quickstart` (tokio). On other runtimes:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example quickstart`.

use std::time::Duration;

use leasepool::LeasedExecutorManager;

fn main() -> Result<(), leasepool::Error> {
    leasepool::block_on(async {
        let manager = LeasedExecutorManager::builder()
            .max_pools(4)
            .workers_per_pool(2)
            .default_lease(Duration::from_secs(30))
            .build()?;
        manager.start().await?;
        println!("started: {} pool(s) ready", manager.total_count());

        // Eight tasks each lease a pool, hash some bytes on it, and give it back.
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                let manager = manager.clone();
                async move {
                    let lease = manager.acquire().owner(format!("task-{i}")).await?;
                    let digest = lease
                        .run(move || {
                            // Stand-in for blocking or CPU-heavy work.
                            (0..200_000u64).fold(i, |h, x| h.rotate_left(5) ^ x.wrapping_mul(0x9E37_79B9))
                        })
                        .await?;
                    Ok::<_, leasepool::Error>((i, lease.id(), digest))
                }
            })
            .collect();
        for task in tasks {
            let (i, lease, digest) = task.await?;
            println!("task {i}: lease {lease} -> {digest:016x}");
        }

        let stats = manager.stats();
        println!("pools: total={} available={} leased={}", stats.total, stats.available, stats.leased);
        manager.stop().await;
        println!("stopped");
        Ok(())
    })
}
