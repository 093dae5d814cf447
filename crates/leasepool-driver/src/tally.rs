//! What only the driver sees, counted: the jobs of leases and the size
//! provider's reads. The core counts its own decisions (grants, refusals,
//! lease ends, pools) in [`leasepool_core::CoreCounters`]; these events
//! happen on worker threads and around user code, outside the manager
//! lock, so they are relaxed atomic adds: a count needs no order with
//! anything else, and a job's result, sent after its count, carries the
//! count with it to whoever receives it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::job::JobEnd;

/// Counts since the manager was built; never reset.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Jobs of leases that ran (returned or panicked).
    jobs_run: AtomicU64,
    /// Of `jobs_run`, those that panicked.
    jobs_panicked: AtomicU64,
    /// Jobs of leases that never ran.
    jobs_cancelled: AtomicU64,
    /// Calls of the size provider.
    provider_reads: AtomicU64,
    /// Of `provider_reads`, those that panicked.
    provider_failures: AtomicU64,
}

/// A [`Tally`]'s values, read together (each read is relaxed: the values
/// may be a few events apart, each of them monotonic).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TallyValues {
    pub(crate) jobs_run: u64,
    pub(crate) jobs_panicked: u64,
    pub(crate) jobs_cancelled: u64,
    pub(crate) provider_reads: u64,
    pub(crate) provider_failures: u64,
}

impl Tally {
    /// A job of a lease ended.
    #[inline]
    pub(crate) fn job(&self, end: JobEnd) {
        match end {
            JobEnd::Returned { .. } => {
                self.jobs_run.fetch_add(1, Ordering::Relaxed);
            }
            JobEnd::Panicked { .. } => {
                self.jobs_run.fetch_add(1, Ordering::Relaxed);
                self.jobs_panicked.fetch_add(1, Ordering::Relaxed);
            }
            JobEnd::NotRun { .. } => {
                self.jobs_cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The size provider was called; returns the failures so far,
    /// this one included if it `failed`.
    pub(crate) fn provider_read(&self, failed: bool) -> u64 {
        self.provider_reads.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.provider_failures.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.provider_failures.load(Ordering::Relaxed)
        }
    }

    pub(crate) fn values(&self) -> TallyValues {
        TallyValues {
            jobs_run: self.jobs_run.load(Ordering::Relaxed),
            jobs_panicked: self.jobs_panicked.load(Ordering::Relaxed),
            jobs_cancelled: self.jobs_cancelled.load(Ordering::Relaxed),
            provider_reads: self.provider_reads.load(Ordering::Relaxed),
            provider_failures: self.provider_failures.load(Ordering::Relaxed),
        }
    }
}
