//! The serialized form of the core's snapshots and configuration (feature
//! `serde`), for dashboards, logs and HTTP endpoints in any language.
//!
//! The form is language-neutral: ids are their numbers
//! ([`LeaseId::get`](crate::LeaseId::get), [`PoolId::get`](crate::PoolId::get)),
//! a [`Duration`] is seconds as an `f64` under its field's name with `_secs`
//! appended (`lease_for` becomes `lease_for_secs`), and no [`Instant`] is
//! written (it means nothing outside the process). A lease's `leased_at`
//! becomes `held_secs`, how long it had been held when the snapshot was
//! taken, and it gains `expires_in_secs`, the seconds left to its soft
//! expiry: negative once past, unlike `soft_remaining_secs`, which stops at
//! zero. Both are computed from the snapshot's own `held`, so serializing
//! reads no clock, and serializing one snapshot twice gives the same text.
//!
//! `Config` and `LeaseStats` are written here, field by field; `CoreStats`
//! and `CoreCounters`, whose fields are already in that form (counts,
//! flags, the leases), derive theirs.
//!
//! [`Instant`]: std::time::Instant

use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::config::Config;
use crate::stats::LeaseStats;

/// Seconds, the unit of every duration in the serialized form.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `Config` as `max_pools`, `min_pools`, `units_per_pool`,
/// `check_interval_secs`, `default_lease_for_secs`, `lease_grace_secs`,
/// `workers_per_pool`, `has_size_provider`, `idle_timeout_secs` and
/// `max_waiters` (`null` when unbounded).
impl Serialize for Config {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Config", 10)?;
        s.serialize_field("max_pools", &self.max_pools)?;
        s.serialize_field("min_pools", &self.min_pools)?;
        s.serialize_field("units_per_pool", &self.units_per_pool)?;
        s.serialize_field("check_interval_secs", &secs(self.check_interval))?;
        s.serialize_field("default_lease_for_secs", &secs(self.default_lease_for))?;
        s.serialize_field("lease_grace_secs", &secs(self.lease_grace))?;
        s.serialize_field("workers_per_pool", &self.workers_per_pool)?;
        s.serialize_field("has_size_provider", &self.has_size_provider)?;
        s.serialize_field("idle_timeout_secs", &secs(self.idle_timeout))?;
        s.serialize_field("max_waiters", &self.max_waiters)?;
        s.end()
    }
}

/// `LeaseStats` as `id`, `owner` (`null` when unlabelled), `pool`,
/// `held_secs`, `lease_for_secs`, `expires_in_secs` (may be negative),
/// `soft_remaining_secs`, `hard_remaining_secs`, `jobs` and `draining`.
impl Serialize for LeaseStats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("LeaseStats", 10)?;
        s.serialize_field("id", &self.id.get())?;
        s.serialize_field("owner", &self.owner.as_deref())?;
        s.serialize_field("pool", &self.pool.get())?;
        s.serialize_field("held_secs", &secs(self.held))?;
        s.serialize_field("lease_for_secs", &secs(self.lease_for))?;
        s.serialize_field("expires_in_secs", &(secs(self.lease_for) - secs(self.held)))?;
        s.serialize_field("soft_remaining_secs", &secs(self.soft_remaining))?;
        s.serialize_field("hard_remaining_secs", &secs(self.hard_remaining))?;
        s.serialize_field("jobs", &self.jobs)?;
        s.serialize_field("draining", &self.draining)?;
        s.end()
    }
}
