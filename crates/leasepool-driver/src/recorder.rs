//! Recording through the `metrics` crate's facade (feature `metrics`): the
//! handles a manager and a grinder register once, when they are built, and
//! how a manager's figures reach them.
//!
//! A manager keeps its figures itself, where they happen, for a few
//! nanoseconds each and no lock of its own: the core's counters, the
//! driver's [`Tally`](crate::tally::Tally), and three histograms of
//! durations, a count per log-linear bucket: acquire waits and lease holds
//! (`Counts`, plain adds under the manager lock, which the grant and the
//! release hold anyway) and job run times (`Buckets`, relaxed atomic adds
//! on the worker). It *publishes* them to the recorder in batches: at
//! most every `PUBLISH_EVERY` (250 ms) while it is busy, from the checker task
//! (a drain arms the deadline, the checker sleeps until it), and at once
//! after every input while it is not running (no checker; stopped managers
//! see little traffic). A publication sets the gauges that moved and adds
//! the counters' increments under the manager lock, so gauges are set in
//! the order the state changed, then records the histograms' samples with
//! the lock released. Recording every event into an exporter costs tens of
//! nanoseconds each (a Prometheus histogram sample is about 40 ns), as much
//! as a whole uncontended acquire; batching keeps that off the hot path.
//!
//! A grinder records its item and batch counters directly (one call into
//! the recorder per item, next to the item's own work).
//!
//! Without the feature every type here is empty and every method does
//! nothing, so callers need no `cfg` of their own.

#[cfg(not(feature = "metrics"))]
pub(crate) use self::off::{GrinderMeters, Meters, Published, Stopwatch};
#[cfg(feature = "metrics")]
pub(crate) use self::on::{GrinderMeters, Meters, Published, Stopwatch};

#[cfg(feature = "metrics")]
mod on {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use leasepool_core::{Config, Core, CoreCounters};
    use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

    use crate::job::JobEnd;
    use crate::tally::{Tally, TallyValues};

    /// How long a busy manager's figures may wait to be published.
    pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(250);

    /// Values below this (in nanoseconds) get a bucket each.
    const EXACT: u64 = 64;
    /// Buckets per power of two above [`EXACT`]: a bucket's middle is
    /// within 1/64 (1.6%) of every value in it.
    const SUB_BITS: u32 = 5;
    const SUBS: u64 = 1 << SUB_BITS;
    /// Every `u64` of nanoseconds has a bucket: [`EXACT`] exact ones, then
    /// [`SUBS`] per power of two from 2^6 to 2^63.
    const BUCKETS: usize = (EXACT + (64 - 6) * SUBS) as usize;

    /// A histogram of durations kept by the manager between publications:
    /// a count per log-linear bucket (exact below 64 ns, then 32 buckets
    /// per power of two), added to with one relaxed atomic add and drained
    /// by a publication, which records each bucket's middle as many times
    /// as it was hit. Its counts are at most one publication's worth.
    pub(crate) struct Buckets(Box<[AtomicU32]>);

    impl Buckets {
        fn new() -> Self {
            Buckets((0..BUCKETS).map(|_| AtomicU32::new(0)).collect())
        }

        #[inline]
        fn add(&self, d: Duration) {
            self.0[index(nanos(d))].fetch_add(1, Ordering::Relaxed);
        }

        /// Moves every count into `histogram`, in seconds (an empty bucket
        /// is only read, not written).
        fn drain_into(&self, histogram: &Histogram) {
            let counts = self
                .0
                .iter()
                .map(|c| if c.load(Ordering::Relaxed) == 0 { 0 } else { c.swap(0, Ordering::Relaxed) });
            record(counts, histogram);
        }
    }

    /// [`Buckets`] kept under the manager lock: plain adds. A publication
    /// takes the filled array and leaves a fresh one.
    #[derive(Debug)]
    struct Counts {
        buckets: Box<[u32]>,
        /// Samples since the last publication.
        samples: u32,
    }

    impl Default for Counts {
        fn default() -> Self {
            Counts { buckets: vec![0; BUCKETS].into_boxed_slice(), samples: 0 }
        }
    }

    impl Counts {
        #[inline]
        fn add(&mut self, d: Duration) {
            self.add_at(index(nanos(d)));
        }

        #[inline]
        fn add_at(&mut self, bucket: usize) {
            self.buckets[bucket] += 1;
            self.samples += 1;
        }

