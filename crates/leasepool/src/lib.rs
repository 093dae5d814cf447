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
//!
//! # Observability
//!
//! [`stats()`](driver::LeasedExecutorManager::stats) is a snapshot of the
//! counts, the bounds and every live lease, with [`Counters`] since the
//! manager was built (grants, refusals, lease ends, pools, jobs, size
//! provider reads); [`WorkGrinder::stats`](driver::WorkGrinder::stats)
//! carries [`GrinderCounters`]. Two features, both off by default, publish
//! them.
//!
//! **`serde`**: `Serialize` for [`Stats`], [`LeaseStats`], [`Counters`],
//! [`GrinderStats`], [`GrinderCounters`], [`Config`] and [`Backend`], in a
//! language-neutral form: field names as keys, durations as seconds (`f64`)
//! under the field's name plus `_secs`, the backend as `"thread"`, and no
//! `Instant`. A lease's `leased_at` becomes `held_secs` (held so far, at
//! the snapshot), and it gains `expires_in_secs`, the seconds left to its
//! soft expiry, negative once past. Serializing reads no clock.
//!
//! ```
//! # #[cfg(all(feature = "serde", feature = "runtime-tokio"))]
//! # leasepool::block_on(async {
//! let manager = leasepool::LeasedExecutorManager::builder().max_pools(2).build()?;
//! manager.start().await?;
//! let lease = manager.acquire().owner("report").await?;
//! let json: serde_json::Value = serde_json::to_value(manager.stats())?;
//! assert_eq!(json["backend"], "thread");
//! assert_eq!(json["leases"][0]["owner"], "report");
//! assert_eq!(json["leases"][0]["lease_for_secs"], 300.0);
//! assert_eq!(json["counters"]["leases_granted_at_once"], 1);
//! drop(lease);
//! manager.stop().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! **`metrics`**: records gauges (`leasepool_pools`, `leasepool_waiting`,
//! ...), counters (`leasepool_leases_granted_total{when=...}`, ...; equal
//! to [`Counters`] and [`GrinderCounters`]) and histograms in seconds
//! (`leasepool_acquire_wait_seconds`, `leasepool_lease_hold_seconds`,
//! `leasepool_job_run_seconds`) through the [`metrics`] facade, each
//! labelled `manager` = the manager's `name_prefix`. The handles are
//! registered when the manager (or grinder) is built, with the recorder
//! current then: install the recorder first. A manager keeps its figures
//! itself and publishes them in batches, within 250 ms while it runs and
//! at once when it is stopped, so that recording costs the hot path a few
//! nanoseconds rather than a call into the exporter per event. The README
//! lists every metric.
//!
//! ```
//! # #[cfg(all(feature = "metrics", feature = "runtime-tokio"))]
//! # leasepool::block_on(async {
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! let manager = leasepool::LeasedExecutorManager::builder().max_pools(2).name_prefix("thumbs").build()?;
//! manager.start().await?;
//! drop(manager.acquire().await?);
//! manager.stop().await; // published within 250 ms while running, at once by a stop
//! let text = prometheus.render(); // what a GET /metrics answers
//! assert!(text.contains(r#"leasepool_leases_granted_total{manager="thumbs",when="at_once"} 1"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! [`metrics`]: https://docs.rs/metrics

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use leasepool_core as core;
pub use leasepool_driver as driver;
pub use leasepool_driver::{
    Backend, BoxFuture, CancelToken, Config, ConfigError, Counters, Error, ErrorKind, GrinderCounters,
    GrinderShutdownReport, GrinderStats, JobHandle, LeaseId, LeaseStats, PoolId, Runtime, ShutdownReport,
    Stats, StopMode, WorkHandle,
};

/// The process backend: pools of worker processes whose revoked leases
/// really stop their jobs (see the module documentation). Unix only
/// (Linux; macOS best effort), feature `process`; absent on other targets.
#[cfg(all(unix, feature = "process"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "process"))))]
pub mod process {
    pub use leasepool_driver::process::*;
}

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
