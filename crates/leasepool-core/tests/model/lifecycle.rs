//! Stop and start (including an all-or-nothing start that fails), inputs
//! naming things that no longer exist, and quiescing: everything settled
//! and released, then exactly the desired pools, all idle.

use leasepool_core::{LeaseError, LeaseId, PoolError, PoolId, WaiterError};
use rand::{Rng, RngCore};

use super::{Ctx, Sim, pick};

impl<R: RngCore> Sim<R> {
    pub(super) fn stop(&mut self) {
        let was = self.running;
        let mut ctx = Ctx { stopping: true, ..Ctx::default() };
        let result = self.core.stop(self.now);
        ensure!(result.is_ok() == was, "stop gave {result:?} while running={was}");
        self.running = false;
        self.next_check = None;
        self.drain(&mut ctx);
        // Creations in flight are disowned: shut down once confirmed.
        self.disowned.append(&mut self.in_flight);
        if was {
            self.totals.stops += 1;
        }
        ensure!(
            self.live.is_empty() && self.leases.is_empty() && self.queue.is_empty(),
            "stop left state behind"
        );
    }

    pub(super) fn start(&mut self) {
        let was = self.running;
        let units = self.units;
        let result = self.core.start(self.now, units);
        ensure!(result.is_ok() != was, "start gave {result:?} while running={was}");
        let mut ctx = Ctx::default();
        if result.is_ok() {
            self.running = true;
            self.ever_started = true;
            self.paused = false;
            self.short_of_min = false;
            self.uncovered_ok = false;
            self.next_check = Some(self.now + self.config.check_interval());
        }
        self.drain(&mut ctx);
        if result.is_err() {
            return;
        }
        // Up to the desired count, within the room that creations disowned
        // by an earlier stop still hold under max_pools.
        let room = self.config.max_pools() - self.disowned.len();
        let want = self.config.desired_executor_count(units).min(room);
        ensure!(
            self.in_flight.len() == want && self.core.total_count() == want + self.disowned.len(),
            "start asked for {} pools, desired {} (room {room})",
            self.in_flight.len(),
            self.config.desired_executor_count(units)
        );
        if self.rng.random_bool(0.5) {
            // An all-or-nothing driver: it performs the start's creations at
            // once, and stops if one fails.
            let mut failed = false;
            while let Some(pool) = self.in_flight.pop() {
                if self.fail_creates && self.rng.random_ratio(1, 40) {
                    self.in_flight.push(pool);
                    failed = true;
                    break;
                }
                self.core.pool_created(self.now, pool);
                self.live.insert(pool);
                self.available.push_back(pool);
                self.totals.creations_confirmed += 1;
                self.drain(&mut Ctx::default());
            }
            if failed {
                let pool = self.in_flight.pop().expect("the failed creation");
                self.core.pool_create_failed(self.now, pool);
                self.totals.create_failures += 1;
                self.totals.start_failures += 1;
                self.check_quiet();
                self.stop();
                ensure!(
                    !self.core.is_running() && self.core.total_count() == self.disowned.len(),
                    "failed start left pools"
                );
            }
        }
    }

    /// Inputs naming things that no longer exist.
    pub(super) fn stale_inputs(&mut self) {
        let now = self.now;
        if let Some(lease) = pick(&mut self.rng, &self.stale_leases.clone()) {
            if !self.leases.contains_key(&lease) {
                ensure!(self.core.release(now, lease) == Err(LeaseError::Ended), "stale release");
                ensure!(self.core.release_busy(now, lease) == Err(LeaseError::Ended), "stale release_busy");
                ensure!(self.core.job_submitted(now, lease) == Err(LeaseError::Ended), "stale submit");
                ensure!(self.core.job_finished(now, lease) == Err(LeaseError::Ended), "stale job_finished");
                ensure!(self.core.lease_owner(lease).is_none(), "stale lease_owner");
            }
        }
        if let Some(w) = pick(&mut self.rng, &self.stale_waiters.clone()) {
            ensure!(
                self.core.cancel_waiter(now, w) == Err(WaiterError::Ended),
                "stale cancel_waiter accepted"
            );
        }
        // A pool shut down (or never confirmed) is not live.
        let dead: Vec<PoolId> =
            self.ever_pools.iter().filter(|p| !self.live.contains(p)).copied().take(8).collect();
        if let Some(pool) = pick(&mut self.rng, &dead) {
            ensure!(self.core.pool_broken(now, pool) == Err(PoolError::Unknown), "dead pool_broken accepted");
        }
        self.check_quiet();
    }

    /// Settles every creation, releases everything, settles the scale and
    /// runs one check: then exactly `desired` pools exist and all are idle.
    pub(super) fn quiesce(&mut self) {
        self.totals.quiescences += 1;
        self.fail_creates = false;
        if !self.running {
            self.start();
        }
        self.settle_all();
        while let Some(w) = self.queue.pop_front() {
            ensure!(self.core.cancel_waiter(self.now, w.id) == Ok(()), "quiesce: cancel {:?}", w.id);
            ensure!(self.ended_waiters.insert(w.id), "{:?} ended twice", w.id);
        }
        let ids: Vec<LeaseId> = self.leases.keys().copied().collect();
        for id in ids {
            if !self.leases.contains_key(&id) {
                continue; // revoked meanwhile
            }
            if self.rng.random_bool(0.5) {
                while self.leases.get(&id).is_some_and(|l| l.jobs > 0) {
                    self.finish_one(id);
                }
                if self.leases.contains_key(&id) {
                    self.release_lease(id, false); // not already ended by its last job
                }
            } else {
                self.release_lease(id, false);
                while self.leases.contains_key(&id) {
                    self.finish_one(id);
                }
            }
            self.check_invariants();
        }
        for lease in std::mem::take(&mut self.orphan_jobs) {
            ensure!(
                self.core.job_finished(self.now, lease) == Err(LeaseError::Ended),
                "orphan job_finished did something"
            );
        }
        ensure!(self.leases.is_empty() && self.queue.is_empty(), "quiesce left leases or waiters");
        // Creations asked for by the releases are confirmed first: a check
        // shrinks idle pools only, never a creation in flight.
        self.settle_all();
        self.units = self.random_units();
        self.core.notify_scale_changed(self.now);
        self.check_requested();
        // (A check whose units went stale runs again at once: settle what
        // the first one asked for before the next.)
        while self.core.check_due(self.now).is_some() {
            self.handle_timeout();
            self.settle_all();
        }
        let desired = self.config.desired_executor_count(self.units);
        ensure!(
            self.core.desired_executor_count() == desired,
            "desired {} != {desired}",
            self.core.desired_executor_count()
        );
        ensure!(
            self.core.total_count() == desired,
            "quiescent total {} != desired {desired}",
            self.core.total_count()
        );
        ensure!(self.core.available_count() == self.core.total_count(), "quiescent pools not all idle");
        ensure!(self.live.len() == desired, "driver sees {} live pools, desired {desired}", self.live.len());
        ensure!(
            self.ever_leases.len() == self.ended_leases.len(),
            "{} leases granted, {} ended",
            self.ever_leases.len(),
            self.ended_leases.len()
        );
        self.fail_creates = true;
    }
}
