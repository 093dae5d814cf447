//! The pure batching decision behind leasepool's `WorkGrinder`.
//!
//! Items wait in FIFO order; a batch starts when the pending count reaches
//! the threshold or the oldest item has waited `max_wait`, as long as fewer
//! than `max_concurrent` batches run, and it takes every pending item.
//! Like [`Core`](crate::Core), it reads no clock: `now` comes in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::config::{ConfigError, at_least_one, positive};

/// When a batch starts, and how long its lease lasts. Defaults: batch_size_threshold
/// 20, max wait 10 s, one batch at a time, 60 s leases (the Python
/// original's behaviour).
///
/// ```
/// use std::time::Duration;
/// use leasepool_core::BatchPolicy;
/// let policy = BatchPolicy::default().batch_size_threshold(64).max_wait(Duration::from_millis(5)).max_concurrent(4);
/// assert!(policy.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    batch_size_threshold: usize,
    max_wait: Duration,
    max_concurrent: usize,
    lease_for: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            batch_size_threshold: 20,
            max_wait: Duration::from_secs(10),
            max_concurrent: 1,
            lease_for: Duration::from_secs(60),
        }
    }
}

impl BatchPolicy {
    /// Pending items that start a batch at once (>= 1).
    ///
    /// ```
    /// let p = leasepool_core::BatchPolicy::default().batch_size_threshold(5);
    /// assert_eq!(p.batch_size_threshold_value(), 5);
    /// ```
    #[must_use]
    pub fn batch_size_threshold(mut self, n: usize) -> Self {
        self.batch_size_threshold = n;
        self
    }

    /// Longest an item waits before its batch starts anyway (> 0).
    ///
    /// ```
    /// let p = leasepool_core::BatchPolicy::default().max_wait(std::time::Duration::from_millis(20));
    /// ```
    #[must_use]
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// Batches allowed to run at once (>= 1).
    ///
    /// ```
    /// let p = leasepool_core::BatchPolicy::default().max_concurrent(2);
    /// ```
    #[must_use]
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n;
        self
    }

    /// Duration of each batch's lease (> 0). The queue does not use it; the
    /// driver leases with it.
    ///
    /// ```
    /// let p = leasepool_core::BatchPolicy::default().lease_for(std::time::Duration::from_secs(5));
    /// assert_eq!(p.lease_for_value().as_secs(), 5);
    /// ```
    #[must_use]
    pub fn lease_for(mut self, d: Duration) -> Self {
        self.lease_for = d;
        self
    }

    /// The batch size threshold.
    ///
    /// ```
    /// assert_eq!(leasepool_core::BatchPolicy::default().batch_size_threshold_value(), 20);
    /// ```
    pub fn batch_size_threshold_value(&self) -> usize {
        self.batch_size_threshold
    }

    /// The max wait.
    ///
    /// ```
    /// assert_eq!(leasepool_core::BatchPolicy::default().max_wait_value().as_secs(), 10);
    /// ```
    pub fn max_wait_value(&self) -> Duration {
        self.max_wait
    }

    /// The batch lease duration.
    ///
    /// ```
    /// assert_eq!(leasepool_core::BatchPolicy::default().lease_for_value().as_secs(), 60);
    /// ```
    pub fn lease_for_value(&self) -> Duration {
        self.lease_for
    }

    /// The concurrency limit.
    ///
    /// ```
    /// assert_eq!(leasepool_core::BatchPolicy::default().max_concurrent_value(), 1);
    /// ```
    pub fn max_concurrent_value(&self) -> usize {
        self.max_concurrent
    }

    /// Checks every value; the error names the field.
    ///
    /// ```
    /// let err = leasepool_core::BatchPolicy::default().batch_size_threshold(0).validate().unwrap_err();
    /// assert_eq!(err.field(), "batch_size_threshold");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("batch_size_threshold", self.batch_size_threshold as u64)?;
        at_least_one("max_concurrent_batches", self.max_concurrent as u64)?;
        positive("max_wait", self.max_wait)?;
        positive("lease_for", self.lease_for)
    }
}

