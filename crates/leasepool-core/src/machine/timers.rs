//! Time and sizing: the timer input (`handle_timeout`), the due check
//! (`check_due`, `handle_units`, `notify_scale_changed`) and the outputs a
//! driver polls after every input (`poll_action`, `poll_timeout`) of
//! [`Core`].

use std::time::Instant;

use super::{CheckDue, Core};
use crate::types::{Action, ShutdownReason};

impl Core {
    /// Runs what the clock makes due at `now`: fails waiters past their
    /// deadline, revokes leases past hard expiry (their pools are shut
    /// down and replaced up to the desired count), and shuts down idle
    /// pools past their idle deadline while there are more pools than
    /// desired ([`ShutdownReason::Idle`]). A check that is due is
    /// not run here: see [`Core::check_due`].
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
    /// # use std::time::Duration;
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// core.handle_timeout(g.hard_expires_at());
    /// assert_eq!(core.leased_count(), 0); // expired and replaced
    /// assert_eq!(core.creating_count(), 1);
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        if !self.running {
            return;
        }
        self.fail_expired_waiters(now);
        self.revoke_expired(now);
        self.time_out_idle(now);
    }

    /// Whether a check is due at `now` (its interval passed, or it was
    /// requested): if so, read the unit count (your size provider: it may
    /// be slow, so read it outside any lock) and hand it in with
    /// [`Core::handle_units`]. `None` while stopped.
    ///
    /// A check is requested by [`Core::notify_scale_changed`], and, when
    /// the configuration says a size provider is set
    /// ([`ConfigBuilder::has_size_provider`](crate::ConfigBuilder::has_size_provider)),
    /// by every grant and every release that ends a lease, so that the
    /// pools follow the signal without waiting for the interval.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert!(core.check_due(now).is_none());
    /// core.start(now, 0).unwrap();
    /// assert!(core.check_due(now).is_none());
    /// core.notify_scale_changed(now);
    /// assert!(core.check_due(now).is_some());
    /// ```
    pub fn check_due(&self, now: Instant) -> Option<CheckDue> {
        let due = self.next_check.is_some_and(|at| at <= now.max(self.clock.unwrap_or(now)));
        due.then_some(CheckDue { requests: self.check_requests, run: self.run })
    }

    /// Runs a due check with the unit count read for it: sets the desired
    /// count, creates pools up to it, and, if the desired count fell (or
    /// `idle_timeout` is zero), shuts down idle pools above it at once
    /// (least recently returned first; leased pools are never revoked for
    /// this); idle pools left above an unchanged or higher count by demand
    /// keep their idle deadlines. Then it serves waiters. The next check is due one `check_interval`
    /// later, or at once if a check was requested after `due` was issued
    /// (the units read for it may be stale). A ticket from before a stop,
    /// or a check no longer due, does nothing.
    ///
    /// A size provider that failed can pass the last value,
    /// [`Core::units`].
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(5).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// core.notify_scale_changed(now);
    /// let due = core.check_due(now).unwrap();
    /// core.notify_scale_changed(now); // while the units were being read
    /// core.handle_units(now, due, 31);
    /// assert_eq!(core.desired_executor_count(), 4);
    /// assert!(core.check_due(now).is_some()); // again, with a fresh read
    /// ```
    pub fn handle_units(&mut self, now: Instant, due: CheckDue, units: u64) {
        let now = self.tick(now);
        if !self.running || due.run != self.run || self.next_check.is_none_or(|at| at > now) {
            return;
        }
        // Units first, so that pools replacing expired leases are sized for
        // the new signal rather than created and shrunk in the same pass.
        let before = self.desired;
        self.set_units(units);
        self.fail_expired_waiters(now);
        self.revoke_expired(now);
        self.check(now, self.desired < before);
        let stale = self.check_requests != due.requests;
        self.next_check = Some(if stale { now } else { now + self.config.check_interval });
    }

    /// Makes a check due at `now` ([`Core::check_due`];
    /// [`Core::poll_timeout`] reflects it). Ignored while stopped.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// core.notify_scale_changed(now);
    /// assert_eq!(core.poll_timeout(), Some(now));
    /// ```
    pub fn notify_scale_changed(&mut self, now: Instant) {
        let now = self.tick(now);
        self.request_check(now);
    }

    /// The next effect to perform, in order. Drain until `None` after every
    /// input.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// assert!(matches!(core.poll_action(), Some(Action::CreatePool(_))));
    /// assert_eq!(core.poll_action(), None);
    /// ```
    #[inline] // called at least once after every input, from another crate
    #[must_use = "every action must be performed, in order"]
    pub fn poll_action(&mut self) -> Option<Action> {
        let action = self.actions.pop_front()?;
        // Counted as handed out: an action taken back before the driver
        // drained it (a cancelled waiter's grant) never counts.
        self.counters.count(&action);
        Some(action)
    }

    /// When [`Core::handle_timeout`] (or, for a check,
    /// [`Core::check_due`]) must next be looked at: the earliest of the
    /// next check, the next hard expiry, the next waiter deadline and the
    /// next idle deadline.
    /// `None` while stopped. O(1): deadlines are kept in indexed heaps.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// # use std::time::Duration;
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.poll_timeout(), None);
    /// core.start(now, 0).unwrap();
    /// assert_eq!(core.poll_timeout(), Some(now + Duration::from_secs(120)));
    /// ```
    #[inline] // drivers compare it after every input
    #[must_use = "re-arm the timer with it"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // No check while stopped or closing: then only hard expiries are
        // left (none while stopped), and no waiter.
        let Some(mut next) = self.next_check else {
            return self.expiries.peek().map(|(at, _)| at);
        };
        if let Some((at, _)) = self.expiries.peek() {
            next = next.min(at);
        }
        if let Some(at) = self.waiters.next_deadline() {
            next = next.min(at);
        }
        if let Some(at) = self.next_idle_deadline() {
            next = next.min(at);
        }
        Some(next)
    }

    // ---- internals -------------------------------------------------------

    fn request_check(&mut self, now: Instant) {
        if let Some(at) = &mut self.next_check {
            *at = (*at).min(now);
            self.check_requests += 1;
        }
    }

    /// With a size provider, a grant or a lease ending makes a check due,
    /// so that the pools follow the signal.
    #[inline]
    pub(super) fn request_check_on_lease_change(&mut self) {
        if self.config.has_size_provider {
            if let Some(now) = self.clock {
                self.request_check(now);
            }
        }
    }

    /// A check: up to the desired count, and down to it when the signal
    /// `fell` (or with no idle timeout). Idle pools above a desired count
    /// that did not fall were left by demand: they keep their idle
    /// deadlines and age out, so that the checks a size provider asks for
    /// after every grant and release do not churn them.
    fn check(&mut self, now: Instant, fell: bool) {
        self.replacing_paused = false;
        let desired = self.desired;
        self.grow_to(desired);
        if fell || self.config.idle_timeout.is_zero() {
            while self.live_count() > desired {
                let Some(pool) = self.take_oldest_available() else { break };
                self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Shrink });
            }
        }
        if self.live_count() <= desired {
            // What is left available is within the desired count: no deadline.
            self.clear_idle_deadlines();
        }
        self.serve_waiters(now);
        // What a fall could not shut down (leased pools) is shut down as
        // they are released; a check without a fall only lowers the debt
        // to the surplus left.
        let surplus = self.live_count().saturating_sub(desired);
        self.shrink_owed = if fell { surplus } else { self.shrink_owed.min(surplus) };
    }
}
