//! Point-in-time snapshots for dashboards and logs, and the counters the
//! core keeps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ids::{LeaseId, PoolId};
use crate::types::{AcquireError, Action, LeaseEnd, ShutdownReason};

/// A snapshot of the manager, from [`Core::stats`](crate::Core::stats).
/// With the feature `serde` it serializes with its fields' names as keys
/// (`leases` in the form of [`LeaseStats`]).
///
/// ```
/// # use leasepool_core::{Config, Core};
/// let mut core = Core::new(Config::builder().max_pools(3).build().unwrap());
/// core.start(std::time::Instant::now(), 0).unwrap();
/// let s = core.stats(std::time::Instant::now());
/// assert_eq!((s.available, s.leased, s.creating, s.total, s.desired_executor_count), (0, 0, 1, 1, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CoreStats {
    /// Whether the manager is started.
    pub running: bool,
    /// Idle pools.
    pub available: usize,
    /// Leased pools (draining included).
    pub leased: usize,
    /// Pools being created (asked for, not yet confirmed).
    pub creating: usize,
    /// `available + leased + creating`, never above `max_pools`. Pools
    /// shut down whose running jobs have not finished yet are not counted:
    /// the driver may still hold their threads (or processes).
    pub total: usize,
    /// Desired pools for `units`.
    pub desired_executor_count: usize,
    /// Unit count at the last check.
    pub units: u64,
    /// Queued acquires.
    pub waiting: usize,
    /// Configured minimum.
    pub min_pools: usize,
    /// Configured maximum.
    pub max_pools: usize,
    /// Configured workers per pool.
    pub workers_per_pool: usize,
    /// Every live lease, by id.
    pub leases: Vec<LeaseStats>,
    /// What the core decided since it was built (see [`CoreCounters`]).
    pub counters: CoreCounters,
}

/// One live lease in a [`CoreStats`] snapshot.
///
/// ```
/// # use leasepool_core::{Action, Config, Core, Acquire};
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0).unwrap();
/// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
/// # core.acquire(now, Acquire::no_wait()).unwrap();
/// let lease = &core.stats(now).leases[0];
/// assert!(lease.hard_remaining >= lease.soft_remaining);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseStats {
    /// The lease.
    pub id: LeaseId,
    /// Its owner label.
    pub owner: Option<Arc<str>>,
    /// Its pool.
    pub pool: PoolId,
    /// When it was granted.
    pub leased_at: Instant,
    /// How long it has been held: from `leased_at` to the instant of the
    /// snapshot. Kept in the snapshot so that a serialized form (feature
    /// `serde`) need not read a clock of its own.
    pub held: Duration,
    /// Its duration.
    pub lease_for: Duration,
    /// Time left to soft expiry (zero once past).
    pub soft_remaining: Duration,
    /// Time left to hard expiry (zero once past).
    pub hard_remaining: Duration,
    /// Jobs submitted through the lease and not finished yet (queued or
    /// running). leasepool's manager counts its leases' jobs itself and
    /// fills this in for its stats; a custom driver of the core sees here
    /// the jobs it reported with `Core::job_submitted` and
    /// `Core::job_finished`.
    pub jobs: u64,
    /// Released, waiting for its jobs to finish.
    pub draining: bool,
}

/// Counts of what the core decided, since it was built: monotonic, never
/// reset by [`Core::stop`](crate::Core::stop) or a new start, from
/// [`Core::counters`](crate::Core::counters) and [`CoreStats::counters`].
///
/// An effect is counted when the driver drains its [`Action`]
/// ([`Core::poll_action`](crate::Core::poll_action)), so an action taken
/// back before it is drained (the grant of a waiter cancelled in the same
/// drain) is never counted; an answer given at once (a grant, a refusal) is
/// counted when the input returns it. So, after every drain:
///
/// * `pools_created - pools_shut_down` is the number of live pools
///   (available + leased);
/// * `leases_granted_at_once + leases_granted_after_waiting` is at least
///   `leases_released + leases_revoked + leased` (a lease may also end
///   because its pool broke or the core stopped).
///
/// ```
/// # use leasepool_core::{Action, Acquire, AcquireError, Config, Core};
/// let now = std::time::Instant::now();
/// let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// core.start(now, 0).unwrap();
/// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
/// core.acquire(now, Acquire::no_wait()).unwrap();
/// assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
/// let c = core.counters();
/// assert_eq!((c.pools_created, c.leases_granted_at_once, c.acquire_unavailable), (1, 1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CoreCounters {
    /// Acquires granted an available pool at once
    /// ([`Acquired::Granted`](crate::Acquired::Granted)).
    pub leases_granted_at_once: u64,
    /// Queued acquires granted a pool ([`Action::Grant`]), created for
    /// them or released to them.
    pub leases_granted_after_waiting: u64,
    /// Acquires that timed out: a deadline already past when asked, or a
    /// waiter failed at its deadline
    /// ([`AcquireError::Timeout`]).
    pub acquire_timeouts: u64,
    /// Acquires refused at once because no pool was free and none could be
    /// created, or because `max_waiters` acquires already waited
    /// ([`AcquireError::Unavailable`]).
    pub acquire_unavailable: u64,
    /// Queued acquires withdrawn before their grant was drained
    /// ([`Core::cancel_waiter`](crate::Core::cancel_waiter) that succeeded).
    pub waiters_cancelled: u64,
    /// Leases that ended by their release ([`LeaseEnd::Released`]),
    /// drained first or not, whatever became of the pool.
    pub leases_released: u64,
    /// Leases revoked at hard expiry ([`LeaseEnd::Expired`]), a lease
    /// released past it included.
    pub leases_revoked: u64,
    /// Pool creations confirmed
    /// ([`Core::pool_created`](crate::Core::pool_created)), a creation
    /// disowned by a stop (and shut down at once) included.
    pub pools_created: u64,
    /// Pools shut down ([`Action::ShutdownPool`]), for any reason (broken
    /// ones included).
    pub pools_shut_down: u64,
    /// Pools shut down because the driver found them broken
    /// ([`ShutdownReason::Broken`]); also counted in `pools_shut_down`.
    pub pools_broken: u64,
}

impl CoreCounters {
    /// Counts the effect of an action the driver drains.
    #[inline]
    pub(crate) fn count(&mut self, action: &Action) {
        match action {
            Action::CreatePool(_) => {}
            Action::Grant { .. } => self.leases_granted_after_waiting += 1,
            Action::FailWaiter { error, .. } => {
                if matches!(error, AcquireError::Timeout) {
                    self.acquire_timeouts += 1;
                }
            }
            Action::LeaseEnded { end, .. } => match end {
                LeaseEnd::Released(_) => self.leases_released += 1,
                LeaseEnd::Expired => self.leases_revoked += 1,
                LeaseEnd::PoolBroken | LeaseEnd::Stopped => {}
            },
            Action::ShutdownPool { reason, .. } => {
                self.pools_shut_down += 1;
                if *reason == ShutdownReason::Broken {
                    self.pools_broken += 1;
                }
            }
        }
    }
}
