//! Helpers the workspace's own tests share (feature `testing`, off by
//! default and not part of the public API): a watchdog that turns a hang
//! into a failure, and a runtime with no executor of its own. One copy,
//! used by the driver's unit tests, the tokio adapter's paused-clock tests
//! and the facade's conformance and fault suites.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::runtime::{BoxFuture, Runtime};

/// Runs `body` on a thread named `name` and fails if it has not finished
/// within `limit` (a hang), re-raising its panic otherwise.
///
/// ```
/// leasepool_driver::testing::watchdog("quick", std::time::Duration::from_secs(5), || assert_eq!(1 + 1, 2));
/// ```
pub fn watchdog(name: &str, limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            body();
            let _ = tx.send(());
        })
        .expect("spawn the test thread");
    match rx.recv_timeout(limit) {
        Ok(()) => thread.join().expect("test thread"),
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the test thread ended without reporting"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{name} did not finish within {limit:?}: it hangs"),
    }
}

/// A runtime that runs each task on a thread of its own, blocking on it
/// (for tests with no async runtime).
///
/// ```
/// use leasepool_driver::{LeasedExecutorManager, testing::ThreadPerTask};
/// let m = LeasedExecutorManager::<ThreadPerTask>::builder().max_pools(1).build()?;
/// # Ok::<(), leasepool_driver::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ThreadPerTask;

impl Runtime for ThreadPerTask {
    fn spawn(&self, f: BoxFuture<()>) {
        std::thread::spawn(move || futures_executor::block_on(f));
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(async move { std::thread::sleep(deadline.saturating_duration_since(Instant::now())) })
    }
}
