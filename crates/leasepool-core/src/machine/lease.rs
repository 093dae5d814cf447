//! A lease's life after its grant: the `release`, `release_busy`,
//! `job_submitted` and `job_finished` inputs of [`Core`], how a lease ends
//! (`finalise`: handed off, kept or shut down) and hard expiry.

use std::time::Instant;

use super::{Core, LeaseSlot};
use crate::ids::{LeaseId, PoolId};
use crate::types::{Action, LeaseEnd, LeaseError, PoolFate, Released, ShutdownReason};

impl Core {
    /// Releases a lease (idempotent while it drains).
    ///
    /// With no job in flight the lease ends now ([`Released::Ended`] and an
    /// [`Action::LeaseEnded`]): its pool goes straight to the first waiter
    /// if there is one; otherwise it is kept (made available): idle for at
    /// most `idle_timeout` if that leaves this run above the desired count
    /// ([`ConfigBuilder::idle_timeout`](crate::ConfigBuilder::idle_timeout));
    /// with a zero `idle_timeout`, kept only if keeping it
    /// leaves `total <= desired`, or shut down. A lease released at or past
    /// its hard expiry ends as [`LeaseEnd::Expired`] instead, its pool shut
    /// down, whether jobs are in flight or not. With jobs in flight the
    /// lease *drains*: it refuses new jobs, still counts as leased, and
    /// ends with the [`Core::job_finished`] of its last job.
    ///
    /// This is also how a grant whose waiter has gone away is handed back.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired, LeaseError, Released};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// # core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// core.job_submitted(now, g.lease).unwrap();
    /// assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    /// assert_eq!(core.leased_count(), 1);
    /// assert_eq!(core.job_finished(now, g.lease), Ok(()));
    /// assert!(matches!(core.poll_action(), Some(Action::LeaseEnded { .. })));
    /// assert_eq!(core.release(now, g.lease), Err(LeaseError::Ended));
    /// ```
    pub fn release(&mut self, now: Instant, lease: LeaseId) -> Result<Released, LeaseError> {
        let now = self.tick(now);
        let key = self.lease_key("release", lease).ok_or(LeaseError::Ended)?;
        let slot = &mut self.leases[key];
        if slot.draining {
            return Ok(Released::Draining { jobs: slot.jobs });
        }
        // Past hard expiry it ends now, as expired, jobs or not (`finalise`).
        if slot.jobs > 0 && now < slot.hard_expires_at {
            slot.draining = true;
            return Ok(Released::Draining { jobs: slot.jobs });
        }
        self.finalise(key, now);
        Ok(Released::Ended)
    }

    /// Releases a lease whose jobs the driver counts itself (it reports
    /// none through [`Core::job_submitted`]) while some are still queued or
    /// running: [`Core::release`] with one job in flight. The lease drains
    /// (or, past hard expiry, expires), and one [`Core::job_finished`],
    /// when the last of those jobs ends, ends it. With no job in flight,
    /// call [`Core::release`].
    ///
    /// The core needs jobs only to know whether a release must drain, so
    /// this is all such a driver reports; leasepool's async driver works so,
    /// and a job there takes no lock.
    ///
    /// # Panics
    ///
    /// On a lease whose jobs were reported with [`Core::job_submitted`]:
    /// counting jobs both ways would leave it draining forever.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired, Released};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// # core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// // The driver knows 3 jobs of this lease are running.
    /// assert_eq!(core.release_busy(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    /// assert_eq!(core.release_busy(now, g.lease), Ok(Released::Draining { jobs: 1 })); // idempotent
    /// // ... the last of them ends:
    /// assert_eq!(core.job_finished(now, g.lease), Ok(()));
    /// assert_eq!(core.leased_count(), 0);
    /// ```
    pub fn release_busy(&mut self, now: Instant, lease: LeaseId) -> Result<Released, LeaseError> {
        let key = self.lease_key("release_busy", lease).ok_or(LeaseError::Ended)?;
        let slot = &mut self.leases[key];
        if !slot.draining {
            assert!(
                slot.jobs == 0,
                "leasepool-core: release_busy on lease {lease} whose jobs were reported with \
                 job_submitted; release it with Core::release"
            );
            slot.jobs = 1;
        }
        self.release(now, lease)
    }

    /// Records a job submitted through `lease` and returns the pool to run it
    /// on. Refused if the lease has ended or is draining; a lease past its
    /// hard expiry expires on the spot (its pool shut down and replaced)
    /// and is refused.
    ///
    /// A driver that counts jobs itself need not report them (see
    /// [`Core::release_busy`]); it still calls this for a job past hard
    /// expiry, to end the lease on the spot.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired, LeaseError};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// assert_eq!(core.job_submitted(now, g.lease), Ok(g.pool));
    /// let late = g.hard_expires_at();
    /// assert_eq!(core.job_submitted(late, g.lease), Err(LeaseError::Expired));
    /// assert_eq!(core.leased_count(), 0);
    /// ```
    pub fn job_submitted(&mut self, now: Instant, lease: LeaseId) -> Result<PoolId, LeaseError> {
        let now = self.tick(now);
        let key = self.lease_key("job_submitted", lease).ok_or(LeaseError::Ended)?;
        let slot = &mut self.leases[key];
        if slot.draining {
            return Err(LeaseError::Released);
        }
        if now >= slot.hard_expires_at {
            self.expire(key);
            self.restore_and_serve(now);
            return Err(LeaseError::Expired);
        }
        slot.jobs += 1;
        Ok(slot.grant.pool)
    }

