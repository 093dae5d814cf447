//! WorkGrinder with `enqueue`: queue work without awaiting, collect the
//! handles later, withdraw an item by dropping its handle, and see each
//! caller get its own result or its own error.
//!
//! `cargo run --example grinder_enqueue`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    // One job below panics on purpose: print one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("(expected) {info}")));
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder().max_pools(2).workers_per_pool(2).build()?;
        manager.start().await?;
        let grinder = WorkGrinder::builder(&manager)
            // The seventh pending item starts the batch (the max wait, 10 s
            // by default, never comes into play here).
            .batch_size_threshold(7)
            .build()?;
        grinder.start().await?;

        // `enqueue` returns at once; the items wait for their batch.
        let handles: Vec<_> =
            (1..=5u32).map(|i| grinder.enqueue(move || i * 10)).collect::<Result<_, _>>()?;
        // An item that records whether it ran: it is withdrawn below, so it must not.
        let ran = Arc::new(AtomicBool::new(false));
        let withdrawn = grinder.enqueue({
            let ran = Arc::clone(&ran);
            move || ran.store(true, Ordering::SeqCst)
        })?;
        println!("pending: {}", grinder.stats().pending);
        assert_eq!(grinder.stats().pending, 6, "below the threshold: nothing has started");

        // Dropping a handle before its batch starts removes the item at once.
        drop(withdrawn);
        println!("pending after dropping one handle: {}", grinder.stats().pending);
        assert_eq!(grinder.stats().pending, 5, "the withdrawn item is gone from the queue");

        // Two more reach the threshold: the batch starts with these seven.
        let panicking = grinder.enqueue(|| -> u32 { panic!("bad input") })?;
        let last = grinder.enqueue(|| 60u32)?;

        let mut results = Vec::new();
        for handle in handles {
            let result = handle.await?;
            print!("{result} ");
            results.push(result);
        }
        println!();
        assert_eq!(results, [10, 20, 30, 40, 50], "each caller got its own result");
        assert_eq!(last.await?, 60);
        match panicking.await {
            Err(Error::Panicked(msg)) => println!("one caller got its own error: panicked: {msg}"),
            other => panic!("unexpected: {other:?}"),
        }

        grinder.stop(StopMode::Drain).await;
        let c = grinder.stats().counters;
        println!(
            "batches run: {}, items: {} accepted, {} completed, {} failed, {} cancelled",
            c.batches_run, c.items_accepted, c.items_completed, c.items_failed, c.items_cancelled
        );
        assert_eq!(c.batches_run, 1);
        assert_eq!(
            (c.items_accepted, c.items_completed, c.items_failed, c.items_cancelled),
            (8, 6, 1, 1),
            "6 results, 1 panic, and the withdrawn item cancelled without running"
        );
        assert!(!ran.load(Ordering::SeqCst), "the withdrawn item must not run");
        manager.stop().await;
        Ok(())
    })
}
