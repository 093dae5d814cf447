//! Waiting, timeouts and load shedding on a full manager.
//!
//! What it teaches, on a manager with a single pool:
//! * `try_acquire()` never waits: `Error::Unavailable` when every pool is
//!   leased and the manager is at `max_pools` (shed load, answer 503, ...);
//! * `acquire().timeout(d)` waits at most `d`: `Error::Timeout(d)`;
//! * `acquire()` without a timeout waits in line and is handed the pool
//!   directly when the holder releases it.
//!
//! Run it with `cargo run --example wait_timeout_unavailable`, or on another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example wait_timeout_unavailable`.

use std::time::{Duration, Instant};

use futures_util::future::join;
use leasepool::Error;

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

fn main() -> Result<(), Error> {
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder().max_pools(1).workers_per_pool(1).build()?;
        manager.start().await?;

        let holder = manager.acquire().owner("holder").await?;
        println!(
            "holder has lease {} on pool {}; total={} (max 1)",
            holder.id(),
            holder.pool_id(),
            manager.total_count()
        );
        assert_eq!(manager.total_count(), 1);

        // 1. No waiting at all.
        match manager.try_acquire().owner("impatient").await {
            Err(Error::Unavailable) => println!("try_acquire -> Error::Unavailable"),
            other => panic!("unexpected: {other:?}"),
        }

        // 2. Bounded waiting.
        let started = Instant::now();
        match manager.acquire().owner("bounded").timeout(Duration::from_millis(100)).await {
            Err(Error::Timeout(limit)) => {
                println!(
                    "acquire().timeout({limit:?}) -> Error::Timeout after ~{} ms",
                    started.elapsed().as_millis()
                );
                assert_eq!(limit, Duration::from_millis(100), "the error carries the timeout");
            }
            other => panic!("unexpected: {other:?}"),
        }

        // 3. A waiter is served when the holder releases. Both sides run
        //    concurrently in this task: `join` polls the waiter first, so it
        //    is queued before the holder starts its last job.
        let started = Instant::now();
        let waiter = async {
            let lease = manager.acquire().owner("patient").await?;
            println!(
                "waiter got lease {} on pool {} after ~{} ms",
                lease.id(),
                lease.pool_id(),
                started.elapsed().as_millis()
            );
            Ok::<_, Error>(lease)
        };
        let release_later = async {
            println!("waiting acquires: {}", manager.waiting_count());
            assert_eq!(manager.waiting_count(), 1, "the waiter is queued");
            // The holder finishes 100 ms of blocking work, then releases.
            holder.run(|| std::thread::sleep(Duration::from_millis(100))).await?;
            println!("holder releases its lease");
            holder.release();
            Ok::<_, Error>(())
        };
        let (lease, released) = join(waiter, release_later).await;
        released?;
        let lease = lease?;
        println!(
            "same pool, handed over directly: total={} waiting={}",
            manager.total_count(),
            manager.waiting_count()
        );
        assert_eq!(lease.pool_id(), holder.pool_id(), "the waiter got the holder's pool");
        assert_eq!((manager.total_count(), manager.waiting_count()), (1, 0));
        drop(lease);

        manager.stop().await;
        Ok(())
    })
}
