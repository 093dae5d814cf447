//! The runtime-independent async machinery of [leasepool], written once
//! against the small [`Runtime`] trait: the [`LeasedExecutorManager`]
//! handle, [`Lease`]s, cancel-safe FIFO waiters, the checker task that
//! drives [`leasepool_core`]'s timers, the dedicated-thread backend, and
//! the [`WorkGrinder`].
//!
//! Most users depend on the `leasepool` facade (or `leasepool-tokio`,
//! `leasepool-async-std`, `leasepool-smol`), which fix the runtime
//! parameter. Use this crate directly to run leasepool on another executor:
//! implement [`Runtime`] (spawn, sleep until an instant, now) and use
//! `LeasedExecutorManager<YourRuntime>`.
//!
//! [leasepool]: https://docs.rs/leasepool

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acquire;
mod backend;
mod builder;
mod error;
mod grinder;
mod idle;
mod job;
mod lease;
mod manager;
#[cfg(all(unix, feature = "process"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "process"))))]
pub mod process;
mod recorder;
mod runtime;
mod shared;
mod shutdown;
mod signal;
mod slots;
mod stats;
mod tally;
mod task;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
#[cfg(feature = "serde")]
mod wire;

pub use acquire::{AcquireBuilder, Acquiring, TryAcquireBuilder};
pub use backend::Backend;
pub use builder::Builder;
pub use error::{Error, ErrorKind};
pub use grinder::{
    GrinderBuilder, GrinderCounters, GrinderShutdownReport, GrinderStats, StopMode, WorkGrinder, WorkHandle,
};
pub use job::{CancelToken, JobHandle};
pub use lease::Lease;
pub use leasepool_core::{self as core, Config, ConfigError, LeaseId, LeaseStats, PoolId};
pub use manager::LeasedExecutorManager;
#[cfg(feature = "async-io")]
pub use runtime::async_io_sleep_until;
pub use runtime::{BoxFuture, Runtime};
pub use shutdown::ShutdownReport;
pub use stats::{Counters, Stats};

