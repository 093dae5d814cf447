//! The one error type of the async API.

use std::sync::Arc;
use std::time::Duration;

use leasepool_core::{AcquireError, ConfigError, SubmitError};

/// Everything that can go wrong when acquiring a lease or running a job.
///
/// Each message says what happened and what to do about it.
///
/// ```
/// use leasepool_driver::Error;
/// let err = Error::Unavailable;
/// assert!(err.to_string().contains("max_pools"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manager is not started (or was stopped while this call waited).
    #[error("the lease manager is not running: call `start().await` first (it may have been stopped)")]
    NotStarted,
    /// `try_acquire` found no free pool and the manager is at `max_pools`.
    #[error("no pool is free and the manager is at max_pools: wait with `acquire()`, or raise max_pools")]
    Unavailable,
    /// No pool became free within the acquire timeout (the timeout given).
    #[error("no pool became free within {0:?}: raise the timeout or max_pools, or hold leases for less time")]
    Timeout(Duration),
    /// The lease was released, revoked at hard expiry, or its manager stopped.
    #[error(
        "the lease is no longer valid (released, past its hard expiry, or the manager stopped): acquire a new one"
    )]
    LeaseExpired,
    /// The job panicked; the pool keeps serving other jobs.
    #[error("the job panicked: {0}")]
    Panicked(String),
    /// The pool's worker initializer failed; the pool was retired.
    #[error("the pool is broken (worker initializer failed: {0}); it was retired: acquire a new lease")]
    Broken(Arc<str>),
    /// The job was dropped before it ran: its pool was shut down, or (for a
    /// grinder item) its grinder was stopped with `CancelPending` or dropped.
    #[error(
        "the job was cancelled before it ran: its pool was shut down (stop, expiry or shrink), or its grinder stopped"
    )]
    Cancelled,
    /// The work grinder is not accepting work (not started, or stopping).
    #[error("the work grinder is not running (not started, or stopping): call `start().await` first")]
    GrinderNotRunning,
    /// Worker threads for a new pool could not be started.
    #[error("could not start worker threads for a new pool: {0}")]
    Spawn(Arc<std::io::Error>),
    /// The configuration (or a per-acquire value) is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
}

impl Error {
    pub(crate) fn from_acquire(err: AcquireError, timeout: Option<Duration>) -> Self {
        match err {
            AcquireError::NotStarted => Error::NotStarted,
            AcquireError::Unavailable => Error::Unavailable,
            AcquireError::Timeout => Error::Timeout(timeout.unwrap_or_default()),
            AcquireError::PoolCreationFailed => Error::Spawn(Arc::new(std::io::Error::other(
                "worker threads for the granted pool failed to start",
            ))),
            AcquireError::InvalidLease(e) => Error::Config(e),
            _ => Error::NotStarted,
        }
    }
}

impl From<SubmitError> for Error {
    fn from(_: SubmitError) -> Self {
        Error::LeaseExpired
    }
}
