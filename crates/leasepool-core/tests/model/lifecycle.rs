//! Stop and start (including an all-or-nothing start that fails), a
//! graceful close and its wind-down, inputs naming things that no longer
//! exist, and quiescing: everything settled and released, then exactly the
//! desired pools, all idle.

use std::time::Duration;

use leasepool_core::{
    Acquire, AcquireError, Action, LeaseEnd, LeaseError, LeaseId, PoolError, PoolFate, PoolId, Released,
    RunError, ShutdownReason, WaiterError,
};
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
            self.shrink_owed = 0;
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

    /// A graceful shutdown: `close`, then random inputs while the leases
    /// wind down, then `stop`, once drained or at a random "deadline". Checks
    /// that every waiter fails with `Stopped` at the close, that no pool is
    /// granted or created after it, that every acquire is refused with
    /// `Stopped`, that every pool freed is shut down, and that the stop
    /// after a drained close has nothing left to cut.
    pub(super) fn close(&mut self) {
        let was = self.running;
        let result = self.core.close(self.now);
        ensure!(result == if was { Ok(()) } else { Err(RunError::NotRunning) }, "close gave {result:?}");
        if !was {
            ensure!(self.core.poll_action().is_none(), "a refused close acted");
            return;
        }
        self.totals.closes += 1;
        // Every waiter fails, in order; every idle pool shuts down.
        let waiters: Vec<_> = self.queue.drain(..).map(|w| w.id).collect();
        let idle: Vec<PoolId> = self.available.drain(..).collect();
        for w in &waiters {
            let a = self.core.poll_action();
            ensure!(
                a == Some(Action::FailWaiter { waiter: *w, error: AcquireError::Stopped }),
                "close: {w:?} not failed Stopped in order: {a:?}"
            );
            ensure!(self.ended_waiters.insert(*w), "{w:?} ended twice");
            self.stale_waiters.push(*w);
            self.totals.waiters_failed_on_stop += 1;
        }
        for pool in &idle {
            let a = self.core.poll_action();
            ensure!(
                a == Some(Action::ShutdownPool { pool: *pool, reason: ShutdownReason::Stopped }),
                "close: idle {pool:?} not shut down in order: {a:?}"
            );
            ensure!(self.live.remove(pool), "close shut down {pool:?}, not live");
            // Shut down with it: its idle deadline, if it had one.
            self.idle_deadlines.remove(pool);
        }
        ensure!(self.core.poll_action().is_none(), "close did more than fail waiters and shut idle pools");
        // This run's creations are disowned, as by a stop.
        self.disowned.append(&mut self.in_flight);
        self.next_check = None;
        let deadline = self.now + Duration::from_millis(self.rng.random_range(0..=90_000));
        loop {
            self.check_closing();
            if self.leases.is_empty() {
                ensure!(self.core.is_drained(), "no lease left but not drained");
                self.totals.closes_drained += 1;
                break;
            }
            if self.now >= deadline || self.rng.random_ratio(1, 200) {
                break; // the deadline: the stop cuts what is left
            }
            self.closing_step();
        }
        let drained = self.core.is_drained();
        let pending = self.leases.len();
        self.stop();
        ensure!(drained == (pending == 0), "is_drained {drained} with {pending} leases");
    }

    /// One random input while closing, its actions checked.
    fn closing_step(&mut self) {
        let now = self.now;
        let ids: Vec<LeaseId> = self.leases.keys().copied().collect();
        let id = pick(&mut self.rng, &ids).expect("a lease while winding down");
        match self.rng.random_range(0..10) {
            0 => {
                let r = self.core.acquire(now, Acquire::wait());
                ensure!(r == Err(AcquireError::Stopped), "acquire while closing: {r:?}");
                let r = self.core.acquire(now, Acquire::no_wait());
                ensure!(r == Err(AcquireError::Stopped), "try-acquire while closing: {r:?}");
                self.core.notify_scale_changed(now);
                ensure!(self.core.check_due(now).is_none(), "a check due while closing");
                self.drain_closing(None);
            }
            1 | 2 => {
                let (jobs, draining, hard) = {
                    let l = &self.leases[&id];
                    (l.jobs, l.draining, l.grant.hard_expires_at())
                };
                let r = self.core.release(now, id);
                if draining {
                    ensure!(r == Ok(Released::Draining { jobs }), "release of a draining lease: {r:?}");
                    self.drain_closing(None);
                } else if now >= hard {
                    ensure!(r == Ok(Released::Ended), "late release: {r:?}");
                    self.drain_closing(Some((id, LeaseEnd::Expired)));
                } else if jobs > 0 {
                    ensure!(r == Ok(Released::Draining { jobs }), "busy release: {r:?}");
                    self.leases.get_mut(&id).expect("live").draining = true;
                    self.drain_closing(None);
                } else {
                    ensure!(r == Ok(Released::Ended), "idle release: {r:?}");
                    self.drain_closing(Some((id, LeaseEnd::Released(PoolFate::ShutDown))));
                }
            }
            3 | 4 => {
                let (draining, hard, pool) = {
                    let l = &self.leases[&id];
                    (l.draining, l.grant.hard_expires_at(), l.grant.pool)
                };
                let r = self.core.job_submitted(now, id);
                if draining {
                    ensure!(r == Err(LeaseError::Released), "submit to a draining lease: {r:?}");
                    self.drain_closing(None);
                } else if now >= hard {
                    ensure!(r == Err(LeaseError::Expired), "late submit: {r:?}");
                    self.drain_closing(Some((id, LeaseEnd::Expired)));
                } else {
                    ensure!(r == Ok(pool), "submit while closing: {r:?}");
                    self.leases.get_mut(&id).expect("live").jobs += 1;
                    self.drain_closing(None);
                }
            }
            5 | 6 => {
                let (jobs, draining, hard) = {
                    let l = &self.leases[&id];
                    (l.jobs, l.draining, l.grant.hard_expires_at())
                };
                if jobs == 0 {
                    if let Some(lease) = self.orphan_jobs.pop() {
                        let r = self.core.job_finished(now, lease);
                        ensure!(r == Err(LeaseError::Ended), "orphan job_finished: {r:?}");
                    }
                    return self.drain_closing(None);
                }
                ensure!(self.core.job_finished(now, id) == Ok(()), "job_finished while closing");
                self.leases.get_mut(&id).expect("live").jobs -= 1;
                // A draining lease ends with its last job (as expired, if late).
                let end =
                    if now >= hard { LeaseEnd::Expired } else { LeaseEnd::Released(PoolFate::ShutDown) };
                let ends = draining && jobs == 1;
                self.drain_closing(ends.then_some((id, end)));
            }
            7 => {
                // The driver confirms (or fails) a disowned creation.
                if let Some(pool) = self.disowned.pop() {
                    if self.rng.random_bool(0.5) {
                        self.core.pool_created(now, pool);
                        let a = self.core.poll_action();
                        ensure!(
                            a == Some(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped }),
                            "a creation confirmed while closing gave {a:?}"
                        );
                    } else {
                        self.core.pool_create_failed(now, pool);
                    }
                }
                self.drain_closing(None);
            }
            _ => {
                // Time passes; the timer fires at the core's next timeout.
                let next = self.core.poll_timeout();
                let hard = self.leases.values().map(|l| l.grant.hard_expires_at()).min();
                ensure!(next == hard, "closing: poll_timeout {next:?}, earliest hard expiry {hard:?}");
                self.now += Duration::from_millis(self.rng.random_range(0..=20_000));
                self.core.handle_timeout(self.now);
                let due: Vec<LeaseId> = self
                    .leases
                    .iter()
                    .filter(|(_, l)| l.grant.hard_expires_at() <= self.now)
                    .map(|(id, _)| *id)
                    .collect();
                let mut ends = 0;
                while let Some(a) = self.core.poll_action() {
                    match a {
                        Action::LeaseEnded { lease, pool, end: LeaseEnd::Expired, .. } => {
                            ensure!(due.contains(&lease), "{lease:?} revoked before its hard expiry");
                            let b = self.core.poll_action();
                            ensure!(
                                b == Some(Action::ShutdownPool { pool, reason: ShutdownReason::Expired }),
                                "revoked {lease:?}: then {b:?}"
                            );
                            self.end_closing_lease(lease, pool);
                            ends += 1;
                        }
                        other => panic!("invariant violated: timer while closing gave {other:?}"),
                    }
                }
                ensure!(ends == due.len(), "{} leases due, {ends} revoked", due.len());
            }
        }
    }

    /// Drains the actions of one input while closing: at most the end of
    /// `expect` (its `LeaseEnded`, then its pool shut down), nothing else.
    fn drain_closing(&mut self, expect: Option<(LeaseId, LeaseEnd)>) {
        if let Some((lease, end)) = expect {
            let pool = self.leases[&lease].grant.pool;
            let owner = self.leases[&lease].owner.clone();
            let a = self.core.poll_action();
            ensure!(
                a == Some(Action::LeaseEnded { lease, pool, owner, end }),
                "closing: {lease:?} should end {end:?}, got {a:?}"
            );
            let reason =
                if end == LeaseEnd::Expired { ShutdownReason::Expired } else { ShutdownReason::Stopped };
            let b = self.core.poll_action();
            ensure!(
                b == Some(Action::ShutdownPool { pool, reason }),
                "closing: {lease:?}'s pool not shut down ({reason:?}) but {b:?}"
            );
            self.end_closing_lease(lease, pool);
        }
        let a = self.core.poll_action();
        ensure!(a.is_none(), "closing: unexpected {a:?} (no grant, creation or hand-off after close)");
    }

    fn end_closing_lease(&mut self, lease: LeaseId, pool: PoolId) {
        ensure!(self.ended_leases.insert(lease), "{lease:?} ended twice");
        ensure!(self.live.remove(&pool), "{pool:?} shut down, not live");
        self.totals.lease_ends += 1;
        self.forget_lease(lease);
    }

    /// What holds at every step of a close: no waiter, no idle pool, no
    /// creation of this run, no check; the core's leases are the model's.
    fn check_closing(&mut self) {
        let c = &self.core;
        ensure!(c.is_running() && c.is_closing(), "closing core not running and closing");
        ensure!(c.waiting_count() == 0 && self.queue.is_empty(), "a waiter while closing");
        ensure!(c.available_count() == 0, "an idle pool while closing");
        ensure!(
            c.leased_count() == self.leases.len(),
            "core has {} leases, model {}",
            c.leased_count(),
            self.leases.len()
        );
        ensure!(c.creating_count() == self.disowned.len(), "creations while closing");
        ensure!(self.live.len() == self.leases.len(), "live pools not all leased while closing");
        ensure!(c.check_due(self.now).is_none(), "a check due while closing");
        ensure!(c.is_drained() == self.leases.is_empty(), "is_drained disagrees");
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
        // A surplus the check left (the desired count did not fall) ages
        // out: once its idle deadlines pass, the total is the desired count.
        if self.core.total_count() > desired {
            self.now += self.config.idle_timeout();
            self.handle_timeout();
            while self.core.check_due(self.now).is_some() {
                self.handle_timeout();
                self.settle_all();
            }
        }
        // A check that came due while the surplus aged out may have read
        // a signal that changed meanwhile (`handle_timeout` draws one, one
        // time in eight): the total follows the last units read.
        let desired = self.config.desired_executor_count(self.units);
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
