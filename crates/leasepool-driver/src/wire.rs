//! The serialized form of the grinder's snapshot and of the backend
//! (feature `serde`; `Stats` and the counters derive theirs), in the
//! language-neutral form of `leasepool-core`'s (its configuration and
//! leases): field names as keys, durations as seconds (`f64`) under the
//! field's name with `_secs` appended, no `Instant`, the backend as its
//! lowercase name (`"thread"`), an absent value as `null`.

use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::backend::Backend;
use crate::grinder::GrinderStats;

/// `Backend` as its name: `"thread"`.
impl Serialize for Backend {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
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
