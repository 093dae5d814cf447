//! The process backend's settings: which program a worker runs, how it is
//! killed, its limits, and how its logs reach the parent.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use leasepool_core::ConfigError;

/// Default [`ProcessConfig::kill_grace`].
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(1);
/// Default [`ProcessConfig::start_timeout`].
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(20);
/// Default [`ProcessConfig::max_frame`].
pub(crate) const DEFAULT_MAX_FRAME: usize = 64 << 20;
/// The smallest [`ProcessConfig::max_frame`]: a hello or an error message fits.
const MIN_FRAME: usize = 256;
/// The longest [`ProcessConfig::kill_grace`] and [`ProcessConfig::start_timeout`].
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// How the worker processes of a process manager are started, limited and
/// stopped. Given to [`Builder::build_process`](crate::Builder::build_process).
///
/// | method | default |
/// |---|---|
/// | `worker_program` | the current executable (its `main` calls [`init`](super::init)) |
/// | `worker_args` | none |
/// | `worker_env` | none |
/// | `kill_grace` | 1 s (from SIGTERM to SIGKILL) |
/// | `start_timeout` | 20 s |
/// | `memory_limit` | none |
/// | `max_frame` | 64 MiB |
/// | `logging` | [`ProcessLogging::default`] (on, `INFO`, target `leasepool::process`) |
///
/// ```
/// use std::time::Duration;
/// use leasepool::process::{ProcessConfig, ProcessLogging};
///
/// let config = ProcessConfig::new()
///     .kill_grace(Duration::from_millis(200))
///     .memory_limit(512 << 20)
///     .logging(ProcessLogging { level: tracing::Level::DEBUG, ..ProcessLogging::default() });
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ProcessConfig {
    pub(crate) program: Option<PathBuf>,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) kill_grace: Duration,
    pub(crate) start_timeout: Duration,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) max_frame: usize,
    pub(crate) logging: ProcessLogging,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            program: None,
            args: Vec::new(),
            env: Vec::new(),
            kill_grace: DEFAULT_KILL_GRACE,
            start_timeout: DEFAULT_START_TIMEOUT,
            memory_limit: None,
            max_frame: DEFAULT_MAX_FRAME,
            logging: ProcessLogging::default(),
        }
    }
}

impl ProcessConfig {
    /// The defaults (see [`ProcessConfig`]).
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new();
    /// ```
    pub fn new() -> Self {
        ProcessConfig::default()
    }

    /// The program each worker runs (default: the current executable,
    /// re-executed). Its `main` must call [`init`](super::init) first.
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new().worker_program("/usr/local/bin/my-worker");
    /// ```
    pub fn worker_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Arguments for the worker program (default none). A test binary used
    /// as its own worker passes the name of the test that calls
    /// [`init`](super::init): `["worker_entry", "--exact", "--nocapture"]`.
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new().worker_args(["--worker"]);
    /// ```
    pub fn worker_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// An environment variable for the worker processes (added to the
    /// parent's environment, which they inherit).
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new().worker_env("RAYON_NUM_THREADS", "1");
    /// ```
    pub fn worker_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How long a worker has to exit after SIGTERM (at revocation, stop or
    /// shutdown) before it gets SIGKILL (default 1 s; at most one hour).
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new().kill_grace(std::time::Duration::from_millis(100));
    /// ```
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// How long a new worker has to connect and finish its set-up (default
    /// 20 s, > 0, at most one hour); past it the worker is killed and its
    /// pool is broken.
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new().start_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Limits each worker's address space to `bytes` (`RLIMIT_AS`, which
    /// the worker sets on itself at start). A job that allocates past it
    /// aborts its worker: the job fails with
    /// [`Error::WorkerCrashed`](crate::Error::WorkerCrashed) and the pool
    /// is replaced. Must be > 0.
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new().memory_limit(1 << 30);
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The largest frame (a job's serialized input or output, plus 5 bytes)
    /// either side accepts (default 64 MiB, at least 256 bytes). A worker
    /// announcing a larger reply fails the job with
    /// [`Error::WorkerProtocol`](crate::Error::WorkerProtocol), and nothing
    /// is allocated for it; an input over it fails with
    /// [`Error::Codec`](crate::Error::Codec) before it is sent.
    ///
    /// ```
    /// let config = leasepool::process::ProcessConfig::new().max_frame(1 << 20);
    /// ```
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// How worker logs reach the parent (see [`ProcessLogging`]).
    ///
    /// ```
    /// use leasepool::process::{ProcessConfig, ProcessLogging};
    /// let config = ProcessConfig::new().logging(ProcessLogging { enabled: false, ..ProcessLogging::default() });
    /// ```
    pub fn logging(mut self, logging: ProcessLogging) -> Self {
        self.logging = logging;
        self
    }

    /// Checks every value; the error names the field (in the core's
    /// shapes: `ZeroDuration`, `TooSmall`, and `Invalid` for the rest).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason| Err(ConfigError::Invalid { field, reason });
        if self.kill_grace > MAX_WAIT {
            return invalid("kill_grace", "must be at most one hour");
        }
        if self.start_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration { field: "start_timeout" });
        }
        if self.start_timeout > MAX_WAIT {
            return invalid("start_timeout", "must be at most one hour");
        }
        if self.memory_limit == Some(0) {
            return Err(ConfigError::TooSmall { field: "memory_limit", value: 0 });
        }
        if self.max_frame < MIN_FRAME || u32::try_from(self.max_frame).is_err() {
            return invalid("max_frame", "must be at least 256 bytes and below 4 GiB");
        }
        if self.logging.enabled && self.logging.target.is_empty() {
            return invalid("logging.target", "must not be empty");
        }
        Ok(())
    }
}

