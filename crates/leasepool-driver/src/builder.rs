//! The manager's builder: every setting, validated by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use leasepool_core::{Config, ConfigBuilder, ConfigError, Core};

use crate::backend::{Backend, Initializer};
use crate::manager::LeasedExecutorManager;
use crate::runtime::Runtime;
use crate::shared::{ProcessSettings, Settings, Shared, SizeProvider};

/// Builds a [`LeasedExecutorManager`]; every value is validated by
/// [`Builder::build`], whose error names the field.
///
/// | method | default |
/// |---|---|
/// | `max_pools` | required |
/// | `min_pools` | 1 |
/// | `units_per_pool` | 10 |
/// | `size_provider` | none (0 units) |
/// | `check_interval` | 120 s |
/// | `default_lease_for` | 300 s |
/// | `lease_grace` | 15 s |
/// | `workers_per_pool` | 4 |
/// | `idle_timeout` | 60 s (0 = shut a surplus pool down on release) |
/// | `max_waiters` | unbounded (>= 1) |
/// | `name_prefix` | `"leasepool"` |
/// | `backend` | [`Backend::Thread`] |
///
/// ```
/// # fn demo() -> Result<(), leasepool::Error> {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
///
/// let devices = Arc::new(AtomicUsize::new(0));
/// let signal = Arc::clone(&devices);
/// let manager = leasepool::LeasedExecutorManager::builder()
///     .max_pools(8)
///     .units_per_pool(100)
///     .size_provider(move || signal.load(Ordering::Relaxed))
///     .check_interval(Duration::from_secs(30))
///     .default_lease_for(Duration::from_secs(60))
///     .lease_grace(Duration::from_secs(5))
///     .workers_per_pool(2)
///     .name_prefix("images")
///     .initializer(|| { /* set up thread-locals */ Ok::<(), std::io::Error>(()) })
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct Builder<R: Runtime> {
    runtime: R,
    config: ConfigBuilder,
    backend: Backend,
    name_prefix: String,
    size_provider: Option<SizeProvider>,
    initializer: Option<Initializer>,
}

