//! The process manager: a `LeasedExecutorManager` whose pools are process
//! pools, behind a handle that hands out only [`ProcessLease`]s.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use leasepool_core::{Config, ConfigError};

use super::{ProcessConfig, ProcessLease};
use crate::acquire::{AcquireBuilder, Acquiring};
use crate::builder::Builder;
use crate::error::Error;
use crate::manager::LeasedExecutorManager;
use crate::runtime::Runtime;
use crate::shutdown::ShutdownReport;
use crate::stats::Stats;

impl<R: Runtime> Builder<R> {
    /// Validates the configuration and builds a stopped *process*
    /// manager: each pool runs `workers_per_pool` worker processes (see
    /// [`process`](crate::process)). Unix only, feature `process`.
    ///
    /// # Errors
    ///
    /// Those of [`build`](Self::build), and a [`ConfigError`] naming the
    /// invalid [`ProcessConfig`] field (`kill_grace`, `start_timeout`,
    /// `memory_limit`, `max_frame`, `logging.target`).
    ///
    /// ```
    /// use leasepool::process::ProcessConfig;
    /// let manager = leasepool::LeasedExecutorManager::builder()
    ///     .max_pools(2)
    ///     .workers_per_pool(2)
    ///     .build_process(ProcessConfig::new())?;
    /// assert_eq!(manager.backend(), leasepool::Backend::Process);
    /// # Ok::<(), leasepool::ConfigError>(())
    /// ```
    pub fn build_process(self, config: ProcessConfig) -> Result<ProcessManager<R>, ConfigError> {
        config.validate()?;
        let max_frame = config.max_frame;
        let manager = self.build_with(Some(Arc::new(config)))?;
        Ok(ProcessManager { manager, max_frame })
    }
}

/// A lease manager whose pools are worker processes. Built with
/// [`Builder::build_process`]; the same lifecycle, sizing, waiting and
/// expiry as [`LeasedExecutorManager`], but its leases are
/// [`ProcessLease`]s, which run [`ProcessJob`](super::ProcessJob)s only.
///
/// Cloning gives another handle on the same manager.
///
/// ```
/// # async fn demo(manager: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
/// manager.start().await?;
/// let lease = manager.acquire().owner("renderer").await?;
/// // lease.run::<SomeJob>(input).await?
/// drop(lease);
/// manager.stop().await;
/// # Ok(()) }
/// ```
pub struct ProcessManager<R: Runtime> {
    manager: LeasedExecutorManager<R>,
    max_frame: usize,
}

impl<R: Runtime> Clone for ProcessManager<R> {
    fn clone(&self) -> Self {
        ProcessManager { manager: self.manager.clone(), max_frame: self.max_frame }
    }
}

impl<R: Runtime> fmt::Debug for ProcessManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessManager").field(&self.manager).finish()
    }
}

impl<R: Runtime> ProcessManager<R> {
    /// The thread manager underneath, for the grinder (crate only: its
    /// closure-taking leases must not reach users).
    pub(crate) fn inner(&self) -> &LeasedExecutorManager<R> {
        &self.manager
    }

    /// The frame limit its leases check inputs against.
    pub(crate) fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Starts the manager (see [`LeasedExecutorManager::start`]). Pools
    /// start their worker processes in the background: a worker that fails
    /// to start breaks its pool, and a job queued on it fails with
    /// [`Error::Broken`] naming the cause.
    ///
    /// # Errors
    ///
    /// As [`LeasedExecutorManager::start`].
    ///
    /// ```
    /// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// m.start().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start(&self) -> Result<(), Error> {
        self.manager.start().await
    }

    /// Stops the manager: waiters fail, every pool is shut down and its
    /// worker processes killed (SIGTERM, then SIGKILL after the grace
    /// period); running jobs fail with [`Error::Stopped`].
    ///
    /// ```
    /// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// m.stop().await;
    /// # }
    /// ```
    pub async fn stop(&self) {
        self.manager.stop().await;
    }

    /// Graceful shutdown (see [`LeasedExecutorManager::shutdown`]): leases
    /// may finish until `timeout`; past it the manager stops, and the
    /// worker processes still running jobs are killed.
    ///
    /// ```
    /// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// let report = m.shutdown(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.manager.shutdown(timeout).await
    }

    /// An acquire request for a [`ProcessLease`]: set options, then
    /// `.await` it.
    ///
    /// ```
    /// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().lease_for(std::time::Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub fn acquire(&self) -> ProcessAcquire<R> {
        ProcessAcquire { inner: self.manager.acquire() }
    }

    /// Whether the manager is running (see
    /// [`LeasedExecutorManager::is_running`]).
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// if !m.is_running() { println!("not started"); }
    /// # }
    /// ```
    pub fn is_running(&self) -> bool {
        self.manager.is_running()
    }

    /// Pools, available and leased.
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// println!("{} pools", m.total_count());
    /// # }
    /// ```
    pub fn total_count(&self) -> usize {
        self.manager.total_count()
    }

    /// Pools leased now.
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// println!("{} leased", m.leased_count());
    /// # }
    /// ```
    pub fn leased_count(&self) -> usize {
        self.manager.leased_count()
    }

    /// Acquires waiting now.
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// println!("{} waiting", m.waiting_count());
    /// # }
    /// ```
    pub fn waiting_count(&self) -> usize {
        self.manager.waiting_count()
    }

    /// The sizing signal changed (see
    /// [`LeasedExecutorManager::notify_scale_changed`]).
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// m.notify_scale_changed();
    /// # }
    /// ```
    pub fn notify_scale_changed(&self) {
        self.manager.notify_scale_changed();
    }

    /// Always [`Backend::Process`](crate::Backend::Process).
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// assert_eq!(m.backend(), leasepool::Backend::Process);
    /// # }
    /// ```
    pub fn backend(&self) -> crate::Backend {
        self.manager.backend()
    }

    /// The validated configuration.
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// println!("up to {} pools", m.config().max_pools());
    /// # }
    /// ```
    pub fn config(&self) -> Config {
        self.manager.config()
    }

    /// A snapshot of the manager's counters (see [`Stats`]).
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
    /// println!("{:?}", m.stats());
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        self.manager.stats()
    }
}

