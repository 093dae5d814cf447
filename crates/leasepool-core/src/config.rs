//! Manager configuration: defaults, builder and validation.

use std::time::Duration;

/// Why a [`Config`] (or a per-acquire lease duration) was rejected.
///
/// Every variant names the offending field, so the message can be shown to
/// whoever wrote the configuration.
///
/// ```
/// use leasepool_core::{Config, ConfigError};
///
/// let err = Config::builder().max_pools(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_pools");
/// assert!(matches!(err, ConfigError::TooSmall { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required field was never set.
    #[error("`{field}` is required: set it on the builder (for example `.{field}(4)`)")]
    Missing {
        /// The field that must be set.
        field: &'static str,
    },
    /// A count that must be at least 1 was 0.
    #[error("`{field}` must be at least 1, got {value}")]
    TooSmall {
        /// The offending field.
        field: &'static str,
        /// The value it was given.
        value: u64,
    },
    /// `min_pools` is larger than `max_pools`.
    #[error("`min_pools` ({min}) must not exceed `max_pools` ({max})")]
    MinAboveMax {
        /// The configured `min_pools`.
        min: usize,
        /// The configured `max_pools`.
        max: usize,
    },
    /// A duration that must be positive was zero.
    #[error("`{field}` must be greater than zero")]
    ZeroDuration {
        /// The offending field.
        field: &'static str,
    },
    /// A value that is out of range for another reason.
    #[error("`{field}` is invalid: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A duration so long that deadlines computed from it overflow the clock.
    #[error("`{field}` is too long: deadlines computed from it overflow the clock")]
    DurationTooLong {
        /// The offending field.
        field: &'static str,
    },
}

impl ConfigError {
    /// The name of the field this error is about (`"min_pools"` for
    /// [`ConfigError::MinAboveMax`]).
    ///
    /// ```
    /// use leasepool_core::Config;
    /// let err = Config::builder().max_pools(2).min_pools(3).build().unwrap_err();
    /// assert_eq!(err.field(), "min_pools");
    /// ```
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Missing { field }
            | ConfigError::TooSmall { field, .. }
            | ConfigError::ZeroDuration { field }
            | ConfigError::DurationTooLong { field }
            | ConfigError::Invalid { field, .. } => field,
            ConfigError::MinAboveMax { .. } => "min_pools",
        }
    }
}

/// Longest accepted lease, check interval or grace: about 100 years. Anything
/// longer is almost certainly a unit mistake, and bounding it keeps
/// `Instant + duration` from overflowing.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Validated manager configuration.
///
/// Build it with [`Config::builder`]; every value is checked by
/// [`ConfigBuilder::build`]. Every field but `max_pools` has a default:
///
/// | field | default |
/// |---|---|
/// | `max_pools` | required |
/// | `min_pools` | 1 |
/// | `units_per_pool` | 10 |
/// | `check_interval` | 120 s |
/// | `default_lease_for` | 300 s |
/// | `lease_grace` | 15 s (0 = no grace) |
/// | `workers_per_pool` | 4 |
/// | `idle_timeout` | 60 s (0 = shut a surplus pool down on release) |
/// | `max_waiters` | unbounded |
///
/// ```
/// use std::time::Duration;
/// use leasepool_core::Config;
///
/// let config = Config::builder().max_pools(4).build()?;
/// assert_eq!(config.min_pools(), 1);
/// assert_eq!(config.default_lease_for(), Duration::from_secs(300));
/// # Ok::<(), leasepool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) max_pools: usize,
    pub(crate) min_pools: usize,
    pub(crate) units_per_pool: u64,
    pub(crate) check_interval: Duration,
    pub(crate) default_lease_for: Duration,
    pub(crate) lease_grace: Duration,
    pub(crate) workers_per_pool: usize,
    pub(crate) has_size_provider: bool,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_waiters: Option<usize>,
}

impl Config {
    /// A builder with the defaults; only `max_pools` must be set.
    ///
    /// ```
    /// let config = leasepool_core::Config::builder().max_pools(2).build().unwrap();
    /// assert_eq!(config.max_pools(), 2);
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Upper bound on pools, leased and available together.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert_eq!(config.max_pools(), 3);
    /// ```
    pub fn max_pools(&self) -> usize {
        self.max_pools
    }

    /// Pools kept even when nothing asks for them.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).min_pools(2).build().unwrap();
    /// assert_eq!(config.min_pools(), 2);
    /// ```
    pub fn min_pools(&self) -> usize {
        self.min_pools
    }

    /// Units (devices, tenants, ...) one pool is sized for.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert_eq!(config.units_per_pool(), 10);
    /// ```
    pub fn units_per_pool(&self) -> u64 {
        self.units_per_pool
    }

    /// How often the checker runs when nothing else wakes it.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert_eq!(config.check_interval().as_secs(), 120);
    /// ```
    pub fn check_interval(&self) -> std::time::Duration {
        self.check_interval
    }

