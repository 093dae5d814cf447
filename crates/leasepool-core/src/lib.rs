//! The sans-IO heart of [leasepool]: pool sizing and the lease state machine.
//!
//! `leasepool-core` owns every decision the manager makes (which pool a
//! lease gets, who waits, who is served next, when a lease is revoked, how
//! many pools should exist) and none of the effects. It has no threads, no
//! clock reads, no I/O and no async runtime. Time comes in as an
//! [`Instant`](std::time::Instant) argument; the unit count (devices,
//! tenants, shards...) comes in as a number; effects come out as
//! [`Action`]s. The async layer (`leasepool-driver`, which the tokio, smol
//! and async-std adapters share) drives it, and so can your own event loop.
//!
//! # The driving contract
//!
//! 1. **Inputs** are method calls on [`Core`], each carrying `now` but
//!    `cancel_waiter`:
//!    [`start`](Core::start), [`stop`](Core::stop),
//!    [`acquire`](Core::acquire), [`cancel_waiter`](Core::cancel_waiter),
//!    [`release`](Core::release) (or [`release_busy`](Core::release_busy)),
//!    [`job_submitted`](Core::job_submitted),
//!    [`job_finished`](Core::job_finished), [`pool_broken`](Core::pool_broken),
//!    [`pool_create_failed`](Core::pool_create_failed),
//!    [`notify_scale_changed`](Core::notify_scale_changed) and
//!    [`handle_timeout`](Core::handle_timeout) ([`check_due`](Core::check_due)
//!    tells whether that call will run a check, to read a costly unit count
//!    only then).
//! 2. **Drain rule.** After every input, call [`Core::poll_action`] until it
//!    returns `None` and perform each [`Action`] in the order given:
//!    create or shut down a pool, hand a [`Grant`] to a queued acquire, or
//!    fail one. Performing an action may itself call back into the core
//!    (a failed pool creation, a grant whose waiter is gone); keep draining
//!    until the queue is empty.
//! 3. **Timer rule.** After draining, read [`Core::poll_timeout`]; when that
//!    instant arrives, call [`Core::handle_timeout`] (and drain again). Any
//!    input can move the deadline earlier (a grant schedules its hard
//!    expiry, [`notify_scale_changed`](Core::notify_scale_changed) makes a
//!    check due now), so re-read it after every input. `None` means
//!    stopped: nothing is scheduled.
//! 4. **Sizing.** The desired count is
//!    `min(max_pools, max(min_pools, ceil(units / units_per_pool)))`
//!    ([`Config::desired_pools`]). Units are sampled when you start and at
//!    each check: [`handle_timeout`](Core::handle_timeout) calls your
//!    closure only when a check is due. If your size provider fails, pass 0.
//!
//! Waiters are first come, first served: each freed pool is granted to
//! exactly one waiter ([`Action::Grant`]); a grant whose waiter has gone
//! away is handed back with [`Core::release`] and goes to the next one.
//! Lease expiries and waiter deadlines sit in indexed heaps, so
//! [`poll_timeout`](Core::poll_timeout) is O(1) and revocation O(log n).
//! Once its buffers have grown, an acquire + release cycle allocates nothing.
//!
//! # A complete driver loop, with a fake clock
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::{Duration, Instant};
//! use leasepool_core::{Acquire, Acquired, Action, Config, Core, PoolId, WaiterId, Grant};
//!
//! // The "executor pools" of this driver are just names in a set.
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
//!                 Action::CreatePool(id) => { self.pools.insert(id, format!("pool-{id}")); }
//!                 Action::ShutdownPool { pool, .. } => { self.pools.remove(&pool); }
//!                 Action::Grant { waiter, grant } => { self.granted.insert(waiter, grant); }
//!                 Action::FailWaiter { waiter, error } => println!("waiter {waiter}: {error}"),
//!             }
//!         }
//!     }
//!     // The timer rule: jump the fake clock to the next deadline.
//!     fn advance(&mut self, units: u64) {
//!         if let Some(at) = self.core.poll_timeout() {
//!             self.clock = self.clock.max(at);
//!             self.core.handle_timeout(self.clock, || units);
//!             self.drain();
//!         }
//!     }
//! }
//!
//! let config = Config::builder()
//!     .max_pools(3)
//!     .default_lease(Duration::from_secs(10))
//!     .lease_grace(Duration::from_secs(1))
//!     .build()?;
//! let mut d = Driver { core: Core::new(config), pools: HashMap::new(), granted: HashMap::new(), clock: Instant::now() };
//!
//! d.core.start(d.clock, 0);
//! d.drain();
//! assert_eq!(d.pools.len(), 1);
//!
//! // Take all three pools, then queue a fourth acquire.
//! let mut leases = Vec::new();
//! for _ in 0..3 {
//!     let Acquired::Granted(g) = d.core.acquire(d.clock, Acquire::no_wait())? else { unreachable!() };
//!     d.drain(); // may create a pool
//!     leases.push(g);
//! }
//! let Acquired::Queued(waiter) = d.core.acquire(d.clock, Acquire::wait())? else { unreachable!() };
//!
//! // Releasing one hands its pool straight to the waiter.
//! d.core.release(leases[0].lease, d.clock);
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
//! d.core.stop(d.clock);
//! d.drain();
//! assert!(d.pools.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/custom_scheduler.rs` in the repository drives the core with
//! plain std threads and the real clock (`cargo run --example custom_scheduler`).
//!
//! [leasepool]: https://docs.rs/leasepool

#![forbid(unsafe_code)]

mod batch;
mod config;
mod deadline;
mod ids;
mod machine;
mod stats;
mod types;
mod waiters;

pub use batch::{BatchPolicy, BatchQueue, ItemId};
pub use config::{Config, ConfigBuilder, ConfigError};
pub use ids::{LeaseId, PoolId, WaiterId};
pub use machine::Core;
pub use stats::{LeaseStats, Stats};
pub use types::{
    Acquire, AcquireError, Acquired, Action, Finalised, Grant, ReleaseOutcome, ShutdownReason, SubmitError,
    Wait,
};
