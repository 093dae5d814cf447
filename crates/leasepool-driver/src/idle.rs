//! How a pool's idle workers wait for its next job, and whom a queued job
//! wakes.
//!
//! A worker that runs out of jobs either *spins* (tries the queue, yields
//! the CPU, tries again, up to [`SPIN_ROUNDS`] times and for at most
//! [`SHORT_GAP`]) or yields once and *sleeps* on a condition variable
//! until a job is queued. Spinning catches a job that follows within
//! microseconds with no wake-up at all: a lease per job under load, where
//! the next waiter's job comes a few microseconds after the last one
//! ended. Yielding between tries leaves the CPU to any thread that needs
//! it. But a worker that spins while no job comes only costs context
//! switches and CPU time to the threads that would produce the next job
//! (the async runtime's workers), and under a light, paced load no job
//! comes for a millisecond. So:
//!
//! * a pool spins only while spinning pays: its `score` rises with each job
//!   taken within [`SHORT_GAP`] of the pool running out of jobs (by a
//!   spinner or a sleeper), and falls with each job taken later and each
//!   spin that found nothing;
//! * at most one worker of a pool spins, since one catches the next job;
//! * a job queued while a worker spins wakes nobody, unless the spinner has
//!   not looked at the queue for [`STALE_SPIN`] (it yielded, and other
//!   threads hold the CPU); otherwise it wakes one sleeper, if any; and a
//!   worker that stops waiting with a job wakes another sleeper if more
//!   jobs are queued (so a burst of jobs queued while a worker spun still
//!   reaches every idle worker).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Tries of the queue, each followed by a yield, before a spinner sleeps.
/// With nothing else to run, twenty yields last a few microseconds.
const SPIN_ROUNDS: u32 = 20;

/// A job taken this soon after the pool ran out of jobs is one a spin
/// catches (or would have): it raises the score; a later one lowers it, and
/// a spin gives up this long after the pool ran out (a job found later is
/// caught no sooner than a wake-up would have delivered it, say because
/// other threads held the CPU between the tries). Under a light, paced
/// load jobs come about a millisecond apart.
const SHORT_GAP: Duration = Duration::from_micros(200);

/// A spinner that has not looked at the queue for this long has lost the
/// CPU to other threads: a job queued then also wakes a sleeper, which the
/// scheduler runs as soon as it can, instead of waiting for the spinner's
/// next turn (a scheduling slice away, up to milliseconds).
const STALE_SPIN: Duration = Duration::from_micros(20);

/// The ceiling of `Idle::score`: after a busy stretch, this many long gaps
/// or empty spins stop a pool's spinning.
const SCORE_MAX: u32 = 4;

/// `Idle::waiting`: bit 0, a worker spins; the rest counts sleepers.
const SPINNING: usize = 1;
const SLEEPER: usize = 2;

/// The idle side of one pool's workers.
#[derive(Debug)]
pub(crate) struct Idle {
    /// Bit 0 ([`SPINNING`]): one of the pool's workers spins, so a job
    /// queued now needs no wake-up. Above it, in units of [`SLEEPER`]: the
    /// workers asleep on `wake`, counted under `lock` (so a waker that saw
    /// one and then takes `lock` finds it waiting).
    waiting: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    /// When a worker of the pool last ran out of jobs, in nanoseconds since
    /// `origin`; written by whichever worker ran out last.
    idle_since: AtomicU64,
    /// When the spinner last looked at the queue, in nanoseconds since
    /// `origin` (meaningful while [`SPINNING`] is set).
    spin_seen: AtomicU64,
    origin: Instant,
    /// How well spinning pays lately, 0 to [`SCORE_MAX`]; the pool spins
    /// only above 0. Updated without a read-modify-write: two workers
    /// racing may lose a step, which the next job makes up.
    score: AtomicU32,
}

impl Idle {
    pub(crate) fn new() -> Self {
        Idle {
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            idle_since: AtomicU64::new(0),
            spin_seen: AtomicU64::new(0),
            origin: Instant::now(),
            score: AtomicU32::new(0),
        }
    }

