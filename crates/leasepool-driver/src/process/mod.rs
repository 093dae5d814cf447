//! The process backend (Unix; feature `process`): pools of worker
//! processes whose leases run typed, serialized jobs, and whose revoked
//! leases really stop their jobs, by killing the processes.
//!
//! A thread cannot be killed, so on a thread pool a job past its lease
//! runs on until it returns. A process can: at hard expiry (and at a stop,
//! or a graceful shutdown past its deadline) each worker process of the
//! pool gets SIGTERM, then SIGKILL after [`ProcessConfig::kill_grace`], and
//! is reaped; the job's caller gets [`Error::LeaseExpired`] (or
//! [`Error::Stopped`]) and the pool is replaced as usual.
//!
//! The price is that jobs cross a process boundary: a job is a type
//! implementing [`ProcessJob`], registered by name in the worker program,
//! with a serde input and output (encoded with `postcard`). A closure
//! cannot be sent: [`ProcessLease`] has no method that takes one.
//!
//! * The worker program: by default the current executable, re-executed;
//!   its `main` calls [`init`] first (like `procspawn::init`). Or another
//!   program, named with [`ProcessConfig::worker_program`].
//! * The parent: [`Builder::build_process`](crate::Builder::build_process)
//!   gives a [`ProcessManager`], whose leases are [`ProcessLease`]s;
//!   [`ProcessGrinder`] batches tiny jobs onto them.
//! * A worker that crashes (a signal, `exit`) fails its job with
//!   [`Error::WorkerCrashed`] and retires its pool; a panicking job fails
//!   with [`Error::Panicked`] and its worker serves on; a job the worker
//!   does not know fails with [`Error::UnknownJob`]; a malformed reply
//!   fails with [`Error::WorkerProtocol`] and retires the pool.
//! * Worker logs (`tracing` events, stdout and stderr) are re-emitted in
//!   the parent: see [`ProcessLogging`].
//!
//! Only on Unix (Linux, and macOS on a best-effort basis): the module does
//! not exist on other targets.
//!
//! ```no_run
//! use leasepool::process::{self, Jobs, ProcessConfig, ProcessJob};
//!
//! struct Fib;
//! impl ProcessJob for Fib {
//!     const NAME: &'static str = "fib";
//!     type Input = u32;
//!     type Output = u64;
//!     fn run(n: u32) -> u64 {
//!         (0..n).fold((0u64, 1u64), |(a, b), _| (b, a.wrapping_add(b))).0
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     process::init(Jobs::new().register::<Fib>()); // a worker never gets past this line
//!     leasepool::block_on(async {
//!         let manager = leasepool::LeasedExecutorManager::builder()
//!             .max_pools(2)
//!             .workers_per_pool(2)
//!             .build_process(ProcessConfig::new())?;
//!         manager.start().await?;
//!         let lease = manager.acquire().await?;
//!         assert_eq!(lease.run::<Fib>(50).await?, 12_586_269_025);
//!         drop(lease);
//!         manager.stop().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! [`Error::LeaseExpired`]: crate::Error::LeaseExpired
//! [`Error::Stopped`]: crate::Error::Stopped
//! [`Error::WorkerCrashed`]: crate::Error::WorkerCrashed
//! [`Error::Panicked`]: crate::Error::Panicked
//! [`Error::UnknownJob`]: crate::Error::UnknownJob
//! [`Error::WorkerProtocol`]: crate::Error::WorkerProtocol

use serde::Serialize;
use serde::de::DeserializeOwned;

mod child;
mod config;
mod env;
pub mod frame;
mod grinder;
mod lease;
mod logs;
mod manager;
mod pool;
mod worker;

pub use config::{ProcessConfig, ProcessLogging};
pub use grinder::ProcessGrinder;
pub use lease::{ProcessHandle, ProcessLease};
pub use manager::{ProcessAcquire, ProcessAcquiring, ProcessManager};
pub use worker::{Jobs, init, is_worker};

pub(crate) use pool::{PoolCtx, signal_name, spawn_pool};

/// A job a worker process can run: a name both sides agree on, a
/// serializable input and output, and the function.
///
/// Register it in the worker program with [`Jobs::register`]; run it
/// from a lease with [`ProcessLease::run`] or [`ProcessLease::submit`].
/// The parent never runs `run`; it only encodes the input and decodes the
/// output, into `Output` and nothing else.
///
/// ```
/// use leasepool::process::ProcessJob;
///
/// struct WordCount;
/// impl ProcessJob for WordCount {
///     const NAME: &'static str = "word-count";
///     type Input = String;
///     type Output = usize;
///     fn run(text: String) -> usize {
///         text.split_whitespace().count()
///     }
/// }
/// assert_eq!(WordCount::run("a b c".into()), 3);
/// ```
pub trait ProcessJob: 'static {
    /// The name the worker knows the job by: unique among the jobs of a
    /// worker program.
    const NAME: &'static str;
    /// The job's argument, sent to the worker.
    type Input: Serialize + DeserializeOwned + Send + 'static;
    /// The job's result, sent back.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Runs the job (in the worker process).
    fn run(input: Self::Input) -> Self::Output;
}
