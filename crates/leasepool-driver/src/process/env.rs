//! What a pool tells a worker process it starts, through environment
//! variables: where to connect, the token to prove it is the process the
//! pool started, and its limits.

use std::path::PathBuf;

use super::config::DEFAULT_MAX_FRAME;

/// The Unix socket path the worker connects to; its presence makes
/// [`init`](super::init) serve.
pub(crate) const SOCKET: &str = "LEASEPOOL_PROCESS_SOCKET";
/// The token the worker sends back in its hello (decimal u64).
pub(crate) const TOKEN: &str = "LEASEPOOL_PROCESS_TOKEN";
/// The parent's pid: a worker whose parent is already another process
/// (the parent died before it started) exits at once.
pub(crate) const PARENT: &str = "LEASEPOOL_PROCESS_PARENT";
/// `RLIMIT_AS` in bytes, if any.
pub(crate) const MEMORY_LIMIT: &str = "LEASEPOOL_PROCESS_MEMORY_LIMIT";
/// The largest call frame the worker accepts.
pub(crate) const MAX_FRAME: &str = "LEASEPOOL_PROCESS_MAX_FRAME";
/// The most verbose level forwarded; absent when logging is off.
pub(crate) const LOG_LEVEL: &str = "LEASEPOOL_PROCESS_LOG_LEVEL";

/// The parameters of a worker process, read from its environment.
pub(crate) struct Params {
    pub(crate) socket: PathBuf,
    pub(crate) token: u64,
    pub(crate) parent: u32,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) max_frame: usize,
    pub(crate) log_level: Option<tracing::Level>,
}

impl Params {
    /// `None` if this process is not a worker (no socket variable). A
    /// worker with unreadable parameters gets a token of 0, which its pool
    /// refuses (the pool is then broken, and says so).
    pub(crate) fn from_env() -> Option<Params> {
        let socket = PathBuf::from(std::env::var_os(SOCKET)?);
        let number = |key| std::env::var(key).ok().and_then(|v| v.parse::<u64>().ok());
        Some(Params {
            socket,
            token: number(TOKEN).unwrap_or(0),
            parent: number(PARENT).and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
            memory_limit: number(MEMORY_LIMIT),
            max_frame: number(MAX_FRAME).and_then(|n| usize::try_from(n).ok()).unwrap_or(DEFAULT_MAX_FRAME),
            log_level: std::env::var(LOG_LEVEL).ok().and_then(|l| l.parse().ok()),
        })
    }
}
