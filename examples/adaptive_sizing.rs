//! Adaptive sizing with `size_provider`: the manager grows and shrinks its
//! idle pools from a runtime signal (here, a set of connected devices).
//!
//! What it teaches: the manager does not need to know what your units are
//! (devices, tenants, queues, shards, ...). It reads the signal at start, at
//! each check and in `desired_executor_count()`, never on the
//! acquire/release path, and sizes to
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
use std::time::Duration;

use leasepool::LeasedExecutorManager;

/// Gives the checker a moment to act on a notification.
///
/// The checker is a task on the runtime's own executor threads, not on the
/// thread running `block_on`, so blocking this thread briefly does not stop
/// it, on any of the three runtimes. In a service, use your runtime's sleep
/// (`tokio::time::sleep`, `smol::Timer::after`, ...) instead.
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

fn main() -> Result<(), leasepool::Error> {
    leasepool::block_on(async {
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

        {
            let mut devices = connected_devices.lock().expect("devices lock");
            for i in 0..31 {
                devices.insert(format!("device-{i}"));
            }
        }

        // Wake the checker immediately instead of waiting for check_interval.
        manager.notify_scale_changed();
        settle();

        println!("After adding 31 devices:");
        println!("  desired: {}", manager.desired_executor_count());
        println!("  total: {}", manager.total_count());

        connected_devices.lock().expect("devices lock").clear();
        manager.notify_scale_changed();
        settle();

        println!("After removing all devices:");
        println!("  desired: {}", manager.desired_executor_count());
        println!("  total: {}", manager.total_count());

        manager.stop().await;
        Ok(())
    })
}
