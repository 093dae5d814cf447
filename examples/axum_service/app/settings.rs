//! What the service reads from its environment, checked before anything
//! starts: a bad value stops it with a message naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::thread;
use std::time::Duration;

/// Where the service listens when neither `SERVICE_ADDR` nor an argument
/// names an address.
pub(crate) const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The service's settings. Every field is fixed at startup.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The listen address (`SERVICE_ADDR`, or the first argument); port 0
    /// picks a free port, printed at startup.
    pub(crate) addr: SocketAddr,
    /// The manager's name: its threads' name prefix and the `manager`
    /// label of its metrics (`SERVICE_NAME`, default `work`).
    pub(crate) name: String,
    /// At most this many pools (`SERVICE_MAX_POOLS`); by default one per
    /// CPU the process may use (`available_parallelism`, which follows a
    /// container's CPU quota), since each job keeps one core busy.
    pub(crate) max_pools: usize,
    /// Worker threads per pool (`SERVICE_WORKERS_PER_POOL`, default 1: a
    /// request runs one job).
    pub(crate) workers_per_pool: usize,
    /// Requests that may wait for a pool at once before the next one is
    /// turned away at once (`SERVICE_MAX_WAITERS`, default 16 per pool).
    pub(crate) max_waiters: usize,
    /// How long a request waits for a pool before it is answered 503
    /// (`SERVICE_ACQUIRE_TIMEOUT_MS`, default 1000).
    pub(crate) acquire_timeout: Duration,
    /// The largest `iterations` a request may ask for
    /// (`SERVICE_MAX_ITERATIONS`, default 1,000,000).
    pub(crate) max_iterations: u32,
    /// How long a shutdown may take, from the signal to the last lease
    /// (`SERVICE_SHUTDOWN_TIMEOUT_SECS`, default 25: under the 30 s an
    /// orchestrator usually allows before it kills the process).
    pub(crate) shutdown_timeout: Duration,
}

impl Settings {
    /// Defaults for `addr`: everything sized from this machine.
    pub(crate) fn new(addr: SocketAddr) -> Self {
        let cpus = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Settings {
            addr,
            name: "work".to_owned(),
            max_pools: cpus,
            workers_per_pool: 1,
            max_waiters: 16 * cpus,
            acquire_timeout: Duration::from_millis(1000),
            max_iterations: 1_000_000,
            shutdown_timeout: Duration::from_secs(25),
        }
    }

    /// Reads the `SERVICE_*` variables through `var` (`std::env::var` in
    /// the service); `arg` (the first command-line argument) is the listen
    /// address when `SERVICE_ADDR` is not set.
    pub(crate) fn from_vars(
        arg: Option<String>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let read = |name: &'static str| var(name).map(|value| (name, value));
        let addr = match read("SERVICE_ADDR").or_else(|| arg.map(|arg| ("the address argument", arg))) {
            Some((name, addr)) => parse(name, &addr)?,
            None => DEFAULT_ADDR.parse().expect("the default address parses"),
        };
        let mut settings = Settings::new(addr);
        if let Some((_, name)) = read("SERVICE_NAME") {
            settings.name = name;
        }
        if let Some((name, value)) = read("SERVICE_MAX_POOLS") {
            settings.max_pools = parse(name, &value)?;
            settings.max_waiters = 16 * settings.max_pools;
        }
        if let Some((name, value)) = read("SERVICE_WORKERS_PER_POOL") {
            settings.workers_per_pool = parse(name, &value)?;
        }
        if let Some((name, value)) = read("SERVICE_MAX_WAITERS") {
            settings.max_waiters = parse(name, &value)?;
        }
        if let Some((name, value)) = read("SERVICE_ACQUIRE_TIMEOUT_MS") {
            settings.acquire_timeout = Duration::from_millis(parse(name, &value)?);
        }
        if let Some((name, value)) = read("SERVICE_MAX_ITERATIONS") {
            settings.max_iterations = parse(name, &value)?;
        }
        if let Some((name, value)) = read("SERVICE_SHUTDOWN_TIMEOUT_SECS") {
            settings.shutdown_timeout = Duration::from_secs(parse(name, &value)?);
        }
        Ok(settings)
    }

    /// The `Retry-After` of a 503: the acquire timeout in whole seconds,
    /// at least 1 (a client that comes back sooner would likely wait as
    /// long again).
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.acquire_timeout.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// A setting whose value does not parse.
#[derive(Debug)]
pub(crate) struct SettingsError {
    /// The variable (or argument) that holds it.
    var: &'static str,
    /// Its value.
    value: String,
    /// Why it was refused.
    reason: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.var, self.value, self.reason)
    }
}

impl std::error::Error for SettingsError {}

fn parse<T: FromStr>(var: &'static str, value: &str) -> Result<T, SettingsError>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|err: T::Err| SettingsError {
        var,
        value: value.to_owned(),
        reason: err.to_string(),
    })
}
