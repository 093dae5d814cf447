//! `WorkGrinder`: micro-batching many small synchronous jobs onto leased
//! pools.
//!
//! Callers enqueue small jobs; a loop task starts a batch when the pending
//! count reaches the threshold or the oldest item has waited `max_wait`
//! (that decision is [`leasepool_core::BatchQueue`]'s). A batch takes every
//! pending item, acquires one lease, splits the items across the pool's
//! workers, and releases the lease when they are done.

use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use leasepool_core::{BatchPolicy, BatchQueue, ConfigError, ItemId};
use slab::Slab;

use crate::error::Error;
use crate::job::{Job, JobHandle};
use crate::lease::Lease;
use crate::manager::LeasedExecutorManager;
use crate::runtime::Runtime;
use crate::signal::{Signal, sleep_or};

/// How [`WorkGrinder::stop`] treats queued and in-flight work.
///
/// ```
/// use leasepool_driver::StopMode;
/// assert_ne!(StopMode::Drain, StopMode::CancelPending);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Refuse new work, run everything already queued, then stop.
    Drain,
    /// Refuse new work; queued items and items of batches not yet running
    /// (including batches blocked waiting for a lease) resolve to
    /// [`Error::Cancelled`] at once. An item already running on a worker
    /// runs to its end and reports its real result.
    CancelPending,
}

struct Item {
    job: Job,
    owner: Option<Arc<str>>,
}

impl Item {
    /// An item running `f`, and the handle its caller waits on.
    fn new<T, F>(owner: Option<Arc<str>>, f: F) -> (Item, JobHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, handle) = Job::replying(f, || ());
        (Item { job, owner }, handle)
    }

    fn fail(self, error: &Error) {
        tracing::debug!(owner = self.owner.as_deref(), %error, "grinder item failed before it ran");
        self.job.cancel(error.clone());
    }
}

#[derive(Default)]
struct BatchCancel {
    cancelled: AtomicBool,
    signal: Mutex<Signal>,
}

impl BatchCancel {
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        lock(&self.signal).notify();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Where the grinder is in its start/stop cycle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Stopped,
    Running,
    /// `stop(StopMode::Drain)` in progress: queued work still runs.
    Draining,
}

struct State {
    queue: BatchQueue<Item>,
    phase: Phase,
    /// Bumped by start and by a cancelling stop; an older loop task exits.
    generation: u64,
    wake: Signal,
    /// `stop(Drain)` callers waiting for the queue to empty.
    stop_waiters: Vec<Waker>,
    /// Cancel switches of the batches started and not finished.
    in_flight: Slab<Arc<BatchCancel>>,
    /// The running loop task was dropped without exiting: its runtime shut
    /// down. The next `start` spawns a new one.
    loop_lost: bool,
    /// Batches started so far (the `n` of their lease owners).
    batch_seq: u64,
    items_completed: u64,
}

impl State {
    /// Registers a waiter of the drain once per task: a future polled
    /// again with the same waker adds nothing.
    fn wait_for_stop(&mut self, waker: &Waker) {
        if !self.stop_waiters.iter().any(|w| w.will_wake(waker)) {
            self.stop_waiters.push(waker.clone());
        }
    }

    fn finish_stop(&mut self) {
        self.phase = Phase::Stopped;
        for w in self.stop_waiters.drain(..) {
            w.wake();
        }
    }
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
/// # async fn demo(manager: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
/// use std::time::Duration;
/// use leasepool_driver::{StopMode, WorkGrinder};
///
/// let grinder = WorkGrinder::builder(&manager)
///     .batch_size_threshold(64)
///     .max_wait(Duration::from_millis(5))
///     .build()?;
/// grinder.start().await;
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
    /// # fn demo(manager: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) {
    /// let builder = leasepool_driver::WorkGrinder::builder(&manager).batch_size_threshold(10);
    /// # }
    /// ```
    pub fn builder(manager: &LeasedExecutorManager<R>) -> GrinderBuilder<R> {
        GrinderBuilder {
            manager: manager.clone(),
            policy: BatchPolicy::default(),
            owner_prefix: "work-grinder".to_owned(),
        }
    }

