//! [leasepool] on tokio: bounded, leased executor pools for blocking and
//! CPU-heavy work, sized from a runtime signal.
//!
//! This crate only implements [`leasepool_driver::Runtime`] with tokio's
//! spawner and timer and fixes the runtime parameter; everything else lives
//! in `leasepool-driver`. Most users depend on `leasepool` instead.
//!
//! The runtime follows tokio's clock (`tokio::time::Instant`), so leases
//! and timeouts respect `tokio::time::pause`. For tests on a paused clock,
//! enable this crate's `test-util` feature (`leasepool`'s
//! `tokio-test-util`): tokio's paused clock is visible only inside the
//! runtime, and with the feature the manager's calls from other threads (a
//! blocking acquire, a release from a plain thread, a job ending on a
//! worker) enter the runtime to read it: the one the manager's checker was
//! spawned on (before the first `start`, the one it was built in). Without it they read real time,
//! which differs from tokio's only while it is paused.
//!
//! ```
//! # async fn demo() -> Result<(), leasepool_tokio::Error> {
//! let manager = leasepool_tokio::LeasedExecutorManager::builder().max_pools(2).build()?;
//! manager.start().await?;
//! let lease = manager.acquire().await?;
//! assert_eq!(lease.run(|| 2 + 2).await?, 4);
//! # Ok(()) }
//! # leasepool_tokio::block_on(demo()).unwrap();
//! ```
//!
//! [leasepool]: https://docs.rs/leasepool

#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Instant;

use leasepool_driver::BoxFuture;

/// tokio as a leasepool [`Runtime`]: spawns leasepool's tasks (the checker,
/// a grinder's loop) on the runtime current where `start` runs, or, from a
/// plain thread, on the one current when the manager was built; sleeps
/// with tokio's timer. [`TokioRuntime::with_handle`] pins one runtime.
///
/// With no runtime to spawn on (none current, none captured, or the one
/// captured shut down), `start` returns [`Error::RuntimeGone`]. A tokio
/// runtime can go away under a started manager (a `block_on` that returns
/// drops its runtime, and the checker with it): the manager then reports
/// `is_running() == false` and fails its acquires with
/// [`Error::RuntimeGone`] until it is started again in a live runtime.
///
/// ```
/// let runtime = leasepool_tokio::TokioRuntime::default();
/// ```
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: Option<tokio::runtime::Handle>,
    /// Set by `with_handle`: always spawn on `handle`.
    pinned: bool,
    /// The runtime leasepool's tasks were last spawned on, whose (maybe
    /// paused) clock plain threads read (`test-util`).
    #[cfg(feature = "test-util")]
    clock: std::sync::Arc<std::sync::Mutex<Option<tokio::runtime::Handle>>>,
}

impl Default for TokioRuntime {
    /// Captures the current tokio handle, if any, so that a manager built
    /// inside a runtime can later be started from a plain thread.
    fn default() -> Self {
        TokioRuntime::new(tokio::runtime::Handle::try_current().ok(), false)
    }
}

impl TokioRuntime {
    /// Runs leasepool's tasks on `handle`, wherever `start` is called.
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let runtime = leasepool_tokio::TokioRuntime::with_handle(rt.handle().clone());
    /// ```
    pub fn with_handle(handle: tokio::runtime::Handle) -> Self {
        TokioRuntime::new(Some(handle), true)
    }

    fn new(handle: Option<tokio::runtime::Handle>, pinned: bool) -> Self {
        TokioRuntime {
            #[cfg(feature = "test-util")]
            clock: std::sync::Arc::new(std::sync::Mutex::new(handle.clone())),
            handle,
            pinned,
        }
    }
}

impl leasepool_driver::Runtime for TokioRuntime {
    fn spawn(&self, future: BoxFuture<()>) {
        // The current runtime first: the one captured at build time may
        // have been dropped since (tokio would drop the task silently).
        let handle = match self.pinned {
            true => self.handle.clone(),
            false => tokio::runtime::Handle::try_current().ok().or_else(|| self.handle.clone()),
        };
        match handle {
            Some(handle) => {
                #[cfg(feature = "test-util")]
                {
                    *self.clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(handle.clone());
                }
                drop(handle.spawn(future));
            }
            // No runtime to run it on: dropping the task is how a runtime
            // says so (`Runtime::spawn`), and `start` returns
            // `Error::RuntimeGone` instead of running with no checker.
            None => drop(future),
        }
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)))
    }

    fn now(&self) -> Instant {
        // A paused clock is the runtime's: outside any runtime, tokio reads
        // real time, so a plain thread enters the one the manager runs on.
        #[cfg(feature = "test-util")]
        if tokio::runtime::Handle::try_current().is_err() {
            let clock = self.clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            if let Some(handle) = clock {
                let _entered = handle.enter();
                return tokio::time::Instant::now().into_std();
            }
        }
        tokio::time::Instant::now().into_std()
    }
}

leasepool_driver::runtime_api!(TokioRuntime, "tokio", leasepool_tokio);

/// Runs `future` to completion on a new multi-threaded tokio runtime: the
/// `main` of examples and small programs.
///
/// ```
/// assert_eq!(leasepool_tokio::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("leasepool-tokio: could not build a tokio runtime")
        .block_on(future)
}
