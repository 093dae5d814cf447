//! Jobs on their way to a worker, and the handles that wait for them.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::backend::ThreadPool;
use crate::error::Error;
use crate::recorder::Stopwatch;

/// How a job ended, as its counters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobEnd {
    /// It ran and returned, in `took` (measured only with the `metrics`
    /// feature; zero without it).
    Returned { took: Duration },
    /// It ran and panicked, after `took` (as for `Returned`).
    Panicked { took: Duration },
    /// It never ran: cancelled ([`Error::Cancelled`]: `cancelled` is
    /// true), or failed with another error first (its lease revoked, its
    /// pool broken, its batch's acquire refused).
    NotRun { cancelled: bool },
}

impl JobEnd {
    /// The end of a job cancelled with `error` before it ran.
    pub(crate) fn not_run(error: &Error) -> Self {
        JobEnd::NotRun { cancelled: matches!(error, Error::Cancelled) }
    }
}

/// Counts how jobs end, told before each result is delivered: whoever
/// holds a result and then reads the counts finds its job in them.
pub(crate) trait Tally {
    fn count(&self, end: JobEnd);
}

/// The closure inside a [`Job`]: `None` runs it, `Some(err)` cancels it;
/// a tally, if given, hears how it ended before the outcome is delivered.
type JobFn = Box<dyn FnOnce(Option<Error>, Option<&dyn Tally>) + Send>;

/// A type-erased job. Called with `None` it runs; with `Some(err)` it is
/// cancelled with that error. Dropped unrun, it cancels itself, so that its
/// handle and the lease bookkeeping always hear of it.
pub(crate) struct Job(Option<JobFn>);

impl Job {
    pub(crate) fn new(f: impl FnOnce(Option<Error>) + Send + 'static) -> Self {
        Job(Some(Box::new(move |cancelled, _| f(cancelled))))
    }

    /// A job running `f` (a panic becomes [`Error::Panicked`]), or taking
    /// its cancellation error, that calls `before_reply` with how it ended
    /// and then sends the result to the returned handle. With `timed`, the
    /// end carries how long `f` ran (with the `metrics` feature: two clock
    /// reads); without, it carries zero, for a caller that never reads it.
    pub(crate) fn replying<T, F>(
        f: F,
        timed: bool,
        before_reply: impl FnOnce(JobEnd) + Send + 'static,
    ) -> (Job, JobHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, handle) = JobHandle::channel();
        let job = Job(Some(Box::new(move |cancelled, tally: Option<&dyn Tally>| {
            let (result, end) = match cancelled {
                None => {
                    let watch = timed.then(Stopwatch::start);
                    let result = catch(f);
                    let took = watch.map_or(Duration::ZERO, |w| w.elapsed());
                    let end = match result {
                        Ok(_) => JobEnd::Returned { took },
                        Err(_) => JobEnd::Panicked { took },
                    };
                    (result, end)
                }
                Some(err) => {
                    // The unrun closure's captures are dropped here, on
                    // whichever thread cancels (perhaps inside `stop`).
                    let _ = catch(move || drop(f));
                    let end = JobEnd::not_run(&err);
                    (Err(err), end)
                }
            };
            before_reply(end);
            // Counted before the result is out: whoever holds the result
            // and then reads the count sees this job in it.
            if let Some(tally) = tally {
                tally.count(end);
            }
            // A result nobody awaits any more is dropped here, on the
            // worker: a panicking `Drop` must not take the worker down.
            if let Err(unsent) = tx.send(result) {
                let _ = catch(move || drop(unsent));
            }
        })));
        (job, handle)
    }

    /// A job like [`Job::replying`] whose closure receives a
    /// [`CancelToken`]; the handle flags the token when dropped. The token
    /// is bound to a pool with [`CancelState::bind_pool`], before the job
    /// can run.
    pub(crate) fn cancellable<T, F>(
        f: F,
        timed: bool,
        before_reply: impl FnOnce(JobEnd) + Send + 'static,
    ) -> (Job, JobHandle<T>, Arc<CancelState>)
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let state = Arc::new(CancelState::default());
        let token = CancelToken(Arc::clone(&state));
        let (job, mut handle) = Job::replying(move || f(token), timed, before_reply);
        handle.cancel = Some(Arc::clone(&state));
        (job, handle, state)
    }

    pub(crate) fn run(self) {
        self.finish(None, None);
    }

    pub(crate) fn cancel(self, error: Error) {
        self.finish(Some(error), None);
    }

    /// Runs the job; `tally` hears how it ended before its result is
    /// delivered.
    pub(crate) fn run_counted(self, tally: &dyn Tally) {
        self.finish(None, Some(tally));
    }

    /// Cancels the job; `tally` hears of it before its error is delivered.
    pub(crate) fn cancel_counted(self, error: Error, tally: &dyn Tally) {
        self.finish(Some(error), Some(tally));
    }

    fn finish(mut self, cancelled: Option<Error>, tally: Option<&dyn Tally>) {
        if let Some(f) = self.0.take() {
            f(cancelled, tally);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Some(Error::Cancelled), None);
        }
    }
}

