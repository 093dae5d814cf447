//! [`GrinderStats`], the snapshot [`WorkGrinder::stats`] takes.

use std::sync::atomic::Ordering;
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
            batches_run: st.batch_seq - st.queue.running() as u64,
            // Finished batches, plus the items of running batches whose
            // result is already out (counted before it was delivered).
            items_completed: st.items_completed
                + st.in_flight.iter().map(|(_, batch)| batch.completed.load(Ordering::Acquire)).sum::<u64>(),
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
    /// Batches finished since the grinder was built.
    pub batches_run: u64,
    /// Items of batches (finished or running) whose result or error has
    /// been delivered: run, failed or cancelled. An item is counted before
    /// its caller receives its result, so a caller holding the result of
    /// its last item sees every item counted. Items withdrawn or failed
    /// before joining a batch are not counted.
    pub items_completed: u64,
}
