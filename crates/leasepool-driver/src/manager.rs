//! The manager handle: lifecycle, acquire entry points, counts and stats.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use leasepool_core::{Acquire, Config};

use crate::acquire::{AcquireBuilder, TryAcquireBuilder};
use crate::backend::Backend;
use crate::builder::Builder;
use crate::error::Error;
use crate::runtime::Runtime;
use crate::shared::Shared;
use crate::shutdown::ShutdownReport;
use crate::stats::{Counters, Stats};

/// Leases bounded executor pools to async callers and sizes them from a
/// runtime signal.
///
/// Cheap to clone (`Arc` inside), `Send + Sync`, usable from any task or
/// thread. Build it with [`LeasedExecutorManager::builder`], then
/// [`start`](Self::start) it; [`acquire`](Self::acquire) leases; call
/// [`shutdown`](Self::shutdown) (let the leases finish, up to a deadline)
/// or [`stop`](Self::stop) (cut them now) when done. Dropping every handle (the manager's
/// clones and every lease) also shuts the pools down, once the jobs already
/// queued through a released lease have run: they keep it alive until then.
///
/// ```
/// # async fn demo() -> Result<(), leasepool::Error> {
/// use leasepool::LeasedExecutorManager;
///
/// let manager = LeasedExecutorManager::builder().max_pools(4).workers_per_pool(2).build()?;
/// manager.start().await?;
/// let lease = manager.acquire().await?;
/// let answer = lease.run(|| 6 * 7).await?;
/// drop(lease);
/// manager.stop().await;
/// # let _ = answer; Ok(()) }
/// ```
pub struct LeasedExecutorManager<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Clone for LeasedExecutorManager<R> {
    fn clone(&self) -> Self {
        LeasedExecutorManager { shared: Arc::clone(&self.shared) }
    }
}

impl<R: Runtime> fmt::Debug for LeasedExecutorManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("LeasedExecutorManager")
            .field("running", &st.core.is_running())
            .field("available", &st.core.available_count())
            .field("leased", &st.core.leased_count())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Default> LeasedExecutorManager<R> {
    /// A builder on the runtime's default handle.
    ///
    /// ```
    /// # fn demo() {
    /// let builder = leasepool::LeasedExecutorManager::builder().max_pools(2);
    /// # }
    /// ```
    pub fn builder() -> Builder<R> {
        Builder::with_runtime(R::default())
    }
}

