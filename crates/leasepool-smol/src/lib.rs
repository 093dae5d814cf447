//! [leasepool] on smol: bounded, leased executor pools for blocking and
//! CPU-heavy work, sized from a runtime signal.
//!
//! This crate only implements [`leasepool_driver::Runtime`] with smol's
//! global executor and `async-io` timers and fixes the runtime parameter;
//! everything else lives in `leasepool-driver`. Most users depend on
//! `leasepool` with the `runtime-smol` feature instead.
//!
//! ```
//! # async fn demo() -> Result<(), leasepool_smol::Error> {
//! let manager = leasepool_smol::LeasedExecutorManager::builder().max_pools(2).build()?;
//! manager.start().await?;
//! let lease = manager.acquire().await?;
//! assert_eq!(lease.run(|| 2 + 2).await?, 4);
//! # Ok(()) }
//! # leasepool_smol::block_on(demo()).unwrap();
//! ```
//!
//! [leasepool]: https://docs.rs/leasepool

#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Instant;

use leasepool_driver::BoxFuture;

/// smol as a leasepool [`Runtime`]: tasks on smol's global executor, timers
/// from `async-io`.
///
/// ```
/// let runtime = leasepool_smol::SmolRuntime::default();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolRuntime;

impl leasepool_driver::Runtime for SmolRuntime {
    fn spawn(&self, future: BoxFuture<()>) {
        smol::spawn(future).detach();
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        leasepool_driver::async_io_sleep_until(deadline)
    }
}

leasepool_driver::runtime_api!(SmolRuntime, "smol", leasepool_smol);

/// Runs `future` to completion with `smol::block_on`: the `main` of
/// examples and small programs.
///
/// ```
/// assert_eq!(leasepool_smol::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}
