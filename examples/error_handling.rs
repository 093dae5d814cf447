//! Error handling: every failure is a variant of `leasepool::Error`.
//!
//! What it teaches:
//! * configuration is validated by `build()`, and the error names the field
//!   (`ConfigError::field()`); a bad per-acquire lease duration is
//!   `Error::Config` too;
//! * a job that panics fails only that job (`Error::Panicked`); the pool
//!   keeps serving the same lease;
//! * a worker initializer that fails makes its pool *broken*: jobs fail with
//!   `Error::Broken`, the pool is retired and replaced, the lease is gone;
//! * before `start()`, acquires fail with `Error::NotStarted`; after
//!   `stop()`, with `Error::Stopped`, and so do jobs on held leases;
//! * `Error::kind()` sorts every error into an `ErrorKind` a service maps
//!   to its answer (here an HTTP status: 503 + `Retry-After` for overload
//!   and a stopped manager, 500 for a panic or a broken pool), and
//!   `is_retryable()` / `is_overload()` answer the usual questions;
//! * `Error` is `#[non_exhaustive]`: match what you handle, keep a `_` arm.
//!
//! Run it with `cargo run --example error_handling`, or on another runtime:
//! `cargo run -p leasepool --no-default-features --features runtime-smol --example error_handling`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use leasepool::{Error, ErrorKind};

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

/// What an HTTP service would answer for an error, by its kind: the
/// status, and whether to add `Retry-After`. `ErrorKind` is
/// `#[non_exhaustive]`: keep a `_` arm.
fn http_status(err: &Error) -> (u16, bool) {
    match err.kind() {
        // Busy or not serving: come back later (or try another instance).
        ErrorKind::Overload | ErrorKind::Stopped | ErrorKind::Spawn => (503, true),
        // The service retries on a new lease first; if that fails too, 503.
        ErrorKind::LeaseGone | ErrorKind::Cancelled => (503, true),
        // A bad per-acquire value; a 400 if the client supplied it.
        ErrorKind::Config => (500, false),
        // A bug in the job, or a pool whose initializer failed.
        ErrorKind::JobPanicked | ErrorKind::PoolBroken => (500, false),
        _ => (500, false),
    }
}

/// Prints a result (with the HTTP answer for an error) and hands it back to be checked.
fn report<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) -> Result<T, Error> {
    match &result {
        Ok(v) => println!("{what}: Ok({v:?})"),
        Err(e) => {
            let (status, retry_after) = http_status(e);
            let retry = if retry_after { " + Retry-After" } else { "" };
            println!(
                "{what}: {e:?}\n    -> kind {:?}, retryable: {}, answer {status}{retry}",
                e.kind(),
                e.is_retryable()
            );
        }
    }
    result
}

