//! Recording through the `metrics` facade (feature `metrics`, README.md
//! "Observability"): every metric of the contract, labelled with the
//! manager's `name_prefix`, its counters equal to `Stats::counters` and
//! `GrinderStats::counters`, its gauges to the stats, and a sample in each
//! histogram per grant, job and release; published within a moment while
//! the manager runs, and at once by a stop.
//!
//! Each test registers its manager and grinder with a recorder of its own
//! (`metrics::with_local_recorder` at build time: the handles stay bound to
//! that recorder wherever they are updated), so tests running side by side
//! do not see each other's metrics. A `DebuggingRecorder` snapshot drains
//! what it reports, so a test takes one, at the end; the test that watches
//! gauges move reads a recorder that keeps its values ([`Kept`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use leasepool::driver::{Builder, GrinderBuilder, WorkGrinder};
use leasepool::{Error, Runtime, StopMode};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::registry::{AtomicStorage, Registry};

use crate::common::*;

/// The contract's metrics: name, kind.
const METRICS: [(&str, &str); 30] = [
    ("leasepool_pools", "gauge"),
    ("leasepool_pools_available", "gauge"),
    ("leasepool_pools_leased", "gauge"),
    ("leasepool_pools_creating", "gauge"),
    ("leasepool_waiting", "gauge"),
    ("leasepool_desired_pools", "gauge"),
    ("leasepool_max_pools", "gauge"),
    ("leasepool_units", "gauge"),
    ("leasepool_leases_granted_total", "counter"),
    ("leasepool_acquire_timeouts_total", "counter"),
    ("leasepool_acquire_unavailable_total", "counter"),
    ("leasepool_waiters_cancelled_total", "counter"),
    ("leasepool_leases_released_total", "counter"),
    ("leasepool_leases_revoked_total", "counter"),
    ("leasepool_pools_created_total", "counter"),
    ("leasepool_pools_shut_down_total", "counter"),
    ("leasepool_pools_broken_total", "counter"),
    ("leasepool_jobs_run_total", "counter"),
    ("leasepool_jobs_panicked_total", "counter"),
    ("leasepool_jobs_cancelled_total", "counter"),
    ("leasepool_size_provider_reads_total", "counter"),
    ("leasepool_size_provider_failures_total", "counter"),
    ("leasepool_grinder_items_accepted_total", "counter"),
    ("leasepool_grinder_items_completed_total", "counter"),
    ("leasepool_grinder_items_failed_total", "counter"),
    ("leasepool_grinder_items_cancelled_total", "counter"),
    ("leasepool_grinder_batches_total", "counter"),
    ("leasepool_acquire_wait_seconds", "histogram"),
    ("leasepool_lease_hold_seconds", "histogram"),
    ("leasepool_job_run_seconds", "histogram"),
];

/// One snapshot, by metric name and its labels other than `manager`
/// (asserted to be `manager`); each value once.
struct Recorded(BTreeMap<(String, Vec<(String, String)>), DebugValue>);

impl Recorded {
    fn take(snapshotter: &Snapshotter, manager: &str) -> Self {
        let mut metrics = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<(String, String)> =
                key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            let at = labels.iter().position(|(k, _)| k == "manager");
            let Some(at) = at else { panic!("{} has no manager label", key.name()) };
            assert_eq!(labels.remove(at).1, manager, "{} labelled with another manager", key.name());
            assert!(metrics.insert((key.name().to_owned(), labels), value).is_none());
        }
        Recorded(metrics)
    }

    fn names(&self) -> BTreeSet<(&str, &str)> {
        self.0
            .iter()
            .map(|((name, _), value)| {
                let kind = match value {
                    DebugValue::Counter(_) => "counter",
                    DebugValue::Gauge(_) => "gauge",
                    DebugValue::Histogram(_) => "histogram",
                };
                (name.as_str(), kind)
            })
            .collect()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> &DebugValue {
        let key = (name.to_owned(), labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        self.0.get(&key).unwrap_or_else(|| panic!("{name} {labels:?} not recorded"))
    }

    #[track_caller]
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.value(name, labels) {
            DebugValue::Counter(n) => *n,
            other => panic!("{name} is no counter: {other:?}"),
        }
    }

    #[track_caller]
    fn gauge(&self, name: &str) -> f64 {
        match self.value(name, &[]) {
            DebugValue::Gauge(v) => v.into_inner(),
            other => panic!("{name} is no gauge: {other:?}"),
        }
    }

    #[track_caller]
    fn samples(&self, name: &str) -> Vec<f64> {
        match self.value(name, &[]) {
            DebugValue::Histogram(v) => v.iter().map(|x| x.into_inner()).collect(),
            other => panic!("{name} is no histogram: {other:?}"),
        }
    }
}

