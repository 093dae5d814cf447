//! A lease: the right to run jobs on one pool until released or expired.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leasepool_core::{Grant, LeaseId, PoolId, ShutdownReason};

use crate::backend::ThreadPool;
use crate::error::Error;
use crate::job::{CancelToken, Job, JobEnd, JobHandle};
use crate::runtime::Runtime;
use crate::shared::{Handover, Shared};

/// A lease on one executor pool.
///
/// Run synchronous work on the pool with [`Lease::run`] (await the result)
/// or [`Lease::submit`] (get a [`JobHandle`]). Give the pool back with
/// [`Lease::release`], or just drop the lease: dropping releases it. If jobs
/// are still queued or running at release, the lease *drains*: it refuses
/// new jobs and its pool is reused only once they finish.
///
/// Past `hard_expires_at` the lease is revoked: its pool is shut down
/// (queued jobs cancelled, running jobs finish) and submissions fail with
/// [`Error::LeaseExpired`].
///
/// ```
/// # async fn demo(manager: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
/// let lease = manager.acquire().owner("thumbnailer").await?;
/// let size = lease.run(|| std::fs::metadata("Cargo.toml").map(|m| m.len())).await?;
/// lease.release();
/// # let _ = size; Ok(()) }
/// ```
pub struct Lease<R: Runtime> {
    shared: Arc<Shared<R>>,
    grant: Grant,
    owner: Option<Arc<str>>,
    pool: Arc<ThreadPool>,
    /// The pool's lease tenancy this lease was granted under: the pool
    /// counts this lease's jobs (see [`Lease::reserve`]).
    tenancy: u32,
    released: AtomicBool,
}