    /// Called by a worker that found the queue empty: spins or sleeps until
    /// `take` returns something. `queued` says whether more is queued.
    pub(crate) fn wait<T>(&self, mut take: impl FnMut() -> Option<T>, queued: impl Fn() -> bool) -> T {
        let idle_since = Instant::now();
        let idle_ns = self.ns_since_origin(idle_since);
        self.idle_since.store(idle_ns, Ordering::Relaxed);
        let spinning = self.score.load(Ordering::Relaxed) > 0 && {
            // Fresh before the flag goes up, so a submitter never judges a
            // new spinner by an old one's last look.
            self.spin_seen.store(idle_ns, Ordering::Relaxed);
            self.waiting.fetch_or(SPINNING, Ordering::SeqCst) & SPINNING == 0
        };
        let found = match spinning.then(|| self.spin(&mut take, idle_since)) {
            Some(Some(found)) => {
                self.waiting.fetch_sub(SPINNING, Ordering::SeqCst);
                self.score_gap();
                found
            }
            Some(None) => {
                self.set_score(|s| s.saturating_sub(1));
                self.sleep(take, SLEEPER - SPINNING)
            }
            None => {
                // Not spinning: one yield first. The task that the last job
                // woke often waits for this CPU; it gets it now, rather
                // than after this worker's way into sleep.
                std::thread::yield_now();
                match take() {
                    Some(found) => {
                        self.score_gap();
                        found
                    }
                    None => self.sleep(take, SLEEPER),
                }
            }
        };
        // Pairs with the fence in `job_queued`: either this look sees a
        // job queued while a worker spun (which woke nobody), or its
        // submitter saw no spinner and woke a sleeper itself.
        fence(Ordering::SeqCst);
        if queued() && self.waiting.load(Ordering::Relaxed) >= SLEEPER {
            self.notify(false);
        }
        found
    }

    /// A job was just queued: wakes a sleeper unless a worker spins and
    /// looked at the queue within the last [`STALE_SPIN`].
    #[inline]
    pub(crate) fn job_queued(&self) {
        // Pairs with the fences in `wait` and `sleep`: either the worker's
        // look at the queue sees the job, or this load sees the worker.
        fence(Ordering::SeqCst);
        let waiting = self.waiting.load(Ordering::Relaxed);
        if waiting >= SLEEPER && (waiting & SPINNING == 0 || self.spinner_is_stale()) {
            self.notify(false);
        }
    }

    /// Whether the spinner last looked at the queue more than
    /// [`STALE_SPIN`] ago: it yielded and has not had the CPU back since
    /// (other threads hold it), so the job would wait for its next turn.
    fn spinner_is_stale(&self) -> bool {
        let seen = self.spin_seen.load(Ordering::Relaxed);
        self.ns_since_origin(Instant::now()).saturating_sub(seen) > STALE_SPIN.as_nanos() as u64
    }

    /// Wakes every sleeper (the pool shuts down).
    pub(crate) fn wake_all(&self) {
        self.notify(true);
    }

    fn notify(&self, all: bool) {
        // Taking the lock waits out a sleeper between counting itself and
        // waiting; notifying after releasing it spares the woken worker
        // from finding the lock still held.
        drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner));
        if all {
            self.wake.notify_all();
        } else {
            self.wake.notify_one();
        }
    }

    /// Counts this worker as a sleeper (`add`: [`SLEEPER`], or
    /// `SLEEPER - SPINNING` for the spinner, which stops spinning in the
    /// same step) and sleeps until `take` finds something.
    fn sleep<T>(&self, mut take: impl FnMut() -> Option<T>, add: usize) -> T {
        let mut held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_add(add, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        loop {
            if let Some(found) = take() {
                self.waiting.fetch_sub(SLEEPER, Ordering::SeqCst);
                drop(held);
                self.score_gap();
                return found;
            }
            held = self.wake.wait(held).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Scores the gap from the pool running out of jobs until now, when a
    /// worker took the next job: a short one raises the score, a long one
    /// lowers it (a spin that caught a job that late, say because other
    /// threads held the CPU between its tries, caught it no sooner than a
    /// wake-up would have).
    fn score_gap(&self) {
        let gap =
            self.ns_since_origin(Instant::now()).saturating_sub(self.idle_since.load(Ordering::Relaxed));
        if gap <= SHORT_GAP.as_nanos() as u64 {
            self.set_score(|s| s + 1);
        } else {
            self.set_score(|s| s.saturating_sub(1));
        }
    }

    fn set_score(&self, f: impl Fn(u32) -> u32) {
        let score = self.score.load(Ordering::Relaxed);
        let next = f(score).min(SCORE_MAX);
        if next != score {
            self.score.store(next, Ordering::Relaxed);
        }
    }

    /// Tries `take` up to [`SPIN_ROUNDS`] times, yielding the CPU between
    /// tries, and no longer than [`SHORT_GAP`] after `idle_since`: a job
    /// found later would not count as caught. Stamps `spin_seen` before
    /// every try.
    fn spin<T>(&self, take: &mut impl FnMut() -> Option<T>, idle_since: Instant) -> Option<T> {
        for _ in 0..SPIN_ROUNDS {
            let now = Instant::now();
            if now.saturating_duration_since(idle_since) > SHORT_GAP {
                return None;
            }
            self.spin_seen.store(self.ns_since_origin(now), Ordering::Relaxed);
            if let Some(found) = take() {
                return Some(found);
            }
            std::thread::yield_now();
        }
        take()
    }

    fn ns_since_origin(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }
}
