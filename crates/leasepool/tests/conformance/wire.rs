//! The serialized form (feature `serde`, README.md "Observability"): the
//! exact keys of `Stats`, its leases and counters, `GrinderStats`,
//! `Config` and `Backend`, with durations as seconds.

// The core's keys (its configuration, leases and counters), as its own
// test checks them.
#[path = "../../../leasepool-core/tests/wire/keys.rs"]
mod keys;

use std::time::Duration;

use keys::assert_keys;
use leasepool::driver::WorkGrinder;
use leasepool::{Backend, Runtime, StopMode};
use serde_json::{Value, json};

use crate::common::*;

/// The keys of `Counters` the manager adds to the core's.
const MANAGER_COUNTERS: [&str; 5] =
    ["jobs_run", "jobs_panicked", "jobs_cancelled", "size_provider_reads", "size_provider_failures"];

/// `Stats` with a live lease: every key, the backend as its name, the
/// leases and counters nested; printed pretty (`-- --nocapture` shows it).
async fn stats_serialize_with_exact_keys<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).workers_per_pool(1).name_prefix("wire")).await;
    let lease = m.acquire().owner("report").lease_for(Duration::from_secs(30)).await.unwrap();
    lease.run(|| ()).await.unwrap();
    let stats = m.stats();
    println!("{}", serde_json::to_string_pretty(&stats).unwrap());
    let v = serde_json::to_value(&stats).unwrap();
    assert_keys(
        &v,
        &[
            "backend",
            "name_prefix",
            "running",
            "available",
            "leased",
            "creating",
            "total",
            "winding_down",
            "desired_executor_count",
            "units",
            "waiting",
            "min_pools",
            "max_pools",
            "workers_per_pool",
            "leases",
            "counters",
        ],
    );
    assert_eq!((v["backend"].clone(), v["name_prefix"].clone()), (json!("thread"), json!("wire")));
    assert_eq!((v["leased"].clone(), v["max_pools"].clone()), (json!(1), json!(2)));
    assert_keys(&v["counters"], &[keys::CORE_COUNTERS, &MANAGER_COUNTERS].concat());
    assert_eq!(v["counters"]["jobs_run"], json!(1));
    assert_eq!(v["counters"], serde_json::to_value(stats.counters).unwrap());
    let l = &v["leases"][0];
    assert_keys(l, keys::LEASE);
    assert_eq!((l["id"].clone(), l["owner"].clone()), (json!(lease.id().get()), json!("report")));
    assert_eq!(l["lease_for_secs"], json!(30.0));
    let held = l["held_secs"].as_f64().expect("seconds");
    let left = l["expires_in_secs"].as_f64().expect("seconds");
    assert!((0.0..30.0).contains(&held) && (left - (30.0 - held)).abs() < 1e-6, "{l}");
    drop(lease);
    m.stop().await;
}

/// `Config` and `Backend` as the manager reports them.
async fn config_and_backend_serialize<R: Runtime + Default>() {
    let m = builder::<R>().max_pools(3).idle_timeout(Duration::from_millis(250)).build().unwrap();
    let v = serde_json::to_value(m.config()).unwrap();
    assert_keys(&v, keys::CONFIG);
    assert_eq!((v["max_pools"].clone(), v["idle_timeout_secs"].clone()), (json!(3), json!(0.25)));
    assert_eq!(serde_json::to_value(Backend::Thread).unwrap(), json!("thread"));
}

/// `GrinderStats`: every key, durations in seconds, `oldest_wait_secs`
/// null with nothing pending, the counters nested.
async fn grinder_stats_serialize_with_exact_keys<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1)).await;
    let g = WorkGrinder::builder(&m)
        .batch_size_threshold(1)
        .max_wait(Duration::from_millis(5))
        .lease_for(Duration::from_secs(2))
        .build()
        .unwrap();
    g.start().await.unwrap();
    g.submit(|| ()).await.unwrap();
    g.stop(StopMode::Drain).await;
    let v = serde_json::to_value(g.stats()).unwrap();
    assert_keys(
        &v,
        &[
            "started",
            "stopping",
            "pending",
            "batch_size_threshold",
            "max_wait_secs",
            "lease_for_secs",
            "oldest_wait_secs",
            "running_batches",
            "max_concurrent_batches",
            "counters",
        ],
    );
    assert_eq!((v["max_wait_secs"].clone(), v["lease_for_secs"].clone()), (json!(0.005), json!(2.0)));
    assert_eq!(v["oldest_wait_secs"], Value::Null);
    assert_keys(
        &v["counters"],
        &["items_accepted", "items_completed", "items_failed", "items_cancelled", "batches_run"],
    );
    assert_eq!(
        (v["counters"]["items_accepted"].clone(), v["counters"]["items_completed"].clone()),
        (json!(1), json!(1))
    );
    m.stop().await;
}

conformance! {
    stats_serialize_with_exact_keys,
    config_and_backend_serialize,
    grinder_stats_serialize_with_exact_keys,
}
