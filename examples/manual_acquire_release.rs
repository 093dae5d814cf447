//! Manual acquire and release: `submit` for job handles, `.wait()` from
//! plain threads, an explicit (idempotent) `release()`, and draining.
//!
//! What it teaches:
//! * `lease.submit(f)` queues a job and returns a `JobHandle` at once; the
//!   handle is a `Future` (`.await` it) and can also be waited on from a
//!   plain OS thread with `.wait()`;
//! * a plain thread can do the whole dance without an async context:
//!   `manager.acquire().blocking()`, `submit(..)?.wait()`, `release()`;
//! * `release()` gives the pool back now and is idempotent; a released lease
//!   refuses new jobs with `Error::LeaseExpired`;
//! * releasing while jobs still run *drains*: the lease still counts as
//!   leased until they finish, then its pool is reused.
//!
//! Run it with `cargo run --example manual_acquire_release`, or on another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example manual_acquire_release`.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

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
        let manager = LeasedExecutorManager::builder()
            .max_pools(2)
            .workers_per_pool(2)
            // A pool freed above the desired count is shut down at once
            // (the default keeps it idle 60 s), so the counts below stay
            // those of one pool.
            .idle_timeout(Duration::ZERO)
            .build()?;
        manager.start().await?;

        let lease = manager.acquire().owner("manual").await?;
        println!("acquired lease {} on pool {} (owner {:?})", lease.id(), lease.pool_id(), lease.owner());

        // Two jobs queued at once: they run in parallel on the pool's 2 workers.
        let squares = lease.submit(|| (1..=10u64).map(|x| x * x).sum::<u64>())?;
        let cubes = lease.submit(|| (1..=10u64).map(|x| x * x * x).sum::<u64>())?;

        // Await one handle here...
        let squares = squares.await?;
        println!("awaited handle: sum of squares = {squares}");
        assert_eq!(squares, 385);
        // ...and hand the other to a plain thread, which blocks on it.
        let waiter = thread::spawn(move || cubes.wait());
        // (Joining blocks this thread for a moment; fine in a demo, but in a
        // service, `.await` the handle instead of joining threads.)
        let cubes = waiter.join().expect("waiter thread")?;
        println!("waited from a std thread: sum of cubes = {cubes}");
        assert_eq!(cubes, 3025);

        // A plain thread acquires, submits and releases without any async code.
        let from_thread = {
            let manager = manager.clone();
            thread::spawn(move || -> Result<String, Error> {
                let lease = manager.acquire().owner("std-thread").blocking()?;
                let answer = lease.submit(|| 6 * 7)?.wait()?;
                let msg = format!("lease {} on pool {} computed {answer}", lease.id(), lease.pool_id());
                lease.release();
                Ok(msg)
            })
        };
        let msg = from_thread.join().expect("std thread")?;
        println!("std thread: {msg}");
        assert!(msg.ends_with("computed 42"));

        // Explicit release: the pool is back at once. Releasing again is a no-op.
        println!("before release: leased={} available={}", manager.leased_count(), manager.available_count());
        assert_eq!((manager.leased_count(), manager.available_count()), (1, 0));
        lease.release();
        println!("after release:  leased={} available={}", manager.leased_count(), manager.available_count());
        assert_eq!((manager.leased_count(), manager.available_count()), (0, 1), "the pool is back at once");
        lease.release();
        println!("released again (no-op): leased={}", manager.leased_count());
        assert_eq!((manager.leased_count(), manager.available_count()), (0, 1), "nothing changed");
        match lease.submit(|| ()) {
            Err(Error::LeaseReleased) => println!("submit after release -> Error::LeaseReleased"),
            other => panic!("unexpected: {other:?}"),
        }

        // Draining: release while a job still runs.
        let lease = manager.acquire().owner("drainer").await?;
        let drained_pool = lease.pool_id();
        let (go, gate) = mpsc::channel::<()>();
        let slow = lease.submit(move || {
            gate.recv().expect("gate"); // holds the job until the checks below are done
            "slow job done"
        })?;
        lease.release();
        println!("released with a job in flight: leased={} (draining)", manager.leased_count());
        assert_eq!(
            (manager.leased_count(), manager.available_count()),
            (1, 0),
            "draining still counts as leased"
        );
        go.send(()).expect("job waiting at the gate");
        println!("{}", slow.await?);
        println!(
            "job finished, pool reused: leased={} available={}",
            manager.leased_count(),
            manager.available_count()
        );
        assert_eq!((manager.leased_count(), manager.available_count()), (0, 1), "drained: the pool is back");
        let next = manager.acquire().owner("next").await?;
        assert_eq!(next.pool_id(), drained_pool, "the drained pool is reused, not replaced");
        drop(next);

        manager.stop().await;
        Ok(())
    })
}
