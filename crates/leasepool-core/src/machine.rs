//! The lease state machine: [`Core`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::config::Config;
use crate::deadline::DeadlineHeap;
use crate::ids::{LeaseId, PoolId, WaiterId, next_core_tag};
use crate::stats::{CoreStats, LeaseStats};
use crate::types::{
    Acquire, AcquireError, Acquired, Action, Grant, LeaseEnd, LeaseError, PoolError, PoolFate, Released,
    RunError, ShutdownReason, Wait, WaiterError,
};
use crate::waiters::WaiterQueue;

#[derive(Debug)]
struct LeaseSlot {
    grant: Grant,
    /// `grant.hard_expires_at()`, computed once at grant time; the lease's
    /// entry in `Core::expiries` holds the same instant.
    hard_expires_at: Instant,
    owner: Option<Arc<str>>,
    /// Jobs in flight: `job_submitted` minus `job_finished`, or 1 while a
    /// lease released with `release_busy` drains (the driver counts its
    /// jobs itself). Never both ways for one lease.
    jobs: u64,
    /// Released with jobs in flight: refuses new jobs, and ends with the
    /// `job_finished` that brings `jobs` to 0. Never set with `jobs == 0`.
    draining: bool,
}

/// A pool creation requested by [`Action::CreatePool`] and not yet
/// confirmed by the driver.
#[derive(Debug, Clone, Copy)]
struct Creation {
    pool: PoolId,
    /// The run (see `Core::run`) that asked for it: a creation confirmed
    /// after a stop belongs to an older run, and its pool is shut down.
    run: u64,
}

/// A check is due: read the unit count, then hand it in with
/// [`Core::handle_units`]. Returned by [`Core::check_due`].
///
/// ```
/// # use leasepool_core::{Config, Core};
/// let now = std::time::Instant::now();
/// let mut core = Core::new(Config::builder().max_pools(5).build()?);
/// core.start(now, 0)?;
/// core.notify_scale_changed(now);
/// let due = core.check_due(now).expect("a notification makes a check due");
/// core.handle_units(now, due, 31);
/// assert_eq!(core.total_count(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "hand the unit count in with Core::handle_units"]
pub struct CheckDue {
    /// `Core::check_requests` when the check was found due: a request after
    /// it means the units read for this check may be stale.
    requests: u64,
    /// The run it belongs to: a check found due before a stop is void.
    run: u64,
}

/// The sans-IO lease manager: pools, leases, waiters and the sizing checker.
///
/// Every method is synchronous, never blocks, never reads a clock and never
/// spawns anything. Time comes in as `now`; effects go out as [`Action`]s.
/// After **every** input, drain [`Core::poll_action`] until it returns
/// `None`, perform each action in order, then re-arm your timer with
/// [`Core::poll_timeout`] and call [`Core::handle_timeout`] when it fires.
/// See the [crate docs](crate) for the whole contract and a driver loop.
///
/// A driver bug (an id from another `Core`, a pool confirmed twice, more
/// jobs finished than submitted) panics with a message that names it: it
/// would otherwise corrupt the counts silently.
///
/// ```
/// use std::time::Instant;
/// use leasepool_core::{Acquire, Acquired, Action, Config, Core, Released};
///
/// let now = Instant::now();
/// let mut core = Core::new(Config::builder().max_pools(2).build()?);
/// core.start(now, 0)?;
/// let Some(Action::CreatePool(pool)) = core.poll_action() else { unreachable!() };
/// core.pool_created(now, pool); // the driver started it
/// let Acquired::Granted(grant) = core.acquire(now, Acquire::no_wait())? else { unreachable!() };
/// assert_eq!(core.leased_count(), 1);
/// assert_eq!(core.release(now, grant.lease), Ok(Released::Ended));
/// assert_eq!(core.available_count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Core {
    config: Config,
    /// Tags the ids this core issues (see `ids::next_core_tag`).
    tag: u32,
    /// Between a `start` and a `stop`. While false: no pool is available,
    /// leased or counted as being created, no waiter is queued, and
    /// `next_check` is `None`.
    running: bool,
    /// Counts the starts: a creation (see `Creation::run`) or a check
    /// ticket of an older run is stale.
    run: u64,
    /// The latest `now` seen: inputs read their clock on different threads
    /// before they reach the core, so a slightly older `now` is taken as
    /// this one (time never goes backwards inside the core).
    clock: Option<Instant>,
    units: u64,
    /// `config.desired_executor_count(units)`, kept with `units` (see
    /// `set_units`): every release compares against it.
    desired: usize,
    /// When the next check is due; `Some` exactly while running. A check
    /// runs in `handle_units`, so it stays due (`<= now`) until then.
    next_check: Option<Instant>,
    /// Counts the requests for a check (a notification, a grant or a
    /// release with a size provider): a check whose units were read before
    /// the latest request runs again at once (see [`CheckDue`]).
    check_requests: u64,
    /// A pool broke or could not be created since the last check: further
    /// replacements wait for the next check, so that an initializer that
    /// always fails cannot make pools be recreated in a tight loop.
    replacing_paused: bool,
    /// Idle pools, oldest returned at the front. Never non-empty while a
    /// waiter is queued (a freed pool goes to the first waiter).
    available: VecDeque<PoolId>,
    leases: Slab<LeaseSlot>,
    /// Hard expiries of live leases, keyed by lease slab key: one entry
    /// per entry of `leases`.
    expiries: DeadlineHeap,
    /// Pools asked for with [`Action::CreatePool`] and not yet confirmed,
    /// this run's and older ones': all count toward `max_pools` (an older
    /// run's pool still takes threads until it is confirmed and shut
    /// down). `available + leases + creations <= max_pools` always.
    creations: Vec<Creation>,
    /// The entries of `creations` of this run: the pools coming for the
    /// waiters (a waiter is covered while `waiters <= creating`).
    creating: usize,
    waiters: WaiterQueue,
    /// Effects not yet drained, in the order the driver must perform them.
    actions: VecDeque<Action>,
    lease_seq: u64,
    pool_seq: u64,
}