/// Identifies a queued item, to withdraw it with [`BatchQueue::remove`].
///
/// ```
/// # use leasepool_core::{BatchPolicy, BatchQueue};
/// let mut q = BatchQueue::new(BatchPolicy::default());
/// let id = q.push(std::time::Instant::now(), "job");
/// assert_eq!(q.remove(id), Some("job"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemId {
    key: usize,
    seq: u64,
}

/// Pending items and running-batch count, with the batching decision.
///
/// ```
/// use std::time::{Duration, Instant};
/// use leasepool_core::{BatchPolicy, BatchQueue};
///
/// let t0 = Instant::now();
/// let mut q = BatchQueue::new(BatchPolicy::default().batch_size_threshold(3).max_wait(Duration::from_secs(1)));
/// q.push(t0, 'a');
/// q.push(t0, 'b');
/// assert_eq!(q.poll_batch(t0), None);                       // 2 < threshold, not old enough
/// assert_eq!(q.poll_timeout(), Some(t0 + Duration::from_secs(1)));
/// let batch = q.poll_batch(t0 + Duration::from_secs(1)).unwrap(); // max wait reached
/// assert_eq!(batch, vec!['a', 'b']);
/// assert_eq!(q.running(), 1);
/// q.batch_finished();
/// ```
#[derive(Debug)]
pub struct BatchQueue<T> {
    policy: BatchPolicy,
    items: Slab<(u64, Instant, T)>,
    /// Enqueue order; may hold ids of removed items, at most about as
    /// many as live ones (see [`BatchQueue::remove`]).
    order: VecDeque<ItemId>,
    seq: u64,
    running: usize,
}

impl<T> BatchQueue<T> {
    /// An empty queue with `policy` (validate it first).
    ///
    /// ```
    /// let q: leasepool_core::BatchQueue<u32> = leasepool_core::BatchQueue::new(Default::default());
    /// assert!(q.is_empty());
    /// ```
    pub fn new(policy: BatchPolicy) -> Self {
        BatchQueue { policy, items: Slab::new(), order: VecDeque::new(), seq: 0, running: 0 }
    }

    /// The policy.
    ///
    /// ```
    /// let q: leasepool_core::BatchQueue<u32> = leasepool_core::BatchQueue::new(Default::default());
    /// assert_eq!(q.policy().batch_size_threshold_value(), 20);
    /// ```
    pub fn policy(&self) -> &BatchPolicy {
        &self.policy
    }

    /// Queues `item`, enqueued at `now`.
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(Default::default());
    /// q.push(std::time::Instant::now(), 1);
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn push(&mut self, now: Instant, item: T) -> ItemId {
        self.seq += 1;
        let key = self.items.insert((self.seq, now, item));
        let id = ItemId { key, seq: self.seq };
        self.order.push_back(id);
        id
    }

    /// Withdraws a pending item (its caller went away). `None` if it already
    /// left in a batch.
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(Default::default());
    /// let id = q.push(std::time::Instant::now(), 1);
    /// assert_eq!(q.remove(id), Some(1));
    /// assert_eq!(q.remove(id), None);
    /// ```
    pub fn remove(&mut self, id: ItemId) -> Option<T> {
        if !is_live(&self.items, id) {
            return None;
        }
        let (_, _, item) = self.items.remove(id.key);
        // Keep the front live so that `oldest` stays O(1).
        while self.order.front().is_some_and(|f| !is_live(&self.items, *f)) {
            self.order.pop_front();
        }
        // Behind a live front, withdrawn ids would pile up until the next
        // batch (callers that come and go while one item waits): sweep
        // them once they outnumber the live ones, O(1) amortised.
        if self.order.len() > 2 * self.items.len() + 16 {
            let items = &self.items;
            self.order.retain(|id| is_live(items, *id));
        }
        Some(item)
    }

    /// Pending items.
    ///
    /// ```
    /// # let q: leasepool_core::BatchQueue<u8> = leasepool_core::BatchQueue::new(Default::default());
    /// assert_eq!(q.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is pending.
    ///
    /// ```
    /// # let q: leasepool_core::BatchQueue<u8> = leasepool_core::BatchQueue::new(Default::default());
    /// assert!(q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// When the oldest pending item was queued.
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(Default::default());
    /// let t = std::time::Instant::now();
    /// q.push(t, ());
    /// assert_eq!(q.oldest(), Some(t));
    /// ```
    pub fn oldest(&self) -> Option<Instant> {
        self.order.front().map(|f| self.items[f.key].1)
    }

