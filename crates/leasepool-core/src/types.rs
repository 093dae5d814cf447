//! Requests going into the core and results and actions coming out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ConfigError;
use crate::ids::{LeaseId, PoolId, WaiterId};

/// What to do when no pool is free.
///
/// ```
/// use leasepool_core::Wait;
/// let w = Wait::Until(std::time::Instant::now());
/// assert_ne!(w, Wait::No);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Fail at once with [`AcquireError::Unavailable`].
    No,
    /// Queue until a pool is granted or the manager stops.
    Forever,
    /// Queue, but fail with [`AcquireError::Timeout`] at this instant. A
    /// waiter is never granted at or after it: if the driver's timer is late
    /// and a pool frees up first, the waiter fails then, and the pool goes
    /// to the next one in line.
    Until(Instant),
}

/// An acquire request: lease duration, owner label and waiting policy.
///
/// ```
/// use std::time::{Duration, Instant};
/// use leasepool_core::{Acquire, Wait};
///
/// let req = Acquire::wait().lease_for(Duration::from_secs(30)).owner("report-job");
/// assert_eq!(req.owner.as_deref(), Some("report-job"));
/// let deadline = Instant::now() + Duration::from_secs(1);
/// let req = Acquire::no_wait().wait_mode(Wait::Until(deadline));
/// assert_eq!(req.wait, Wait::Until(deadline));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Acquire {
    /// Lease duration; `None` uses the configured
    /// [`default_lease_for`](crate::Config::default_lease_for).
    pub lease_for: Option<Duration>,
    /// Free-form label shown in stats and logs.
    pub owner: Option<Arc<str>>,
    /// What to do when no pool is free.
    pub wait: Wait,
}

impl Acquire {
    /// Fail at once when no pool is free and none can be created.
    ///
    /// ```
    /// let req = leasepool_core::Acquire::no_wait();
    /// ```
    pub fn no_wait() -> Self {
        Acquire { lease_for: None, owner: None, wait: Wait::No }
    }

    /// Queue (first come, first served) until a pool is free.
    ///
    /// ```
    /// let req = leasepool_core::Acquire::wait();
    /// ```
    pub fn wait() -> Self {
        Acquire { lease_for: None, owner: None, wait: Wait::Forever }
    }

    /// Queue until a pool is free, failing with a timeout at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let req = leasepool_core::Acquire::wait_until(Instant::now() + Duration::from_secs(1));
    /// ```
    pub fn wait_until(deadline: Instant) -> Self {
        Acquire { lease_for: None, owner: None, wait: Wait::Until(deadline) }
    }

    /// Sets the waiting policy.
    ///
    /// ```
    /// use leasepool_core::{Acquire, Wait};
    /// let req = Acquire::wait().wait_mode(Wait::No);
    /// assert_eq!(req.wait, Wait::No);
    /// ```
    pub fn wait_mode(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the lease duration (validated by the core: must be > 0).
    ///
    /// ```
    /// let req = leasepool_core::Acquire::wait().lease_for(std::time::Duration::from_secs(5));
    /// ```
    pub fn lease_for(mut self, lease_for: Duration) -> Self {
        self.lease_for = Some(lease_for);
        self
    }

    /// Sets the owner label.
    ///
    /// ```
    /// let req = leasepool_core::Acquire::wait().owner("tenant-7");
    /// ```
    pub fn owner(mut self, owner: impl Into<Arc<str>>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// A lease granted on a pool, with its timing.
///
/// ```
/// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
/// # use std::time::Duration;
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0).unwrap();
/// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
/// let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
/// assert_eq!(g.soft_expires_at(), now + Duration::from_secs(300));
/// assert_eq!(g.hard_expires_at(), now + Duration::from_secs(315));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The new lease.
    pub lease: LeaseId,
    /// The pool it grants.
    pub pool: PoolId,
    /// When it was granted.
    pub leased_at: Instant,
    /// The lease duration.
    pub lease_for: Duration,
    /// The grace after soft expiry.
    pub grace: Duration,
}

impl Grant {
    /// `leased_at + lease_for`: the holder should be done by then.
    ///
    /// ```
    /// # fn f(g: leasepool_core::Grant) { let _ = g.soft_expires_at(); }
    /// ```
    pub fn soft_expires_at(&self) -> Instant {
        self.leased_at + self.lease_for
    }

    /// `soft_expires_at + grace`: from then on the lease is expired and is
    /// revoked.
    ///
    /// ```
    /// # fn f(g: leasepool_core::Grant) { assert!(g.hard_expires_at() >= g.soft_expires_at()); }
    /// ```
    pub fn hard_expires_at(&self) -> Instant {
        self.soft_expires_at() + self.grace
    }
}

/// The immediate answer to [`Core::acquire`](crate::Core::acquire).
///
/// ```
/// # use leasepool_core::{Config, Core, Acquire, Acquired};
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0).unwrap();
/// match core.acquire(now, Acquire::wait()).unwrap() {
///     Acquired::Granted(grant) => println!("lease {} on pool {}", grant.lease, grant.pool),
///     Acquired::Queued(waiter) => println!("waiter {waiter} queued (its pool is being created)"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// An idle pool was free: the lease is live now.
    Granted(Grant),
    /// The request waits, for a pool being created or for one to be
    /// released; it ends with [`Action::Grant`] or [`Action::FailWaiter`]
    /// for this id.
    Queued(WaiterId),
}