    /// Starts the batching loop (idempotent). A stopped grinder can be
    /// started again; a start during `stop(StopMode::Drain)` waits for the
    /// drain to finish first.
    ///
    /// ```
    /// # async fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) {
    /// g.start().await;
    /// assert!(g.stats().started);
    /// # }
    /// ```
    pub async fn start(&self) {
        // A start during a draining stop waits for the drain, then starts;
        // if the drain's loop went down with its runtime, a new one drains.
        let mut st = loop {
            let next = poll_fn(|cx| {
                let mut st = lock(&self.g.state);
                if st.phase == Phase::Draining {
                    if st.loop_lost {
                        st.loop_lost = false;
                        st.generation += 1;
                        return Poll::Ready(Err(st.generation));
                    }
                    st.wait_for_stop(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Ok(st))
            })
            .await;
            match next {
                Ok(st) => break st,
                // Spawned with the lock released: a failed spawn drops the
                // loop, whose guard takes the lock.
                Err(generation) => {
                    let me = Arc::downgrade(&self.g);
                    let lost = LostLoop { me: me.clone(), generation };
                    self.g.manager.shared().runtime.spawn(Box::pin(run_loop(me, generation, lost)));
                }
            }
        };
        // Running, unless its loop went down with the runtime it ran on:
        // then this start spawns a new one.
        if st.phase == Phase::Running && !st.loop_lost {
            return;
        }
        st.phase = Phase::Running;
        st.loop_lost = false;
        st.generation += 1;
        let generation = st.generation;
        drop(st);
        let me = Arc::downgrade(&self.g);
        let runtime = &self.g.manager.shared().runtime;
        // A runtime that cannot spawn (tokio outside a runtime) panics: undo
        // the start, or the grinder would take work with no loop to run it.
        let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.spawn(Box::pin(run_loop(me.clone(), generation, LostLoop { me, generation })));
        }));
        if let Err(panic) = spawned {
            let mut st = lock(&self.g.state);
            // Work accepted meanwhile has no loop to run it: fail it.
            let stranded = if st.generation == generation {
                st.generation += 1;
                st.finish_stop();
                st.queue.take_all()
            } else {
                Vec::new()
            };
            drop(st);
            stranded.into_iter().for_each(|item| item.fail(&Error::GrinderNotRunning));
            std::panic::resume_unwind(panic);
        }
        tracing::info!(prefix = &*self.g.owner_prefix, "work grinder started");
    }

    /// Stops the grinder; see [`StopMode`]. New submissions fail with
    /// [`Error::GrinderNotRunning`] from the moment `stop` is called.
    /// `Drain` returns once every queued item has run; `CancelPending`
    /// returns at once.
    ///
    /// ```
    /// # async fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) {
    /// g.stop(leasepool_driver::StopMode::Drain).await;
    /// assert!(!g.stats().started);
    /// # }
    /// ```
    pub async fn stop(&self, mode: StopMode) {
        let state = &self.g.state;
        let generation;
        let mut respawn = false;
        let cancelled = {
            let mut st = lock(state);
            // During a drain, another stop joins it (Drain) or cuts it
            // short (CancelPending).
            if st.phase == Phase::Stopped {
                return;
            }
            st.wake.notify();
            // The loop went down with the runtime it ran on: a new one, on
            // this runtime, drains.
            if mode == StopMode::Drain && st.loop_lost {
                st.loop_lost = false;
                st.generation += 1;
                respawn = true;
            }
            generation = st.generation;
            match mode {
                StopMode::Drain => {
                    st.phase = Phase::Draining;
                    None
                }
                StopMode::CancelPending => {
                    for (_, batch) in &st.in_flight {
                        batch.cancel();
                    }
                    st.generation += 1;
                    st.finish_stop();
                    Some(st.queue.take_all())
                }
            }
        };
        if let Some(items) = cancelled {
            tracing::info!(cancelled = items.len(), "work grinder stopped; pending work cancelled");
            items.into_iter().for_each(|item| item.fail(&Error::Cancelled));
            return;
        }
        if respawn {
            let me = Arc::downgrade(&self.g);
            self.g.manager.shared().runtime.spawn(Box::pin(run_loop(
                me.clone(),
                generation,
                LostLoop { me, generation },
            )));
        }
        // Done when this drain finished: stopped, or already started again
        // (a start waits for the drain, then bumps the generation).
        poll_fn(|cx| {
            let mut st = lock(state);
            if st.phase == Phase::Stopped || st.generation != generation {
                return Poll::Ready(());
            }
            st.wait_for_stop(cx.waker());
            Poll::Pending
        })
        .await;
        tracing::info!("work grinder drained and stopped");
    }

    /// Queues `f` now and returns a future of its result: creating several
    /// `submit` futures before awaiting any lets them share a batch.
    ///
    /// ```
    /// # async fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
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
    /// ```
    /// # async fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
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
    /// ```
    /// # fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
    /// let handle = g.enqueue(|| 2 + 2)?;
    /// assert_eq!(handle.wait()?, 4); // blocking wait, from a plain thread
    /// # Ok(()) }
    /// ```
    pub fn enqueue<T, F>(&self, f: F) -> Result<WorkHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.push(None, f)
    }

    /// Like [`enqueue`](Self::enqueue), with an owner label for this item.
    ///
    /// ```
    /// # fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
    /// let handle = g.enqueue_as("importer", || ())?;
    /// # Ok(()) }
    /// ```
    pub fn enqueue_as<T, F>(&self, owner: impl Into<Arc<str>>, f: F) -> Result<WorkHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.push(Some(owner.into()), f)
    }

    fn push<T, F>(&self, owner: Option<Arc<str>>, f: F) -> Result<WorkHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (item, handle) = Item::new(owner, f);
        let now = self.g.manager.shared().runtime.now();
        let mut st = lock(&self.g.state);
        if st.phase != Phase::Running {
            drop(st);
            return Err(Error::GrinderNotRunning);
        }
        let was_empty = st.queue.is_empty();
        let id = st.queue.push(now, item);
        // A first item sets the max-wait deadline; a full queue is due now.
        if was_empty || st.queue.is_due(now) {
            st.wake.notify();
        }
        Ok(WorkHandle { result: handle, state: Arc::downgrade(&self.g.state), id })
    }

    /// A snapshot of the grinder, callable from any task or thread.
    ///
    /// ```
    /// # fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) {
    /// let s = g.stats();
    /// println!("{} pending, oldest waited {:?}", s.pending, s.oldest_wait);
    /// # }
    /// ```
    pub fn stats(&self) -> GrinderStats {
        let now = self.g.manager.shared().runtime.now();
        let st = lock(&self.g.state);
        let policy = st.queue.policy();
        GrinderStats {
            started: st.phase != Phase::Stopped,
            stopping: st.phase == Phase::Draining,
            pending: st.queue.len(),
            batch_size_threshold: policy.threshold_value(),
            max_wait: policy.max_wait_value(),
            lease_for: policy.lease_for_value(),
            oldest_wait: st.queue.oldest().map(|t| now.saturating_duration_since(t)),
            running_batches: st.queue.running(),
            max_concurrent_batches: policy.max_concurrent_value(),
            batches_run: st.batch_seq - st.queue.running() as u64,
            items_completed: st.items_completed,
        }
    }
}

