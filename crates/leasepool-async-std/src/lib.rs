//! [leasepool] on async-std: bounded, leased executor pools for blocking
//! and CPU-heavy work, sized from a runtime signal.
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052). This adapter is
//! kept for existing async-std services; new code should prefer tokio or
//! smol.
//!
//! This crate only implements [`leasepool_driver::Runtime`] with
//! async-std's task spawner and `async-io` timers and fixes the runtime
//! parameter; everything else lives in `leasepool-driver`.
//!
//! ```
//! # async fn demo() -> Result<(), leasepool_async_std::Error> {
//! let manager = leasepool_async_std::LeasedExecutorManager::builder().max_pools(2).build()?;
//! manager.start().await?;
//! let lease = manager.acquire().await?;
//! assert_eq!(lease.run(|| 2 + 2).await?, 4);
//! # Ok(()) }
//! # leasepool_async_std::block_on(demo()).unwrap();
//! ```
//!
//! [leasepool]: https://docs.rs/leasepool

#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Instant;

use leasepool_driver::BoxFuture;

/// async-std as a leasepool [`Runtime`]: tasks from `async_std::task::spawn`,
/// timers from `async-io` (which async-std itself uses).
///
/// ```
/// let runtime = leasepool_async_std::AsyncStdRuntime::default();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStdRuntime;

impl leasepool_driver::Runtime for AsyncStdRuntime {
    fn spawn(&self, future: BoxFuture<()>) {
        drop(async_std::task::spawn(future));
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        leasepool_driver::async_io_sleep_until(deadline)
    }
}

leasepool_driver::runtime_api!(AsyncStdRuntime, "async-std", leasepool_async_std);

/// Runs `future` to completion with `async_std::task::block_on`: the `main`
/// of examples and small programs.
///
/// ```
/// assert_eq!(leasepool_async_std::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}
