//! The start/stop phase machine: [`WorkGrinder::start`], [`WorkGrinder::stop`],
//! [`WorkGrinder::shutdown`] and the phases they move the grinder through.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::error::Error;
use crate::runtime::Runtime;
use crate::signal::sleep_or;

use super::batch::Item;
use super::loop_task::{loop_guard, spawn_loop};
use super::{State, WorkGrinder, lock};

/// How [`WorkGrinder::stop`] treats queued and in-flight work.
///
/// ```
/// use leasepool::StopMode;
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

/// What [`WorkGrinder::shutdown`] did.
///
/// ```
/// # async fn demo(g: leasepool::WorkGrinder) {
/// let report = g.shutdown(std::time::Duration::from_secs(5)).await;
/// if !report.drained {
///     eprintln!("{} queued items cancelled at the deadline", report.cancelled);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GrinderShutdownReport {
    /// Whether the grinder was started when the shutdown began (false: it
    /// did nothing).
    pub was_running: bool,
    /// Whether all queued work ran before the deadline.
    pub drained: bool,
    /// Queued items (not yet in a batch) cancelled at the deadline: their
    /// handles resolve to [`Error::Cancelled`].
    pub cancelled: usize,
    /// Batches still unfinished at the deadline, cancelled: their items not
    /// yet running resolve to [`Error::Cancelled`], those running finish
    /// with their real result.
    pub batches_cancelled: usize,
    /// From the call to its return.
    pub elapsed: Duration,
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

    /// Stops at once: cancels the running batches (their items not yet
    /// running resolve to [`Error::Cancelled`]), ends the loop, and returns
    /// the queued items, to be failed with the lock released, and how many
    /// batches it cancelled.
    fn cancel_pending(&mut self) -> (Vec<Item>, usize) {
        for (_, batch) in &self.in_flight {
            batch.cancel();
        }
        self.loop_task.supersede();
        self.finish_stop();
        (self.queue.take_all(), self.in_flight.len())
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
    /// started again, and so can one whose loop went down with its runtime
    /// (see [`is_running`](Self::is_running)); a start during
    /// `stop(StopMode::Drain)` waits for the drain to finish first.
    ///
    /// # Errors
    ///
    /// [`Error::RuntimeGone`] if there is no runtime to run the loop on (on
    /// tokio: `start` called outside a runtime, on a manager not built
    /// inside a live one). The grinder is then stopped: it refuses work
    /// with [`Error::GrinderNotRunning`] instead of queueing it for no loop.
    ///
    /// ```
    /// # async fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// g.start().await?;
    /// assert!(g.is_running());
    /// # Ok(()) }
    /// ```
    pub async fn start(&self) -> Result<(), Error> {
        // A start during a draining stop waits for the drain, then starts;
        // if the drain's loop went down with its runtime, a new one drains.
        let mut st = loop {
            let next = poll_fn(|cx| {
                let mut st = lock(&self.g.state);
                if st.phase == Phase::Draining {
                    if st.loop_task.is_lost() {
                        return Poll::Ready(Err(loop_guard(&self.g, &mut st)));
                    }
                    st.wait_for_stop(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Ok(st))
            })
            .await;
            match next {
                Ok(st) => break st,
                Err(task) => {
                    // The lost drain's guard already failed its queue.
                    if !spawn_loop(&self.g, task) {
                        return Err(Error::RuntimeGone);
                    }
                }
            }
        };
        // Running, unless its loop went down with the runtime it ran on:
        // then this start spawns a new one.
        if st.phase == Phase::Running && !st.loop_task.is_lost() {
            return Ok(());
        }
        st.phase = Phase::Running;
        let task = loop_guard(&self.g, &mut st);
        let epoch = task.epoch();
        drop(st);
        // No runtime to run the loop on: undo the start, or the grinder
        // would take work with no loop to run it.
        if !spawn_loop(&self.g, task) {
            let mut st = lock(&self.g.state);
            // Work accepted meanwhile has no loop to run it: fail it.
            let stranded = if st.loop_task.is_current(epoch) {
                st.loop_task.supersede();
                st.finish_stop();
                st.queue.take_all()
            } else {
                Vec::new()
            };
            let tally = Arc::clone(&st.tally);
            drop(st);
            stranded.into_iter().for_each(|item| item.fail(&Error::RuntimeGone, &tally));
            tracing::warn!(
                prefix = &*self.g.owner_prefix,
                "work grinder not started: no runtime to run its loop on"
            );
            return Err(Error::RuntimeGone);
        }
        tracing::info!(prefix = &*self.g.owner_prefix, "work grinder started");
        Ok(())
    }

    /// Whether the grinder is started and its loop alive. False once the
    /// runtime its loop ran on has shut down: [`enqueue`](Self::enqueue)
    /// and [`submit`](Self::submit) then fail with [`Error::RuntimeGone`]
    /// until `start` is called again in a live runtime.
    ///
    /// ```
    /// # fn demo(g: leasepool::WorkGrinder) {
    /// if !g.is_running() { println!("not started, or its runtime is gone"); }
    /// # }
    /// ```
    pub fn is_running(&self) -> bool {
        let st = lock(&self.g.state);
        st.phase == Phase::Running && !st.loop_task.is_lost()
    }

    /// Stops the grinder; see [`StopMode`]. New submissions fail with
    /// [`Error::GrinderNotRunning`] from the moment `stop` is called.
    /// `Drain` returns once every queued item has run; `CancelPending`
    /// returns at once.
    ///
    /// ```
    /// # async fn demo(g: leasepool::WorkGrinder) {
    /// g.stop(leasepool::StopMode::Drain).await;
    /// assert!(!g.stats().started);
    /// # }
    /// ```
    pub async fn stop(&self, mode: StopMode) {
        let state = &self.g.state;
        let epoch;
        let mut respawn = None;
        let (cancelled, tally) = {
            let mut st = lock(state);
            // During a drain, another stop joins it (Drain) or cuts it
            // short (CancelPending).
            if st.phase == Phase::Stopped {
                return;
            }
            st.wake.notify();
            // The loop went down with the runtime it ran on: a new one, on
            // this runtime, drains.
            if mode == StopMode::Drain && st.loop_task.is_lost() {
                respawn = Some(loop_guard(&self.g, &mut st));
            }
            epoch = st.loop_task.epoch();
            let cancelled = match mode {
                StopMode::Drain => {
                    st.phase = Phase::Draining;
                    None
                }
                StopMode::CancelPending => Some(st.cancel_pending().0),
            };
            (cancelled, Arc::clone(&st.tally))
        };
        if let Some(items) = cancelled {
            tracing::info!(cancelled = items.len(), "work grinder stopped; pending work cancelled");
            items.into_iter().for_each(|item| item.fail(&Error::Cancelled, &tally));
            return;
        }
        // No runtime to drain on: the lost loop's guard failed the queue.
        if let Some(task) = respawn {
            if !spawn_loop(&self.g, task) {
                let mut st = lock(state);
                if st.loop_task.is_current(epoch) {
                    st.loop_task.supersede();
                    st.finish_stop();
                }
                return;
            }
        }
        // Done when this drain finished: stopped, or already started again
        // (a start waits for the drain, then moves the epoch on).
        poll_fn(|cx| {
            let mut st = lock(state);
            if st.phase == Phase::Stopped || !st.loop_task.is_current(epoch) {
                return Poll::Ready(());
            }
            st.wait_for_stop(cx.waker());
            Poll::Pending
        })
        .await;
        tracing::info!("work grinder drained and stopped");
    }

    /// Stops the grinder gracefully, within `timeout`: refuses new work at
    /// once ([`Error::GrinderNotRunning`]), runs the queued items as
    /// [`StopMode::Drain`] does, and at the deadline stops as
    /// [`StopMode::CancelPending`] does: the items still queued, and those
    /// of unfinished batches not yet running, resolve to
    /// [`Error::Cancelled`]. Returns as soon as the queue is drained, and
    /// never waits past the deadline.
    ///
    /// ```
    /// # async fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// use std::time::Duration;
    /// let job = g.enqueue(|| 2 + 2)?;
    /// let report = g.shutdown(Duration::from_secs(10)).await;
    /// assert!(report.drained);
    /// assert_eq!(job.await?, 4);
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> GrinderShutdownReport {
        let runtime = self.g.manager.shared().runtime.clone();
        let began = runtime.now();
        let was_running = lock(&self.g.state).phase != Phase::Stopped;
        if !was_running {
            return GrinderShutdownReport::default();
        }
        // A timeout too large for an `Instant` waits for the drain alone.
        let deadline = began.checked_add(timeout);
        let mut drain = pin!(self.stop(StopMode::Drain));
        let mut drained = false;
        sleep_or(&runtime, deadline, |cx| {
            let ready = drain.as_mut().poll(cx);
            drained = ready.is_ready();
            ready
        })
        .await;
        let (items, batches_cancelled, tally) = {
            let mut st = lock(&self.g.state);
            let tally = Arc::clone(&st.tally);
            // Finished (or stopped by another call) just as the deadline fell.
            if drained || st.phase == Phase::Stopped {
                (Vec::new(), 0, tally)
            } else {
                let (items, batches) = st.cancel_pending();
                (items, batches, tally)
            }
        };
        let cancelled = items.len();
        items.into_iter().for_each(|item| item.fail(&Error::Cancelled, &tally));
        let elapsed = runtime.now().saturating_duration_since(began);
        if drained {
            tracing::info!(?elapsed, "work grinder shut down; queue drained");
        } else {
            tracing::warn!(cancelled, batches_cancelled, ?elapsed, "work grinder shut down at its deadline");
        }
        GrinderShutdownReport { was_running, drained, cancelled, batches_cancelled, elapsed }
    }
}
