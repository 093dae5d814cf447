//! The serialized form of the manager's and the grinder's snapshots
//! (feature `serde`), in the language-neutral form of
//! `leasepool-core`'s (its configuration and leases): field names as keys,
//! durations as seconds (`f64`) under the field's name with `_secs`
//! appended, no `Instant`, the backend as its lowercase name (`"thread"`),
//! an absent value as `null`.

use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::backend::Backend;
use crate::grinder::GrinderStats;
use crate::stats::Stats;

/// `Backend` as its name: `"thread"`.
impl Serialize for Backend {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `Stats` as `backend`, `name_prefix`, `running`, `available`, `leased`,
/// `creating`, `total`, `winding_down`, `desired_executor_count`, `units`,
/// `waiting`, `min_pools`, `max_pools`, `workers_per_pool`, `leases` (a
/// list of `LeaseStats`, see `leasepool-core`) and `counters` (an object of
/// [`Counters`](crate::Counters)' fields).
impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Stats", 16)?;
        s.serialize_field("backend", &self.backend)?;
        s.serialize_field("name_prefix", &*self.name_prefix)?;
        s.serialize_field("running", &self.running)?;
        s.serialize_field("available", &self.available)?;
        s.serialize_field("leased", &self.leased)?;
        s.serialize_field("creating", &self.creating)?;
        s.serialize_field("total", &self.total)?;
        s.serialize_field("winding_down", &self.winding_down)?;
        s.serialize_field("desired_executor_count", &self.desired_executor_count)?;
        s.serialize_field("units", &self.units)?;
        s.serialize_field("waiting", &self.waiting)?;
        s.serialize_field("min_pools", &self.min_pools)?;
        s.serialize_field("max_pools", &self.max_pools)?;
        s.serialize_field("workers_per_pool", &self.workers_per_pool)?;
        s.serialize_field("leases", &self.leases)?;
        s.serialize_field("counters", &self.counters)?;
        s.end()
    }
}

/// `GrinderStats` as `started`, `stopping`, `pending`,
/// `batch_size_threshold`, `max_wait_secs`, `lease_for_secs`,
/// `oldest_wait_secs` (`null` with nothing pending), `running_batches`,
/// `max_concurrent_batches` and `counters` (an object of
/// [`GrinderCounters`](crate::GrinderCounters)' fields).
impl Serialize for GrinderStats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("GrinderStats", 10)?;
        s.serialize_field("started", &self.started)?;
        s.serialize_field("stopping", &self.stopping)?;
        s.serialize_field("pending", &self.pending)?;
        s.serialize_field("batch_size_threshold", &self.batch_size_threshold)?;
        s.serialize_field("max_wait_secs", &secs(self.max_wait))?;
        s.serialize_field("lease_for_secs", &secs(self.lease_for))?;
        s.serialize_field("oldest_wait_secs", &self.oldest_wait.map(secs))?;
        s.serialize_field("running_batches", &self.running_batches)?;
        s.serialize_field("max_concurrent_batches", &self.max_concurrent_batches)?;
        s.serialize_field("counters", &self.counters)?;
        s.end()
    }
}

/// Seconds, the unit of every duration in the serialized form.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
