//! The start/stop phase machine: [`WorkGrinder::start`], [`WorkGrinder::stop`]
//! and the phases they move the grinder through.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};

use crate::error::Error;
use crate::runtime::Runtime;

use super::loop_task::{LostLoop, run_loop};
use super::{State, WorkGrinder, lock};

/// How [`WorkGrinder::stop`] treats queued and in-flight work.
///
/// ```
/// use leasepool_driver::StopMode;
/// assert_ne!(StopMode::Drain, StopMode::CancelPending);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Refuse new work, run everything already queued, then stop.
    Drain,
    /// Refuse new work; queued items and items of batches not yet running
    /// (including batches blocked waiting for a lease) resolve to
    /// [`Error::Cancelled`] at once. An item already running on a worker
    /// runs to its end and reports its real result.
    CancelPending,
}

/// Where the grinder is in its start/stop cycle.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Stopped,
    Running,
    /// `stop(StopMode::Drain)` in progress: queued work still runs.
    Draining,
}

impl State {
    /// Registers a waiter of the drain once per task: a future polled
    /// again with the same waker adds nothing.
    pub(super) fn wait_for_stop(&mut self, waker: &Waker) {
        if !self.stop_waiters.iter().any(|w| w.will_wake(waker)) {
            self.stop_waiters.push(waker.clone());
        }
    }

    pub(super) fn finish_stop(&mut self) {
        self.phase = Phase::Stopped;
        for w in self.stop_waiters.drain(..) {
            w.wake();
        }
    }
}

impl<R: Runtime> WorkGrinder<R> {
    /// Starts the batching loop (idempotent). A stopped grinder can be
    /// started again; a start during `stop(StopMode::Drain)` waits for the
    /// drain to finish first.
    ///
    /// ```
    /// # async fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) {
    /// g.start().await;
    /// assert!(g.stats().started);
    /// # }
    /// ```
    pub async fn start(&self) {
        // A start during a draining stop waits for the drain, then starts;
        // if the drain's loop went down with its runtime, a new one drains.
        let mut st = loop {
            let next = poll_fn(|cx| {
                let mut st = lock(&self.g.state);
                if st.phase == Phase::Draining {
                    if st.loop_lost {
                        st.loop_lost = false;
                        st.generation += 1;
                        return Poll::Ready(Err(st.generation));
                    }
                    st.wait_for_stop(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Ok(st))
            })
            .await;
            match next {
                Ok(st) => break st,
                // Spawned with the lock released: a failed spawn drops the
                // loop, whose guard takes the lock.
                Err(generation) => {
                    let me = Arc::downgrade(&self.g);
                    let lost = LostLoop { me: me.clone(), generation };
                    self.g.manager.shared().runtime.spawn(Box::pin(run_loop(me, generation, lost)));
                }
            }
        };
        // Running, unless its loop went down with the runtime it ran on:
        // then this start spawns a new one.
        if st.phase == Phase::Running && !st.loop_lost {
            return;
        }
        st.phase = Phase::Running;
        st.loop_lost = false;
        st.generation += 1;
        let generation = st.generation;
        drop(st);
        let me = Arc::downgrade(&self.g);
        let runtime = &self.g.manager.shared().runtime;
        // A runtime that cannot spawn (tokio outside a runtime) panics: undo
        // the start, or the grinder would take work with no loop to run it.
        let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.spawn(Box::pin(run_loop(me.clone(), generation, LostLoop { me, generation })));
        }));
        if let Err(panic) = spawned {
            let mut st = lock(&self.g.state);
            // Work accepted meanwhile has no loop to run it: fail it.
            let stranded = if st.generation == generation {
                st.generation += 1;
                st.finish_stop();
                st.queue.take_all()
            } else {
                Vec::new()
            };
            drop(st);
            stranded.into_iter().for_each(|item| item.fail(&Error::GrinderNotRunning));
            std::panic::resume_unwind(panic);
        }
        tracing::info!(prefix = &*self.g.owner_prefix, "work grinder started");
    }

    /// Stops the grinder; see [`StopMode`]. New submissions fail with
    /// [`Error::GrinderNotRunning`] from the moment `stop` is called.
    /// `Drain` returns once every queued item has run; `CancelPending`
    /// returns at once.
    ///
    /// ```
    /// # async fn demo(g: leasepool_driver::WorkGrinder<impl leasepool_driver::Runtime>) {
    /// g.stop(leasepool_driver::StopMode::Drain).await;
    /// assert!(!g.stats().started);
    /// # }
    /// ```
    pub async fn stop(&self, mode: StopMode) {
        let state = &self.g.state;
        let generation;
        let mut respawn = false;
        let cancelled = {
            let mut st = lock(state);
            // During a drain, another stop joins it (Drain) or cuts it
            // short (CancelPending).
            if st.phase == Phase::Stopped {
                return;
            }
            st.wake.notify();
            // The loop went down with the runtime it ran on: a new one, on
            // this runtime, drains.
            if mode == StopMode::Drain && st.loop_lost {
                st.loop_lost = false;
                st.generation += 1;
                respawn = true;
            }
            generation = st.generation;
            match mode {
                StopMode::Drain => {
                    st.phase = Phase::Draining;
                    None
                }
                StopMode::CancelPending => {
                    for (_, batch) in &st.in_flight {
                        batch.cancel();
                    }
                    st.generation += 1;
                    st.finish_stop();
                    Some(st.queue.take_all())
                }
            }
        };
        if let Some(items) = cancelled {
            tracing::info!(cancelled = items.len(), "work grinder stopped; pending work cancelled");
            items.into_iter().for_each(|item| item.fail(&Error::Cancelled));
            return;
        }
        if respawn {
            let me = Arc::downgrade(&self.g);
            self.g.manager.shared().runtime.spawn(Box::pin(run_loop(
                me.clone(),
                generation,
                LostLoop { me, generation },
            )));
        }
        // Done when this drain finished: stopped, or already started again
        // (a start waits for the drain, then bumps the generation).
        poll_fn(|cx| {
            let mut st = lock(state);
            if st.phase == Phase::Stopped || st.generation != generation {
                return Poll::Ready(());
            }
            st.wait_for_stop(cx.waker());
            Poll::Pending
        })
        .await;
        tracing::info!("work grinder drained and stopped");
    }
}
