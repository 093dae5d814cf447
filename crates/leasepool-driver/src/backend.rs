//! Executor backends. Only dedicated threads are offered: a process backend
//! would need serialisable jobs, which Rust closures are not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::{fmt, io, thread};

use crossbeam_channel::{Receiver, Sender};
use leasepool_core::PoolId;

use crate::error::Error;
use crate::job::{Job, catch};

/// Which kind of executor backs each pool.
///
/// ```
/// use leasepool_driver::Backend;
/// assert_eq!(Backend::default(), Backend::Thread);
/// assert_eq!(Backend::Thread.to_string(), "thread");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// `workers_per_pool` dedicated, named OS threads per pool.
    #[default]
    Thread,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("thread")
    }
}

/// A per-worker setup hook; an `Err` or a panic makes the pool broken.
pub(crate) type Initializer =
    Arc<dyn Fn() -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send + Sync>;

/// Called (from the failing worker thread) when a pool becomes broken.
pub(crate) type OnBroken = Arc<dyn Fn(PoolId) + Send + Sync>;

/// Polls before a worker parks (each yields the CPU, so an idle worker
/// never holds a core another thread needs).
const SPIN_TRIES: usize = 20;

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
        });
        for i in 0..workers {
            let (pool2, init, on_broken) = (Arc::clone(&pool), init.clone(), Arc::clone(&on_broken));
            let spawned = thread::Builder::new()
                .name(format!("{prefix}-{id}-{i}"))
                .spawn(move || pool2.work(init, on_broken));
            if let Err(e) = spawned {
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

    /// Whether the pool was shut down (its lease, if any, is gone).
    pub(crate) fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
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
        // Stops taken by the drain still belong to the workers.
        for _ in 0..stops {
            let _ = self.tx.send(Msg::Stop);
        }
    }

    /// The next message: spin briefly first, since with leases the next job
    /// often follows within microseconds, and parking costs a futex wake.
    fn next(&self) -> Result<Msg, crossbeam_channel::RecvError> {
        for _ in 0..SPIN_TRIES {
            if let Ok(msg) = self.rx.try_recv() {
                return Ok(msg);
            }
            std::thread::yield_now();
        }
        self.rx.recv()
    }

    fn work(&self, init: Option<Initializer>, on_broken: OnBroken) {
        if let Some(init) = init {
            let failure = match catch(|| init()) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(Error::Panicked(msg)) => Some(format!("initializer panicked: {msg}")),
                Err(e) => Some(e.to_string()),
            };
            if let Some(msg) = failure {
                tracing::warn!(pool = %self.id, error = %msg, "worker initializer failed: pool broken");
                let _ = self.broken.set(msg.into());
                on_broken(self.id);
                return;
            }
        }
        while let Ok(msg) = self.next() {
            match msg {
                Msg::Stop => break,
                Msg::Job(job) if self.shut.load(Ordering::Relaxed) => job.cancel(self.cancel_error()),
                Msg::Job(job) => job.run(),
            }
        }
    }
}
