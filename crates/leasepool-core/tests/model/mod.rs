//! The simulation model: a driver of `leasepool-core` that performs every
//! action, tracks only what a real driver could know, and checks the
//! invariants after every step. Pool creation takes two steps, as for a real
//! driver: a `CreatePool` is confirmed (or failed) by a later random step, and
//! the model checks that creations in flight count toward `max_pools`, that
//! no pool is granted before it is confirmed, and that every lease ends with
//! exactly one `LeaseEnded` naming it, before its pool is shut down or reused. Random inputs come from any `RngCore`: a
//! seeded `StdRng` in `tests/simulation.rs`, fuzzer bytes in `fuzz/`.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leasepool_core::{
    Acquire, AcquireError, Acquired, Action, Config, Core, Grant, LeaseEnd, LeaseError, LeaseId, PoolError,
    PoolFate, PoolId, Released, ShutdownReason, Wait, WaiterError, WaiterId,
};
use rand::{Rng, RngCore};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("invariant violated: {}", format!($($msg)+));
        }
    };
}

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
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub seeds: u64,
    pub events: u64,
    pub invariant_checks: u64,
    pub actions: u64,
    pub grants_direct: u64,
    pub grants_to_waiters: u64,
    pub queued: u64,
    pub cancelled: u64,
    pub waiter_timeouts: u64,
    pub waiters_failed_on_stop: u64,
    pub waiters_failed_on_create: u64,
    pub handed_back: u64,
    pub kept: u64,
    pub handed_off: u64,
    pub not_kept: u64,
    pub revoked: u64,
    pub revoked_on_submit: u64,
    pub broken: u64,
    pub create_failures: u64,
    pub creations_confirmed: u64,
    pub confirmed_after_stop: u64,
    pub max_in_flight: u64,
    pub lease_ends: u64,
    pub stale_checks: u64,
    pub start_failures: u64,
    pub shrinks: u64,
    pub checks: u64,
    pub stops: u64,
    pub quiescences: u64,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.seeds += o.seeds;
        self.events += o.events;
        self.invariant_checks += o.invariant_checks;
        self.actions += o.actions;
        self.grants_direct += o.grants_direct;
        self.grants_to_waiters += o.grants_to_waiters;
        self.queued += o.queued;
        self.cancelled += o.cancelled;
        self.waiter_timeouts += o.waiter_timeouts;
        self.waiters_failed_on_stop += o.waiters_failed_on_stop;
        self.waiters_failed_on_create += o.waiters_failed_on_create;
        self.handed_back += o.handed_back;
        self.kept += o.kept;
        self.handed_off += o.handed_off;
        self.not_kept += o.not_kept;
        self.revoked += o.revoked;
        self.revoked_on_submit += o.revoked_on_submit;
        self.broken += o.broken;
        self.create_failures += o.create_failures;
        self.creations_confirmed += o.creations_confirmed;
        self.confirmed_after_stop += o.confirmed_after_stop;
        self.max_in_flight = self.max_in_flight.max(o.max_in_flight);
        self.lease_ends += o.lease_ends;
        self.stale_checks += o.stale_checks;
        self.start_failures += o.start_failures;
        self.shrinks += o.shrinks;
        self.checks += o.checks;
        self.stops += o.stops;
        self.quiescences += o.quiescences;
    }
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
    /// A creation failed while the waiters outnumbered the creations: the
    /// waiters may stay uncovered (fewer creations than waiters below
    /// max_pools) until the next check or acquire.
    uncovered_ok: bool,
    /// Idle pools in the order they became idle (oldest first), as the
    /// driver can tell from the actions and outcomes it saw.
    available: VecDeque<PoolId>,
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
        let config = Config::builder()
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
            uncovered_ok: false,
            available: VecDeque::new(),
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

    // ---- the driver: perform every action ----------------------------------

    fn drain(&mut self, ctx: &mut Ctx) {
        while let Some(action) = self.core.poll_action() {
            self.totals.actions += 1;
            match action {
                Action::CreatePool(pool) => self.on_create(pool, ctx),
                Action::ShutdownPool { pool, reason } => self.on_shutdown(pool, reason, ctx),
                Action::Grant { waiter, grant } => self.on_grant(waiter, grant, ctx),
                Action::FailWaiter { waiter, error } => self.on_fail(waiter, error, ctx),
                Action::LeaseEnded { lease, pool, owner, end } => {
                    self.on_lease_ended(lease, pool, owner, end, ctx)
                }
            }
        }
        if let Some((lease, end)) = ctx.expect_end {
            ensure!(ctx.end_seen, "{lease:?} should have ended {end:?}, no LeaseEnded seen");
        }
        ensure!(
            ctx.retiring.is_empty(),
            "ended leases' pools neither shut down nor reused: {:?}",
            ctx.retiring
        );
        ensure!(ctx.handed_off.is_none(), "a lease ended HandedOff without a grant of its pool");
        if let Some(pool) = ctx.broken {
            ensure!(ctx.broken_seen, "broken {pool:?} was not shut down");
        }
        // A revocation or a finalise restores the desired count even under
        // the pause (only a pool lost to breaking waits for the check).
        if (ctx.revoked || ctx.finalised) && ctx.create_failed.is_none() && ctx.broken.is_none() {
            self.short_of_min = false;
        }
        if self.queue.is_empty() {
            self.uncovered_ok = false;
        }
    }

    /// A check was requested (the core counts the same requests).
    fn check_requested(&mut self) {
        if let Some(at) = &mut self.next_check {
            *at = (*at).min(self.now);
            self.check_requests += 1;
        }
    }

    fn on_create(&mut self, pool: PoolId, ctx: &mut Ctx) {
        ensure!(!ctx.stopping, "CreatePool({pool:?}) while stopping");
        ensure!(self.ever_pools.insert(pool), "CreatePool({pool:?}) reuses a pool id");
        self.in_flight.push(pool);
        // Disowned creations (of a run before a stop) still count: their
        // threads exist until they are confirmed and shut down.
        let existing = self.live.len() + self.in_flight.len() + self.disowned.len();
        ensure!(
            existing <= self.config.max_pools(),
            "{existing} pools exist or are being created, max_pools {}",
            self.config.max_pools()
        );
        self.totals.max_in_flight = self.totals.max_in_flight.max(self.in_flight.len() as u64);
    }

    /// The driver finishes one creation, after a random delay: confirmed,
    /// or (now and then) failed.
    fn settle_creation(&mut self) {
        let n = self.in_flight.len() + self.disowned.len();
        if n == 0 {
            return self.check_quiet();
        }
        let i = self.rng.random_range(0..n);
        let fail = self.fail_creates && self.rng.random_ratio(1, 40);
        if i >= self.in_flight.len() {
            // A creation asked for before a stop: its pool is shut down.
            let pool = self.disowned.swap_remove(i - self.in_flight.len());
            if fail {
                self.core.pool_create_failed(self.now, pool);
                // The room it held under max_pools may go to this run.
                return self.drain(&mut Ctx::default());
            }
            self.core.pool_created(self.now, pool);
            let first = self.core.poll_action();
            ensure!(
                first == Some(Action::ShutdownPool { pool, reason: ShutdownReason::Stopped }),
                "a disowned creation confirmed gave {first:?} first"
            );
            self.totals.confirmed_after_stop += 1;
            // The room it held under max_pools may go to this run's pools.
            let mut ctx = Ctx::default();
            self.drain(&mut ctx);
            return;
        }
        let pool = self.in_flight.swap_remove(i);
        let mut ctx = Ctx::default();
        if fail {
            self.totals.create_failures += 1;
            self.paused = true;
            self.short_of_min = true;
            ctx.create_failed = Some(pool);
            self.core.pool_create_failed(self.now, pool);
        } else {
            self.totals.creations_confirmed += 1;
            self.core.pool_created(self.now, pool);
            // Idle until a grant takes it (the first live waiter's, if any).
            self.live.insert(pool);
            self.available.push_back(pool);
        }
        self.drain(&mut ctx);
    }

    /// Settles every creation in flight (confirming them all unless
    /// `fail_creates`).
    fn settle_all(&mut self) {
        while !self.in_flight.is_empty() || !self.disowned.is_empty() {
            self.settle_creation();
            self.check_invariants();
        }
    }

    fn on_shutdown(&mut self, pool: PoolId, reason: ShutdownReason, ctx: &mut Ctx) {
        ensure!(self.live.remove(&pool), "ShutdownPool({pool:?}, {reason}) of a pool that is not live");
        ensure!(self.lease_on(pool).is_none(), "ShutdownPool({pool:?}) before the LeaseEnded of its lease");
        if let Some(i) = ctx.retiring.iter().position(|(p, _)| *p == pool) {
            let (_, want) = ctx.retiring.swap_remove(i);
            ensure!(reason == want, "{pool:?} shut down {reason:?} after its lease ended, expected {want:?}");
            if reason == ShutdownReason::Broken {
                ensure!(
                    ctx.broken == Some(pool) && !ctx.broken_seen,
                    "unexpected Broken shutdown of {pool:?}"
                );
                ctx.broken_seen = true;
            }
            return;
        }
        // Not leased: an idle pool.
        let idle_at = self.available.iter().position(|&p| p == pool);
        ensure!(idle_at.is_some(), "{pool:?} shut down ({reason:?}) but neither idle nor just ended");
        if let Some(i) = idle_at {
            self.available.remove(i);
        }
        match reason {
            ShutdownReason::Stopped => ensure!(ctx.stopping, "ShutdownPool Stopped outside stop"),
            ShutdownReason::Broken => {
                ensure!(
                    ctx.broken == Some(pool) && !ctx.broken_seen,
                    "unexpected Broken shutdown of {pool:?}"
                );
                ctx.broken_seen = true;
            }
            ShutdownReason::Shrink => {
                ensure!(ctx.check_ran, "Shrink outside a check");
                ensure!(
                    idle_at == Some(self.available.len()),
                    "shrink took {pool:?} at {idle_at:?}, not the most recently returned idle pool"
                );
                self.totals.shrinks += 1;
            }
            ShutdownReason::Expired | ShutdownReason::NotKept => {
                panic!("invariant violated: idle {pool:?} shut down {reason:?}")
            }
        }
    }

    fn on_lease_ended(
        &mut self,
        lease: LeaseId,
        pool: PoolId,
        owner: Option<Arc<str>>,
        end: LeaseEnd,
        ctx: &mut Ctx,
    ) {
        ensure!(self.ever_leases.contains(&lease), "LeaseEnded names {lease:?}, never granted");
        ensure!(self.ended_leases.insert(lease), "{lease:?} ended twice");
        let Some(l) = self.leases.get(&lease) else {
            panic!("invariant violated: LeaseEnded for {lease:?}, which the driver does not hold")
        };
        ensure!(l.grant.pool == pool, "LeaseEnded names {pool:?}, the lease is on {:?}", l.grant.pool);
        ensure!(l.owner == owner, "LeaseEnded of {lease:?} with owner {owner:?}, model has {:?}", l.owner);
        let hard = l.grant.hard_expires_at();
        self.totals.lease_ends += 1;
        if let Some((want_lease, want)) = ctx.expect_end {
            if want_lease == lease {
                ensure!(end == want, "{lease:?} ended {end:?}, expected {want:?}");
                ctx.end_seen = true;
            }
        }
        match end {
            LeaseEnd::Released(fate) => {
                ensure!(ctx.expect_end.is_some_and(|(l, _)| l == lease), "{lease:?} released by nobody");
                ensure!(self.now < hard, "{lease:?} ended Released past its hard expiry");
                ctx.finalised = true;
                match fate {
                    PoolFate::Kept => {
                        self.available.push_back(pool);
                        self.totals.kept += 1;
                    }
                    PoolFate::HandedOff => {
                        ctx.handed_off = Some(pool);
                        self.totals.handed_off += 1;
                    }
                    PoolFate::ShutDown => {
                        ctx.retiring.push((pool, ShutdownReason::NotKept));
                        self.totals.not_kept += 1;
                    }
                }
                if self.size_provider {
                    self.check_requested();
                }
            }
            LeaseEnd::Expired => {
                ensure!(!ctx.stopping, "revocation during stop");
                ensure!(self.now >= hard, "{lease:?} revoked before its hard expiry");
                ctx.revoked = true;
                ctx.retiring.push((pool, ShutdownReason::Expired));
                self.totals.revoked += 1;
            }
            LeaseEnd::PoolBroken => {
                ensure!(ctx.broken == Some(pool), "{lease:?} ended PoolBroken, {pool:?} not reported broken");
                ctx.retiring.push((pool, ShutdownReason::Broken));
            }
            LeaseEnd::Stopped => {
                ensure!(ctx.stopping, "{lease:?} ended Stopped outside stop");
                ctx.retiring.push((pool, ShutdownReason::Stopped));
            }
        }
        self.forget_lease(lease);
    }

    fn on_grant(&mut self, waiter: WaiterId, grant: Grant, ctx: &mut Ctx) {
        ensure!(!ctx.stopping, "Grant during stop");
        let front = self.queue.pop_front();
        let Some(front) = front else {
            panic!("invariant violated: Grant to {waiter:?} with no waiter queued")
        };
        ensure!(front.id == waiter, "Grant to {waiter:?} but {:?} is first in line (FIFO)", front.id);
        ensure!(
            front.deadline.is_none_or(|d| d > self.now),
            "Grant to {waiter:?} at or after its deadline {:?}",
            front.deadline
        );
        ensure!(self.ended_waiters.insert(waiter), "{waiter:?} ended twice");
        ensure!(self.ever_leases.insert(grant.lease), "lease id {:?} reused", grant.lease);
        ensure!(self.live.contains(&grant.pool), "Grant of {:?}, which is not confirmed created", grant.pool);
        ensure!(!self.in_flight.contains(&grant.pool), "Grant of {:?}, still being created", grant.pool);
        ensure!(self.lease_on(grant.pool).is_none(), "Grant of {:?}, which is already leased", grant.pool);
        if ctx.handed_off == Some(grant.pool) {
            ctx.handed_off = None;
        } else {
            ensure!(
                self.available.pop_front() == Some(grant.pool),
                "Grant of {:?}, not the oldest idle pool",
                grant.pool
            );
        }
        ensure!(grant.leased_at == self.now, "grant leased_at is not now");
        ensure!(grant.lease_for == front.lease, "grant lease duration differs from the request");
        ensure!(grant.grace == self.config.lease_grace(), "grant grace differs from config");
        self.totals.grants_to_waiters += 1;
        if self.size_provider {
            self.check_requested();
        }
        let lease = ModelLease {
            grant,
            owner: front.owner,
            jobs: 0,
            draining: false,
            holder: Holder::Pending(waiter),
        };
        self.leases.insert(grant.lease, lease);
    }

    fn on_fail(&mut self, waiter: WaiterId, error: AcquireError, ctx: &mut Ctx) {
        let pos = self.queue.iter().position(|w| w.id == waiter);
        let Some(pos) = pos else { panic!("invariant violated: FailWaiter({waiter:?}, {error}) not queued") };
        match error {
            AcquireError::Timeout => {
                ensure!(!ctx.stopping, "timeout during stop");
                let d = self.queue[pos].deadline;
                ensure!(d.is_some_and(|d| d <= self.now), "{waiter:?} timed out before its deadline {d:?}");
                self.totals.waiter_timeouts += 1;
            }
            AcquireError::Stopped => {
                ensure!(ctx.stopping && pos == 0, "Stopped for {waiter:?} at {pos} outside stop order");
                self.totals.waiters_failed_on_stop += 1;
            }
            AcquireError::PoolCreationFailed { pool } => {
                ensure!(ctx.create_failed == Some(pool), "PoolCreationFailed({pool:?}) without that failure");
                ensure!(pos == 0, "PoolCreationFailed for {waiter:?}, not first in line");
                // Only when the waiters outnumber the creations in flight.
                ensure!(
                    self.queue.len() > self.in_flight.len(),
                    "{waiter:?} failed with {} waiters and {} creations in flight",
                    self.queue.len(),
                    self.in_flight.len()
                );
                self.uncovered_ok = true;
                self.totals.waiters_failed_on_create += 1;
            }
            other => panic!("invariant violated: FailWaiter with {other:?}"),
        }
        self.queue.remove(pos);
        ensure!(self.ended_waiters.insert(waiter), "{waiter:?} ended twice");
        self.stale_waiters.push(waiter);
    }

    fn lease_on(&self, pool: PoolId) -> Option<LeaseId> {
        self.leases.iter().find(|(_, l)| l.grant.pool == pool).map(|(id, _)| *id)
    }

    /// The lease is gone from the core; its running jobs finish later.
    fn forget_lease(&mut self, id: LeaseId) {
        let l = self.leases.remove(&id).expect("forgetting a known lease");
        for _ in 0..l.jobs {
            self.orphan_jobs.push(id);
        }
        self.remember_stale(id);
    }

    fn remember_stale(&mut self, id: LeaseId) {
        if self.stale_leases.len() >= 32 {
            self.stale_leases.swap_remove(0);
        }
        self.stale_leases.push(id);
    }

    // ---- one random step -------------------------------------------------------

    fn step(&mut self) {
        let roll = self.rng.random_range(0..1000u32);
        match roll {
            0..200 => self.acquire(),
            200..290 => self.settle_creation(),
            290..350 => self.take_pending(),
            350..400 => self.drop_waiter_future(),
            400..520 => self.release(),
            520..620 => self.job_submit(),
            620..730 => self.job_finish(),
            730..740 => self.broken(),
            740..810 => self.advance_small(),
            810..890 => self.fire_timer(),
            890..910 => self.jump_past_expiry(),
            910..940 => self.scale_change(),
            940..945 => self.stop(),
            945..965 => self.start(),
            965..985 => self.settle_creation(),
            985..999 => self.stale_inputs(),
            _ => self.quiesce(),
        }
        self.totals.events += 1;
        self.check_invariants();
    }

    fn lease_for_request(&mut self) -> Option<Duration> {
        match self.rng.random_range(0..20) {
            0..10 => None,
            10 => Some(Duration::ZERO),
            11 => Some(Duration::from_nanos(1)),
            _ => Some(Duration::from_millis(self.rng.random_range(1..=60_000))),
        }
    }

    fn acquire(&mut self) {
        let lease = self.lease_for_request();
        let owner: Option<Arc<str>> =
            self.rng.random_ratio(1, 3).then(|| format!("o{}", self.rng.random_range(0..9)).into());
        let queue_full = self.queue.len() >= 3 * self.config.max_pools();
        let wait = match self.rng.random_range(0..10) {
            _ if queue_full => Wait::No,
            0..3 => Wait::No,
            3..5 => Wait::Forever,
            5 => Wait::Until(self.now),
            6 => Wait::Until(self.now.checked_sub(Duration::from_millis(1)).unwrap_or(self.now)),
            _ => Wait::Until(self.now + Duration::from_millis(self.rng.random_range(1..=30_000))),
        };
        let uncovered_before = self.uncovered_ok;
        let request = Acquire { lease_for: lease, owner: owner.clone(), wait };
        let result = self.core.acquire(self.now, request);
        let mut ctx = Ctx::default();
        let effective = lease.unwrap_or(self.config.default_lease_for());
        // The grant comes after any revocation the acquire did first: drain
        // those, then look at the outcome.
        self.drain(&mut ctx);
        match &result {
            _ if !self.running => {
                let want = if self.ever_started { AcquireError::Stopped } else { AcquireError::NotStarted };
                ensure!(result == Err(want), "acquire while stopped: {result:?}")
            }
            _ if lease == Some(Duration::ZERO) => {
                ensure!(
                    matches!(result, Err(AcquireError::InvalidLease(_))),
                    "zero lease accepted: {result:?}"
                )
            }
            Ok(Acquired::Granted(g)) => {
                ensure!(self.ever_leases.insert(g.lease), "lease id {:?} reused", g.lease);
                ensure!(g.leased_at == self.now && g.lease_for == effective, "bad grant timing {g:?}");
                ensure!(g.grace == self.config.lease_grace(), "bad grant grace");
                ensure!(self.lease_on(g.pool).is_none(), "granted {:?}, which is leased", g.pool);
                // Always an idle pool, the oldest: never one being created.
                ensure!(
                    self.available.pop_front() == Some(g.pool),
                    "granted {:?}, not the oldest idle",
                    g.pool
                );
                ensure!(self.live.contains(&g.pool), "granted {:?}, not confirmed created", g.pool);
                self.leases.insert(
                    g.lease,
                    ModelLease { grant: *g, owner, jobs: 0, draining: false, holder: Holder::User },
                );
                self.totals.grants_direct += 1;
                if self.size_provider {
                    self.check_requested();
                }
            }
            Ok(Acquired::Queued(w)) => {
                if let Wait::Until(d) = wait {
                    ensure!(d > self.now, "acquire with a past deadline queued");
                }
                ensure!(self.ever_waiters.insert(*w), "waiter id {w:?} reused");
                let deadline = match wait {
                    Wait::Until(d) => Some(d),
                    _ => None,
                };
                self.queue.push_back(ModelWaiter { id: *w, deadline, lease: effective, owner });
                self.totals.queued += 1;
                // Every waiter has a pool coming, or max_pools is reached.
                ensure!(
                    self.queue.len() <= self.in_flight.len()
                        || self.core.total_count() == self.config.max_pools(),
                    "{} waiters, {} creations in flight, total {} below max",
                    self.queue.len(),
                    self.in_flight.len(),
                    self.core.total_count()
                );
                // A no-wait acquire waits only for a pool coming for it.
                if wait == Wait::No && !uncovered_before {
                    ensure!(
                        self.queue.len() <= self.in_flight.len(),
                        "no-wait acquire queued with no pool coming"
                    );
                }
                self.uncovered_ok = false;
            }
            Err(AcquireError::Unavailable) => {
                ensure!(wait == Wait::No, "Unavailable for a waiting acquire");
                ensure!(
                    self.core.available_count() == 0
                        && self.core.total_count() == self.config.max_pools()
                        && self.queue.len() >= self.in_flight.len(),
                    "Unavailable while a pool was free or creatable"
                );
            }
            Err(AcquireError::Timeout) => {
                ensure!(matches!(wait, Wait::Until(d) if d <= self.now), "Timeout for {wait:?}");
                ensure!(self.core.available_count() == 0, "Timeout while a pool was free");
            }
            Err(e) => panic!("invariant violated: acquire failed with {e:?}"),
        }
        if self.running && !matches!(result, Err(AcquireError::InvalidLease(_))) {
            // Hard-expired leases were revoked first (an invalid request is
            // refused before anything else happens).
            self.ensure_nothing_expired();
        }
    }

    fn pending(&self) -> Vec<(LeaseId, WaiterId)> {
        self.leases
            .iter()
            .filter_map(|(id, l)| match l.holder {
                Holder::Pending(w) => Some((*id, w)),
                Holder::User => None,
            })
            .collect()
    }

    fn held(&self, draining: Option<bool>) -> Vec<LeaseId> {
        self.leases
            .iter()
            .filter(|(_, l)| l.holder == Holder::User && draining.is_none_or(|d| l.draining == d))
            .map(|(id, _)| *id)
            .collect()
    }

    fn take_pending(&mut self) {
        let pending = self.pending();
        if let Some((lease, _)) = pick(&mut self.rng, &pending) {
            self.leases.get_mut(&lease).expect("pending lease").holder = Holder::User;
        }
        self.check_quiet();
    }

    /// An acquire future is dropped: cancel it if still queued, or give back
    /// the grant it never picked up.
    fn drop_waiter_future(&mut self) {
        let pending = self.pending();
        if !self.queue.is_empty() && (pending.is_empty() || self.rng.random_bool(0.5)) {
            let i = self.rng.random_range(0..self.queue.len());
            let w = self.queue.remove(i).expect("queued waiter");
            let now = self.now;
            ensure!(
                self.core.cancel_waiter(now, w.id) == Ok(()),
                "cancel_waiter({:?}) refused a queued waiter",
                w.id
            );
            ensure!(
                self.core.cancel_waiter(now, w.id) == Err(WaiterError::Ended),
                "cancel_waiter twice accepted"
            );
            ensure!(self.ended_waiters.insert(w.id), "{:?} ended twice", w.id);
            self.stale_waiters.push(w.id);
            self.totals.cancelled += 1;
            self.check_quiet();
        } else if let Some((lease, waiter)) = pick(&mut self.rng, &pending) {
            ensure!(
                self.core.cancel_waiter(self.now, waiter) == Err(WaiterError::Ended),
                "cancel_waiter accepted a granted waiter"
            );
            self.totals.handed_back += 1;
            self.release_lease(lease, false);
        }
    }

    fn release(&mut self) {
        let held = self.held(None);
        if let Some(lease) = pick(&mut self.rng, &held) {
            // Now and then the driver counts jobs itself: a lease it reported
            // nothing for is released busy, as if one job were in flight.
            let busy = self.leases[&lease].jobs == 0 && self.rng.random_ratio(1, 4);
            self.release_lease(lease, busy);
        }
    }

    /// How a lease ends now, as the spec states it: past hard expiry it
    /// expires; otherwise its pool goes to the first waiter still in time,
    /// or is kept while this run's total stays within the desired count,
    /// or is shut down.
    fn expected_end(&self, lease: LeaseId) -> LeaseEnd {
        let l = &self.leases[&lease];
        if self.now >= l.grant.hard_expires_at() {
            return LeaseEnd::Expired;
        }
        // This run's pools only: disowned creations are not kept in its count.
        let total_after = self.core.total_count() - self.disowned.len() - 1;
        // Waiters past their deadline time out first; the pool goes to the
        // first one still waiting.
        let live_waiter = self.queue.iter().any(|w| w.deadline.is_none_or(|d| d > self.now));
        LeaseEnd::Released(if live_waiter {
            PoolFate::HandedOff
        } else if total_after < self.core.desired_executor_count() {
            PoolFate::Kept
        } else {
            PoolFate::ShutDown
        })
    }

    /// Releases `lease`; `busy` (only for a lease with no reported job):
    /// through `release_busy`, as a driver that counts jobs itself does.
    fn release_lease(&mut self, lease: LeaseId, busy: bool) {
        let l = &self.leases[&lease];
        let (mut jobs, hard, draining) = (l.jobs, l.grant.hard_expires_at(), l.draining);
        let mut ctx = Ctx::default();
        let expired = self.now >= hard;
        if busy && !draining {
            jobs = 1;
        }
        let want = if draining {
            Ok(Released::Draining { jobs })
        } else if jobs == 0 || expired {
            ctx.expect_end = Some((lease, self.expected_end(lease)));
            Ok(Released::Ended)
        } else {
            Ok(Released::Draining { jobs })
        };
        let outcome =
            if busy { self.core.release_busy(self.now, lease) } else { self.core.release(self.now, lease) };
        ensure!(
            outcome == want,
            "release gave {outcome:?}, spec says {want:?} (jobs {jobs}, expired {expired})"
        );
        if outcome == Ok(Released::Draining { jobs }) {
            let l = self.leases.get_mut(&lease).expect("lease");
            (l.jobs, l.draining) = (jobs, true);
        }
        self.drain(&mut ctx);
        if outcome == Ok(Released::Ended) {
            ensure!(!self.leases.contains_key(&lease), "{lease:?} ended but still held");
        }
        let again =
            if busy { self.core.release_busy(self.now, lease) } else { self.core.release(self.now, lease) };
        let want_again = match outcome {
            Ok(Released::Draining { jobs }) => Ok(Released::Draining { jobs }),
            _ => Err(LeaseError::Ended),
        };
        ensure!(again == want_again, "release is not idempotent: {again:?}");
        self.check_quiet();
    }

    fn job_submit(&mut self) {
        let held = self.held(None);
        let Some(lease) = pick(&mut self.rng, &held) else { return self.check_quiet() };
        let l = &self.leases[&lease];
        let (draining, hard, pool) = (l.draining, l.grant.hard_expires_at(), l.grant.pool);
        let result = self.core.job_submitted(self.now, lease);
        let mut ctx = Ctx::default();
        if draining {
            ensure!(result == Err(LeaseError::Released), "submit on a draining lease gave {result:?}");
        } else if self.now >= hard {
            ensure!(result == Err(LeaseError::Expired), "submit past hard expiry gave {result:?}");
            ctx.expect_end = Some((lease, LeaseEnd::Expired));
            self.totals.revoked_on_submit += 1;
        } else {
            ensure!(result == Ok(pool), "submit gave {result:?}, expected Ok({pool:?})");
            self.leases.get_mut(&lease).expect("lease").jobs += 1;
        }
        self.drain(&mut ctx);
        if result == Err(LeaseError::Expired) {
            ensure!(!self.leases.contains_key(&lease), "expired lease {lease:?} not revoked on submit");
        }
        if result.is_ok() {
            ensure!(self.now < hard, "a hard-expired lease accepted a job");
        }
    }

    fn job_finish(&mut self) {
        if !self.orphan_jobs.is_empty() && self.rng.random_ratio(1, 4) {
            let i = self.rng.random_range(0..self.orphan_jobs.len());
            let lease = self.orphan_jobs.swap_remove(i);
            ensure!(
                self.core.job_finished(self.now, lease) == Err(LeaseError::Ended),
                "job_finished on a gone lease did something"
            );
            return self.check_quiet();
        }
        let busy: Vec<LeaseId> = self.leases.iter().filter(|(_, l)| l.jobs > 0).map(|(id, _)| *id).collect();
        let Some(lease) = pick(&mut self.rng, &busy) else { return self.check_quiet() };
        self.finish_one(lease);
    }

    /// A job submitted through a lease finds its pool broken (or an idle pool
    /// is found broken).
    fn broken(&mut self) {
        let held = self.held(Some(false));
        let pool = if !held.is_empty() && self.rng.random_bool(0.7) {
            let lease = pick(&mut self.rng, &held).expect("held lease");
            let l = &self.leases[&lease];
            if self.now >= l.grant.hard_expires_at() {
                return self.job_submit_specific(lease);
            }
            let pool = l.grant.pool;
            ensure!(self.core.job_submitted(self.now, lease) == Ok(pool), "submit before broken");
            self.leases.get_mut(&lease).expect("lease").jobs += 1;
            pool
        } else {
            let live: Vec<PoolId> = self.live.iter().copied().collect();
            let Some(pool) = pick(&mut self.rng, &live) else { return self.check_quiet() };
            pool
        };
        let mut ctx = Ctx { broken: Some(pool), ..Ctx::default() };
        if let Some(lease) = self.lease_on(pool) {
            ctx.expect_end = Some((lease, LeaseEnd::PoolBroken));
        }
        ensure!(self.core.pool_broken(self.now, pool) == Ok(()), "pool_broken({pool:?}) refused");
        self.totals.broken += 1;
        // The first pool lost since the last check is replaced at once;
        // after that, replacements wait for the next check.
        let replaced_at_once = !self.paused;
        self.paused = true;
        self.short_of_min = true;
        self.drain(&mut ctx);
        if replaced_at_once {
            let (total, desired) = (self.core.total_count(), self.core.desired_executor_count());
            ensure!(
                total >= desired,
                "broken {pool:?} not replaced at once: total {total} < desired {desired}"
            );
        }
        ensure!(
            self.core.pool_broken(self.now, pool) == Err(PoolError::Unknown),
            "a retired pool is known again"
        );
        ensure!(!self.live.contains(&pool), "broken pool still live");
    }

    fn job_submit_specific(&mut self, lease: LeaseId) {
        ensure!(self.core.job_submitted(self.now, lease) == Err(LeaseError::Expired), "expired submit");
        self.totals.revoked_on_submit += 1;
        self.drain(&mut Ctx { expect_end: Some((lease, LeaseEnd::Expired)), ..Ctx::default() });
        ensure!(!self.leases.contains_key(&lease), "expired lease not revoked");
    }

    fn advance_small(&mut self) {
        self.now += Duration::from_millis(self.rng.random_range(0..=2_000));
        self.check_quiet();
    }

    /// The driver's timer fires: on time (jump to `poll_timeout`), late, or
    /// early (a spurious wake-up).
    fn fire_timer(&mut self) {
        let Some(at) = self.core.poll_timeout() else {
            ensure!(!self.running, "running core with no timeout");
            let now = self.now;
            self.core.handle_timeout(now);
            ensure!(self.core.check_due(now).is_none(), "stopped core has a check due");
            return self.check_quiet();
        };
        match self.rng.random_range(0..10) {
            0..6 => self.now = self.now.max(at),
            6..8 => self.now = self.now.max(at) + Duration::from_millis(self.rng.random_range(0..=5_000)),
            _ => {} // possibly early
        }
        self.handle_timeout();
    }

    /// The timer rule: `handle_timeout`, then a check if `check_due` says
    /// one is due, with the units read for it (sometimes a notification
    /// arrives while they are read: the ticket is stale).
    fn handle_timeout(&mut self) {
        let now = self.now;
        self.core.handle_timeout(now);
        let mut ctx = Ctx::default();
        self.drain(&mut ctx);
        if self.running {
            self.ensure_nothing_expired();
            ensure!(
                self.queue.iter().all(|w| w.deadline.is_none_or(|d| d > now)),
                "a waiter past its deadline survived handle_timeout"
            );
        }
        let due_model = self.running && self.next_check.is_some_and(|c| c <= now);
        let due = self.core.check_due(now);
        ensure!(due.is_some() == due_model, "check due: core {:?}, model {due_model}", due.is_some());
        let Some(due) = due else { return };
        let ticket = self.check_requests;
        let units = self.units;
        if self.rng.random_ratio(1, 8) {
            // The signal changes while the size provider is read.
            self.units = self.random_units();
            self.core.notify_scale_changed(now);
            self.check_requested();
        }
        self.core.handle_units(now, due, units);
        self.totals.checks += 1;
        ensure!(self.core.units() == units, "check did not record units");
        let mut ctx = Ctx { check_ran: true, ..Ctx::default() };
        self.drain(&mut ctx);
        let stale = self.check_requests != ticket;
        self.next_check = Some(if stale { now } else { now + self.config.check_interval() });
        if stale {
            self.totals.stale_checks += 1;
        }
        self.short_of_min = false;
        self.paused = false;
        self.uncovered_ok = false;
        // This run's pools (disowned creations only wait to be shut down).
        let total = self.core.total_count() - self.disowned.len();
        let desired = self.core.desired_executor_count();
        let room = self.config.max_pools() - self.disowned.len();
        ensure!(total >= desired.min(room), "after a check total {total} < desired {desired} (room {room})");
        ensure!(
            total <= desired || self.core.available_count() == 0,
            "after a check idle pools remain above desired"
        );
        if !stale {
            // The ticket is used up: handing it in again does nothing.
            self.core.handle_units(now, due, units.wrapping_add(1));
            ensure!(self.core.units() == units, "a used ticket ran a check again");
            self.check_quiet();
        }
    }

    fn jump_past_expiry(&mut self) {
        let hard: Vec<Instant> = self.leases.values().map(|l| l.grant.hard_expires_at()).collect();
        if let Some(at) = pick(&mut self.rng, &hard) {
            self.now = self.now.max(at) + Duration::from_millis(self.rng.random_range(0..=1_000));
        }
        self.check_quiet();
    }

    fn random_units(&mut self) -> u64 {
        let span = self.config.units_per_pool() * (self.config.max_pools() as u64 + 2);
        match self.rng.random_range(0..10) {
            0 => 0,
            1 => u64::MAX,
            _ => self.rng.random_range(0..=span),
        }
    }

    fn scale_change(&mut self) {
        self.units = self.random_units();
        self.core.notify_scale_changed(self.now);
        if self.running {
            self.check_requested();
            ensure!(
                self.core.poll_timeout().is_some_and(|t| t <= self.now),
                "scale change did not make a check due"
            );
        }
        self.check_quiet();
        if self.rng.random_bool(0.5) {
            self.handle_timeout();
        }
    }

    fn stop(&mut self) {
        let was = self.running;
        let mut ctx = Ctx { stopping: true, ..Ctx::default() };
        let result = self.core.stop(self.now);
        ensure!(result.is_ok() == was, "stop gave {result:?} while running={was}");
        self.running = false;
        self.next_check = None;
        self.drain(&mut ctx);
        // Creations in flight are disowned: shut down once confirmed.
        self.disowned.append(&mut self.in_flight);
        if was {
            self.totals.stops += 1;
        }
        ensure!(
            self.live.is_empty() && self.leases.is_empty() && self.queue.is_empty(),
            "stop left state behind"
        );
    }

    fn start(&mut self) {
        let was = self.running;
        let units = self.units;
        let result = self.core.start(self.now, units);
        ensure!(result.is_ok() != was, "start gave {result:?} while running={was}");
        let mut ctx = Ctx::default();
        if result.is_ok() {
            self.running = true;
            self.ever_started = true;
            self.paused = false;
            self.short_of_min = false;
            self.uncovered_ok = false;
            self.next_check = Some(self.now + self.config.check_interval());
        }
        self.drain(&mut ctx);
        if result.is_err() {
            return;
        }
        // Up to the desired count, within the room that creations disowned
        // by an earlier stop still hold under max_pools.
        let room = self.config.max_pools() - self.disowned.len();
        let want = self.config.desired_executor_count(units).min(room);
        ensure!(
            self.in_flight.len() == want && self.core.total_count() == want + self.disowned.len(),
            "start asked for {} pools, desired {} (room {room})",
            self.in_flight.len(),
            self.config.desired_executor_count(units)
        );
        if self.rng.random_bool(0.5) {
            // An all-or-nothing driver: it performs the start's creations at
            // once, and stops if one fails.
            let mut failed = false;
            while let Some(pool) = self.in_flight.pop() {
                if self.fail_creates && self.rng.random_ratio(1, 40) {
                    self.in_flight.push(pool);
                    failed = true;
                    break;
                }
                self.core.pool_created(self.now, pool);
                self.live.insert(pool);
                self.available.push_back(pool);
                self.totals.creations_confirmed += 1;
                self.drain(&mut Ctx::default());
            }
            if failed {
                let pool = self.in_flight.pop().expect("the failed creation");
                self.core.pool_create_failed(self.now, pool);
                self.totals.create_failures += 1;
                self.totals.start_failures += 1;
                self.check_quiet();
                self.stop();
                ensure!(
                    !self.core.is_running() && self.core.total_count() == self.disowned.len(),
                    "failed start left pools"
                );
            }
        }
    }

    /// Inputs naming things that no longer exist.
    fn stale_inputs(&mut self) {
        let now = self.now;
        if let Some(lease) = pick(&mut self.rng, &self.stale_leases.clone()) {
            if !self.leases.contains_key(&lease) {
                ensure!(self.core.release(now, lease) == Err(LeaseError::Ended), "stale release");
                ensure!(self.core.release_busy(now, lease) == Err(LeaseError::Ended), "stale release_busy");
                ensure!(self.core.job_submitted(now, lease) == Err(LeaseError::Ended), "stale submit");
                ensure!(self.core.job_finished(now, lease) == Err(LeaseError::Ended), "stale job_finished");
                ensure!(self.core.lease_owner(lease).is_none(), "stale lease_owner");
            }
        }
        if let Some(w) = pick(&mut self.rng, &self.stale_waiters.clone()) {
            ensure!(
                self.core.cancel_waiter(now, w) == Err(WaiterError::Ended),
                "stale cancel_waiter accepted"
            );
        }
        // A pool shut down (or never confirmed) is not live.
        let dead: Vec<PoolId> =
            self.ever_pools.iter().filter(|p| !self.live.contains(p)).copied().take(8).collect();
        if let Some(pool) = pick(&mut self.rng, &dead) {
            ensure!(self.core.pool_broken(now, pool) == Err(PoolError::Unknown), "dead pool_broken accepted");
        }
        self.check_quiet();
    }

    /// Settles every creation, releases everything, settles the scale and
    /// runs one check: then exactly `desired` pools exist and all are idle.
    fn quiesce(&mut self) {
        self.totals.quiescences += 1;
        self.fail_creates = false;
        if !self.running {
            self.start();
        }
        self.settle_all();
        while let Some(w) = self.queue.pop_front() {
            ensure!(self.core.cancel_waiter(self.now, w.id) == Ok(()), "quiesce: cancel {:?}", w.id);
            ensure!(self.ended_waiters.insert(w.id), "{:?} ended twice", w.id);
        }
        let ids: Vec<LeaseId> = self.leases.keys().copied().collect();
        for id in ids {
            if !self.leases.contains_key(&id) {
                continue; // revoked meanwhile
            }
            if self.rng.random_bool(0.5) {
                while self.leases.get(&id).is_some_and(|l| l.jobs > 0) {
                    self.finish_one(id);
                }
                if self.leases.contains_key(&id) {
                    self.release_lease(id, false); // not already ended by its last job
                }
            } else {
                self.release_lease(id, false);
                while self.leases.contains_key(&id) {
                    self.finish_one(id);
                }
            }
            self.check_invariants();
        }
        for lease in std::mem::take(&mut self.orphan_jobs) {
            ensure!(
                self.core.job_finished(self.now, lease) == Err(LeaseError::Ended),
                "orphan job_finished did something"
            );
        }
        ensure!(self.leases.is_empty() && self.queue.is_empty(), "quiesce left leases or waiters");
        // Creations asked for by the releases are confirmed first: a check
        // shrinks idle pools only, never a creation in flight.
        self.settle_all();
        self.units = self.random_units();
        self.core.notify_scale_changed(self.now);
        self.check_requested();
        // (A check whose units went stale runs again at once: settle what
        // the first one asked for before the next.)
        while self.core.check_due(self.now).is_some() {
            self.handle_timeout();
            self.settle_all();
        }
        let desired = self.config.desired_executor_count(self.units);
        ensure!(
            self.core.desired_executor_count() == desired,
            "desired {} != {desired}",
            self.core.desired_executor_count()
        );
        ensure!(
            self.core.total_count() == desired,
            "quiescent total {} != desired {desired}",
            self.core.total_count()
        );
        ensure!(self.core.available_count() == self.core.total_count(), "quiescent pools not all idle");
        ensure!(self.live.len() == desired, "driver sees {} live pools, desired {desired}", self.live.len());
        ensure!(
            self.ever_leases.len() == self.ended_leases.len(),
            "{} leases granted, {} ended",
            self.ever_leases.len(),
            self.ended_leases.len()
        );
        self.fail_creates = true;
    }

    fn finish_one(&mut self, id: LeaseId) {
        let l = &self.leases[&id];
        let (jobs, draining) = (l.jobs, l.draining);
        let mut ctx = Ctx::default();
        if draining && jobs == 1 {
            ctx.expect_end = Some((id, self.expected_end(id)));
        }
        let result = self.core.job_finished(self.now, id);
        ensure!(result == Ok(()), "job_finished gave {result:?}");
        if ctx.expect_end.is_none() {
            self.leases.get_mut(&id).expect("lease").jobs -= 1;
        }
        self.drain(&mut ctx);
        if ctx.expect_end.is_some() {
            ensure!(!self.leases.contains_key(&id), "{id:?} drained its last job but did not end");
        }
    }

    /// A step that performs no input must leave no action behind.
    fn check_quiet(&mut self) {
        ensure!(self.core.poll_action().is_none(), "an action appeared without an input");
    }

    fn ensure_nothing_expired(&self) {
        for (id, l) in &self.leases {
            ensure!(self.now < l.grant.hard_expires_at(), "{id:?} is past hard expiry but not revoked");
        }
    }

    // ---- invariants, after every step ---------------------------------------

    fn check_invariants(&mut self) {
        self.totals.invariant_checks += 1;
        ensure!(self.core.poll_action().is_none(), "undrained actions after a step");
        let core = &self.core;
        let max = self.config.max_pools();
        let (available, leased, creating, total) =
            (core.available_count(), core.leased_count(), core.creating_count(), core.total_count());
        ensure!(
            core.is_running() == self.running,
            "running flag: core {}, model {}",
            core.is_running(),
            self.running
        );
        ensure!(
            total == available + leased + creating,
            "total {total} != {available} + {leased} + {creating}"
        );
        ensure!(total <= max, "total {total} > max_pools {max}");
        ensure!(
            creating == self.in_flight.len() + self.disowned.len(),
            "core creating {creating}, driver has {} + {} disowned in flight",
            self.in_flight.len(),
            self.disowned.len()
        );
        ensure!(
            self.live.len() + self.in_flight.len() + self.disowned.len() <= max,
            "more than max_pools pools exist or are being created"
        );
        ensure!(
            self.live.len() == available + leased,
            "driver has {} live pools, core counts {available} + {leased}",
            self.live.len()
        );
        ensure!(
            self.leases.len() == leased,
            "driver holds {} leases, core counts {leased}",
            self.leases.len()
        );
        ensure!(
            core.desired_executor_count() == self.config.desired_executor_count(core.units()),
            "desired_executor_count off the rule"
        );

        // Leases: the same set, on distinct live pools, with the same state.
        let stats = core.stats(self.now);
        ensure!(stats.creating == creating && stats.total == total, "stats counts");
        ensure!(stats.leases.len() == self.leases.len(), "stats lease count");
        let mut pools = HashSet::new();
        for (s, (id, m)) in stats.leases.iter().zip(&self.leases) {
            ensure!(s.id == *id, "lease {:?} in core, {id:?} in model", s.id);
            ensure!(s.pool == m.grant.pool, "{id:?} on {:?} in core, {:?} in model", s.pool, m.grant.pool);
            ensure!(self.live.contains(&s.pool), "{id:?} leases {:?}, which is not live", s.pool);
            ensure!(pools.insert(s.pool), "{:?} leased twice", s.pool);
            ensure!(s.jobs == m.jobs && s.draining == m.draining, "{id:?} jobs/draining differ");
            ensure!(s.owner == m.owner, "{id:?} owner differs");
            ensure!(s.leased_at == m.grant.leased_at && s.lease_for == m.grant.lease_for, "timing");
            ensure!(
                s.hard_remaining == m.grant.hard_expires_at().saturating_duration_since(self.now)
                    && s.soft_remaining == m.grant.soft_expires_at().saturating_duration_since(self.now),
                "{id:?} remaining times"
            );
        }
        // So available = live - leased, and no pool is both.
        ensure!(self.live.len() - pools.len() == available, "available pools differ");
        ensure!(
            self.available.len() == available,
            "driver sees {} idle pools, core {available}",
            self.available.len()
        );
        ensure!(
            self.available.iter().all(|p| self.live.contains(p) && !pools.contains(p)),
            "an idle pool is dead or leased"
        );

        // Waiters: the same queue in the same order, only when nothing is
        // free, and each with a pool coming unless max_pools is reached.
        ensure!(
            core.waiting_count() == self.queue.len(),
            "waiting {} vs {}",
            core.waiting_count(),
            self.queue.len()
        );
        ensure!(core.waiters().eq(self.queue.iter().map(|w| w.id)), "waiter order differs");
        if !self.queue.is_empty() {
            ensure!(available == 0, "waiters wait while a pool is free ({available})");
            ensure!(
                self.uncovered_ok || self.queue.len() <= creating || total == max,
                "{} waiters, {creating} creations in flight, total {total} < max {max}",
                self.queue.len()
            );
        }

        // The desired count (at least the minimum) holds: a pool that leaves is
        // replaced at once, except after a failed creation or a second broken
        // pool, until the next check or the next revocation or finalise.
        if self.running && !self.short_of_min {
            ensure!(total >= self.config.min_pools(), "total {total} below min_pools");
            let desired = core.desired_executor_count();
            ensure!(total >= desired, "total {total} below the desired {desired}");
        }

        // The timer: the earliest of next check, next hard expiry, next deadline.
        if self.running {
            let expiry = self.leases.values().map(|l| l.grant.hard_expires_at()).min();
            let deadline = self.queue.iter().filter_map(|w| w.deadline).min();
            let want = [self.next_check, expiry, deadline].into_iter().flatten().min();
            ensure!(core.poll_timeout() == want, "poll_timeout {:?}, model {want:?}", core.poll_timeout());
        }
        if !self.running {
            ensure!(core.poll_timeout().is_none(), "stopped core has a timeout");
            // Only creations it disowned, until they are confirmed.
            ensure!(
                total == self.disowned.len() && self.queue.is_empty(),
                "stopped core holds pools or waiters"
            );
        }
        // Every lease granted has ended exactly once, or is still held.
        ensure!(
            self.ever_leases.len() == self.ended_leases.len() + self.leases.len(),
            "{} leases granted, {} ended, {} held",
            self.ever_leases.len(),
            self.ended_leases.len(),
            self.leases.len()
        );
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
