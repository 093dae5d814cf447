//! The background task an owner keeps running (the manager's checker, a
//! grinder's loop): which spawn is current, and whether it is gone.
//!
//! Every spawn starts a new epoch, and a stop moves the epoch on too. The
//! task compares its epoch with the current one under its owner's lock at
//! each turn and exits once superseded. A task can also disappear without
//! exiting: dropped with the runtime it was spawned on (even unpolled), or
//! by a runtime that could not spawn it. The [`TaskGuard`] it owns records
//! every drop in a marker kept outside the owner's lock, so the next start
//! can tell that the current epoch has no task left and spawn a new one.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::{BoxFuture, Runtime};

/// The epoch of an owner's background task, and the marker its guards
/// report their drops to. Lives under the owner's lock, with the state the
/// epoch belongs to.
#[derive(Default)]
pub(crate) struct TaskSlot {
    /// Moved on by every spawn and every stop: a task of another epoch exits.
    epoch: u64,
    /// The newest epoch whose task was dropped; atomic so guards need no lock.
    dropped: Arc<AtomicU64>,
}

impl TaskSlot {
    /// The current epoch (0 until the first spawn).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether `epoch` is still current: a task whose epoch is not exits.
    pub(crate) fn is_current(&self, epoch: u64) -> bool {
        self.epoch == epoch
    }

    /// Moves the epoch on, so that the current task exits at its next look.
    pub(crate) fn supersede(&mut self) {
        self.epoch += 1;
    }

    /// Starts a new epoch for a task about to be spawned: the guard to move
    /// into that task.
    pub(crate) fn next(&mut self) -> TaskGuard {
        self.supersede();
        TaskGuard { epoch: self.epoch, dropped: Arc::clone(&self.dropped) }
    }

    /// Whether the current epoch's task has been dropped. The owner decides
    /// when that means "lost": a task that ends by itself while current
    /// (its work done) is dropped too.
    pub(crate) fn is_lost(&self) -> bool {
        // Epoch 0: nothing spawned yet (a first start under way).
        self.epoch != 0 && self.dropped.load(Ordering::Acquire) == self.epoch
    }
}

/// Owned by a background task, and dropped with it however it ends: when
/// it returns, or when its runtime drops it (even unpolled, even from a
/// failed spawn).
pub(crate) struct TaskGuard {
    /// The epoch the task was spawned for: fixed, compared with the slot's.
    epoch: u64,
    /// The slot's marker, where the drop of this epoch's task is recorded.
    dropped: Arc<AtomicU64>,
}

impl TaskGuard {
    /// The epoch the task was spawned for.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl Drop for TaskGuard {
    /// Takes no lock: the task may be dropped wherever its runtime drops it
    /// (even by a failed spawn under its owner's lock).
    fn drop(&mut self) {
        // The newest dropped task counts: a superseded one that ends after
        // the current one was lost must not hide that loss.
        self.dropped.fetch_max(self.epoch, Ordering::AcqRel);
    }
}

/// The panic of a runtime that could not spawn a task (tokio's, outside a
/// runtime): undo what the spawn was for, then [`resume`](Self::resume) it.
pub(crate) struct SpawnFailed(Box<dyn Any + Send>);

impl SpawnFailed {
    /// Goes on with the runtime's panic.
    pub(crate) fn resume(self) -> ! {
        std::panic::resume_unwind(self.0)
    }
}

/// Spawns `task` on `runtime`, catching the panic of a runtime that cannot
/// spawn, so the caller can undo its start (or the owner would run with no
/// task) before resuming it.
pub(crate) fn spawn<R: Runtime>(runtime: &R, task: BoxFuture<()>) -> Result<(), SpawnFailed> {
    std::panic::catch_unwind(AssertUnwindSafe(|| runtime.spawn(task))).map_err(SpawnFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing is lost before the first spawn; the current epoch's task
    /// dropped is; a stop or a new spawn moves past the loss.
    #[test]
    fn only_a_drop_of_the_current_epoch_reads_as_lost() {
        let mut slot = TaskSlot::default();
        assert!(!slot.is_lost(), "nothing spawned yet");
        let first = slot.next();
        assert!(slot.is_current(first.epoch()) && !slot.is_lost());
        drop(first);
        assert!(slot.is_lost(), "the current task was dropped");
        slot.supersede();
        assert!(!slot.is_lost(), "a stop moved past it");
        let second = slot.next();
        assert!(!slot.is_lost());
        drop(second);
        assert!(slot.is_lost());
    }

    /// A superseded task that ends after the current one was lost does not
    /// hide that loss.
    #[test]
    fn a_late_superseded_drop_does_not_hide_a_loss() {
        let mut slot = TaskSlot::default();
        let old = slot.next();
        let current = slot.next();
        assert!(!slot.is_current(old.epoch()));
        drop(current);
        drop(old);
        assert!(slot.is_lost());
    }
}
