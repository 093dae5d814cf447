//! Graceful shutdown of the manager: [`LeasedExecutorManager::shutdown`]
//! and the [`ShutdownReport`] it returns.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::runtime::Runtime;
use crate::shared::Shared;
use crate::signal::sleep_or;

#[cfg(doc)]
use crate::{Error, LeasedExecutorManager};

/// What [`LeasedExecutorManager::shutdown`] did.
///
/// ```
/// # async fn demo(m: leasepool::LeasedExecutorManager) {
/// let report = m.shutdown(std::time::Duration::from_secs(5)).await;
/// if report.leases_cut > 0 {
///     eprintln!("{} leases still busy after {:?}: cut", report.leases_cut, report.elapsed);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether the manager was running when the shutdown began (false: it
    /// did nothing, and every other field is zero).
    pub was_running: bool,
    /// Queued acquires failed with [`Error::Stopped`] when the shutdown
    /// began (an acquire granted a pool it had not taken yet included).
    pub waiters_failed: usize,
    /// Leases live when the shutdown began.
    pub leases_at_start: usize,
    /// Leases that ended by themselves (released, expired, their pool
    /// broken) before the deadline.
    pub leases_released: usize,
    /// Leases still live at the deadline, cut as [`stop`] cuts them: their
    /// pools shut down, their queued jobs cancelled.
    ///
    /// [`stop`]: LeasedExecutorManager::stop
    pub leases_cut: usize,
    /// From the call to its return: at most the timeout, plus the time to
    /// stop.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// Whether every lease ended before the deadline (nothing was cut).
    ///
    /// ```
    /// assert!(leasepool::ShutdownReport::default().drained());
    /// ```
    pub fn drained(&self) -> bool {
        self.leases_cut == 0
    }
}

/// The body of [`LeasedExecutorManager::shutdown`].
pub(crate) async fn shutdown<R: Runtime>(shared: &Arc<Shared<R>>, timeout: Duration) -> ShutdownReport {
    let runtime = &shared.runtime;
    let began = runtime.now();
    // A timeout too large for an `Instant` waits for the leases alone.
    let deadline = began.checked_add(timeout);
    let closed = shared.with_at(began, |st, now| {
        let leases = st.core.leased_count();
        st.close(now).map(|failed| (failed, leases, st.run_epoch()))
    });
    let Some((waiters_failed, leases_at_start, run)) = closed else {
        return ShutdownReport {
            elapsed: runtime.now().saturating_duration_since(began),
            ..Default::default()
        };
    };
    tracing::info!(waiters_failed, leases = leases_at_start, ?timeout, "lease manager shutting down");
    /// A shutdown dropped before it returns stops the manager, as its
    /// deadline would: the core must not stay closing with nobody to halt it.
    struct HaltOnDrop<'a, R: Runtime>(&'a Arc<Shared<R>>, u64, bool);
    impl<R: Runtime> Drop for HaltOnDrop<'_, R> {
        fn drop(&mut self) {
            if self.2 {
                let run = self.1;
                self.0.with(|st, now| {
                    if st.run_epoch() == run {
                        st.halt(now);
                    }
                });
            }
        }
    }
    let mut guard = HaltOnDrop(shared, run, true);
    sleep_or(runtime, deadline, |cx| {
        let mut st = shared.lock();
        // Drained, or stopped (and maybe started again) by someone else.
        if st.core.is_drained() || st.run_epoch() != run {
            return Poll::Ready(());
        }
        if !st.shutdown_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            st.shutdown_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    })
    .await;
    guard.2 = false;
    let leases_cut = shared.with(|st, now| {
        if st.run_epoch() != run {
            return 0;
        }
        let cut = st.core.leased_count();
        st.halt(now);
        cut
    });
    let elapsed = runtime.now().saturating_duration_since(began);
    if leases_cut > 0 {
        tracing::warn!(leases_cut, ?elapsed, "lease manager shut down at its deadline; leases cut");
    } else {
        tracing::info!(?elapsed, "lease manager shut down; every lease ended");
    }
    ShutdownReport {
        was_running: true,
        waiters_failed,
        leases_at_start,
        leases_released: leases_at_start.saturating_sub(leases_cut),
        leases_cut,
        elapsed,
    }
}