fn main() -> Result<(), Error> {
    rt::block_on(async {
        // 1. Configuration errors name the field.
        println!("-- configuration");
        let builder = LeasedExecutorManager::builder;
        // (what is wrong, the builder, the field its error must name)
        let attempts = [
            ("no max_pools", builder(), "max_pools"),
            ("min above max", builder().max_pools(2).min_pools(3), "min_pools"),
            ("zero workers", builder().max_pools(2).workers_per_pool(0), "workers_per_pool"),
            ("zero lease", builder().max_pools(2).default_lease_for(Duration::ZERO), "default_lease_for"),
        ];
        for (what, builder, field) in attempts {
            match builder.build() {
                Ok(_) => panic!("{what}: a bad configuration was accepted"),
                Err(e) => {
                    println!("{what}: field `{}`: {e}", e.field());
                    assert_eq!(e.field(), field, "{what}: the error names the field");
                }
            }
        }

        // A worker initializer that fails while `fail_init` is set.
        let fail_init = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&fail_init);
        let manager = LeasedExecutorManager::builder()
            .max_pools(2)
            .workers_per_pool(1)
            .initializer(
                move || if flag.load(Ordering::SeqCst) { Err("database unreachable") } else { Ok(()) },
            )
            .build()?;
        match report("acquire before start", manager.acquire().await.map(|l| l.id())) {
            Err(Error::NotStarted) => {}
            other => panic!("expected Error::NotStarted, got {other:?}"),
        }
        manager.start().await?;

        let lease = manager.acquire().owner("worker").await?;
        match manager.acquire().lease_for(Duration::ZERO).await {
            Err(Error::Config(e)) => {
                println!("acquire with a zero lease: Error::Config, field `{}`", e.field());
                assert_eq!(e.field(), "lease_for");
            }
            other => panic!("unexpected: {other:?}"),
        }

        // 2. A panicking job fails alone; the pool keeps serving.
        println!("-- job panic");
        let default_hook = std::panic::take_hook();
        // (A quieter panic hook for the demo; the default one prints a backtrace hint.)
        std::panic::set_hook(Box::new(|_| {
            eprintln!("(panic hook) a job panicked on {:?}", std::thread::current().name().unwrap_or("?"))
        }));
        let panicked = report("panicking job", lease.run(|| -> u32 { panic!("boom") }).await);
        std::panic::set_hook(default_hook);
        match panicked {
            Err(e @ Error::Panicked(_)) => {
                assert!(matches!(&e, Error::Panicked(msg) if msg == "boom"), "the panic message is kept");
                assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::JobPanicked, false));
                assert_eq!(http_status(&e), (500, false));
            }
            other => panic!("expected Error::Panicked, got {other:?}"),
        }
        match report("next job on the same lease", lease.run(|| 2 + 2).await) {
            Ok(4) => {}
            other => panic!("expected Ok(4) on the same lease, got {other:?}"),
        }

        // 3. A broken pool: the initializer fails on the next pool created.
        println!("-- broken pool");
        fail_init.store(true, Ordering::SeqCst);
        let doomed = manager.acquire().owner("doomed").await?; // a new pool: its initializer fails
        let doomed_pool = doomed.pool_id();
        for what in ["job on the broken pool", "again on that lease"] {
            match report(what, doomed.run(|| 1).await) {
                Err(Error::Broken(msg)) => {
                    assert_eq!(&*msg, "worker initializer failed: database unreachable")
                }
                other => panic!("{what}: expected Error::Broken, got {other:?}"),
            }
        }
        drop(doomed);
        fail_init.store(false, Ordering::SeqCst);
        let fresh = manager.acquire().owner("fresh").timeout(Duration::from_secs(1)).await?;
        println!("pool {doomed_pool} was retired; the new lease runs on pool {}", fresh.pool_id());
        assert_ne!(fresh.pool_id(), doomed_pool, "the broken pool is never handed out again");
        match report("job on a fresh pool", fresh.run(|| "ok").await) {
            Ok("ok") => {}
            other => panic!("expected Ok(\"ok\") on a fresh pool, got {other:?}"),
        }
        drop(fresh);

        // 4. Overload: every pool leased, a non-waiting acquire is refused.
        println!("-- overload");
        let busy = manager.acquire().owner("busy").await?;
        match report("try_acquire with every pool leased", manager.try_acquire().await.map(|l| l.id())) {
            Err(e @ Error::Unavailable) => {
                assert_eq!(e.kind(), ErrorKind::Overload);
                assert!(e.is_overload() && e.is_retryable());
                assert_eq!(http_status(&e), (503, true), "shed load: 503 + Retry-After");
            }
            other => panic!("expected Error::Unavailable, got {other:?}"),
        }
        drop(busy);

        // 5. After stop.
        println!("-- after stop");
        manager.stop().await;
        match report("acquire after stop", manager.acquire().await.map(|l| l.id())) {
            Err(e @ Error::Stopped) => assert_eq!(http_status(&e), (503, true)),
            other => panic!("expected Error::Stopped, got {other:?}"),
        }
        match report("job on a lease held across stop", lease.run(|| 1).await) {
            Err(Error::Stopped) => {}
            other => panic!("expected Error::Stopped, got {other:?}"),
        }
        Ok(())
    })
}
