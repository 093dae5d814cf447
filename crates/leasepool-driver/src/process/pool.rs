//! A process pool: a thread pool (`ThreadPool`, unchanged) whose every
//! worker thread owns one worker process. The thread's initializer starts
//! the process (a failure breaks the pool, as any failing initializer
//! does). A process lease's calls wait in the pool's outbox; drain jobs on
//! those threads send them to the thread's process in batches and complete
//! each from its reply (a grinder item, a closure on such a thread, sends
//! its call as a batch of one: [`call`]). So a pool has one parent thread
//! per worker process, never one per job, and the async caller awaits its
//! call's oneshot like any job's.
//!
//! Shutting the pool down (revocation, stop, a shutdown's deadline, a
//! broken pool, a shrink) runs `PoolCtx::shut_down`, which shuts every
//! worker's connection down: a worker thread blocked on a reply wakes at
//! once, and kills and reaps its process itself.

use std::cell::RefCell;
use std::os::unix::net::UnixStream;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use leasepool_core::{PoolId, ShutdownReason};

use super::ProcessJob;
use super::child::{CallError, WorkerProcess};
use super::config::ProcessConfig;
use super::frame::{Call, Reply};
use crate::backend::{Initializer, OnBroken, ThreadPool};
use crate::error::Error;

/// What the worker threads of one process pool share.
pub(crate) struct PoolCtx {
    pub(crate) id: PoolId,
    pub(crate) config: Arc<ProcessConfig>,
    pub(crate) name_prefix: Arc<str>,
    /// The next worker index (for thread and log names).
    next_worker: AtomicUsize,
    /// Set once, by the first `shut_down`, under `conns`' lock: a worker
    /// that registers later finds it and shuts its connection at once.
    shut: AtomicBool,
    /// A clone of every live worker's connection, to wake its thread.
    conns: Mutex<Vec<UnixStream>>,
    /// The pool, to mark it broken when a worker crashes (set right after
    /// it is spawned, before any job can run).
    pool: OnceLock<Weak<ThreadPool>>,
    on_broken: OnBroken,
    /// Lease calls waiting for a worker thread, and how many drain jobs
    /// are queued or running to send them. Invariant (under this lock): a
    /// call is only ever waiting while at least one drain is counted, and
    /// a drain stops counting only when it finds no call waiting.
    outbox: Mutex<Outbox>,
    workers: usize,
    /// How long a call of this pool took lately, in nanoseconds (a moving
    /// average over batches): batching pays only while calls are short.
    call_nanos: std::sync::atomic::AtomicU64,
}

/// See `PoolCtx::outbox`.
#[derive(Default)]
struct Outbox {
    calls: std::collections::VecDeque<Pending>,
    drains: usize,
}

/// How a pipelined call ends: with the worker's reply or an error. Returns
/// why the reply broke the protocol, if it did (the drain then retires the
/// pool).
pub(crate) type Complete = Box<dyn for<'a> FnOnce(Result<Reply<'a>, Error>) -> Option<String> + Send>;

/// A call on its way to a worker: a lease call waiting in the outbox, or a
/// grinder item's, completed by a closure on its own stack (see [`call`]).
pub(crate) struct Pending<C = Complete> {
    pub(crate) name: &'static str,
    pub(crate) input: Vec<u8>,
    pub(crate) complete: C,
}

/// Calls one drain sends in one write at most.
const BATCH: usize = 64;
/// Input bytes of a batch at most, beyond its first call: a batch's frames
/// are copied into one buffer, which must not grow with the number of large
/// calls waiting (and large calls gain nothing from sharing a write).
const BATCH_BYTES: usize = 1 << 20;
/// Calls that took longer than this lately are sent one at a time: a
/// batch runs its calls one after another on one worker process, which
/// only pays while the round trip, not the work, is what costs.
const LONG_CALL_NANOS: u64 = 200_000;

