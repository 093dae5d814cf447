//! [`GrinderBuilder`]: a grinder's settings, validated by `build`.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leasepool_core::{BatchPolicy, BatchQueue, ConfigError};
use slab::Slab;

use crate::manager::LeasedExecutorManager;
use crate::runtime::Runtime;
use crate::signal::Signal;
use crate::task::TaskSlot;

use super::phase::Phase;
use super::{Grinder, GrinderTally, State, WorkGrinder};
use crate::recorder::GrinderMeters;

/// Builds a [`WorkGrinder`]; [`build`](Self::build) validates every value.
///
/// | method | default |
/// |---|---|
/// | `batch_size_threshold` | 20 |
/// | `max_wait` | 10 s |
/// | `lease_for` | 60 s |
/// | `owner_prefix` | `"work-grinder"` (batch leases are `{prefix}-batch-{n}`) |
/// | `max_concurrent_batches` | 1 |
///
/// ```
/// # fn demo(manager: leasepool::LeasedExecutorManager) -> Result<(), leasepool::ConfigError> {
/// use std::time::Duration;
/// let grinder = leasepool::WorkGrinder::builder(&manager)
///     .batch_size_threshold(100)
///     .max_wait(Duration::from_millis(2))
///     .lease_for(Duration::from_secs(10))
///     .owner_prefix("thumbs")
///     .max_concurrent_batches(4)
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct GrinderBuilder<R: Runtime> {
    pub(super) manager: LeasedExecutorManager<R>,
    pub(super) policy: BatchPolicy,
    pub(super) owner_prefix: String,
}

impl<R: Runtime> fmt::Debug for GrinderBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrinderBuilder")
            .field("policy", &self.policy)
            .field("owner_prefix", &self.owner_prefix)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> GrinderBuilder<R> {
    /// Pending items that start a batch at once (default 20, >= 1).
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let b = leasepool::WorkGrinder::builder(&m).batch_size_threshold(50);
    /// # }
    /// ```
    pub fn batch_size_threshold(mut self, n: usize) -> Self {
        self.policy = self.policy.batch_size_threshold(n);
        self
    }

    /// Longest an item waits before its batch starts (default 10 s, > 0).
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let b = leasepool::WorkGrinder::builder(&m).max_wait(std::time::Duration::from_millis(10));
    /// # }
    /// ```
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.policy = self.policy.max_wait(d);
        self
    }

    /// Duration of each batch's lease (default 60 s, > 0).
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let b = leasepool::WorkGrinder::builder(&m).lease_for(std::time::Duration::from_secs(5));
    /// # }
    /// ```
    pub fn lease_for(mut self, d: Duration) -> Self {
        self.policy = self.policy.lease_for(d);
        self
    }

    /// Prefix of the batch lease owners, `{prefix}-batch-{n}` (default
    /// `"work-grinder"`).
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let b = leasepool::WorkGrinder::builder(&m).owner_prefix("ingest");
    /// # }
    /// ```
    pub fn owner_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.owner_prefix = prefix.into();
        self
    }

    /// Batches allowed to run at once, each on its own lease (default 1:
    /// one batch at a time; more keeps several pools busy).
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let b = leasepool::WorkGrinder::builder(&m).max_concurrent_batches(4);
    /// # }
    /// ```
    pub fn max_concurrent_batches(mut self, n: usize) -> Self {
        self.policy = self.policy.max_concurrent(n);
        self
    }

    /// Validates and builds a stopped grinder; the error names the field.
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// let err = leasepool::WorkGrinder::builder(&m).batch_size_threshold(0).build().unwrap_err();
    /// assert_eq!(err.field(), "batch_size_threshold");
    /// # }
    /// ```
    pub fn build(self) -> Result<WorkGrinder<R>, ConfigError> {
        self.policy.validate()?;
        let workers = self.manager.config().workers_per_pool();
        let state = State {
            queue: BatchQueue::new(self.policy),
            phase: Phase::Stopped,
            loop_task: TaskSlot::default(),
            wake: Signal::default(),
            stop_waiters: Vec::new(),
            in_flight: Slab::new(),
            batch_seq: 0,
            tally: Arc::new(GrinderTally::new(GrinderMeters::new(
                &self.manager.shared().settings.name_prefix,
            ))),
        };
        Ok(WorkGrinder {
            g: Arc::new(Grinder {
                manager: self.manager,
                owner_prefix: self.owner_prefix.into(),
                workers,
                state: Arc::new(Mutex::new(state)),
            }),
        })
    }
}
