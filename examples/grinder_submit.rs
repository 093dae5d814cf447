//! WorkGrinder: many async callers submit small synchronous jobs, which run
//! in batches, each batch on one leased pool.
//!
//! `cargo run --example grinder_submit`

use std::time::Duration;

use leasepool::StopMode;

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

fn main() -> Result<(), leasepool::Error> {
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder().max_pools(2).workers_per_pool(2).build()?;
        manager.start().await?;

        let grinder = WorkGrinder::builder(&manager)
            .batch_size_threshold(10)
            .max_wait(Duration::from_millis(20))
            .owner_prefix("squares")
            .build()?;
        grinder.start().await?;

        // 25 callers, each awaiting its own result.
        let callers: Vec<_> = (0..25u64).map(|i| grinder.submit(move || i * i)).collect();
        let mut total = 0;
        for (i, caller) in callers.into_iter().enumerate() {
            let square = caller.await?;
            assert_eq!(square, (i * i) as u64);
            total += square;
        }
        println!("sum of squares 0..25 = {total}");
        assert_eq!(total, 4900, "0² + 1² + ... + 24²");

        grinder.stop(StopMode::Drain).await;
        let stats = grinder.stats();
        let (batches, items) = (stats.counters.batches_run, stats.counters.items_completed);
        println!("batches run: {batches}, items completed: {items}");
        assert_eq!(stats.counters.items_completed, 25, "every caller's item ran");
        manager.stop().await;
        Ok(())
    })
}
