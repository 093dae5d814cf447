//! Jobs on their way to a worker, and the handles that wait for them.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;

/// A type-erased job. Called with `None` it runs; with `Some(err)` it is
/// cancelled with that error. Dropped unrun, it cancels itself, so that its
/// handle and the lease bookkeeping always hear of it.
pub(crate) struct Job(Option<Box<dyn FnOnce(Option<Error>) + Send>>);

impl Job {
    pub(crate) fn new(f: impl FnOnce(Option<Error>) + Send + 'static) -> Self {
        Job(Some(Box::new(f)))
    }

    /// A job running `f` (a panic becomes [`Error::Panicked`]), or taking
    /// its cancellation error, that calls `before_reply` and then sends the
    /// result to the returned handle.
    pub(crate) fn replying<T, F>(f: F, before_reply: impl FnOnce() + Send + 'static) -> (Job, JobHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, handle) = JobHandle::channel();
        let job = Job::new(move |cancelled| {
            let result = match cancelled {
                None => catch(f),
                Some(err) => {
                    // The unrun closure's captures are dropped here, on
                    // whichever thread cancels (perhaps inside `stop`).
                    let _ = catch(move || drop(f));
                    Err(err)
                }
            };
            before_reply();
            // A result nobody awaits any more is dropped here, on the
            // worker: a panicking `Drop` must not take the worker down.
            if let Err(unsent) = tx.send(result) {
                let _ = catch(move || drop(unsent));
            }
        });
        (job, handle)
    }

    pub(crate) fn run(mut self) {
        if let Some(f) = self.0.take() {
            f(None);
        }
    }

    pub(crate) fn cancel(mut self, error: Error) {
        if let Some(f) = self.0.take() {
            f(Some(error));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Some(Error::Cancelled));
        }
    }
}

/// Runs `f`, turning a panic into [`Error::Panicked`] with its message.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| Error::Panicked(panic_message(&*p)))
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// The pending result of a job submitted through a lease.
///
/// `.await` it from async code, or call [`JobHandle::wait`] from a plain
/// thread. Dropping it does not cancel the job; the result is discarded.
///
/// ```
/// # async fn demo(lease: leasepool_driver::Lease<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
/// let handle = lease.submit(|| 6 * 7)?;
/// assert_eq!(handle.await?, 42);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a JobHandle does nothing unless awaited or waited on; drop it to discard the result"]
pub struct JobHandle<T> {
    rx: oneshot::AsyncReceiver<Result<T, Error>>,
}

impl<T> JobHandle<T> {
    pub(crate) fn channel() -> (oneshot::Sender<Result<T, Error>>, Self) {
        let (tx, rx) = oneshot::async_channel();
        (tx, JobHandle { rx })
    }

    /// Blocks the current thread until the job ends. Do not call it on an
    /// async runtime's worker thread; `.await` the handle there instead.
    ///
    /// ```
    /// # fn demo(lease: &leasepool_driver::Lease<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
    /// let handle = lease.submit(|| "done")?;
    /// assert_eq!(handle.wait()?, "done");
    /// # Ok(()) }
    /// ```
    pub fn wait(self) -> Result<T, Error> {
        futures_executor::block_on(self)
    }

    /// Whether the result is ready (the job ended or was cancelled).
    ///
    /// ```
    /// # fn demo(lease: &leasepool_driver::Lease<impl leasepool_driver::Runtime>) -> Result<(), leasepool_driver::Error> {
    /// let handle = lease.submit(|| ())?;
    /// while !handle.is_finished() { std::thread::yield_now(); }
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.rx.has_message() || self.rx.is_closed()
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(Error::Cancelled)))
    }
}
