//! One random step (`step`), and the inputs about leases, waiters and jobs:
//! acquires, picked-up grants, dropped acquire futures, releases (plain and
//! busy), job starts and finishes, and broken pools.

use std::sync::Arc;
use std::time::Duration;

use leasepool_core::{
    Acquire, AcquireError, Acquired, LeaseEnd, LeaseError, LeaseId, PoolError, PoolFate, PoolId, Released,
    Wait, WaiterError, WaiterId,
};
use rand::{Rng, RngCore};

use super::{Ctx, Holder, ModelLease, ModelWaiter, Sim, pick};

impl<R: RngCore> Sim<R> {
    // ---- one random step -------------------------------------------------------

    pub(super) fn step(&mut self) {
        let roll = self.rng.random_range(0..1000u32);
        match roll {
            0..200 => self.acquire(),
            200..290 => self.settle_creation(),
            290..350 => self.take_pending(),
            350..400 => self.drop_waiter_future(),
            400..520 => self.release(),
            520..620 => self.job_submit(),
            620..730 => self.job_finish(),
            730..740 => self.broken(),
            740..810 => self.advance_small(),
            810..890 => self.fire_timer(),
            890..910 => self.jump_past_expiry(),
            910..940 => self.scale_change(),
            940..943 => self.stop(),
            943..945 => self.close(),
            945..965 => self.start(),
            965..985 => self.settle_creation(),
            985..999 => self.stale_inputs(),
            _ => self.quiesce(),
        }
        self.totals.events += 1;
        self.check_invariants();
    }

    fn lease_for_request(&mut self) -> Option<Duration> {
        match self.rng.random_range(0..20) {
            0..10 => None,
            10 => Some(Duration::ZERO),
            11 => Some(Duration::from_nanos(1)),
            _ => Some(Duration::from_millis(self.rng.random_range(1..=60_000))),
        }
    }