/// A snapshot from [`WorkGrinder::stats`].
///
/// ```
/// # fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) {
/// let s = g.stats();
/// assert!(s.running_batches <= s.max_concurrent_batches);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrinderStats {
    /// Whether the grinder is started.
    pub started: bool,
    /// Whether a stop is in progress.
    pub stopping: bool,
    /// Items queued, not yet in a batch.
    pub pending: usize,
    /// Pending items that start a batch.
    pub batch_size_threshold: usize,
    /// Longest an item waits before its batch starts.
    pub max_wait: Duration,
    /// Duration of each batch's lease.
    pub lease_for: Duration,
    /// How long the oldest pending item has waited.
    pub oldest_wait: Option<Duration>,
    /// Batches started and not finished.
    pub running_batches: usize,
    /// Batches allowed at once.
    pub max_concurrent_batches: usize,
    /// Batches finished since the grinder was built.
    pub batches_run: u64,
    /// Items finished (run, failed or cancelled) in those batches.
    pub items_completed: u64,
}

/// Builds a [`WorkGrinder`]; [`build`](Self::build) validates every value.
///
/// | method | default |
/// |---|---|
/// | `batch_size_threshold` | 20 |
/// | `max_wait` | 10 s |
/// | `lease_for` | 60 s |
/// | `owner_prefix` | `"work-grinder"` (batch leases are `{prefix}-batch-{n}`) |
/// | `max_concurrent_batches` | 1 |
///
/// ```
/// # fn demo(manager: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::ConfigError> {
/// use std::time::Duration;
/// let grinder = leasepool_driver::WorkGrinder::builder(&manager)
///     .batch_size_threshold(100)
///     .max_wait(Duration::from_millis(2))
///     .lease_for(Duration::from_secs(10))
///     .owner_prefix("thumbs")
///     .max_concurrent_batches(4)
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct GrinderBuilder<R: Runtime> {
    manager: LeasedExecutorManager<R>,
    policy: BatchPolicy,
    owner_prefix: String,
}

