//! A lease on a process pool: runs [`ProcessJob`]s, never closures.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use leasepool_core::{LeaseId, PoolId};

use super::pool::{self, PoolCtx};
use super::{ProcessJob, frame};
use crate::error::Error;
use crate::job::{Job, JobEnd, JobHandle};
use crate::lease::Lease;
use crate::recorder::Stopwatch;
use crate::runtime::Runtime;

/// A lease on one process pool: run [`ProcessJob`]s on its worker
/// processes with [`run`](Self::run) or [`submit`](Self::submit), then
/// release it (or drop it).
///
/// It behaves as a [`Lease`] does (draining on release, revocation at hard
/// expiry), except that revocation kills: the pool's worker processes get
/// SIGTERM, then SIGKILL after the grace period, and the running jobs'
/// callers get [`Error::LeaseExpired`].
///
/// There is no closure-taking `run`: sending a closure to a process pool
/// does not compile.
///
/// ```compile_fail
/// # async fn demo(lease: leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
/// let _ = lease.run(|| 1 + 1).await; // a closure: does not compile
/// # }
/// ```
///
/// ```
/// # use leasepool::process::{ProcessJob, ProcessLease};
/// # struct Square;
/// # impl ProcessJob for Square {
/// #     const NAME: &'static str = "square";
/// #     type Input = u64;
/// #     type Output = u64;
/// #     fn run(n: u64) -> u64 { n * n }
/// # }
/// # async fn demo(lease: ProcessLease<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
/// let nine = lease.run::<Square>(3).await?;
/// # Ok(()) }
/// ```
pub struct ProcessLease<R: Runtime> {
    lease: Lease<R>,
    /// The lease's pool's process context: its outbox, and the frame limit
    /// its inputs are checked against before they are queued.
    ctx: Arc<PoolCtx>,
}

impl<R: Runtime> fmt::Debug for ProcessLease<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessLease").field(&self.lease).finish()
    }
}

impl<R: Runtime> ProcessLease<R> {
    /// Wraps a lease of a process manager; every pool of one has a
    /// process context, so the error is for a broken invariant only.
    pub(crate) fn new(lease: Lease<R>) -> Result<Self, Error> {
        let ctx = lease.pool().process().cloned();
        let ctx = ctx
            .ok_or_else(|| Error::Broken(Arc::from("a process lease on a pool without worker processes")))?;
        Ok(ProcessLease { lease, ctx })
    }

    /// Queues job `J` with `input` on the lease's pool and returns a
    /// handle to its output. The input is serialized now, on the calling
    /// thread.
    ///
    /// # Errors
    ///
    /// At once: those of [`Lease::submit`], and [`Error::Codec`] if the
    /// input does not serialize or is over
    /// [`ProcessConfig::max_frame`](super::ProcessConfig::max_frame).
    /// Later, from the handle: see [`ProcessHandle`].
    ///
    /// ```
    /// # use leasepool::process::{ProcessJob, ProcessLease};
    /// # struct Square;
    /// # impl ProcessJob for Square {
    /// #     const NAME: &'static str = "square";
    /// #     type Input = u64;
    /// #     type Output = u64;
    /// #     fn run(n: u64) -> u64 { n * n }
    /// # }
    /// # async fn demo(lease: ProcessLease<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// let a = lease.submit::<Square>(3)?;
    /// let b = lease.submit::<Square>(4)?;
    /// assert_eq!(a.await? + b.await?, 25);
    /// # Ok(()) }
    /// ```
    pub fn submit<J: ProcessJob>(&self, input: J::Input) -> Result<ProcessHandle<J::Output>, Error> {
        let input = encode_input::<J>(&input, self.ctx.config.max_frame)?;
        let finish = self.lease.reserve()?;
        let (tx, handle) = JobHandle::<Result<J::Output, Error>>::channel();
        // A call's run time, as the parent sees it: from its submission to
        // its reply (calls are pipelined, so the worker's own time for one
        // call is not observed apart from the others').
        let watch = Stopwatch::start();
        let complete: pool::Complete = Box::new(move |reply| {
            let (result, protocol) = pool::answer::<J>(reply);
            let end = match &result {
                Ok(_) => JobEnd::Returned { took: watch.elapsed() },
                Err(Error::Panicked(_)) => JobEnd::Panicked { took: watch.elapsed() },
                Err(e) => JobEnd::not_run(e),
            };
            // Book-kept before the reply, so that a caller who awaits the
            // result and then releases finds the lease idle.
            finish.done(end);
            // An output nobody awaits is dropped here, on the worker thread
            // (inside the drain's `catch`).
            let _ = tx.send(Ok(result));
            protocol
        });
        // The calls of a lease wait in the pool's outbox; drain jobs (at
        // most one per worker) send them in batches, so many small calls
        // cost one write and one wake-up per batch, not per call.
        if self.ctx.push(pool::Pending { name: J::NAME, input, complete }) {
            let ctx = Arc::clone(&self.ctx);
            self.lease.queue(Job::new(move |cancelled| pool::drain(&ctx, cancelled)));
        }
        Ok(ProcessHandle { handle })
    }