/// An acquire request of a [`ProcessManager`]: the options of
/// [`AcquireBuilder`], awaited into a [`ProcessLease`].
///
/// # Errors
///
/// As [`AcquireBuilder`].
///
/// ```
/// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
/// use std::time::Duration;
/// let lease = m.acquire().owner("batch").lease_for(Duration::from_secs(60)).timeout(Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
#[must_use = "an acquire does nothing until awaited"]
pub struct ProcessAcquire<R: Runtime> {
    inner: AcquireBuilder<R>,
}

impl<R: Runtime> fmt::Debug for ProcessAcquire<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessAcquire").field(&self.inner).finish()
    }
}

impl<R: Runtime> ProcessAcquire<R> {
    /// Labels the lease (see [`AcquireBuilder::owner`]).
    ///
    /// ```
    /// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().owner("tenant-7").await?;
    /// # Ok(()) }
    /// ```
    pub fn owner(self, owner: impl Into<Arc<str>>) -> Self {
        ProcessAcquire { inner: self.inner.owner(owner) }
    }

    /// The lease duration (see [`AcquireBuilder::lease_for`]).
    ///
    /// ```
    /// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().lease_for(std::time::Duration::from_secs(2)).await?;
    /// # Ok(()) }
    /// ```
    pub fn lease_for(self, lease: Duration) -> Self {
        ProcessAcquire { inner: self.inner.lease_for(lease) }
    }

    /// How long to wait for a pool (see [`AcquireBuilder::timeout`]).
    ///
    /// ```
    /// # async fn demo(m: leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().timeout(std::time::Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(self, timeout: Duration) -> Self {
        ProcessAcquire { inner: self.inner.timeout(timeout) }
    }

    /// Waits on the calling thread (see [`AcquireBuilder::blocking`]).
    ///
    /// # Errors
    ///
    /// As [`AcquireBuilder`].
    ///
    /// ```
    /// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().blocking()?;
    /// # Ok(()) }
    /// ```
    pub fn blocking(self) -> Result<ProcessLease<R>, Error> {
        self.inner.blocking().and_then(ProcessLease::new)
    }
}

impl<R: Runtime> IntoFuture for ProcessAcquire<R> {
    type Output = Result<ProcessLease<R>, Error>;
    type IntoFuture = ProcessAcquiring<R>;

    fn into_future(self) -> ProcessAcquiring<R> {
        ProcessAcquiring { inner: self.inner.into_future() }
    }
}

/// The future of a [`ProcessAcquire`]: cancel-safe like [`Acquiring`].
///
/// ```
/// use std::future::IntoFuture;
/// # fn demo(m: &leasepool::process::ProcessManager<leasepool::DefaultRuntime>) {
/// let acquiring = m.acquire().into_future();
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ProcessAcquiring<R: Runtime> {
    inner: Acquiring<R>,
}

impl<R: Runtime> fmt::Debug for ProcessAcquiring<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessAcquiring").field(&self.inner).finish()
    }
}

impl<R: Runtime> Future for ProcessAcquiring<R> {
    type Output = Result<ProcessLease<R>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx).map(|r| r.and_then(ProcessLease::new))
    }
}