/// A recorder whose values can be read any number of times.
#[derive(Clone)]
pub(crate) struct Kept(pub(crate) Arc<Registry<Key, AtomicStorage>>);

impl Recorder for Kept {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0.get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0.get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0.get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

impl Kept {
    /// The gauge `name` of manager `manager`.
    pub(crate) fn gauge(&self, name: &str, manager: &str) -> f64 {
        let key = Key::from_parts(name.to_owned(), vec![Label::new("manager", manager.to_owned())]);
        let gauge = self.0.get_gauge(&key).unwrap_or_else(|| panic!("{name} not registered"));
        f64::from_bits(gauge.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The counter `name` of manager `manager`, with its other labels.
    pub(crate) fn counter(&self, name: &str, manager: &str, labels: &[(&str, &str)]) -> u64 {
        let mut all = vec![Label::new("manager", manager.to_owned())];
        all.extend(labels.iter().map(|(k, v)| Label::new((*k).to_owned(), (*v).to_owned())));
        let key = Key::from_parts(name.to_owned(), all);
        let counter = self.0.get_counter(&key).unwrap_or_else(|| panic!("{name} not registered"));
        counter.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A manager (and a grinder builder on it) whose metrics go to a recorder
/// of the test's own.
fn metered<R: Runtime + Default>(
    prefix: &str,
    b: Builder<R>,
) -> (Manager<R>, Snapshotter, DebuggingRecorder) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let m = metrics::with_local_recorder(&recorder, || b.name_prefix(prefix).build().unwrap());
    (m, snapshotter, recorder)
}

fn grinder_on<R: Runtime>(recorder: &DebuggingRecorder, b: GrinderBuilder<R>) -> WorkGrinder<R> {
    metrics::with_local_recorder(recorder, || b.build().unwrap())
}

/// Every metric of the contract is registered, labelled, and agrees with
/// the stats: counters equal, gauges at the last state, one acquire-wait
/// sample per grant and one job-run sample per job run.
async fn metrics_mirror_the_stats<R: Runtime + Default>() {
    let (m, snapshotter, recorder) = metered("metered", builder::<R>().max_pools(1).workers_per_pool(1));
    let g = grinder_on(
        &recorder,
        WorkGrinder::builder(&m).batch_size_threshold(3).max_wait(Duration::from_secs(3600)),
    );
    m.start().await.unwrap();
    g.start().await.unwrap();

    let first = m.acquire().await.unwrap();
    assert!(matches!(m.try_acquire().await, Err(Error::Unavailable)));
    assert!(matches!(m.acquire().timeout(Duration::from_millis(20)).await, Err(Error::Timeout(_))));
    drop(queued(&m, m.acquire()).await);
    let waiter = queued(&m, m.acquire()).await;
    drop(first);
    let second = within::<R, _>("the waiter gets the pool", waiter).await.unwrap();
    second.run(|| ()).await.unwrap();
    assert!(matches!(second.run(|| -> u8 { panic!("metered") }).await, Err(Error::Panicked(_))));
    drop(second);
    let items = [g.enqueue(|| 1).unwrap(), g.enqueue(|| panic!("item")).unwrap(), g.enqueue(|| 3).unwrap()];
    for item in items {
        let _ = within::<R, _>("an item ends", item).await;
    }
    g.stop(StopMode::Drain).await;
    quiescent(&m, "the batch lease is back").await;
    // A stop publishes at once (a running manager within a moment).
    m.stop().await;
    let s = m.stats();
    let gs = g.stats();
    let r = Recorded::take(&snapshotter, "metered");

    assert_eq!(r.names(), METRICS.into_iter().collect(), "exactly the contract's metrics");
    let c = s.counters;
    let granted = |when| r.counter("leasepool_leases_granted_total", &[("when", when)]);
    assert_eq!(
        (granted("at_once"), granted("after_waiting")),
        (c.leases_granted_at_once, c.leases_granted_after_waiting)
    );
    for (name, value) in [
        ("leasepool_acquire_timeouts_total", c.acquire_timeouts),
        ("leasepool_acquire_unavailable_total", c.acquire_unavailable),
        ("leasepool_waiters_cancelled_total", c.waiters_cancelled),
        ("leasepool_leases_released_total", c.leases_released),
        ("leasepool_leases_revoked_total", c.leases_revoked),
        ("leasepool_pools_created_total", c.pools_created),
        ("leasepool_pools_shut_down_total", c.pools_shut_down),
        ("leasepool_pools_broken_total", c.pools_broken),
        ("leasepool_jobs_run_total", c.jobs_run),
        ("leasepool_jobs_panicked_total", c.jobs_panicked),
        ("leasepool_jobs_cancelled_total", c.jobs_cancelled),
        ("leasepool_size_provider_reads_total", c.size_provider_reads),
        ("leasepool_size_provider_failures_total", c.size_provider_failures),
        ("leasepool_grinder_items_accepted_total", gs.counters.items_accepted),
        ("leasepool_grinder_items_completed_total", gs.counters.items_completed),
        ("leasepool_grinder_items_failed_total", gs.counters.items_failed),
        ("leasepool_grinder_items_cancelled_total", gs.counters.items_cancelled),
        ("leasepool_grinder_batches_total", gs.counters.batches_run),
    ] {
        assert_eq!(r.counter(name, &[]), value, "{name}");
    }
    // What the test did, counted: the grinder's batch lease is a grant
    // at once, its chunk a job that ran.
    assert_eq!((c.leases_granted_at_once, c.leases_granted_after_waiting), (2, 1), "{c:?}");
    assert_eq!((c.acquire_timeouts, c.acquire_unavailable, c.waiters_cancelled), (1, 1, 1), "{c:?}");
    assert_eq!((c.jobs_run, c.jobs_panicked, c.leases_released), (3, 1, 3), "{c:?}");
    assert_eq!((c.pools_created, c.pools_shut_down), (1, 1), "{c:?}");
    let gc = gs.counters;
    assert_eq!(
        (gc.items_accepted, gc.items_completed, gc.items_failed, gc.batches_run),
        (3, 2, 1, 1),
        "{gc:?}"
    );

    for (name, value) in [
        ("leasepool_pools", s.total),
        ("leasepool_pools_available", s.available),
        ("leasepool_pools_leased", s.leased),
        ("leasepool_pools_creating", s.creating),
        ("leasepool_waiting", s.waiting),
        ("leasepool_desired_pools", s.desired_executor_count),
        ("leasepool_max_pools", s.max_pools),
    ] {
        assert_eq!(r.gauge(name), value as f64, "{name}");
    }
    assert_eq!(r.gauge("leasepool_units"), s.units as f64);

    let waits = r.samples("leasepool_acquire_wait_seconds");
    assert_eq!(
        waits.len() as u64,
        c.leases_granted_at_once + c.leases_granted_after_waiting,
        "one per grant"
    );
    let holds = r.samples("leasepool_lease_hold_seconds");
    assert_eq!(holds.len(), 3, "one per lease released by its holder (the batch's included)");
    let runs = r.samples("leasepool_job_run_seconds");
    assert_eq!(runs.len() as u64, c.jobs_run, "one per job that ran");
    for v in waits.iter().chain(&holds).chain(&runs) {
        assert!(v.is_finite() && *v >= 0.0, "seconds, never negative: {v}");
    }
    // The acquire granted at once waited zero, exactly.
    assert!(waits.contains(&0.0), "{waits:?}");
}

/// Gauges (and counters) follow the state as it changes: published within
/// a moment while the manager runs, and at once when it stops.
async fn gauges_follow_the_state<R: Runtime + Default>() {
    let kept = Kept(Arc::new(Registry::atomic()));
    let m = metrics::with_local_recorder(&kept, || {
        builder::<R>().max_pools(3).min_pools(2).name_prefix("gauged").build().unwrap()
    });
    let gauges = |names: [&str; 4]| names.map(|name| kept.gauge(name, "gauged"));
    const NAMES: [&str; 4] =
        ["leasepool_pools", "leasepool_pools_available", "leasepool_pools_leased", "leasepool_max_pools"];
    assert_eq!(kept.gauge("leasepool_max_pools", "gauged"), 3.0, "set when built");
    m.start().await.unwrap();
    let lease = m.acquire().await.unwrap();
    eventually::<R>("the lease is published", || gauges(NAMES) == [2.0, 1.0, 1.0, 3.0]).await;
    drop(lease);
    eventually::<R>("the release is published", || gauges(NAMES) == [2.0, 2.0, 0.0, 3.0]).await;
    let counter = |name, labels: &[(&str, &str)]| kept.counter(name, "gauged", labels);
    assert_eq!(counter("leasepool_leases_granted_total", &[("when", "at_once")]), 1);
    assert_eq!(counter("leasepool_leases_released_total", &[]), 1);
    assert_eq!(counter("leasepool_pools_created_total", &[]), 2);
    m.stop().await;
    assert_eq!(gauges(NAMES), [0.0, 0.0, 0.0, 3.0], "a stop publishes at once");
}

/// A manager built with no recorder installed records nothing and works
/// as ever (the facade's handles do nothing).
async fn no_recorder_no_effect<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1)).await;
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run(|| 2 + 2).await.unwrap(), 4);
    drop(lease);
    assert_eq!(m.stats().counters.jobs_run, 1);
    m.stop().await;
}

conformance! {
    metrics_mirror_the_stats,
    gauges_follow_the_state,
    no_recorder_no_effect,
}
