//! The lease state machine: [`Core`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::config::Config;
use crate::deadline::DeadlineHeap;
use crate::ids::{LeaseId, PoolId, WaiterId};
use crate::stats::{LeaseStats, Stats};
use crate::types::{
    Acquire, AcquireError, Acquired, Action, Finalised, Grant, ReleaseOutcome, ShutdownReason, SubmitError,
    Wait,
};
use crate::waiters::WaiterQueue;

#[derive(Debug)]
struct LeaseSlot {
    grant: Grant,
    /// `grant.hard_expires_at()`, computed once at grant time.
    hard_expires_at: Instant,
    owner: Option<Arc<str>>,
    jobs: u64,
    draining: bool,
}

/// The sans-IO lease manager: pools, leases, waiters and the sizing checker.
///
/// Every method is synchronous, never blocks, never reads a clock and never
/// spawns anything. Time comes in as `now`; effects go out as [`Action`]s.
/// After **every** call, drain [`Core::poll_action`] until it returns `None`,
/// perform each action in order, then re-arm your timer with
/// [`Core::poll_timeout`] and call [`Core::handle_timeout`] when it fires.
/// See the [crate docs](crate) for a complete driver loop.
///
/// ```
/// use std::time::Instant;
/// use leasepool_core::{Acquire, Acquired, Config, Core, ReleaseOutcome, Finalised};
///
/// let now = Instant::now();
/// let mut core = Core::new(Config::builder().max_pools(2).build()?);
/// core.start(now, 0);
/// let Acquired::Granted(grant) = core.acquire(now, Acquire::no_wait())? else { unreachable!() };
/// assert_eq!(core.leased_count(), 1);
/// assert_eq!(core.release(grant.lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
/// assert_eq!(core.available_count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Core {
    config: Config,
    running: bool,
    units: u64,
    /// `config.desired_pools(units)`, updated with `units` (see `set_units`):
    /// every release compares against it.
    desired: usize,
    next_check: Option<Instant>,
    /// A pool broke or could not be created since the last check: further
    /// replacements wait for the next check, so that an initializer that
    /// always fails cannot make pools be recreated in a tight loop.
    replacing_paused: bool,
    /// Idle pools, oldest returned at the front.
    available: VecDeque<PoolId>,
    leases: Slab<LeaseSlot>,
    /// Hard expiries of live leases, keyed by lease slab key.
    expiries: DeadlineHeap,
    waiters: WaiterQueue,
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
            desired: config.desired_pools(0),
            config,
            running: false,
            units: 0,
            next_check: None,
            replacing_paused: false,
            available: VecDeque::new(),
            leases: Slab::new(),
            expiries: DeadlineHeap::default(),
            waiters: WaiterQueue::default(),
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

    /// Starts the manager: creates pools up to the desired count for `units`
    /// and schedules the first check one `check_interval` from `now`.
    /// Returns `false` (and does nothing) if already running.
    ///
    /// If creating any pool fails, report it with
    /// [`Core::pool_create_failed`] and then call [`Core::stop`]: that shuts
    /// down everything `start` created, leaving a stopped core that can be
    /// started again.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(5).build().unwrap());
    /// assert!(core.start(now, 31)); // 31 units, 10 per pool: 4 pools
    /// assert!(!core.start(now, 31));
    /// assert_eq!(core.total_count(), 4);
    /// ```
    pub fn start(&mut self, now: Instant, units: u64) -> bool {
        if self.running {
            return false;
        }
        self.running = true;
        self.replacing_paused = false;
        self.set_units(units);
        self.next_check = Some(now + self.config.check_interval);
        self.grow_to(self.desired_count());
        true
    }

    /// Stops the manager: fails every waiter with
    /// [`AcquireError::NotStarted`], shuts down every pool (available and
    /// leased) and forgets every lease. Returns `false` if already stopped.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Action};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0);
    /// while core.poll_action().is_some() {}
    /// assert!(core.stop(now));
    /// assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { .. })));
    /// assert!(!core.stop(now));
    /// ```
    pub fn stop(&mut self, _now: Instant) -> bool {
        if !self.running {
            return false;
        }
        self.running = false;
        self.next_check = None;
        while let Some(w) = self.waiters.pop_front() {
            self.actions.push_back(Action::FailWaiter { waiter: w.id, error: AcquireError::NotStarted });
        }
        for pool in self.available.drain(..) {
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped });
        }
        for slot in self.leases.drain() {
            self.actions
                .push_back(Action::ShutdownPool { pool: slot.grant.pool, reason: ShutdownReason::Stopped });
        }
        self.expiries.clear();
        true
    }

    /// Asks for a lease.
    ///
    /// Hard-expired leases are revoked first. Then the oldest returned
    /// available pool is leased, or a new pool is created if
    /// `total < max_pools` (demand may push the total above the desired
    /// count); otherwise the request fails with
    /// [`AcquireError::Unavailable`] ([`Wait::No`]) or is queued behind
    /// earlier waiters. A deadline at or before `now` fails at once with
    /// [`AcquireError::Timeout`].
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired, AcquireError};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::NotStarted));
    /// core.start(now, 0);
    /// assert!(matches!(core.acquire(now, Acquire::no_wait()), Ok(Acquired::Granted(_))));
    /// assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
    /// assert!(matches!(core.acquire(now, Acquire::wait()), Ok(Acquired::Queued(_))));
    /// ```
    pub fn acquire(&mut self, now: Instant, request: Acquire) -> Result<Acquired, AcquireError> {
        if !self.running {
            return Err(AcquireError::NotStarted);
        }
        // The default was validated with the configuration.
        let lease = match request.lease {
            Some(lease) => {
                self.config.validate_lease(lease)?;
                lease
            }
            None => self.config.default_lease,
        };
        self.revoke_expired(now);
        if self.waiters.is_empty() {
            if let Some(pool) = self.take_or_create_pool() {
                return Ok(Acquired::Granted(self.lease_pool(pool, now, lease, request.owner)));
            }
        }
        let deadline = match request.wait {
            Wait::No => return Err(AcquireError::Unavailable),
            Wait::Until(deadline) if deadline <= now => return Err(AcquireError::Timeout),
            Wait::Until(deadline) => Some(deadline),
            Wait::Forever => None,
        };
        Ok(Acquired::Queued(self.waiters.push_back(lease, request.owner, deadline)))
    }

    /// Withdraws a queued acquire (its future was dropped). Returns whether
    /// it was still queued; if it was already granted, give the lease back
    /// with [`Core::release`] instead.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0);
    /// # let _held = core.acquire(now, Acquire::no_wait()).unwrap();
    /// let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::wait()) else { panic!() };
    /// assert!(core.cancel_waiter(w));
    /// assert!(!core.cancel_waiter(w));
    /// assert_eq!(core.waiting_count(), 0);
    /// ```
    pub fn cancel_waiter(&mut self, waiter: WaiterId) -> bool {
        self.waiters.remove(waiter).is_some()
    }

    /// Releases a lease (idempotent).
    ///
    /// With jobs still in flight the lease is *draining*: it refuses new
    /// jobs, still counts as leased, and is finalised by the
    /// [`Core::job_finished`] that ends its last job; past its hard expiry
    /// it is revoked instead, at once (as the checker would: its pool shut
    /// down, the count restored). On finalisation the pool goes straight to
    /// the first waiter if there is one; otherwise it is kept (made
    /// available) only if the lease is not past hard expiry and keeping it
    /// leaves `total <= desired`; otherwise it is shut down. Then the pool
    /// count is restored to the desired count and waiters are served.
    ///
    /// This is also how a grant whose waiter has gone away is handed back.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired, ReleaseOutcome, Finalised};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// # core.start(now, 0);
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// core.job_submitted(g.lease, now).unwrap();
    /// assert_eq!(core.release(g.lease, now), ReleaseOutcome::Draining { jobs: 1 });
    /// assert_eq!(core.leased_count(), 1);
    /// assert_eq!(core.job_finished(g.lease, now), Some(Finalised::Kept));
    /// assert_eq!(core.release(g.lease, now), ReleaseOutcome::Unknown);
    /// ```
    pub fn release(&mut self, lease: LeaseId, now: Instant) -> ReleaseOutcome {
        let Some(key) = self.lease_key(lease) else {
            return ReleaseOutcome::Unknown;
        };
        let slot = &mut self.leases[key];
        if slot.jobs == 0 {
            return ReleaseOutcome::Finalised(self.finalise(key, now));
        }
        if !slot.draining && now >= slot.hard_expires_at {
            self.revoke(key);
            self.restore_and_serve(now);
            return ReleaseOutcome::Revoked;
        }
        slot.draining = true;
        ReleaseOutcome::Draining { jobs: slot.jobs }
    }

    /// Releases a lease whose jobs the driver counts itself (it reports
    /// none through [`Core::job_submitted`]) while some are still queued or
    /// running: [`Core::release`] with one job in flight. The lease drains
    /// (or, past hard expiry, is revoked), and one [`Core::job_finished`],
    /// when the last of those jobs ends, finalises it. With no job in
    /// flight, call [`Core::release`].
    ///
    /// The core needs jobs only to know whether a release must drain, so
    /// this is all such a driver reports; leasepool's async driver works so,
    /// and a job there takes no lock.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired, ReleaseOutcome, Finalised};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// # core.start(now, 0);
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// // The driver knows 3 jobs of this lease are running.
    /// assert_eq!(core.release_busy(g.lease, now), ReleaseOutcome::Draining { jobs: 1 });
    /// assert_eq!(core.release_busy(g.lease, now), ReleaseOutcome::Draining { jobs: 1 }); // idempotent
    /// // ... the last of them ends:
    /// assert_eq!(core.job_finished(g.lease, now), Some(Finalised::Kept));
    /// ```
    pub fn release_busy(&mut self, lease: LeaseId, now: Instant) -> ReleaseOutcome {
        if let Some(key) = self.lease_key(lease) {
            let slot = &mut self.leases[key];
            if !slot.draining {
                slot.jobs += 1;
            }
        }
        self.release(lease, now)
    }

    /// Records a job submitted through `lease` and returns the pool to run it
    /// on. Refused if the lease is unknown or draining; a lease past its hard
    /// expiry is revoked on the spot (its pool shut down and replaced) and
    /// refused.
    ///
    /// A driver that counts jobs itself need not report them (see
    /// [`Core::release_busy`]); it still calls this for a job past hard
    /// expiry, to revoke the lease on the spot.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired, SubmitError};
    /// # use std::time::Duration;
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0);
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// assert_eq!(core.job_submitted(g.lease, now), Ok(g.pool));
    /// let late = g.hard_expires_at();
    /// assert_eq!(core.job_submitted(g.lease, late), Err(SubmitError::Expired));
    /// assert_eq!(core.leased_count(), 0);
    /// ```
    pub fn job_submitted(&mut self, lease: LeaseId, now: Instant) -> Result<PoolId, SubmitError> {
        let key = self.lease_key(lease).ok_or(SubmitError::Unknown)?;
        let slot = &mut self.leases[key];
        if slot.draining {
            return Err(SubmitError::Released);
        }
        if now >= slot.hard_expires_at {
            self.revoke(key);
            self.restore_and_serve(now);
            return Err(SubmitError::Expired);
        }
        slot.jobs += 1;
        Ok(slot.grant.pool)
    }

    /// Records that a job submitted through `lease` finished (or was
    /// cancelled). If that ends a draining lease, it is finalised and the
    /// result returned. Unknown leases are ignored.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0);
    /// # let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// core.job_submitted(g.lease, now).unwrap();
    /// assert_eq!(core.job_finished(g.lease, now), None); // not released: nothing to finalise
    /// ```
    pub fn job_finished(&mut self, lease: LeaseId, now: Instant) -> Option<Finalised> {
        let key = self.lease_key(lease)?;
        let slot = &mut self.leases[key];
        slot.jobs = slot.jobs.saturating_sub(1);
        (slot.draining && slot.jobs == 0).then(|| self.finalise(key, now))
    }

    /// Retires a pool the driver found broken: it is removed (never reused),
    /// its lease (if leased) is forgotten, it is shut down, the desired
    /// count is restored and waiters are served. Until the next check, a
    /// pool that breaks (or fails to be created) is not replaced again, so
    /// that pools whose initializer always fails are not created and
    /// retired in a tight loop (acquires still create pools on demand, and
    /// a revocation or a release restores the count as usual).
    /// Returns whether the pool was known.
    ///
    /// Call it for a pool that broke after its [`Action::CreatePool`] was
    /// performed; a failure while performing it is
    /// [`Core::pool_create_failed`]. Either may come in the middle of a
    /// drain: a [`Action::Grant`] of the pool still undrained becomes
    /// [`Action::FailWaiter`] with [`AcquireError::PoolCreationFailed`].
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire, Acquired};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// # core.start(now, 0);
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
    /// assert!(core.pool_broken(g.pool, now));
    /// assert_eq!((core.leased_count(), core.total_count()), (0, 1)); // replaced at once
    /// # let mut created = None;
    /// # while let Some(a) = core.poll_action() { if let leasepool_core::Action::CreatePool(p) = a { created = Some(p); } }
    /// assert!(core.pool_broken(created.unwrap(), now)); // the replacement breaks too
    /// assert_eq!(core.total_count(), 0); // replaced by the next check
    /// ```
    pub fn pool_broken(&mut self, pool: PoolId, now: Instant) -> bool {
        if !self.forget_pool(pool) {
            return false;
        }
        // Broken before its grant reached the waiter: the pool never served
        // anyone, as if its creation had failed.
        self.fail_undrained_grants(pool);
        self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Broken });
        if !self.replacing_paused {
            self.grow_to(self.desired_count());
        }
        self.serve_waiters(now);
        // A replacement that breaks too waits for the next check.
        self.replacing_paused = true;
        true
    }

    /// Reports that a [`Action::CreatePool`] could not be performed. The pool
    /// is forgotten; if it had been granted to a waiter whose
    /// [`Action::Grant`] is still undrained, that grant becomes
    /// [`Action::FailWaiter`] with [`AcquireError::PoolCreationFailed`]. If it
    /// was granted directly by [`Core::acquire`], its lease is forgotten and
    /// the driver fails that acquire itself. Waiters are served, but the
    /// minimum is not restored until the next check, so that a creation that
    /// keeps failing cannot spin. Returns whether the pool was known.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0);
    /// let Some(Action::CreatePool(pool)) = core.poll_action() else { panic!() };
    /// assert!(core.pool_create_failed(pool, now));
    /// assert_eq!(core.total_count(), 0);
    /// ```
    pub fn pool_create_failed(&mut self, pool: PoolId, now: Instant) -> bool {
        if !self.forget_pool(pool) {
            return false;
        }
        self.fail_undrained_grants(pool);
        self.replacing_paused = true;
        self.serve_waiters(now);
        true
    }

    /// Runs whatever is due at `now`: fails waiters past their deadline,
    /// revokes leases past hard expiry (their pools are shut down and
    /// replaced up to the desired count), and, when the check is due, runs a checker pass
    /// with the unit count from `units` (called only then): create pools up
    /// to the desired count, shut down idle pools above it (most recently
    /// returned first; leased pools are never revoked for this), serve
    /// waiters. The next check is due one `check_interval` later.
    ///
    /// `units` is where a driver calls its size provider; a provider that
    /// fails should be turned into `0` by the driver.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(5).build().unwrap());
    /// core.start(now, 0);
    /// core.notify_scale_changed(now);
    /// core.handle_timeout(now, || 31);
    /// assert_eq!(core.total_count(), 4);
    /// ```
    pub fn handle_timeout(&mut self, now: Instant, units: impl FnOnce() -> u64) {
        if !self.running {
            return;
        }
        self.fail_expired_waiters(now);
        // Sample first, so that pools replacing revoked ones are sized for
        // the new signal rather than created and shrunk in the same pass.
        let due = self.check_due(now);
        if due {
            self.set_units(units());
        }
        self.revoke_expired(now);
        if due {
            self.check(now);
            self.next_check = Some(now + self.config.check_interval);
        }
    }

    /// Makes the next check due at `now` (call [`Core::handle_timeout`] soon
    /// after; [`Core::poll_timeout`] reflects it). Ignored while stopped.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0);
    /// core.notify_scale_changed(now);
    /// assert_eq!(core.poll_timeout(), Some(now));
    /// ```
    pub fn notify_scale_changed(&mut self, now: Instant) {
        if let Some(at) = &mut self.next_check {
            *at = (*at).min(now);
        }
    }

    /// Whether the next [`Core::handle_timeout`] at `now` runs a check (and
    /// so calls its `units`): a driver whose size provider is costly can
    /// sample it only then.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert!(!core.check_due(now));
    /// core.start(now, 0);
    /// assert!(!core.check_due(now));
    /// core.notify_scale_changed(now);
    /// assert!(core.check_due(now));
    /// ```
    pub fn check_due(&self, now: Instant) -> bool {
        self.next_check.is_some_and(|at| at <= now)
    }

    /// The next effect to perform, in order. Drain until `None` after every
    /// call into the core.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// core.start(now, 0);
    /// assert!(matches!(core.poll_action(), Some(Action::CreatePool(_))));
    /// assert_eq!(core.poll_action(), None);
    /// ```
    #[inline] // called at least once after every input, from another crate
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Core::handle_timeout`] must next be called: the earliest of the
    /// next check, the next hard expiry and the next waiter deadline. `None`
    /// while stopped. O(1): deadlines are kept in indexed heaps.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core};
    /// # use std::time::Duration;
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.poll_timeout(), None);
    /// core.start(now, 0);
    /// assert_eq!(core.poll_timeout(), Some(now + Duration::from_secs(120)));
    /// ```
    #[inline] // drivers compare it after every input
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

    /// `available + leased`.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert_eq!(core.total_count(), 0);
    /// ```
    pub fn total_count(&self) -> usize {
        self.available.len() + self.leases.len()
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

    /// The unit count most recently passed to [`Core::start`] or a check.
    ///
    /// ```
    /// # let mut core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// core.start(std::time::Instant::now(), 7);
    /// assert_eq!(core.units(), 7);
    /// ```
    pub fn units(&self) -> u64 {
        self.units
    }

    /// The desired pool count for [`Core::units`].
    ///
    /// ```
    /// # let mut core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(9).build().unwrap());
    /// core.start(std::time::Instant::now(), 25);
    /// assert_eq!(core.desired_count(), 3);
    /// ```
    pub fn desired_count(&self) -> usize {
        self.desired
    }

    /// A snapshot of counts, configuration and every live lease (sorted by
    /// id) with its time left to soft and hard expiry, never negative.
    ///
    /// ```
    /// # use leasepool_core::{Config, Core, Acquire};
    /// # use std::time::Duration;
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(2).build().unwrap());
    /// core.start(now, 0);
    /// core.acquire(now, Acquire::no_wait().owner("etl")).unwrap();
    /// let stats = core.stats(now + Duration::from_secs(10));
    /// assert_eq!(stats.leased, 1);
    /// assert_eq!(stats.leases[0].owner.as_deref(), Some("etl"));
    /// assert_eq!(stats.leases[0].soft_remaining, Duration::from_secs(290));
    /// ```
    pub fn stats(&self, now: Instant) -> Stats {
        let mut leases: Vec<LeaseStats> = self
            .leases
            .iter()
            .map(|(_, s)| LeaseStats {
                id: s.grant.lease,
                owner: s.owner.clone(),
                pool: s.grant.pool,
                leased_at: s.grant.leased_at,
                lease_duration: s.grant.lease_duration,
                soft_remaining: s.grant.soft_expires_at().saturating_duration_since(now),
                hard_remaining: s.hard_expires_at.saturating_duration_since(now),
                jobs: s.jobs,
                draining: s.draining,
            })
            .collect();
        leases.sort_by_key(|l| l.id);
        Stats {
            running: self.running,
            available: self.available_count(),
            leased: self.leased_count(),
            total: self.total_count(),
            desired: self.desired_count(),
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
    /// # use leasepool_core::{Config, Core, Acquire, Acquired};
    /// # let now = std::time::Instant::now();
    /// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
    /// # core.start(now, 0);
    /// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait().owner("a")) else { panic!() };
    /// assert_eq!(core.lease_owner(g.lease).as_deref(), Some("a"));
    /// ```
    pub fn lease_owner(&self, lease: LeaseId) -> Option<Arc<str>> {
        self.lease_key(lease).and_then(|k| self.leases[k].owner.clone())
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

    fn set_units(&mut self, units: u64) {
        self.units = units;
        self.desired = self.config.desired_pools(units);
    }

    fn lease_key(&self, lease: LeaseId) -> Option<usize> {
        let key = lease.key as usize;
        self.leases.get(key).filter(|s| s.grant.lease == lease).map(|_| key)
    }

    fn new_pool(&mut self) -> PoolId {
        self.pool_seq += 1;
        let pool = PoolId(self.pool_seq);
        self.actions.push_back(Action::CreatePool(pool));
        pool
    }

    fn take_or_create_pool(&mut self) -> Option<PoolId> {
        if let Some(pool) = self.available.pop_front() {
            Some(pool)
        } else if self.total_count() < self.config.max_pools {
            Some(self.new_pool())
        } else {
            None
        }
    }

    #[inline(always)] // mostly for the uncontended `acquire`
    fn lease_pool(&mut self, pool: PoolId, now: Instant, lease: Duration, owner: Option<Arc<str>>) -> Grant {
        self.lease_seq += 1;
        let entry = self.leases.vacant_entry();
        let key = entry.key();
        let grant = Grant {
            lease: LeaseId { seq: self.lease_seq, key: key as u32 },
            pool,
            leased_at: now,
            lease_duration: lease,
            grace: self.config.lease_grace,
        };
        // `grant.hard_expires_at()` with one `Instant` addition instead of
        // two (durations are validated, so their sum cannot overflow).
        let hard_expires_at = now + (lease + grant.grace);
        debug_assert_eq!(hard_expires_at, grant.hard_expires_at());
        entry.insert(LeaseSlot { grant, hard_expires_at, owner, jobs: 0, draining: false });
        self.expiries.push(key, hard_expires_at);
        grant
    }

    fn grow_to(&mut self, target: usize) {
        while self.total_count() < target {
            let pool = self.new_pool();
            self.available.push_back(pool);
        }
    }

    /// Grants free or creatable pools to waiters, first in line first.
    #[inline] // the usual case, nobody waiting, costs one length check
    fn serve_waiters(&mut self, now: Instant) {
        while self.someone_waits(now) {
            let Some(pool) = self.take_or_create_pool() else { break };
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
        let grant = self.lease_pool(pool, now, w.lease, w.owner);
        self.actions.push_back(Action::Grant { waiter: w.id, grant });
    }

    /// After a pool left: back up to the desired count (which is at least
    /// `min_pools`), then serve waiters. Restoring to `desired` here, not
    /// just the minimum, is what the original's immediate checker wake-up
    /// achieved, without a second pass.
    /// Only [`Core::pool_broken`] and [`Core::pool_create_failed`] hold
    /// back (see `replacing_paused`): a revocation or a release is an
    /// outside event, so replacing after it cannot spin.
    fn restore_and_serve(&mut self, now: Instant) {
        self.grow_to(self.desired_count());
        self.serve_waiters(now);
    }

    /// Turns an undrained grant of `pool` (forgotten before the driver saw
    /// the grant) into a failure of its waiter.
    fn fail_undrained_grants(&mut self, pool: PoolId) {
        for action in self.actions.iter_mut() {
            if let Action::Grant { waiter, grant } = *action {
                if grant.pool == pool {
                    *action = Action::FailWaiter { waiter, error: AcquireError::PoolCreationFailed };
                }
            }
        }
    }

    /// Fails the waiters whose deadline is at or before `now`.
    fn fail_expired_waiters(&mut self, now: Instant) {
        while let Some(w) = self.waiters.pop_expired(now) {
            self.actions.push_back(Action::FailWaiter { waiter: w.id, error: AcquireError::Timeout });
        }
    }

    /// Removes the lease at `key` and shuts its pool down as expired.
    fn revoke(&mut self, key: usize) {
        let slot = self.remove_lease(key);
        let reason = ShutdownReason::Expired { lease: slot.grant.lease, owner: slot.owner };
        self.actions.push_back(Action::ShutdownPool { pool: slot.grant.pool, reason });
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
            self.revoke(key);
            any = true;
        }
        if any {
            self.restore_and_serve(now);
        }
    }

    fn finalise(&mut self, key: usize, now: Instant) -> Finalised {
        let slot = self.remove_lease(key);
        let pool = slot.grant.pool;
        // `running` is always true here (stop forgets every lease), so the
        // "manager is not stopping" condition reduces to the expiry check.
        let healthy = now < slot.hard_expires_at;
        // Direct hand-off first: the first waiter gets this pool, one grant.
        let outcome = if healthy && self.hand_to_first_waiter(pool, now) {
            Finalised::HandedOff
        } else if healthy && self.total_count() < self.desired_count() {
            self.available.push_back(pool);
            Finalised::Kept
        } else {
            let reason = ShutdownReason::NotKept { lease: slot.grant.lease };
            self.actions.push_back(Action::ShutdownPool { pool, reason });
            Finalised::ShutDown
        };
        self.restore_and_serve(now);
        outcome
    }

    /// Removes `pool` from the available list or from its lease.
    fn forget_pool(&mut self, pool: PoolId) -> bool {
        if let Some(i) = self.available.iter().position(|&p| p == pool) {
            self.available.remove(i);
            return true;
        }
        let Some(key) = self.leases.iter().find(|(_, s)| s.grant.pool == pool).map(|(k, _)| k) else {
            return false;
        };
        self.remove_lease(key);
        true
    }

    /// Forgets the lease at `key` and its expiry.
    fn remove_lease(&mut self, key: usize) -> LeaseSlot {
        self.expiries.remove(key);
        self.leases.remove(key)
    }

    fn check(&mut self, now: Instant) {
        self.replacing_paused = false;
        let desired = self.desired_count();
        self.grow_to(desired);
        while self.total_count() > desired {
            let Some(pool) = self.available.pop_back() else { break };
            self.actions.push_back(Action::ShutdownPool { pool, reason: ShutdownReason::Shrink });
        }
        self.serve_waiters(now);
    }
}
