//! The worker side: what runs inside a worker process. [`init`] at the top
//! of `main` turns a process started by a process pool into a worker that
//! serves jobs until its pool closes the connection, and returns at once
//! in any other process.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use serde::Serialize;

use super::child::read_frame;
use super::frame::{self, Reply};
use super::{ProcessJob, env, logs};
use crate::job::catch;

/// A job of the registry: decodes the input, runs the job, encodes the
/// output into `out`, and says what to reply.
type Erased = fn(&[u8], &mut Vec<u8>) -> Outcome;

/// What running one call gave, before it is framed.
enum Outcome {
    /// `out` holds the serialized output.
    Ok,
    Panicked(String),
    BadInput(String),
    BadOutput(String),
}

/// A worker-side set-up hook.
type Setup = Arc<dyn Fn() -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send + Sync>;

/// The jobs a worker process can run, by [`ProcessJob::NAME`], and its
/// set-up. Hand it to [`init`].
///
/// ```
/// use leasepool::process::{Jobs, ProcessJob};
///
/// struct Square;
/// impl ProcessJob for Square {
///     const NAME: &'static str = "square";
///     type Input = u64;
///     type Output = u64;
///     fn run(n: u64) -> u64 { n * n }
/// }
///
/// let jobs = Jobs::new().register::<Square>();
/// ```
#[derive(Default)]
#[must_use]
pub struct Jobs {
    table: HashMap<&'static str, Erased>,
    /// A name registered twice: the worker fails its set-up with it.
    duplicate: Option<&'static str>,
    setup: Option<Setup>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.table.keys().collect();
        names.sort();
        f.debug_struct("Jobs").field("names", &names).finish_non_exhaustive()
    }
}

impl Jobs {
    /// No jobs.
    ///
    /// ```
    /// let jobs = leasepool::process::Jobs::new();
    /// ```
    pub fn new() -> Self {
        Jobs::default()
    }

    /// Registers `J` under `J::NAME`. Registering two jobs under one name
    /// makes every worker's set-up fail (its pool is broken, and the error
    /// names the job).
    ///
    /// ```
    /// # use leasepool::process::{Jobs, ProcessJob};
    /// # struct Square;
    /// # impl ProcessJob for Square {
    /// #     const NAME: &'static str = "square";
    /// #     type Input = u64;
    /// #     type Output = u64;
    /// #     fn run(n: u64) -> u64 { n * n }
    /// # }
    /// let jobs = Jobs::new().register::<Square>();
    /// ```
    pub fn register<J: ProcessJob>(mut self) -> Self {
        if self.table.insert(J::NAME, run_erased::<J>).is_some() || J::NAME.len() > usize::from(u16::MAX) {
            self.duplicate.get_or_insert(J::NAME);
        }
        self
    }

    /// Runs in each worker process once, before it serves jobs (open a
    /// model, warm a cache). An `Err` or a panic breaks the pool, as a
    /// failing [`Builder::initializer`](crate::Builder::initializer) does:
    /// its jobs fail with [`Error::Broken`](crate::Error::Broken) carrying
    /// the message, and the pool is retired and replaced.
    ///
    /// ```
    /// let jobs = leasepool::process::Jobs::new()
    ///     .setup(|| std::env::var("HOME").map(drop));
    /// ```
    pub fn setup<E>(mut self, f: impl Fn() -> Result<(), E> + Send + Sync + 'static) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.setup = Some(Arc::new(move || f().map_err(Into::into)));
        self
    }
}

fn run_erased<J: ProcessJob>(input: &[u8], out: &mut Vec<u8>) -> Outcome {
    let input: J::Input = match postcard::from_bytes(input) {
        Ok(input) => input,
        Err(e) => return Outcome::BadInput(format!("input of `{}`: {e}", J::NAME)),
    };
    match catch(move || J::run(input)) {
        Ok(output) => encode(&output, out, J::NAME),
        Err(crate::Error::Panicked(msg)) => Outcome::Panicked(msg),
        Err(e) => Outcome::Panicked(e.to_string()),
    }
}

fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>, name: &str) -> Outcome {
    match postcard::to_io(value, &mut *out) {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::BadOutput(format!("output of `{name}`: {e}")),
    }
}

/// Turns this process into a worker if a process pool started it, and
/// returns at once otherwise. Call it first thing in `main` of every
/// program that is (or re-executes itself as) a worker program, before
/// anything with side effects: in a worker it never returns (it exits when
/// its pool closes the connection).
///
/// In a worker it sets the memory limit, on Linux asks for SIGKILL when
/// the parent thread that started it ends, installs the log forwarder (if
/// the pool's [`ProcessLogging`](super::ProcessLogging) is enabled), runs
/// [`Jobs::setup`], connects to its pool and serves calls one at a time.
///
/// ```no_run
/// use leasepool::process::{self, Jobs, ProcessJob};
///
/// struct Square;
/// impl ProcessJob for Square {
///     const NAME: &'static str = "square";
///     type Input = u64;
///     type Output = u64;
///     fn run(n: u64) -> u64 { n * n }
/// }
///
/// fn main() {
///     process::init(Jobs::new().register::<Square>());
///     // ... the program itself: build a process manager, acquire leases ...
/// }
/// ```
pub fn init(jobs: Jobs) {
    let Some(params) = env::Params::from_env() else { return };
    let code = serve(jobs, &params);
    std::process::exit(code);
}