impl<R: Runtime> fmt::Debug for GrinderBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrinderBuilder")
            .field("policy", &self.policy)
            .field("owner_prefix", &self.owner_prefix)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> GrinderBuilder<R> {
    /// Pending items that start a batch at once (default 20, >= 1).
    ///
    /// ```
    /// # fn demo(m: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) {
    /// let b = leasepool_driver::WorkGrinder::builder(&m).batch_size_threshold(50);
    /// # }
    /// ```
    pub fn batch_size_threshold(mut self, n: usize) -> Self {
        self.policy = self.policy.threshold(n);
        self
    }

    /// Longest an item waits before its batch starts (default 10 s, > 0).
    ///
    /// ```
    /// # fn demo(m: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) {
    /// let b = leasepool_driver::WorkGrinder::builder(&m).max_wait(std::time::Duration::from_millis(10));
    /// # }
    /// ```
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.policy = self.policy.max_wait(d);
        self
    }

    /// Duration of each batch's lease (default 60 s, > 0).
    ///
    /// ```
    /// # fn demo(m: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) {
    /// let b = leasepool_driver::WorkGrinder::builder(&m).lease_for(std::time::Duration::from_secs(5));
    /// # }
    /// ```
    pub fn lease_for(mut self, d: Duration) -> Self {
        self.policy = self.policy.lease_for(d);
        self
    }

    /// Prefix of the batch lease owners, `{prefix}-batch-{n}` (default
    /// `"work-grinder"`).
    ///
    /// ```
    /// # fn demo(m: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) {
    /// let b = leasepool_driver::WorkGrinder::builder(&m).owner_prefix("ingest");
    /// # }
    /// ```
    pub fn owner_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.owner_prefix = prefix.into();
        self
    }

    /// Batches allowed to run at once, each on its own lease (default 1:
    /// one batch at a time; more keeps several pools busy).
    ///
    /// ```
    /// # fn demo(m: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) {
    /// let b = leasepool_driver::WorkGrinder::builder(&m).max_concurrent_batches(4);
    /// # }
    /// ```
    pub fn max_concurrent_batches(mut self, n: usize) -> Self {
        self.policy = self.policy.max_concurrent(n);
        self
    }

    /// Validates and builds a stopped grinder; the error names the field.
    ///
    /// ```
    /// # fn demo(m: leasepool_driver::LeasedExecutorManager<impl leasepool_driver::Runtime>) {
    /// let err = leasepool_driver::WorkGrinder::builder(&m).batch_size_threshold(0).build().unwrap_err();
    /// assert_eq!(err.field(), "batch_size_threshold");
    /// # }
    /// ```
    pub fn build(self) -> Result<WorkGrinder<R>, ConfigError> {
        self.policy.validate()?;
        let workers = self.manager.config().workers_per_pool();
        let state = State {
            queue: BatchQueue::new(self.policy),
            phase: Phase::Stopped,
            generation: 0,
            wake: Signal::default(),
            stop_waiters: Vec::new(),
            in_flight: Slab::new(),
            loop_lost: false,
            batch_seq: 0,
            items_completed: 0,
        };
        Ok(WorkGrinder {
            g: Arc::new(Grinder {
                manager: self.manager,
                owner_prefix: self.owner_prefix.into(),
                workers,
                state: Arc::new(Mutex::new(state)),
            }),
        })
    }
}

