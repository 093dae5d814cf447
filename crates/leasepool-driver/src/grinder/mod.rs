//! `WorkGrinder`: micro-batching many small synchronous jobs onto leased
//! pools.
//!
//! Callers enqueue small jobs; a loop task starts a batch when the pending
//! count reaches the threshold or the oldest item has waited `max_wait`
//! (that decision is [`leasepool_core::BatchQueue`]'s). A batch takes every
//! pending item, acquires one lease, splits the items across the pool's
//! workers, and releases the lease when they are done.
//!
//! The pieces: the start/stop phase machine ([`phase`]), the loop task
//! ([`loop_task`]), batches and their chunks ([`batch`]), the builder, the
//! item handle and the stats snapshot.

mod batch;
mod builder;
mod handle;
mod loop_task;
mod phase;
mod stats;
mod tally;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use leasepool_core::{BatchPolicy, BatchQueue};
use slab::Slab;

use crate::error::Error;
use crate::job::{CancelToken, JobHandle};
use crate::manager::LeasedExecutorManager;
use crate::runtime::Runtime;
use crate::signal::Signal;
use crate::task::TaskSlot;

use self::batch::{BatchCancel, Item};
pub use self::builder::GrinderBuilder;
pub use self::handle::WorkHandle;
use self::phase::Phase;
pub use self::phase::{GrinderShutdownReport, StopMode};
pub use self::stats::{GrinderCounters, GrinderStats};
use self::tally::GrinderTally;

struct State {
    queue: BatchQueue<Item>,
    phase: Phase,
    /// The loop's epoch, moved on by start and cancelling stop; its loss counts only while not Stopped.
    loop_task: TaskSlot,
    wake: Signal,
    /// `stop(Drain)` callers waiting for the queue to empty.
    stop_waiters: Vec<Waker>,
    /// Cancel switches of the batches started and not finished.
    in_flight: Slab<Arc<BatchCancel>>,
    /// Batches started so far (the `n` of their lease owners).
    batch_seq: u64,
    /// What happened to the items and batches: counted wherever they end,
    /// shared with each batch (and read, with G held, by `stats`).
    tally: Arc<GrinderTally>,
}

struct Grinder<R: Runtime> {
    manager: LeasedExecutorManager<R>,
    owner_prefix: Arc<str>,
    workers: usize,
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<R: Runtime> Drop for Grinder<R> {
    fn drop(&mut self) {
        // Lets a loop task sleeping without a deadline notice it is orphaned.
        lock(&self.state).wake.notify();
    }
}

/// Groups many small synchronous jobs into batches, each run on one leased
/// pool.
///
/// Cheap to clone, `Send + Sync`. Build it with [`WorkGrinder::builder`],
/// [`start`](Self::start) it, then [`submit`](Self::submit) (await the
/// result) or [`enqueue`](Self::enqueue) (get a [`WorkHandle`] at once,
/// awaitable or waitable from a plain thread). Each caller gets its own
/// result or its own error: a panicking job fails only its caller.
///
/// ```
/// # async fn demo(manager: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
/// use std::time::Duration;
/// use leasepool::{StopMode, WorkGrinder};
///
/// let grinder = WorkGrinder::builder(&manager)
///     .batch_size_threshold(64)
///     .max_wait(Duration::from_millis(5))
///     .build()?;
/// grinder.start().await?;
/// let doubled = grinder.submit(|| 21 * 2).await?;
/// assert_eq!(doubled, 42);
/// grinder.stop(StopMode::Drain).await;
/// # Ok(()) }
/// ```
pub struct WorkGrinder<R: Runtime> {
    g: Arc<Grinder<R>>,
}

impl<R: Runtime> Clone for WorkGrinder<R> {
    fn clone(&self) -> Self {
        WorkGrinder { g: Arc::clone(&self.g) }
    }
}

impl<R: Runtime> fmt::Debug for WorkGrinder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkGrinder").field("stats", &self.stats()).finish()
    }
}

impl<R: Runtime> WorkGrinder<R> {
    /// A builder for a grinder that leases pools from `manager`.
    ///
    /// ```
    /// # fn demo(manager: leasepool::LeasedExecutorManager) {
    /// let builder = leasepool::WorkGrinder::builder(&manager).batch_size_threshold(10);
    /// # }
    /// ```
    pub fn builder(manager: &LeasedExecutorManager<R>) -> GrinderBuilder<R> {
        GrinderBuilder {
            manager: manager.clone(),
            policy: BatchPolicy::default(),
            owner_prefix: "work-grinder".to_owned(),
        }
    }

