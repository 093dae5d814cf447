//! Adaptive sizing with `size_provider`: the manager grows and shrinks its
//! idle pools from a runtime signal (here, a set of connected devices).
//!
//! What it teaches: the manager does not need to know what your units are
//! (devices, tenants, queues, shards, ...). It reads the signal at start, in
//! each checker pass (every `check_interval`, on `notify_scale_changed()`,
//! after a grant or a release) and in `desired_executor_count()`, never on
//! the caller's acquire/release path, and sizes to
//!
//! ```text
//! desired = min(max_pools, max(min_pools, ceil(units / units_per_pool)))
//! ```
//!
//! After changing the signal, `notify_scale_changed()` wakes the checker at
//! once instead of waiting for `check_interval`. Idle pools above the target
//! are shut down; leased pools are never revoked because the target shrank.
//! This is the Python original's `04_adaptive_sizing.py`, line for line.
//!
//! Run it with `cargo run --example adaptive_sizing`, or on another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example adaptive_sizing`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Waits for the checker to act on a notification: polls `cond` every 5 ms,
/// and panics if it still does not hold after 5 s.
///
/// The checker resizes on its own task, shortly after
/// `notify_scale_changed()` returns; a service would not wait for it, but a
/// demo that prints the new total has to.
async fn settle(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "still waiting after 5 s for {what}");
        rt::sleep(Duration::from_millis(5)).await;
    }
}

fn main() -> Result<(), leasepool::Error> {
    rt::block_on(async {
        let connected_devices: Arc<Mutex<HashSet<String>>> = Arc::default();

        let signal = Arc::clone(&connected_devices);
        let manager = LeasedExecutorManager::builder()
            .backend(leasepool::Backend::Thread)
            .max_pools(5)
            .min_pools(1)
            .units_per_pool(10)
            .size_provider(move || signal.lock().expect("devices lock").len())
            .check_interval(Duration::from_secs(60))
            .workers_per_pool(2)
            .build()?;

        manager.start().await?;

        println!("Initial desired: {}", manager.desired_executor_count());
        println!("Initial total: {}", manager.total_count());
        assert_eq!(manager.desired_executor_count(), 1, "no devices: min_pools");
        assert_eq!(manager.total_count(), 1, "start creates min_pools pools");

        {
            let mut devices = connected_devices.lock().expect("devices lock");
            for i in 0..31 {
                devices.insert(format!("device-{i}"));
            }
        }

        // Wake the checker immediately instead of waiting for check_interval.
        manager.notify_scale_changed();
        settle("the checker to grow to 4 pools", || manager.total_count() == 4).await;

        println!("After adding 31 devices:");
        println!("  desired: {}", manager.desired_executor_count());
        println!("  total: {}", manager.total_count());
        assert_eq!(manager.desired_executor_count(), 4, "ceil(31 / 10) = 4, under max_pools 5");
        assert_eq!(manager.total_count(), 4, "idle pools created up to desired");

        connected_devices.lock().expect("devices lock").clear();
        manager.notify_scale_changed();
        settle("the checker to shrink to 1 pool", || manager.total_count() == 1).await;

        println!("After removing all devices:");
        println!("  desired: {}", manager.desired_executor_count());
        println!("  total: {}", manager.total_count());
        assert_eq!(manager.desired_executor_count(), 1, "no devices: back to min_pools");
        assert_eq!(manager.total_count(), 1, "idle pools above desired shut down");

        manager.stop().await;
        Ok(())
    })
}
