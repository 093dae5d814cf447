//! Executor backends: dedicated threads, and (feature `process`, Unix)
//! worker processes, whose pools are thread pools with one process per
//! worker thread (see `process::pool`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::{fmt, io, thread};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;
use leasepool_core::{PoolId, ShutdownReason};

use crate::error::Error;
use crate::idle::Idle;
use crate::job::{Job, catch};

/// Which kind of executor backs each pool.
///
/// ```
/// use leasepool::Backend;
/// assert_eq!(Backend::default(), Backend::Thread);
/// assert_eq!(Backend::Thread.to_string(), "thread");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// `workers_per_pool` dedicated, named OS threads per pool.
    #[default]
    Thread,
    /// `workers_per_pool` worker processes per pool, each served by a
    /// dedicated thread (Unix, feature `process`; see
    /// [`Builder::build_process`](crate::Builder::build_process)).
    Process,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Thread => "thread",
            Backend::Process => "process",
        })
    }
}

/// A per-worker setup hook; an `Err` or a panic makes the pool broken.
pub(crate) type Initializer =
    Arc<dyn Fn() -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send + Sync>;

/// Called (from the failing worker thread) when a pool becomes broken.
pub(crate) type OnBroken = Arc<dyn Fn(PoolId) + Send + Sync>;

/// `ThreadPool::word` layout: the lease tenancy in the high 32 bits,
/// then the released flag, then the jobs in flight.
const RELEASED: u64 = 1 << 31;
const JOBS: u64 = RELEASED - 1;
const TENANCY_SHIFT: u32 = 32;

enum Msg {
    Job(Job),
    Stop,
}

/// One pool: a job queue served by dedicated worker threads.
pub(crate) struct ThreadPool {
    id: PoolId,
    workers: usize,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    shut: AtomicBool,
    broken: OnceLock<Arc<str>>,
    /// Why the core shut the pool down, set once before `shut` is: a lease
    /// on it learns whether it expired or was cut by a stop.
    shut_for: OnceLock<ShutdownReason>,
    /// How the idle workers wait for the next job (spin or sleep), and
    /// whom a queued job wakes.
    idle: Idle,
    /// Worker threads started and not yet returned: a pool shut down while
    /// jobs run keeps its threads until those jobs end (see
    /// `ThreadPool::is_winding_down`).
    running: AtomicUsize,
    /// A process pool's context (its worker processes' connections, its
    /// outbox); set once, right after the pool is spawned (before anyone
    /// else can shut it down). The first `shutdown` shuts it down, which
    /// kills the worker processes.
    #[cfg(all(unix, feature = "process"))]
    process: OnceLock<Arc<crate::process::PoolCtx>>,
    /// The current lease's tenancy word: its tenancy, whether it was released,
    /// and its jobs in flight, in one word, so that submitting and finishing
    /// a job take no lock (see `Lease::reserve`). A lease remembers the
    /// tenancy it was granted under, so a stale lease cannot count jobs
    /// against the next holder of the pool. On its own cache line: both
    /// sides write it for every job, and the fields above are read for
    /// every job.
    word: CachePadded<AtomicU64>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool").field("id", &self.id).field("workers", &self.workers).finish()
    }
}