/// Why an acquire failed, at once or later through [`Action::FailWaiter`].
///
/// Exhaustive on purpose: a driver maps every cause to its own error, and
/// a new cause must make that mapping fail to compile rather than fall into
/// a catch-all.
///
/// ```
/// use leasepool_core::AcquireError;
/// assert_eq!(AcquireError::Unavailable.to_string(),
///     "no pool is free and the manager is at max_pools");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// The manager was never started.
    #[error("the manager was never started")]
    NotStarted,
    /// The manager was stopped (before the acquire, or while it waited).
    #[error("the manager is stopped")]
    Stopped,
    /// No-wait acquire, no pool free and none can be created; or
    /// `max_waiters` acquires already queued
    /// ([`ConfigBuilder::max_waiters`](crate::ConfigBuilder::max_waiters)).
    #[error("no pool is free and the manager is at max_pools")]
    Unavailable,
    /// The wait deadline passed.
    #[error("timed out waiting for a free pool")]
    Timeout,
    /// A pool creation failed while this acquire, first in line, had no
    /// other pool coming ([`Core::pool_create_failed`](crate::Core::pool_create_failed)).
    #[error("pool {pool} could not be created")]
    PoolCreationFailed {
        /// The pool whose creation failed: the driver knows why.
        pool: PoolId,
    },
    /// The pool granted to this acquire broke before the grant was drained
    /// ([`Core::pool_broken`](crate::Core::pool_broken)).
    #[error("pool {pool} broke before it was handed over")]
    PoolBroken {
        /// The broken pool: the driver knows why.
        pool: PoolId,
    },
    /// The per-acquire lease duration is invalid.
    #[error(transparent)]
    InvalidLease(#[from] ConfigError),
}

/// Why an input naming a lease was refused.
///
/// ```
/// use leasepool_core::LeaseError;
/// assert!(LeaseError::Expired.to_string().contains("expired"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The lease has ended (see [`Action::LeaseEnded`]): released and
    /// finalised, expired, its pool broken, or the manager stopped.
    #[error("the lease has ended (released, expired, its pool broke, or the manager stopped)")]
    Ended,
    /// The lease was released and is draining its last jobs.
    #[error("the lease was released; acquire a new one")]
    Released,
    /// The lease is past its hard expiry: it has expired now (see
    /// [`Action::LeaseEnded`] with [`LeaseEnd::Expired`]).
    #[error("the lease expired (past its hard expiry) and was revoked")]
    Expired,
}

/// Why [`Core::cancel_waiter`](crate::Core::cancel_waiter) found nothing to cancel.
///
/// ```
/// use leasepool_core::WaiterError;
/// assert!(WaiterError::Ended.to_string().contains("no longer"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaiterError {
    /// The waiter is no longer queued: its [`Action::Grant`] or
    /// [`Action::FailWaiter`] was already drained.
    #[error("the waiter is no longer queued (granted or failed, and drained)")]
    Ended,
}

/// Why [`Core::start`](crate::Core::start) or [`Core::stop`](crate::Core::stop) did nothing.
///
/// ```
/// use leasepool_core::RunError;
/// assert_eq!(RunError::AlreadyRunning.to_string(), "the manager is already running");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// `start` on a running core.
    #[error("the manager is already running")]
    AlreadyRunning,
    /// `stop` on a stopped core.
    #[error("the manager is not running")]
    NotRunning,
}

/// Why [`Core::pool_broken`](crate::Core::pool_broken) did nothing.
///
/// ```
/// use leasepool_core::PoolError;
/// assert!(PoolError::Unknown.to_string().contains("not live"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The pool is not live: already shut down or retired.
    #[error("the pool is not live (already shut down or retired)")]
    Unknown,
}

/// Why a pool is being shut down (carried by [`Action::ShutdownPool`]).
/// The lease it ended, if any, is named by the [`Action::LeaseEnded`]
/// that comes just before.
///
/// ```
/// use leasepool_core::ShutdownReason;
/// assert_eq!(ShutdownReason::Shrink.to_string(), "idle above target");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// Idle and above the desired count when a check lowered it (or found
    /// it lower): shut down at once, whatever its idle time.
    Shrink,
    /// Idle above the desired count for `idle_timeout`
    /// ([`ConfigBuilder::idle_timeout`](crate::ConfigBuilder::idle_timeout)).
    Idle,
    /// Its lease was released above the desired count and the pool is not
    /// kept: `idle_timeout` is zero, or a fall of the signal found it
    /// leased and is owed its shutdown (otherwise it is kept, idle, and
    /// shut down with [`ShutdownReason::Idle`] if nobody leases it in time).
    NotKept,
    /// Its lease passed hard expiry and was revoked.
    Expired,
    /// The driver reported the pool broken.
    Broken,
    /// The manager stopped.
    Stopped,
}