impl PoolCtx {
    pub(crate) fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// Adds a worker's connection (shut at once if the pool already is).
    pub(crate) fn register(&self, conn: UnixStream) {
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_shut() {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        conns.push(conn);
    }

    /// The pool is shut down: wake every worker thread waiting on a reply
    /// (each then kills and reaps its process). Never blocks on a process.
    pub(crate) fn shut_down(&self) {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        self.shut.store(true, Ordering::Release);
        for conn in conns.iter() {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }

    /// What a job cut by the shutdown gets: the holder learns why (the
    /// reason the core gave the pool).
    fn shut_error(&self) -> Error {
        match self.pool().and_then(|pool| pool.shut_reason()) {
            Some(ShutdownReason::Expired) => Error::LeaseExpired,
            Some(ShutdownReason::Stopped) => Error::Stopped,
            _ => self.broken().unwrap_or(Error::Cancelled),
        }
    }

    fn broken(&self) -> Option<Error> {
        self.pool().and_then(|pool| pool.broken())
    }

    /// The pool (alive while any of its worker threads runs).
    fn pool(&self) -> Option<Arc<ThreadPool>> {
        self.pool.get().and_then(Weak::upgrade)
    }

    /// Marks the pool broken with `why` and retires it (the core replaces
    /// it under the broken-pool rules).
    fn break_pool(&self, why: String) {
        tracing::warn!(pool = %self.id, error = %why, "worker process failed: pool broken");
        if let Some(pool) = self.pool() {
            pool.break_with(why.into());
        }
        (self.on_broken)(self.id);
    }
}

/// The worker thread's process, with its pool.
struct Slot {
    ctx: Arc<PoolCtx>,
    /// `None` once the process is gone (crashed, or killed at shutdown).
    process: Option<WorkerProcess>,
}

thread_local! {
    /// Set by the initializer of a process pool's worker thread; dropped
    /// (ending the process) when the thread exits.
    static SLOT: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Starts a process pool: `workers` threads, each starting its process.
pub(crate) fn spawn_pool(
    id: PoolId,
    name_prefix: &Arc<str>,
    workers: usize,
    user_init: Option<Initializer>,
    config: &Arc<ProcessConfig>,
    on_broken: OnBroken,
) -> std::io::Result<Arc<ThreadPool>> {
    let ctx = Arc::new(PoolCtx {
        id,
        config: Arc::clone(config),
        name_prefix: Arc::clone(name_prefix),
        next_worker: AtomicUsize::new(0),
        shut: AtomicBool::new(false),
        conns: Mutex::new(Vec::new()),
        pool: OnceLock::new(),
        on_broken: Arc::clone(&on_broken),
        outbox: Mutex::new(Outbox::default()),
        workers,
        call_nanos: std::sync::atomic::AtomicU64::new(0),
    });
    let init_ctx = Arc::clone(&ctx);
    let init: Initializer = Arc::new(move || {
        if let Some(init) = &user_init {
            init()?;
        }
        let worker = init_ctx.next_worker.fetch_add(1, Ordering::Relaxed);
        let process = match WorkerProcess::start(&init_ctx, worker) {
            Ok(process) => Some(process),
            // The pool was shut down (a stop, a revocation) while the
            // worker started, and the worker is already ended: nothing
            // broke, and the thread only has its stop left to take.
            Err(_) if init_ctx.is_shut() => None,
            Err(why) => return Err(why.into()),
        };
        SLOT.with(|slot| *slot.borrow_mut() = Some(Slot { ctx: Arc::clone(&init_ctx), process }));
        Ok(())
    });
    let pool = ThreadPool::spawn(id, name_prefix, workers, Some(init), on_broken)?;
    let _ = ctx.pool.set(Arc::downgrade(&pool));
    pool.set_process(ctx);
    Ok(pool)
}

impl PoolCtx {
    /// Queues a lease call; returns whether the caller must queue a drain
    /// job (see [`drain`]) on the pool, which it then counts.
    pub(crate) fn push(&self, call: Pending) -> bool {
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        outbox.calls.push_back(call);
        let more = outbox.drains < self.workers;
        if more {
            outbox.drains += 1;
        }
        more
    }

    /// Takes waiting calls (this worker's share, up to `BATCH`, or one if
    /// calls are long), or stops counting the calling drain when there are
    /// none.
    fn take(&self, batch: &mut Vec<Pending>) {
        let long = self.call_nanos.load(Ordering::Relaxed) > LONG_CALL_NANOS;
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        let waiting = outbox.calls.len();
        let n = if long { waiting.min(1) } else { waiting.div_ceil(self.workers).min(BATCH) };
        let n = within_budget(outbox.calls.iter().take(n).map(|call| call.input.len()), BATCH_BYTES);
        batch.extend(outbox.calls.drain(..n));
        if n == 0 {
            outbox.drains -= 1;
        }
    }
}

/// How many of the leading calls of `sizes` (input bytes) fit in `budget`:
/// at least one, if there is one.
fn within_budget(sizes: impl Iterator<Item = usize>, budget: usize) -> usize {
    let mut total = 0usize;
    let mut n = 0;
    for size in sizes {
        total = total.saturating_add(size);
        if n > 0 && total > budget {
            break;
        }
        n += 1;
    }
    n
}

/// A drain job's body, on a worker thread: sends the waiting calls to this
/// thread's process in batches (one write per batch) and completes each
/// with its reply, until none is waiting. Cancelled (its pool shut down
/// before it ran), it fails every waiting call with `cancelled`.
pub(crate) fn drain(ctx: &Arc<PoolCtx>, cancelled: Option<Error>) {
    let mut batch = Vec::with_capacity(BATCH);
    if let Some(err) = cancelled {
        loop {
            ctx.take(&mut batch);
            if batch.is_empty() {
                return;
            }
            for call in batch.drain(..) {
                let _ = crate::job::catch(|| (call.complete)(Err(err.clone())));
            }
        }
    }
    loop {
        ctx.take(&mut batch);
        if batch.is_empty() {
            return;
        }
        let (started, calls) = (std::time::Instant::now(), batch.len() as u64);
        SLOT.with(|slot| match slot.borrow_mut().as_mut() {
            Some(slot) => {
                slot.run_batch(&mut batch);
                let per_call =
                    u64::try_from(started.elapsed().as_nanos() / u128::from(calls)).unwrap_or(u64::MAX);
                let before = ctx.call_nanos.load(Ordering::Relaxed);
                ctx.call_nanos.store(before - before / 4 + per_call / 4, Ordering::Relaxed);
            }
            None => fail_all(&mut batch.drain(..), &no_process()),
        });
    }
}

/// Runs job `J` with serialized `input` on this worker thread's process,
/// as a batch of one: the body of a grinder item, which the grinder runs
/// as a closure on a worker thread of its lease's pool (where it cannot
/// wait in the outbox for a drain job: that thread is the one busy).
pub(crate) fn call<J: ProcessJob>(input: Vec<u8>) -> Result<J::Output, Error> {
    let mut result = None;
    let complete = |reply: Result<Reply<'_>, Error>| {
        let (output, protocol) = answer::<J>(reply);
        result = Some(output);
        protocol
    };
    let mut batch = vec![Pending { name: J::NAME, input, complete }];
    SLOT.with(|slot| match slot.borrow_mut().as_mut() {
        Some(slot) => slot.run_batch(&mut batch),
        None => fail_all(&mut batch.drain(..), &no_process()),
    });
    drop(batch); // ends `complete`'s borrow of `result`
    // `run_batch` and `fail_all` complete every call; should one ever be
    // left out, its caller still gets an error rather than a panic.
    result.unwrap_or_else(|| Err(Error::Broken(Arc::from("a process call ended without a reply"))))
}

impl Slot {
    /// Sends `batch` in one write and completes each call with its reply,
    /// in order. A lost worker or a bad reply fails the rest of the batch
    /// with the same error.
    fn run_batch<C>(&mut self, batch: &mut Vec<Pending<C>>)
    where
        C: for<'a> FnOnce(Result<Reply<'a>, Error>) -> Option<String>,
    {
        let mut calls = batch.drain(..);
        let Some(process) = self.process.as_mut() else {
            let err = self.ctx.broken().unwrap_or_else(|| self.ctx.shut_error());
            return fail_all(&mut calls, &err);
        };
        process.send(calls.as_slice().iter().map(|c| Call { name: c.name, input: &c.input }));
        while let Some(call) = calls.next() {
            let process = self.process.as_mut().expect("present while the batch runs");
            let err = match process.receive() {
                Ok(reply) => match crate::job::catch(|| (call.complete)(Ok(reply))) {
                    Ok(Some(why)) => self.protocol(why),
                    _ => continue,
                },
                Err(CallError::Frame(e)) => {
                    let err = self.protocol(e.to_string());
                    let _ = crate::job::catch(|| (call.complete)(Err(err.clone())));
                    err
                }
                Err(CallError::Gone) => {
                    let err = self.lost();
                    let _ = crate::job::catch(|| (call.complete)(Err(err.clone())));
                    err
                }
            };
            return fail_all(&mut calls, &err);
        }
        if let Some(process) = self.process.as_mut() {
            process.trim();
        }
    }

    /// The worker broke the protocol: kill it, retire the pool.
    fn protocol(&mut self, why: String) -> Error {
        let mut process = self.process.take().expect("called with a process");
        let pid = process.pid();
        process.terminate();
        let why = format!("worker process {pid}: {why}");
        self.ctx.break_pool(why.clone());
        Error::WorkerProtocol(why.into())
    }
}

/// What a call gets on a thread that has no worker process (not reached:
/// every thread of a process pool starts one, or ends at once).
fn no_process() -> Error {
    Error::Broken(Arc::from("a process job ran on a thread without a worker process"))
}

fn fail_all<C>(calls: &mut impl Iterator<Item = Pending<C>>, err: &Error)
where
    C: for<'a> FnOnce(Result<Reply<'a>, Error>) -> Option<String>,
{
    for call in calls {
        let _ = crate::job::catch(|| (call.complete)(Err(err.clone())));
    }
}