        /// The samples since the last call, if any (a fresh array left).
        fn take(&mut self) -> Option<Box<[u32]>> {
            (self.samples > 0).then(|| std::mem::take(self).buckets)
        }
    }

    /// Records a count per bucket, in bucket order, into `histogram`, in
    /// seconds.
    fn record(counts: impl Iterator<Item = u32>, histogram: &Histogram) {
        for (i, n) in counts.enumerate() {
            if n != 0 {
                histogram.record_many(middle(i) as f64 / 1e9, n as usize);
            }
        }
    }

    /// `d` in nanoseconds, saturating.
    #[inline]
    fn nanos(d: Duration) -> u64 {
        d.as_secs().saturating_mul(1_000_000_000).saturating_add(u64::from(d.subsec_nanos()))
    }

    /// The bucket of `nanos`.
    #[inline]
    fn index(nanos: u64) -> usize {
        if nanos < EXACT {
            return nanos as usize;
        }
        let shift = 63 - nanos.leading_zeros() - SUB_BITS; // >= 1
        let mantissa = nanos >> shift; // SUBS..2 * SUBS
        (EXACT + u64::from(shift - 1) * SUBS + (mantissa - SUBS)) as usize
    }

    /// The middle of bucket `i`, in nanoseconds.
    fn middle(i: usize) -> u64 {
        let i = i as u64;
        if i < EXACT {
            return i;
        }
        let shift = (i - EXACT) / SUBS + 1;
        let mantissa = SUBS + (i - EXACT) % SUBS;
        (mantissa << shift) + (1 << (shift - 1))
    }

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

    /// The gauges' values.
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

    /// What the last publication published, when the next is due, and the
    /// acquire waits and lease holds since; kept under the manager lock.
    #[derive(Debug, Default)]
    pub(crate) struct Published {
        /// When the next publication is due: set by the first drain after
        /// a publication, cleared by the next one. `None`: nothing drained
        /// since the last.
        due: Option<Instant>,
        counters: CoreCounters,
        tally: Option<TallyValues>,
        levels: Levels,
        waits: Counts,
        holds: Counts,
    }

    impl Published {
        /// When the next publication is due, if any is.
        #[inline]
        pub(crate) fn due(&self) -> Option<Instant> {
            self.due
        }

        /// After a drain: a publication falls due [`PUBLISH_EVERY`] from
        /// `now`, unless one is due already. Returns whether it armed one.
        #[inline]
        pub(crate) fn arm(&mut self, now: Instant) -> bool {
            if self.due.is_some() {
                return false;
            }
            self.due = Some(now + PUBLISH_EVERY);
            true
        }

        /// An acquire was granted a lease after waiting `waited`.
        #[inline]
        pub(crate) fn acquired(&mut self, waited: Duration) {
            self.waits.add(waited);
        }

        /// An acquire was granted an available pool at once: it waited 0.
        #[inline]
        pub(crate) fn acquired_at_once(&mut self) {
            self.waits.add_at(0);
        }

        /// A lease was released by its holder after being held for `held`.
        #[inline]
        pub(crate) fn released(&mut self, held: Duration) {
            self.holds.add(held);
        }
    }

    /// One publication's counters' increments and histogram samples, taken
    /// under the manager lock, recorded after it.
    pub(crate) struct Publication {
        counters: (CoreCounters, CoreCounters),
        tally: (TallyValues, TallyValues),
        waits: Option<Box<[u32]>>,
        holds: Option<Box<[u32]>>,
    }

