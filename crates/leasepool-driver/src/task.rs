//! The background task an owner keeps running (the manager's checker, a
//! grinder's loop): which spawn is current, and whether it is gone.
//!
//! Every spawn starts a new epoch, and a stop moves the epoch on too. The
//! task compares its epoch with the current one under its owner's lock at
//! each turn and exits once superseded. A task can also disappear without
//! exiting: dropped with the runtime it was spawned on (even unpolled), or
//! by a runtime that could not spawn it. The [`TaskGuard`] it owns records
//! every drop in a marker kept outside the owner's lock, so the next start
//! can tell that the current epoch has no task left and spawn a new one,
//! and runs the owner's `on_lost` hook when the task dropped is still the
//! current one, so that whoever waits on the task is told at once instead
//! of at the next start.

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
    /// `epoch`, readable without the owner's lock: a dropped guard reads it
    /// to tell a loss (its epoch still current) from a superseded task.
    current: Arc<AtomicU64>,
    /// The newest epoch whose task was dropped; atomic so guards need no lock.
    dropped: Arc<AtomicU64>,
}

/// What a task's owner does when its current task is dropped: run by the
/// guard's `Drop`, wherever the runtime drops the task, so it must not
/// assume any lock is free or taken (the owner's hook finds out).
pub(crate) type OnLost = Box<dyn FnOnce() + Send>;

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
        self.current.store(self.epoch, Ordering::Release);
    }

    /// Starts a new epoch for a task about to be spawned: the guard to move
    /// into that task, which runs `on_lost` if it is dropped while its epoch
    /// is still current.
    pub(crate) fn next(&mut self, on_lost: OnLost) -> TaskGuard {
        self.supersede();
        TaskGuard {
            epoch: self.epoch,
            current: Arc::clone(&self.current),
            dropped: Arc::clone(&self.dropped),
            on_lost: Some(on_lost),
        }
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
    /// The slot's current epoch.
    current: Arc<AtomicU64>,
    /// The slot's marker, where the drop of this epoch's task is recorded.
    dropped: Arc<AtomicU64>,
    /// The owner's hook, taken by the drop that finds this epoch current.
    on_lost: Option<OnLost>,
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
        // Recorded first, so the hook (and anyone it wakes) reads the loss.
        // A stop racing this drop is sorted out by the hook, under its
        // owner's lock.
        if self.current.load(Ordering::Acquire) == self.epoch {
            if let Some(on_lost) = self.on_lost.take() {
                on_lost();
            }
        }
    }
}

/// A runtime that could not spawn a task: it panicked (a custom runtime
/// may), or it dropped the task at once (see [`Runtime::spawn`]).
#[derive(Debug)]
pub(crate) struct SpawnFailed;

/// Spawns `task` on `runtime`, turning the panic of a runtime that cannot
/// spawn into [`SpawnFailed`], so the caller can undo its start instead of
/// unwinding through it. A runtime that drops the task instead shows up as
/// the task's loss (`TaskSlot::is_lost`), which the caller checks next.
pub(crate) fn spawn<R: Runtime>(runtime: &R, task: BoxFuture<()>) -> Result<(), SpawnFailed> {
    std::panic::catch_unwind(AssertUnwindSafe(|| runtime.spawn(task))).map_err(|_| SpawnFailed)
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
        let first = slot.next(Box::new(|| {}));
        assert!(slot.is_current(first.epoch()) && !slot.is_lost());
        drop(first);
        assert!(slot.is_lost(), "the current task was dropped");
        slot.supersede();
        assert!(!slot.is_lost(), "a stop moved past it");
        let second = slot.next(Box::new(|| {}));
        assert!(!slot.is_lost());
        drop(second);
        assert!(slot.is_lost());
    }

    /// A superseded task that ends after the current one was lost does not
    /// hide that loss.
    #[test]
    fn a_late_superseded_drop_does_not_hide_a_loss() {
        let mut slot = TaskSlot::default();
        let old = slot.next(Box::new(|| {}));
        let current = slot.next(Box::new(|| {}));
        assert!(!slot.is_current(old.epoch()));
        drop(current);
        drop(old);
        assert!(slot.is_lost());
    }

    /// The hook runs for the drop of the current task only: not for a
    /// superseded one, not for one stopped before it was dropped.
    #[test]
    fn only_the_current_tasks_drop_runs_the_hook() {
        use std::sync::atomic::AtomicUsize;
        let runs = Arc::new(AtomicUsize::new(0));
        let hook = || -> OnLost {
            let runs = Arc::clone(&runs);
            Box::new(move || {
                runs.fetch_add(1, Ordering::SeqCst);
            })
        };
        let mut slot = TaskSlot::default();
        let old = slot.next(hook());
        let current = slot.next(hook());
        drop(old);
        assert_eq!(runs.load(Ordering::SeqCst), 0, "superseded");
        drop(current);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the current task was lost");
        let stopped = slot.next(hook());
        slot.supersede();
        drop(stopped);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "stopped before it was dropped");
    }
}
