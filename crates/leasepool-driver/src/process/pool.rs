//! A process pool: a thread pool (`ThreadPool`, unchanged) whose every
//! worker thread owns one worker process. The thread's initializer starts
//! the process (a failure breaks the pool, as any failing initializer
//! does); a job for a process lease is a closure that, on that thread,
//! sends one call to the thread's process and waits for the reply. So a
//! pool has one parent thread per worker process, never one per job, and
//! the async caller awaits the job's oneshot like any other.
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
use super::frame::Reply;
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
    /// Why the pool was shut down (from the core), set with `shut`.
    reason: OnceLock<Option<ShutdownReason>>,
    /// A clone of every live worker's connection, to wake its thread.
    conns: Mutex<Vec<UnixStream>>,
    /// The pool, to mark it broken when a worker crashes (set right after
    /// it is spawned, before any job can run).
    pool: OnceLock<Weak<ThreadPool>>,
    on_broken: OnBroken,
}

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
    fn shut_down(&self, reason: Option<ShutdownReason>) {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.reason.set(reason);
        self.shut.store(true, Ordering::Release);
        for conn in conns.iter() {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }

    /// What a job cut by the shutdown gets: the holder learns why.
    fn shut_error(&self) -> Error {
        match self.reason.get().copied().flatten() {
            Some(ShutdownReason::Expired) => Error::LeaseExpired,
            Some(ShutdownReason::Stopped) => Error::Stopped,
            _ => self.broken().unwrap_or(Error::Cancelled),
        }
    }

    fn broken(&self) -> Option<Error> {
        self.pool.get().and_then(Weak::upgrade).and_then(|pool| pool.broken())
    }

    /// Marks the pool broken with `why` and retires it (the core replaces
    /// it under the broken-pool rules).
    fn break_pool(&self, why: String) {
        tracing::warn!(pool = %self.id, error = %why, "worker process failed: pool broken");
        if let Some(pool) = self.pool.get().and_then(Weak::upgrade) {
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
        reason: OnceLock::new(),
        conns: Mutex::new(Vec::new()),
        pool: OnceLock::new(),
        on_broken: Arc::clone(&on_broken),
    });
    let init_ctx = Arc::clone(&ctx);
    let init: Initializer = Arc::new(move || {
        if let Some(init) = &user_init {
            init()?;
        }
        let worker = init_ctx.next_worker.fetch_add(1, Ordering::Relaxed);
        let process = WorkerProcess::start(&init_ctx, worker)?;
        SLOT.with(|slot| {
            *slot.borrow_mut() = Some(Slot { ctx: Arc::clone(&init_ctx), process: Some(process) })
        });
        Ok(())
    });
    let pool = ThreadPool::spawn(id, name_prefix, workers, Some(init), on_broken)?;
    let _ = ctx.pool.set(Arc::downgrade(&pool));
    let hook = Arc::clone(&ctx);
    pool.on_shutdown(Arc::new(move |reason| hook.shut_down(reason)));
    Ok(pool)
}

/// Runs job `J` with serialized `input` on this worker thread's process
/// (the body of every process job).
pub(crate) fn call<J: ProcessJob>(input: &[u8]) -> Result<J::Output, Error> {
    SLOT.with(|slot| match slot.borrow_mut().as_mut() {
        Some(slot) => slot.call::<J>(input),
        None => Err(Error::Broken(Arc::from("a process job ran on a thread without a worker process"))),
    })
}

/// What one call gave, owned, so that the process can be dealt with.
enum Got<T> {
    Output(T),
    Fail(Error),
    /// The worker broke the protocol: the pool is retired.
    Protocol(String),
    Gone,
}

impl Slot {
    fn call<J: ProcessJob>(&mut self, input: &[u8]) -> Result<J::Output, Error> {
        let Some(process) = self.process.as_mut() else {
            return Err(self.ctx.broken().unwrap_or_else(|| self.ctx.shut_error()));
        };
        let got = match process.call(J::NAME, input) {
            // Into the declared output type only, and all of it: bytes left
            // over mean the worker's job is not the one this side declared.
            Ok(Reply::Ok(bytes)) => match postcard::take_from_bytes::<J::Output>(bytes) {
                Ok((output, [])) => Got::Output(output),
                Ok((_, rest)) => Got::Protocol(format!(
                    "the output of `{}` did not decode: {} bytes left over",
                    J::NAME,
                    rest.len()
                )),
                Err(e) => Got::Protocol(format!("the output of `{}` did not decode: {e}", J::NAME)),
            },
            Ok(Reply::Panicked(msg)) => Got::Fail(Error::Panicked(msg.to_owned())),
            Ok(Reply::UnknownJob(name)) => Got::Fail(Error::UnknownJob(Arc::from(name))),
            Ok(Reply::BadInput(why) | Reply::BadOutput(why)) => Got::Fail(Error::Codec(Arc::from(why))),
            Ok(Reply::Hello { .. } | Reply::InitFailed(_)) => {
                Got::Protocol("a set-up frame as a reply".to_owned())
            }
            Err(CallError::Frame(e)) => Got::Protocol(e.to_string()),
            Err(CallError::Gone) => Got::Gone,
        };
        match got {
            Got::Output(output) => Ok(output),
            Got::Fail(err) => Err(err),
            Got::Protocol(why) => {
                let mut process = self.process.take().expect("checked above");
                let pid = process.pid();
                process.terminate();
                let why = format!("worker process {pid}: {why}");
                self.ctx.break_pool(why.clone());
                Err(Error::WorkerProtocol(why.into()))
            }
            Got::Gone => Err(self.lost()),
        }
    }

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
                self.ctx.break_pool(format!("worker process {pid} crashed: {}", crash_cause(signal, code)));
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

/// How a worker process ended, in words: `killed by signal 11 (SIGSEGV)`,
/// `exited with code 3`.
pub(crate) fn crash_cause(signal: Option<i32>, code: Option<i32>) -> String {
    match (signal, code) {
        (Some(signal), _) => match signal_name(signal) {
            Some(name) => format!("killed by signal {signal} ({name})"),
            None => format!("killed by signal {signal}"),
        },
        (None, Some(code)) => format!("exited with code {code}"),
        (None, None) => "ended".to_owned(),
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
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