impl<R: Runtime> LeasedExecutorManager<R> {
    /// The handle on a manager `Builder::build` made.
    pub(crate) fn from_shared(shared: Arc<Shared<R>>) -> Self {
        LeasedExecutorManager { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<R>> {
        &self.shared
    }

    /// Starts the manager (idempotent): creates pools up to the desired
    /// count (the size provider is read now) and starts the checker. If a
    /// pool cannot be created, everything created is torn down and the
    /// error returned. A stopped manager can be started again, and so can
    /// one whose runtime went away (see [`is_running`](Self::is_running)):
    /// the checker is spawned again on the runtime current now.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] if a pool's threads could not be started;
    /// [`Error::RuntimeGone`] if there is no runtime to run the checker on
    /// (on tokio: `start` called outside a runtime, on a manager not built
    /// inside a live one). The manager is then left as it was: a manager
    /// that was not running stays stopped, one whose runtime went away
    /// stays without one.
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// m.start().await?;
    /// m.start().await?; // no-op
    /// # Ok(()) }
    /// ```
    pub async fn start(&self) -> Result<(), Error> {
        let units = self.shared.sample_units();
        // The pools are created after the lock is released; the failures
        // returned are those of this call's own creations.
        let ((started, run, orphaned), failures) =
            self.shared.with_creations(self.shared.runtime.now(), |st, now| {
                // A failing provider: the last value (0 at the first start).
                let units = units.unwrap_or_else(|| st.core.units());
                let started = st.core.start(now, units).is_ok();
                (started, st.run_epoch(), !started && st.checker_lost())
            });
        // Already running, unless its checker went down with the runtime
        // it ran on: then this start spawns a new one.
        if !started && !orphaned {
            return Ok(());
        }
        let failed = failures.into_iter().next().filter(|_| started).map(|(_, e)| e);
        self.shared.with(|st, now| {
            // A stop (and maybe another start) came in between: this run is
            // over, and whatever runs now is not this start's to undo.
            if st.run_epoch() != run {
                return failed.map_or(Ok(()), |err| Err(Error::Spawn(err)));
            }
            if let Some(err) = failed {
                // A pool failed to start: undo everything.
                st.halt(now);
                return Err(Error::Spawn(err));
            }
            if self.shared.spawn_checker(st) {
                tracing::info!(
                    pools = st.core.total_count(),
                    units = st.core.units(),
                    "lease manager started"
                );
                return Ok(());
            }
            // No runtime to run the checker on. A fresh start is undone, or
            // the manager would run with nothing enforcing timeouts and
            // expiries; an orphaned one stays as it was: not running, its
            // acquires failing with `RuntimeGone`, until a start succeeds.
            if started {
                st.halt(now);
            }
            tracing::warn!("lease manager not started: no runtime to run its checker on");
            Err(Error::RuntimeGone)
        })
    }

    /// Stops the manager (idempotent): stops the checker and shuts down every
    /// pool, leased or not. Queued jobs are cancelled ([`Error::Cancelled`]);
    /// running jobs finish on their threads, but `stop` does not wait for
    /// them. Every waiting acquire, and every later one, fails with
    /// [`Error::Stopped`] until the manager is started again.
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) {
    /// m.stop().await;
    /// assert_eq!(m.total_count(), 0);
    /// # }
    /// ```
    pub async fn stop(&self) {
        self.shared.with(|st, now| {
            if st.halt(now) {
                tracing::info!("lease manager stopped");
            }
        });
    }

    /// Shuts the manager down gracefully, waiting at most `timeout` for
    /// the leases to end.
    ///
    /// At once: every later acquire, and every waiting one, fails with
    /// [`Error::Stopped`], and idle pools shut down. Leased work goes on:
    /// jobs run, new jobs may be submitted, and a lease released (or
    /// revoked at hard expiry) shuts its pool down rather than keeping it.
    /// The call returns as soon as the last lease has ended, stopping the
    /// manager; at the deadline it stops the manager as [`stop`](Self::stop)
    /// does, cutting the leases still live (their queued jobs cancelled,
    /// their running jobs left to finish on their threads). It never waits
    /// past the deadline for a lease. Either way the manager ends stopped,
    /// and can be started again.
    ///
    /// On a manager not running it does nothing
    /// ([`ShutdownReport::was_running`] is false). A `stop` during the wait
    /// ends it early; a second `shutdown` joins the first.
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// use std::time::Duration;
    /// let lease = m.acquire().await?;
    /// let job = lease.submit(|| 6 * 7)?;
    /// drop(lease); // released: the job still runs
    /// let report = m.shutdown(Duration::from_secs(10)).await;
    /// assert_eq!(job.await?, 42);
    /// assert_eq!(report.leases_cut, 0);
    /// assert!(matches!(m.acquire().await, Err(leasepool::Error::Stopped)));
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        crate::shutdown::shutdown(&self.shared, timeout).await
    }

    /// Starts an acquire: `.await` it, optionally after setting
    /// `.owner(..)`, `.lease_for(..)` and `.timeout(..)`. Waiters are served
    /// first come, first served.
    ///
    /// # Errors
    ///
    /// The acquire resolves to: [`Error::NotStarted`] (never started),
    /// [`Error::Stopped`] (stopped or shutting down, before or while it
    /// waited), [`Error::RuntimeGone`] (the runtime driving the manager
    /// went away), [`Error::Timeout`] (no pool within `.timeout(..)`),
    /// [`Error::Unavailable`] (`max_waiters` acquires already wait),
    /// [`Error::Spawn`] (the pool created for it could not start its
    /// threads, with nothing else coming), [`Error::Broken`] (the pool it
    /// was granted broke before it was handed over), [`Error::Config`] (a
    /// zero `.lease_for(..)`).
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().owner("importer").await?;
    /// # Ok(()) }
    /// ```
    pub fn acquire(&self) -> AcquireBuilder<R> {
        AcquireBuilder::new(Arc::clone(&self.shared), Acquire::wait())
    }

    /// Like [`acquire`](Self::acquire), but never waits: fails at once with
    /// [`Error::Unavailable`] when no pool is free and the manager is at
    /// `max_pools` (it does wait for a pool it has just asked to be
    /// created: microseconds for threads).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`], and the errors of
    /// [`acquire`](Self::acquire) but [`Error::Timeout`].
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) {
    /// match m.try_acquire().await {
    ///     Ok(lease) => { /* use it */ }
    ///     Err(leasepool::Error::Unavailable) => { /* shed load */ }
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # }
    /// ```
    pub fn try_acquire(&self) -> TryAcquireBuilder<R> {
        TryAcquireBuilder::new(Arc::clone(&self.shared))
    }

    /// Wakes the checker now, so pools follow a changed size signal without
    /// waiting for `check_interval`.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// m.notify_scale_changed();
    /// # }
    /// ```
    pub fn notify_scale_changed(&self) {
        self.shared.with(|st, now| {
            st.notify_scale_changed(now);
        });
    }

    /// The desired pool count for the size provider's current value:
    /// `min(max_pools, max(min_pools, ceil(units / units_per_pool)))`. If
    /// the provider fails, the last unit count the manager acted on.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// assert!(m.desired_executor_count() >= 1);
    /// # }
    /// ```
    pub fn desired_executor_count(&self) -> usize {
        // The provider is user code: never call it under the lock.
        let units = self.shared.sample_units();
        let st = self.shared.lock();
        st.core.config().desired_executor_count(units.unwrap_or_else(|| st.core.units()))
    }

    /// Idle pools.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let idle = m.available_count();
    /// # }
    /// ```
    pub fn available_count(&self) -> usize {
        self.shared.lock().core.available_count()
    }

    /// Leased pools, draining leases included.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let busy = m.leased_count();
    /// # }
    /// ```
    pub fn leased_count(&self) -> usize {
        self.shared.lock().core.leased_count()
    }

    /// `available + leased + creating` (pools whose threads are being
    /// started): never above `max_pools`.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// assert!(m.total_count() >= m.available_count() + m.leased_count());
    /// # }
    /// ```
    pub fn total_count(&self) -> usize {
        self.shared.lock().core.total_count()
    }

    /// Acquires waiting for a pool.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let queued = m.waiting_count();
    /// # }
    /// ```
    pub fn waiting_count(&self) -> usize {
        self.shared.lock().core.waiting_count()
    }

    /// Whether the manager is started and its checker alive. False once the
    /// runtime the checker ran on has shut down (on tokio: the runtime
    /// `start` ran in was dropped): every waiting and every new acquire then
    /// fails with [`Error::RuntimeGone`] until `start` is called again in a
    /// live runtime. smol's and async-std's global executors and the plain
    /// threads runtime never shut down.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// if !m.is_running() { println!("not started, or its runtime is gone"); }
    /// # }
    /// ```
    pub fn is_running(&self) -> bool {
        let st = self.shared.lock();
        st.core.is_running() && !st.checker_lost()
    }

    /// The executor backend.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// assert_eq!(m.backend(), leasepool::Backend::Thread);
    /// # }
    /// ```
    pub fn backend(&self) -> Backend {
        self.shared.settings.backend()
    }

    /// The validated configuration.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// println!("up to {} pools", m.config().max_pools());
    /// # }
    /// ```
    pub fn config(&self) -> Config {
        self.shared.lock().core.config().clone()
    }

    /// A snapshot: counts, configuration, and each live lease with its owner
    /// and time left to soft and hard expiry (never negative).
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let stats = m.stats();
    /// for lease in &stats.leases {
    ///     println!("{} {:?} {:?} left", lease.id, lease.owner, lease.soft_remaining);
    /// }
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        let st = self.shared.lock();
        // Read under the lock: a lease granted after `now` would show more
        // time left than its duration.
        let now = self.shared.runtime.now();
        let core = st.core.stats(now);
        let mut leases = core.leases;
        // The core hears of a lease's jobs only when it is released with
        // jobs in flight; the pool counts them all.
        for lease in &mut leases {
            if let Some(pool) = st.pools.get(&lease.pool) {
                lease.jobs = pool.jobs_in_flight();
            }
        }
        Stats {
            backend: self.shared.settings.backend(),
            name_prefix: Arc::clone(&self.shared.settings.name_prefix),
            running: core.running && !st.checker_lost(),
            available: core.available,
            leased: core.leased,
            creating: core.creating,
            total: core.total,
            winding_down: st.winding_down.iter().filter(|p| p.is_winding_down()).count(),
            desired_executor_count: core.desired_executor_count,
            units: core.units,
            waiting: core.waiting,
            min_pools: core.min_pools,
            max_pools: core.max_pools,
            workers_per_pool: core.workers_per_pool,
            leases,
            counters: Counters::new(&core.counters, self.shared.tally.values()),
        }
    }
}
