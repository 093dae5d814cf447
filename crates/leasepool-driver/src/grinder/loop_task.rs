//! The loop task: starts due batches, and sleeps until the next is due.

use std::sync::{Arc, Weak};
use std::task::Poll;

use crate::error::Error;
use crate::runtime::Runtime;
use crate::signal::sleep_or;
use crate::task::{self, TaskGuard};

use super::batch::{BatchEnd, run_batch, start_batch};
use super::phase::Phase;
use super::{Grinder, State, lock};

/// Starts a new epoch for a loop about to be spawned. The guard's hook
/// runs if that loop is dropped while current (its runtime shut down, or
/// could not spawn it), with the state's lock free (the loop is spawned
/// with it released, and runtimes drop tasks holding none of ours): the
/// queued items, which no loop would batch, fail with
/// [`Error::RuntimeGone`], and a drain with nothing left running ends.
pub(super) fn loop_guard<R: Runtime>(g: &Arc<Grinder<R>>, st: &mut State) -> TaskGuard {
    let state = Arc::downgrade(&g.state);
    st.loop_task.next(Box::new(move || {
        let Some(state) = state.upgrade() else { return };
        let (stranded, tally) = {
            let mut st = lock(&state);
            if st.phase == Phase::Stopped || !st.loop_task.is_lost() {
                return;
            }
            let stranded = st.queue.take_all();
            if st.phase == Phase::Draining && st.queue.running() == 0 {
                st.finish_stop();
            }
            (stranded, Arc::clone(&st.tally))
        };
        if !stranded.is_empty() {
            tracing::warn!(
                items = stranded.len(),
                "work grinder loop lost with its runtime; queued work failed"
            );
        }
        stranded.into_iter().for_each(|item| item.fail(&Error::RuntimeGone, &tally));
    }))
}

/// Spawns the loop task of `task`'s epoch; whether it was spawned (a
/// runtime that cannot spawn panics or drops the task at once). Called
/// with the state's lock released: the loop takes it on its first turn,
/// which a runtime may run before `spawn` returns, and a task dropped at
/// once runs its guard's hook, which takes it too.
pub(super) fn spawn_loop<R: Runtime>(g: &Arc<Grinder<R>>, task: TaskGuard) -> bool {
    let epoch = task.epoch();
    let spawned = task::spawn(&g.manager.shared().runtime, Box::pin(run_loop(Arc::downgrade(g), task)));
    let st = lock(&g.state);
    spawned.is_ok() && !(st.loop_task.is_current(epoch) && st.loop_task.is_lost())
}

/// The batching loop: starts due batches, then sleeps until the next
/// max-wait deadline or a wake-up. A loop ends by itself only when
/// superseded (the epoch moved on), stopped, or its grinder gone; dropped
/// otherwise, its runtime shut down under it, and its guard marks it lost
/// for the next `start` (or draining `stop`).
async fn run_loop<R: Runtime>(me: Weak<Grinder<R>>, task: TaskGuard) {
    let epoch = task.epoch();
    loop {
        let Some(g) = me.upgrade() else { return };
        let runtime = g.manager.shared().runtime.clone();
        let mut batches = Vec::new();
        let deadline = {
            let mut st = lock(&g.state);
            if !st.loop_task.is_current(epoch) {
                return;
            }
            let now = runtime.now();
            let draining = st.phase == Phase::Draining;
            loop {
                let batch = if draining { st.queue.flush_batch() } else { st.queue.poll_batch(now) };
                let Some(items) = batch else { break };
                batches.push(start_batch(&mut st, items));
            }
            if draining && st.queue.is_empty() && st.queue.running() == 0 {
                st.finish_stop();
                return;
            }
            st.queue.poll_timeout()
        };
        // Spawned once the lock is released: every `push` takes it.
        for batch in batches {
            let end = BatchEnd { g: Arc::clone(&g), key: batch.key };
            runtime.spawn(Box::pin(run_batch(Arc::clone(&g), batch, end)));
        }
        let state = Arc::clone(&g.state);
        drop(g);
        // `wake` holds one waker. A loop outdated by a cancelling stop must
        // not poll it: that would replace the waker of the loop a restart
        // spawned (and eat its notification), leaving the new loop asleep.
        sleep_or(&runtime, deadline, |cx| {
            let mut st = lock(&state);
            if !st.loop_task.is_current(epoch) { Poll::Ready(()) } else { st.wake.poll(cx) }
        })
        .await;
    }
}
