//! The sans-IO heart of [leasepool]: pool sizing and the lease state machine.
//!
//! `leasepool-core` owns every decision the manager makes (which pool a
//! lease gets, who waits, who is served next, when a lease is revoked, how
//! many pools should exist, when to look at the size signal) and none of
//! the effects. It has no threads, no
//! clock reads, no I/O and no async runtime. Time comes in as an
//! [`Instant`](std::time::Instant) argument; the unit count (devices,
//! tenants, shards...) comes in as a number; effects come out as
//! [`Action`]s. The async layer (`leasepool-driver`, which the tokio, smol
//! and async-std adapters share) drives it, and so can your own event loop.
//!
//! # The driving contract
//!
//! 1. **Inputs** are method calls on [`Core`], each carrying `now` first:
//!    [`start`](Core::start), [`close`](Core::close), [`stop`](Core::stop),
//!    [`acquire`](Core::acquire), [`cancel_waiter`](Core::cancel_waiter),
//!    [`release`](Core::release) (or [`release_busy`](Core::release_busy)),
//!    [`job_submitted`](Core::job_submitted),
//!    [`job_finished`](Core::job_finished),
//!    [`pool_created`](Core::pool_created),
//!    [`pool_create_failed`](Core::pool_create_failed),
//!    [`pool_broken`](Core::pool_broken),
//!    [`notify_scale_changed`](Core::notify_scale_changed),
//!    [`handle_timeout`](Core::handle_timeout) and
//!    [`handle_units`](Core::handle_units). Each returns a `Result` with a
//!    typed error for what can legitimately happen (a lease that ended
//!    meanwhile, a waiter already granted), or nothing. A driver bug (an id
//!    of another `Core`, a pool confirmed twice, more jobs finished than
//!    submitted) panics with a message that names it. A `now` older than
//!    one already seen is taken as that one: instants read on different
//!    threads before taking a lock arrive slightly out of order.
//! 2. **Drain rule.** After every input, call [`Core::poll_action`] until it
//!    returns `None` and perform each [`Action`] in the order given:
//!    create or shut down a pool, hand a [`Grant`] to a queued acquire,
//!    fail one, or tell the holder of a lease that it ended. Performing an
//!    action may itself call back into the core (a grant whose waiter is
//!    gone is handed back with [`Core::release`]); keep draining until
//!    the queue is empty.
//! 3. **Two-step effects.** Creating a pool takes time (threads,
//!    processes), so it is requested by [`Action::CreatePool`] and
//!    confirmed by an input, [`Core::pool_created`] or
//!    [`Core::pool_create_failed`], whenever it is done: perform it outside
//!    any lock you hold around the core. Until then the pool counts toward
//!    `max_pools` but is granted to nobody; acquires wait for it like any
//!    waiter (first come, first served, with their deadlines). Shutting a
//!    pool down needs no confirmation: the core forgot it already.
//! 4. **Timer rule.** After draining, read [`Core::poll_timeout`]; when that
//!    instant arrives, call [`Core::handle_timeout`], then
//!    [`Core::check_due`]: if a check is due, read the units and call
//!    [`Core::handle_units`] (rule 5), and drain again. A due check keeps
//!    `poll_timeout` in the past until `handle_units` runs it, so a timer
//!    that skips it spins. Any input can move the deadline earlier (a grant
//!    schedules its hard expiry,
//!    [`notify_scale_changed`](Core::notify_scale_changed) makes a check due
//!    now), so re-read it after every input. `None` means nothing is
//!    scheduled (stopped, or closing with no lease left).
//! 5. **Sizing.** The desired count is
//!    `min(max_pools, max(min_pools, ceil(units / units_per_pool)))`
//!    ([`Config::desired_executor_count`]). Units go in at
//!    [`start`](Core::start) and at each check: when
//!    [`check_due`](Core::check_due) says one is due, read your unit count
//!    (outside any lock: a size provider may be slow) and hand it in with
//!    [`handle_units`](Core::handle_units). A check falls due every
//!    `check_interval`, on [`notify_scale_changed`](Core::notify_scale_changed),
//!    and, with [`has_size_provider`](ConfigBuilder::has_size_provider),
//!    after every grant and every release that ends a lease.
//!
//! 6. **Graceful shutdown.** [`Core::close`] refuses every acquire with
//!    [`AcquireError::Stopped`], fails the waiters, shuts idle pools down
//!    and lets the leases run on; each lease that ends shuts its pool down,
//!    and nothing is created, granted or checked. After each input's drain,
//!    [`Core::is_drained`] says whether the last lease has ended: then call
//!    [`Core::stop`]. At your own deadline call it anyway: it cuts the
//!    leases still live ([`LeaseEnd::Stopped`]). Either way the core ends
//!    stopped, and [`poll_timeout`](Core::poll_timeout) while closing names
//!    only hard expiries.
//!
//! Waiters are first come, first served: each freed or created pool is
//! granted to exactly one waiter ([`Action::Grant`]). Every lease granted
//! ends with exactly one [`Action::LeaseEnded`], which names it and says
//! why ([`LeaseEnd`]), so a driver keeps no map of its own from pools to
//! leases. Lease expiries and waiter deadlines sit in indexed heaps, so
//! [`poll_timeout`](Core::poll_timeout) is O(1) and revocation O(log n).
//! Once its buffers have grown, an acquire + release cycle allocates
//! nothing.
//!
//! `max_pools` bounds the pools the core counts. A pool shut down while
//! jobs run on it is no longer counted, but the driver's threads (or
//! processes) finish those jobs first: for a moment a driver may hold more
//! than `max_pools` pools' worth of workers.
//!
//! # A complete driver loop, with a fake clock
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::{Duration, Instant};
//! use leasepool_core::{Acquire, Acquired, Action, Config, Core, PoolId, WaiterId, Grant};
//!
//! // The "executor pools" of this driver are just names in a map.
//! struct Driver {
//!     core: Core,
//!     pools: HashMap<PoolId, String>,
//!     granted: HashMap<WaiterId, Grant>,
//!     clock: Instant,
//! }
//!
//! impl Driver {
//!     // The drain rule: perform every action, in order, until none is left.
//!     fn drain(&mut self) {
//!         while let Some(action) = self.core.poll_action() {
//!             match action {
//!                 // Two steps: create, then confirm (here at once).
//!                 Action::CreatePool(id) => {
//!                     self.pools.insert(id, format!("pool-{id}"));
//!                     self.core.pool_created(self.clock, id);
//!                 }
//!                 Action::ShutdownPool { pool, .. } => { self.pools.remove(&pool); }
//!                 Action::Grant { waiter, grant } => { self.granted.insert(waiter, grant); }
//!                 Action::FailWaiter { waiter, error } => println!("waiter {waiter}: {error}"),
//!                 Action::LeaseEnded { lease, end, .. } => println!("lease {lease} ended: {end:?}"),
//!             }
//!         }
//!     }
//!     // The timer rule: jump the fake clock to the next deadline, and run
//!     // a check if one is due, with the units read for it.
//!     fn advance(&mut self, units: u64) {
//!         if let Some(at) = self.core.poll_timeout() {
//!             self.clock = self.clock.max(at);
//!             self.core.handle_timeout(self.clock);
//!             if let Some(due) = self.core.check_due(self.clock) {
//!                 self.core.handle_units(self.clock, due, units);
//!             }
//!             self.drain();
//!         }
//!     }
//! }
//!
//! let config = Config::builder()
//!     .max_pools(3)
//!     .default_lease_for(Duration::from_secs(10))
//!     .lease_grace(Duration::from_secs(1))
//!     .build()?;
//! let mut d = Driver { core: Core::new(config), pools: HashMap::new(), granted: HashMap::new(), clock: Instant::now() };
//!
//! d.core.start(d.clock, 0)?;
//! d.drain();
//! assert_eq!(d.pools.len(), 1);
//!
//! // Take the idle pool, then two more: those wait for pools being created.
//! let Acquired::Granted(first) = d.core.acquire(d.clock, Acquire::no_wait())? else { unreachable!() };
//! let mut leases = vec![first];
//! for _ in 0..2 {
//!     let Acquired::Queued(waiter) = d.core.acquire(d.clock, Acquire::wait())? else { unreachable!() };
//!     d.drain(); // creates and confirms a pool, which grants the waiter
//!     leases.push(d.granted[&waiter]);
//! }
//! let Acquired::Queued(waiter) = d.core.acquire(d.clock, Acquire::wait())? else { unreachable!() };
//!
//! // Releasing one hands its pool straight to the waiter.
//! d.core.release(d.clock, leases[0].lease)?;
//! d.drain();
//! assert_eq!(d.granted[&waiter].pool, leases[0].pool);
//!
//! // Nobody releases the rest: at hard expiry (11 s) they are revoked, their
//! // pools shut down and replaced up to the desired count (here the minimum).
//! d.advance(0);
//! assert_eq!(d.core.leased_count(), 0);
//! assert_eq!(d.core.total_count(), 1);
//! assert_eq!(d.pools.len(), 1);
//!
//! // A scale signal: 25 units at 10 per pool wants 3 pools.
//! d.core.notify_scale_changed(d.clock);
//! d.advance(25);
//! assert_eq!(d.pools.len(), 3);
//!
//! // A graceful shutdown: waiters fail, the lease lives on until released.
//! let Acquired::Granted(last) = d.core.acquire(d.clock, Acquire::no_wait())? else { unreachable!() };
//! d.core.close(d.clock)?;
//! d.drain();
//! assert_eq!(d.pools.len(), 1); // the idle pools shut down
//! assert!(!d.core.is_drained());
//! d.core.release(d.clock, last.lease)?;
//! d.drain();
//! assert!(d.core.is_drained() && d.pools.is_empty());
//! d.core.stop(d.clock)?;
//! d.drain();
//! assert!(d.pools.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Counters and the serialized form
//!
//! [`Core::counters`] (and [`CoreStats::counters`]) counts what the core
//! decided since it was built: grants, refusals, withdrawn waiters, lease
//! ends, pools created, shut down and broken ([`CoreCounters`]), each
//! counted when its action is drained. With the feature `serde`,
//! [`Config`], [`CoreStats`], [`LeaseStats`] and [`CoreCounters`]
//! implement `serde::Serialize`: field names as keys, durations as seconds
//! (`f64`) under the field's name plus `_secs`, ids as numbers, no
//! `Instant` (a lease's `leased_at` becomes `held_secs`, and it gains
//! `expires_in_secs`, negative once past its soft expiry).
//!
//! ```
//! # #[cfg(feature = "serde")]
//! # {
//! let config = leasepool_core::Config::builder().max_pools(4).build().unwrap();
//! let json = serde_json::to_value(&config).unwrap();
//! assert_eq!(json["max_pools"], 4);
//! assert_eq!(json["default_lease_for_secs"], 300.0);
//! # }
//! ```
//!
//! `examples/custom_scheduler.rs` in the repository drives the core with
//! plain std threads and the real clock, pools created on their own
//! threads (`cargo run --example custom_scheduler`).
//!
//! [leasepool]: https://docs.rs/leasepool

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod config;
mod deadline;
mod ids;
mod machine;
mod stats;
mod types;
mod waiters;
#[cfg(feature = "serde")]
mod wire;

pub use batch::{BatchPolicy, BatchQueue, ItemId};
pub use config::{Config, ConfigBuilder, ConfigError};
pub use ids::{LeaseId, PoolId, WaiterId};
pub use machine::{CheckDue, Core};
pub use stats::{CoreCounters, CoreStats, LeaseStats};
pub use types::{
    Acquire, AcquireError, Acquired, Action, Grant, LeaseEnd, LeaseError, PoolError, PoolFate, Released,
    RunError, ShutdownReason, Wait, WaiterError,
};
