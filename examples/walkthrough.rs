//! The whole of leasepool in one program: lifecycle, adaptive sizing,
//! leases (scoped, manual, with submit handles), expiry, stats, and the
//! WorkGrinder, the way the Python original's walkthrough tours its API.
//!
//! `cargo run --example walkthrough`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leasepool::{Error, StopMode};

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
use rt::{LeasedExecutorManager, WorkGrinder};

/// Polls `cond` every 5 ms until it holds; panics if it still does not after 5 s.
async fn eventually(
    what: &str,
    manager: &LeasedExecutorManager,
    cond: impl Fn(&LeasedExecutorManager) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond(manager) {
        assert!(Instant::now() < deadline, "still waiting after 5 s for {what}");
        rt::sleep(Duration::from_millis(5)).await;
    }
}

fn main() -> Result<(), Error> {
    rt::block_on(async {
        // 1. Lifecycle and sizing: tenants are the units, 10 per pool.
        let tenants = Arc::new(AtomicUsize::new(0));
        let signal = Arc::clone(&tenants);
        let manager = LeasedExecutorManager::builder()
            .max_pools(4)
            .min_pools(1)
            .units_per_pool(10)
            .size_provider(move || signal.load(Ordering::Relaxed))
            .workers_per_pool(2)
            .default_lease_for(Duration::from_secs(30))
            .lease_grace(Duration::from_millis(100))
            .name_prefix("walk")
            .build()?;
        manager.start().await?;
        println!("1. started: desired={} total={}", manager.desired_executor_count(), manager.total_count());
        assert_eq!((manager.desired_executor_count(), manager.total_count()), (1, 1), "min_pools at start");

        tenants.store(25, Ordering::Relaxed);
        manager.notify_scale_changed();
        // `total` counts pools still being created: wait until all three run.
        eventually("3 pools for 25 tenants", &manager, |m| {
            let s = m.stats();
            s.total == 3 && s.creating == 0
        })
        .await;
        println!(
            "   25 tenants: desired={} total={}",
            manager.desired_executor_count(),
            manager.total_count()
        );
        assert_eq!(manager.desired_executor_count(), 3, "ceil(25 / 10) = 3");

        // 2. A scoped lease: dropped at the end of the block, so released.
        {
            let lease = manager.acquire().owner("scoped").await?;
            let thread = lease.run(|| std::thread::current().name().map(str::to_owned)).await?;
            let thread = thread.unwrap_or_default();
            println!("2. scoped lease {} ran on thread {thread:?}", lease.id());
            assert!(thread.starts_with("walk-"), "worker threads are named after name_prefix");
        }
        assert_eq!(manager.leased_count(), 0, "the scoped lease was released when dropped");

        // 3. Manual lease with submit handles, then an explicit release.
        let lease = manager.acquire().owner("manual").lease_for(Duration::from_secs(10)).await?;
        let handles: Vec<_> = (0..4u64).map(|i| lease.submit(move || i * i)).collect::<Result<_, _>>()?;
        let mut squares = Vec::new();
        for handle in handles {
            squares.push(handle.await?);
        }
        println!("3. manual lease {} computed {squares:?}", lease.id());
        assert_eq!(squares, [0, 1, 4, 9]);

        // 4. Stats while a lease is held.
        let stats = manager.stats();
        println!(
            "4. stats: backend={} total={} available={} leased={} desired={} workers/pool={}",
            stats.backend,
            stats.total,
            stats.available,
            stats.leased,
            stats.desired_executor_count,
            stats.workers_per_pool
        );
        assert_eq!((stats.total, stats.available, stats.leased), (3, 2, 1), "one of 3 pools leased");
        assert_eq!(stats.leases.len(), 1, "one live lease");
        for l in &stats.leases {
            println!(
                "   lease {} owner={:?} soft left ~{}s",
                l.id,
                l.owner.as_deref(),
                l.soft_remaining.as_secs()
            );
        }
        assert_eq!(stats.leases[0].owner.as_deref(), Some("manual"));
        lease.release();
        assert_eq!(manager.leased_count(), 0, "release() gives the pool back");

        // 5. Expiry: a lease held past its hard expiry (lease + grace) is revoked.
        let short = manager.acquire().owner("forgetful").lease_for(Duration::from_millis(50)).await?;
        eventually("the short lease to be revoked", &manager, |m| {
            m.stats().leases.iter().all(|l| l.id != short.id())
        })
        .await;
        match short.run(|| ()).await {
            Err(Error::LeaseExpired) => println!("5. lease {} expired and was revoked", short.id()),
            other => panic!("5. unexpected: {other:?}"),
        }

        // 6. The grinder batches many tiny jobs onto leased pools.
        let grinder = WorkGrinder::builder(&manager)
            .batch_size_threshold(50)
            .max_wait(Duration::from_millis(10))
            .max_concurrent_batches(2)
            .build()?;
        grinder.start().await?;
        let results: Vec<_> = (0..200u64).map(|i| grinder.submit(move || i + 1)).collect();
        let mut sum = 0;
        for r in results {
            sum += r.await?;
        }
        grinder.stop(StopMode::Drain).await;
        let g = grinder.stats();
        println!(
            "6. grinder: sum={sum} batches={} items={}",
            g.counters.batches_run, g.counters.items_completed
        );
        assert_eq!(sum, 20100, "1 + 2 + ... + 200");
        assert_eq!(g.counters.items_completed, 200, "every item ran");
        assert_eq!(g.pending, 0, "nothing left queued after a drain");

        // 7. Shrink and stop.
        tenants.store(0, Ordering::Relaxed);
        manager.notify_scale_changed();
        eventually("the shrink back to 1 pool", &manager, |m| m.total_count() == 1).await;
        println!(
            "7. 0 tenants: desired={} total={}",
            manager.desired_executor_count(),
            manager.total_count()
        );
        assert_eq!(manager.desired_executor_count(), 1, "0 tenants: min_pools");
        manager.stop().await;
        println!("   stopped: total={} running={}", manager.total_count(), manager.is_running());
        assert_eq!((manager.total_count(), manager.is_running()), (0, false), "stop shuts every pool down");
        Ok(())
    })
}
