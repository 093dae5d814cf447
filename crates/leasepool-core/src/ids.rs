//! Identifiers handed out by the core.
//!
//! Ids carry a sequence number that is never reused (so a stale id from an
//! earlier lease never matches a newer one), the tag of the [`Core`] that
//! issued them (so an id handed to the wrong core is caught, not mistaken
//! for one of its own) and, for leases and waiters, the slot they live in
//! (so lookups are O(1) without hashing).
//!
//! [`Core`]: crate::Core

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

/// Tags every [`Core`](crate::Core) of the process apart; 0 is never issued.
static NEXT_CORE_TAG: AtomicU32 = AtomicU32::new(1);

/// A new tag for a new core. A counter, not a clock or a random number: the
/// core stays deterministic. It wraps after 4 billion cores, far past any
/// process's life, and a clash then needs two cores alive whose ids mix.
pub(crate) fn next_core_tag() -> u32 {
    NEXT_CORE_TAG.fetch_add(1, Ordering::Relaxed).max(1)
}

/// Identifies one lease. Unique for the life of the [`Core`](crate::Core),
/// across stop and restart.
///
/// ```
/// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0).unwrap();
/// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
/// let Ok(Acquired::Granted(grant)) = core.acquire(now, Acquire::no_wait()) else { panic!() };
/// println!("granted lease {}", grant.lease); // "granted lease 1"
/// assert_eq!(grant.lease.get(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId {
    pub(crate) seq: u64,
    pub(crate) key: u32,
    /// The issuing core's tag.
    pub(crate) core: u32,
}

/// Identifies one executor pool. The sequence number is what drivers put in
/// worker thread names (`{name_prefix}-{seq}-{worker}`).
///
/// ```
/// # use leasepool_core::{Action, Config, Core};
/// let mut core = Core::new(Config::builder().max_pools(1).build()?);
/// core.start(std::time::Instant::now(), 0)?;
/// let Some(Action::CreatePool(id)) = core.poll_action() else { unreachable!() };
/// assert_eq!(id.get(), 1);
/// assert_eq!(id.to_string(), "1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId {
    pub(crate) seq: u64,
    /// The issuing core's tag.
    pub(crate) core: u32,
}

/// Identifies one queued acquire.
///
/// ```
/// # use leasepool_core::{Action, Config, Core, Acquire, Acquired};
/// # let now = std::time::Instant::now();
/// # let mut core = Core::new(Config::builder().max_pools(1).build().unwrap());
/// # core.start(now, 0).unwrap();
/// # while let Some(Action::CreatePool(p)) = core.poll_action() { core.pool_created(now, p); }
/// # let _held = core.acquire(now, Acquire::no_wait()).unwrap();
/// let Ok(Acquired::Queued(waiter)) = core.acquire(now, Acquire::wait()) else { panic!() };
/// assert_eq!(waiter.get(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId {
    pub(crate) seq: u64,
    pub(crate) key: u32,
    /// The issuing core's tag.
    pub(crate) core: u32,
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
    /// The pool's sequence number: 1 for the first pool, then 2, 3, ...
    ///
    /// ```
    /// # fn f(id: leasepool_core::PoolId) -> u64 {
    /// id.get()
    /// # }
    /// ```
    pub fn get(self) -> u64 {
        self.seq
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seq)
    }
}

impl fmt::Debug for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolId({})", self.seq)
    }
}
