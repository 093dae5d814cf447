//! Starting and stopping [`Core`]: `start` asks for the first pools and
//! schedules the first check; `close` refuses new work and lets the leases
//! finish; `stop` fails the waiters, ends the leases and shuts every pool
//! down.

use std::time::Instant;

use super::Core;
use crate::types::{AcquireError, Action, LeaseEnd, RunError, ShutdownReason};

impl Core {
    /// Starts the manager: asks for pools up to the desired count for
    /// `units` ([`Action::CreatePool`]) and schedules the first check one
    /// `check_interval` from `now`.
    ///
    /// If creating any of these pools fails, a driver that wants an
    /// all-or-nothing start reports it with [`Core::pool_create_failed`]
    /// and calls [`Core::stop`]: that shuts down everything `start`
    /// created, leaving a stopped core that can be started again.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, RunError};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(5).build().unwrap());
    /// assert_eq!(core.start(now, 31), Ok(())); // 31 units, 10 per pool: 4 pools
    /// assert_eq!(core.start(now, 31), Err(RunError::AlreadyRunning));
    /// assert_eq!((core.creating_count(), core.total_count()), (4, 4));
    /// ```
    pub fn start(&mut self, now: Instant, units: u64) -> Result<(), RunError> {
        let now = self.tick(now);
        if self.running {
            return Err(RunError::AlreadyRunning);
        }
        self.running = true;
        self.run += 1;
        self.replacing_paused = false;
        self.shrink_owed = 0;
        self.set_units(units);
        self.next_check = Some(now + self.config.check_interval);
        self.grow_to(self.desired);
        Ok(())
    }

    /// Stops the manager: fails every waiter with
    /// [`AcquireError::Stopped`], ends every lease
    /// ([`LeaseEnd::Stopped`]), shuts down every pool (available and
    /// leased), and disowns the pools being created (each is shut down
    /// when its creation is confirmed).
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Action, RunError};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0)?;
    /// let Some(Action::CreatePool(pool)) = core.poll_action() else { unreachable!() };
    /// core.pool_created(now, pool);
    /// assert_eq!(core.stop(now), Ok(()));
    /// assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { .. })));
    /// assert_eq!(core.stop(now), Err(RunError::NotRunning));
    /// # Ok::<(), RunError>(())
    /// ```
    pub fn stop(&mut self, now: Instant) -> Result<(), RunError> {
        self.tick(now);
        if !self.running {
            return Err(RunError::NotRunning);
        }
        self.running = false;
        self.closing = false;
        self.refuse_new_work();
        for slot in self.leases.drain() {
            let pool = slot.grant.pool;
            self.actions.push_back(Action::LeaseEnded {
                lease: slot.grant.lease,
                pool,
                owner: slot.owner,
                end: LeaseEnd::Stopped,
            });
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped });
        }
        self.expiries.clear();
        Ok(())
    }

    /// Begins a graceful shutdown: from now on every acquire fails with
    /// [`AcquireError::Stopped`], every queued waiter fails with it now
    /// ([`Action::FailWaiter`]), idle pools are shut down
    /// ([`ShutdownReason::Stopped`]) and the pools being created are
    /// disowned (each is shut down when its creation is confirmed). The
    /// leases live on: their jobs run and are submitted as before, and hard
    /// expiry still revokes them; a lease that ends shuts its pool down
    /// ([`PoolFate::ShutDown`](crate::PoolFate::ShutDown), reason
    /// [`ShutdownReason::Stopped`]) rather than keeping it or handing it
    /// on. No pool is created and no check runs while closing.
    ///
    /// When the last lease has ended, [`Core::is_drained`] is true. The
    /// driver then calls [`Core::stop`], or calls it at its own deadline
    /// to cut the leases still live; either way the core ends stopped.
    /// Closing a closing core does nothing; closing a stopped one is
    /// [`RunError::NotRunning`].
    ///
    /// ```
    /// # use leasepool_core::{Acquire, Acquired, AcquireError, Action, Config, Core, RunError};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0)?;
    /// let Some(Action::CreatePool(pool)) = core.poll_action() else { unreachable!() };
    /// core.pool_created(now, pool);
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { unreachable!() };
    /// let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::wait()) else { unreachable!() };
    ///
    /// assert_eq!(core.close(now), Ok(()));
    /// assert_eq!(core.poll_action(), Some(Action::FailWaiter { waiter: w, error: AcquireError::Stopped }));
    /// assert_eq!(core.acquire(now, Acquire::wait()), Err(AcquireError::Stopped));
    /// assert!(!core.is_drained()); // the lease lives on
    ///
    /// core.release(now, g.lease).unwrap();
    /// assert!(matches!(core.poll_action(), Some(Action::LeaseEnded { .. })));
    /// assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { .. })));
    /// assert!(core.is_drained());
    /// core.stop(now)?;
    /// assert_eq!(core.poll_action(), None);
    /// assert_eq!(core.close(now), Err(RunError::NotRunning));
    /// # Ok::<(), RunError>(())
    /// ```
    pub fn close(&mut self, now: Instant) -> Result<(), RunError> {
        self.tick(now);
        if !self.running {
            return Err(RunError::NotRunning);
        }
        if self.closing {
            return Ok(());
        }
        self.closing = true;
        self.refuse_new_work();
        Ok(())
    }

    /// What `stop` and `close` share: no check, no creation of this run
    /// (those in flight are disowned, see `take_creation`), every waiter
    /// failed and every idle pool shut down.
    fn refuse_new_work(&mut self) {
        self.next_check = None;
        self.creating = 0;
        while let Some(w) = self.waiters.pop_front() {
            self.actions.push_back(Action::FailWaiter { waiter: w.id, error: AcquireError::Stopped });
        }
        self.clear_idle_deadlines();
        for entry in self.available.drain(..) {
            self.actions
                .push_back(Action::ShutdownPool { pool: entry.pool, reason: ShutdownReason::Stopped });
        }
    }
}
