//! The async runtimes the scenarios run on: [`Exec`] is spawn / block_on /
//! sleep for tokio (2 workers), async-std and smol, so the leasepool side of
//! S2 and S4 is written once. The peers' executor, `LitePool`, is in the
//! library (`src/lib.rs`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future.
pub(crate) type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Spawn, block on and sleep, for one async runtime.
pub(crate) trait Exec {
    /// Spawns `f` as a task; the returned future is its join handle.
    fn spawn<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> BoxFut<T>;
    /// Runs `f` to completion from the calling (non-runtime) thread.
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T;
    /// Sleeps on the runtime's timer.
    fn sleep(&self, d: Duration) -> BoxFut<()> {
        Self::task_sleep(d)
    }
    /// Sleeps on the runtime's timer, from inside one of its tasks (which
    /// cannot hold `&self`).
    fn task_sleep(d: Duration) -> BoxFut<()>;
}

/// A fresh multi-threaded tokio runtime with 2 worker threads.
pub(crate) struct Tokio(pub(crate) tokio::runtime::Runtime);

impl Tokio {
    pub(crate) fn new() -> Self {
        Tokio(leasepool_bench::tokio_runtime())
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

    fn task_sleep(d: Duration) -> BoxFut<()> {
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

    fn task_sleep(d: Duration) -> BoxFut<()> {
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

    fn task_sleep(d: Duration) -> BoxFut<()> {
        Box::pin(async_std::task::sleep(d))
    }
}
