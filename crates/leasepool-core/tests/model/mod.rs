//! The simulation model: a driver of `leasepool-core` that performs every
//! action, tracks only what a real driver could know, and checks the
//! invariants after every step. Pool creation takes two steps, as for a real
//! driver: a `CreatePool` is confirmed (or failed) by a later random step, and
//! the model checks that creations in flight count toward `max_pools`, that
//! no pool is granted before it is confirmed, and that every lease ends with
//! exactly one `LeaseEnded` naming it, before its pool is shut down or reused. Random inputs come from any `RngCore`: a
//! seeded `StdRng` in `tests/simulation.rs`, fuzzer bytes in `fuzz/`.
//!
//! This file holds the model's state ([`Sim`] and the driver's records of
//! leases and waiters), the `ensure!` macro and [`run`]; the rest is split
//! by job, each an `impl Sim` block: `driver` (performing the actions),
//! `inputs` (the random step and the lease, waiter and job inputs), `clock`
//! (time, the timer and scale changes), `lifecycle` (stop, start, a
//! graceful close and its wind-down, stale inputs, quiescing), `invariants` (the checks after every step) and
//! `totals` (the counters, [`Totals`]).

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leasepool_core::{Config, Core, Grant, LeaseEnd, LeaseId, PoolId, ShutdownReason, WaiterId};
use rand::{Rng, RngCore};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("invariant violated: {}", format!($($msg)+));
        }
    };
}

// After `ensure!`, so that the submodules see it.
mod clock;
mod driver;
mod inputs;
mod invariants;
mod lifecycle;
mod totals;

pub use totals::Totals;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// The acquirer holds it (granted at once, or a waiter's grant picked up).
    User,
    /// Handed to this waiter; its future has not picked it up yet.
    Pending(WaiterId),
}

#[derive(Debug)]
struct ModelLease {
    grant: Grant,
    owner: Option<Arc<str>>,
    jobs: u64,
    draining: bool,
    holder: Holder,
}

#[derive(Debug)]
struct ModelWaiter {
    id: WaiterId,
    deadline: Option<Instant>,
    lease: Duration,
    owner: Option<Arc<str>>,
}

/// What the current step expects to see while draining.
#[derive(Debug, Default)]
struct Ctx {
    stopping: bool,
    /// The lease this step ends (a release, or its last job) and how.
    expect_end: Option<(LeaseId, LeaseEnd)>,
    end_seen: bool,
    /// A lease ended by release in this step (kept, handed off or not kept).
    finalised: bool,
    /// The pool of a lease ended `HandedOff`: the next grant reuses it.
    handed_off: Option<PoolId>,
    /// Pools whose lease ended in this step: each must be shut down (with
    /// this reason) or handed off after its `LeaseEnded`, never before.
    retiring: Vec<(PoolId, ShutdownReason)>,
    /// A pool this step reported broken.
    broken: Option<PoolId>,
    broken_seen: bool,
    /// A creation this step failed (the driver reported it).
    create_failed: Option<PoolId>,
    /// A check ran in this step (shrinking is allowed).
    check_ran: bool,
    /// A lease was revoked (ended `Expired`) in this step.
    revoked: bool,
    /// `handle_timeout` ran in this step (idle timeouts are allowed).
    timer_ran: bool,
    /// Pools that became idle in this step (kept on release, or created
    /// with nobody to grant them to): whether each carries an idle
    /// deadline is settled once the step is drained.
    became_idle: Vec<PoolId>,
}

pub struct Sim<R: RngCore> {
    rng: R,
    config: Config,
    core: Core,
    now: Instant,
    // ---- what the driver knows ----
    running: bool,
    /// The unit count the size provider reports right now.
    units: u64,
    /// When the model expects the next check.
    next_check: Option<Instant>,
    /// Check requests the model counted (notifications, and with a size
    /// provider grants and leases ended by release): a check whose units
    /// were read before the latest one runs again at once.
    check_requests: u64,
    /// Whether the configuration says a size provider is set.
    size_provider: bool,
    ever_started: bool,
    /// Pools confirmed created and not shut down.
    live: BTreeSet<PoolId>,
    /// Creations asked for in this run and not yet confirmed or failed: they
    /// count toward `max_pools`.
    in_flight: Vec<PoolId>,
    /// Creations asked for before a stop and not yet confirmed or failed.
    disowned: Vec<PoolId>,
    ended_leases: HashSet<LeaseId>,
    /// Idle pools in the order they became idle (oldest first), as the
    /// driver can tell from the actions and outcomes it saw.
    available: VecDeque<PoolId>,
    /// The idle deadline of each idle pool that has one: it became idle
    /// while this run had more pools than desired, `idle_timeout` before.
    idle_deadlines: BTreeMap<PoolId, Instant>,
    /// Leased pools a fall of the signal could not shut down: each is shut
    /// down on release instead of kept idle (the spec's shrink debt).
    shrink_owed: usize,
    ever_pools: HashSet<PoolId>,
    leases: BTreeMap<LeaseId, ModelLease>,
    ever_leases: HashSet<LeaseId>,
    queue: VecDeque<ModelWaiter>,
    ever_waiters: HashSet<WaiterId>,
    ended_waiters: HashSet<WaiterId>,
    /// Jobs still running on pools whose lease is gone; they finish later.
    orphan_jobs: Vec<LeaseId>,
    stale_leases: Vec<LeaseId>,
    stale_waiters: Vec<WaiterId>,
    fail_creates: bool,
    /// A pool creation failed or a pool broke since the last complete check:
    /// the core's replacement pause, under which a pool that breaks is not
    /// replaced until the next check.
    paused: bool,
    /// The core may be below the desired count: a pool was lost under the
    /// pause, or a creation failed. A check, or a revocation or finalise
    /// (outside events, which restore the count whatever the pause), ends it.
    short_of_min: bool,
    totals: Totals,
}

