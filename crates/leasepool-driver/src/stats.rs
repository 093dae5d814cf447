//! The manager's snapshot: counts, bounds and every live lease.

use std::sync::Arc;

use leasepool_core::{CoreCounters, LeaseStats};

use crate::backend::Backend;
use crate::tally::TallyValues;

/// A snapshot from [`LeasedExecutorManager::stats`](crate::LeasedExecutorManager::stats): the backend and name
/// prefix, the counts, the configured bounds and every live lease.
/// `desired_executor_count` and `units` are those of the last check, the
/// values the manager acts on; [`LeasedExecutorManager::desired_executor_count`](crate::LeasedExecutorManager::desired_executor_count)
/// reads the size provider now. With the feature `serde` it serializes
/// with its fields' names as keys, the backend as its name (`"thread"`).
///
/// ```
/// # fn demo(m: leasepool::LeasedExecutorManager) {
/// let s = m.stats();
/// println!("{} backend: {}/{} pools leased, desired {}", s.backend, s.leased, s.total, s.desired_executor_count);
/// # }
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// What happened since the manager was built (see [`Counters`]).
    pub counters: Counters,
}

/// Counts since the manager was built: monotonic while it lives, never
/// reset by `stop`, `shutdown` or a new `start`. In [`Stats::counters`];
/// with the `metrics` feature the same counts are recorded as the
/// `leasepool_*_total` counters.
///
/// The first ten are the core's decisions, counted as the manager performs
/// them ([`leasepool_core::CoreCounters`]); the jobs and the size
/// provider's reads are counted by the manager itself, on the threads where
/// they happen. A job is counted before its result is delivered, so a
/// caller holding a result and then reading the stats finds its job
/// counted. Across the counters, after a quiet moment (no acquire or job
/// under way):
///
/// * `pools_created - pools_shut_down == available + leased`;
/// * `leases_granted_at_once + leases_granted_after_waiting >=
///   leases_released + leases_revoked + leased` (a lease may also end
///   because its pool broke, or be cut by a stop);
/// * `jobs_run + jobs_cancelled` is every job submitted through a lease
///   that has ended.
///
/// ```
/// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
/// let lease = m.acquire().await?;
/// lease.run(|| ()).await?;
/// drop(lease);
/// let c = m.stats().counters;
/// assert!(c.leases_granted_at_once + c.leases_granted_after_waiting >= 1);
/// assert!(c.jobs_run >= 1 && c.leases_released >= 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Counters {
    /// Acquires granted an idle pool at once.
    pub leases_granted_at_once: u64,
    /// Acquires granted a pool after waiting in the queue (for a release,
    /// or for a pool created for them).
    pub leases_granted_after_waiting: u64,
    /// Acquires that failed with [`Error::Timeout`](crate::Error::Timeout).
    pub acquire_timeouts: u64,
    /// Acquires refused with [`Error::Unavailable`](crate::Error::Unavailable)
    /// (no pool free and none creatable for `try_acquire`, or
    /// `max_waiters` reached).
    pub acquire_unavailable: u64,
    /// Queued acquires withdrawn before they were granted: their future
    /// was dropped, or the runtime driving the manager went away.
    pub waiters_cancelled: u64,
    /// Leases that ended by their release (after draining, if jobs ran).
    pub leases_released: u64,
    /// Leases revoked at hard expiry.
    pub leases_revoked: u64,
    /// Pools whose threads were started.
    pub pools_created: u64,
    /// Pools shut down, for any reason (broken ones included).
    pub pools_shut_down: u64,
    /// Pools retired because they broke (a worker initializer failed);
    /// also counted in `pools_shut_down`.
    pub pools_broken: u64,
    /// Jobs submitted through leases that ran (returned or panicked).
    pub jobs_run: u64,
    /// Of `jobs_run`, the jobs that panicked.
    pub jobs_panicked: u64,
    /// Jobs submitted through leases that never ran: cancelled because
    /// their pool was shut down (lease revoked, manager stopped) or broke
    /// first.
    pub jobs_cancelled: u64,
    /// Calls of the size provider (at start, at each check, and for
    /// [`desired_executor_count`](crate::LeasedExecutorManager::desired_executor_count)).
    pub size_provider_reads: u64,
    /// Of `size_provider_reads`, the calls that panicked; each kept the
    /// last unit count.
    pub size_provider_failures: u64,
}

impl Counters {
    /// The core's counts and the manager's own, together.
    pub(crate) fn new(core: &CoreCounters, tally: TallyValues) -> Self {
        Counters {
            leases_granted_at_once: core.leases_granted_at_once,
            leases_granted_after_waiting: core.leases_granted_after_waiting,
            acquire_timeouts: core.acquire_timeouts,
            acquire_unavailable: core.acquire_unavailable,
            waiters_cancelled: core.waiters_cancelled,
            leases_released: core.leases_released,
            leases_revoked: core.leases_revoked,
            pools_created: core.pools_created,
            pools_shut_down: core.pools_shut_down,
            pools_broken: core.pools_broken,
            jobs_run: tally.jobs_run,
            jobs_panicked: tally.jobs_panicked,
            jobs_cancelled: tally.jobs_cancelled,
            size_provider_reads: tally.provider_reads,
            size_provider_failures: tally.provider_failures,
        }
    }
}
