//! [leasepool] with no async runtime: bounded, leased executor pools for
//! blocking and CPU-heavy work, driven by plain std threads.
//!
//! This crate only implements [`leasepool_driver::Runtime`] on std threads
//! and fixes the runtime parameter; everything else lives in
//! `leasepool-driver`. A CLI or a synchronous service gets the manager,
//! blocking acquires, jobs and the grinder without tokio, smol or
//! async-std. Most users depend on `leasepool` with the `runtime-threads`
//! feature instead.
//!
//! * [`ThreadsRuntime::spawn`] runs each background task (the manager's
//!   checker, a grinder's loop, each grinder batch) on a thread of its own,
//!   polled with `futures-executor`'s `block_on`: leasepool spawns a
//!   handful of such tasks, each of which mostly sleeps.
//! * [`ThreadsRuntime::sleep_until`] is driven by one timer thread for the
//!   whole process (a heap of deadlines and their wakers), started by the
//!   first sleep.
//!
//! The runtime cannot go away: its threads are detached and live as long
//! as their tasks, so a started manager keeps its checker until it is
//! stopped or dropped. A `spawn` the OS refuses (no thread can be
//! created) drops the task, and `start` returns
//! [`Error::RuntimeGone`].
//!
//! ```
//! # fn main() -> Result<(), leasepool_threads::Error> {
//! use leasepool_threads::{LeasedExecutorManager, block_on};
//!
//! let manager = LeasedExecutorManager::builder().max_pools(2).build()?;
//! block_on(manager.start())?;
//! let lease = manager.acquire().blocking()?;
//! assert_eq!(lease.submit(|| 2 + 2)?.wait()?, 4);
//! drop(lease);
//! block_on(manager.stop());
//! # Ok(()) }
//! ```
//!
//! [leasepool]: https://docs.rs/leasepool

#![forbid(unsafe_code)]

mod timer;

use std::future::Future;
use std::time::Instant;

use leasepool_driver::BoxFuture;

/// Plain std threads as a leasepool [`Runtime`]: a thread per background
/// task, one shared timer thread for sleeps, `Instant::now` for time.
///
/// ```
/// let runtime = leasepool_threads::ThreadsRuntime::default();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadsRuntime;

impl leasepool_driver::Runtime for ThreadsRuntime {
    fn spawn(&self, future: BoxFuture<()>) {
        // An `Err` drops the closure, and the future with it: that is how
        // a runtime says it cannot spawn (the manager's `start` then
        // returns `RuntimeGone`), so the error itself has nothing to add.
        let _ = std::thread::Builder::new()
            .name("leasepool-task".into())
            .spawn(move || futures_executor::block_on(future));
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(timer::Sleep::until(deadline))
    }
}

leasepool_driver::runtime_api!(ThreadsRuntime, "threads", leasepool_threads);

/// Runs `future` to completion on the calling thread (`futures-executor`'s
/// `block_on`): the `main` of examples and small programs, and the way to
/// call `start`, `stop` and the other `async` methods from synchronous
/// code.
///
/// ```
/// assert_eq!(leasepool_threads::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}
