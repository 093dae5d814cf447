//! The peers' executors and the async runtimes the scenarios run on.
//!
//! * [`LitePool`]: N dedicated std threads fed by one crossbeam channel,
//!   results through a `oneshot`. Eight of them are the *raw floor*; four of
//!   two threads each, handed out by a `deadpool::unmanaged::Pool`, are the
//!   *emulated lease*.
//! * [`Exec`]: spawn / block_on / sleep for tokio (2 workers), async-std and
//!   smol, so the leasepool side of S2 and S4 is written once.

use std::future::Future;
use std::pin::Pin;
use std::thread::JoinHandle;
use std::time::Duration;

type Task = Box<dyn FnOnce() + Send>;

/// A boxed, sendable future.
pub(crate) type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A minimal thread pool: `threads` std threads pulling boxed jobs from one
/// crossbeam channel. Dropping it closes the channel and joins the threads.
pub(crate) struct LitePool {
    tx: Option<crossbeam_channel::Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
}

impl LitePool {
    pub(crate) fn new(threads: usize, name: &str) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Task>();
        let threads = (0..threads)
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    })
                    .expect("spawn a peer worker thread")
            })
            .collect();
        LitePool { tx: Some(tx), threads }
    }

    /// Queues `f`; its result comes back through the returned receiver.
    pub(crate) fn submit<T, F>(&self, f: F) -> oneshot::AsyncReceiver<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::async_channel();
        let job: Task = Box::new(move || {
            let _ = tx.send(f());
        });
        if let Some(sender) = &self.tx {
            let _ = sender.send(job);
        }
        rx
    }
}

impl Drop for LitePool {
    fn drop(&mut self) {
        drop(self.tx.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Spawn, block on and sleep, for one async runtime.
pub(crate) trait Exec {
    /// Spawns `f` as a task; the returned future is its join handle.
    fn spawn<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> BoxFut<T>;
    /// Runs `f` to completion from the calling (non-runtime) thread.
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T;
    /// Sleeps on the runtime's timer.
    fn sleep(&self, d: Duration) -> BoxFut<()>;
}

/// A fresh multi-threaded tokio runtime with 2 worker threads.
pub(crate) struct Tokio(pub(crate) tokio::runtime::Runtime);

impl Tokio {
    pub(crate) fn new() -> Self {
        Tokio(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("build a tokio runtime"),
        )
    }
}

impl Exec for Tokio {
    fn spawn<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
        let handle = self.0.spawn(f);
        Box::pin(async move { handle.await.expect("benchmark task panicked") })
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }

    fn sleep(&self, d: Duration) -> BoxFut<()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// smol's global executor (`SMOL_THREADS=2`, set by `main`).
pub(crate) struct Smol;

impl Exec for Smol {
    fn spawn<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
        Box::pin(smol::spawn(f))
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        smol::block_on(f)
    }

    fn sleep(&self, d: Duration) -> BoxFut<()> {
        Box::pin(async move {
            smol::Timer::after(d).await;
        })
    }
}

/// async-std's global executor (`ASYNC_STD_THREAD_COUNT=2`, set by `main`).
pub(crate) struct AsyncStd;

impl Exec for AsyncStd {
    fn spawn<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
        Box::pin(async_std::task::spawn(f))
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        async_std::task::block_on(f)
    }

    fn sleep(&self, d: Duration) -> BoxFut<()> {
        Box::pin(async_std::task::sleep(d))
    }
}
