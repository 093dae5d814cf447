//! A command-line program with no async runtime: the manager, blocking
//! acquires from plain threads, jobs, the grinder and the stats, with no
//! `async fn` and no `.await` in sight.
//!
//! What it teaches: leasepool in synchronous code. The `async` methods
//! (`start`, `stop`) go through the runtime's `block_on`; acquires use
//! `.blocking()`, jobs `JobHandle::wait`, grinder items `WorkHandle::wait`.
//! Four worker threads of the program compete for two pools; each leases
//! one, runs a blocking job on it and gives it back by dropping the lease.
//!
//! Its home is `leasepool::threads` (`--features runtime-threads`), where
//! the manager's background tasks run on plain std threads and nothing
//! from tokio, smol or async-std is compiled in:
//! `cargo run -p leasepool --no-default-features --features runtime-threads --example plain_threads`.
//! It runs on smol and async-std too, whose global executors outlive every
//! `block_on`. Not on tokio: there each `block_on` builds a runtime and drops
//! it on return, and the manager's checker with it, so the acquires would
//! fail with `Error::RuntimeGone`; a tokio program keeps one runtime for
//! its whole life instead.
#![cfg_attr(all(feature = "runtime-tokio", not(feature = "runtime-threads")), allow(unused_imports))]

use std::thread;
use std::time::Duration;

use leasepool::{Error, StopMode};

// The runtime this example runs on: plain threads whenever enabled.
#[cfg(all(
    feature = "runtime-async-std",
    not(any(feature = "runtime-smol", feature = "runtime-threads"))
))]
use leasepool::async_std as rt;
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-threads")))]
use leasepool::smol as rt;
#[cfg(feature = "runtime-threads")]
use leasepool::threads as rt;

#[cfg(all(
    feature = "runtime-tokio",
    not(any(feature = "runtime-smol", feature = "runtime-async-std", feature = "runtime-threads"))
))]
fn main() {
    println!("plain_threads is a program with no async runtime: run it with");
    println!(
        "  cargo run -p leasepool --no-default-features --features runtime-threads --example plain_threads"
    );
}

#[cfg(any(feature = "runtime-smol", feature = "runtime-async-std", feature = "runtime-threads"))]
fn main() -> Result<(), Error> {
    use rt::{LeasedExecutorManager, WorkGrinder};

    let manager = LeasedExecutorManager::builder().max_pools(2).workers_per_pool(2).build()?;
    rt::block_on(manager.start())?;
    println!("started: running = {}, pools = {}", manager.is_running(), manager.total_count());

    // Four plain threads, two pools: two of them wait their turn.
    let workers: Vec<_> = (1..=4u64)
        .map(|n| {
            let manager = manager.clone();
            thread::spawn(move || -> Result<u64, Error> {
                let lease = manager
                    .acquire()
                    .owner(format!("cli-{n}"))
                    .timeout(Duration::from_secs(10))
                    .blocking()?;
                let sum = lease.submit(move || (1..=n * 1000).sum::<u64>())?.wait()?;
                Ok(sum)
            })
        })
        .collect();
    let mut sums = Vec::new();
    for worker in workers {
        sums.push(worker.join().expect("the worker thread panicked")?);
    }
    println!("sums from four threads on two pools: {sums:?}");

    // The grinder batches many tiny jobs onto one lease each.
    let grinder = WorkGrinder::builder(&manager)
        .batch_size_threshold(10)
        .max_wait(Duration::from_millis(10))
        .build()?;
    rt::block_on(grinder.start())?;
    let handles = (0..10u64).map(|i| grinder.enqueue(move || i * i)).collect::<Result<Vec<_>, _>>()?;
    let squares = handles.into_iter().map(|h| h.wait()).collect::<Result<Vec<_>, _>>()?;
    println!("squares from the grinder: {squares:?}");
    rt::block_on(grinder.stop(StopMode::Drain));
    let g = grinder.stats();
    println!("grinder: {} batch(es), {} items", g.counters.batches_run, g.counters.items_completed);

    let stats = manager.stats();
    println!(
        "stats: running = {}, total = {}, available = {}, leased = {}",
        stats.running, stats.total, stats.available, stats.leased
    );
    rt::block_on(manager.stop());
    println!("stopped: running = {}, pools = {}", manager.is_running(), manager.total_count());
    Ok(())
}