/// The pending result of an item queued with [`WorkGrinder::enqueue`].
///
/// `.await` it, or [`wait`](Self::wait) for it from a plain thread.
/// Dropping it before the item's batch starts removes the item from the
/// queue at once.
///
/// ```
/// # async fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
/// let handle = g.enqueue(|| 7)?;
/// assert_eq!(handle.await?, 7);
/// # Ok(()) }
/// ```
#[must_use = "dropping a WorkHandle before its batch starts withdraws the item"]
pub struct WorkHandle<T> {
    result: JobHandle<T>,
    state: Weak<Mutex<State>>,
    id: ItemId,
}

impl<T> fmt::Debug for WorkHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkHandle").field("id", &self.id).finish_non_exhaustive()
    }
}

impl<T> WorkHandle<T> {
    /// Blocks the current thread until the item's result is in. For plain
    /// OS threads: on an async runtime's thread it blocks the very runtime
    /// the grinder's loop runs on (on a current-thread runtime, forever);
    /// `.await` the handle there instead.
    ///
    /// ```
    /// # fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
    /// let v = g.enqueue(|| vec![1, 2, 3])?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn wait(mut self) -> Result<T, Error> {
        futures_executor::block_on(&mut self)
    }

    /// Whether the result is ready.
    ///
    /// ```
    /// # fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
    /// let h = g.enqueue(|| ())?;
    /// let ready = h.is_finished();
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.result.is_finished()
    }
}

impl<T> Future for WorkHandle<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.result).poll(cx)
    }
}

impl<T> Drop for WorkHandle<T> {
    fn drop(&mut self) {
        if self.result.is_finished() {
            return;
        }
        let Some(state) = self.state.upgrade() else { return };
        let removed = lock(&state).queue.remove(self.id);
        drop(removed); // outside the lock: dropping a job resolves its channel
    }
}

/// The batching loop: starts due batches, then sleeps until the next
/// max-wait deadline or a wake-up.
async fn run_loop<R: Runtime>(me: Weak<Grinder<R>>, generation: u64, _lost: LostLoop<R>) {
    loop {
        let Some(g) = me.upgrade() else { return };
        let runtime = g.manager.shared().runtime.clone();
        let mut batches = Vec::new();
        let deadline = {
            let mut st = lock(&g.state);
            if st.generation != generation {
                return;
            }
            let now = runtime.now();
            let draining = st.phase == Phase::Draining;
            loop {
                let batch = if draining { st.queue.flush_batch() } else { st.queue.poll_batch(now) };
                let Some(items) = batch else { break };
                batches.push(start_batch(&mut st, items));
            }
            if draining && st.queue.is_empty() && st.queue.running() == 0 {
                st.finish_stop();
                return;
            }
            st.queue.poll_timeout()
        };
        // Spawned once the lock is released: every `push` takes it.
        for batch in batches {
            let end = BatchEnd { g: Arc::clone(&g), key: batch.key, count: batch.items.len() as u64 };
            runtime.spawn(Box::pin(run_batch(Arc::clone(&g), batch, end)));
        }
        let state = Arc::clone(&g.state);
        drop(g);
        // `wake` holds one waker. A loop outdated by a cancelling stop must
        // not poll it: that would replace the waker of the loop a restart
        // spawned (and eat its notification), leaving the new loop asleep.
        sleep_or(&runtime, deadline, |cx| {
            let mut st = lock(&state);
            if st.generation != generation { Poll::Ready(()) } else { st.wake.poll(cx) }
        })
        .await;
    }
}

/// A batch taken from the queue, with what its task needs.
struct Batch {
    n: u64,
    /// Its entry in `State::in_flight`.
    key: usize,
    items: Vec<Item>,
    cancel: Arc<BatchCancel>,
    lease_for: Duration,
}

/// Books a batch taken from the queue as started.
fn start_batch(st: &mut State, items: Vec<Item>) -> Batch {
    st.batch_seq += 1;
    let cancel = Arc::new(BatchCancel::default());
    let key = st.in_flight.insert(Arc::clone(&cancel));
    Batch { n: st.batch_seq, key, items, cancel, lease_for: st.queue.policy().lease_for_value() }
}