    /// Runs job `J` with `input` on the lease's pool and awaits its
    /// output.
    ///
    /// # Errors
    ///
    /// Those of [`submit`](Self::submit), then those of its
    /// [`ProcessHandle`].
    ///
    /// ```
    /// # use leasepool::process::{ProcessJob, ProcessLease};
    /// # struct Square;
    /// # impl ProcessJob for Square {
    /// #     const NAME: &'static str = "square";
    /// #     type Input = u64;
    /// #     type Output = u64;
    /// #     fn run(n: u64) -> u64 { n * n }
    /// # }
    /// # async fn demo(lease: ProcessLease<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// assert_eq!(lease.run::<Square>(12).await?, 144);
    /// # Ok(()) }
    /// ```
    pub async fn run<J: ProcessJob>(&self, input: J::Input) -> Result<J::Output, Error> {
        self.submit::<J>(input)?.await
    }

    /// The lease id.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
    /// println!("holding process lease {}", lease.id());
    /// # }
    /// ```
    pub fn id(&self) -> LeaseId {
        self.lease.id()
    }

    /// The owner label given at acquire.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
    /// let owner = lease.owner().unwrap_or("anonymous");
    /// # }
    /// ```
    pub fn owner(&self) -> Option<&str> {
        self.lease.owner()
    }

    /// The pool this lease runs on.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
    /// println!("on pool {}", lease.pool_id());
    /// # }
    /// ```
    pub fn pool_id(&self) -> PoolId {
        self.lease.pool_id()
    }

    /// The lease duration.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
    /// assert!(lease.lease_for() > std::time::Duration::ZERO);
    /// # }
    /// ```
    pub fn lease_for(&self) -> Duration {
        self.lease.lease_for()
    }

    /// `leased_at + lease_for`: finish by then.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
    /// let left = lease.soft_expires_at().saturating_duration_since(std::time::Instant::now());
    /// # }
    /// ```
    pub fn soft_expires_at(&self) -> Instant {
        self.lease.soft_expires_at()
    }

    /// `soft_expires_at + grace`: from then on the lease is revoked and
    /// its worker processes are killed.
    ///
    /// ```
    /// # fn demo(lease: &leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
    /// assert!(lease.hard_expires_at() >= lease.soft_expires_at());
    /// # }
    /// ```
    pub fn hard_expires_at(&self) -> Instant {
        self.lease.hard_expires_at()
    }

    /// Gives the pool back (idempotent); with jobs in flight the lease
    /// drains first. Dropping the lease does the same.
    ///
    /// ```
    /// # fn demo(lease: leasepool::process::ProcessLease<leasepool::DefaultRuntime>) {
    /// lease.release();
    /// # }
    /// ```
    pub fn release(&self) {
        self.lease.release();
    }
}

