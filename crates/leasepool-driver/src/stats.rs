//! The manager's snapshot: counts, bounds and every live lease.

use std::sync::Arc;

use leasepool_core::LeaseStats;

use crate::backend::Backend;

/// A snapshot from [`LeasedExecutorManager::stats`](crate::LeasedExecutorManager::stats): the backend and name
/// prefix, the counts, the configured bounds and every live lease.
/// `desired_executor_count` and `units` are those of the last check, the
/// values the manager acts on; [`LeasedExecutorManager::desired_executor_count`](crate::LeasedExecutorManager::desired_executor_count)
/// reads the size provider now.
///
/// ```
/// # fn demo(m: leasepool::LeasedExecutorManager) {
/// let s = m.stats();
/// println!("{} backend: {}/{} pools leased, desired {}", s.backend, s.leased, s.total, s.desired_executor_count);
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stats {
    /// The executor backend.
    pub backend: Backend,
    /// Worker thread name prefix.
    pub name_prefix: Arc<str>,
    /// Whether the manager is started.
    pub running: bool,
    /// Idle pools.
    pub available: usize,
    /// Leased pools (draining included).
    pub leased: usize,
    /// Pools whose threads are being started.
    pub creating: usize,
    /// `available + leased + creating`, never above `max_pools`. A pool
    /// shut down while jobs run on it is no longer counted, but its
    /// threads finish those jobs first.
    pub total: usize,
    /// Pools shut down (revoked, shrunk, stopped) whose worker threads are
    /// still finishing running jobs: not counted in `total`, but they hold
    /// threads, so a service may briefly run more than `max_pools` pools'
    /// worth of workers.
    pub winding_down: usize,
    /// Size provider calls that panicked since the manager was built; each
    /// kept the last unit count.
    pub size_provider_failures: u64,
    /// Desired pools for `units`, at the last check.
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
    /// Every live lease, by id, with its jobs in flight.
    pub leases: Vec<LeaseStats>,
}
