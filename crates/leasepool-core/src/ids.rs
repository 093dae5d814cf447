//! Identifiers handed out by the core.
//!
//! Ids carry a sequence number that is never reused (so a stale id from an
//! earlier lease never matches a newer one) and, for leases and waiters, the
//! slot they live in (so lookups are O(1) without hashing).

use std::fmt;

/// Identifies one lease. Unique for the life of the [`Core`](crate::Core),
/// across stop and restart.
///
/// ```
/// # use leasepool_core::{Config, Core, Acquire, Acquired};
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0);
/// let Ok(Acquired::Granted(grant)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
/// println!("granted lease {}", grant.lease); // "granted lease 1"
/// assert_eq!(grant.lease.get(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId {
    pub(crate) seq: u64,
    pub(crate) key: u32,
}

/// Identifies one executor pool. The sequence number is what drivers put in
/// worker thread names (`{name_prefix}-{seq}-{worker}`).
///
/// ```
/// use leasepool_core::PoolId;
/// let id = PoolId::from_seq(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!(id.to_string(), "7");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId(pub(crate) u64);

/// Identifies one queued acquire.
///
/// ```
/// # use leasepool_core::{Config, Core, Acquire, Acquired};
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0);
/// # let _held = core.acquire(now, Acquire::no_wait()).unwrap();
/// let Ok(Acquired::Queued(waiter)) = core.acquire(now, Acquire::wait()) else { panic!() };
/// assert_eq!(waiter.get(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId {
    pub(crate) seq: u64,
    pub(crate) key: u32,
}

macro_rules! seq_accessors {
    ($ty:ident) => {
        impl $ty {
            /// The sequence number: 1 for the first id handed out, then 2, 3, ...
            ///
            /// ```
            #[doc = concat!("# fn f(id: leasepool_core::", stringify!($ty), ") -> u64 {")]
            /// id.get()
            /// # }
            /// ```
            pub fn get(self) -> u64 {
                self.seq
            }

            /// A dense index: unique among the live ids of this kind and
            /// reused once the id has ended (the sequence number never is).
            /// Index a side table (a `Vec`) with it and compare the whole id
            /// to reject a stale one; it stays below the most ids ever live
            /// at once.
            ///
            /// ```
            #[doc = concat!("# fn f(id: leasepool_core::", stringify!($ty), ", table: &[Option<(leasepool_core::", stringify!($ty), ", &str)>]) {")]
            /// let entry = table.get(id.slot()).and_then(|e| e.filter(|(owner, _)| *owner == id));
            /// # }
            /// ```
            pub fn slot(self) -> usize {
                self.key as usize
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.seq)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.seq)
            }
        }
    };
}

seq_accessors!(LeaseId);
seq_accessors!(WaiterId);

impl PoolId {
    /// The pool's sequence number.
    ///
    /// ```
    /// assert_eq!(leasepool_core::PoolId::from_seq(3).get(), 3);
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }

    /// Builds an id from a sequence number (for drivers' tests and tables).
    ///
    /// ```
    /// let id = leasepool_core::PoolId::from_seq(1);
    /// ```
    pub fn from_seq(seq: u64) -> Self {
        PoolId(seq)
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolId({})", self.0)
    }
}