    /// Lease duration used when an acquire names none.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert_eq!(config.default_lease_for().as_secs(), 300);
    /// ```
    pub fn default_lease_for(&self) -> std::time::Duration {
        self.default_lease_for
    }

    /// Extra time after the soft expiry before a lease is revoked.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert_eq!(config.lease_grace().as_secs(), 15);
    /// ```
    pub fn lease_grace(&self) -> std::time::Duration {
        self.lease_grace
    }

    /// Worker threads per pool (used by drivers; reported in stats).
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert_eq!(config.workers_per_pool(), 4);
    /// ```
    pub fn workers_per_pool(&self) -> usize {
        self.workers_per_pool
    }

    /// How long a released pool above the desired count stays available
    /// before it is shut down; zero shuts it down on release.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert_eq!(config.idle_timeout().as_secs(), 60);
    /// ```
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// Most acquires queued at once; `None` is unbounded.
    ///
    /// ```
    /// # let config = leasepool_core::Config::builder().max_pools(3).max_waiters(8).build().unwrap();
    /// assert_eq!(config.max_waiters(), Some(8));
    /// ```
    pub fn max_waiters(&self) -> Option<usize> {
        self.max_waiters
    }

    /// The sizing rule for `units`:
    /// `min(max_pools, max(min_pools, ceil(units / units_per_pool)))`.
    ///
    /// Never overflows: `u64::MAX` units clamp to `max_pools`.
    ///
    /// ```
    /// let config = leasepool_core::Config::builder().max_pools(5).build().unwrap();
    /// assert_eq!(config.desired_executor_count(0), 1);
    /// assert_eq!(config.desired_executor_count(31), 4);
    /// assert_eq!(config.desired_executor_count(u64::MAX), 5);
    /// ```
    pub fn desired_executor_count(&self, units: u64) -> usize {
        let wanted = units.div_ceil(self.units_per_pool);
        let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
        wanted.max(self.min_pools).min(self.max_pools)
    }

    /// Checks a per-acquire lease duration the way `default_lease_for` is checked.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let config = leasepool_core::Config::builder().max_pools(3).build().unwrap();
    /// assert!(config.validate_lease_for(Duration::ZERO).is_err());
    /// assert!(config.validate_lease_for(Duration::from_secs(1)).is_ok());
    /// ```
    pub fn validate_lease_for(&self, lease_for: Duration) -> Result<(), ConfigError> {
        positive("lease_for", lease_for)
    }
}

pub(crate) fn at_least_one(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 { Err(ConfigError::TooSmall { field, value }) } else { Ok(()) }
}

pub(crate) fn positive(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() { Err(ConfigError::ZeroDuration { field }) } else { not_too_long(field, value) }
}

fn not_too_long(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value > MAX_DURATION { Err(ConfigError::DurationTooLong { field }) } else { Ok(()) }
}

/// Builder for [`Config`]; see [`Config`] for the defaults.
///
/// ```
/// use std::time::Duration;
/// use leasepool_core::Config;
///
/// let config = Config::builder()
///     .max_pools(8)
///     .min_pools(2)
///     .units_per_pool(50)
///     .check_interval(Duration::from_secs(30))
///     .default_lease_for(Duration::from_secs(60))
///     .lease_grace(Duration::ZERO)
///     .workers_per_pool(2)
///     .idle_timeout(Duration::from_secs(10))
///     .max_waiters(100)
///     .build()?;
/// assert_eq!(config.desired_executor_count(120), 3);
/// # Ok::<(), leasepool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ConfigBuilder {
    max_pools: Option<usize>,
    min_pools: usize,
    units_per_pool: u64,
    check_interval: Duration,
    default_lease_for: Duration,
    lease_grace: Duration,
    workers_per_pool: usize,
    has_size_provider: bool,
    idle_timeout: Duration,
    max_waiters: Option<usize>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            max_pools: None,
            min_pools: 1,
            units_per_pool: 10,
            check_interval: Duration::from_secs(120),
            default_lease_for: Duration::from_secs(300),
            lease_grace: Duration::from_secs(15),
            workers_per_pool: 4,
            has_size_provider: false,
            idle_timeout: Duration::from_secs(60),
            max_waiters: None,
        }
    }
}

impl ConfigBuilder {
    /// Upper bound on pools (required, >= 1).
    ///
    /// ```
    /// let b = leasepool_core::Config::builder().max_pools(4);
    /// ```
    pub fn max_pools(mut self, n: usize) -> Self {
        self.max_pools = Some(n);
        self
    }

    /// Pools always kept (default 1, >= 1, <= `max_pools`).
    ///
    /// ```
    /// let b = leasepool_core::Config::builder().max_pools(4).min_pools(2);
    /// ```
    pub fn min_pools(mut self, n: usize) -> Self {
        self.min_pools = n;
        self
    }