/// Whether this process was started as a worker by a process pool (and
/// [`init`] would serve instead of returning).
///
/// ```
/// assert!(!leasepool::process::is_worker());
/// ```
pub fn is_worker() -> bool {
    std::env::var_os(env::SOCKET).is_some()
}

/// The worker's life: set up, connect, serve. Returns the exit code.
fn serve(jobs: Jobs, params: &env::Params) -> i32 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // The worker thread that started this process owns it: when that
        // thread (or the whole parent) ends, so does the worker, even in
        // the middle of an endless job.
        let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(params.parent) {
            return 3;
        }
    }
    // Output lines go to the pipe the parent reads (stderr): stdout is not
    // the pool's channel, so a stray `println!` cannot corrupt it.
    if params.log_level.is_some() {
        let _ = rustix::stdio::dup2_stdout(std::io::stderr());
    }
    let Ok(mut stream) = UnixStream::connect(&params.socket) else { return 4 };
    let mut out = Vec::new();
    if let Err(why) = set_up(&jobs, params) {
        frame::encode_reply(&Reply::InitFailed(&why), &mut out);
        let _ = stream.write_all(&out);
        return 5;
    }
    let hello = Reply::Hello { token: params.token, pid: std::process::id() };
    frame::encode_reply(&hello, &mut out);
    if stream.write_all(&out).is_err() {
        return 6;
    }
    let Ok(read_half) = stream.try_clone() else { return 6 };
    // Calls sent in one batch arrive in one read. Each reply goes out as
    // soon as it is ready: holding it for the next call's would keep it
    // from its caller for as long as that call runs.
    let mut reader = std::io::BufReader::with_capacity(64 << 10, read_half);
    let (mut buf, mut payload) = (Vec::new(), Vec::new());
    out.clear();
    loop {
        match read_call(&mut reader, &mut buf, params.max_frame) {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(()) => return 7,
        }
        let Ok(call) = frame::decode_call(&buf) else {
            // The parent never sends a bad call: the channel is corrupt,
            // and this worker has nothing left to serve.
            return 8;
        };
        match jobs.table.get(call.name) {
            None => frame::encode_reply(&Reply::UnknownJob(call.name), &mut out),
            Some(run) => {
                payload.clear();
                let outcome = run(call.input, &mut payload);
                let reply = match &outcome {
                    Outcome::Ok => Reply::Ok(&payload),
                    Outcome::Panicked(msg) => Reply::Panicked(msg),
                    Outcome::BadInput(msg) => Reply::BadInput(msg),
                    Outcome::BadOutput(msg) => Reply::BadOutput(msg),
                };
                frame::encode_reply(&reply, &mut out);
            }
        }
        if stream.write_all(&out).is_err() {
            return 0;
        }
        out.clear();
    }
}

/// Applies the limits, the log forwarder and the user's set-up.
fn set_up(jobs: &Jobs, params: &env::Params) -> Result<(), String> {
    if let Some(name) = jobs.duplicate {
        return Err(format!("job name `{name}` is registered twice (or is over 65,535 bytes)"));
    }
    if let Some(bytes) = params.memory_limit {
        let limit = rustix::process::Rlimit { current: Some(bytes), maximum: None };
        let old = rustix::process::getrlimit(rustix::process::Resource::As);
        let limit = rustix::process::Rlimit { maximum: old.maximum, ..limit };
        rustix::process::setrlimit(rustix::process::Resource::As, limit)
            .map_err(|e| format!("could not set the memory limit of {bytes} bytes: {e}"))?;
    }
    if let Some(level) = params.log_level {
        logs::install_forwarder(level);
    }
    if let Some(setup) = &jobs.setup {
        match catch(|| setup()) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("worker setup failed: {e}")),
            Err(e) => return Err(format!("worker setup panicked: {e}")),
        }
    }
    Ok(())
}

/// Reads one call frame into `buf`: `Ok(false)` at a clean end of stream.
fn read_call(reader: &mut impl std::io::BufRead, buf: &mut Vec<u8>, max: usize) -> Result<bool, ()> {
    match reader.fill_buf() {
        Ok([]) => Ok(false),
        Ok(_) => read_frame(reader, buf, max).map(|()| true).map_err(drop),
        Err(_) => Err(()),
    }
}