/// Tells a running job that its result is no longer wanted.
///
/// A thread cannot be killed: a job keeps its worker until it returns. A
/// job started with [`Lease::submit_cancellable`](crate::Lease::submit_cancellable),
/// [`Lease::run_cancellable`](crate::Lease::run_cancellable) or
/// [`WorkGrinder::submit_cancellable`](crate::WorkGrinder::submit_cancellable)
/// receives a token, and should check it now and then and return early
/// once it turns true, so that its worker (and for a lease, its pool) is
/// free sooner. It turns true, and stays true, when
///
/// * its lease was revoked at hard expiry, or the manager stopped (the
///   pool was shut down);
/// * the caller dropped its [`JobHandle`] or [`WorkHandle`](crate::WorkHandle)
///   unfinished, or the future of `run_cancellable` / `submit_cancellable`
///   (a client that went away);
/// * for a grinder item, the grinder was stopped with
///   [`StopMode::CancelPending`](crate::StopMode::CancelPending).
///
/// What the job returns then is up to it. If the caller still waits (a
/// revoked lease, a stop), it receives that value; if the caller is gone,
/// the value is dropped on the worker. Either way the job ends once, and
/// its lease counts it as finished once.
///
/// [`is_cancelled`](Self::is_cancelled) is a few atomic loads, no lock:
/// cheap enough to call on every iteration of a loop. The token is
/// `Clone + Send + Sync`, so a job can hand it to helpers or threads of
/// its own; once the job has returned it means nothing.
///
/// ```
/// # async fn demo(lease: leasepool::Lease) -> Result<(), leasepool::Error> {
/// // Sums as much as it can; stops early if nobody wants the sum any more.
/// let sum = lease
///     .run_cancellable(|token| {
///         let mut sum = 0u64;
///         for i in 0..10_000_000u64 {
///             if i % 1024 == 0 && token.is_cancelled() {
///                 return None; // nobody needs a partial sum
///             }
///             sum = sum.wrapping_add(i);
///         }
///         Some(sum)
///     })
///     .await?;
/// # let _ = sum; Ok(()) }
/// ```
#[derive(Clone)]
pub struct CancelToken(Arc<CancelState>);

