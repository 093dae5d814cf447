//! The model as a driver: performs every action the core asks for
//! (`drain`), checks each against what the step expects, and settles pool
//! creations (confirmed or failed after a random delay).

use std::sync::Arc;

use leasepool_core::{
    AcquireError, Action, Grant, LeaseEnd, LeaseId, PoolFate, PoolId, ShutdownReason, WaiterId,
};
use rand::{Rng, RngCore};

use super::{Ctx, Holder, ModelLease, Sim};

impl<R: RngCore> Sim<R> {
    // ---- the driver: perform every action ----------------------------------

    pub(super) fn drain(&mut self, ctx: &mut Ctx) {
        while let Some(action) = self.core.poll_action() {
            self.totals.actions += 1;
            match action {
                Action::CreatePool(pool) => self.on_create(pool, ctx),
                Action::ShutdownPool { pool, reason } => self.on_shutdown(pool, reason, ctx),
                Action::Grant { waiter, grant } => self.on_grant(waiter, grant, ctx),
                Action::FailWaiter { waiter, error } => self.on_fail(waiter, error, ctx),
                Action::LeaseEnded { lease, pool, owner, end } => {
                    self.on_lease_ended(lease, pool, owner, end, ctx)
                }
            }
        }
        if let Some((lease, end)) = ctx.expect_end {
            ensure!(ctx.end_seen, "{lease:?} should have ended {end:?}, no LeaseEnded seen");
        }
        ensure!(
            ctx.retiring.is_empty(),
            "ended leases' pools neither shut down nor reused: {:?}",
            ctx.retiring
        );
        ensure!(ctx.handed_off.is_none(), "a lease ended HandedOff without a grant of its pool");
        if let Some(pool) = ctx.broken {
            ensure!(ctx.broken_seen, "broken {pool:?} was not shut down");
        }
        // A revocation or a finalise restores the desired count even under
        // the pause (only a pool lost to breaking waits for the check).
        if (ctx.revoked || ctx.finalised) && ctx.create_failed.is_none() && ctx.broken.is_none() {
            self.short_of_min = false;
        }
        // A pool that became idle above the desired count (this run's other
        // pools already made it) times out `idle_timeout` later; at or below
        // it, never. Nothing after the pool became idle in this step changed
        // the count: the core only creates pools up to `desired`.
        let timeout = self.config.idle_timeout();
        let above = self.run_pools() > self.core.desired_executor_count();
        for pool in std::mem::take(&mut ctx.became_idle) {
            if self.available.contains(&pool) && !timeout.is_zero() && above {
                self.idle_deadlines.insert(pool, self.now + timeout);
                self.totals.idle_deadlines += 1;
            }
        }
    }

    /// A check was requested (the core counts the same requests).
    pub(super) fn check_requested(&mut self) {
        if let Some(at) = &mut self.next_check {
            *at = (*at).min(self.now);
            self.check_requests += 1;
        }
    }

    fn on_create(&mut self, pool: PoolId, ctx: &mut Ctx) {
        ensure!(!ctx.stopping, "CreatePool({pool:?}) while stopping");
        ensure!(self.ever_pools.insert(pool), "CreatePool({pool:?}) reuses a pool id");
        self.in_flight.push(pool);
        // Disowned creations (of a run before a stop) still count: their
        // threads exist until they are confirmed and shut down.
        let existing = self.live.len() + self.in_flight.len() + self.disowned.len();
        ensure!(
            existing <= self.config.max_pools(),
            "{existing} pools exist or are being created, max_pools {}",
            self.config.max_pools()
        );
        self.totals.max_in_flight = self.totals.max_in_flight.max(self.in_flight.len() as u64);
    }

