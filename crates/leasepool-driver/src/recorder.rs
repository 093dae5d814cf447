//! Recording through the `metrics` crate's facade (feature `metrics`): the
//! handles a manager and a grinder register once, when they are built, and
//! update as their state changes.
//!
//! The hot paths take no lock and allocate nothing for this: a handle is an
//! `Arc` the recorder handed out at registration, and updating it is a call
//! into the recorder (an atomic add or store in the common exporters).
//! Gauges and the core's counters are published after each drain, under
//! the manager lock the drain already holds, and only when a value changed;
//! histograms are recorded with the lock released, from instants the
//! driver reads anyway, except a job's run time, which costs two clock
//! reads per job and is measured only with the feature.
//!
//! Without the feature every type here is empty and every method does
//! nothing, so that callers need no `cfg` of their own.

#[cfg(not(feature = "metrics"))]
pub(crate) use self::off::{GrinderMeters, Meters, Published, Stopwatch};
#[cfg(feature = "metrics")]
pub(crate) use self::on::{GrinderMeters, Meters, Published, Stopwatch};

#[cfg(feature = "metrics")]
mod on {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use leasepool_core::{Config, Core, CoreCounters};
    use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

    use crate::job::JobEnd;

    /// Measures a job's run time.
    pub(crate) struct Stopwatch(Instant);

    impl Stopwatch {
        #[inline]
        pub(crate) fn start() -> Self {
            Stopwatch(Instant::now())
        }

        #[inline]
        pub(crate) fn elapsed(&self) -> Duration {
            self.0.elapsed()
        }
    }