    /// Records that a job submitted through `lease` finished (or was
    /// cancelled). If that ends a draining lease, it ends now
    /// ([`Action::LeaseEnded`]). A lease that has ended meanwhile (expired,
    /// its pool broken, the manager stopped) is [`LeaseError::Ended`]:
    /// nothing to do.
    ///
    /// # Panics
    ///
    /// On a live lease with no job in flight: more jobs finished than were
    /// submitted.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// # let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// core.job_submitted(now, g.lease).unwrap();
    /// assert_eq!(core.job_finished(now, g.lease), Ok(())); // not released: the lease goes on
    /// assert_eq!(core.leased_count(), 1);
    /// ```
    pub fn job_finished(&mut self, now: Instant, lease: LeaseId) -> Result<(), LeaseError> {
        let now = self.tick(now);
        let key = self.lease_key("job_finished", lease).ok_or(LeaseError::Ended)?;
        let slot = &mut self.leases[key];
        assert!(slot.jobs > 0, "leasepool-core: job_finished on lease {lease} with no job in flight");
        slot.jobs -= 1;
        if slot.draining && slot.jobs == 0 {
            self.finalise(key, now);
        }
        Ok(())
    }

    // ---- internals -------------------------------------------------------

    /// Ends the lease at `key` as expired and shuts its pool down.
    fn expire(&mut self, key: usize) {
        let slot = self.remove_lease(key);
        // Its pool leaves: one fewer owed to a fall of the signal.
        self.shrink_owed = self.shrink_owed.saturating_sub(1);
        let (lease, pool, owner) = (slot.grant.lease, slot.grant.pool, slot.owner);
        self.actions.push_back(Action::LeaseEnded { lease, pool, owner, end: LeaseEnd::Expired });
        self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Expired });
    }

    #[inline] // the usual case, nothing expired, costs one heap peek
    pub(super) fn revoke_expired(&mut self, now: Instant) {
        if self.expiries.peek().is_some_and(|(at, _)| at <= now) {
            self.revoke_all_expired(now);
        }
    }

    fn revoke_all_expired(&mut self, now: Instant) {
        let mut any = false;
        while let Some((_, key)) = self.expiries.peek().filter(|&(at, _)| at <= now) {
            self.expire(key);
            any = true;
        }
        if any {
            self.restore_and_serve(now);
        }
    }

    /// Ends the released lease at `key` (a live one): past hard expiry it
    /// expires (`expire`); otherwise its pool goes to the first waiter, or
    /// is kept, or is shut down.
    pub(super) fn finalise(&mut self, key: usize, now: Instant) {
        if now >= self.leases[key].hard_expires_at {
            self.expire(key);
            self.restore_and_serve(now);
            return;
        }
        let slot = self.remove_lease(key);
        let (lease, pool, owner) = (slot.grant.lease, slot.grant.pool, slot.owner);
        // Direct hand-off first: the first waiter gets this pool, one grant.
        // The lease's end comes before the grant that reuses its pool.
        let fate = if self.someone_waits(now) {
            PoolFate::HandedOff
        } else if !self.closing
            && (self.live_count() < self.desired
                || (!self.config.idle_timeout.is_zero() && self.shrink_owed == 0))
        {
            // Above the desired count it is kept idle for `idle_timeout`
            // (`make_available` gives it a deadline); never while closing,
            // nor while a fall of the signal is still owed a shrink.
            PoolFate::Kept
        } else {
            PoolFate::ShutDown
        };
        self.actions.push_back(Action::LeaseEnded { lease, pool, owner, end: LeaseEnd::Released(fate) });
        match fate {
            PoolFate::HandedOff => self.grant_to_first(pool, now),
            PoolFate::Kept => self.make_available(pool, now),
            PoolFate::ShutDown => {
                // While closing nobody waits, and no pool is kept for later.
                let reason = if self.closing { ShutdownReason::Stopped } else { ShutdownReason::NotKept };
                self.actions.push_back(Action::ShutdownPool { pool, reason });
                self.shrink_owed = self.shrink_owed.saturating_sub(1);
            }
        }
        self.request_check_on_lease_change();
        self.restore_and_serve(now);
    }

    /// Forgets the lease at `key` and its expiry.
    pub(super) fn remove_lease(&mut self, key: usize) -> LeaseSlot {
        self.expiries.remove(key);
        self.leases.remove(key)
    }
}
