//! The lease state machine: [`Core`].
//!
//! This file holds `Core`'s state (the struct and what each field means),
//! [`CheckDue`], the constructor, the read-only accessors and stats, and the
//! few helpers every input uses (the clock, id checks, lease lookup, counts).
//! The inputs live in one file per job, each an `impl Core` block:
//!
//! * `run`: `start`, `close` and `stop`;
//! * `acquire`: `acquire`, `cancel_waiter`, and serving the waiters;
//! * `lease`: `release`, `release_busy`, the job counts, how a lease ends,
//!   and hard expiry;
//! * `pools`: `pool_created`, `pool_create_failed`, `pool_broken`, and the
//!   creations asked for;
//! * `timers`: `handle_timeout`, the due check, `notify_scale_changed`,
//!   `poll_action` and `poll_timeout`;
//! * `idle`: the available pools and their idle deadlines.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use slab::Slab;

use crate::config::Config;
use crate::deadline::DeadlineHeap;
use crate::ids::{LeaseId, PoolId, WaiterId, next_core_tag};
use crate::stats::{CoreCounters, CoreStats, LeaseStats};
use crate::types::{Action, Grant};
use crate::waiters::WaiterQueue;

mod acquire;
mod idle;
mod lease;
mod pools;
mod run;
mod timers;

/// An available pool.
#[derive(Debug, Clone, Copy)]
struct Available {
    pool: PoolId,
    /// Its key in `Core::idle` and `Core::idle_deadlines` while it carries
    /// an idle deadline: it became available above the desired count with
    /// a non-zero `idle_timeout`. `None` for a pool at or below the count.
    idle_key: Option<usize>,
}

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
    /// leased or counted as being created, no waiter is queued, `closing`
    /// is false and `next_check` is `None`.
    running: bool,
    /// Between a `close` and the `stop` that follows it (see `Core::close`).
    /// While true: no waiter is queued and none is accepted, no pool is
    /// available or created for this run (`creating == 0`), no lease is
    /// granted, and `next_check` is `None`; only the leases live on, and a
    /// lease that ends shuts its pool down.
    closing: bool,
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
    /// When the next check is due; `Some` exactly while running and not
    /// closing. A check
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
    /// Pools the last fall of the signal could not shut down because they
    /// were leased: each of them is shut down when released (not kept idle
    /// for `idle_timeout`), so a fall is obeyed as soon as the leases allow.
    /// Set by a check that lowers the desired count, clamped by every check
    /// to this run's surplus, decremented by every pool a release shuts
    /// down, 0 while stopped.
    pub(super) shrink_owed: usize,
    /// Idle pools, oldest returned at the front: an acquire takes the back
    /// (the most recently returned), a shrink the front. Never non-empty
    /// while a waiter is queued (a freed pool goes to the first waiter).
    available: VecDeque<Available>,
    /// The pools of `available` that carry an idle deadline, keyed by their
    /// `Available::idle_key`: one entry per such pool, naming it. Empty
    /// while stopped, with a zero `idle_timeout`, and after every check
    /// (which shrinks what is above the desired count at once).
    idle: Slab<PoolId>,
    /// When each pool of `idle` times out (`idle_timeout` after it became
    /// available), keyed like `idle`: one entry per entry of `idle`.
    /// `handle_timeout` shuts down those due while `live_count() >
    /// desired`, and drops the deadline of the others.
    idle_deadlines: DeadlineHeap,
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
    /// What the core decided since it was built: only ever incremented, as
    /// the decisions are handed out (see [`CoreCounters`]).
    counters: CoreCounters,
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
            closing: false,
            run: 0,
            clock: None,
            units: 0,
            next_check: None,
            check_requests: 0,
            replacing_paused: false,
            shrink_owed: 0,
            available: VecDeque::new(),
            idle: Slab::new(),
            idle_deadlines: DeadlineHeap::default(),
            leases: Slab::new(),
            expiries: DeadlineHeap::default(),
            creations: Vec::new(),
            creating: 0,
            waiters: WaiterQueue::new(),
            actions: VecDeque::new(),
            lease_seq: 0,
            pool_seq: 0,
            counters: CoreCounters::default(),
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

    /// Whether the manager is started.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert!(!core.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Whether [`Core::close`] was called and no [`Core::stop`] since: the
    /// core refuses acquires and waits for its leases to end.
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert!(!core.is_closing());
    /// ```
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether a closing core has no lease left: the driver may
    /// [`stop`](Core::stop) it now without cutting anything. False unless
    /// [closing](Core::is_closing).
    ///
    /// ```
    /// # let core = leasepool_core::Core::new(leasepool_core::Config::builder().max_pools(1).build().unwrap());
    /// assert!(!core.is_drained());
    /// ```
    pub fn is_drained(&self) -> bool {
        self.closing && self.leases.is_empty()
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
                held: now.saturating_duration_since(s.grant.leased_at),
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
            counters: self.counters,
        }
    }

    /// What the core decided since it was built: grants, refusals, lease
    /// ends, pools created and shut down (see [`CoreCounters`] for what
    /// each counts, and when). Monotonic; a stop resets nothing.
    ///
    /// ```
    /// # use leasepool_core::{Action, Config, Core};
    /// let now = std::time::Instant::now();
    /// let mut core = Core::new(Config::builder().max_pools(2).min_pools(2).build().unwrap());
    /// core.start(now, 0).unwrap();
    /// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
    /// core.stop(now).unwrap();
    /// # while core.poll_action().is_some() {}
    /// assert_eq!((core.counters().pools_created, core.counters().pools_shut_down), (2, 2));
    /// ```
    #[inline]
    pub fn counters(&self) -> &CoreCounters {
        &self.counters
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

    fn set_units(&mut self, units: u64) {
        self.units = units;
        self.desired = self.config.desired_executor_count(units);
    }

    fn lease_key(&self, input: &str, lease: LeaseId) -> Option<usize> {
        self.check_tag(input, "lease", lease.core);
        let key = lease.key as usize;
        self.leases.get(key).filter(|s| s.grant.lease == lease).map(|_| key)
    }

    /// This run's pools: available, leased and being created. What the
    /// desired count is compared with (an older run's creations are only
    /// waiting to be shut down).
    fn live_count(&self) -> usize {
        self.available.len() + self.leases.len() + self.creating
    }
}