/// What a reply means for a call of `J`: its result, and why the reply
/// broke the protocol if it did. Decodes into `J::Output` only, and all of
/// the bytes: bytes left over mean the worker's job is not the one this
/// side declared. The output's `Deserialize` is user code: its panic fails
/// this call only (`Panicked`), as a panic in the job would.
pub(crate) fn answer<J: ProcessJob>(
    reply: Result<Reply<'_>, Error>,
) -> (Result<J::Output, Error>, Option<String>) {
    crate::job::catch(|| decode::<J>(reply)).unwrap_or_else(|e| (Err(e), None))
}

fn decode<J: ProcessJob>(answer: Result<Reply<'_>, Error>) -> (Result<J::Output, Error>, Option<String>) {
    let protocol = |why: String| (Err(Error::WorkerProtocol(Arc::from(why.as_str()))), Some(why));
    match answer {
        Ok(Reply::Ok(bytes)) => match postcard::take_from_bytes::<J::Output>(bytes) {
            Ok((output, [])) => (Ok(output), None),
            Ok((_, rest)) => protocol(format!(
                "the output of `{}` did not decode: {} bytes left over",
                J::NAME,
                rest.len()
            )),
            Err(e) => protocol(format!("the output of `{}` did not decode: {e}", J::NAME)),
        },
        Ok(Reply::Panicked(msg)) => (Err(Error::Panicked(msg.to_owned())), None),
        Ok(Reply::UnknownJob(name)) => (Err(Error::UnknownJob(Arc::from(name))), None),
        Ok(Reply::BadInput(why) | Reply::BadOutput(why)) => (Err(Error::Codec(Arc::from(why))), None),
        Ok(Reply::Hello { .. } | Reply::InitFailed(_)) => protocol("a set-up frame as a reply".to_owned()),
        Err(err) => (Err(err), None),
    }
}