    /// Units per pool for the sizing rule (default 10, >= 1).
    ///
    /// ```
    /// let b = leasepool_core::Config::builder().max_pools(4).units_per_pool(100);
    /// ```
    pub fn units_per_pool(mut self, n: u64) -> Self {
        self.units_per_pool = n;
        self
    }

    /// Checker period (default 120 s, > 0, at most 100 years).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = leasepool_core::Config::builder().max_pools(4).check_interval(Duration::from_secs(5));
    /// ```
    pub fn check_interval(mut self, d: Duration) -> Self {
        self.check_interval = d;
        self
    }

    /// Lease duration when an acquire names none (default 300 s, > 0, at
    /// most 100 years).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = leasepool_core::Config::builder().max_pools(4).default_lease_for(Duration::from_secs(30));
    /// ```
    pub fn default_lease_for(mut self, d: Duration) -> Self {
        self.default_lease_for = d;
        self
    }

    /// Grace after soft expiry before revocation (default 15 s; zero means
    /// none; at most 100 years).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = leasepool_core::Config::builder().max_pools(4).lease_grace(Duration::ZERO);
    /// ```
    pub fn lease_grace(mut self, d: Duration) -> Self {
        self.lease_grace = d;
        self
    }

    /// Worker threads per pool (default 4, >= 1).
    ///
    /// ```
    /// let b = leasepool_core::Config::builder().max_pools(4).workers_per_pool(2);
    /// ```
    pub fn workers_per_pool(mut self, n: usize) -> Self {
        self.workers_per_pool = n;
        self
    }

    /// Whether the unit count comes from a live size provider (default
    /// false). If so, every grant and every release that ends a lease
    /// makes a check due ([`Core::check_due`](crate::Core::check_due)), so
    /// that the pools follow the signal between check intervals.
    ///
    /// ```
    /// let b = leasepool_core::Config::builder().max_pools(4).has_size_provider(true);
    /// ```
    pub fn has_size_provider(mut self, yes: bool) -> Self {
        self.has_size_provider = yes;
        self
    }

    /// How long a pool released above the desired count stays available,
    /// idle, before it is shut down ([`ShutdownReason::Idle`](crate::ShutdownReason::Idle));
    /// default 60 s, at most 100 years. A lease in that time takes it
    /// again, so a steady load above the desired count does not create
    /// and shut down a pool per lease. Zero shuts such a pool down on
    /// release. Pools at or below the desired count never time out, and a
    /// check whose units lower the desired count shrinks idle pools above
    /// it at once, whatever their idle time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = leasepool_core::Config::builder().max_pools(4).idle_timeout(Duration::from_secs(5));
    /// ```
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Most acquires queued at once (default unbounded, >= 1): an acquire
    /// that would queue behind `n` others fails at once with
    /// [`AcquireError::Unavailable`](crate::AcquireError::Unavailable), so
    /// that an overloaded service sheds load instead of piling up waiters.
    /// Zero is refused ([`ConfigError::TooSmall`]): an acquire waits for a
    /// pool being created, so a limit of 0 would also forbid the pools to
    /// grow; to never wait, acquire with [`Wait::No`](crate::Wait::No).
    ///
    /// ```
    /// let err = leasepool_core::Config::builder().max_pools(4).max_waiters(0).build().unwrap_err();
    /// assert_eq!(err.field(), "max_waiters");
    /// ```
    pub fn max_waiters(mut self, n: usize) -> Self {
        self.max_waiters = Some(n);
        self
    }

    /// Validates every field and returns the configuration, or an error that
    /// names the first bad field.
    ///
    /// ```
    /// let err = leasepool_core::Config::builder().build().unwrap_err();
    /// assert_eq!(err.field(), "max_pools");
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        let max_pools = self.max_pools.ok_or(ConfigError::Missing { field: "max_pools" })?;
        at_least_one("max_pools", max_pools as u64)?;
        at_least_one("min_pools", self.min_pools as u64)?;
        if self.min_pools > max_pools {
            return Err(ConfigError::MinAboveMax { min: self.min_pools, max: max_pools });
        }
        at_least_one("units_per_pool", self.units_per_pool)?;
        at_least_one("workers_per_pool", self.workers_per_pool as u64)?;
        positive("check_interval", self.check_interval)?;
        positive("default_lease_for", self.default_lease_for)?;
        not_too_long("lease_grace", self.lease_grace)?;
        not_too_long("idle_timeout", self.idle_timeout)?;
        if let Some(n) = self.max_waiters {
            at_least_one("max_waiters", n as u64)?;
        }
        Ok(Config {
            max_pools,
            min_pools: self.min_pools,
            units_per_pool: self.units_per_pool,
            check_interval: self.check_interval,
            default_lease_for: self.default_lease_for,
            lease_grace: self.lease_grace,
            workers_per_pool: self.workers_per_pool,
            has_size_provider: self.has_size_provider,
            idle_timeout: self.idle_timeout,
            max_waiters: self.max_waiters,
        })
    }
}