    /// A manager's handles, each labelled `manager` = its `name_prefix`,
    /// and its histograms between publications.
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
        /// Job run times since the last publication, counted on workers.
        runs: Buckets,
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
                runs: Buckets::new(),
            };
            gauge!("leasepool_max_pools", "manager" => label()).set(config.max_pools() as f64);
            meters
        }

        /// Takes a publication, under the manager lock: sets the gauges
        /// that moved, and hands back the counters' increments to add once
        /// the lock is released (with [`Meters::publish`]).
        pub(crate) fn take(&self, published: &mut Published, core: &Core, tally: &Tally) -> Publication {
            published.due = None;
            let levels = Levels::of(core);
            let old = std::mem::replace(&mut published.levels, levels);
            let set = |gauge: &Gauge, old: usize, new: usize| {
                if new != old {
                    gauge.set(new as f64);
                }
            };
            set(&self.pools, old.pools, levels.pools);
            set(&self.pools_available, old.available, levels.available);
            set(&self.pools_leased, old.leased, levels.leased);
            set(&self.pools_creating, old.creating, levels.creating);
            set(&self.waiting, old.waiting, levels.waiting);
            // Set at the first publication even unchanged: before it, the
            // gauges read 0, and the desired count is at least 1.
            if levels.desired != old.desired || published.tally.is_none() {
                self.desired_pools.set(levels.desired as f64);
            }
            if levels.units != old.units {
                self.units.set(levels.units as f64);
            }
            let counters = (std::mem::replace(&mut published.counters, *core.counters()), *core.counters());
            let now = tally.values();
            let tally = (published.tally.replace(now).unwrap_or_default(), now);
            Publication { counters, tally, waits: published.waits.take(), holds: published.holds.take() }
        }

        /// Adds a publication's increments and records the histograms'
        /// samples since the last (with the manager lock released).
        pub(crate) fn publish(&self, publication: Publication) {
            let add = |counter: &Counter, old: u64, new: u64| {
                if new > old {
                    counter.increment(new - old);
                }
            };
            let (old, new) = publication.counters;
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
            let (old, new) = publication.tally;
            add(&self.jobs_run, old.jobs_run, new.jobs_run);
            add(&self.jobs_panicked, old.jobs_panicked, new.jobs_panicked);
            add(&self.jobs_cancelled, old.jobs_cancelled, new.jobs_cancelled);
            add(&self.size_provider_reads, old.provider_reads, new.provider_reads);
            add(&self.size_provider_failures, old.provider_failures, new.provider_failures);
            if let Some(waits) = &publication.waits {
                record(waits.iter().copied(), &self.acquire_wait);
            }
            if let Some(holds) = &publication.holds {
                record(holds.iter().copied(), &self.lease_hold);
            }
            self.runs.drain_into(&self.job_run);
        }

        /// A job of a lease ended (its count is in the tally).
        #[inline]
        pub(crate) fn job(&self, end: JobEnd) {
            if let JobEnd::Returned { took } | JobEnd::Panicked { took } = end {
                self.runs.add(took);
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

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_value_lands_in_a_bucket_whose_middle_is_within_two_percent() {
            let mut values: Vec<u64> = (0..5_000).collect();
            values.extend((6..64).flat_map(|p| [1u64 << p, (1u64 << p) - 1, (1u64 << p) + 1, 3 << (p - 1)]));
            values.push(u64::MAX);
            for v in values {
                let i = index(v);
                assert!(i < BUCKETS, "{v}: bucket {i}");
                let m = middle(i);
                if v < EXACT {
                    assert_eq!(m, v);
                } else {
                    let err = (m as f64 - v as f64).abs() / v as f64;
                    assert!(err <= 1.0 / 64.0 + 1e-12, "{v}: middle {m}, error {err}");
                }
            }
            assert_eq!(index(u64::MAX), BUCKETS - 1);
            // Buckets are in value order.
            assert!((1..BUCKETS).all(|i| middle(i - 1) < middle(i)));
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use leasepool_core::{Config, Core};

    use crate::job::JobEnd;
    use crate::tally::Tally;

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

    /// Nothing to remember without the feature.
    #[derive(Debug, Default)]
    pub(crate) struct Published {
        _nothing: (),
    }

    impl Published {
        #[inline(always)]
        pub(crate) fn due(&self) -> Option<Instant> {
            None
        }

        #[inline(always)]
        pub(crate) fn arm(&mut self, _now: Instant) -> bool {
            false
        }

        #[inline(always)]
        pub(crate) fn acquired(&mut self, _waited: Duration) {}

        #[inline(always)]
        pub(crate) fn acquired_at_once(&mut self) {}

        #[inline(always)]
        pub(crate) fn released(&mut self, _held: Duration) {}
    }

    pub(crate) struct Publication;

    pub(crate) struct Meters;

    impl Meters {
        pub(crate) fn new(_manager: &Arc<str>, _config: &Config) -> Self {
            Meters
        }

        #[inline(always)]
        pub(crate) fn take(&self, _published: &mut Published, _core: &Core, _tally: &Tally) -> Publication {
            Publication
        }

        #[inline(always)]
        pub(crate) fn publish(&self, _publication: Publication) {}

        #[inline(always)]
        pub(crate) fn job(&self, _end: JobEnd) {}
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