    /// The gauges' values, as last published.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    struct Levels {
        pools: usize,
        available: usize,
        leased: usize,
        creating: usize,
        waiting: usize,
        desired: usize,
        units: u64,
    }

    impl Levels {
        fn of(core: &Core) -> Self {
            Levels {
                pools: core.total_count(),
                available: core.available_count(),
                leased: core.leased_count(),
                creating: core.creating_count(),
                waiting: core.waiting_count(),
                desired: core.desired_executor_count(),
                units: core.units(),
            }
        }
    }

    /// What the manager's meters last published, kept under the manager
    /// lock: the core's counters and the gauges' values. A drain publishes
    /// only what differs from it, then updates it.
    #[derive(Debug, Default)]
    pub(crate) struct Published {
        counters: CoreCounters,
        levels: Levels,
    }

    /// A manager's handles, each labelled `manager` = its `name_prefix`.
    pub(crate) struct Meters {
        pools: Gauge,
        pools_available: Gauge,
        pools_leased: Gauge,
        pools_creating: Gauge,
        waiting: Gauge,
        desired_pools: Gauge,
        units: Gauge,
        granted_at_once: Counter,
        granted_after_waiting: Counter,
        acquire_timeouts: Counter,
        acquire_unavailable: Counter,
        waiters_cancelled: Counter,
        leases_released: Counter,
        leases_revoked: Counter,
        pools_created: Counter,
        pools_shut_down: Counter,
        pools_broken: Counter,
        jobs_run: Counter,
        jobs_panicked: Counter,
        jobs_cancelled: Counter,
        size_provider_reads: Counter,
        size_provider_failures: Counter,
        acquire_wait: Histogram,
        lease_hold: Histogram,
        job_run: Histogram,
    }

    impl Meters {
        /// Registers the handles with the recorder current on this thread
        /// (the thread-local one, else the global one; without either,
        /// handles that do nothing), and sets `leasepool_max_pools`.
        pub(crate) fn new(manager: &Arc<str>, config: &Config) -> Self {
            let label = || Arc::clone(manager);
            let granted = |when: &'static str| counter!("leasepool_leases_granted_total", "manager" => label(), "when" => when);
            let meters = Meters {
                pools: gauge!("leasepool_pools", "manager" => label()),
                pools_available: gauge!("leasepool_pools_available", "manager" => label()),
                pools_leased: gauge!("leasepool_pools_leased", "manager" => label()),
                pools_creating: gauge!("leasepool_pools_creating", "manager" => label()),
                waiting: gauge!("leasepool_waiting", "manager" => label()),
                desired_pools: gauge!("leasepool_desired_pools", "manager" => label()),
                units: gauge!("leasepool_units", "manager" => label()),
                granted_at_once: granted("at_once"),
                granted_after_waiting: granted("after_waiting"),
                acquire_timeouts: counter!("leasepool_acquire_timeouts_total", "manager" => label()),
                acquire_unavailable: counter!("leasepool_acquire_unavailable_total", "manager" => label()),
                waiters_cancelled: counter!("leasepool_waiters_cancelled_total", "manager" => label()),
                leases_released: counter!("leasepool_leases_released_total", "manager" => label()),
                leases_revoked: counter!("leasepool_leases_revoked_total", "manager" => label()),
                pools_created: counter!("leasepool_pools_created_total", "manager" => label()),
                pools_shut_down: counter!("leasepool_pools_shut_down_total", "manager" => label()),
                pools_broken: counter!("leasepool_pools_broken_total", "manager" => label()),
                jobs_run: counter!("leasepool_jobs_run_total", "manager" => label()),
                jobs_panicked: counter!("leasepool_jobs_panicked_total", "manager" => label()),
                jobs_cancelled: counter!("leasepool_jobs_cancelled_total", "manager" => label()),
                size_provider_reads: counter!("leasepool_size_provider_reads_total", "manager" => label()),
                size_provider_failures: counter!("leasepool_size_provider_failures_total", "manager" => label()),
                acquire_wait: histogram!("leasepool_acquire_wait_seconds", "manager" => label()),
                lease_hold: histogram!("leasepool_lease_hold_seconds", "manager" => label()),
                job_run: histogram!("leasepool_job_run_seconds", "manager" => label()),
            };
            gauge!("leasepool_max_pools", "manager" => label()).set(config.max_pools() as f64);
            meters.desired_pools.set(config.desired_executor_count(0) as f64);
            meters
        }

        /// Publishes what the core's last input changed: the counters'
        /// increments and the gauges that moved. Called after every drain,
        /// under the manager lock (so gauges are set in the order the
        /// state changed).
        #[inline]
        pub(crate) fn publish(&self, published: &mut Published, core: &Core) {
            let counters = core.counters();
            if *counters != published.counters {
                self.add_counts(&published.counters, counters);
                published.counters = *counters;
            }
            let levels = Levels::of(core);
            if levels != published.levels {
                self.set_levels(&published.levels, &levels);
                published.levels = levels;
            }
        }

        #[inline(never)]
        fn add_counts(&self, old: &CoreCounters, new: &CoreCounters) {
            let add = |counter: &Counter, old: u64, new: u64| {
                if new > old {
                    counter.increment(new - old);
                }
            };
            add(&self.granted_at_once, old.leases_granted_at_once, new.leases_granted_at_once);
            add(
                &self.granted_after_waiting,
                old.leases_granted_after_waiting,
                new.leases_granted_after_waiting,
            );
            add(&self.acquire_timeouts, old.acquire_timeouts, new.acquire_timeouts);
            add(&self.acquire_unavailable, old.acquire_unavailable, new.acquire_unavailable);
            add(&self.waiters_cancelled, old.waiters_cancelled, new.waiters_cancelled);
            add(&self.leases_released, old.leases_released, new.leases_released);
            add(&self.leases_revoked, old.leases_revoked, new.leases_revoked);
            add(&self.pools_created, old.pools_created, new.pools_created);
            add(&self.pools_shut_down, old.pools_shut_down, new.pools_shut_down);
            add(&self.pools_broken, old.pools_broken, new.pools_broken);
        }

        #[inline(never)]
        fn set_levels(&self, old: &Levels, new: &Levels) {
            let set = |gauge: &Gauge, old: usize, new: usize| {
                if new != old {
                    gauge.set(new as f64);
                }
            };
            set(&self.pools, old.pools, new.pools);
            set(&self.pools_available, old.available, new.available);
            set(&self.pools_leased, old.leased, new.leased);
            set(&self.pools_creating, old.creating, new.creating);
            set(&self.waiting, old.waiting, new.waiting);
            set(&self.desired_pools, old.desired, new.desired);
            if new.units != old.units {
                self.units.set(new.units as f64);
            }
        }

        /// An acquire was granted a lease after `waited` (zero when an
        /// available pool was granted at once).
        #[inline]
        pub(crate) fn acquired(&self, waited: Duration) {
            self.acquire_wait.record(waited);
        }

        /// A lease was released by its holder after being held for `held`.
        #[inline]
        pub(crate) fn released(&self, held: Duration) {
            self.lease_hold.record(held);
        }

        /// A job of a lease ended.
        #[inline]
        pub(crate) fn job(&self, end: JobEnd) {
            match end {
                JobEnd::Returned { took } => {
                    self.jobs_run.increment(1);
                    self.job_run.record(took);
                }
                JobEnd::Panicked { took } => {
                    self.jobs_run.increment(1);
                    self.jobs_panicked.increment(1);
                    self.job_run.record(took);
                }
                JobEnd::NotRun { .. } => self.jobs_cancelled.increment(1),
            }
        }

        /// The size provider was called; `failed` if it panicked.
        pub(crate) fn provider_read(&self, failed: bool) {
            self.size_provider_reads.increment(1);
            if failed {
                self.size_provider_failures.increment(1);
            }
        }
    }

    /// A grinder's handles, labelled `manager` = its manager's
    /// `name_prefix`.
    pub(crate) struct GrinderMeters {
        items_accepted: Counter,
        items_completed: Counter,
        items_failed: Counter,
        items_cancelled: Counter,
        batches: Counter,
    }

    impl GrinderMeters {
        /// Registers the handles with the recorder current on this thread.
        pub(crate) fn new(manager: &Arc<str>) -> Self {
            let label = || Arc::clone(manager);
            GrinderMeters {
                items_accepted: counter!("leasepool_grinder_items_accepted_total", "manager" => label()),
                items_completed: counter!("leasepool_grinder_items_completed_total", "manager" => label()),
                items_failed: counter!("leasepool_grinder_items_failed_total", "manager" => label()),
                items_cancelled: counter!("leasepool_grinder_items_cancelled_total", "manager" => label()),
                batches: counter!("leasepool_grinder_batches_total", "manager" => label()),
            }
        }

        pub(crate) fn accepted(&self) {
            self.items_accepted.increment(1);
        }

        pub(crate) fn completed(&self) {
            self.items_completed.increment(1);
        }

        pub(crate) fn failed(&self) {
            self.items_failed.increment(1);
        }

        pub(crate) fn cancelled(&self) {
            self.items_cancelled.increment(1);
        }

        pub(crate) fn batch(&self) {
            self.batches.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::sync::Arc;
    use std::time::Duration;

    use leasepool_core::{Config, Core};

    use crate::job::JobEnd;

    /// Measures nothing: a job's run time is read only for `metrics`.
    pub(crate) struct Stopwatch;

    impl Stopwatch {
        #[inline(always)]
        pub(crate) fn start() -> Self {
            Stopwatch
        }

        #[inline(always)]
        pub(crate) fn elapsed(&self) -> Duration {
            Duration::ZERO
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Published;

    pub(crate) struct Meters;

    impl Meters {
        pub(crate) fn new(_manager: &Arc<str>, _config: &Config) -> Self {
            Meters
        }

        #[inline(always)]
        pub(crate) fn publish(&self, _published: &mut Published, _core: &Core) {}

        #[inline(always)]
        pub(crate) fn acquired(&self, _waited: Duration) {}

        #[inline(always)]
        pub(crate) fn released(&self, _held: Duration) {}

        #[inline(always)]
        pub(crate) fn job(&self, _end: JobEnd) {}

        #[inline(always)]
        pub(crate) fn provider_read(&self, _failed: bool) {}
    }

    pub(crate) struct GrinderMeters;

    impl GrinderMeters {
        pub(crate) fn new(_manager: &Arc<str>) -> Self {
            GrinderMeters
        }

        #[inline(always)]
        pub(crate) fn accepted(&self) {}

        #[inline(always)]
        pub(crate) fn completed(&self) {}

        #[inline(always)]
        pub(crate) fn failed(&self) {}

        #[inline(always)]
        pub(crate) fn cancelled(&self) {}

        #[inline(always)]
        pub(crate) fn batch(&self) {}
    }
}
