//! Time and sizing inputs: the clock moving on, the driver's timer firing
//! (the timer rule: `handle_timeout`, then a due check with the units read
//! for it), jumps past a hard expiry and scale changes.

use std::time::{Duration, Instant};

use rand::{Rng, RngCore};

use super::{Ctx, Sim, pick};

impl<R: RngCore> Sim<R> {
    pub(super) fn advance_small(&mut self) {
        self.now += Duration::from_millis(self.rng.random_range(0..=2_000));
        self.check_quiet();
    }

    /// The driver's timer fires: on time (jump to `poll_timeout`), late, or
    /// early (a spurious wake-up).
    pub(super) fn fire_timer(&mut self) {
        let Some(at) = self.core.poll_timeout() else {
            ensure!(!self.running, "running core with no timeout");
            let now = self.now;
            self.core.handle_timeout(now);
            ensure!(self.core.check_due(now).is_none(), "stopped core has a check due");
            return self.check_quiet();
        };
        match self.rng.random_range(0..10) {
            0..6 => self.now = self.now.max(at),
            6..8 => self.now = self.now.max(at) + Duration::from_millis(self.rng.random_range(0..=5_000)),
            _ => {} // possibly early
        }
        self.handle_timeout();
    }

    /// The timer rule: `handle_timeout`, then a check if `check_due` says
    /// one is due, with the units read for it (sometimes a notification
    /// arrives while they are read: the ticket is stale).
    pub(super) fn handle_timeout(&mut self) {
        let now = self.now;
        self.core.handle_timeout(now);
        let mut ctx = Ctx { timer_ran: true, ..Ctx::default() };
        let idle_before = self.idle_deadlines.len();
        self.drain(&mut ctx);
        let desired = self.core.desired_executor_count();
        if self.idle_deadlines.len() < idle_before {
            // Idle timeouts never shrink below the desired count.
            ensure!(
                self.run_pools() >= desired,
                "idle timeouts left {} pools, desired {desired}",
                self.run_pools()
            );
        }
        // No idle pool past its deadline survives while this run is above
        // the desired count; those that do are within it and lose their
        // deadline, as in the core.
        let due: Vec<_> = self.idle_deadlines.iter().filter(|&(_, &at)| at <= now).map(|(&p, _)| p).collect();
        if !due.is_empty() {
            ensure!(
                self.run_pools() <= desired,
                "{due:?} past their idle deadline with {} pools, desired {desired}",
                self.run_pools()
            );
            for pool in due {
                self.idle_deadlines.remove(&pool);
            }
        }
        if self.running {
            self.ensure_nothing_expired();
            ensure!(
                self.queue.iter().all(|w| w.deadline.is_none_or(|d| d > now)),
                "a waiter past its deadline survived handle_timeout"
            );
        }
        let due_model = self.running && self.next_check.is_some_and(|c| c <= now);
        let due = self.core.check_due(now);
        ensure!(due.is_some() == due_model, "check due: core {:?}, model {due_model}", due.is_some());
        let Some(due) = due else { return };
        let ticket = self.check_requests;
        let units = self.units;
        if self.rng.random_ratio(1, 8) {
            // The signal changes while the size provider is read.
            self.units = self.random_units();
            self.core.notify_scale_changed(now);
            self.check_requested();
        }
        let desired_before = self.core.desired_executor_count();
        self.core.handle_units(now, due, units);
        self.totals.checks += 1;
        // A fall of the signal (or no idle timeout) shrinks idle pools at
        // once; a surplus left by demand ages out on its idle deadlines.
        let shrinks =
            self.core.desired_executor_count() < desired_before || self.config.idle_timeout().is_zero();
        ensure!(self.core.units() == units, "check did not record units");
        let mut ctx = Ctx { check_ran: true, ..Ctx::default() };
        self.drain(&mut ctx);
        // A fall sets the shrink debt to the surplus it could not shut down
        // (leased pools); any check lowers it to the surplus left.
        let surplus = (self.core.total_count() - self.disowned.len())
            .saturating_sub(self.core.desired_executor_count());
        let fell = self.core.desired_executor_count() < desired_before;
        self.shrink_owed = if fell { surplus } else { self.shrink_owed.min(surplus) };
        // What a shrinking check leaves idle is within the desired count:
        // no deadline; so is anything once the total is within it.
        if shrinks || self.core.total_count() - self.disowned.len() <= self.core.desired_executor_count() {
            self.idle_deadlines.clear();
        }
        let stale = self.check_requests != ticket;
        self.next_check = Some(if stale { now } else { now + self.config.check_interval() });
        if stale {
            self.totals.stale_checks += 1;
        }
        self.short_of_min = false;
        self.paused = false;
        // This run's pools (disowned creations only wait to be shut down).
        let total = self.core.total_count() - self.disowned.len();
        let desired = self.core.desired_executor_count();
        let room = self.config.max_pools() - self.disowned.len();
        ensure!(total >= desired.min(room), "after a check total {total} < desired {desired} (room {room})");
        ensure!(
            !shrinks || total <= desired || self.core.available_count() == 0,
            "after a shrinking check idle pools remain above desired"
        );
        if !stale {
            // The ticket is used up: handing it in again does nothing.
            self.core.handle_units(now, due, units.wrapping_add(1));
            ensure!(self.core.units() == units, "a used ticket ran a check again");
            self.check_quiet();
        }
    }

    pub(super) fn jump_past_expiry(&mut self) {
        let hard: Vec<Instant> = self.leases.values().map(|l| l.grant.hard_expires_at()).collect();
        if let Some(at) = pick(&mut self.rng, &hard) {
            self.now = self.now.max(at) + Duration::from_millis(self.rng.random_range(0..=1_000));
        }
        self.check_quiet();
    }

    pub(super) fn random_units(&mut self) -> u64 {
        let span = self.config.units_per_pool() * (self.config.max_pools() as u64 + 2);
        match self.rng.random_range(0..10) {
            0 => 0,
            1 => u64::MAX,
            _ => self.rng.random_range(0..=span),
        }
    }

    pub(super) fn scale_change(&mut self) {
        self.units = self.random_units();
        self.core.notify_scale_changed(self.now);
        if self.running {
            self.check_requested();
            ensure!(
                self.core.poll_timeout().is_some_and(|t| t <= self.now),
                "scale change did not make a check due"
            );
        }
        self.check_quiet();
        if self.rng.random_bool(0.5) {
            self.handle_timeout();
        }
    }
}
