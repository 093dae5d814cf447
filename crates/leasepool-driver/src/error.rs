//! The one error type of the async API.

use std::sync::Arc;
use std::time::Duration;

use leasepool_core::{ConfigError, LeaseError};

/// Everything that can go wrong when acquiring a lease or running a job.
///
/// Each message says what happened and what to do about it.
///
/// ```
/// use leasepool::Error;
/// let err = Error::Unavailable;
/// assert!(err.to_string().contains("max_pools"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manager was never started: call `start().await` first.
    #[error("the lease manager was never started: call `start().await` first")]
    NotStarted,
    /// The manager was stopped (before this call, or while it waited): it
    /// grants no lease until it is started again.
    #[error("the lease manager is stopped: it grants no lease until it is started again")]
    Stopped,
    /// The async runtime that drove the manager (or the grinder) has shut
    /// down, or there was none: its background task is gone, so nothing
    /// would enforce timeouts or expiries. Start it again inside a live
    /// runtime.
    #[error(
        "the async runtime driving the lease manager has shut down: call `start()` again inside a live runtime"
    )]
    RuntimeGone,
    /// `try_acquire` found no free pool and the manager is at `max_pools`.
    #[error("no pool is free and the manager is at max_pools: wait with `acquire()`, or raise max_pools")]
    Unavailable,
    /// No pool became free within the acquire timeout (the timeout given).
    #[error("no pool became free within {0:?}: raise the timeout or max_pools, or hold leases for less time")]
    Timeout(Duration),
    /// The lease passed its hard expiry and was revoked (its pool shut
    /// down). A lease cut by a stop fails with [`Error::Stopped`] instead.
    #[error("the lease expired (past its hard expiry) and was revoked: acquire a new one")]
    LeaseExpired,
    /// The lease was released by its holder (or dropped): it takes no more
    /// jobs.
    #[error("the lease was released: acquire a new one")]
    LeaseReleased,
    /// The core answered that the lease had already ended
    /// (`LeaseError::Ended`, through `From<LeaseError>`), for a driver that
    /// asks the core directly. A lease of this crate's API says why
    /// instead: [`Error::LeaseExpired`], [`Error::Stopped`] or
    /// [`Error::Broken`].
    #[error("the lease has ended: acquire a new one")]
    LeaseEnded,
    /// The job panicked; the pool keeps serving other jobs.
    #[error("the job panicked: {0}")]
    Panicked(String),
    /// The pool is broken: its worker initializer failed (or, on a process
    /// pool, a worker process crashed or broke the protocol); the pool was
    /// retired. The message says which.
    #[error("the pool is broken ({0}); it was retired: acquire a new lease")]
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
    #[error("could not start worker threads for a new pool")]
    Spawn(#[source] Arc<std::io::Error>),
    /// The configuration (or a per-acquire value) is invalid. The message
    /// names the field; the inner error is shown, not chained, so a report
    /// prints it once.
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    /// A worker process ended while it ran the job (process pools): killed
    /// by `signal` (a segfault, an abort, say after an allocation failed
    /// under the memory limit, or an outside kill), or exited with `code`
    /// (the job called `exit`). The pool was retired and is replaced; jobs
    /// on other pools are unaffected.
    #[error("the worker process running the job crashed ({}); its pool was retired: acquire a new lease", crash_cause(*.signal, *.code))]
    WorkerCrashed {
        /// The signal that killed it, if any.
        signal: Option<i32>,
        /// Its exit code, if it exited.
        code: Option<i32>,
    },
    /// The worker process does not know the job (process pools): the
    /// worker program's `init` did not register a job of this name.
    #[error(
        "the worker process has no job named `{0}`: register it with `Jobs::register` in the worker's `init`"
    )]
    UnknownJob(Arc<str>),
    /// A worker process sent something that is not a valid reply
    /// (process pools): a malformed, truncated or oversized frame, or an
    /// output that does not decode into the job's output type. The worker
    /// was killed and its pool retired.
    #[error("the worker process sent a bad reply ({0}); its pool was retired: acquire a new lease")]
    WorkerProtocol(Arc<str>),
    /// A job's input or output could not be serialized or deserialized
    /// (process pools), or its input is over the frame limit. The message
    /// names the job and the cause.
    #[error(
        "could not encode or decode the job's data ({0}): fix the job's types or its value; retrying will not help"
    )]
    Codec(Arc<str>),
}