/// One batch: lease a pool (unless cancelled first), run the items, release.
async fn run_batch<R: Runtime>(g: Arc<Grinder<R>>, batch: Batch, _end: BatchEnd<R>) {
    let Batch { n, key: _, items, cancel, lease_for } = batch;
    let owner = format!("{}-batch-{n}", g.owner_prefix);
    let mut acquire = g.manager.acquire().owner(owner).lease_for(lease_for).into_future();
    let acquired = poll_fn(|cx| {
        if cancel.is_cancelled() || lock(&cancel.signal).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut acquire).poll(cx).map(Some)
    })
    .await;
    drop(acquire); // a pending acquire withdraws; a grant goes to the next waiter
    match acquired {
        None => items.into_iter().for_each(|item| item.fail(&Error::Cancelled)),
        Some(Err(error)) => items.into_iter().for_each(|item| item.fail(&error)),
        Some(Ok(lease)) => run_on(&lease, g.workers, items, &cancel).await,
    }
}

/// Books a batch as finished when its task ends, or is dropped with a
/// runtime that shut down (its items then fail as cancelled): either way
/// its slot among the concurrent batches is freed.
struct BatchEnd<R: Runtime> {
    g: Arc<Grinder<R>>,
    key: usize,
    count: u64,
}

impl<R: Runtime> Drop for BatchEnd<R> {
    fn drop(&mut self) {
        let mut st = lock(&self.g.state);
        st.queue.batch_finished();
        st.in_flight.remove(self.key);
        st.items_completed += self.count;
        st.wake.notify();
    }
}

/// Dropped with the loop task. A loop ends by itself only when superseded
/// (the generation moved on) or stopped; dropped while its run is current,
/// its runtime shut down under it: mark it, for the next `start`.
struct LostLoop<R: Runtime> {
    me: Weak<Grinder<R>>,
    generation: u64,
}

impl<R: Runtime> Drop for LostLoop<R> {
    fn drop(&mut self) {
        if let Some(g) = self.me.upgrade() {
            let mut st = lock(&g.state);
            if st.generation == self.generation && st.phase != Phase::Stopped {
                st.loop_lost = true;
            }
        }
    }
}

/// Splits `items` into one chunk per worker and submits each as a job
/// through `lease`. If a submission fails, the items already submitted keep
/// their real results and only the rest get that error.
async fn run_on<R: Runtime>(lease: &Lease<R>, workers: usize, items: Vec<Item>, cancel: &Arc<BatchCancel>) {
    let done = submit_chunks(items, workers, |chunk| {
        let finish = match lease.reserve() {
            Ok(finish) => finish,
            Err(error) => return Err((chunk, error)),
        };
        let cancel = Arc::clone(cancel);
        let (tx, finished) = JobHandle::<()>::channel();
        let job = Job::new(move |cancelled| {
            for item in chunk {
                match &cancelled {
                    Some(error) => item.job.cancel(error.clone()),
                    // A chunk is one job: once the lease's pool is shut down
                    // (revoked, or the manager stopped), the rest of a
                    // running chunk must not run either.
                    None if finish.is_shut() => item.job.cancel(Error::LeaseExpired),
                    None if cancel.is_cancelled() => item.job.cancel(Error::Cancelled),
                    None => item.job.run(),
                }
            }
            finish.done();
            let _ = tx.send(Ok(()));
        });
        lease.queue(job);
        Ok(finished)
    });
    for finished in done {
        let _ = finished.await;
    }
}

