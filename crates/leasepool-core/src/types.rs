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
/// use std::time::Duration;
/// use leasepool_core::Acquire;
///
/// let req = Acquire::wait().lease(Duration::from_secs(30)).owner("report-job");
/// assert_eq!(req.owner.as_deref(), Some("report-job"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Acquire {
    /// Lease duration; `None` uses the configured default lease.
    pub lease: Option<Duration>,
    /// Free-form label shown in stats and logs.
    pub owner: Option<Arc<str>>,
    /// What to do when no pool is free.
    pub wait: Wait,
}

impl Acquire {
    /// Fail at once when no pool is free.
    ///
    /// ```
    /// let req = leasepool_core::Acquire::no_wait();
    /// ```
    pub fn no_wait() -> Self {
        Acquire { lease: None, owner: None, wait: Wait::No }
    }

    /// Queue (first come, first served) until a pool is free.
    ///
    /// ```
    /// let req = leasepool_core::Acquire::wait();
    /// ```
    pub fn wait() -> Self {
        Acquire { lease: None, owner: None, wait: Wait::Forever }
    }

    /// Queue until a pool is free, failing with a timeout at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let req = leasepool_core::Acquire::wait_until(Instant::now() + Duration::from_secs(1));
    /// ```
    pub fn wait_until(deadline: Instant) -> Self {
        Acquire { lease: None, owner: None, wait: Wait::Until(deadline) }
    }

    /// Sets the lease duration (validated by the core: must be > 0).
    ///
    /// ```
    /// let req = leasepool_core::Acquire::wait().lease(std::time::Duration::from_secs(5));
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
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
/// # use leasepool_core::{Config, Core, Acquire, Acquired};
/// # use std::time::Duration;
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0);
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
    pub lease_duration: Duration,
    /// The grace after soft expiry.
    pub grace: Duration,
}

impl Grant {
    /// `leased_at + lease_duration`: the holder should be done by then.
    ///
    /// ```
    /// # fn f(g: leasepool_core::Grant) { let _ = g.soft_expires_at(); }
    /// ```
    pub fn soft_expires_at(&self) -> Instant {
        self.leased_at + self.lease_duration
    }

    /// `soft_expires_at + grace`: from then on the lease is revoked.
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
/// # core.start(now, 0);
/// match core.acquire(now, Acquire::wait()).unwrap() {
///     Acquired::Granted(grant) => println!("lease {} on pool {}", grant.lease, grant.pool),
///     Acquired::Queued(waiter) => println!("waiter {waiter} queued"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// A pool was free (or could be created): the lease is live now.
    Granted(Grant),
    /// The request waits; it ends with [`Action::Grant`] or
    /// [`Action::FailWaiter`] for this id.
    Queued(WaiterId),
}

/// Why an acquire failed, at once or later through [`Action::FailWaiter`].
///
/// ```
/// use leasepool_core::AcquireError;
/// assert_eq!(AcquireError::Unavailable.to_string(),
///     "no pool is free and the manager is at max_pools");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcquireError {
    /// The manager is not started, or was stopped while waiting.
    #[error("the manager is not running (never started, or stopped)")]
    NotStarted,
    /// No-wait acquire and no pool free.
    #[error("no pool is free and the manager is at max_pools")]
    Unavailable,
    /// The wait deadline passed.
    #[error("timed out waiting for a free pool")]
    Timeout,
    /// The pool created for this waiter could not be created.
    #[error("the pool created for this acquire failed to start")]
    PoolCreationFailed,
    /// The per-acquire lease duration is invalid.
    #[error(transparent)]
    InvalidLease(#[from] ConfigError),
}

/// Why a submission through a lease was refused.
///
/// ```
/// use leasepool_core::SubmitError;
/// assert!(SubmitError::Expired.to_string().contains("expired"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The lease is not known: released and finalised, revoked, or its pool
    /// was retired or the manager stopped.
    #[error("the lease is no longer valid (released, revoked or the manager stopped)")]
    Unknown,
    /// The lease was released and is draining its last jobs.
    #[error("the lease was released; acquire a new one")]
    Released,
    /// The lease is past its hard expiry; it has just been revoked.
    #[error("the lease expired (past its hard expiry) and was revoked")]
    Expired,
}

/// Why a pool is being shut down (carried by [`Action::ShutdownPool`]).
///
/// ```
/// use leasepool_core::ShutdownReason;
/// assert_eq!(ShutdownReason::Shrink.to_string(), "idle above target");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// Idle and above the desired count.
    Shrink,
    /// Its lease was finalised and keeping the pool would exceed the target
    /// (or the lease was past hard expiry).
    NotKept {
        /// The finalised lease.
        lease: LeaseId,
    },
    /// Its lease passed hard expiry and was revoked.
    Expired {
        /// The revoked lease.
        lease: LeaseId,
        /// Its owner label.
        owner: Option<Arc<str>>,
    },
    /// The driver reported the pool broken.
    Broken,
    /// The manager stopped.
    Stopped,
}

impl std::fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ShutdownReason::Shrink => "idle above target",
            ShutdownReason::NotKept { .. } => "released and not kept",
            ShutdownReason::Expired { .. } => "lease revoked at hard expiry",
            ShutdownReason::Broken => "broken",
            ShutdownReason::Stopped => "manager stopped",
        })
    }
}

/// An effect the driver must perform. Drain with
/// [`Core::poll_action`](crate::Core::poll_action) after every call.
///
/// ```
/// use leasepool_core::{Action, Config, Core};
/// let now = std::time::Instant::now();
/// let mut core = Core::new(Config::builder().max_pools(2).min_pools(2).build().unwrap());
/// core.start(now, 0);
/// while let Some(action) = core.poll_action() {
///     match action {
///         Action::CreatePool(pool) => println!("spawn pool {pool}"),
///         Action::ShutdownPool { pool, reason } => println!("stop pool {pool}: {reason}"),
///         Action::Grant { waiter, grant } => println!("wake {waiter} with {}", grant.lease),
///         Action::FailWaiter { waiter, error } => println!("fail {waiter}: {error}"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create pool `PoolId`. It already counts as existing (available or
    /// leased); if creation fails, call
    /// [`Core::pool_create_failed`](crate::Core::pool_create_failed).
    CreatePool(PoolId),
    /// Shut the pool down: cancel its queued jobs, let running jobs finish.
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
}

/// How a lease ended when it was finalised.
///
/// ```
/// use leasepool_core::Finalised;
/// assert_ne!(Finalised::Kept, Finalised::ShutDown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalised {
    /// The pool was made available again.
    Kept,
    /// The pool went straight to the first waiter (see [`Action::Grant`]).
    HandedOff,
    /// The pool was shut down (see [`Action::ShutdownPool`]).
    ShutDown,
}

/// The answer to [`Core::release`](crate::Core::release).
///
/// ```
/// use leasepool_core::{Finalised, ReleaseOutcome};
/// let outcome = ReleaseOutcome::Finalised(Finalised::Kept);
/// assert!(matches!(outcome, ReleaseOutcome::Finalised(_)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Not a live lease (already finalised, revoked, or stopped): nothing done.
    Unknown,
    /// Jobs are still queued or running: the lease drains and is finalised by
    /// the [`Core::job_finished`](crate::Core::job_finished) that ends the last one.
    Draining {
        /// Jobs still in flight.
        jobs: u64,
    },
    /// The lease was finalised now.
    Finalised(Finalised),
    /// Jobs were still in flight past the lease's hard expiry: it was
    /// revoked now (see [`Action::ShutdownPool`]).
    Revoked,
}