impl ThreadPool {
    /// Starts `workers` threads named `{prefix}-{pool}-{i}`.
    pub(crate) fn spawn(
        id: PoolId,
        prefix: &str,
        workers: usize,
        init: Option<Initializer>,
        on_broken: OnBroken,
    ) -> io::Result<Arc<ThreadPool>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pool = Arc::new(ThreadPool {
            id,
            workers,
            tx,
            rx,
            shut: AtomicBool::new(false),
            broken: OnceLock::new(),
            shut_for: OnceLock::new(),
            idle: Idle::new(),
            running: AtomicUsize::new(0),
            #[cfg(all(unix, feature = "process"))]
            process: OnceLock::new(),
            word: CachePadded::new(AtomicU64::new(0)),
        });
        for i in 0..workers {
            let (pool2, init, on_broken) = (Arc::clone(&pool), init.clone(), Arc::clone(&on_broken));
            // Counted before it starts, so that it never shows below zero.
            pool.running.fetch_add(1, Ordering::AcqRel);
            let spawned = thread::Builder::new()
                .name(format!("{prefix}-{id}-{i}"))
                .spawn(move || pool2.work(init, on_broken));
            if let Err(e) = spawned {
                pool.running.fetch_sub(1, Ordering::AcqRel);
                pool.shutdown();
                return Err(e);
            }
        }
        Ok(pool)
    }

    /// The initializer failure that broke this pool, if any.
    pub(crate) fn broken(&self) -> Option<Error> {
        self.broken.get().map(|msg| Error::Broken(Arc::clone(msg)))
    }

    /// Marks the pool broken with `why` (the first cause is kept); the
    /// caller then retires it.
    #[cfg(all(unix, feature = "process"))]
    pub(crate) fn break_with(&self, why: Arc<str>) {
        let _ = self.broken.set(why);
    }

    /// Makes this a process pool (once).
    #[cfg(all(unix, feature = "process"))]
    pub(crate) fn set_process(&self, ctx: Arc<crate::process::PoolCtx>) {
        let _ = self.process.set(ctx);
    }

    /// The process context, if this is a process pool.
    #[cfg(all(unix, feature = "process"))]
    pub(crate) fn process(&self) -> Option<&Arc<crate::process::PoolCtx>> {
        self.process.get()
    }

    /// Records why the core shuts this pool down (before `shutdown`).
    pub(crate) fn shut_for(&self, reason: ShutdownReason) {
        let _ = self.shut_for.set(reason);
    }

    /// Why the pool was shut down, if the core said so.
    pub(crate) fn shut_reason(&self) -> Option<ShutdownReason> {
        self.shut_for.get().copied()
    }

    /// Whether the pool was shut down (its lease, if any, is gone).
    pub(crate) fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// A new lease on this pool: returns its tenancy. Called under the
    /// manager lock when the core grants the pool, which it does only once
    /// the previous lease has no job in flight. Generations wrap after 2^32
    /// grants of one pool: a stale lease would have to stall that long
    /// inside `submit` to be mistaken for the current one.
    pub(crate) fn begin_lease(&self) -> u32 {
        let claim = self.word.load(Ordering::Acquire);
        debug_assert_eq!(claim & JOBS, 0, "a pool is granted only when idle");
        let tenancy = ((claim >> TENANCY_SHIFT) as u32).wrapping_add(1);
        self.word.store(u64::from(tenancy) << TENANCY_SHIFT, Ordering::Release);
        tenancy
    }

    /// Counts one more job of the lease of `tenancy`; false if that
    /// lease was released (or is no longer this pool's).
    pub(crate) fn job_started(&self, tenancy: u32) -> bool {
        let mine = u64::from(tenancy) << TENANCY_SHIFT;
        self.word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c & !JOBS == mine && c & JOBS < JOBS).then_some(c + 1)
            })
            .is_ok()
    }

    /// Counts one job less; true if it was the last job of a released
    /// lease, which must then be finalised.
    pub(crate) fn job_ended(&self) -> bool {
        let before = self.word.fetch_sub(1, Ordering::AcqRel);
        before & (RELEASED | JOBS) == RELEASED | 1
    }

    /// Marks the lease of `tenancy` released and returns its jobs in
    /// flight (`None`: not this pool's lease any more). Called under the
    /// manager lock, so a `job_ended` that sees the flag reaches the core
    /// after the release did.
    pub(crate) fn release_lease(&self, tenancy: u32) -> Option<u64> {
        let mine = u64::from(tenancy) << TENANCY_SHIFT;
        self.word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c >> TENANCY_SHIFT << TENANCY_SHIFT == mine).then_some(c | RELEASED)
            })
            .ok()
            .map(|c| c & JOBS)
    }

    /// Jobs of the current lease queued or running.
    pub(crate) fn jobs_in_flight(&self) -> u64 {
        self.word.load(Ordering::Relaxed) & JOBS
    }

    /// Queues `job`. On a shut-down pool the job is cancelled instead.
    pub(crate) fn submit(&self, job: Job) {
        if self.shut.load(Ordering::SeqCst) {
            return job.cancel(self.cancel_error());
        }
        // A send can race with `shutdown`: if the flag is set after our
        // send, shutdown's drain sees the job; if before, we drain it here.
        let _ = self.tx.send(Msg::Job(job));
        if self.shut.load(Ordering::SeqCst) {
            self.cancel_queued();
        }
        self.idle.job_queued();
    }

    /// Cancels queued jobs and lets the workers exit after their running
    /// job. Never blocks.
    pub(crate) fn shutdown(&self) {
        if self.shut.swap(true, Ordering::SeqCst) {
            return;
        }
        self.cancel_queued();
        for _ in 0..self.workers {
            let _ = self.tx.send(Msg::Stop);
        }
        self.idle.wake_all();
        #[cfg(all(unix, feature = "process"))]
        if let Some(ctx) = self.process.get() {
            ctx.shut_down();
        }
    }

    fn cancel_error(&self) -> Error {
        self.broken().unwrap_or(Error::Cancelled)
    }

    fn cancel_queued(&self) {
        let mut stops = 0;
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Job(job) => job.cancel(self.cancel_error()),
                Msg::Stop => stops += 1,
            }
        }
        // Stops taken by the drain still belong to the workers, and a
        // worker that looked while they were out may have gone to sleep.
        for _ in 0..stops {
            let _ = self.tx.send(Msg::Stop);
        }
        if stops > 0 {
            self.idle.wake_all();
        }
    }

    /// The next message: the queue's head, or what the idle workers' wait
    /// (spin or sleep, see `Idle`) finds. The pool holds a sender, so the
    /// queue never disconnects.
    fn next(&self) -> Msg {
        match self.rx.try_recv() {
            Ok(msg) => msg,
            Err(_) => self.idle.wait(|| self.rx.try_recv().ok(), || !self.rx.is_empty()),
        }
    }

    /// Shut down, with worker threads still finishing their jobs.
    pub(crate) fn is_winding_down(&self) -> bool {
        self.is_shut() && self.running.load(Ordering::Acquire) > 0
    }

    fn work(&self, init: Option<Initializer>, on_broken: OnBroken) {
        /// Counts the worker out however it returns.
        struct Running<'a>(&'a AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _running = Running(&self.running);
        if let Some(init) = init {
            let failure = match catch(|| init()) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("worker initializer failed: {e}")),
                Err(Error::Panicked(msg)) => Some(format!("worker initializer panicked: {msg}")),
                Err(e) => Some(format!("worker initializer failed: {e}")),
            };
            if let Some(msg) = failure {
                tracing::warn!(pool = %self.id, error = %msg, "worker initializer failed: pool broken");
                let _ = self.broken.set(msg.into());
                on_broken(self.id);
                return;
            }
        }
        loop {
            match self.next() {
                Msg::Stop => break,
                Msg::Job(job) if self.shut.load(Ordering::Relaxed) => job.cancel(self.cancel_error()),
                Msg::Job(job) => job.run(),
            }
        }
    }
}