    /// Queues `f` now and returns a future of its result: creating several
    /// `submit` futures before awaiting any lets them share a batch.
    ///
    /// # Errors
    ///
    /// * [`Error::GrinderNotRunning`]: the grinder is not started, or is
    ///   stopping (at once, nothing queued);
    /// * [`Error::Panicked`]: the item panicked (only its caller fails);
    /// * [`Error::Cancelled`]: the item never ran: the grinder was stopped
    ///   with [`StopMode::CancelPending`] or dropped;
    /// * [`Error::LeaseExpired`]: the batch's lease was revoked (or the
    ///   manager stopped) before the item ran;
    /// * an acquire error of the batch's lease (the item never ran):
    ///   [`Error::Stopped`], [`Error::NotStarted`], [`Error::RuntimeGone`],
    ///   [`Error::Spawn`]; or [`Error::Broken`] / [`Error::LeaseReleased`]
    ///   from submitting to it.
    ///
    /// ```
    /// # async fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let len = g.submit(|| "hello".len()).await?;
    /// # Ok(()) }
    /// ```
    pub fn submit<T, F>(&self, f: F) -> impl Future<Output = Result<T, Error>> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = self.enqueue(f);
        async move { handle?.await }
    }

    /// Like [`submit`](Self::submit), with an owner label for this item
    /// (shown in logs when the item fails before running).
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    ///
    /// ```
    /// # async fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let n = g.submit_as("tenant-9", || 9).await?;
    /// # Ok(()) }
    /// ```
    pub fn submit_as<T, F>(
        &self,
        owner: impl Into<Arc<str>>,
        f: F,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = self.enqueue_as(owner, f);
        async move { handle?.await }
    }

    /// Queues `f` and returns at once with a handle to its result. Works
    /// from any thread, no async context needed. Dropping the handle before
    /// the item's batch starts removes the item from the queue.
    ///
    /// # Errors
    ///
    /// [`Error::GrinderNotRunning`] at once if the grinder is not started
    /// or is stopping; the handle then gives the errors listed under
    /// [`submit`](Self::submit) (and on [`WorkHandle`]).
    ///
    /// ```
    /// # fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let handle = g.enqueue(|| 2 + 2)?;
    /// assert_eq!(handle.wait()?, 4); // blocking wait, from a plain thread
    /// # Ok(()) }
    /// ```
    pub fn enqueue<T, F>(&self, f: F) -> Result<WorkHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.push_fn(None, f)
    }

    /// Like [`enqueue`](Self::enqueue), with an owner label for this item.
    ///
    /// # Errors
    ///
    /// As [`enqueue`](Self::enqueue).
    ///
    /// ```
    /// # fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let handle = g.enqueue_as("importer", || ())?;
    /// # Ok(()) }
    /// ```
    pub fn enqueue_as<T, F>(&self, owner: impl Into<Arc<str>>, f: F) -> Result<WorkHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.push_fn(Some(owner.into()), f)
    }

    /// Like [`submit`](Self::submit), but `f` receives a [`CancelToken`]
    /// that turns true once the item's result is no longer wanted: this
    /// future (or the handle inside it) was dropped, the batch's lease was
    /// revoked or its manager stopped, or the grinder was stopped with
    /// [`StopMode::CancelPending`]. An item is short work by design, but
    /// one that loops can check the token and return early.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    ///
    /// ```
    /// # async fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let primes = g
    ///     .submit_cancellable(|token| {
    ///         let mut found = Vec::new();
    ///         for n in 2u32..10_000 {
    ///             if token.is_cancelled() {
    ///                 break;
    ///             }
    ///             if (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0) {
    ///                 found.push(n);
    ///             }
    ///         }
    ///         found
    ///     })
    ///     .await?;
    /// # let _ = primes; Ok(()) }
    /// ```
    pub fn submit_cancellable<T, F>(&self, f: F) -> impl Future<Output = Result<T, Error>> + Send + 'static
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = self.enqueue_cancellable(f);
        async move { handle?.await }
    }

    /// Like [`enqueue`](Self::enqueue), but `f` receives a [`CancelToken`]
    /// (see [`submit_cancellable`](Self::submit_cancellable)); dropping the
    /// returned handle unfinished turns it true.
    ///
    /// # Errors
    ///
    /// As [`enqueue`](Self::enqueue).
    ///
    /// ```
    /// # fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let handle = g.enqueue_cancellable(|token| {
    ///     let mut spins = 0u64;
    ///     while spins < 1_000 && !token.is_cancelled() {
    ///         spins += 1;
    ///     }
    ///     spins
    /// })?;
    /// drop(handle); // withdrawn if its batch has not started, told to stop if it runs
    /// # Ok(()) }
    /// ```
    pub fn enqueue_cancellable<T, F>(&self, f: F) -> Result<WorkHandle<T>, Error>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (item, handle) = Item::cancellable(None, f);
        self.push(item, handle)
    }

    fn push_fn<T, F>(&self, owner: Option<Arc<str>>, f: F) -> Result<WorkHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (item, handle) = Item::new(owner, f);
        self.push(item, handle)
    }

    fn push<T>(&self, item: Item, handle: JobHandle<T>) -> Result<WorkHandle<T>, Error> {
        let now = self.g.manager.shared().runtime.now();
        let mut st = lock(&self.g.state);
        // Its loop went down with its runtime: nothing would batch the item.
        if st.phase != Phase::Stopped && st.loop_task.is_lost() {
            drop(st);
            return Err(Error::RuntimeGone);
        }
        if st.phase != Phase::Running {
            drop(st);
            return Err(Error::GrinderNotRunning);
        }
        let was_empty = st.queue.is_empty();
        let id = st.queue.push(now, item);
        st.tally.accepted();
        // A first item sets the max-wait deadline; a full queue is due now.
        if was_empty || st.queue.is_due(now) {
            st.wake.notify();
        }
        Ok(WorkHandle { result: handle, state: Arc::downgrade(&self.g.state), id })
    }
}
