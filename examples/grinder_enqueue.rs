//! WorkGrinder with `enqueue`: queue work without awaiting, collect the
//! handles later, withdraw an item by dropping its handle, and see each
//! caller get its own result or its own error.
//!
//! `cargo run --example grinder_enqueue`

use std::time::Duration;

use leasepool::{Error, LeasedExecutorManager, StopMode, WorkGrinder};

fn main() -> Result<(), Error> {
    // One job below panics on purpose: print one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("(expected) {info}")));
    leasepool::block_on(async {
        let manager = LeasedExecutorManager::builder().max_pools(2).workers_per_pool(2).build()?;
        manager.start().await?;
        let grinder = WorkGrinder::builder(&manager)
            .batch_size_threshold(100)
            .max_wait(Duration::from_millis(50))
            .build()?;
        grinder.start().await;

        // `enqueue` returns at once; the items wait for their batch.
        let handles: Vec<_> =
            (1..=5u32).map(|i| grinder.enqueue(move || i * 10)).collect::<Result<_, _>>()?;
        let withdrawn = grinder.enqueue(|| unreachable!("withdrawn before its batch"))?;
        let panicking = grinder.enqueue(|| -> u32 { panic!("bad input") })?;
        println!("pending before the batch: {}", grinder.stats().pending);

        // Dropping a handle before its batch starts removes the item at once.
        drop(withdrawn);
        println!("pending after dropping one handle: {}", grinder.stats().pending);

        for handle in handles {
            print!("{} ", handle.await?);
        }
        println!();
        match panicking.await {
            Err(Error::Panicked(msg)) => println!("one caller got its own error: panicked: {msg}"),
            other => panic!("unexpected: {other:?}"),
        }

        grinder.stop(StopMode::Drain).await;
        let stats = grinder.stats();
        println!("batches run: {}, items completed: {}", stats.batches_run, stats.items_completed);
        manager.stop().await;
        Ok(())
    })
}