/// How a worker process ended, in words (`killed by signal 9 (SIGKILL)`).
pub(crate) fn crash_cause(signal: Option<i32>, code: Option<i32>) -> String {
    #[cfg(all(unix, feature = "process"))]
    let name = |signal| crate::process::signal_name(signal);
    #[cfg(not(all(unix, feature = "process")))]
    let name = |_| None::<&str>;
    match (signal, code) {
        (Some(signal), _) => match name(signal) {
            Some(name) => format!("killed by signal {signal} ({name})"),
            None => format!("killed by signal {signal}"),
        },
        (None, Some(code)) => format!("exited with code {code}"),
        (None, None) => "ended".to_owned(),
    }
}

/// The broad class of an [`Error`], for a service that maps errors to its
/// own answers (HTTP status, gRPC code, retry policy) without matching
/// every variant. See [`Error::kind`].
///
/// What a service would typically answer for each, over HTTP:
///
/// | Kind | Variants | Retryable | HTTP status |
/// |------|----------|-----------|-------------|
/// | [`Overload`](Self::Overload) | [`Error::Unavailable`], [`Error::Timeout`] | yes | 503 Service Unavailable + `Retry-After` |
/// | [`Stopped`](Self::Stopped) | [`Error::NotStarted`], [`Error::Stopped`], [`Error::RuntimeGone`], [`Error::GrinderNotRunning`] | yes (elsewhere, or later) | 503 + `Retry-After` |
/// | [`LeaseGone`](Self::LeaseGone) | [`Error::LeaseExpired`], [`Error::LeaseReleased`], [`Error::LeaseEnded`] | yes, on a new lease | retry inside the service; if that fails, 503 |
/// | [`Cancelled`](Self::Cancelled) | [`Error::Cancelled`] | yes | 503 (the pool or grinder shut down); nobody to answer if the client left |
/// | [`JobPanicked`](Self::JobPanicked) | [`Error::Panicked`] | no | 500 Internal Server Error |
/// | [`PoolBroken`](Self::PoolBroken) | [`Error::Broken`], [`Error::WorkerProtocol`] | yes, on a new lease | 500 |
/// | [`Spawn`](Self::Spawn) | [`Error::Spawn`] | yes | 503 + `Retry-After` (the OS ran out of threads) |
/// | [`WorkerCrashed`](Self::WorkerCrashed) | [`Error::WorkerCrashed`] | yes, on a new lease (a job that crashes its worker every time should be retried a bounded number of times) | 500 |
/// | [`Codec`](Self::Codec) | [`Error::Codec`] | no | 500 (400 if the value came from the request) |
/// | [`Config`](Self::Config) | [`Error::Config`], [`Error::UnknownJob`] | no | 400 Bad Request if the value came from the request (a client's `lease_for`), else 500 |
///
/// ```
/// use leasepool::{Error, ErrorKind};
///
/// fn status(err: &Error) -> u16 {
///     match err.kind() {
///         ErrorKind::Overload | ErrorKind::Stopped | ErrorKind::Spawn => 503,
///         ErrorKind::LeaseGone | ErrorKind::Cancelled => 503,
///         ErrorKind::Config => 400,
///         _ => 500, // JobPanicked, PoolBroken, and kinds added later
///     }
/// }
/// assert_eq!(status(&Error::Unavailable), 503);
/// assert_eq!(status(&Error::Panicked("boom".into())), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Every pool is busy: [`Error::Unavailable`], [`Error::Timeout`].
    /// Shed load, retry later.
    Overload,
    /// The manager or grinder is not serving: [`Error::NotStarted`],
    /// [`Error::Stopped`], [`Error::RuntimeGone`],
    /// [`Error::GrinderNotRunning`].
    Stopped,
    /// The lease a job was submitted to is no longer valid:
    /// [`Error::LeaseExpired`], [`Error::LeaseReleased`],
    /// [`Error::LeaseEnded`]. Acquire a new lease.
    LeaseGone,
    /// The job never ran: [`Error::Cancelled`].
    Cancelled,
    /// The job panicked: [`Error::Panicked`]. A bug in the job; the same
    /// input will likely panic again.
    JobPanicked,
    /// The pool's worker initializer failed, or a worker process broke
    /// the protocol: [`Error::Broken`], [`Error::WorkerProtocol`]. The pool
    /// was retired; a new lease gets another pool.
    PoolBroken,
    /// Worker threads could not be started: [`Error::Spawn`].
    Spawn,
    /// A worker process crashed while it ran the job:
    /// [`Error::WorkerCrashed`]. Its pool was retired; a new lease gets
    /// another pool.
    WorkerCrashed,
    /// A job's data did not (de)serialize: [`Error::Codec`]. The same value
    /// will fail again.
    Codec,
    /// A configuration or per-acquire value is invalid, or a process
    /// job is not registered in the worker: [`Error::Config`],
    /// [`Error::UnknownJob`].
    Config,
}

