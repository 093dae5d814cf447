//! **leasepool**: bounded, leased executor capacity for blocking and
//! CPU-heavy work in async Rust services.
//!
//! Instead of sending every blocking call to one shared, unbounded pool
//! (`spawn_blocking`), callers acquire a short-lived [`Lease`](driver::Lease) on one of a
//! bounded number of executor pools, run synchronous work there, and give
//! it back. A manager grows and shrinks the number of pools from a runtime
//! signal (devices, tenants, shards: whatever your `size_provider` counts).
//!
//! On tokio, the default runtime, from the crate root (see
//! [Runtimes](#runtimes) for smol and async-std):
//!
//! ```
//! # #[cfg(feature = "runtime-tokio")]
//! # leasepool::block_on(async {
//! use leasepool::LeasedExecutorManager;
//!
//! let manager = LeasedExecutorManager::builder().max_pools(4).workers_per_pool(2).build()?;
//! manager.start().await?;
//!
//! let lease = manager.acquire().owner("thumbnails").await?;
//! let sum = lease.run(|| (1..=100u64).sum::<u64>()).await?;
//! assert_eq!(sum, 5050);
//! drop(lease); // releases the pool
//!
//! manager.stop().await;
//! # Ok::<(), leasepool::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Runtimes
//!
//! Pick one with a cargo feature: `runtime-tokio` (default),
//! `runtime-smol`, `runtime-async-std`, or `runtime-threads` for programs
//! with no async runtime at all (plain std threads drive the manager).
//! Features are additive: each enabled runtime is reachable under its own
//! module (`leasepool::tokio`, `leasepool::smol`, `leasepool::async_std`,
//! `leasepool::threads`), with the same names inside.
//! With no runtime feature the crate still builds, with the
//! runtime-independent types and the [`driver`] layer for plugging in your
//! own [`Runtime`].
//!
//! **The crate root is tokio's.** `LeasedExecutorManager`, `Lease`,
//! `Builder`, `AcquireBuilder`, `TryAcquireBuilder`, `Acquiring`,
//! `WorkGrinder`, `GrinderBuilder`, `DefaultRuntime` (`TokioRuntime`), `block_on` and
//! `sleep` at the root are the `tokio` module's, and exist only with
//! `runtime-tokio`; the runtime-independent types (`Error`, `Config`,
//! `Stats`, `StopMode`, ...) are at the root whatever the features. On
//! smol, async-std or plain threads, name the runtime's module:
//!
//! ```
//! # #[cfg(feature = "runtime-smol")]
//! # fn main() -> Result<(), leasepool::Error> {
//! use leasepool::smol::{LeasedExecutorManager, block_on};
//!
//! block_on(async {
//!     let manager = LeasedExecutorManager::builder().max_pools(2).build()?;
//!     manager.start().await?;
//!     let lease = manager.acquire().await?;
//!     assert_eq!(lease.run(|| 2 + 2).await?, 4);
//!     drop(lease);
//!     manager.stop().await;
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(feature = "runtime-smol"))]
//! # fn main() {}
//! ```
//!
//! Cargo features unify across a dependency graph: if any crate in your
//! build depends on `leasepool` with default features, `runtime-tokio` is
//! on, and root names in a smol program would silently be tokio's (and
//! `start` would fail with `Error::RuntimeGone` outside a tokio runtime). Naming the runtime's module
//! keeps a program on its runtime whatever else is enabled. For the same
//! reason, a library that uses leasepool should depend on it with
//! `default-features = false`, plus only the runtime features it needs (or
//! none, written against [`Runtime`] and [`driver`]).
//!
//! # Behaviour in brief
//!
//! * `desired = min(max_pools, max(min_pools, ceil(units / units_per_pool)))`.
//! * Acquire takes the most recently returned idle pool, creates one below
//!   `max_pools`, or waits (first come, first served, one wake per grant);
//!   [`try_acquire`](driver::LeasedExecutorManager::try_acquire) fails at once.
//!   Dropping an acquire future at any point loses no capacity.
//! * A lease expires softly after its duration and is revoked after the
//!   grace period: its pool is shut down (queued jobs cancelled, running
//!   jobs finish) and replaced.
//! * Releasing with jobs in flight *drains*: the pool is reused once they
//!   finish. Dropping a lease releases it.
//! * A panicking job fails only that job; a failing worker initializer
//!   breaks its pool, which is retired and replaced.
//! * `stop` fails waiters, cancels queued jobs and shuts every pool down
//!   without waiting for running jobs.
//! * A manager whose runtime shuts down (on tokio: the runtime `start` ran
//!   in is dropped) stops reporting `is_running`, and its waiting and new
//!   acquires fail with [`Error::RuntimeGone`] until it is started again;
//!   smol's and async-std's global executors and the threads runtime never
//!   shut down.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use leasepool_core as core;
pub use leasepool_driver as driver;
pub use leasepool_driver::{
    Backend, BoxFuture, CancelToken, Config, ConfigError, Error, ErrorKind, GrinderShutdownReport,
    GrinderStats, JobHandle, LeaseId, LeaseStats, PoolId, Runtime, ShutdownReport, Stats, StopMode,
    WorkHandle,
};

/// leasepool on tokio: the same items are at the crate root.
#[cfg(feature = "runtime-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-tokio")))]
pub mod tokio {
    pub use leasepool_tokio::*;
}

/// leasepool on smol: write `leasepool::smol::LeasedExecutorManager` and so
/// on (the crate root is tokio's).
#[cfg(feature = "runtime-smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-smol")))]
pub mod smol {
    pub use leasepool_smol::*;
}

/// leasepool on async-std (discontinued upstream, RUSTSEC-2025-0052; kept
/// for existing async-std services): write
/// `leasepool::async_std::LeasedExecutorManager` and so on (the crate root is
/// tokio's).
#[cfg(feature = "runtime-async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-async-std")))]
pub mod async_std {
    pub use leasepool_async_std::*;
}

/// leasepool with no async runtime, on plain std threads: write
/// `leasepool::threads::LeasedExecutorManager` and so on (the crate root is
/// tokio's). For CLIs and synchronous services: acquire with
/// `.blocking()`, wait for jobs with `wait()`, and call the `async`
/// methods (`start`, `stop`) through [`threads::block_on`].
///
/// ```
/// # #[cfg(feature = "runtime-threads")]
/// # fn main() -> Result<(), leasepool::Error> {
/// use leasepool::threads::{LeasedExecutorManager, block_on};
///
/// let manager = LeasedExecutorManager::builder().max_pools(2).build()?;
/// block_on(manager.start())?;
/// let lease = manager.acquire().blocking()?;
/// assert_eq!(lease.submit(|| 2 + 2)?.wait()?, 4);
/// drop(lease);
/// block_on(manager.stop());
/// # Ok(()) }
/// # #[cfg(not(feature = "runtime-threads"))]
/// # fn main() {}
/// ```
#[cfg(feature = "runtime-threads")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-threads")))]
pub mod threads {
    pub use leasepool_threads::*;
}

// The crate root is tokio's, and only tokio's: no other runtime's types
// take these names when tokio is off, so a program written against the root
// cannot move to another runtime because a feature was turned on elsewhere
// in the dependency graph.
#[cfg(feature = "runtime-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime-tokio")))]
pub use self::tokio::{
    AcquireBuilder, Acquiring, Builder, GrinderBuilder, Lease, LeasedExecutorManager,
    TokioRuntime as DefaultRuntime, TryAcquireBuilder, WorkGrinder, block_on, sleep,
};
