//! The serialized form (feature `serde`): the exact keys of `Config`,
//! `LeaseStats`, `CoreStats` and `CoreCounters`, durations as seconds, no
//! `Instant`, and a lease's signed time to expiry.

#![cfg(feature = "serde")]

// Shared with the facade's conformance suite.
#[path = "wire/keys.rs"]
mod keys;

use std::time::{Duration, Instant};

use keys::assert_keys;
use leasepool_core::{Acquire, Acquired, Action, Config, Core};
use serde_json::{Value, json};

/// A started core with one lease, granted at `now` for 100 s (grace 20 s)
/// to "etl".
fn core_with_a_lease(now: Instant) -> Core {
    let config = Config::builder()
        .max_pools(3)
        .min_pools(1)
        .default_lease_for(Duration::from_secs(100))
        .lease_grace(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut core = Core::new(config);
    core.start(now, 0).unwrap();
    while let Some(Action::CreatePool(p)) = core.poll_action() {
        core.pool_created(now, p);
    }
    let Ok(Acquired::Granted(_)) = core.acquire(now, Acquire::no_wait().owner("etl")) else {
        panic!("a grant")
    };
    core
}

#[test]
fn config_serializes_every_setting_with_durations_in_seconds() {
    let config = Config::builder()
        .max_pools(4)
        .check_interval(Duration::from_millis(1500))
        .max_waiters(8)
        .build()
        .unwrap();
    let v = serde_json::to_value(&config).unwrap();
    assert_keys(&v, keys::CONFIG);
    assert_eq!(v["max_pools"], json!(4));
    assert_eq!(v["check_interval_secs"], json!(1.5));
    assert_eq!(v["default_lease_for_secs"], json!(300.0));
    assert_eq!(v["max_waiters"], json!(8));
    let unbounded = serde_json::to_value(Config::builder().max_pools(1).build().unwrap()).unwrap();
    assert_eq!(unbounded["max_waiters"], Value::Null);
}

#[test]
fn lease_stats_serialize_times_as_seconds_held_and_left() {
    let now = Instant::now();
    let core = core_with_a_lease(now);
    let lease = &core.stats(now + Duration::from_secs(30)).leases[0];
    let v = serde_json::to_value(lease).unwrap();
    assert_keys(&v, keys::LEASE);
    assert_eq!(v["id"], json!(lease.id.get()));
    assert_eq!(v["pool"], json!(lease.pool.get()));
    assert_eq!(v["owner"], json!("etl"));
    assert_eq!(v["held_secs"], json!(30.0));
    assert_eq!(v["lease_for_secs"], json!(100.0));
    assert_eq!(v["expires_in_secs"], json!(70.0));
    assert_eq!(v["soft_remaining_secs"], json!(70.0));
    assert_eq!(v["hard_remaining_secs"], json!(90.0));
    assert_eq!((v["jobs"].clone(), v["draining"].clone()), (json!(0), json!(false)));

    // Past soft expiry: seconds left turn negative, the remaining times
    // stop at zero (soft) or keep counting down (hard).
    let late = core.stats(now + Duration::from_secs(110));
    let v = serde_json::to_value(&late.leases[0]).unwrap();
    assert_eq!(v["expires_in_secs"], json!(-10.0));
    assert_eq!(v["soft_remaining_secs"], json!(0.0));
    assert_eq!(v["hard_remaining_secs"], json!(10.0));
    // Serializing reads no clock: the same snapshot gives the same text.
    assert_eq!(serde_json::to_string(&late).unwrap(), serde_json::to_string(&late).unwrap());
}

#[test]
fn core_stats_and_counters_serialize_with_their_field_names() {
    let now = Instant::now();
    let core = core_with_a_lease(now);
    let v = serde_json::to_value(core.stats(now)).unwrap();
    assert_keys(
        &v,
        &[
            "running",
            "available",
            "leased",
            "creating",
            "total",
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
    assert_eq!(v["leases"].as_array().map(Vec::len), Some(1));
    assert_keys(&v["counters"], keys::CORE_COUNTERS);
    assert_eq!(v["counters"]["leases_granted_at_once"], json!(1));
    assert_eq!(v["counters"]["pools_created"], json!(1));
    assert_eq!(serde_json::to_value(core.counters()).unwrap(), v["counters"]);
}