impl Error {
    /// The broad class of this error (see [`ErrorKind`] for the HTTP
    /// status a service would answer for each).
    ///
    /// ```
    /// use leasepool::{Error, ErrorKind};
    /// assert_eq!(Error::Timeout(std::time::Duration::from_secs(1)).kind(), ErrorKind::Overload);
    /// assert_eq!(Error::LeaseExpired.kind(), ErrorKind::LeaseGone);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        // No catch-all: a new variant fails to compile until it has a kind.
        match self {
            Error::Unavailable | Error::Timeout(_) => ErrorKind::Overload,
            Error::NotStarted | Error::Stopped | Error::RuntimeGone | Error::GrinderNotRunning => {
                ErrorKind::Stopped
            }
            Error::LeaseExpired | Error::LeaseReleased | Error::LeaseEnded => ErrorKind::LeaseGone,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Panicked(_) => ErrorKind::JobPanicked,
            Error::Broken(_) | Error::WorkerProtocol(_) => ErrorKind::PoolBroken,
            Error::Spawn(_) => ErrorKind::Spawn,
            Error::Config(_) | Error::UnknownJob(_) => ErrorKind::Config,
            Error::WorkerCrashed { .. } => ErrorKind::WorkerCrashed,
            Error::Codec(_) => ErrorKind::Codec,
        }
    }

    /// Whether trying again, unchanged (on a new lease where a lease was
    /// involved, perhaps later or on another instance), can succeed. False
    /// only for a panicking job and an invalid configuration, which fail
    /// the same way every time.
    ///
    /// ```
    /// use leasepool::Error;
    /// assert!(Error::Unavailable.is_retryable());
    /// assert!(Error::LeaseExpired.is_retryable());
    /// assert!(!Error::Panicked("boom".into()).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        !matches!(self.kind(), ErrorKind::JobPanicked | ErrorKind::Config | ErrorKind::Codec)
    }

    /// Whether the manager is at capacity ([`ErrorKind::Overload`]): shed
    /// load, answer 503 with `Retry-After`.
    ///
    /// ```
    /// use leasepool::Error;
    /// assert!(Error::Unavailable.is_overload());
    /// assert!(!Error::Stopped.is_overload());
    /// ```
    pub fn is_overload(&self) -> bool {
        self.kind() == ErrorKind::Overload
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<LeaseError> for Error {
    /// Each cause keeps its own error: a lease past its hard expiry
    /// ([`Error::LeaseExpired`]), released by its holder
    /// ([`Error::LeaseReleased`]), or ended otherwise ([`Error::LeaseEnded`]).
    fn from(e: LeaseError) -> Self {
        match e {
            LeaseError::Expired => Error::LeaseExpired,
            LeaseError::Released => Error::LeaseReleased,
            LeaseError::Ended => Error::LeaseEnded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report a service would log: the error, then each `source()`.
    fn report(err: &dyn std::error::Error) -> Vec<String> {
        let mut chain = vec![err.to_string()];
        let mut source = err.source();
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        chain
    }

    /// Every variant's full `source()` chain: a cause is shown in the
    /// message or chained as a source, never both, and an `io::Error`
    /// behind a failed spawn is reachable as a source.
    #[test]
    fn every_variant_reports_its_cause_once() {
        let io = || Arc::new(std::io::Error::other("Resource temporarily unavailable"));
        let cases: Vec<(Error, Vec<&str>)> = vec![
            (Error::NotStarted, vec!["the lease manager was never started: call `start().await` first"]),
            (
                Error::Stopped,
                vec!["the lease manager is stopped: it grants no lease until it is started again"],
            ),
            (
                Error::RuntimeGone,
                vec![
                    "the async runtime driving the lease manager has shut down: call `start()` again inside a live runtime",
                ],
            ),
            (
                Error::Unavailable,
                vec![
                    "no pool is free and the manager is at max_pools: wait with `acquire()`, or raise max_pools",
                ],
            ),
            (
                Error::Timeout(Duration::from_millis(250)),
                vec![
                    "no pool became free within 250ms: raise the timeout or max_pools, or hold leases for less time",
                ],
            ),
            (
                Error::LeaseExpired,
                vec!["the lease expired (past its hard expiry) and was revoked: acquire a new one"],
            ),
            (Error::LeaseReleased, vec!["the lease was released: acquire a new one"]),
            (Error::LeaseEnded, vec!["the lease has ended: acquire a new one"]),
            (Error::Panicked("boom".into()), vec!["the job panicked: boom"]),
            (
                Error::Broken(Arc::from("worker initializer failed: no device")),
                vec![
                    "the pool is broken (worker initializer failed: no device); it was retired: acquire a new lease",
                ],
            ),
            (
                Error::WorkerCrashed { signal: None, code: Some(3) },
                vec![
                    "the worker process running the job crashed (exited with code 3); its pool was retired: acquire a new lease",
                ],
            ),
            (
                Error::UnknownJob(Arc::from("fib")),
                vec![
                    "the worker process has no job named `fib`: register it with `Jobs::register` in the worker's `init`",
                ],
            ),
            (
                Error::WorkerProtocol(Arc::from("frame too short for its pid")),
                vec![
                    "the worker process sent a bad reply (frame too short for its pid); its pool was retired: acquire a new lease",
                ],
            ),
            (
                Error::Codec(Arc::from("eof")),
                vec![
                    "could not encode or decode the job's data (eof): fix the job's types or its value; retrying will not help",
                ],
            ),
            (
                Error::Cancelled,
                vec![
                    "the job was cancelled before it ran: its pool was shut down (stop, expiry or shrink), or its grinder stopped",
                ],
            ),
            (
                Error::GrinderNotRunning,
                vec![
                    "the work grinder is not running (not started, or stopping): call `start().await` first",
                ],
            ),
            (
                Error::Spawn(io()),
                vec!["could not start worker threads for a new pool", "Resource temporarily unavailable"],
            ),
            (
                Error::Config(ConfigError::TooSmall { field: "max_pools", value: 0 }),
                vec!["invalid configuration: `max_pools` must be at least 1, got 0"],
            ),
        ];
        for (err, want) in cases {
            let chain = report(&err);
            println!("{err:?}:\n  {}", chain.join("\n  caused by: "));
            assert_eq!(chain, want, "{err:?}");
        }
    }

    /// Every variant's kind, retryability and overload flag, pinned: a
    /// service's status mapping must not move under it.
    #[test]
    fn every_variant_has_its_kind() {
        use ErrorKind::*;
        let io = || Arc::new(std::io::Error::other("no threads"));
        // (error, kind, retryable, overload)
        let cases: Vec<(Error, ErrorKind, bool, bool)> = vec![
            (Error::Unavailable, Overload, true, true),
            (Error::Timeout(Duration::from_millis(5)), Overload, true, true),
            (Error::NotStarted, Stopped, true, false),
            (Error::Stopped, Stopped, true, false),
            (Error::RuntimeGone, Stopped, true, false),
            (Error::GrinderNotRunning, Stopped, true, false),
            (Error::LeaseExpired, LeaseGone, true, false),
            (Error::LeaseReleased, LeaseGone, true, false),
            (Error::LeaseEnded, LeaseGone, true, false),
            (Error::Cancelled, Cancelled, true, false),
            (Error::Panicked("boom".into()), JobPanicked, false, false),
            (Error::Broken(Arc::from("no device")), PoolBroken, true, false),
            (Error::Spawn(io()), Spawn, true, false),
            (Error::Config(ConfigError::TooSmall { field: "max_pools", value: 0 }), Config, false, false),
            (Error::WorkerCrashed { signal: Some(11), code: None }, WorkerCrashed, true, false),
            (Error::WorkerCrashed { signal: None, code: Some(3) }, WorkerCrashed, true, false),
            (Error::UnknownJob(Arc::from("fib")), Config, false, false),
            (Error::WorkerProtocol(Arc::from("short frame")), PoolBroken, true, false),
            (Error::Codec(Arc::from("eof")), Codec, false, false),
        ];
        for (err, kind, retryable, overload) in cases {
            assert_eq!(err.kind(), kind, "{err:?}");
            assert_eq!(err.is_retryable(), retryable, "{err:?}");
            assert_eq!(err.is_overload(), overload, "{err:?}");
        }
    }

    #[test]
    fn lease_errors_keep_their_causes_apart() {
        assert!(matches!(Error::from(LeaseError::Expired), Error::LeaseExpired));
        assert!(matches!(Error::from(LeaseError::Released), Error::LeaseReleased));
        assert!(matches!(Error::from(LeaseError::Ended), Error::LeaseEnded));
    }
}