/// Serializes a job's input, within the frame limit.
pub(crate) fn encode_input<J: ProcessJob>(input: &J::Input, max_frame: usize) -> Result<Vec<u8>, Error> {
    let bytes = postcard::to_allocvec(input)
        .map_err(|e| Error::Codec(Arc::from(format!("input of `{}`: {e}", J::NAME))))?;
    // The call frame adds its tag, the name's length and the name.
    let framed = bytes.len() + 3 + J::NAME.len();
    if framed > max_frame {
        return Err(Error::Codec(Arc::from(format!(
            "input of `{}` is {framed} bytes framed, over max_frame ({max_frame} bytes)",
            J::NAME
        ))));
    }
    debug_assert!(frame::HEADER + framed <= u32::MAX as usize);
    Ok(bytes)
}

/// The pending output of a job submitted through a [`ProcessLease`].
///
/// `.await` it, or [`wait`](Self::wait) from a plain thread. Dropping it
/// does not stop the job: its worker process runs it to the end (or until
/// the lease is revoked) and the output is discarded.
///
/// # Errors
///
/// Awaited, it gives the job's output, or:
///
/// * [`Error::LeaseExpired`]: the lease was revoked while the job ran
///   (its worker process was killed); [`Error::Stopped`]: the manager
///   stopped;
/// * [`Error::WorkerCrashed`]: the worker process died while running it
///   (signal or exit code inside); the pool is retired;
/// * [`Error::Panicked`]: the job panicked (its worker serves on);
/// * [`Error::UnknownJob`]: the worker program has no such job;
/// * [`Error::Codec`]: the worker could not decode the input or encode
///   the output;
/// * [`Error::WorkerProtocol`]: the worker's reply was malformed,
///   truncated, oversized or not of the job's output type (the pool is
///   retired);
/// * [`Error::Cancelled`], [`Error::Broken`]: as for a [`JobHandle`]
///   (a worker process that failed to start breaks its pool).
///
/// ```
/// # use leasepool::process::{ProcessJob, ProcessLease};
/// # struct Square;
/// # impl ProcessJob for Square {
/// #     const NAME: &'static str = "square";
/// #     type Input = u64;
/// #     type Output = u64;
/// #     fn run(n: u64) -> u64 { n * n }
/// # }
/// # async fn demo(lease: ProcessLease<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
/// let handle = lease.submit::<Square>(7)?;
/// assert_eq!(handle.await?, 49);
/// # Ok(()) }
/// ```
#[must_use = "a ProcessHandle does nothing unless awaited or waited on"]
pub struct ProcessHandle<T> {
    handle: JobHandle<Result<T, Error>>,
}

impl<T> fmt::Debug for ProcessHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProcessHandle").field(&self.handle).finish()
    }
}

impl<T> ProcessHandle<T> {
    /// Blocks the current thread until the job ends (not on an async
    /// runtime's thread: `.await` there).
    ///
    /// # Errors
    ///
    /// As for `.await`: see [`ProcessHandle`].
    ///
    /// ```
    /// # use leasepool::process::{ProcessJob, ProcessLease};
    /// # struct Square;
    /// # impl ProcessJob for Square {
    /// #     const NAME: &'static str = "square";
    /// #     type Input = u64;
    /// #     type Output = u64;
    /// #     fn run(n: u64) -> u64 { n * n }
    /// # }
    /// # fn demo(lease: &ProcessLease<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// assert_eq!(lease.submit::<Square>(2)?.wait()?, 4);
    /// # Ok(()) }
    /// ```
    pub fn wait(self) -> Result<T, Error> {
        self.handle.wait()?
    }

    /// Whether the output (or the error) is ready.
    ///
    /// ```
    /// # use leasepool::process::{ProcessJob, ProcessLease};
    /// # struct Square;
    /// # impl ProcessJob for Square {
    /// #     const NAME: &'static str = "square";
    /// #     type Input = u64;
    /// #     type Output = u64;
    /// #     fn run(n: u64) -> u64 { n * n }
    /// # }
    /// # fn demo(lease: &ProcessLease<leasepool::DefaultRuntime>) -> Result<(), leasepool::Error> {
    /// let handle = lease.submit::<Square>(2)?;
    /// while !handle.is_finished() { std::thread::yield_now(); }
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<T> Future for ProcessHandle<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.handle).poll(cx).map(|r| r.and_then(|inner| inner))
    }
}
