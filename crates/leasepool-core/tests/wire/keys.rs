//! The keys of the core's serialized form (`Config`, `LeaseStats`,
//! `CoreCounters`) and the check of an object's exact keys, written once
//! for the core's `wire` test and the facade's conformance suite (which
//! includes this file), since the facade serializes the same types.

use std::collections::BTreeSet;

use serde_json::Value;

/// The keys of a `Config`.
pub(crate) const CONFIG: &[&str] = &[
    "max_pools",
    "min_pools",
    "units_per_pool",
    "check_interval_secs",
    "default_lease_for_secs",
    "lease_grace_secs",
    "workers_per_pool",
    "has_size_provider",
    "idle_timeout_secs",
    "max_waiters",
];

/// The keys of a `LeaseStats`.
pub(crate) const LEASE: &[&str] = &[
    "id",
    "owner",
    "pool",
    "held_secs",
    "lease_for_secs",
    "expires_in_secs",
    "soft_remaining_secs",
    "hard_remaining_secs",
    "jobs",
    "draining",
];

/// The keys of a `CoreCounters` (the first of the manager's `Counters`).
pub(crate) const CORE_COUNTERS: &[&str] = &[
    "leases_granted_at_once",
    "leases_granted_after_waiting",
    "acquire_timeouts",
    "acquire_unavailable",
    "waiters_cancelled",
    "leases_released",
    "leases_revoked",
    "pools_created",
    "pools_shut_down",
    "pools_broken",
];

/// `v` is an object whose keys are exactly `expected`, in any order.
#[track_caller]
pub(crate) fn assert_keys(v: &Value, expected: &[&str]) {
    let keys: BTreeSet<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys, expected.iter().copied().collect::<BTreeSet<_>>(), "{v}");
}