/// Declares the ready-to-use API of one runtime adapter: type aliases that
/// fix the runtime parameter, plus the runtime-independent re-exports.
/// Each adapter crate invokes it once, so the three stay identical.
///
/// ```
/// mod my_runtime_api {
///     # #[derive(Clone, Debug, Default)]
///     # pub struct MyRuntime;
///     # impl leasepool_driver::Runtime for MyRuntime {
///     #     fn spawn(&self, f: leasepool_driver::BoxFuture<()>) { std::thread::spawn(move || futures_executor::block_on(f)); }
///     #     fn sleep_until(&self, d: std::time::Instant) -> leasepool_driver::BoxFuture<()> {
///     #         Box::pin(async move { std::thread::sleep(d.saturating_duration_since(std::time::Instant::now())) })
///     #     }
///     # }
///     leasepool_driver::runtime_api!(MyRuntime, "my runtime", my_runtime_api);
/// }
/// let builder = my_runtime_api::LeasedExecutorManager::builder().max_pools(2);
/// ```
#[macro_export]
macro_rules! runtime_api {
    ($rt:ty, $name:literal, $krate:ident) => {
        pub use $crate::{
            Backend, CancelToken, Config, ConfigError, Counters, Error, ErrorKind, GrinderCounters,
            GrinderShutdownReport, GrinderStats, JobHandle, LeaseId, LeaseStats, PoolId, Runtime, ShutdownReport,
            Stats, StopMode, WorkHandle,
        };

        #[doc = concat!("[`leasepool::LeasedExecutorManager`] on ", $name, ".")]
        ///
        /// ```
        #[doc = concat!("let manager = ", stringify!($krate), "::LeasedExecutorManager::builder().max_pools(2).build()?;")]
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub type LeasedExecutorManager = $crate::LeasedExecutorManager<$rt>;

        #[doc = concat!("[`leasepool::Lease`] on ", $name, ".")]
        ///
        /// ```
        #[doc = concat!("async fn demo(m: ", stringify!($krate), "::LeasedExecutorManager) -> Result<(), ", stringify!($krate), "::Error> {")]
        #[doc = concat!("    let lease: ", stringify!($krate), "::Lease = m.acquire().await?;")]
        ///     lease.run(|| ()).await
        /// }
        /// ```
        pub type Lease = $crate::Lease<$rt>;

        #[doc = concat!("[`leasepool::Builder`] on ", $name, ".")]
        ///
        /// ```
        #[doc = concat!("let builder: ", stringify!($krate), "::Builder = ", stringify!($krate), "::LeasedExecutorManager::builder();")]
        /// ```
        pub type Builder = $crate::Builder<$rt>;

        #[doc = concat!("[`leasepool::AcquireBuilder`] on ", $name, ".")]
        ///
        /// ```
        #[doc = concat!("fn demo(m: &", stringify!($krate), "::LeasedExecutorManager) -> ", stringify!($krate), "::AcquireBuilder {")]
        ///     m.acquire().owner("example")
        /// }
        /// ```
        pub type AcquireBuilder = $crate::AcquireBuilder<$rt>;

        #[doc = concat!("[`leasepool::TryAcquireBuilder`] on ", $name, ".")]
        ///
        /// ```
        #[doc = concat!("fn demo(m: &", stringify!($krate), "::LeasedExecutorManager) -> ", stringify!($krate), "::TryAcquireBuilder {")]
        ///     m.try_acquire().owner("example")
        /// }
        /// ```
        pub type TryAcquireBuilder = $crate::TryAcquireBuilder<$rt>;

        #[doc = concat!("[`leasepool::Acquiring`] on ", $name, ".")]
        ///
        /// ```
        /// use std::future::IntoFuture;
        #[doc = concat!("fn demo(m: &", stringify!($krate), "::LeasedExecutorManager) -> ", stringify!($krate), "::Acquiring {")]
        ///     m.acquire().into_future()
        /// }
        /// ```
        pub type Acquiring = $crate::Acquiring<$rt>;

        #[doc = concat!("Sleeps for `duration` with ", $name, "'s timer: a runtime-neutral pause for examples and tests.")]
        ///
        /// ```
        #[doc = concat!(stringify!($krate), "::block_on(", stringify!($krate), "::sleep(std::time::Duration::from_millis(1)));")]
        /// ```
        pub fn sleep(duration: std::time::Duration) -> $crate::BoxFuture<()> {
            // Built when first polled, inside the runtime (tokio's timer
            // needs its context).
            Box::pin(async move {
                let runtime = <$rt as ::std::default::Default>::default();
                let deadline = $crate::Runtime::now(&runtime) + duration;
                $crate::Runtime::sleep_until(&runtime, deadline).await
            })
        }

        #[doc = concat!("[`leasepool::WorkGrinder`] on ", $name, ".")]
        ///
        /// ```
        #[doc = concat!("fn demo(m: &", stringify!($krate), "::LeasedExecutorManager) -> Result<", stringify!($krate), "::WorkGrinder, ", stringify!($krate), "::ConfigError> {")]
        #[doc = concat!("    ", stringify!($krate), "::WorkGrinder::builder(m).build()")]
        /// }
        /// ```
        pub type WorkGrinder = $crate::WorkGrinder<$rt>;

        #[doc = concat!("[`leasepool::GrinderBuilder`] on ", $name, ".")]
        ///
        /// ```
        #[doc = concat!("fn demo(m: &", stringify!($krate), "::LeasedExecutorManager) -> ", stringify!($krate), "::GrinderBuilder {")]
        #[doc = concat!("    ", stringify!($krate), "::WorkGrinder::builder(m).batch_size_threshold(8)")]
        /// }
        /// ```
        pub type GrinderBuilder = $crate::GrinderBuilder<$rt>;
    };
}