impl<R: Runtime> fmt::Debug for Builder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("backend", &self.backend)
            .field("name_prefix", &self.name_prefix)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Builder<R> {
    /// A builder on an explicit runtime value.
    ///
    /// ```
    /// # fn demo<R: leasepool_driver::Runtime>(runtime: R) {
    /// let builder = leasepool_driver::Builder::with_runtime(runtime).max_pools(2);
    /// # }
    /// ```
    pub fn with_runtime(runtime: R) -> Self {
        Builder {
            runtime,
            config: Config::builder(),
            backend: Backend::Thread,
            name_prefix: "leasepool".to_owned(),
            size_provider: None,
            initializer: None,
        }
    }

    /// The executor backend: [`Backend::Thread`], the only one
    /// [`build`](Self::build) accepts. A process manager is built with
    /// `Builder::build_process` (feature `process`, Unix), which sets
    /// [`Backend::Process`] itself.
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().backend(leasepool::Backend::Thread);
    /// # }
    /// ```
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Upper bound on pools, leased and idle together (required, >= 1).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4);
    /// # }
    /// ```
    pub fn max_pools(mut self, n: usize) -> Self {
        self.config = self.config.max_pools(n);
        self
    }

    /// Pools kept even when idle (default 1, >= 1, <= `max_pools`).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).min_pools(2);
    /// # }
    /// ```
    pub fn min_pools(mut self, n: usize) -> Self {
        self.config = self.config.min_pools(n);
        self
    }

    /// Units one pool is sized for (default 10, >= 1).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).units_per_pool(50);
    /// # }
    /// ```
    pub fn units_per_pool(mut self, n: u64) -> Self {
        self.config = self.config.units_per_pool(n);
        self
    }

    /// The sizing signal: how many units (devices, tenants, ...) there are
    /// now. Read at start, at each check, and by
    /// [`LeasedExecutorManager::desired_executor_count`]; never on the
    /// acquire/release path. A panic keeps the last unit count the manager
    /// acted on (0 before any good read), is logged at info level and is
    /// counted in [`Counters::size_provider_failures`](crate::Counters::size_provider_failures).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).size_provider(|| 25);
    /// # }
    /// ```
    pub fn size_provider(mut self, provider: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        self.size_provider = Some(Arc::new(provider));
        self
    }

    /// Checker period (default 120 s, > 0).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).check_interval(std::time::Duration::from_secs(10));
    /// # }
    /// ```
    pub fn check_interval(mut self, d: Duration) -> Self {
        self.config = self.config.check_interval(d);
        self
    }

    /// Lease duration when an acquire names none (default 300 s, > 0).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).default_lease_for(std::time::Duration::from_secs(60));
    /// # }
    /// ```
    pub fn default_lease_for(mut self, d: Duration) -> Self {
        self.config = self.config.default_lease_for(d);
        self
    }

    /// Grace after soft expiry before revocation (default 15 s; 0 = none).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).lease_grace(std::time::Duration::ZERO);
    /// # }
    /// ```
    pub fn lease_grace(mut self, d: Duration) -> Self {
        self.config = self.config.lease_grace(d);
        self
    }

    /// Dedicated worker threads per pool (default 4, >= 1).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).workers_per_pool(2);
    /// # }
    /// ```
    pub fn workers_per_pool(mut self, n: usize) -> Self {
        self.config = self.config.workers_per_pool(n);
        self
    }

    /// How long a pool released above the desired count stays idle before
    /// it is shut down (default 60 s; at most 100 years). A lease in that
    /// time reuses it, so a steady load above `min_pools` (with no size
    /// provider, every load above 1) does not create and shut down a pool
    /// per lease. Zero shuts such a pool down on release. A check whose
    /// size signal lowers the desired count still shrinks idle pools above
    /// it at once.
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder()
    ///     .max_pools(4)
    ///     .idle_timeout(std::time::Duration::from_secs(300));
    /// # }
    /// ```
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.config = self.config.idle_timeout(d);
        self
    }

    /// Most acquires waiting at once (default unbounded; >= 1, 0 is refused
    /// with a [`ConfigError`] naming `max_waiters`). An acquire that would
    /// wait behind `n` others fails at once with [`Error::Unavailable`](crate::Error::Unavailable), so
    /// an overloaded service sheds load instead of queueing without bound.
    /// To never wait, use [`LeasedExecutorManager::try_acquire`].
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).max_waiters(64);
    /// # }
    /// ```
    pub fn max_waiters(mut self, n: usize) -> Self {
        self.config = self.config.max_waiters(n);
        self
    }

    /// Worker thread names are `{name_prefix}-{pool}-{worker}` (default
    /// `"leasepool"`; must not contain a NUL byte).
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder().max_pools(4).name_prefix("resize");
    /// # }
    /// ```
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    /// Runs on every worker thread as it starts (set up thread-local state,
    /// open a per-thread handle). If it returns an error or panics, the pool
    /// is *broken*: its jobs fail with [`Error::Broken`](crate::Error::Broken), and it is retired
    /// and replaced.
    ///
    /// ```
    /// # fn demo() {
    /// let b = leasepool::LeasedExecutorManager::builder()
    ///     .max_pools(4)
    ///     .initializer(|| std::env::var("HOME").map(drop));
    /// # }
    /// ```
    pub fn initializer<E>(mut self, init: impl Fn() -> Result<(), E> + Send + Sync + 'static) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.initializer = Some(Arc::new(move || init().map_err(Into::into)));
        self
    }

    /// Validates the configuration and builds a stopped manager.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] that names the first invalid field (`max_pools`
    /// missing or 0, `min_pools` above `max_pools`, a zero duration or
    /// count, a NUL byte in `name_prefix`, [`Backend::Process`] as
    /// `backend`, ...).
    ///
    /// ```
    /// # fn demo() {
    /// let err = leasepool::LeasedExecutorManager::builder().max_pools(2).min_pools(3).build().unwrap_err();
    /// assert_eq!(err.field(), "min_pools");
    /// # }
    /// ```
    pub fn build(self) -> Result<LeasedExecutorManager<R>, ConfigError> {
        self.build_with(None)
    }

    /// `build`, with the process backend's settings for a process manager.
    pub(crate) fn build_with(
        self,
        process: Option<ProcessSettings>,
    ) -> Result<LeasedExecutorManager<R>, ConfigError> {
        let config = self.config.has_size_provider(self.size_provider.is_some()).build()?;
        if self.name_prefix.contains('\0') {
            return Err(ConfigError::Invalid { field: "name_prefix", reason: "must not contain a NUL byte" });
        }
        // Its pools would be thread pools, shown as process pools.
        if process.is_none() && self.backend == Backend::Process {
            return Err(ConfigError::Invalid {
                field: "backend",
                reason: "a process manager is built with `build_process`",
            });
        }
        let settings = Settings {
            process,
            workers_per_pool: config.workers_per_pool(),
            name_prefix: self.name_prefix.into(),
            size_provider: self.size_provider,
            initializer: self.initializer,
        };
        Ok(LeasedExecutorManager::from_shared(Shared::new(self.runtime, Core::new(config), settings)))
    }
}
