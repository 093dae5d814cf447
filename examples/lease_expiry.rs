//! Lease expiry: soft expiry, grace, revocation at hard expiry.
//!
//! What it teaches, with a 150 ms lease and a 100 ms grace:
//! * `soft_expires_at = leased_at + lease` (finish by then) and
//!   `hard_expires_at = soft + grace` (revoked from then on);
//! * at hard expiry the checker revokes the lease: its pool is shut down,
//!   queued jobs are cancelled (`Error::Cancelled`), and a *running* job is
//!   not preempted: it runs to its end on its thread;
//! * later submissions through the lease fail with `Error::LeaseExpired`;
//! * the pool is replaced, so the manager keeps `min_pools` ready.
//!
//! Run it with `cargo run --example lease_expiry`, or on another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example lease_expiry`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// Polls `cond` every 5 ms until it holds; panics if it still does not after 5 s.
async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "still waiting after 5 s for {what}");
        rt::sleep(Duration::from_millis(5)).await;
    }
}

fn main() -> Result<(), Error> {
    rt::block_on(async {
        let manager = LeasedExecutorManager::builder()
            .max_pools(1)
            .workers_per_pool(1) // one worker: a second job has to queue
            .lease_grace(Duration::from_millis(100))
            .build()?;
        manager.start().await?;
        let t0 = Instant::now();
        let ms = move || t0.elapsed().as_millis();

        let lease = manager.acquire().owner("short").lease_for(Duration::from_millis(150)).await?;
        let old_pool = lease.pool_id();
        println!(
            "lease {} on pool {old_pool}: soft expiry in {:?}, hard expiry in {:?}",
            lease.id(),
            lease.soft_expires_at() - lease.leased_at(),
            lease.hard_expires_at() - lease.leased_at()
        );

        // A job that overruns the lease (it waits for `finish`, sent only
        // after the checks below), and one queued behind it.
        let (finish, gate) = mpsc::channel::<()>();
        let started = Arc::new(AtomicBool::new(false));
        let running = Arc::clone(&started);
        let overrun = lease.submit(move || {
            running.store(true, Ordering::SeqCst);
            gate.recv().expect("the example sends `finish`");
            "overrunning job finished"
        })?;
        let queued = lease.submit(|| "queued job ran")?;
        wait_for("the overrunning job to start", || started.load(Ordering::SeqCst)).await;

        // The checker revokes the lease at hard expiry (~250 ms): the queued
        // job is cancelled then, while the running one carries on.
        wait_for("the checker to revoke the lease", || manager.leased_count() == 0).await;
        match queued.await {
            Err(Error::Cancelled) => {
                println!("[{:>3} ms] queued job -> Error::Cancelled (lease revoked)", ms())
            }
            other => panic!("unexpected: {other:?}"),
        }
        match lease.submit(|| ()) {
            Err(Error::LeaseExpired) => {
                println!("[{:>3} ms] submit on the revoked lease -> Error::LeaseExpired", ms())
            }
            other => panic!("unexpected: {other:?}"),
        }
        println!(
            "[{:>3} ms] pool {old_pool} shut down and replaced: total={} leased={} available={}",
            ms(),
            manager.total_count(),
            manager.leased_count(),
            manager.available_count()
        );
        assert_eq!((manager.total_count(), manager.leased_count()), (1, 0), "revoked, and replaced at once");
        assert!(!overrun.is_finished(), "the running job was not preempted");

        // Running jobs are never preempted: this one still completes.
        finish.send(()).expect("the overrunning job is still running");
        let outcome = overrun.await?;
        println!("[{:>3} ms] {outcome}", ms());

        drop(lease); // releasing a revoked lease is a harmless no-op
        let fresh = manager.acquire().owner("fresh").await?;
        println!("[{:>3} ms] new lease {} on the replacement pool {}", ms(), fresh.id(), fresh.pool_id());
        assert_ne!(fresh.pool_id(), old_pool, "the revoked pool was shut down, not reused");
        let outcome = fresh.run(|| "fresh lease works").await?;
        println!("[{:>3} ms] {outcome}", ms());
        assert_eq!(outcome, "fresh lease works");

        drop(fresh);
        manager.stop().await;
        Ok(())
    })
}
