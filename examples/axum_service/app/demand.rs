//! The manager's size signal: how many `/work` requests are in the service
//! (waiting for a pool or running), as the highest count of the last few
//! seconds.
//!
//! The manager keeps `min(max_pools, units)` pools, one per request, so
//! pools are ready when a burst comes back. The peak, not the count of the
//! moment, is the signal: the count dips every time a request is answered,
//! and a signal that dipped with it would shut a pool down after every
//! answer and start one for the next request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Requests in the service, and their peak over two consecutive windows.
#[derive(Debug)]
pub(crate) struct Demand {
    /// Requests entered and not yet answered: one per live [`InFlight`].
    in_flight: AtomicUsize,
    /// The peaks; each window lasts `window`.
    peaks: Mutex<Peaks>,
    /// How long one window lasts: a peak is remembered for one to two of them.
    window: Duration,
}

/// The peak of the current window and of the one before it.
#[derive(Debug)]
struct Peaks {
    /// When the current window began.
    began: Instant,
    /// The highest `in_flight` seen since `began`.
    current: usize,
    /// The highest `in_flight` of the window before (0 if it was more
    /// than a window ago).
    previous: usize,
}

impl Demand {
    /// No request yet; a peak is remembered for one to two `window`s.
    pub(crate) fn new(window: Duration) -> Arc<Self> {
        let peaks = Peaks { began: Instant::now(), current: 0, previous: 0 };
        Arc::new(Demand { in_flight: AtomicUsize::new(0), peaks: Mutex::new(peaks), window })
    }

    /// Counts a request until the guard is dropped (answered, or given up
    /// by its client).
    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.observe(now);
        InFlight(Arc::clone(self))
    }

    /// Requests in the service now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The size provider: the peak of the last one to two windows.
    pub(crate) fn units(&self) -> usize {
        self.observe(self.in_flight())
    }

    /// Folds `in_flight` into the peaks and returns the signal.
    fn observe(&self, in_flight: usize) -> usize {
        let now = Instant::now();
        let mut peaks = self.peaks.lock().unwrap_or_else(PoisonError::into_inner);
        let age = now.saturating_duration_since(peaks.began);
        if age >= self.window {
            // A window passed: the current one becomes the previous, unless
            // two or more passed, and then nothing of it is recent.
            peaks.previous = if age < 2 * self.window { peaks.current } else { 0 };
            peaks.current = 0;
            peaks.began = now;
        }
        peaks.current = peaks.current.max(in_flight);
        peaks.current.max(peaks.previous)
    }
}

/// One request counted in [`Demand`].
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Demand>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
