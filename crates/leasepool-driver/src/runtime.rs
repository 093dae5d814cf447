//! The small trait each async runtime adapter implements.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

/// A boxed, sendable future, as passed to [`Runtime::spawn`] and returned by
/// [`Runtime::sleep_until`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What leasepool needs from an async runtime: spawn a task, sleep until an
/// instant, and tell the time.
///
/// `leasepool-tokio`, `leasepool-async-std` and `leasepool-smol` implement it;
/// implement it yourself to run leasepool on another executor. Everything
/// else (manager, leases, waiters, the checker task, worker threads) is
/// written once against this trait.
///
/// ```
/// use std::time::Instant;
/// use leasepool_driver::{BoxFuture, Runtime};
///
/// /// Runs leasepool's checker on a dedicated thread per task (a toy).
/// #[derive(Clone, Debug, Default)]
/// struct ThreadPerTask;
///
/// impl Runtime for ThreadPerTask {
///     fn spawn(&self, future: BoxFuture<()>) {
///         std::thread::spawn(move || futures_executor::block_on(future));
///     }
///     fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
///         Box::pin(async move {
///             // A real runtime uses its timer; this toy blocks its own thread.
///             std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
///         })
///     }
/// }
/// ```
pub trait Runtime: Clone + Debug + Send + Sync + 'static {
    /// Runs `future` to completion in the background. A runtime that
    /// cannot (there is none around, or it has shut down) drops `future`
    /// instead, at once: the manager's `start` then returns
    /// [`Error::RuntimeGone`](crate::Error::RuntimeGone). A runtime that
    /// shuts down later drops its tasks too, and the manager notices.
    /// Must not poll `future` before returning (the manager's lock may be
    /// held).
    fn spawn(&self, future: BoxFuture<()>);

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()>;

    /// The current instant. Override it when the runtime has a mockable
    /// clock (tokio's paused time) so that leases and timeouts follow it.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A [`Runtime::sleep_until`] built on `async-io`'s timer, shared by the
/// adapters whose runtimes use `async-io` (smol, async-std).
///
/// ```
/// let sleep = leasepool_driver::async_io_sleep_until(std::time::Instant::now());
/// futures_executor::block_on(sleep);
/// ```
#[cfg(feature = "async-io")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-io")))]
pub fn async_io_sleep_until(deadline: Instant) -> BoxFuture<()> {
    Box::pin(async move {
        async_io::Timer::at(deadline).await;
    })
}
