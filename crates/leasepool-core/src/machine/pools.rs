//! Pools coming and going: the `pool_created`, `pool_create_failed` and
//! `pool_broken` inputs of [`Core`], the creations it asks for, and
//! restoring the desired count after a pool leaves.

use std::time::Instant;

use super::{Core, Creation};
use crate::ids::{LeaseId, PoolId};
use crate::types::{AcquireError, Action, LeaseEnd, PoolError, ShutdownReason};

impl Core {
    /// Confirms an [`Action::CreatePool`]: the pool exists now. It goes to
    /// the first waiter if one is queued, else it is kept available. A
    /// creation asked for before a [`Core::stop`] is disowned: its pool is
    /// shut down at once ([`ShutdownReason::Stopped`]).
    ///
    /// # Panics
    ///
    /// If `pool` is not being created by this core (never asked for, or
    /// already confirmed or failed).
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// let Some(Action::CreatePool(pool)) = core.poll_action() else { panic!() };
    /// assert_eq!((core.creating_count(), core.available_count()), (1, 0));
    /// core.pool_created(now, pool);
    /// assert_eq!((core.creating_count(), core.available_count()), (0, 1));
    /// ```
    pub fn pool_created(&mut self, now: Instant, pool: PoolId) {
        let now = self.tick(now);
        let current = self.take_creation("pool_created", pool);
        // Counted whether it is kept or disowned: either way its
        // `ShutdownPool` is counted when it leaves.
        self.counters.pools_created += 1;
        if !current {
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped });
            // It held room under `max_pools` that this run may need.
            if self.running {
                self.restore_and_serve(now);
            }
            return;
        }
        if !self.hand_to_first_waiter(pool, now) {
            self.make_available(pool, now);
        }
    }

    /// Reports that an [`Action::CreatePool`] could not be performed. The
    /// pool is forgotten. If the waiters now outnumber the pools still
    /// being created, the first in line fails with
    /// [`AcquireError::PoolCreationFailed`], so that no acquire waits for a
    /// pool that is not coming, and a pool is asked for the waiters still
    /// uncovered if there is room (each failure fails at most one waiter
    /// and asks for at most one pool, so a creation that always fails
    /// cannot spin). The desired count is not restored until the next
    /// check.
    ///
    /// # Panics
    ///
    /// If `pool` is not being created by this core.
    ///
    /// ```
    /// # use leasepool_core::{Action, AcquireError, Acquire, Acquired, Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::wait()) else { panic!() };
    /// let Some(Action::CreatePool(pool)) = core.poll_action() else { panic!() };
    /// core.pool_create_failed(now, pool);
    /// assert_eq!(core.total_count(), 0);
    /// assert_eq!(core.poll_action(), Some(Action::FailWaiter { waiter: w, error: AcquireError::PoolCreationFailed { pool } }));
    /// ```
    pub fn pool_create_failed(&mut self, now: Instant, pool: PoolId) {
        let now = self.tick(now);
        if !self.take_creation("pool_create_failed", pool) {
            // A disowned creation: the room it held under `max_pools` may
            // be this run's now.
            if self.running {
                self.restore_and_serve(now);
            }
            return;
        }
        self.replacing_paused = true;
        if self.someone_waits(now) && self.waiters.len() > self.creating {
            let w = self.waiters.pop_front().expect("someone waits");
            let error = AcquireError::PoolCreationFailed { pool };
            self.actions.push_back(Action::FailWaiter { waiter: w.id, error });
            // The room the failed creation held may be owed to the waiters
            // still uncovered: at most one new creation per failure (the
            // failure freed one place under `max_pools`), so a creation
            // that always fails cannot spin.
            self.create_for_waiters();
        }
    }

    /// Retires a pool the driver found broken: it is removed (never reused),
    /// its lease (if leased) ends ([`LeaseEnd::PoolBroken`]), it is shut
    /// down, the desired count is restored and waiters are served. Until
    /// the next check, a pool that breaks (or fails to be created) is not
    /// replaced again, so that pools whose initializer always fails are not
    /// created and retired in a tight loop (acquires still get pools
    /// created, and an expiry or a release restores the count as usual).
    ///
    /// It may come in the middle of a drain: an undrained [`Action::Grant`]
    /// of the pool becomes [`Action::FailWaiter`] with
    /// [`AcquireError::PoolBroken`]. A pool not live (already retired or
    /// shut down) is [`PoolError::Unknown`].
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// # core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// assert_eq!(core.pool_broken(now, g.pool), Ok(()));
    /// assert_eq!((core.leased_count(), core.creating_count()), (0, 1)); // replaced at once
    /// # let mut created = None;
    /// # while let Some(a) = core.poll_action() { if let Action::CreatePool(p) = a { created = Some(p); } }
    /// core.pool_created(now, created.unwrap());
    /// assert_eq!(core.pool_broken(now, created.unwrap()), Ok(())); // the replacement breaks too
    /// assert_eq!(core.total_count(), 0); // replaced by the next check
    /// ```
    pub fn pool_broken(&mut self, now: Instant, pool: PoolId) -> Result<(), PoolError> {
        let now = self.tick(now);
        self.check_tag("pool_broken", "pool", pool.core);
        if !self.remove_available(pool) {
            let key = self.leases.iter().find(|(_, s)| s.grant.pool == pool).map(|(k, _)| k);
            let slot = self.remove_lease(key.ok_or(PoolError::Unknown)?);
            // Broken before its grant reached the waiter: the pool never
            // served anyone, and the waiter learns why; the driver never
            // heard of that lease, so no LeaseEnded names it.
            if !self.fail_undrained_grant(slot.grant.lease, pool) {
                // A leased pool leaves: one fewer owed to a fall of the signal.
                self.shrink_owed = self.shrink_owed.saturating_sub(1);
                let (lease, owner) = (slot.grant.lease, slot.owner);
                self.actions.push_back(Action::LeaseEnded { lease, pool, owner, end: LeaseEnd::PoolBroken });
            }
        }
        self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Broken });
        if !self.replacing_paused {
            self.grow_to(self.desired);
        }
        self.serve_waiters(now);
        // A replacement that breaks too waits for the next check.
        self.replacing_paused = true;
        Ok(())
    }

    // ---- internals -------------------------------------------------------

    /// Removes `pool` from this run's creations; false for a creation of
    /// an older run. Panics on a pool that is not being created at all.
    fn take_creation(&mut self, input: &str, pool: PoolId) -> bool {
        self.check_tag(input, "pool", pool.core);
        let Some(i) = self.creations.iter().position(|c| c.pool == pool) else {
            panic!(
                "leasepool-core: {input} for pool {pool}, which is not being created (already confirmed or failed?)"
            );
        };
        let creation = self.creations.swap_remove(i);
        // Closing disowns this run's creations as a stop does.
        let current = creation.run == self.run && self.running && !self.closing;
        if current {
            self.creating -= 1;
        }
        current
    }

    pub(super) fn new_pool(&mut self) {
        self.pool_seq += 1;
        let pool = PoolId { seq: self.pool_seq, core: self.tag };
        self.creations.push(Creation { pool, run: self.run });
        self.creating += 1;
        self.actions.push_back(Action::CreatePool(pool));
    }

    /// Whether one more waiter would have a pool coming: one already being
    /// created and not owed to an earlier waiter, or room to create one.
    pub(super) fn can_create_for_one_more(&self) -> bool {
        self.waiters.len() < self.creating || self.total_count() < self.config.max_pools
    }

    /// Asks for pools until every waiter has one coming (or `max_pools` is
    /// reached): a waiter never waits for a creation nobody asked for.
    pub(super) fn create_for_waiters(&mut self) {
        while self.waiters.len() > self.creating && self.total_count() < self.config.max_pools {
            self.new_pool();
        }
    }

    pub(super) fn grow_to(&mut self, target: usize) {
        // A closing core only winds down: nothing replaces what leaves.
        if self.closing {
            return;
        }
        while self.live_count() < target && self.total_count() < self.config.max_pools {
            self.new_pool();
        }
    }

    /// After a pool left: back up to the desired count (which is at least
    /// `min_pools`), then serve waiters. Restoring to `desired` here, not
    /// just the minimum, spares a second pass. Only [`Core::pool_broken`]
    /// and [`Core::pool_create_failed`] hold back (see `replacing_paused`):
    /// an expiry or a release is an outside event, so replacing after it
    /// cannot spin.
    pub(super) fn restore_and_serve(&mut self, now: Instant) {
        self.grow_to(self.desired);
        self.serve_waiters(now);
    }

    /// Turns an undrained grant of `lease` (its pool broke before the
    /// driver saw the grant) into a failure of its waiter.
    /// Returns whether there was one.
    fn fail_undrained_grant(&mut self, lease: LeaseId, pool: PoolId) -> bool {
        for action in self.actions.iter_mut() {
            if let Action::Grant { waiter, grant } = *action {
                if grant.lease == lease {
                    *action = Action::FailWaiter { waiter, error: AcquireError::PoolBroken { pool } };
                    return true;
                }
            }
        }
        false
    }
}