/// Splits `items` into at most `workers` chunks of equal size (the last may
/// be smaller), in order, and hands each to `submit`, which either takes it
/// (returning what to wait for) or gives it back with an error. After the
/// first failure `submit` is not called again: that chunk and every later
/// one fail with its error, while the chunks already submitted are left to
/// report their real results.
fn submit_chunks<D>(
    items: Vec<Item>,
    workers: usize,
    mut submit: impl FnMut(Vec<Item>) -> Result<D, (Vec<Item>, Error)>,
) -> Vec<D> {
    let chunks = workers.clamp(1, items.len().max(1));
    let size = items.len().div_ceil(chunks);
    let mut items = items.into_iter();
    let mut done = Vec::with_capacity(chunks);
    loop {
        let chunk: Vec<Item> = items.by_ref().take(size).collect();
        if chunk.is_empty() {
            break;
        }
        match submit(chunk) {
            Ok(d) => done.push(d),
            Err((chunk, error)) => {
                chunk.into_iter().chain(items).for_each(|item| item.fail(&error));
                break;
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` items returning their index, with their handles.
    fn items(n: usize) -> (Vec<Item>, Vec<JobHandle<usize>>) {
        (0..n).map(|i| Item::new(None, move || i)).unzip()
    }

    /// A submission fails part-way through a batch (the second of three
    /// chunks): the first chunk's items keep their real results (they run
    /// after the failure and are unaffected by it), the failing chunk and
    /// the one after it get the submission error, and nothing is submitted
    /// after the failure.
    #[test]
    fn failed_submission_fails_only_the_unsubmitted_items() {
        let (batch, handles) = items(6);
        let mut calls = 0;
        let submitted = submit_chunks(batch, 3, |chunk| {
            calls += 1;
            if calls == 2 { Err((chunk, Error::LeaseExpired)) } else { Ok(chunk) }
        });
        assert_eq!(calls, 2, "no submission after the first failure");
        assert_eq!(submitted.len(), 1);
        let finished: Vec<bool> = handles.iter().map(JobHandle::is_finished).collect();
        assert_eq!(finished, [false, false, true, true, true, true], "only the unsubmitted items failed");

        for item in submitted.into_iter().flatten() {
            item.job.run();
        }
        let results: Vec<_> = handles.into_iter().map(JobHandle::wait).collect();
        assert!(matches!(results[..2], [Ok(0), Ok(1)]), "{results:?}");
        assert!(results[2..].iter().all(|r| matches!(r, Err(Error::LeaseExpired))), "{results:?}");
    }

    /// A failure on the first chunk fails every item with that error (a
    /// broken pool's cause, not a generic one).
    #[test]
    fn failure_on_the_first_chunk_fails_every_item_with_its_error() {
        let (batch, handles) = items(5);
        let submitted = submit_chunks(batch, 2, |chunk| -> Result<(), _> {
            Err((chunk, Error::Broken(Arc::from("init failed"))))
        });
        assert!(submitted.is_empty());
        for handle in handles {
            assert!(matches!(handle.wait(), Err(Error::Broken(msg)) if &*msg == "init failed"));
        }
    }

    /// A runtime that runs each task on its own thread (the driver's unit
    /// tests have no async runtime of their own).
    #[derive(Clone, Debug, Default)]
    struct ThreadPerTask;

    impl Runtime for ThreadPerTask {
        fn spawn(&self, f: crate::BoxFuture<()>) {
            std::thread::spawn(move || futures_executor::block_on(f));
        }
        fn sleep_until(&self, deadline: std::time::Instant) -> crate::BoxFuture<()> {
            Box::pin(async move {
                std::thread::sleep(deadline.saturating_duration_since(std::time::Instant::now()))
            })
        }
    }

    /// A batch on a lease that refuses jobs (released here) fails every item
    /// with the lease's error: nothing runs, nothing is lost.
    #[test]
    fn run_on_a_refusing_lease_fails_every_item_with_its_error() {
        let m = crate::Builder::with_runtime(ThreadPerTask).max_pools(1).workers_per_pool(2).build().unwrap();
        futures_executor::block_on(async {
            m.start().await.unwrap();
            let lease = m.acquire().await.unwrap();
            lease.release();
            let (batch, handles) = items(4);
            run_on(&lease, 2, batch, &Arc::default()).await;
            for handle in handles {
                let result = handle.await;
                assert!(matches!(result, Err(Error::LeaseReleased)), "{result:?}");
            }
            m.stop().await;
        });
    }

    /// A draining stop (and a start waiting for it) polled again and again
    /// by one task keeps one registration, not one per poll.
    #[test]
    fn a_pending_drain_registers_each_task_once() {
        let m = crate::Builder::with_runtime(ThreadPerTask).max_pools(1).workers_per_pool(1).build().unwrap();
        futures_executor::block_on(async {
            m.start().await.unwrap();
            // The only pool is held, so the pending item's batch cannot run.
            let held = m.acquire().await.unwrap();
            let g = WorkGrinder::builder(&m).batch_size_threshold(1).build().unwrap();
            g.start().await;
            let handle = g.enqueue(|| 1).unwrap();
            let mut stop = std::pin::pin!(g.stop(StopMode::Drain));
            let mut start = std::pin::pin!(g.start());
            let (waker_a, waker_b) = (futures_task_waker(), futures_task_waker());
            for _ in 0..100 {
                assert!(stop.as_mut().poll(&mut Context::from_waker(&waker_a)).is_pending());
                assert!(start.as_mut().poll(&mut Context::from_waker(&waker_b)).is_pending());
            }
            assert_eq!(lock(&g.g.state).stop_waiters.len(), 2, "one per task");
            drop(held);
            stop.await;
            start.await;
            assert_eq!(handle.await.unwrap(), 1);
            g.stop(StopMode::Drain).await;
            m.stop().await;
        });
    }

    /// A waker of its own (unlike a clone of one waker, whose `will_wake`
    /// would match the others').
    fn futures_task_waker() -> Waker {
        struct Nothing;
        impl std::task::Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        Waker::from(Arc::new(Nothing))
    }

    /// A runtime like [`ThreadPerTask`] whose next spawn, once armed, runs
    /// a hook and then panics (as tokio's does outside a runtime).
    #[derive(Clone, Debug, Default)]
    struct FailingSpawn;

    type Hook = Box<dyn FnOnce() + Send>;
    static FAIL_NEXT_SPAWN: std::sync::Mutex<Option<Hook>> = std::sync::Mutex::new(None);

    impl Runtime for FailingSpawn {
        fn spawn(&self, f: crate::BoxFuture<()>) {
            if let Some(hook) = FAIL_NEXT_SPAWN.lock().unwrap().take() {
                hook();
                panic!("cannot spawn");
            }
            ThreadPerTask.spawn(f);
        }
        fn sleep_until(&self, deadline: std::time::Instant) -> crate::BoxFuture<()> {
            ThreadPerTask.sleep_until(deadline)
        }
    }

    /// A start whose loop cannot be spawned leaves the grinder stopped, and
    /// fails the work accepted while it looked started instead of leaving
    /// it queued with no loop to run it.
    #[test]
    fn a_start_that_cannot_spawn_its_loop_fails_the_work_it_accepted() {
        let m = crate::Builder::with_runtime(FailingSpawn).max_pools(1).workers_per_pool(1).build().unwrap();
        futures_executor::block_on(m.start()).unwrap();
        let g = WorkGrinder::builder(&m).batch_size_threshold(8).build().unwrap();
        let accepted = Arc::new(std::sync::Mutex::new(None));
        let (g2, a2) = (g.clone(), Arc::clone(&accepted));
        *FAIL_NEXT_SPAWN.lock().unwrap() = Some(Box::new(move || {
            *a2.lock().unwrap() = Some(g2.enqueue(|| 7).expect("accepted: the grinder looks started"));
        }));
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures_executor::block_on(g.start());
        }));
        assert!(started.is_err());
        assert!(!g.stats().started);
        assert_eq!(g.stats().pending, 0);
        let item = accepted.lock().unwrap().take().expect("the hook ran");
        assert!(matches!(item.wait(), Err(Error::GrinderNotRunning)));
        futures_executor::block_on(m.stop());
    }

    /// Items are split in order into at most one chunk per worker, of equal
    /// size except the last.
    #[test]
    fn items_are_split_into_one_chunk_per_worker_in_order() {
        for (n, workers, sizes) in [
            (4, 2, vec![2, 2]),
            (5, 4, vec![2, 2, 1]),
            (3, 4, vec![1, 1, 1]),
            (1, 4, vec![1]),
            (7, 1, vec![7]),
            (6, 3, vec![2, 2, 2]),
        ] {
            let (batch, handles) = items(n);
            let chunks = submit_chunks(batch, workers, Ok::<_, (Vec<Item>, Error)>);
            assert_eq!(
                chunks.iter().map(Vec::len).collect::<Vec<_>>(),
                sizes,
                "{n} items, {workers} workers"
            );
            for item in chunks.into_iter().flatten() {
                item.job.run();
            }
            let results: Vec<usize> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
            assert_eq!(results, (0..n).collect::<Vec<_>>());
        }
    }
}
