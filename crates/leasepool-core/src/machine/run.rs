//! Starting and stopping [`Core`]: `start` asks for the first pools and
//! schedules the first check; `stop` fails the waiters, ends the leases and
//! shuts every pool down.

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
}
