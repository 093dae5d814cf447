//! The invariants checked after every step (`check_invariants`), and the
//! smaller checks the steps make: no action without an input, no lease
//! left past its hard expiry.

use std::collections::HashSet;

use rand::RngCore;

use super::Sim;

impl<R: RngCore> Sim<R> {
    // ---- invariants, after every step ---------------------------------------

    /// A step that performs no input must leave no action behind.
    pub(super) fn check_quiet(&mut self) {
        ensure!(self.core.poll_action().is_none(), "an action appeared without an input");
    }

    pub(super) fn ensure_nothing_expired(&self) {
        for (id, l) in &self.leases {
            ensure!(self.now < l.grant.hard_expires_at(), "{id:?} is past hard expiry but not revoked");
        }
    }

    pub(super) fn check_invariants(&mut self) {
        self.totals.invariant_checks += 1;
        ensure!(self.core.poll_action().is_none(), "undrained actions after a step");
        let core = &self.core;
        let max = self.config.max_pools();
        let (available, leased, creating, total) =
            (core.available_count(), core.leased_count(), core.creating_count(), core.total_count());
        ensure!(
            core.is_running() == self.running,
            "running flag: core {}, model {}",
            core.is_running(),
            self.running
        );
        ensure!(
            total == available + leased + creating,
            "total {total} != {available} + {leased} + {creating}"
        );
        ensure!(total <= max, "total {total} > max_pools {max}");
        ensure!(
            creating == self.in_flight.len() + self.disowned.len(),
            "core creating {creating}, driver has {} + {} disowned in flight",
            self.in_flight.len(),
            self.disowned.len()
        );
        ensure!(
            self.live.len() + self.in_flight.len() + self.disowned.len() <= max,
            "more than max_pools pools exist or are being created"
        );
        ensure!(
            self.live.len() == available + leased,
            "driver has {} live pools, core counts {available} + {leased}",
            self.live.len()
        );
        ensure!(
            self.leases.len() == leased,
            "driver holds {} leases, core counts {leased}",
            self.leases.len()
        );
        ensure!(
            core.desired_executor_count() == self.config.desired_executor_count(core.units()),
            "desired_executor_count off the rule"
        );

        // Leases: the same set, on distinct live pools, with the same state.
        let stats = core.stats(self.now);
        ensure!(stats.creating == creating && stats.total == total, "stats counts");
        ensure!(stats.leases.len() == self.leases.len(), "stats lease count");
        let mut pools = HashSet::new();
        for (s, (id, m)) in stats.leases.iter().zip(&self.leases) {
            ensure!(s.id == *id, "lease {:?} in core, {id:?} in model", s.id);
            ensure!(s.pool == m.grant.pool, "{id:?} on {:?} in core, {:?} in model", s.pool, m.grant.pool);
            ensure!(self.live.contains(&s.pool), "{id:?} leases {:?}, which is not live", s.pool);
            ensure!(pools.insert(s.pool), "{:?} leased twice", s.pool);
            ensure!(s.jobs == m.jobs && s.draining == m.draining, "{id:?} jobs/draining differ");
            ensure!(s.owner == m.owner, "{id:?} owner differs");
            ensure!(s.leased_at == m.grant.leased_at && s.lease_for == m.grant.lease_for, "timing");
            ensure!(
                s.hard_remaining == m.grant.hard_expires_at().saturating_duration_since(self.now)
                    && s.soft_remaining == m.grant.soft_expires_at().saturating_duration_since(self.now),
                "{id:?} remaining times"
            );
        }
        // So available = live - leased, and no pool is both.
        ensure!(self.live.len() - pools.len() == available, "available pools differ");
        ensure!(
            self.available.len() == available,
            "driver sees {} idle pools, core {available}",
            self.available.len()
        );
        ensure!(
            self.available.iter().all(|p| self.live.contains(p) && !pools.contains(p)),
            "an idle pool is dead or leased"
        );
        ensure!(
            self.idle_deadlines.keys().all(|p| self.available.contains(p)),
            "an idle deadline on a pool that is not idle"
        );
        ensure!(
            self.config.idle_timeout().is_zero() || self.idle_deadlines.is_empty() || self.running,
            "idle deadlines on a stopped core"
        );

        // Waiters: the same queue in the same order, only when nothing is
        // free, and each with a pool coming unless max_pools is reached.
        ensure!(
            core.waiting_count() == self.queue.len(),
            "waiting {} vs {}",
            core.waiting_count(),
            self.queue.len()
        );
        ensure!(core.waiters().eq(self.queue.iter().map(|w| w.id)), "waiter order differs");
        if !self.queue.is_empty() {
            ensure!(available == 0, "waiters wait while a pool is free ({available})");
            ensure!(
                self.queue.len() <= creating || total == max,
                "{} waiters, {creating} creations in flight, total {total} < max {max}",
                self.queue.len()
            );
        }

        // The desired count (at least the minimum) holds: a pool that leaves is
        // replaced at once, except after a failed creation or a second broken
        // pool, until the next check or the next revocation or finalise.
        if self.running && !self.short_of_min {
            ensure!(total >= self.config.min_pools(), "total {total} below min_pools");
            let desired = core.desired_executor_count();
            ensure!(total >= desired, "total {total} below the desired {desired}");
        }

        // The timer: the earliest of next check, next hard expiry, next deadline.
        if self.running {
            let expiry = self.leases.values().map(|l| l.grant.hard_expires_at()).min();
            let deadline = self.queue.iter().filter_map(|w| w.deadline).min();
            let idle = self.idle_deadlines.values().min().copied();
            let want = [self.next_check, expiry, deadline, idle].into_iter().flatten().min();
            ensure!(core.poll_timeout() == want, "poll_timeout {:?}, model {want:?}", core.poll_timeout());
        }
        if !self.running {
            ensure!(core.poll_timeout().is_none(), "stopped core has a timeout");
            // Only creations it disowned, until they are confirmed.
            ensure!(
                total == self.disowned.len() && self.queue.is_empty(),
                "stopped core holds pools or waiters"
            );
        }
        // Every lease granted has ended exactly once, or is still held.
        ensure!(
            self.ever_leases.len() == self.ended_leases.len() + self.leases.len(),
            "{} leases granted, {} ended, {} held",
            self.ever_leases.len(),
            self.ended_leases.len(),
            self.leases.len()
        );
        // The counters agree with what the driver saw: every grant it
        // received, every pool it holds, never more ends than it saw.
        let c = *core.counters();
        ensure!(stats.counters == c, "stats and counters differ");
        ensure!(
            c.leases_granted_at_once + c.leases_granted_after_waiting == self.ever_leases.len() as u64,
            "{c:?} counts other grants than the {} the driver received",
            self.ever_leases.len()
        );
        ensure!(
            c.pools_created - c.pools_shut_down == self.live.len() as u64,
            "{c:?}: created minus shut down is not the {} live pools",
            self.live.len()
        );
        ensure!(
            c.leases_released + c.leases_revoked <= self.ended_leases.len() as u64,
            "{c:?}: more leases released or revoked than the {} ended",
            self.ended_leases.len()
        );
        ensure!(c.pools_broken <= c.pools_shut_down, "{c:?}: a broken pool not shut down");
    }
}
