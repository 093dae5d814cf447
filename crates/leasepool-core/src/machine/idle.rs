//! The available pools of [`Core`] and their idle deadlines: a pool that
//! becomes available above the desired count is kept for `idle_timeout`
//! (so that a steady load just above the count does not create and shut
//! down a pool per lease) and shut down if nobody leases it by then.

use std::time::Instant;

use super::{Available, Core};
use crate::ids::PoolId;
use crate::types::{Action, ShutdownReason};

impl Core {
    /// Takes the most recently returned available pool, forgetting its
    /// idle deadline: a leased pool has none. Its worker threads ran last,
    /// so they are the quickest to wake (and warm in cache), and the pools
    /// returned earlier stay idle long enough for their idle deadlines to
    /// shut the surplus down.
    #[inline]
    pub(super) fn take_available(&mut self) -> Option<PoolId> {
        let entry = self.available.pop_back()?;
        self.forget_idle(entry);
        Some(entry.pool)
    }

    /// Takes the least recently returned available pool (what a shrink
    /// shuts down first: it has been idle longest), forgetting its idle
    /// deadline.
    pub(super) fn take_oldest_available(&mut self) -> Option<PoolId> {
        let entry = self.available.pop_front()?;
        self.forget_idle(entry);
        Some(entry.pool)
    }

    /// Makes `pool` available. Above the desired count (this run's other
    /// pools already make it) it carries an idle deadline, `idle_timeout`
    /// from `now`; at or below it, none. Callers with a zero
    /// `idle_timeout` shut a surplus pool down instead, except a pool just
    /// created, which is kept until the next check as before.
    pub(super) fn make_available(&mut self, pool: PoolId, now: Instant) {
        let timeout = self.config.idle_timeout;
        let idle_key = (!timeout.is_zero() && self.live_count() >= self.desired).then(|| {
            let key = self.idle.insert(pool);
            self.idle_deadlines.push(key, now + timeout);
            key
        });
        self.available.push_back(Available { pool, idle_key });
    }

    /// Removes an available pool by id (it broke); false if it is not
    /// available.
    pub(super) fn remove_available(&mut self, pool: PoolId) -> bool {
        let Some(i) = self.available.iter().position(|a| a.pool == pool) else { return false };
        let entry = self.available.remove(i).expect("found at i");
        self.forget_idle(entry);
        true
    }

    /// Drops every idle deadline: after a check's shrink, what is still
    /// available is at or below the desired count (or nothing is); and on
    /// a stop.
    pub(super) fn clear_idle_deadlines(&mut self) {
        if self.idle.is_empty() {
            return;
        }
        for entry in self.available.iter_mut() {
            entry.idle_key = None;
        }
        self.idle.clear();
        self.idle_deadlines.clear();
    }

    /// The earliest idle deadline.
    #[inline]
    pub(super) fn next_idle_deadline(&self) -> Option<Instant> {
        self.idle_deadlines.peek().map(|(at, _)| at)
    }

    /// Shuts down the pools whose idle deadline is at or before `now`
    /// while this run has more pools than desired
    /// ([`ShutdownReason::Idle`]); the others due lose their deadline
    /// (they are within the count now). Earliest deadline first.
    #[inline] // the usual case, nothing due, costs one heap peek
    pub(super) fn time_out_idle(&mut self, now: Instant) {
        while let Some((_, key)) = self.idle_deadlines.peek().filter(|&(at, _)| at <= now) {
            self.idle_deadlines.remove(key);
            let pool = self.idle.remove(key);
            // Bounded by `max_pools`, and once per pool that times out.
            let i = self.available.iter().position(|a| a.pool == pool).expect("an idle pool is available");
            if self.live_count() > self.desired {
                self.available.remove(i);
                self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Idle });
            } else {
                self.available[i].idle_key = None;
            }
        }
    }

    fn forget_idle(&mut self, entry: Available) {
        if let Some(key) = entry.idle_key {
            self.idle.remove(key);
            self.idle_deadlines.remove(key);
        }
    }
}