    /// Batches started and not yet finished.
    ///
    /// ```
    /// # let q: leasepool_core::BatchQueue<u8> = leasepool_core::BatchQueue::new(Default::default());
    /// assert_eq!(q.running(), 0);
    /// ```
    pub fn running(&self) -> usize {
        self.running
    }

    /// Whether a batch should start at `now`: something is pending, a batch
    /// slot is free, and the threshold is reached or the oldest item has
    /// waited `max_wait`.
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(leasepool_core::BatchPolicy::default().batch_size_threshold(1));
    /// let now = std::time::Instant::now();
    /// q.push(now, ());
    /// assert!(q.is_due(now));
    /// ```
    pub fn is_due(&self, now: Instant) -> bool {
        let old_enough =
            self.oldest().is_some_and(|t| now.saturating_duration_since(t) >= self.policy.max_wait);
        self.running < self.policy.max_concurrent
            && !self.is_empty()
            && (self.len() >= self.policy.batch_size_threshold || old_enough)
    }

    /// Starts a batch if one [is due](Self::is_due): takes every pending
    /// item, oldest first, and counts the batch as running.
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(leasepool_core::BatchPolicy::default().batch_size_threshold(2));
    /// # let now = std::time::Instant::now();
    /// q.push(now, 1);
    /// q.push(now, 2);
    /// assert_eq!(q.poll_batch(now), Some(vec![1, 2]));
    /// ```
    pub fn poll_batch(&mut self, now: Instant) -> Option<Vec<T>> {
        self.is_due(now).then(|| self.take_batch())
    }

    /// Starts a batch with every pending item regardless of threshold and
    /// wait, if a batch slot is free (used when draining on stop).
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(Default::default());
    /// q.push(std::time::Instant::now(), 1);
    /// assert_eq!(q.flush_batch(), Some(vec![1]));
    /// ```
    pub fn flush_batch(&mut self) -> Option<Vec<T>> {
        (self.running < self.policy.max_concurrent && !self.is_empty()).then(|| self.take_batch())
    }

    /// Removes every pending item without starting a batch (cancellation).
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(Default::default());
    /// q.push(std::time::Instant::now(), 1);
    /// assert_eq!(q.take_all(), vec![1]);
    /// assert_eq!(q.running(), 0);
    /// ```
    pub fn take_all(&mut self) -> Vec<T> {
        let mut batch = Vec::with_capacity(self.items.len());
        for id in self.order.drain(..) {
            // Ids of withdrawn items may linger in `order`: skip them.
            if is_live(&self.items, id) {
                batch.push(self.items.remove(id.key).2);
            }
        }
        batch
    }

    /// Records that a running batch ended.
    ///
    /// ```
    /// # let mut q = leasepool_core::BatchQueue::new(leasepool_core::BatchPolicy::default().batch_size_threshold(1));
    /// # q.push(std::time::Instant::now(), 1);
    /// # q.poll_batch(std::time::Instant::now());
    /// q.batch_finished();
    /// assert_eq!(q.running(), 0);
    /// ```
    pub fn batch_finished(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// When the next batch becomes due by age: the oldest item's enqueue
    /// time + `max_wait`. `None` when nothing is pending or every batch slot
    /// is taken (then a finishing batch is the next event).
    ///
    /// ```
    /// # let q: leasepool_core::BatchQueue<u8> = leasepool_core::BatchQueue::new(Default::default());
    /// assert_eq!(q.poll_timeout(), None);
    /// ```
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.running >= self.policy.max_concurrent {
            return None;
        }
        self.oldest().map(|t| t + self.policy.max_wait)
    }

    fn take_batch(&mut self) -> Vec<T> {
        self.running += 1;
        self.take_all()
    }
}