    fn acquire(&mut self) {
        let lease = self.lease_for_request();
        let owner: Option<Arc<str>> =
            self.rng.random_ratio(1, 3).then(|| format!("o{}", self.rng.random_range(0..9)).into());
        let queue_full = self.queue.len() >= 3 * self.config.max_pools();
        let wait = match self.rng.random_range(0..10) {
            _ if queue_full => Wait::No,
            0..3 => Wait::No,
            3..5 => Wait::Forever,
            5 => Wait::Until(self.now),
            6 => Wait::Until(self.now.checked_sub(Duration::from_millis(1)).unwrap_or(self.now)),
            _ => Wait::Until(self.now + Duration::from_millis(self.rng.random_range(1..=30_000))),
        };
        let request = Acquire { lease_for: lease, owner: owner.clone(), wait };
        let result = self.core.acquire(self.now, request);
        let mut ctx = Ctx::default();
        let effective = lease.unwrap_or(self.config.default_lease_for());
        // The grant comes after any revocation the acquire did first: drain
        // those, then look at the outcome.
        self.drain(&mut ctx);
        match &result {
            _ if !self.running => {
                let want = if self.ever_started { AcquireError::Stopped } else { AcquireError::NotStarted };
                ensure!(result == Err(want), "acquire while stopped: {result:?}")
            }
            _ if lease == Some(Duration::ZERO) => {
                ensure!(
                    matches!(result, Err(AcquireError::InvalidLease(_))),
                    "zero lease accepted: {result:?}"
                )
            }
            Ok(Acquired::Granted(g)) => {
                ensure!(self.ever_leases.insert(g.lease), "lease id {:?} reused", g.lease);
                ensure!(g.leased_at == self.now && g.lease_for == effective, "bad grant timing {g:?}");
                ensure!(g.grace == self.config.lease_grace(), "bad grant grace");
                ensure!(self.lease_on(g.pool).is_none(), "granted {:?}, which is leased", g.pool);
                // Always an idle pool, the most recently returned: never
                // one being created.
                ensure!(
                    self.available.pop_back() == Some(g.pool),
                    "granted {:?}, not the most recently returned idle pool",
                    g.pool
                );
                // A pool leased again loses its idle deadline.
                self.idle_deadlines.remove(&g.pool);
                ensure!(self.live.contains(&g.pool), "granted {:?}, not confirmed created", g.pool);
                self.leases.insert(
                    g.lease,
                    ModelLease { grant: *g, owner, jobs: 0, draining: false, holder: Holder::User },
                );
                self.totals.grants_direct += 1;
                if self.size_provider {
                    self.check_requested();
                }
            }
            Ok(Acquired::Queued(w)) => {
                if let Wait::Until(d) = wait {
                    ensure!(d > self.now, "acquire with a past deadline queued");
                }
                ensure!(self.ever_waiters.insert(*w), "waiter id {w:?} reused");
                let deadline = match wait {
                    Wait::Until(d) => Some(d),
                    _ => None,
                };
                self.queue.push_back(ModelWaiter { id: *w, deadline, lease: effective, owner });
                ensure!(
                    self.config.max_waiters().is_none_or(|max| self.queue.len() <= max),
                    "{} waiters queued, max_waiters {:?}",
                    self.queue.len(),
                    self.config.max_waiters()
                );
                self.totals.queued += 1;
                // Every waiter has a pool coming, or max_pools is reached.
                ensure!(
                    self.queue.len() <= self.in_flight.len()
                        || self.core.total_count() == self.config.max_pools(),
                    "{} waiters, {} creations in flight, total {} below max",
                    self.queue.len(),
                    self.in_flight.len(),
                    self.core.total_count()
                );
                // A no-wait acquire waits only for a pool coming for it.
                if wait == Wait::No {
                    ensure!(
                        self.queue.len() <= self.in_flight.len(),
                        "no-wait acquire queued with no pool coming"
                    );
                }
            }
            Err(AcquireError::Unavailable)
                if self.config.max_waiters().is_some_and(|m| self.queue.len() >= m) =>
            {
                // Load shedding: it would have queued behind max_waiters.
                ensure!(self.core.available_count() == 0, "shed while a pool was free");
                self.totals.shed += 1;
            }
            Err(AcquireError::Unavailable) => {
                ensure!(wait == Wait::No, "Unavailable for a waiting acquire");
                ensure!(
                    self.core.available_count() == 0
                        && self.core.total_count() == self.config.max_pools()
                        && self.queue.len() >= self.in_flight.len(),
                    "Unavailable while a pool was free or creatable"
                );
            }
            Err(AcquireError::Timeout) => {
                ensure!(matches!(wait, Wait::Until(d) if d <= self.now), "Timeout for {wait:?}");
                ensure!(self.core.available_count() == 0, "Timeout while a pool was free");
            }
            Err(e) => panic!("invariant violated: acquire failed with {e:?}"),
        }
        if self.running && !matches!(result, Err(AcquireError::InvalidLease(_))) {
            // Hard-expired leases were revoked first (an invalid request is
            // refused before anything else happens).
            self.ensure_nothing_expired();
        }
    }

    fn pending(&self) -> Vec<(LeaseId, WaiterId)> {
        self.leases
            .iter()
            .filter_map(|(id, l)| match l.holder {
                Holder::Pending(w) => Some((*id, w)),
                Holder::User => None,
            })
            .collect()
    }

    fn held(&self, draining: Option<bool>) -> Vec<LeaseId> {
        self.leases
            .iter()
            .filter(|(_, l)| l.holder == Holder::User && draining.is_none_or(|d| l.draining == d))
            .map(|(id, _)| *id)
            .collect()
    }

    fn take_pending(&mut self) {
        let pending = self.pending();
        if let Some((lease, _)) = pick(&mut self.rng, &pending) {
            self.leases.get_mut(&lease).expect("pending lease").holder = Holder::User;
        }
        self.check_quiet();
    }

    /// An acquire future is dropped: cancel it if still queued, or give back
    /// the grant it never picked up.
    fn drop_waiter_future(&mut self) {
        let pending = self.pending();
        if !self.queue.is_empty() && (pending.is_empty() || self.rng.random_bool(0.5)) {
            let i = self.rng.random_range(0..self.queue.len());
            let w = self.queue.remove(i).expect("queued waiter");
            let now = self.now;
            ensure!(
                self.core.cancel_waiter(now, w.id) == Ok(()),
                "cancel_waiter({:?}) refused a queued waiter",
                w.id
            );
            ensure!(
                self.core.cancel_waiter(now, w.id) == Err(WaiterError::Ended),
                "cancel_waiter twice accepted"
            );
            ensure!(self.ended_waiters.insert(w.id), "{:?} ended twice", w.id);
            self.stale_waiters.push(w.id);
            self.totals.cancelled += 1;
            self.check_quiet();
        } else if let Some((lease, waiter)) = pick(&mut self.rng, &pending) {
            ensure!(
                self.core.cancel_waiter(self.now, waiter) == Err(WaiterError::Ended),
                "cancel_waiter accepted a granted waiter"
            );
            self.totals.handed_back += 1;
            self.release_lease(lease, false);
        }
    }