impl<R: Runtime> fmt::Debug for Lease<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.grant.lease)
            .field("owner", &self.owner)
            .field("pool", &self.grant.pool)
            .field("lease_for", &self.grant.lease_for)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Lease<R> {
    pub(crate) fn new(shared: Arc<Shared<R>>, handover: Handover, owner: Option<Arc<str>>) -> Self {
        let Handover { grant, pool, tenancy } = handover;
        Lease { shared, grant, owner, pool, tenancy, released: AtomicBool::new(false) }
    }

    /// The lease id, unique for the manager's lifetime.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// println!("holding lease {}", lease.id());
    /// # }
    /// ```
    pub fn id(&self) -> LeaseId {
        self.grant.lease
    }

    /// The owner label given at acquire.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// let owner = lease.owner().unwrap_or("anonymous");
    /// # }
    /// ```
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The pool this lease runs on.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// println!("on pool {}", lease.pool_id());
    /// # }
    /// ```
    pub fn pool_id(&self) -> PoolId {
        self.grant.pool
    }

    /// The lease duration.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// assert!(lease.lease_for() > std::time::Duration::ZERO);
    /// # }
    /// ```
    pub fn lease_for(&self) -> Duration {
        self.grant.lease_for
    }

    /// The grace period after soft expiry.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// let grace = lease.grace();
    /// # }
    /// ```
    pub fn grace(&self) -> Duration {
        self.grant.grace
    }

    /// When the lease was granted.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// assert!(lease.leased_at() < lease.soft_expires_at());
    /// # }
    /// ```
    pub fn leased_at(&self) -> Instant {
        self.grant.leased_at
    }

    /// `leased_at + lease_for`: finish by then.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// let left = lease.soft_expires_at().saturating_duration_since(std::time::Instant::now());
    /// # }
    /// ```
    pub fn soft_expires_at(&self) -> Instant {
        self.grant.soft_expires_at()
    }

    /// `soft_expires_at + grace`: from then on the lease is revoked.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) {
    /// assert!(lease.hard_expires_at() >= lease.soft_expires_at());
    /// # }
    /// ```
    pub fn hard_expires_at(&self) -> Instant {
        self.grant.hard_expires_at()
    }

    /// Queues `f` on the lease's pool and returns a handle to its result.
    ///
    /// A panic in `f` fails only this job, with [`Error::Panicked`]. To let
    /// `f` learn that its result is no longer wanted, use
    /// [`Lease::submit_cancellable`].
    ///
    /// # Errors
    ///
    /// At once, with no job queued:
    ///
    /// * [`Error::LeaseReleased`]: the lease was released (or is draining);
    /// * [`Error::LeaseExpired`]: the lease was revoked at hard expiry (a
    ///   lease past it is revoked on the spot);
    /// * [`Error::Stopped`]: its manager stopped (or a graceful shutdown
    ///   reached its deadline) and cut it;
    /// * [`Error::Broken`]: the pool's worker initializer failed (the pool
    ///   is retired).
    ///
    /// Later, from the handle: see [`JobHandle`] ([`Error::Panicked`],
    /// [`Error::Cancelled`], [`Error::Broken`]).
    ///
    /// ```
    /// # async fn demo(lease: leasepool::Lease) -> Result<(), leasepool::Error> {
    /// let a = lease.submit(|| 1 + 1)?;
    /// let b = lease.submit(|| 2 + 2)?;
    /// assert_eq!(a.await? + b.await?, 6);
    /// # Ok(()) }
    /// ```
    pub fn submit<T, F>(&self, f: F) -> Result<JobHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let finish = self.reserve()?;
        // Book-keep before replying, so that a caller who awaits the result
        // and then releases finds the lease idle.
        let (job, handle) = Job::replying(f, true, move |end| finish.done(end));
        self.pool.submit(job);
        Ok(handle)
    }

    /// Counts one more job on the lease, if it accepts one; the returned
    /// [`Finish`] reports its end when dropped. Queue the job with
    /// [`Lease::queue`].
    ///
    /// Submitting and finishing a job take no lock: the pool counts the
    /// lease's jobs, and the core hears of them only if the lease is
    /// released while they run. A job past hard expiry goes to the core,
    /// which revokes the lease.
    pub(crate) fn reserve(&self) -> Result<Finish<R>, Error> {
        if let Some(err) = self.pool.broken() {
            self.shared.retire(self.grant.pool);
            return Err(err);
        }
        if self.released.load(Ordering::Acquire) {
            return Err(Error::LeaseReleased);
        }
        // Its pool shut down: revoked at hard expiry, or cut by a stop (or
        // a shutdown's deadline). The holder learns which.
        if self.pool.is_shut() {
            return Err(match self.pool.shut_reason() {
                Some(ShutdownReason::Stopped) => Error::Stopped,
                _ => Error::LeaseExpired,
            });
        }
        let lease = self.grant.lease;
        let now = self.shared.runtime.now();
        if now >= self.grant.hard_expires_at() {
            // Past hard expiry: the core, asked at the same instant, revokes
            // the lease on the spot and refuses.
            // Refused either way: expired now, or already ended by the
            // checker's revocation (`LeaseError::Ended`); to the holder both
            // are the same expiry.
            let refused = self.shared.with_at(now, |st, now| st.core.job_submitted(now, lease));
            debug_assert!(refused.is_err(), "the core refuses a job past its lease's hard expiry");
            // The pool may have broken since the check above, and retiring
            // it forgot this lease: report the cause.
            return Err(self.pool.broken().unwrap_or(Error::LeaseExpired));
        }
        // Refused once the lease is released: a job either counts before
        // the release (which then drains) or not at all.
        if !self.pool.job_started(self.tenancy) {
            return Err(Error::LeaseReleased);
        }
        Ok(Finish { shared: Arc::clone(&self.shared), lease, pool: Arc::clone(&self.pool) })
    }

    /// Queues a job reserved with [`Lease::reserve`] (cancelled at once if
    /// the pool was shut down meanwhile).
    pub(crate) fn queue(&self, job: Job) {
        self.pool.submit(job);
    }

    /// Runs `f` on the lease's pool and awaits its result. Dropping the
    /// future does not stop `f` once it runs (see [`Lease::run_cancellable`]).
    ///
    /// # Errors
    ///
    /// Those of [`Lease::submit`], then those of awaiting its
    /// [`JobHandle`]: [`Error::LeaseReleased`], [`Error::LeaseExpired`],
    /// [`Error::Broken`], [`Error::Panicked`], [`Error::Cancelled`].
    ///
    /// ```
    /// # async fn demo(lease: leasepool::Lease) -> Result<(), leasepool::Error> {
    /// let path = String::from("Cargo.toml");
    /// let exists = lease.run(move || std::path::Path::new(&path).exists()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(f)?.await
    }

    /// Like [`Lease::submit`], but `f` receives a [`CancelToken`] that
    /// turns true once its result is no longer wanted: the lease was
    /// revoked at hard expiry, the manager stopped, or the returned handle
    /// was dropped unfinished. `f` should check it now and then and return
    /// early; its worker is busy until it does.
    ///
    /// If the caller still waits (revocation, stop), it receives what `f`
    /// returned; if it dropped the handle, the value is dropped on the
    /// worker. Either way the job ends once and the lease counts it as
    /// finished once.
    ///
    /// # Errors
    ///
    /// As [`Lease::submit`]: at once [`Error::LeaseReleased`],
    /// [`Error::LeaseExpired`] or [`Error::Broken`]; from the handle
    /// [`Error::Panicked`], [`Error::Cancelled`] (never ran) or
    /// [`Error::Broken`].
    ///
    /// ```
    /// # async fn demo(lease: leasepool::Lease) -> Result<(), leasepool::Error> {
    /// let handle = lease.submit_cancellable(|token| {
    ///     let mut steps = 0u32;
    ///     while steps < 1_000_000 && !token.is_cancelled() {
    ///         steps += 1;
    ///     }
    ///     steps
    /// })?;
    /// drop(handle); // nobody wants the result: the job sees its token turn true
    /// # Ok(()) }
    /// ```
    pub fn submit_cancellable<T, F>(&self, f: F) -> Result<JobHandle<T>, Error>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let finish = self.reserve()?;
        let (job, handle, cancel) = Job::cancellable(f, true, move |end| finish.done(end));
        cancel.bind_pool(&self.pool);
        self.pool.submit(job);
        Ok(handle)
    }

    /// Like [`Lease::run`], but `f` receives a [`CancelToken`] (see
    /// [`Lease::submit_cancellable`]): dropping this future, say because
    /// the client went away and the request task was cancelled, turns it
    /// true, and so do revocation and stop.
    ///
    /// # Errors
    ///
    /// Those of [`Lease::submit_cancellable`]: [`Error::LeaseReleased`],
    /// [`Error::LeaseExpired`], [`Error::Broken`], [`Error::Panicked`],
    /// [`Error::Cancelled`].
    ///
    /// ```
    /// # async fn demo(lease: leasepool::Lease) -> Result<(), leasepool::Error> {
    /// let digest = lease
    ///     .run_cancellable(|token| {
    ///         let mut h = 0u64;
    ///         for chunk in 0..4_096u64 {
    ///             if token.is_cancelled() {
    ///                 return None;
    ///             }
    ///             h = h.rotate_left(5) ^ chunk;
    ///         }
    ///         Some(h)
    ///     })
    ///     .await?;
    /// # let _ = digest; Ok(()) }
    /// ```
    pub async fn run_cancellable<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_cancellable(f)?.await
    }

    /// The lease's pool (a grinder binds its items' cancel tokens to it).
    pub(crate) fn pool(&self) -> &Arc<ThreadPool> {
        &self.pool
    }

    /// Gives the pool back (idempotent). With jobs in flight the lease
    /// drains first. Dropping the lease does the same.
    ///
    /// ```
    /// # fn demo(lease: leasepool::Lease) {
    /// lease.release();
    /// lease.release(); // no-op
    /// # }
    /// ```
    pub fn release(&self) {
        // Only the first call reaches the core (and takes its lock).
        if !self.released.swap(true, Ordering::AcqRel) {
            self.shared.release(&self.grant, self.owner.as_deref(), &self.pool, self.tenancy);
        }
    }
}

impl<R: Runtime> Drop for Lease<R> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Reports a submitted job as finished when dropped (or [`Finish::done`]),
/// so exactly once: the core hears of it only if it was the last job of a
/// released lease.
pub(crate) struct Finish<R: Runtime> {
    shared: Arc<Shared<R>>,
    lease: LeaseId,
    pool: Arc<ThreadPool>,
}

impl<R: Runtime> Finish<R> {
    /// The job's work is over, as `end` says (before its result is sent):
    /// counted now, and reported to the lease as the guard drops.
    pub(crate) fn done(self, end: JobEnd) {
        self.shared.job_ended(end);
    }

    /// Whether the lease's pool was shut down (revoked, or the manager
    /// stopped): work not yet started must not start.
    pub(crate) fn is_shut(&self) -> bool {
        self.pool.is_shut()
    }
}

impl<R: Runtime> Drop for Finish<R> {
    fn drop(&mut self) {
        if self.pool.job_ended() {
            self.shared.job_finished(self.lease);
        }
    }
}