/// Whether `id` is still pending (its slot may hold a newer item).
fn is_live<T>(items: &Slab<(u64, Instant, T)>, id: ItemId) -> bool {
    items.get(id.key).is_some_and(|e| e.0 == id.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BatchPolicy {
        BatchPolicy::default().batch_size_threshold(3).max_wait(Duration::from_secs(10)).max_concurrent(1)
    }

    #[test]
    fn threshold_starts_a_batch_with_everything_pending() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(t0, 1);
        q.push(t0, 2);
        assert_eq!(q.poll_batch(t0), None);
        q.push(t0, 3);
        assert_eq!(q.poll_batch(t0), Some(vec![1, 2, 3]));
        assert!(q.is_empty());
    }

    #[test]
    fn a_batch_takes_every_pending_item_beyond_the_threshold() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy().batch_size_threshold(2));
        let withdrawn = q.push(t0, 0);
        for i in 1..=5 {
            q.push(t0, i);
        }
        assert_eq!(q.remove(withdrawn), Some(0));
        assert_eq!(q.poll_batch(t0), Some(vec![1, 2, 3, 4, 5]), "all five, oldest first, not two");
        assert!(q.is_empty());
        assert_eq!(q.oldest(), None);
    }

    #[test]
    fn max_wait_starts_a_batch_on_a_virtual_clock() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(t0, 'a');
        q.push(t0 + Duration::from_secs(4), 'b');
        assert_eq!(q.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(q.poll_batch(t0 + Duration::from_secs(9)), None);
        assert_eq!(q.poll_batch(t0 + Duration::from_secs(10)), Some(vec!['a', 'b']));
    }

    #[test]
    fn removed_items_leave_at_once_and_oldest_moves_on() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        let a = q.push(t0, 'a');
        let b = q.push(t0 + Duration::from_secs(1), 'b');
        q.push(t0 + Duration::from_secs(2), 'c');
        assert_eq!(q.remove(b), Some('b'));
        assert_eq!(q.len(), 2);
        assert_eq!(q.oldest(), Some(t0));
        assert_eq!(q.remove(a), Some('a'));
        assert_eq!(q.oldest(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(q.take_all(), vec!['c']);
        assert_eq!(q.remove(a), None);
    }

    #[test]
    fn callers_that_come_and_go_behind_a_waiting_item_do_not_pile_up() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(t0, 0);
        for i in 1..10_000 {
            let id = q.push(t0, i);
            assert_eq!(q.remove(id), Some(i));
            assert!(q.order.len() <= 2 * q.len() + 17, "{} ids kept for {} items", q.order.len(), q.len());
        }
        let kept = q.push(t0, 10_000);
        assert_eq!(q.take_all(), vec![0, 10_000]);
        assert_eq!(q.remove(kept), None);
    }

    #[test]
    fn a_batch_keeps_enqueue_order_when_slots_are_reused() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        let a = q.push(t0, 'a');
        q.push(t0, 'b');
        q.push(t0, 'c');
        assert_eq!(q.remove(a), Some('a'));
        q.push(t0, 'd'); // takes the slot `a` left
        assert_eq!(q.take_all(), vec!['b', 'c', 'd']);
    }

    #[test]
    fn concurrency_limit_holds_batches_back() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy().max_concurrent(2));
        for i in 0..3 {
            q.push(t0, i);
        }
        assert!(q.poll_batch(t0).is_some());
        for i in 0..3 {
            q.push(t0, i);
        }
        assert!(q.poll_batch(t0).is_some());
        for i in 0..3 {
            q.push(t0, i);
        }
        assert_eq!(q.running(), 2);
        assert_eq!(q.poll_batch(t0), None, "both slots taken");
        assert_eq!(q.poll_timeout(), None);
        assert_eq!(q.flush_batch(), None);
        q.batch_finished();
        assert_eq!(q.poll_batch(t0).map(|b| b.len()), Some(3));
    }

    #[test]
    fn policy_validation_names_the_field() {
        assert_eq!(policy().batch_size_threshold(0).validate().unwrap_err().field(), "batch_size_threshold");
        assert_eq!(policy().max_concurrent(0).validate().unwrap_err().field(), "max_concurrent_batches");
        assert_eq!(policy().max_wait(Duration::ZERO).validate().unwrap_err().field(), "max_wait");
        assert_eq!(policy().lease_for(Duration::ZERO).validate().unwrap_err().field(), "lease_for");
        let too_long = Duration::from_secs(u64::MAX);
        assert_eq!(policy().max_wait(too_long).validate().unwrap_err().field(), "max_wait");
        assert_eq!(policy().lease_for(too_long).validate().unwrap_err().field(), "lease_for");
        assert!(policy().validate().is_ok());
    }
}