impl Slot {
    /// The connection ended during a call: either the pool shut it down
    /// (revocation, stop: the process is killed) or the process ended by
    /// itself (a crash: the pool is retired).
    fn lost(&mut self) -> Error {
        let mut process = self.process.take().expect("called with a process");
        let pid = process.pid();
        if self.ctx.is_shut() {
            process.terminate();
            return self.ctx.shut_error();
        }
        match process.exited() {
            Ok(status) => {
                let (signal, code) = signal_and_code(status);
                let err = Error::WorkerCrashed { signal, code };
                self.ctx.break_pool(format!(
                    "worker process {pid} crashed: {}",
                    crate::error::crash_cause(signal, code)
                ));
                err
            }
            Err(_) => {
                let why = format!("worker process {pid} closed its connection but kept running (killed)");
                self.ctx.break_pool(why.clone());
                Error::WorkerProtocol(why.into())
            }
        }
    }
}

fn signal_and_code(status: ExitStatus) -> (Option<i32>, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    (status.signal(), status.code())
}

/// The name of `signal` (`SIGSEGV`), for the common ones.
pub(crate) fn signal_name(signal: i32) -> Option<&'static str> {
    use rustix::process::Signal;
    let signal = Signal::from_named_raw(signal)?;
    Some(match signal {
        Signal::SEGV => "SIGSEGV",
        Signal::ABORT => "SIGABRT",
        Signal::KILL => "SIGKILL",
        Signal::TERM => "SIGTERM",
        Signal::BUS => "SIGBUS",
        Signal::ILL => "SIGILL",
        Signal::FPE => "SIGFPE",
        Signal::INT => "SIGINT",
        Signal::HUP => "SIGHUP",
        Signal::PIPE => "SIGPIPE",
        Signal::XCPU => "SIGXCPU",
        Signal::XFSZ => "SIGXFSZ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::within_budget;

    #[test]
    fn a_batch_stays_within_its_byte_budget_but_takes_at_least_one_call() {
        assert_eq!(within_budget([].into_iter(), 10), 0);
        assert_eq!(within_budget([3, 3, 3, 3].into_iter(), 10), 3);
        assert_eq!(within_budget([3, 3, 4].into_iter(), 10), 3);
        assert_eq!(within_budget([50, 1].into_iter(), 10), 1, "a large call goes alone");
        assert_eq!(within_budget([1, 50].into_iter(), 10), 1, "and waits for the next batch");
        assert_eq!(within_budget([usize::MAX, usize::MAX].into_iter(), 10), 1);
    }
}