    fn release(&mut self) {
        let held = self.held(None);
        if let Some(lease) = pick(&mut self.rng, &held) {
            // Now and then the driver counts jobs itself: a lease it reported
            // nothing for is released busy, as if one job were in flight.
            let busy = self.leases[&lease].jobs == 0 && self.rng.random_ratio(1, 4);
            self.release_lease(lease, busy);
        }
    }

    /// How a lease ends now, as the spec states it: past hard expiry it
    /// expires; otherwise its pool goes to the first waiter still in time,
    /// or is kept while this run's total stays within the desired count (or,
    /// with an idle timeout, kept idle above it), or is shut down.
    fn expected_end(&self, lease: LeaseId) -> LeaseEnd {
        let l = &self.leases[&lease];
        if self.now >= l.grant.hard_expires_at() {
            return LeaseEnd::Expired;
        }
        // This run's pools only: disowned creations are not kept in its count.
        let total_after = self.core.total_count() - self.disowned.len() - 1;
        // Waiters past their deadline time out first; the pool goes to the
        // first one still waiting.
        let live_waiter = self.queue.iter().any(|w| w.deadline.is_none_or(|d| d > self.now));
        LeaseEnd::Released(if live_waiter {
            PoolFate::HandedOff
        } else if total_after < self.core.desired_executor_count()
            || (!self.config.idle_timeout().is_zero() && self.shrink_owed == 0)
        {
            PoolFate::Kept
        } else {
            PoolFate::ShutDown
        })
    }

    /// Releases `lease`; `busy` (only for a lease with no reported job):
    /// through `release_busy`, as a driver that counts jobs itself does.
    pub(super) fn release_lease(&mut self, lease: LeaseId, busy: bool) {
        let l = &self.leases[&lease];
        let (mut jobs, hard, draining) = (l.jobs, l.grant.hard_expires_at(), l.draining);
        let mut ctx = Ctx::default();
        let expired = self.now >= hard;
        if busy && !draining {
            jobs = 1;
        }
        let want = if draining {
            Ok(Released::Draining { jobs })
        } else if jobs == 0 || expired {
            ctx.expect_end = Some((lease, self.expected_end(lease)));
            Ok(Released::Ended)
        } else {
            Ok(Released::Draining { jobs })
        };
        let outcome =
            if busy { self.core.release_busy(self.now, lease) } else { self.core.release(self.now, lease) };
        ensure!(
            outcome == want,
            "release gave {outcome:?}, spec says {want:?} (jobs {jobs}, expired {expired})"
        );
        if outcome == Ok(Released::Draining { jobs }) {
            let l = self.leases.get_mut(&lease).expect("lease");
            (l.jobs, l.draining) = (jobs, true);
        }
        self.drain(&mut ctx);
        if outcome == Ok(Released::Ended) {
            ensure!(!self.leases.contains_key(&lease), "{lease:?} ended but still held");
        }
        let again =
            if busy { self.core.release_busy(self.now, lease) } else { self.core.release(self.now, lease) };
        let want_again = match outcome {
            Ok(Released::Draining { jobs }) => Ok(Released::Draining { jobs }),
            _ => Err(LeaseError::Ended),
        };
        ensure!(again == want_again, "release is not idempotent: {again:?}");
        self.check_quiet();
    }

    fn job_submit(&mut self) {
        let held = self.held(None);
        let Some(lease) = pick(&mut self.rng, &held) else { return self.check_quiet() };
        let l = &self.leases[&lease];
        let (draining, hard, pool) = (l.draining, l.grant.hard_expires_at(), l.grant.pool);
        let result = self.core.job_submitted(self.now, lease);
        let mut ctx = Ctx::default();
        if draining {
            ensure!(result == Err(LeaseError::Released), "submit on a draining lease gave {result:?}");
        } else if self.now >= hard {
            ensure!(result == Err(LeaseError::Expired), "submit past hard expiry gave {result:?}");
            ctx.expect_end = Some((lease, LeaseEnd::Expired));
            self.totals.revoked_on_submit += 1;
        } else {
            ensure!(result == Ok(pool), "submit gave {result:?}, expected Ok({pool:?})");
            self.leases.get_mut(&lease).expect("lease").jobs += 1;
        }
        self.drain(&mut ctx);
        if result == Err(LeaseError::Expired) {
            ensure!(!self.leases.contains_key(&lease), "expired lease {lease:?} not revoked on submit");
        }
        if result.is_ok() {
            ensure!(self.now < hard, "a hard-expired lease accepted a job");
        }
    }

