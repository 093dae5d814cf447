//! WorkGrinder from plain OS threads: `enqueue` + `wait()` need no async
//! context, so legacy threads can share the same bounded pools as async
//! tasks.
//!
//! `cargo run --example grinder_from_thread`

use std::thread;
use std::time::Duration;

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

fn main() -> Result<(), Error> {
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder().max_pools(2).workers_per_pool(2).build()?;
        manager.start().await?;
        let grinder = WorkGrinder::builder(&manager)
            .batch_size_threshold(16)
            .max_wait(Duration::from_millis(10))
            .max_concurrent_batches(2)
            .build()?;
        grinder.start().await?;

        // Four plain threads, each submitting 25 jobs and blocking on the results.
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let grinder = grinder.clone();
                thread::spawn(move || -> Result<u64, Error> {
                    let handles: Vec<_> =
                        (0..25u64).map(|i| grinder.enqueue(move || t * 100 + i)).collect::<Result<_, _>>()?;
                    handles.into_iter().map(|h| h.wait()).sum()
                })
            })
            .collect();
        for (t, thread) in threads.into_iter().enumerate() {
            let sum = thread.join().expect("submitting thread panicked")?;
            println!("thread {t}: sum of its 25 results = {sum}");
            assert_eq!(sum, 2500 * t as u64 + 300, "25 * (100 * t) + (0 + 1 + ... + 24)");
        }

        grinder.stop(StopMode::Drain).await;
        let items = grinder.stats().counters.items_completed;
        println!("items completed: {items}");
        assert_eq!(items, 100, "4 threads x 25 items");
        manager.stop().await;
        Ok(())
    })
}