    /// The driver finishes one creation, after a random delay: confirmed,
    /// or (now and then) failed.
    pub(super) fn settle_creation(&mut self) {
        let n = self.in_flight.len() + self.disowned.len();
        if n == 0 {
            return self.check_quiet();
        }
        let i = self.rng.random_range(0..n);
        let fail = self.fail_creates && self.rng.random_ratio(1, 40);
        if i >= self.in_flight.len() {
            // A creation asked for before a stop: its pool is shut down.
            let pool = self.disowned.swap_remove(i - self.in_flight.len());
            if fail {
                self.core.pool_create_failed(self.now, pool);
                // The room it held under max_pools may go to this run.
                return self.drain(&mut Ctx::default());
            }
            self.core.pool_created(self.now, pool);
            let first = self.core.poll_action();
            ensure!(
                first == Some(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped }),
                "a disowned creation confirmed gave {first:?} first"
            );
            self.totals.confirmed_after_stop += 1;
            // The room it held under max_pools may go to this run's pools.
            let mut ctx = Ctx::default();
            self.drain(&mut ctx);
            return;
        }
        let pool = self.in_flight.swap_remove(i);
        let mut ctx = Ctx::default();
        if fail {
            self.totals.create_failures += 1;
            self.paused = true;
            self.short_of_min = true;
            ctx.create_failed = Some(pool);
            self.core.pool_create_failed(self.now, pool);
        } else {
            self.totals.creations_confirmed += 1;
            self.core.pool_created(self.now, pool);
            // Idle until a grant takes it (the first live waiter's, if any).
            self.live.insert(pool);
            self.available.push_back(pool);
            ctx.became_idle.push(pool);
        }
        self.drain(&mut ctx);
    }

    /// Settles every creation in flight (confirming them all unless
    /// `fail_creates`).
    pub(super) fn settle_all(&mut self) {
        while !self.in_flight.is_empty() || !self.disowned.is_empty() {
            self.settle_creation();
            self.check_invariants();
        }
    }

    fn on_shutdown(&mut self, pool: PoolId, reason: ShutdownReason, ctx: &mut Ctx) {
        ensure!(self.live.remove(&pool), "ShutdownPool({pool:?}, {reason}) of a pool that is not live");
        let idle_deadline = self.idle_deadlines.remove(&pool);
        ensure!(self.lease_on(pool).is_none(), "ShutdownPool({pool:?}) before the LeaseEnded of its lease");
        if let Some(i) = ctx.retiring.iter().position(|(p, _)| *p == pool) {
            let (_, want) = ctx.retiring.swap_remove(i);
            ensure!(reason == want, "{pool:?} shut down {reason:?} after its lease ended, expected {want:?}");
            if reason == ShutdownReason::Broken {
                ensure!(
                    ctx.broken == Some(pool) && !ctx.broken_seen,
                    "unexpected Broken shutdown of {pool:?}"
                );
                ctx.broken_seen = true;
            }
            return;
        }
        // Not leased: an idle pool.
        let idle_at = self.available.iter().position(|&p| p == pool);
        ensure!(idle_at.is_some(), "{pool:?} shut down ({reason:?}) but neither idle nor just ended");
        if let Some(i) = idle_at {
            self.available.remove(i);
        }
        match reason {
            ShutdownReason::Stopped => ensure!(ctx.stopping, "ShutdownPool Stopped outside stop"),
            ShutdownReason::Broken => {
                ensure!(
                    ctx.broken == Some(pool) && !ctx.broken_seen,
                    "unexpected Broken shutdown of {pool:?}"
                );
                ctx.broken_seen = true;
            }
            ShutdownReason::Shrink => {
                ensure!(ctx.check_ran, "Shrink outside a check");
                ensure!(
                    idle_at == Some(0),
                    "shrink took {pool:?} at {idle_at:?}, not the least recently returned idle pool"
                );
                self.totals.shrinks += 1;
            }
            ShutdownReason::Idle => {
                ensure!(ctx.timer_ran, "Idle shutdown of {pool:?} outside handle_timeout");
                ensure!(
                    idle_deadline.is_some_and(|at| at <= self.now),
                    "{pool:?} shut down Idle before its idle deadline {idle_deadline:?}"
                );
                self.totals.idle_shutdowns += 1;
            }
            ShutdownReason::Expired | ShutdownReason::NotKept => {
                panic!("invariant violated: idle {pool:?} shut down {reason:?}")
            }
        }
    }

    fn on_lease_ended(
        &mut self,
        lease: LeaseId,
        pool: PoolId,
        owner: Option<Arc<str>>,
        end: LeaseEnd,
        ctx: &mut Ctx,
    ) {
        ensure!(self.ever_leases.contains(&lease), "LeaseEnded names {lease:?}, never granted");
        ensure!(self.ended_leases.insert(lease), "{lease:?} ended twice");
        let Some(l) = self.leases.get(&lease) else {
            panic!("invariant violated: LeaseEnded for {lease:?}, which the driver does not hold")
        };
        ensure!(l.grant.pool == pool, "LeaseEnded names {pool:?}, the lease is on {:?}", l.grant.pool);
        ensure!(l.owner == owner, "LeaseEnded of {lease:?} with owner {owner:?}, model has {:?}", l.owner);
        let hard = l.grant.hard_expires_at();
        self.totals.lease_ends += 1;
        if let Some((want_lease, want)) = ctx.expect_end {
            if want_lease == lease {
                ensure!(end == want, "{lease:?} ended {end:?}, expected {want:?}");
                ctx.end_seen = true;
            }
        }
        match end {
            LeaseEnd::Released(fate) => {
                ensure!(ctx.expect_end.is_some_and(|(l, _)| l == lease), "{lease:?} released by nobody");
                ensure!(self.now < hard, "{lease:?} ended Released past its hard expiry");
                ctx.finalised = true;
                match fate {
                    PoolFate::Kept => {
                        self.available.push_back(pool);
                        ctx.became_idle.push(pool);
                        self.totals.kept += 1;
                    }
                    PoolFate::HandedOff => {
                        ctx.handed_off = Some(pool);
                        self.totals.handed_off += 1;
                    }
                    PoolFate::ShutDown => {
                        ensure!(
                            self.config.idle_timeout().is_zero() || self.shrink_owed > 0,
                            "{pool:?} not kept with an idle timeout and no shrink owed"
                        );
                        self.shrink_owed = self.shrink_owed.saturating_sub(1);
                        ctx.retiring.push((pool, ShutdownReason::NotKept));
                        self.totals.not_kept += 1;
                    }
                }
                if self.size_provider {
                    self.check_requested();
                }
            }
            LeaseEnd::Expired => {
                ensure!(!ctx.stopping, "revocation during stop");
                ensure!(self.now >= hard, "{lease:?} revoked before its hard expiry");
                ctx.revoked = true;
                ctx.retiring.push((pool, ShutdownReason::Expired));
                self.shrink_owed = self.shrink_owed.saturating_sub(1);
                self.totals.revoked += 1;
            }
            LeaseEnd::PoolBroken => {
                ensure!(ctx.broken == Some(pool), "{lease:?} ended PoolBroken, {pool:?} not reported broken");
                ctx.retiring.push((pool, ShutdownReason::Broken));
                self.shrink_owed = self.shrink_owed.saturating_sub(1);
            }
            LeaseEnd::Stopped => {
                ensure!(ctx.stopping, "{lease:?} ended Stopped outside stop");
                ctx.retiring.push((pool, ShutdownReason::Stopped));
            }
        }
        self.forget_lease(lease);
    }

    fn on_grant(&mut self, waiter: WaiterId, grant: Grant, ctx: &mut Ctx) {
        ensure!(!ctx.stopping, "Grant during stop");
        let front = self.queue.pop_front();
        let Some(front) = front else {
            panic!("invariant violated: Grant to {waiter:?} with no waiter queued")
        };
        ensure!(front.id == waiter, "Grant to {waiter:?} but {:?} is first in line (FIFO)", front.id);
        ensure!(
            front.deadline.is_none_or(|d| d > self.now),
            "Grant to {waiter:?} at or after its deadline {:?}",
            front.deadline
        );
        ensure!(self.ended_waiters.insert(waiter), "{waiter:?} ended twice");
        ensure!(self.ever_leases.insert(grant.lease), "lease id {:?} reused", grant.lease);
        ensure!(self.live.contains(&grant.pool), "Grant of {:?}, which is not confirmed created", grant.pool);
        ensure!(!self.in_flight.contains(&grant.pool), "Grant of {:?}, still being created", grant.pool);
        ensure!(self.lease_on(grant.pool).is_none(), "Grant of {:?}, which is already leased", grant.pool);
        ensure!(
            !self.idle_deadlines.contains_key(&grant.pool) || self.available.back() == Some(&grant.pool),
            "Grant of {:?}, an idle pool with a deadline, out of order",
            grant.pool
        );
        self.idle_deadlines.remove(&grant.pool);
        if ctx.handed_off == Some(grant.pool) {
            ctx.handed_off = None;
        } else {
            ensure!(
                self.available.pop_back() == Some(grant.pool),
                "Grant of {:?}, not the most recently returned idle pool",
                grant.pool
            );
        }
        ensure!(grant.leased_at == self.now, "grant leased_at is not now");
        ensure!(grant.lease_for == front.lease, "grant lease duration differs from the request");
        ensure!(grant.grace == self.config.lease_grace(), "grant grace differs from config");
        self.totals.grants_to_waiters += 1;
        if self.size_provider {
            self.check_requested();
        }
        let lease = ModelLease {
            grant,
            owner: front.owner,
            jobs: 0,
            draining: false,
            holder: Holder::Pending(waiter),
        };
        self.leases.insert(grant.lease, lease);
    }

    fn on_fail(&mut self, waiter: WaiterId, error: AcquireError, ctx: &mut Ctx) {
        let pos = self.queue.iter().position(|w| w.id == waiter);
        let Some(pos) = pos else { panic!("invariant violated: FailWaiter({waiter:?}, {error}) not queued") };
        match error {
            AcquireError::Timeout => {
                ensure!(!ctx.stopping, "timeout during stop");
                let d = self.queue[pos].deadline;
                ensure!(d.is_some_and(|d| d <= self.now), "{waiter:?} timed out before its deadline {d:?}");
                self.totals.waiter_timeouts += 1;
            }
            AcquireError::Stopped => {
                ensure!(ctx.stopping && pos == 0, "Stopped for {waiter:?} at {pos} outside stop order");
                self.totals.waiters_failed_on_stop += 1;
            }
            AcquireError::PoolCreationFailed { pool } => {
                ensure!(ctx.create_failed == Some(pool), "PoolCreationFailed({pool:?}) without that failure");
                ensure!(pos == 0, "PoolCreationFailed for {waiter:?}, not first in line");
                // Only when the waiters outnumber the creations in flight.
                ensure!(
                    self.queue.len() > self.in_flight.len(),
                    "{waiter:?} failed with {} waiters and {} creations in flight",
                    self.queue.len(),
                    self.in_flight.len()
                );
                self.totals.waiters_failed_on_create += 1;
            }
            other => panic!("invariant violated: FailWaiter with {other:?}"),
        }
        self.queue.remove(pos);
        ensure!(self.ended_waiters.insert(waiter), "{waiter:?} ended twice");
        self.stale_waiters.push(waiter);
    }

    pub(super) fn lease_on(&self, pool: PoolId) -> Option<LeaseId> {
        self.leases.iter().find(|(_, l)| l.grant.pool == pool).map(|(id, _)| *id)
    }

    /// The lease is gone from the core; its running jobs finish later.
    pub(super) fn forget_lease(&mut self, id: LeaseId) {
        let l = self.leases.remove(&id).expect("forgetting a known lease");
        for _ in 0..l.jobs {
            self.orphan_jobs.push(id);
        }
        self.remember_stale(id);
    }

    fn remember_stale(&mut self, id: LeaseId) {
        if self.stale_leases.len() >= 32 {
            self.stale_leases.swap_remove(0);
        }
        self.stale_leases.push(id);
    }
}