    fn job_finish(&mut self) {
        if !self.orphan_jobs.is_empty() && self.rng.random_ratio(1, 4) {
            let i = self.rng.random_range(0..self.orphan_jobs.len());
            let lease = self.orphan_jobs.swap_remove(i);
            ensure!(
                self.core.job_finished(self.now, lease) == Err(LeaseError::Ended),
                "job_finished on a gone lease did something"
            );
            return self.check_quiet();
        }
        let busy: Vec<LeaseId> = self.leases.iter().filter(|(_, l)| l.jobs > 0).map(|(id, _)| *id).collect();
        let Some(lease) = pick(&mut self.rng, &busy) else { return self.check_quiet() };
        self.finish_one(lease);
    }

    pub(super) fn finish_one(&mut self, id: LeaseId) {
        let l = &self.leases[&id];
        let (jobs, draining) = (l.jobs, l.draining);
        let mut ctx = Ctx::default();
        if draining && jobs == 1 {
            ctx.expect_end = Some((id, self.expected_end(id)));
        }
        let result = self.core.job_finished(self.now, id);
        ensure!(result == Ok(()), "job_finished gave {result:?}");
        if ctx.expect_end.is_none() {
            self.leases.get_mut(&id).expect("lease").jobs -= 1;
        }
        self.drain(&mut ctx);
        if ctx.expect_end.is_some() {
            ensure!(!self.leases.contains_key(&id), "{id:?} drained its last job but did not end");
        }
    }

    /// A job submitted through a lease finds its pool broken (or an idle pool
    /// is found broken).
    fn broken(&mut self) {
        let held = self.held(Some(false));
        let pool = if !held.is_empty() && self.rng.random_bool(0.7) {
            let lease = pick(&mut self.rng, &held).expect("held lease");
            let l = &self.leases[&lease];
            if self.now >= l.grant.hard_expires_at() {
                return self.job_submit_specific(lease);
            }
            let pool = l.grant.pool;
            ensure!(self.core.job_submitted(self.now, lease) == Ok(pool), "submit before broken");
            self.leases.get_mut(&lease).expect("lease").jobs += 1;
            pool
        } else {
            let live: Vec<PoolId> = self.live.iter().copied().collect();
            let Some(pool) = pick(&mut self.rng, &live) else { return self.check_quiet() };
            pool
        };
        let mut ctx = Ctx { broken: Some(pool), ..Ctx::default() };
        if let Some(lease) = self.lease_on(pool) {
            ctx.expect_end = Some((lease, LeaseEnd::PoolBroken));
        }
        ensure!(self.core.pool_broken(self.now, pool) == Ok(()), "pool_broken({pool:?}) refused");
        self.totals.broken += 1;
        // The first pool lost since the last check is replaced at once;
        // after that, replacements wait for the next check.
        let replaced_at_once = !self.paused;
        self.paused = true;
        self.short_of_min = true;
        self.drain(&mut ctx);
        if replaced_at_once {
            let (total, desired) = (self.core.total_count(), self.core.desired_executor_count());
            ensure!(
                total >= desired,
                "broken {pool:?} not replaced at once: total {total} < desired {desired}"
            );
        }
        ensure!(
            self.core.pool_broken(self.now, pool) == Err(PoolError::Unknown),
            "a retired pool is known again"
        );
        ensure!(!self.live.contains(&pool), "broken pool still live");
    }

    fn job_submit_specific(&mut self, lease: LeaseId) {
        ensure!(self.core.job_submitted(self.now, lease) == Err(LeaseError::Expired), "expired submit");
        self.totals.revoked_on_submit += 1;
        self.drain(&mut Ctx { expect_end: Some((lease, LeaseEnd::Expired)), ..Ctx::default() });
        ensure!(!self.leases.contains_key(&lease), "expired lease not revoked");
    }
}
