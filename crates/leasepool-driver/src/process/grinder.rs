//! The work grinder on a process manager: tiny [`ProcessJob`]s batched
//! onto one lease each, like [`WorkGrinder`] does for closures.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use leasepool_core::ConfigError;

use super::lease::encode_input;
use super::{ProcessJob, ProcessManager, pool};
use crate::error::Error;
use crate::grinder::{GrinderBuilder, GrinderShutdownReport, GrinderStats, StopMode, WorkGrinder};
use crate::runtime::Runtime;

/// A [`WorkGrinder`] on a [`ProcessManager`]: it batches many tiny
/// [`ProcessJob`]s onto one process lease each. Each item still makes one
/// round trip to a worker process; the batching saves the acquire and
/// release per item.
///
/// ```
/// # use leasepool::process::{ProcessGrinder, ProcessJob, ProcessManager};
/// # struct Square;
/// # impl ProcessJob for Square {
/// #     const NAME: &'static str = "square";
/// #     type Input = u64;
/// #     type Output = u64;
/// #     fn run(n: u64) -> u64 { n * n }
/// # }
/// # async fn demo(manager: ProcessManager<leasepool::DefaultRuntime>) -> Result<(), Box<dyn std::error::Error>> {
/// let grinder = ProcessGrinder::new(&manager, |b| b.batch_size_threshold(32))?;
/// grinder.start().await?;
/// // Queued at once, so that they share batches; then awaited in order.
/// let pending: Vec<_> = (0..100u64).map(|n| grinder.submit::<Square>(n)).collect();
/// for (n, square) in (0..100u64).zip(pending) {
///     assert_eq!(square.await?, n * n);
/// }
/// grinder.stop(leasepool::StopMode::Drain).await;
/// # Ok(()) }
/// ```
pub struct ProcessGrinder<R: Runtime> {
    grinder: WorkGrinder<R>,
    max_frame: usize,
}

impl<R: Runtime> Clone for ProcessGrinder<R> {
    fn clone(&self) -> Self {
        ProcessGrinder { grinder: self.grinder.clone(), max_frame: self.max_frame }
    }
}

impl<R: Runtime> fmt::Debug for ProcessGrinder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessGrinder").field(&self.grinder).finish()
    }
}

impl<R: Runtime> ProcessGrinder<R> {
    /// A stopped grinder on `manager`, its batching set by `configure`
    /// on a [`GrinderBuilder`] (`|b| b` keeps the defaults).
    ///
    /// # Errors
    ///
    /// As [`GrinderBuilder::build`].
    ///
    /// ```
    /// # fn demo(manager: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::ConfigError> {
    /// let grinder = leasepool::process::ProcessGrinder::new(&manager, |b| b.max_concurrent_batches(2))?;
    /// # Ok(()) }
    /// ```
    pub fn new(
        manager: &ProcessManager<R>,
        configure: impl FnOnce(GrinderBuilder<R>) -> GrinderBuilder<R>,
    ) -> Result<Self, ConfigError> {
        let grinder = configure(WorkGrinder::builder(manager.inner())).build()?;
        Ok(ProcessGrinder { grinder, max_frame: manager.max_frame() })
    }

    /// Starts the grinder (see [`WorkGrinder::start`]).
    ///
    /// # Errors
    ///
    /// As [`WorkGrinder::start`].
    ///
    /// ```
    /// # async fn demo(g: leasepool::process::ProcessGrinder<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// g.start().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start(&self) -> Result<(), Error> {
        self.grinder.start().await
    }

    /// Stops the grinder (see [`WorkGrinder::stop`]).
    ///
    /// ```
    /// # async fn demo(g: leasepool::process::ProcessGrinder<leasepool::DefaultRuntime>) {
    /// g.stop(leasepool::StopMode::Drain).await;
    /// # }
    /// ```
    pub async fn stop(&self, mode: StopMode) {
        self.grinder.stop(mode).await;
    }

    /// Graceful shutdown (see [`WorkGrinder::shutdown`]).
    ///
    /// ```
    /// # async fn demo(g: leasepool::process::ProcessGrinder<leasepool::DefaultRuntime>) {
    /// let report = g.shutdown(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> GrinderShutdownReport {
        self.grinder.shutdown(timeout).await
    }

    /// Queues job `J` with `input` now and returns a future of its output.
    ///
    /// # Errors
    ///
    /// [`Error::Codec`] if the input does not serialize (or is over the
    /// frame limit); those of [`WorkGrinder::submit`]; and those of a
    /// [`ProcessHandle`](super::ProcessHandle).
    ///
    /// ```
    /// # use leasepool::process::ProcessJob;
    /// # struct Square;
    /// # impl ProcessJob for Square {
    /// #     const NAME: &'static str = "square";
    /// #     type Input = u64;
    /// #     type Output = u64;
    /// #     fn run(n: u64) -> u64 { n * n }
    /// # }
    /// # async fn demo(g: leasepool::process::ProcessGrinder<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// assert_eq!(g.submit::<Square>(5).await?, 25);
    /// # Ok(()) }
    /// ```
    pub fn submit<J: ProcessJob>(
        &self,
        input: J::Input,
    ) -> impl Future<Output = Result<J::Output, Error>> + Send + 'static {
        let handle = encode_input::<J>(&input, self.max_frame)
            .and_then(|input| self.grinder.enqueue(move || pool::call::<J>(input)));
        async move { handle?.await? }
    }

    /// A snapshot of the grinder's counters (see [`GrinderStats`]).
    ///
    /// ```
    /// # fn demo(g: &leasepool::process::ProcessGrinder<leasepool::DefaultRuntime>) {
    /// println!("{:?}", g.stats());
    /// # }
    /// ```
    pub fn stats(&self) -> GrinderStats {
        self.grinder.stats()
    }
}
