//! Point-in-time snapshots for dashboards and logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ids::{LeaseId, PoolId};

/// A snapshot of the manager, from [`Core::stats`](crate::Core::stats).
///
/// ```
/// # use leasepool_core::{Config, Core};
/// let mut core = Core::new(Config::builder().max_pools(3).build().unwrap());
/// core.start(std::time::Instant::now(), 0).unwrap();
/// let s = core.stats(std::time::Instant::now());
/// assert_eq!((s.available, s.leased, s.creating, s.total, s.desired_executor_count), (0, 0, 1, 1, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
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
