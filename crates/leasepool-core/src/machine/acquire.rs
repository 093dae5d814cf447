//! Asking for a lease and serving the waiters: the `acquire` and
//! `cancel_waiter` inputs of [`Core`], and the helpers that grant pools to
//! waiters, first in line first, and fail the waiters past their deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Core, LeaseSlot};
use crate::ids::{LeaseId, PoolId, WaiterId};
use crate::types::{Acquire, AcquireError, Acquired, Action, Grant, Wait, WaiterError};

impl Core {
    /// Asks for a lease.
    ///
    /// Hard-expired leases are revoked first. Then, if nobody is queued,
    /// the most recently returned available pool is leased at once. Otherwise the
    /// request is queued behind earlier waiters, and a pool is created for
    /// it if `total < max_pools` (demand may push the total above the
    /// desired count): it is granted, first come first served, when a pool
    /// is created or released ([`Action::Grant`]). A [`Wait::No`] request
    /// waits only when a pool is being created for it; with none free and
    /// none creatable it fails with [`AcquireError::Unavailable`]. So does
    /// any acquire that would queue behind `max_waiters` others
    /// ([`ConfigBuilder::max_waiters`](crate::ConfigBuilder::max_waiters)). A
    /// deadline at or before `now` fails at once with
    /// [`AcquireError::Timeout`]. After [`Core::close`] or [`Core::stop`]
    /// every acquire fails with [`AcquireError::Stopped`].
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired, AcquireError};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::NotStarted));
    /// core.start(now, 0).unwrap();
    /// // The first pool is still being created: the acquire waits for it.
    /// let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// let Some(Action::CreatePool(pool)) = core.poll_action() else { panic!() };
    /// core.pool_created(now, pool);
    /// assert!(matches!(core.poll_action(), Some(Action::Grant { waiter, .. }) if waiter == w));
    /// assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
    /// assert!(matches!(core.acquire(now, Acquire::wait()), Ok(Acquired::Queued(_))));
    /// ```
    pub fn acquire(&mut self, now: Instant, request: Acquire) -> Result<Acquired, AcquireError> {
        let now = self.tick(now);
        if !self.running || self.closing {
            return Err(self.not_running());
        }
        // The default was validated with the configuration.
        let lease_for = match request.lease_for {
            Some(lease_for) => {
                self.config.validate_lease_for(lease_for)?;
                lease_for
            }
            None => self.config.default_lease_for,
        };
        self.revoke_expired(now);
        // A waiter past its deadline (the driver's timer is late) neither
        // counts toward `max_waiters` nor holds a place in line
        // (`someone_waits` fails it first).
        if !self.someone_waits(now) {
            if let Some(pool) = self.take_available() {
                let grant = self.lease_pool(pool, now, lease_for, request.owner);
                self.request_check_on_lease_change();
                self.counters.leases_granted_at_once += 1;
                return Ok(Acquired::Granted(grant));
            }
        }
        let deadline = match request.wait {
            Wait::No if !self.can_create_for_one_more() => return Err(self.unavailable()),
            Wait::Until(deadline) if deadline <= now => {
                self.counters.acquire_timeouts += 1;
                return Err(AcquireError::Timeout);
            }
            Wait::Until(deadline) => Some(deadline),
            Wait::No | Wait::Forever => None,
        };
        // Load shedding: fail at once rather than queue behind `max_waiters`.
        if self.config.max_waiters.is_some_and(|max| self.waiters.len() >= max) {
            return Err(self.unavailable());
        }
        let waiter = self.waiters.push_back(self.tag, lease_for, request.owner, deadline);
        self.create_for_waiters();
        Ok(Acquired::Queued(waiter))
    }

    /// Withdraws a queued acquire (its future was dropped). A grant of it
    /// still undrained is taken back too, and its pool goes to the next
    /// waiter. Once its [`Action::Grant`] has been drained the waiter is
    /// gone ([`WaiterError::Ended`]): give that lease back with
    /// [`Core::release`].
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired, WaiterError};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0).unwrap();
    /// let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::wait()) else { panic!() };
    /// assert_eq!(core.cancel_waiter(now, w), Ok(()));
    /// assert_eq!(core.cancel_waiter(now, w), Err(WaiterError::Ended));
    /// assert_eq!(core.waiting_count(), 0);
    /// ```
    pub fn cancel_waiter(&mut self, now: Instant, waiter: WaiterId) -> Result<(), WaiterError> {
        let now = self.tick(now);
        self.check_tag("cancel_waiter", "waiter", waiter.core);
        if self.waiters.remove(waiter).is_some() {
            self.counters.waiters_cancelled += 1;
            return Ok(());
        }
        let undrained =
            self.actions.iter().position(|a| matches!(a, Action::Grant { waiter: w, .. } if *w == waiter));
        let Some(Action::Grant { grant, .. }) = undrained.and_then(|i| self.actions.remove(i)) else {
            return Err(WaiterError::Ended);
        };
        self.counters.waiters_cancelled += 1;
        // Never seen by the driver: hand the pool on as if released (if the
        // lease is still live: it may have ended, and its slot been reused,
        // while the grant waited in the queue), and say nothing of a lease
        // the driver never heard of, however it ended.
        if let Some(key) = self.lease_key("cancel_waiter", grant.lease) {
            self.finalise(key, now);
        }
        let ended = (0..self.actions.len())
            .find(|&i| matches!(self.actions[i], Action::LeaseEnded { lease, .. } if lease == grant.lease));
        if let Some(i) = ended {
            self.actions.remove(i);
        }
        Ok(())
    }

    // ---- internals -------------------------------------------------------

    /// Refuses an acquire that found no pool and no room to wait, counted.
    fn unavailable(&mut self) -> AcquireError {
        self.counters.acquire_unavailable += 1;
        AcquireError::Unavailable
    }

    fn not_running(&self) -> AcquireError {
        if self.run == 0 { AcquireError::NotStarted } else { AcquireError::Stopped }
    }

    #[inline(always)] // mostly for the uncontended `acquire`
    fn lease_pool(
        &mut self,
        pool: PoolId,
        now: Instant,
        lease_for: Duration,
        owner: Option<Arc<str>>,
    ) -> Grant {
        self.lease_seq += 1;
        let entry = self.leases.vacant_entry();
        let key = entry.key();
        let grant = Grant {
            lease: LeaseId { seq: self.lease_seq, key: key as u32, core: self.tag },
            pool,
            leased_at: now,
            lease_for,
            grace: self.config.lease_grace,
        };
        // `grant.hard_expires_at()` with one `Instant` addition instead of
        // two (durations are validated, so their sum cannot overflow).
        let hard_expires_at = now + (lease_for + grant.grace);
        debug_assert_eq!(hard_expires_at, grant.hard_expires_at());
        entry.insert(LeaseSlot { grant, hard_expires_at, owner, jobs: 0, draining: false });
        self.expiries.push(key, hard_expires_at);
        grant
    }

    /// Grants available pools to waiters, first in line first, then asks
    /// for pools for those still waiting.
    #[inline] // the usual case, nobody waiting, costs one length check
    pub(super) fn serve_waiters(&mut self, now: Instant) {
        while self.someone_waits(now) {
            let Some(pool) = self.take_available() else {
                self.create_for_waiters();
                break;
            };
            self.grant_to_first(pool, now);
        }
    }

    /// Leases `pool` to the first waiter; false (and `pool` untouched) if
    /// nobody waits.
    pub(super) fn hand_to_first_waiter(&mut self, pool: PoolId, now: Instant) -> bool {
        let waits = self.someone_waits(now);
        if waits {
            self.grant_to_first(pool, now);
        }
        waits
    }

    /// Whether a waiter is still in time for a pool, after failing those
    /// past their deadline (a pool freed before the driver's timer fired
    /// goes to the next waiter, never to one that timed out).
    #[inline] // the usual case, nobody waiting, costs one length check
    pub(super) fn someone_waits(&mut self, now: Instant) -> bool {
        if self.waiters.is_empty() {
            return false;
        }
        self.fail_expired_waiters(now);
        !self.waiters.is_empty()
    }

    /// Leases `pool` to the first waiter; call only when `someone_waits`.
    pub(super) fn grant_to_first(&mut self, pool: PoolId, now: Instant) {
        let w = self.waiters.pop_front().expect("someone waits");
        let grant = self.lease_pool(pool, now, w.lease_for, w.owner);
        self.actions.push_back(Action::Grant { waiter: w.id, grant });
        self.request_check_on_lease_change();
    }

    /// Fails the waiters whose deadline is at or before `now`.
    pub(super) fn fail_expired_waiters(&mut self, now: Instant) {
        while let Some(w) = self.waiters.pop_expired(now) {
            self.actions.push_back(Action::FailWaiter { waiter: w.id, error: AcquireError::Timeout });
        }
    }
}
