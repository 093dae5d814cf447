//! Quick start: build a manager, start it, let several async tasks lease
//! pools *concurrently* to run blocking work, look at the counts, stop.
//!
//! What it teaches: the whole life cycle in one screen. Eight tasks compete
//! for at most three pools; each one leases a pool, runs a blocking job on
//! that pool's dedicated worker threads, and gives the pool back by dropping
//! the lease. Tasks that find every pool busy wait their turn (first come,
//! first served).
//!
//! Run it with `cargo run --example quickstart` (tokio, the default), or on
//! another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example quickstart`
//! (or `--features runtime-async-std`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

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

fn main() -> Result<(), leasepool::Error> {
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder()
            .max_pools(3) // never more than 3 pools, leased and idle together
            .workers_per_pool(2) // each pool owns 2 dedicated threads
            .default_lease_for(Duration::from_secs(30))
            // A pool freed above the desired count stays idle this long
            // before it is shut down (default 60 s): bursts reuse pools
            // instead of creating and destroying them.
            .idle_timeout(Duration::from_millis(200))
            .build()?;
        manager.start().await?;
        println!(
            "started: {} pool(s) ready, at most {}",
            manager.total_count(),
            manager.config().max_pools()
        );
        assert_eq!(manager.total_count(), 1, "start creates min_pools (1) pool");

        let started = Instant::now();
        let peak = Arc::new(AtomicUsize::new(0));

        // Eight tasks, polled together by `join_all`: they really overlap.
        let tasks = (0..8u64).map(|i| {
            let manager = manager.clone(); // cheap: an Arc inside
            let peak = Arc::clone(&peak);
            async move {
                // Waits while all three pools are leased.
                let lease = manager.acquire().owner(format!("task-{i}")).await?;
                peak.fetch_max(manager.leased_count(), Ordering::Relaxed);

                // The closure runs on one of the pool's worker threads, so the
                // async task is free while it blocks.
                let (thread, digest) = lease
                    .run(move || {
                        std::thread::sleep(Duration::from_millis(100)); // blocking I/O stand-in
                        let digest =
                            (0..100_000u64).fold(i, |h, x| h.rotate_left(5) ^ x.wrapping_mul(0x9E37_79B9));
                        (std::thread::current().name().unwrap_or("?").to_owned(), digest)
                    })
                    .await?;
                println!(
                    "task {i}: lease {} on pool {} ({thread}) -> {digest:016x}",
                    lease.id(),
                    lease.pool_id()
                );
                // Worker threads are named `{name_prefix}-{pool}-{worker}`.
                assert!(
                    thread.starts_with(&format!("leasepool-{}-", lease.pool_id())),
                    "ran on the leased pool"
                );
                Ok::<_, leasepool::Error>(())
                // `lease` is dropped here: the pool goes back (or to the next waiter).
            }
        });
        for result in join_all(tasks).await {
            result?;
        }

        let elapsed = started.elapsed();
        let peak = peak.load(Ordering::Relaxed);
        println!("8 jobs of 100 ms in {} ms: at most {peak} lease(s) at once", elapsed.as_millis());
        assert!(peak <= 3, "never more leases than max_pools");
        // At most 3 at once, so the 8 jobs took at least 3 rounds of 100 ms.
        assert!(elapsed >= Duration::from_millis(300), "max_pools bounded the parallelism");

        // Demand grew the manager to three pools; as leases came back, the
        // pools above the desired count (min_pools = 1 without a size
        // signal) stayed idle, ready for the next burst...
        let stats = manager.stats();
        println!(
            "pools: total={} available={} leased={} desired={}",
            stats.total, stats.available, stats.leased, stats.desired_executor_count
        );
        assert_eq!((stats.total, stats.available, stats.leased), (3, 3, 0), "kept idle after the burst");
        assert_eq!(stats.desired_executor_count, 1);
        // ...until they had been idle for `idle_timeout`: then the checker
        // shut them down, back to the desired count.
        let quiet = Instant::now();
        while manager.total_count() > 1 && quiet.elapsed() < Duration::from_secs(10) {
            rt::sleep(Duration::from_millis(50)).await;
        }
        let stats = manager.stats();
        println!(
            "after {} ms idle: total={} available={} leased={}",
            quiet.elapsed().as_millis() / 100 * 100,
            stats.total,
            stats.available,
            stats.leased
        );
        assert_eq!((stats.total, stats.available, stats.leased), (1, 1, 0), "back to the desired count");
        manager.stop().await;
        println!("stopped: total={}", manager.total_count());
        assert_eq!(manager.total_count(), 0, "stop shuts every pool down");
        Ok(())
    })
}