impl CancelToken {
    /// Whether the job's result is no longer wanted (see [`CancelToken`]).
    /// Once true, it stays true.
    ///
    /// ```
    /// # async fn demo(lease: leasepool::Lease) -> Result<(), leasepool::Error> {
    /// let rows = lease
    ///     .run_cancellable(|token| {
    ///         let mut rows = Vec::new();
    ///         while rows.len() < 1_000 && !token.is_cancelled() {
    ///             rows.push(rows.len());
    ///         }
    ///         rows
    ///     })
    ///     .await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

/// Another reason to cancel, checked by [`CancelToken::is_cancelled`]: a
/// grinder batch cancelled by a stop.
pub(crate) trait CancelSource: Send + Sync {
    fn is_cancelled(&self) -> bool;
}

/// What a [`CancelToken`] reads: the caller's flag and, once known, the
/// pool the job runs on (shut down on revocation or stop) and another
/// source.
#[derive(Default)]
pub(crate) struct CancelState {
    /// Set when the handle (or the future holding it) is dropped.
    caller_gone: AtomicBool,
    pool: OnceLock<Arc<ThreadPool>>,
    source: OnceLock<Arc<dyn CancelSource>>,
}

impl CancelState {
    /// The pool the job runs on. Only the first call counts: a job runs on
    /// one pool.
    pub(crate) fn bind_pool(&self, pool: &Arc<ThreadPool>) {
        let _ = self.pool.set(Arc::clone(pool));
    }

    /// Another reason to cancel (the first call counts).
    pub(crate) fn bind_source(&self, source: Arc<dyn CancelSource>) {
        let _ = self.source.set(source);
    }

    fn is_cancelled(&self) -> bool {
        self.caller_gone.load(Ordering::Acquire)
            || self.pool.get().is_some_and(|pool| pool.is_shut())
            || self.source.get().is_some_and(|source| source.is_cancelled())
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
/// thread. Dropping it does not stop a running job (a thread cannot be
/// killed): the result is discarded, and a job submitted with
/// [`Lease::submit_cancellable`](crate::Lease::submit_cancellable) sees its
/// [`CancelToken`] turn true.
///
/// # Errors
///
/// Awaited (or [`wait`](Self::wait)ed), it gives the job's value, or:
///
/// * [`Error::Panicked`]: the job panicked (the pool keeps serving);
/// * [`Error::Cancelled`]: the job never ran, because its pool was shut
///   down first (lease revoked, manager stopped);
/// * [`Error::Broken`]: the job never ran, because its pool's worker
///   initializer failed.
///
/// ```
/// # async fn demo(lease: leasepool::Lease) -> Result<(), leasepool::Error> {
/// let handle = lease.submit(|| 6 * 7)?;
/// assert_eq!(handle.await?, 42);
/// # Ok(()) }
/// ```
#[must_use = "a JobHandle does nothing unless awaited or waited on; drop it to discard the result"]
pub struct JobHandle<T> {
    rx: oneshot::AsyncReceiver<Result<T, Error>>,
    /// A cancellable job's token state, flagged when the handle is dropped.
    cancel: Option<Arc<CancelState>>,
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .field("cancellable", &self.cancel.is_some())
            .finish()
    }
}

impl<T> JobHandle<T> {
    pub(crate) fn channel() -> (oneshot::Sender<Result<T, Error>>, Self) {
        let (tx, rx) = oneshot::async_channel();
        (tx, JobHandle { rx, cancel: None })
    }

    /// Blocks the current thread until the job ends. Do not call it on an
    /// async runtime's worker thread; `.await` the handle there instead.
    ///
    /// # Errors
    ///
    /// As for `.await`: see [`JobHandle`].
    ///
    /// ```
    /// # fn demo(lease: &leasepool::Lease) -> Result<(), leasepool::Error> {
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
    /// # fn demo(lease: &leasepool::Lease) -> Result<(), leasepool::Error> {
    /// let handle = lease.submit(|| ())?;
    /// while !handle.is_finished() { std::thread::yield_now(); }
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.rx.has_message() || self.rx.is_closed()
    }
}

impl<T> Drop for JobHandle<T> {
    fn drop(&mut self) {
        // After the result came in this changes nothing: the job is over.
        if let Some(cancel) = &self.cancel {
            cancel.caller_gone.store(true, Ordering::Release);
        }
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(Error::Cancelled)))
    }
}