/// How the worker processes' logs reach the parent.
///
/// When `enabled`, each worker installs a `tracing` subscriber that
/// forwards its events at `level` or more severe, and its stdout and
/// stderr are read line by line. Both are re-emitted in the parent as
/// `tracing` events with the target `target` and the fields `pool`,
/// `worker`, `pid`, `source` (the worker event's own target, or `"stdout"`
/// for an output line) and `fields` (the worker event's fields, `k=v`
/// separated by spaces). Worker events keep their level; output lines are
/// emitted at `INFO`.
///
/// When not `enabled`, workers install no subscriber and write to the
/// parent's stderr directly.
///
/// ```
/// use leasepool::process::ProcessLogging;
/// let logging = ProcessLogging { target: "thumbnailer::worker".into(), ..ProcessLogging::default() };
/// assert!(logging.enabled);
/// assert_eq!(logging.level, tracing::Level::INFO);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessLogging {
    /// Forward worker logs (default true).
    pub enabled: bool,
    /// The most verbose level forwarded (default `INFO`).
    pub level: tracing::Level,
    /// The target the forwarded events carry in the parent (default
    /// `"leasepool::process"`).
    pub target: String,
}

impl Default for ProcessLogging {
    fn default() -> Self {
        ProcessLogging { enabled: true, level: tracing::Level::INFO, target: "leasepool::process".to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(ProcessConfig::new().validate(), Ok(()));
    }

    #[test]
    fn every_invalid_value_is_refused_naming_its_field() {
        let hour = Duration::from_secs(3600);
        let no_target = ProcessLogging { target: String::new(), ..ProcessLogging::default() };
        for (config, field) in [
            (ProcessConfig::new().kill_grace(hour + Duration::from_nanos(1)), "kill_grace"),
            (ProcessConfig::new().start_timeout(Duration::ZERO), "start_timeout"),
            (ProcessConfig::new().start_timeout(hour + Duration::from_nanos(1)), "start_timeout"),
            (ProcessConfig::new().memory_limit(0), "memory_limit"),
            (ProcessConfig::new().max_frame(MIN_FRAME - 1), "max_frame"),
            (ProcessConfig::new().logging(no_target.clone()), "logging.target"),
        ] {
            let err = config.validate().expect_err(field);
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
        #[cfg(target_pointer_width = "64")]
        assert_eq!(
            ProcessConfig::new().max_frame(1 << 32).validate().map_err(|e| e.field()),
            Err("max_frame")
        );
        // The limits themselves are accepted, and so is an empty target
        // whose logging is off.
        let edge = ProcessConfig::new()
            .kill_grace(hour)
            .start_timeout(hour)
            .memory_limit(1)
            .max_frame(MIN_FRAME)
            .logging(ProcessLogging { enabled: false, ..no_target });
        assert_eq!(edge.validate(), Ok(()));
    }
}