impl<R: RngCore> Sim<R> {
    /// This run's pools, as the driver counts them: confirmed and live, or
    /// being created for this run (what the core compares with `desired`).
    fn run_pools(&self) -> usize {
        self.live.len() + self.in_flight.len()
    }
}

fn pick<T: Copy>(rng: &mut impl RngCore, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}

impl<R: RngCore> Sim<R> {
    pub fn new(mut rng: R) -> Sim<R> {
        // Mostly small pools, where contention is constant; sometimes larger.
        let max =
            if rng.random_ratio(1, 5) { rng.random_range(7..=32usize) } else { rng.random_range(1..=6usize) };
        let min = rng.random_range(1..=max);
        let grace = if rng.random_ratio(1, 4) {
            Duration::ZERO
        } else {
            Duration::from_millis(rng.random_range(1..=10_000))
        };
        let size_provider = rng.random_ratio(1, 3);
        let idle_timeout = if rng.random_ratio(1, 3) {
            Duration::ZERO
        } else {
            Duration::from_millis(rng.random_range(1..=30_000))
        };
        let mut builder = Config::builder().idle_timeout(idle_timeout);
        if rng.random_ratio(1, 3) {
            builder = builder.max_waiters(rng.random_range(1..=2 * max));
        }
        let config = builder
            .has_size_provider(size_provider)
            .max_pools(max)
            .min_pools(min)
            .units_per_pool(rng.random_range(1..=20))
            .check_interval(Duration::from_millis(rng.random_range(500..=120_000)))
            .default_lease_for(Duration::from_millis(rng.random_range(1..=60_000)))
            .lease_grace(grace)
            .workers_per_pool(rng.random_range(1..=4))
            .build()
            .expect("valid config");
        Sim {
            rng,
            core: Core::new(config.clone()),
            config,
            now: Instant::now(),
            running: false,
            units: 0,
            next_check: None,
            check_requests: 0,
            size_provider,
            ever_started: false,
            live: BTreeSet::new(),
            in_flight: Vec::new(),
            disowned: Vec::new(),
            ended_leases: HashSet::new(),
            available: VecDeque::new(),
            idle_deadlines: BTreeMap::new(),
            shrink_owed: 0,
            ever_pools: HashSet::new(),
            leases: BTreeMap::new(),
            ever_leases: HashSet::new(),
            queue: VecDeque::new(),
            ever_waiters: HashSet::new(),
            ended_waiters: HashSet::new(),
            orphan_jobs: Vec::new(),
            stale_leases: Vec::new(),
            stale_waiters: Vec::new(),
            fail_creates: true,
            paused: false,
            short_of_min: false,
            totals: Totals { seeds: 1, ..Totals::default() },
        }
    }
}

/// Runs `steps` random inputs drawn from `rng`, then quiesces; panics with
/// `label` and the step on the first broken invariant.
pub fn run<R: RngCore>(rng: R, steps: u64, label: &str) -> Totals {
    let mut sim = Sim::new(rng);
    let mut step = 0;
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        sim.start();
        sim.check_invariants();
        while step < steps {
            step += 1;
            sim.step();
        }
        sim.quiesce();
        sim.check_invariants();
        ensure!(
            sim.ended_waiters.len() == sim.ever_waiters.len(),
            "{} waiters queued, {} ended",
            sim.ever_waiters.len(),
            sim.ended_waiters.len()
        );
    }));
    if let Err(payload) = result {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("simulation failed: {label}, step {step} (config {:?}): {msg}", sim.config);
    }
    sim.totals
}
