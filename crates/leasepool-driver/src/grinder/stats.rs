//! [`GrinderStats`], the snapshot [`WorkGrinder::stats`] takes.

use std::time::Duration;

use crate::runtime::Runtime;

use super::phase::Phase;
use super::{WorkGrinder, lock};

impl<R: Runtime> WorkGrinder<R> {
    /// A snapshot of the grinder, callable from any task or thread.
    ///
    /// ```
    /// # fn demo(g: leasepool::WorkGrinder) {
    /// let s = g.stats();
    /// println!("{} pending, oldest waited {:?}", s.pending, s.oldest_wait);
    /// # }
    /// ```
    pub fn stats(&self) -> GrinderStats {
        let now = self.g.manager.shared().runtime.now();
        let st = lock(&self.g.state);
        let policy = st.queue.policy();
        GrinderStats {
            started: st.phase != Phase::Stopped && !st.loop_task.is_lost(),
            stopping: st.phase == Phase::Draining,
            pending: st.queue.len(),
            batch_size_threshold: policy.batch_size_threshold_value(),
            max_wait: policy.max_wait_value(),
            lease_for: policy.lease_for_value(),
            oldest_wait: st.queue.oldest().map(|t| now.saturating_duration_since(t)),
            running_batches: st.queue.running(),
            max_concurrent_batches: policy.max_concurrent_value(),
            counters: st.tally.counters(),
        }
    }
}

/// A snapshot from [`WorkGrinder::stats`].
///
/// ```
/// # fn demo(g: leasepool::WorkGrinder) {
/// let s = g.stats();
/// assert!(s.running_batches <= s.max_concurrent_batches);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrinderStats {
    /// Whether the grinder is started.
    pub started: bool,
    /// Whether a stop is in progress.
    pub stopping: bool,
    /// Items queued, not yet in a batch.
    pub pending: usize,
    /// Pending items that start a batch.
    pub batch_size_threshold: usize,
    /// Longest an item waits before its batch starts.
    pub max_wait: Duration,
    /// Duration of each batch's lease.
    pub lease_for: Duration,
    /// How long the oldest pending item has waited.
    pub oldest_wait: Option<Duration>,
    /// Batches started and not finished.
    pub running_batches: usize,
    /// Batches allowed at once.
    pub max_concurrent_batches: usize,
    /// What happened to the items and batches since the grinder was built
    /// (see [`GrinderCounters`]).
    pub counters: GrinderCounters,
}

/// Counts since the grinder was built: monotonic while it lives, never
/// reset by `stop` or a new `start`. In [`GrinderStats::counters`]; with
/// the `metrics` feature the same counts are recorded as the
/// `leasepool_grinder_*_total` counters.
///
/// Every item accepted ends in exactly one of `items_completed`,
/// `items_failed` and `items_cancelled`, counted before its caller
/// receives its result (so a caller holding the result of its last item
/// finds every item counted): accepted minus the three is the items still
/// pending or running.
///
/// ```
/// # async fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
/// g.submit(|| 1 + 1).await?;
/// let c = g.stats().counters;
/// assert!(c.items_completed >= 1);
/// assert!(c.items_accepted >= c.items_completed + c.items_failed + c.items_cancelled);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GrinderCounters {
    /// Items queued (`enqueue` or `submit` that did not fail at once).
    pub items_accepted: u64,
    /// Items that ran and returned their value.
    pub items_completed: u64,
    /// Items that panicked, or failed before running with an error of their
    /// batch (its lease refused, revoked or cut, the runtime gone).
    pub items_failed: u64,
    /// Items cancelled before they ran ([`Error::Cancelled`](crate::Error::Cancelled):
    /// a stop with [`StopMode::CancelPending`](crate::StopMode::CancelPending)
    /// or at a shutdown's deadline), or withdrawn by their caller (the
    /// handle dropped before the batch started).
    pub items_cancelled: u64,
    /// Batches finished.
    pub batches_run: u64,
}