impl Core {
    /// A stopped core with `config`.
    ///
    /// ```
    /// let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert!(!core.is_running());
    /// ```
    pub fn new(config: Config) -> Self {
        Core {
            desired: config.desired_executor_count(0),
            config,
            tag: next_core_tag(),
            running: false,
            run: 0,
            clock: None,
            units: 0,
            next_check: None,
            check_requests: 0,
            replacing_paused: false,
            available: VecDeque::new(),
            leases: Slab::new(),
            expiries: DeadlineHeap::default(),
            creations: Vec::new(),
            creating: 0,
            waiters: WaiterQueue::new(),
            actions: VecDeque::new(),
            lease_seq: 0,
            pool_seq: 0,
        }
    }

    /// The configuration.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.config().max_pools(), 1);
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

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
        for pool in self.available.drain(..) {
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped });
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

    /// Asks for a lease.
    ///
    /// Hard-expired leases are revoked first. Then, if nobody is queued,
    /// the oldest returned available pool is leased at once. Otherwise the
    /// request is queued behind earlier waiters, and a pool is created for
    /// it if `total < max_pools` (demand may push the total above the
    /// desired count): it is granted, first come first served, when a pool
    /// is created or released ([`Action::Grant`]). A [`Wait::No`] request
    /// waits only when a pool is being created for it; with none free and
    /// none creatable it fails with [`AcquireError::Unavailable`]. A
    /// deadline at or before `now` fails at once with
    /// [`AcquireError::Timeout`].
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
        if !self.running {
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
        if self.waiters.is_empty() {
            if let Some(pool) = self.available.pop_front() {
                let grant = self.lease_pool(pool, now, lease_for, request.owner);
                self.request_check_on_lease_change();
                return Ok(Acquired::Granted(grant));
            }
        }
        let deadline = match request.wait {
            Wait::No if !self.can_create_for_one_more() => return Err(AcquireError::Unavailable),
            Wait::Until(deadline) if deadline <= now => return Err(AcquireError::Timeout),
            Wait::Until(deadline) => Some(deadline),
            Wait::No | Wait::Forever => None,
        };
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
            return Ok(());
        }
        let undrained =
            self.actions.iter().position(|a| matches!(a, Action::Grant { waiter: w, .. } if *w == waiter));
        let Some(Action::Grant { grant, .. }) = undrained.and_then(|i| self.actions.remove(i)) else {
            return Err(WaiterError::Ended);
        };
        // Never seen by the driver: hand the pool on as if released, and
        // say nothing of a lease the driver never heard of.
        let before = self.actions.len();
        self.finalise(grant.lease.key as usize, now);
        let ended = (before..self.actions.len())
            .find(|&i| matches!(self.actions[i], Action::LeaseEnded { lease, .. } if lease == grant.lease));
        if let Some(i) = ended {
            self.actions.remove(i);
        }
        Ok(())
    }

    /// Releases a lease (idempotent while it drains).
    ///
    /// With no job in flight the lease ends now ([`Released::Ended`] and an
    /// [`Action::LeaseEnded`]): its pool goes straight to the first waiter
    /// if there is one; otherwise it is kept (made available) if keeping it
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
        if now >= slot.hard_expires_at {
            self.expire(key);
            self.restore_and_serve(now);
            return Ok(Released::Ended);
        }
        if slot.jobs > 0 {
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
        if !self.take_creation("pool_created", pool) {
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped });
            // It held room under `max_pools` that this run may need.
            if self.running {
                self.restore_and_serve(now);
            }
            return;
        }
        if !self.hand_to_first_waiter(pool, now) {
            self.available.push_back(pool);
        }
    }

    /// Reports that an [`Action::CreatePool`] could not be performed. The
    /// pool is forgotten. If the waiters now outnumber the pools still
    /// being created, the first in line fails with
    /// [`AcquireError::PoolCreationFailed`], so that no acquire waits for a
    /// pool that is not coming (each failure fails at most one waiter, so
    /// a creation that always fails cannot spin). The desired count is not
    /// restored until the next check.
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
        if let Some(i) = self.available.iter().position(|&p| p == pool) {
            self.available.remove(i);
        } else {
            let key = self.leases.iter().find(|(_, s)| s.grant.pool == pool).map(|(k, _)| k);
            let slot = self.remove_lease(key.ok_or(PoolError::Unknown)?);
            // Broken before its grant reached the waiter: the pool never
            // served anyone, and the waiter learns why; the driver never
            // heard of that lease, so no LeaseEnded names it.
            if !self.fail_undrained_grant(slot.grant.lease, pool) {
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

    /// Runs what the clock makes due at `now`: fails waiters past their
    /// deadline and revokes leases past hard expiry (their pools are shut
    /// down and replaced up to the desired count). A check that is due is
    /// not run here: see [`Core::check_due`].
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
    /// # use std::time::Duration;
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// core.handle_timeout(g.hard_expires_at());
    /// assert_eq!(core.leased_count(), 0); // expired and replaced
    /// assert_eq!(core.creating_count(), 1);
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        if !self.running {
            return;
        }
        self.fail_expired_waiters(now);
        self.revoke_expired(now);
    }

    /// Whether a check is due at `now` (its interval passed, or it was
    /// requested): if so, read the unit count (your size provider: it may
    /// be slow, so read it outside any lock) and hand it in with
    /// [`Core::handle_units`]. `None` while stopped.
    ///
    /// A check is requested by [`Core::notify_scale_changed`], and, when
    /// the configuration says a size provider is set
    /// ([`ConfigBuilder::has_size_provider`](crate::ConfigBuilder::has_size_provider)),
    /// by every grant and every release that ends a lease, so that the
    /// pools follow the signal without waiting for the interval.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert!(core.check_due(now).is_none());
    /// core.start(now, 0).unwrap();
    /// assert!(core.check_due(now).is_none());
    /// core.notify_scale_changed(now);
    /// assert!(core.check_due(now).is_some());
    /// ```
    pub fn check_due(&self, now: Instant) -> Option<CheckDue> {
        let due = self.next_check.is_some_and(|at| at <= now.max(self.clock.unwrap_or(now)));
        due.then_some(CheckDue { requests: self.check_requests, run: self.run })
    }

    /// Runs a due check with the unit count read for it: sets the desired
    /// count, creates pools up to it, shuts down idle pools above it (most
    /// recently returned first; leased pools are never revoked for this)
    /// and serves waiters. The next check is due one `check_interval`
    /// later, or at once if a check was requested after `due` was issued
    /// (the units read for it may be stale). A ticket from before a stop,
    /// or a check no longer due, does nothing.
    ///
    /// A size provider that failed can pass the last value,
    /// [`Core::units`].
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(5).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// core.notify_scale_changed(now);
    /// let due = core.check_due(now).unwrap();
    /// core.notify_scale_changed(now); // while the units were being read
    /// core.handle_units(now, due, 31);
    /// assert_eq!(core.desired_executor_count(), 4);
    /// assert!(core.check_due(now).is_some()); // again, with a fresh read
    /// ```
    pub fn handle_units(&mut self, now: Instant, due: CheckDue, units: u64) {
        let now = self.tick(now);
        if !self.running || due.run != self.run || self.next_check.is_none_or(|at| at > now) {
            return;
        }
        // Units first, so that pools replacing expired leases are sized for
        // the new signal rather than created and shrunk in the same pass.
        self.set_units(units);
        self.fail_expired_waiters(now);
        self.revoke_expired(now);
        self.check(now);
        let stale = self.check_requests != due.requests;
        self.next_check = Some(if stale { now } else { now + self.config.check_interval });
    }

    /// Makes a check due at `now` ([`Core::check_due`];
    /// [`Core::poll_timeout`] reflects it). Ignored while stopped.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// core.notify_scale_changed(now);
    /// assert_eq!(core.poll_timeout(), Some(now));
    /// ```
    pub fn notify_scale_changed(&mut self, now: Instant) {
        let now = self.tick(now);
        self.request_check(now);
    }

    /// The next effect to perform, in order. Drain until `None` after every
    /// input.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// assert!(matches!(core.poll_action(), Some(Action::CreatePool(_))));
    /// assert_eq!(core.poll_action(), None);
    /// ```
    #[inline] // called at least once after every input, from another crate
    #[must_use = "every action must be performed, in order"]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Core::handle_timeout`] (or, for a check,
    /// [`Core::check_due`]) must next be looked at: the earliest of the
    /// next check, the next hard expiry and the next waiter deadline.
    /// `None` while stopped. O(1): deadlines are kept in indexed heaps.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// # use std::time::Duration;
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.poll_timeout(), None);
    /// core.start(now, 0).unwrap();
    /// assert_eq!(core.poll_timeout(), Some(now + Duration::from_secs(120)));
    /// ```
    #[inline] // drivers compare it after every input
    #[must_use = "re-arm the timer with it"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.next_check?;
        if let Some((at, _)) = self.expiries.peek() {
            next = next.min(at);
        }
        if let Some(at) = self.waiters.next_deadline() {
            next = next.min(at);
        }
        Some(next)
    }

    /// Whether the manager is started.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert!(!core.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Idle pools.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.available_count(), 0);
    /// ```
    pub fn available_count(&self) -> usize {
        self.available.len()
    }

    /// Leased pools, draining leases included.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.leased_count(), 0);
    /// ```
    pub fn leased_count(&self) -> usize {
        self.leases.len()
    }

    /// Pools asked for ([`Action::CreatePool`]) and not yet confirmed,
    /// those asked for before a [`Core::stop`] included (they are shut
    /// down when confirmed, and count toward `max_pools` until then).
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.creating_count(), 0);
    /// ```
    pub fn creating_count(&self) -> usize {
        self.creations.len()
    }

    /// `available + leased + creating`: never above `max_pools`.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.total_count(), 0);
    /// ```
    pub fn total_count(&self) -> usize {
        self.available.len() + self.leases.len() + self.creations.len()
    }

    /// Queued acquires.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.waiting_count(), 0);
    /// ```
    pub fn waiting_count(&self) -> usize {
        self.waiters.len()
    }

    /// The unit count most recently passed to [`Core::start`] or
    /// [`Core::handle_units`].
    ///
    /// ```
    /// # let mut core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// core.start(std::time::Instant::now(), 7).unwrap();
    /// assert_eq!(core.units(), 7);
    /// ```
    pub fn units(&self) -> u64 {
        self.units
    }

    /// The desired pool count for [`Core::units`]
    /// ([`Config::desired_executor_count`]).
    ///
    /// ```
    /// # let mut core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(9).build().unwrap());
    /// core.start(std::time::Instant::now(), 25).unwrap();
    /// assert_eq!(core.desired_executor_count(), 3);
    /// ```
    pub fn desired_executor_count(&self) -> usize {
        self.desired
    }

    /// A snapshot of counts, configuration and every live lease (sorted by
    /// id) with its time left to soft and hard expiry, never negative.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire};
    /// # use std::time::Duration;
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// core.acquire(now, Acquire::no_wait().owner("etl")).unwrap();
    /// let stats = core.stats(now + Duration::from_secs(10));
    /// assert_eq!(stats.leased, 1);
    /// assert_eq!(stats.leases[0].owner.as_deref(), Some("etl"));
    /// assert_eq!(stats.leases[0].soft_remaining, Duration::from_secs(290));
    /// ```
    pub fn stats(&self, now: Instant) -> CoreStats {
        let mut leases: Vec<LeaseStats> = self
            .leases
            .iter()
            .map(|(_, s)| LeaseStats {
                id: s.grant.lease,
                owner: s.owner.clone(),
                pool: s.grant.pool,
                leased_at: s.grant.leased_at,
                lease_for: s.grant.lease_for,
                soft_remaining: s.grant.soft_expires_at().saturating_duration_since(now),
                hard_remaining: s.hard_expires_at.saturating_duration_since(now),
                jobs: s.jobs,
                draining: s.draining,
            })
            .collect();
        leases.sort_by_key(|l| l.id);
        CoreStats {
            running: self.running,
            available: self.available_count(),
            leased: self.leased_count(),
            creating: self.creating_count(),
            total: self.total_count(),
            desired_executor_count: self.desired,
            units: self.units,
            waiting: self.waiting_count(),
            min_pools: self.config.min_pools,
            max_pools: self.config.max_pools,
            workers_per_pool: self.config.workers_per_pool,
            leases,
        }
    }

    /// The owner label of a live lease.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait().owner("a")) else { panic!() };
    /// assert_eq!(core.lease_owner(g.lease).as_deref(), Some("a"));
    /// ```
    pub fn lease_owner(&self, lease: LeaseId) -> Option<Arc<str>> {
        self.lease_key("lease_owner", lease).and_then(|k| self.leases[k].owner.clone())
    }

    /// The ids of the queued acquires, first in line first.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.waiters().count(), 0);
    /// ```
    pub fn waiters(&self) -> impl Iterator<Item = WaiterId> + '_ {
        self.waiters.iter().map(|w| w.id)
    }

    // ---- internals -------------------------------------------------------

    /// Moves the core's clock to `now`, never backwards, and returns it.
    #[inline]
    fn tick(&mut self, now: Instant) -> Instant {
        let now = match self.clock {
            Some(clock) if clock > now => clock,
            _ => now,
        };
        self.clock = Some(now);
        now
    }

    /// Panics on an id issued by another core: a driver bug that would
    /// otherwise act on an unrelated lease, waiter or pool.
    #[inline]
    fn check_tag(&self, input: &str, what: &str, tag: u32) {
        assert!(
            tag == self.tag,
            "leasepool-core: {input} was given a {what} id issued by another Core (tag {tag}, this core's is {})",
            self.tag
        );
    }

    fn not_running(&self) -> AcquireError {
        if self.run == 0 { AcquireError::NotStarted } else { AcquireError::Stopped }
    }

    fn set_units(&mut self, units: u64) {
        self.units = units;
        self.desired = self.config.desired_executor_count(units);
    }

    fn lease_key(&self, input: &str, lease: LeaseId) -> Option<usize> {
        self.check_tag(input, "lease", lease.core);
        let key = lease.key as usize;
        self.leases.get(key).filter(|s| s.grant.lease == lease).map(|_| key)
    }

    fn request_check(&mut self, now: Instant) {
        if let Some(at) = &mut self.next_check {
            *at = (*at).min(now);
            self.check_requests += 1;
        }
    }

    /// With a size provider, a grant or a lease ending makes a check due,
    /// so that the pools follow the signal.
    #[inline]
    fn request_check_on_lease_change(&mut self) {
        if self.config.has_size_provider {
            if let Some(now) = self.clock {
                self.request_check(now);
            }
        }
    }

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
        let current = creation.run == self.run && self.running;
        if current {
            self.creating -= 1;
        }
        current
    }

    /// This run's pools: available, leased and being created. What the
    /// desired count is compared with (an older run's creations are only
    /// waiting to be shut down).
    fn live_count(&self) -> usize {
        self.available.len() + self.leases.len() + self.creating
    }

    fn new_pool(&mut self) {
        self.pool_seq += 1;
        let pool = PoolId { seq: self.pool_seq, core: self.tag };
        self.creations.push(Creation { pool, run: self.run });
        self.creating += 1;
        self.actions.push_back(Action::CreatePool(pool));
    }

    /// Whether one more waiter would have a pool coming: one already being
    /// created and not owed to an earlier waiter, or room to create one.
    fn can_create_for_one_more(&self) -> bool {
        self.waiters.len() < self.creating || self.total_count() < self.config.max_pools
    }

    /// Asks for pools until every waiter has one coming (or `max_pools` is
    /// reached): a waiter never waits for a creation nobody asked for.
    fn create_for_waiters(&mut self) {
        while self.waiters.len() > self.creating && self.total_count() < self.config.max_pools {
            self.new_pool();
        }
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

    fn grow_to(&mut self, target: usize) {
        while self.live_count() < target && self.total_count() < self.config.max_pools {
            self.new_pool();
        }
    }

    /// Grants available pools to waiters, first in line first, then asks
    /// for pools for those still waiting.
    #[inline] // the usual case, nobody waiting, costs one length check
    fn serve_waiters(&mut self, now: Instant) {
        while self.someone_waits(now) {
            let Some(pool) = self.available.pop_front() else {
                self.create_for_waiters();
                break;
            };
            self.grant_to_first(pool, now);
        }
    }

    /// Leases `pool` to the first waiter; false (and `pool` untouched) if
    /// nobody waits.
    fn hand_to_first_waiter(&mut self, pool: PoolId, now: Instant) -> bool {
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
    fn someone_waits(&mut self, now: Instant) -> bool {
        if self.waiters.is_empty() {
            return false;
        }
        self.fail_expired_waiters(now);
        !self.waiters.is_empty()
    }

    /// Leases `pool` to the first waiter; call only when `someone_waits`.
    fn grant_to_first(&mut self, pool: PoolId, now: Instant) {
        let w = self.waiters.pop_front().expect("someone waits");
        let grant = self.lease_pool(pool, now, w.lease_for, w.owner);
        self.actions.push_back(Action::Grant { waiter: w.id, grant });
        self.request_check_on_lease_change();
    }

    /// After a pool left: back up to the desired count (which is at least
    /// `min_pools`), then serve waiters. Restoring to `desired` here, not
    /// just the minimum, spares a second pass. Only [`Core::pool_broken`]
    /// and [`Core::pool_create_failed`] hold back (see `replacing_paused`):
    /// an expiry or a release is an outside event, so replacing after it
    /// cannot spin.
    fn restore_and_serve(&mut self, now: Instant) {
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

    /// Fails the waiters whose deadline is at or before `now`.
    fn fail_expired_waiters(&mut self, now: Instant) {
        while let Some(w) = self.waiters.pop_expired(now) {
            self.actions.push_back(Action::FailWaiter { waiter: w.id, error: AcquireError::Timeout });
        }
    }

    /// Ends the lease at `key` as expired and shuts its pool down.
    fn expire(&mut self, key: usize) {
        let slot = self.remove_lease(key);
        let (lease, pool, owner) = (slot.grant.lease, slot.grant.pool, slot.owner);
        self.actions.push_back(Action::LeaseEnded { lease, pool, owner, end: LeaseEnd::Expired });
        self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Expired });
    }

    #[inline] // the usual case, nothing expired, costs one heap peek
    fn revoke_expired(&mut self, now: Instant) {
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

    /// Ends a released lease that is not past hard expiry: its pool goes to
    /// the first waiter, or is kept, or is shut down. `None` if `key` is
    /// not a live lease.
    fn finalise(&mut self, key: usize, now: Instant) -> Option<PoolFate> {
        if !self.leases.contains(key) {
            return None;
        }
        let slot = self.remove_lease(key);
        let pool = slot.grant.pool;
        if now >= slot.hard_expires_at {
            let (lease, owner) = (slot.grant.lease, slot.owner);
            self.actions.push_back(Action::LeaseEnded { lease, pool, owner, end: LeaseEnd::Expired });
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Expired });
            self.restore_and_serve(now);
            return None;
        }
        let ended = |fate| Action::LeaseEnded {
            lease: slot.grant.lease,
            pool,
            owner: slot.owner.clone(),
            end: LeaseEnd::Released(fate),
        };
        // Direct hand-off first: the first waiter gets this pool, one grant.
        // The lease's end comes before the grant that reuses its pool.
        let fate = if self.someone_waits(now) {
            self.actions.push_back(ended(PoolFate::HandedOff));
            self.grant_to_first(pool, now);
            PoolFate::HandedOff
        } else if self.live_count() < self.desired {
            self.actions.push_back(ended(PoolFate::Kept));
            self.available.push_back(pool);
            PoolFate::Kept
        } else {
            self.actions.push_back(ended(PoolFate::ShutDown));
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::NotKept });
            PoolFate::ShutDown
        };
        self.request_check_on_lease_change();
        self.restore_and_serve(now);
        Some(fate)
    }

    /// Forgets the lease at `key` and its expiry.
    fn remove_lease(&mut self, key: usize) -> LeaseSlot {
        self.expiries.remove(key);
        self.leases.remove(key)
    }

    fn check(&mut self, now: Instant) {
        self.replacing_paused = false;
        let desired = self.desired;
        self.grow_to(desired);
        while self.live_count() > desired {
            let Some(pool) = self.available.pop_back() else { break };
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Shrink });
        }
        self.serve_waiters(now);
    }
}
