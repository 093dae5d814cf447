//! The loop task: starts due batches, and notices when it was lost.

use std::sync::{Arc, Weak};
use std::task::Poll;

use crate::runtime::Runtime;
use crate::signal::sleep_or;

use super::batch::{BatchEnd, run_batch, start_batch};
use super::phase::Phase;
use super::{Grinder, lock};

/// The batching loop: starts due batches, then sleeps until the next
/// max-wait deadline or a wake-up.
pub(super) async fn run_loop<R: Runtime>(me: Weak<Grinder<R>>, generation: u64, _lost: LostLoop<R>) {
    loop {
        let Some(g) = me.upgrade() else { return };
        let runtime = g.manager.shared().runtime.clone();
        let mut batches = Vec::new();
        let deadline = {
            let mut st = lock(&g.state);
            if st.generation != generation {
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
            let end = BatchEnd { g: Arc::clone(&g), key: batch.key, count: batch.items.len() as u64 };
            runtime.spawn(Box::pin(run_batch(Arc::clone(&g), batch, end)));
        }
        let state = Arc::clone(&g.state);
        drop(g);
        // `wake` holds one waker. A loop outdated by a cancelling stop must
        // not poll it: that would replace the waker of the loop a restart
        // spawned (and eat its notification), leaving the new loop asleep.
        sleep_or(&runtime, deadline, |cx| {
            let mut st = lock(&state);
            if st.generation != generation { Poll::Ready(()) } else { st.wake.poll(cx) }
        })
        .await;
    }
}

/// Dropped with the loop task. A loop ends by itself only when superseded
/// (the generation moved on) or stopped; dropped while its run is current,
/// its runtime shut down under it: mark it, for the next `start`.
pub(super) struct LostLoop<R: Runtime> {
    pub(super) me: Weak<Grinder<R>>,
    pub(super) generation: u64,
}

impl<R: Runtime> Drop for LostLoop<R> {
    fn drop(&mut self) {
        if let Some(g) = self.me.upgrade() {
            let mut st = lock(&g.state);
            if st.generation == self.generation && st.phase != Phase::Stopped {
                st.loop_lost = true;
            }
        }
    }
}