impl std::fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ShutdownReason::Shrink => "idle above target",
            ShutdownReason::Idle => "idle timeout above target",
            ShutdownReason::NotKept => "released and not kept",
            ShutdownReason::Expired => "lease expired",
            ShutdownReason::Broken => "broken",
            ShutdownReason::Stopped => "manager stopped",
        })
    }
}

/// How a lease ended (carried by [`Action::LeaseEnded`]).
///
/// ```
/// use leasepool_core::{LeaseEnd, PoolFate};
/// assert_ne!(LeaseEnd::Released(PoolFate::Kept), LeaseEnd::Expired);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEnd {
    /// Released by its holder (after its last job, if it drained).
    Released(PoolFate),
    /// Past its hard expiry: revoked, its pool shut down and replaced.
    /// A release or a job submitted at or after hard expiry ends so too.
    Expired,
    /// Its pool was reported broken.
    PoolBroken,
    /// The manager stopped.
    Stopped,
}

/// What became of a released lease's pool.
///
/// ```
/// use leasepool_core::PoolFate;
/// assert_ne!(PoolFate::Kept, PoolFate::ShutDown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolFate {
    /// Made available again.
    Kept,
    /// Handed straight to the first waiter (an [`Action::Grant`] follows).
    HandedOff,
    /// Shut down (an [`Action::ShutdownPool`] follows).
    ShutDown,
}

/// An effect the driver must perform. Drain with
/// [`Core::poll_action`](crate::Core::poll_action) after every input.
///
/// ```
/// use leasepool_core::{Action, Config, Core};
/// let now = std::time::Instant::now();
/// let mut core = Core::new(Config::builder().max_pools(2).min_pools(2).build().unwrap());
/// core.start(now, 0).unwrap();
/// while let Some(action) = core.poll_action() {
///     match action {
///         Action::CreatePool(pool) => println!("start pool {pool}, then report pool_created"),
///         Action::ShutdownPool { pool, reason } => println!("stop pool {pool}: {reason}"),
///         Action::Grant { waiter, grant } => println!("wake {waiter} with {}", grant.lease),
///         Action::FailWaiter { waiter, error } => println!("fail {waiter}: {error}"),
///         Action::LeaseEnded { lease, end, .. } => println!("lease {lease} ended: {end:?}"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create pool `PoolId`, then report the outcome with
    /// [`Core::pool_created`](crate::Core::pool_created) or
    /// [`Core::pool_create_failed`](crate::Core::pool_create_failed).
    /// Until then it counts toward `max_pools` but is granted to nobody.
    CreatePool(PoolId),
    /// Shut the pool down: cancel its queued jobs, let running jobs finish.
    /// The core has already forgotten the pool and ended its lease (the
    /// [`Action::LeaseEnded`] comes first), so the jobs cancelled or still
    /// running need no report: a [`Core::job_finished`](crate::Core::job_finished)
    /// for them answers [`LeaseError::Ended`].
    ShutdownPool {
        /// The pool.
        pool: PoolId,
        /// Why.
        reason: ShutdownReason,
    },
    /// Hand `grant` to the queued acquire `waiter`. If the waiter has gone,
    /// give the lease back with [`Core::release`](crate::Core::release): the
    /// pool goes to the next waiter.
    Grant {
        /// The queued acquire.
        waiter: WaiterId,
        /// Its new lease.
        grant: Grant,
    },
    /// Fail the queued acquire `waiter`.
    FailWaiter {
        /// The queued acquire.
        waiter: WaiterId,
        /// Why it failed.
        error: AcquireError,
    },
    /// A lease ended, for whatever reason: every lease the driver was
    /// handed (by [`Acquired::Granted`] or a drained [`Action::Grant`])
    /// ends with exactly one of these. A grant taken back before it was
    /// drained ([`Core::cancel_waiter`](crate::Core::cancel_waiter),
    /// [`Core::pool_broken`](crate::Core::pool_broken)) was never handed
    /// over, and no `LeaseEnded` names it. Tell the holder (a job
    /// submitted after it is refused with [`LeaseError::Ended`]).
    LeaseEnded {
        /// The lease.
        lease: LeaseId,
        /// The pool it held.
        pool: PoolId,
        /// Its owner label.
        owner: Option<Arc<str>>,
        /// How it ended.
        end: LeaseEnd,
    },
}

/// The answer to [`Core::release`](crate::Core::release).
///
/// ```
/// use leasepool_core::Released;
/// assert_ne!(Released::Ended, Released::Draining { jobs: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The lease ended now (see the [`Action::LeaseEnded`] queued with it).
    Ended,
    /// Jobs are still queued or running: the lease drains and ends with
    /// the [`Core::job_finished`](crate::Core::job_finished) of the last one.
    Draining {
        /// Jobs still in flight.
        jobs: u64,
    },
}
