//! [`GrinderTally`]: what happened to a grinder's items and batches, counted
//! as it happens (relaxed atomic adds, from the worker that runs an item or
//! the task that ends a batch), and recorded through the `metrics` facade
//! with that feature.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::job::{JobEnd, Tally};
use crate::recorder::GrinderMeters;

use super::stats::GrinderCounters;

/// Counts since the grinder was built; never reset. Every item accepted
/// ends counted exactly once, as completed, failed or cancelled, before its
/// caller can see the result, so `items_accepted` minus the three is the
/// items still pending or running.
pub(super) struct GrinderTally {
    items_accepted: AtomicU64,
    items_completed: AtomicU64,
    items_failed: AtomicU64,
    items_cancelled: AtomicU64,
    batches_run: AtomicU64,
    meters: GrinderMeters,
}

impl GrinderTally {
    pub(super) fn new(meters: GrinderMeters) -> Self {
        GrinderTally {
            items_accepted: AtomicU64::new(0),
            items_completed: AtomicU64::new(0),
            items_failed: AtomicU64::new(0),
            items_cancelled: AtomicU64::new(0),
            batches_run: AtomicU64::new(0),
            meters,
        }
    }

    /// An item was queued.
    pub(super) fn accepted(&self) {
        self.items_accepted.fetch_add(1, Ordering::Relaxed);
        self.meters.accepted();
    }

    /// An item was withdrawn by its caller before its batch started.
    pub(super) fn withdrawn(&self) {
        self.count(JobEnd::NotRun { cancelled: true });
    }

    /// A batch ended (its items all counted).
    pub(super) fn batch_finished(&self) {
        self.batches_run.fetch_add(1, Ordering::Relaxed);
        self.meters.batch();
    }

    pub(super) fn counters(&self) -> GrinderCounters {
        GrinderCounters {
            items_accepted: self.items_accepted.load(Ordering::Relaxed),
            items_completed: self.items_completed.load(Ordering::Relaxed),
            items_failed: self.items_failed.load(Ordering::Relaxed),
            items_cancelled: self.items_cancelled.load(Ordering::Relaxed),
            batches_run: self.batches_run.load(Ordering::Relaxed),
        }
    }
}

impl Tally for GrinderTally {
    /// An item ended: returned (completed), panicked or failed before it
    /// ran with an error of its batch (failed), or cancelled.
    fn count(&self, end: JobEnd) {
        match end {
            JobEnd::Returned { .. } => {
                self.items_completed.fetch_add(1, Ordering::Relaxed);
                self.meters.completed();
            }
            JobEnd::Panicked { .. } | JobEnd::NotRun { cancelled: false } => {
                self.items_failed.fetch_add(1, Ordering::Relaxed);
                self.meters.failed();
            }
            JobEnd::NotRun { cancelled: true } => {
                self.items_cancelled.fetch_add(1, Ordering::Relaxed);
                self.meters.cancelled();
            }
        }
    }
}
