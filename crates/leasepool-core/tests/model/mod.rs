//! The simulation model: a driver of `leasepool-core` that performs every
//! action, tracks only what a real driver could know, and checks the
//! invariants after every step. Random inputs come from any `RngCore`: a
//! seeded `StdRng` in `tests/simulation.rs`, fuzzer bytes in `fuzz/`.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leasepool_core::{
    Acquire, AcquireError, Acquired, Action, Config, Core, Finalised, Grant, LeaseId, PoolId, ReleaseOutcome,
    ShutdownReason, SubmitError, Wait, WaiterId,
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
    /// A lease finalised by this step: its id, pool and outcome.
    finalised: Option<(LeaseId, PoolId, Finalised)>,
    finalised_seen: bool,
    /// A pool this step reported broken.
    broken: Option<PoolId>,
    broken_seen: bool,
    /// The lease an acquire in this step granted at once.
    direct: Option<LeaseId>,
    direct_failed: bool,
    create_failed: bool,
    /// A checker pass ran in this step (shrinking is allowed).
    check_ran: bool,
    /// A lease was revoked (its pool shut down as expired) in this step.
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
    pub direct_grants_failed: u64,
    pub kept: u64,
    pub handed_off: u64,
    pub not_kept: u64,
    pub revoked: u64,
    pub revoked_on_submit: u64,
    pub broken: u64,
    pub create_failures: u64,
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
        self.direct_grants_failed += o.direct_grants_failed;
        self.kept += o.kept;
        self.handed_off += o.handed_off;
        self.not_kept += o.not_kept;
        self.revoked += o.revoked;
        self.revoked_on_submit += o.revoked_on_submit;
        self.broken += o.broken;
        self.create_failures += o.create_failures;
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
    live: BTreeSet<PoolId>,
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
        let config = Config::builder()
            .max_pools(max)
            .min_pools(min)
            .units_per_pool(rng.random_range(1..=20))
            .check_interval(Duration::from_millis(rng.random_range(500..=120_000)))
            .default_lease(Duration::from_millis(rng.random_range(1..=60_000)))
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
            live: BTreeSet::new(),
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
            }
        }
        if let Some((lease, pool, outcome)) = ctx.finalised {
            let must_see = matches!(outcome, Finalised::HandedOff | Finalised::ShutDown);
            ensure!(
                ctx.finalised_seen == must_see,
                "lease {lease:?} on {pool:?} finalised {outcome:?}, matching action seen: {}",
                ctx.finalised_seen
            );
        }
        if let Some(pool) = ctx.broken {
            ensure!(ctx.broken_seen, "broken {pool:?} was not shut down");
        }
        // A revocation or a finalise restores the desired count even under
        // the pause (only a pool lost to breaking waits for the check).
        if (ctx.revoked || ctx.finalised.is_some()) && !ctx.create_failed && ctx.broken.is_none() {
            self.short_of_min = false;
        }
    }

    fn on_create(&mut self, pool: PoolId, ctx: &mut Ctx) {
        ensure!(!ctx.stopping, "CreatePool({pool:?}) while stopping");
        ensure!(self.ever_pools.insert(pool), "CreatePool({pool:?}) reuses a pool id");
        if self.fail_creates && self.rng.random_ratio(1, 40) {
            self.totals.create_failures += 1;
            self.paused = true;
            self.short_of_min = true;
            ctx.create_failed = true;
            ensure!(self.core.pool_create_failed(pool, self.now), "pool_create_failed({pool:?}) unknown");
            ensure!(!self.core.pool_create_failed(pool, self.now), "pool_create_failed twice accepted");
            // A lease granted directly by this step's acquire on that pool:
            // the driver fails that acquire itself.
            if let Some(id) = self.lease_on(pool) {
                ensure!(
                    ctx.direct == Some(id),
                    "failed pool {pool:?} was leased by {id:?}, not by this acquire"
                );
                self.forget_lease(id);
                ctx.direct_failed = true;
            }
        } else {
            self.live.insert(pool);
            // Unless it was granted at once by this step's acquire, a new
            // pool is idle until a Grant takes it.
            if self.lease_on(pool).is_none() {
                self.available.push_back(pool);
            }
        }
    }

    fn on_shutdown(&mut self, pool: PoolId, reason: ShutdownReason, ctx: &mut Ctx) {
        ensure!(self.live.remove(&pool), "ShutdownPool({pool:?}, {reason}) of a pool that is not live");
        let leased_by = self.lease_on(pool);
        let idle_at = self.available.iter().position(|&p| p == pool);
        // A finalised lease's pool is neither (the model dropped the lease
        // when the release answered); any other is exactly one of the two.
        let finalised_here = matches!(reason, ShutdownReason::NotKept { .. });
        ensure!(
            finalised_here || idle_at.is_some() != leased_by.is_some(),
            "{pool:?} both idle and leased, or neither"
        );
        if let Some(i) = idle_at {
            self.available.remove(i);
        }
        match reason {
            ShutdownReason::Stopped => {
                ensure!(ctx.stopping, "ShutdownPool Stopped outside stop");
                if let Some(id) = leased_by {
                    self.forget_lease(id);
                }
            }
            ShutdownReason::Expired { lease, owner } => {
                ensure!(!ctx.stopping, "revocation during stop");
                ctx.revoked = true;
                ensure!(
                    leased_by == Some(lease),
                    "revoked {lease:?} but {pool:?} is leased by {leased_by:?}"
                );
                let l = &self.leases[&lease];
                ensure!(self.now >= l.grant.hard_expires_at(), "{lease:?} revoked before its hard expiry");
                ensure!(owner == l.owner, "revoked {lease:?} with owner {owner:?}, model has {:?}", l.owner);
                self.forget_lease(lease);
                self.totals.revoked += 1;
            }
            ShutdownReason::NotKept { lease } => {
                ensure!(leased_by.is_none(), "NotKept {pool:?} is still leased by {leased_by:?}");
                ensure!(idle_at.is_none(), "NotKept {pool:?} is idle");
                ensure!(
                    ctx.finalised == Some((lease, pool, Finalised::ShutDown)) && !ctx.finalised_seen,
                    "unexpected NotKept({lease:?}) of {pool:?}; this step finalised {:?}",
                    ctx.finalised
                );
                ctx.finalised_seen = true;
            }
            ShutdownReason::Broken => {
                ensure!(
                    ctx.broken == Some(pool) && !ctx.broken_seen,
                    "unexpected Broken shutdown of {pool:?}"
                );
                ctx.broken_seen = true;
                if let Some(id) = leased_by {
                    self.forget_lease(id);
                }
            }
            ShutdownReason::Shrink => {
                ensure!(ctx.check_ran, "Shrink outside a checker pass");
                ensure!(
                    idle_at == Some(self.available.len()),
                    "shrink took {pool:?} at {idle_at:?}, not the most recently returned idle pool"
                );
                ensure!(leased_by.is_none(), "shrink shut down {pool:?} leased by {leased_by:?}");
                self.totals.shrinks += 1;
            }
            other => panic!("unknown shutdown reason {other:?}"),
        }
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
        ensure!(self.live.contains(&grant.pool), "Grant of {:?}, which is not live", grant.pool);
        ensure!(self.lease_on(grant.pool).is_none(), "Grant of {:?}, which is already leased", grant.pool);
        let handed_off = matches!(ctx.finalised, Some((_, p, Finalised::HandedOff)) if p == grant.pool);
        if !handed_off {
            ensure!(
                self.available.pop_front() == Some(grant.pool),
                "Grant of {:?}, not the oldest idle pool",
                grant.pool
            );
        }
        ensure!(grant.leased_at == self.now, "grant leased_at is not now");
        ensure!(grant.lease_duration == front.lease, "grant lease duration differs from the request");
        ensure!(grant.grace == self.config.lease_grace(), "grant grace differs from config");
        if let Some((_, pool, Finalised::HandedOff)) = ctx.finalised {
            if pool == grant.pool && !ctx.finalised_seen {
                ctx.finalised_seen = true;
            }
        }
        self.totals.grants_to_waiters += 1;
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
            AcquireError::NotStarted => {
                ensure!(ctx.stopping && pos == 0, "NotStarted for {waiter:?} at {pos} outside stop order");
                self.totals.waiters_failed_on_stop += 1;
            }
            AcquireError::PoolCreationFailed => {
                // Not necessarily first in line: with several pools created in
                // one batch, a later grant can fail before an earlier one is
                // drained.
                ensure!(ctx.create_failed, "PoolCreationFailed for {waiter:?} without a failed creation");
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

    fn on_finalised(&mut self, lease: LeaseId, pool: PoolId, outcome: Finalised, ctx: &mut Ctx) {
        self.leases.remove(&lease).expect("finalising a known lease");
        self.remember_stale(lease);
        ctx.finalised = Some((lease, pool, outcome));
        match outcome {
            Finalised::Kept => {
                self.available.push_back(pool);
                self.totals.kept += 1;
            }
            Finalised::HandedOff => self.totals.handed_off += 1,
            Finalised::ShutDown => self.totals.not_kept += 1,
        }
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
            0..220 => self.acquire(),
            220..300 => self.take_pending(),
            300..360 => self.drop_waiter_future(),
            360..500 => self.release(),
            500..620 => self.job_submit(),
            620..740 => self.job_finish(),
            740..750 => self.broken(),
            750..830 => self.advance_small(),
            830..910 => self.fire_timer(),
            910..930 => self.jump_past_expiry(),
            930..960 => self.scale_change(),
            960..965 => self.stop(),
            965..985 => self.start(),
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
        let request = Acquire { lease, owner: owner.clone(), wait };
        let result = self.core.acquire(self.now, request);
        let mut ctx = Ctx::default();
        let effective = lease.unwrap_or(self.config.default_lease());
        match &result {
            _ if !self.running => {
                ensure!(result == Err(AcquireError::NotStarted), "acquire while stopped: {result:?}")
            }
            _ if lease == Some(Duration::ZERO) => {
                ensure!(
                    matches!(result, Err(AcquireError::InvalidLease(_))),
                    "zero lease accepted: {result:?}"
                )
            }
            Ok(Acquired::Granted(g)) => {
                ensure!(self.ever_leases.insert(g.lease), "lease id {:?} reused", g.lease);
                ensure!(g.leased_at == self.now && g.lease_duration == effective, "bad grant timing {g:?}");
                ensure!(g.grace == self.config.lease_grace(), "bad grant grace");
                ensure!(self.lease_on(g.pool).is_none(), "granted {:?}, which is leased", g.pool);
                // Either the oldest idle pool, or one created for it (its
                // CreatePool is still undrained).
                if self.live.contains(&g.pool) {
                    ensure!(
                        self.available.pop_front() == Some(g.pool),
                        "granted {:?}, not the oldest idle",
                        g.pool
                    );
                } else {
                    ensure!(!self.ever_pools.contains(&g.pool), "granted {:?}, a dead pool", g.pool);
                }
                self.leases.insert(
                    g.lease,
                    ModelLease { grant: *g, owner, jobs: 0, draining: false, holder: Holder::User },
                );
                ctx.direct = Some(g.lease);
                self.totals.grants_direct += 1;
            }
            Ok(Acquired::Queued(w)) => {
                ensure!(wait != Wait::No, "no-wait acquire queued");
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
            }
            Err(AcquireError::Unavailable) => ensure!(wait == Wait::No, "Unavailable for a waiting acquire"),
            Err(AcquireError::Timeout) => {
                ensure!(matches!(wait, Wait::Until(d) if d <= self.now), "Timeout for {wait:?}")
            }
            Err(e) => panic!("invariant violated: acquire failed with {e:?}"),
        }
        self.drain(&mut ctx);
        if ctx.direct_failed {
            // The pool created for this acquire failed: the driver fails the
            // acquire, and the core has already forgotten the lease.
            let lease = ctx.direct.expect("direct grant");
            ensure!(self.core.release(lease, self.now) == ReleaseOutcome::Unknown, "failed grant still live");
            self.totals.direct_grants_failed += 1;
        }
        if self.running && !matches!(result, Err(AcquireError::InvalidLease(_))) {
            // Hard-expired leases were revoked first (an invalid request is
            // refused before anything else happens).
            self.ensure_nothing_expired();
        }
        if matches!(result, Err(AcquireError::Unavailable | AcquireError::Timeout)) {
            // (A pool created for a waiter ahead of it may have failed since.)
            ensure!(
                ctx.create_failed
                    || self.core.available_count() == 0 && self.core.total_count() == self.config.max_pools(),
                "acquire refused while a pool was free or creatable: {ctx:?}"
            );
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
            ensure!(self.core.cancel_waiter(w.id), "cancel_waiter({:?}) refused a queued waiter", w.id);
            ensure!(!self.core.cancel_waiter(w.id), "cancel_waiter twice accepted");
            ensure!(self.ended_waiters.insert(w.id), "{:?} ended twice", w.id);
            self.stale_waiters.push(w.id);
            self.totals.cancelled += 1;
            self.check_quiet();
        } else if let Some((lease, waiter)) = pick(&mut self.rng, &pending) {
            ensure!(!self.core.cancel_waiter(waiter), "cancel_waiter accepted a granted waiter");
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

    /// The finalisation rule, as the spec states it.
    fn expected_finalise(&self, lease: LeaseId) -> Finalised {
        let l = &self.leases[&lease];
        let healthy = self.now < l.grant.hard_expires_at();
        let total_after = self.core.total_count() - 1;
        // Waiters past their deadline time out first; the pool goes to the
        // first one still waiting.
        let live_waiter = self.queue.iter().any(|w| w.deadline.is_none_or(|d| d > self.now));
        if healthy && live_waiter {
            Finalised::HandedOff
        } else if healthy && total_after < self.core.desired_count() {
            Finalised::Kept
        } else {
            Finalised::ShutDown
        }
    }

    /// Releases `lease`; `busy` (only for a lease with no reported job):
    /// through `release_busy`, as a driver that counts jobs itself does.
    fn release_lease(&mut self, lease: LeaseId, busy: bool) {
        let l = &self.leases[&lease];
        let (mut jobs, pool, hard, draining) = (l.jobs, l.grant.pool, l.grant.hard_expires_at(), l.draining);
        let outcome = if busy {
            jobs = 1;
            self.core.release_busy(lease, self.now)
        } else {
            let expected = (jobs == 0).then(|| self.expected_finalise(lease));
            let outcome = self.core.release(lease, self.now);
            if let Some(want) = expected {
                ensure!(
                    outcome == ReleaseOutcome::Finalised(want),
                    "release gave {outcome:?}, spec says {want:?}"
                );
            }
            outcome
        };
        let mut ctx = Ctx::default();
        if jobs > 0 && self.now >= hard && !draining {
            ensure!(
                outcome == ReleaseOutcome::Revoked,
                "release past hard expiry with jobs gave {outcome:?}"
            );
        } else if jobs > 0 {
            ensure!(
                outcome == ReleaseOutcome::Draining { jobs },
                "release with {jobs} jobs gave {outcome:?}"
            );
            let l = self.leases.get_mut(&lease).expect("lease");
            (l.jobs, l.draining) = (jobs, true);
        } else if let ReleaseOutcome::Finalised(want) = outcome {
            self.on_finalised(lease, pool, want, &mut ctx);
        }
        self.drain(&mut ctx);
        if outcome == ReleaseOutcome::Revoked {
            ensure!(!self.leases.contains_key(&lease), "{lease:?} not revoked on release");
        }
        let again =
            if busy { self.core.release_busy(lease, self.now) } else { self.core.release(lease, self.now) };
        ensure!(again == outcome_again(outcome), "release is not idempotent");
        self.drain(&mut Ctx::default());
    }

    fn job_submit(&mut self) {
        let held = self.held(None);
        let Some(lease) = pick(&mut self.rng, &held) else { return self.check_quiet() };
        let l = &self.leases[&lease];
        let (draining, hard, pool) = (l.draining, l.grant.hard_expires_at(), l.grant.pool);
        let result = self.core.job_submitted(lease, self.now);
        let mut ctx = Ctx::default();
        if draining {
            ensure!(result == Err(SubmitError::Released), "submit on a draining lease gave {result:?}");
        } else if self.now >= hard {
            ensure!(result == Err(SubmitError::Expired), "submit past hard expiry gave {result:?}");
            self.totals.revoked_on_submit += 1;
            // The drain must show its revocation.
        } else {
            ensure!(result == Ok(pool), "submit gave {result:?}, expected Ok({pool:?})");
            self.leases.get_mut(&lease).expect("lease").jobs += 1;
        }
        self.drain(&mut ctx);
        if result == Err(SubmitError::Expired) {
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
                self.core.job_finished(lease, self.now).is_none(),
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
            ensure!(self.core.job_submitted(lease, self.now) == Ok(l.grant.pool), "submit before broken");
            let pool = l.grant.pool;
            self.leases.get_mut(&lease).expect("lease").jobs += 1;
            pool
        } else {
            let live: Vec<PoolId> = self.live.iter().copied().collect();
            let Some(pool) = pick(&mut self.rng, &live) else { return self.check_quiet() };
            pool
        };
        let mut ctx = Ctx { broken: Some(pool), ..Ctx::default() };
        ensure!(self.core.pool_broken(pool, self.now), "pool_broken({pool:?}) unknown");
        self.totals.broken += 1;
        // The first pool lost since the last check is replaced at once;
        // after that, replacements wait for the next check.
        let replaced_at_once = !self.paused;
        self.paused = true;
        self.short_of_min = true;
        self.drain(&mut ctx);
        if replaced_at_once && !ctx.create_failed {
            let (total, desired) = (self.core.total_count(), self.core.desired_count());
            ensure!(
                total >= desired,
                "broken {pool:?} not replaced at once: total {total} < desired {desired}"
            );
        }
        ensure!(!self.core.pool_broken(pool, self.now), "a retired pool is known again");
        ensure!(!self.live.contains(&pool), "broken pool still live");
    }

    fn job_submit_specific(&mut self, lease: LeaseId) {
        ensure!(self.core.job_submitted(lease, self.now) == Err(SubmitError::Expired), "expired submit");
        self.totals.revoked_on_submit += 1;
        self.drain(&mut Ctx::default());
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
            self.core.handle_timeout(now, || panic!("stopped core sampled units"));
            return self.check_quiet();
        };
        match self.rng.random_range(0..10) {
            0..6 => self.now = self.now.max(at),
            6..8 => self.now = self.now.max(at) + Duration::from_millis(self.rng.random_range(0..=5_000)),
            _ => {} // possibly early
        }
        self.handle_timeout();
    }

    fn handle_timeout(&mut self) {
        let now = self.now;
        let due = self.running && self.next_check.is_some_and(|c| c <= now);
        let units = self.units;
        let mut sampled = false;
        self.core.handle_timeout(now, || {
            sampled = true;
            units
        });
        ensure!(sampled == due, "units sampled: {sampled}, check due: {due}");
        let mut ctx = Ctx { check_ran: due, ..Ctx::default() };
        if due {
            self.next_check = Some(now + self.config.check_interval());
            self.totals.checks += 1;
            ensure!(self.core.units() == units, "check did not record units");
        }
        self.drain(&mut ctx);
        if self.running {
            self.ensure_nothing_expired();
            ensure!(
                self.queue.iter().all(|w| w.deadline.is_none_or(|d| d > now)),
                "a waiter past its deadline survived handle_timeout"
            );
            if due {
                self.short_of_min = ctx.create_failed;
                self.paused = ctx.create_failed;
                let (total, desired) = (self.core.total_count(), self.core.desired_count());
                ensure!(
                    total >= desired || ctx.create_failed,
                    "after a check total {total} < desired {desired}"
                );
                ensure!(
                    total <= desired || self.core.available_count() == 0,
                    "after a check idle pools remain above desired"
                );
            }
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
            self.next_check = self.next_check.map(|c| c.min(self.now));
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
        ensure!(self.core.stop(self.now) == was, "stop returned the wrong flag");
        self.running = false;
        self.next_check = None;
        self.drain(&mut ctx);
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
        let started = self.core.start(self.now, units);
        ensure!(started != was, "start returned {started} while running={was}");
        let mut ctx = Ctx::default();
        if started {
            self.running = true;
            self.paused = false;
            self.short_of_min = false;
            self.next_check = Some(self.now + self.config.check_interval());
        }
        self.drain(&mut ctx);
        if started && ctx.create_failed {
            // Start failed: tear down what it created.
            self.totals.start_failures += 1;
            self.stop();
            ensure!(!self.core.is_running() && self.core.total_count() == 0, "failed start left pools");
        } else if started {
            ensure!(
                self.core.total_count() == self.config.desired_pools(units),
                "start created {} pools, desired {}",
                self.core.total_count(),
                self.config.desired_pools(units)
            );
        }
    }

    /// Inputs naming things that no longer exist.
    fn stale_inputs(&mut self) {
        if let Some(lease) = pick(&mut self.rng, &self.stale_leases.clone()) {
            if !self.leases.contains_key(&lease) {
                ensure!(self.core.release(lease, self.now) == ReleaseOutcome::Unknown, "stale release");
                ensure!(
                    self.core.job_submitted(lease, self.now) == Err(SubmitError::Unknown),
                    "stale submit"
                );
                ensure!(self.core.job_finished(lease, self.now).is_none(), "stale job_finished");
            }
        }
        if let Some(w) = pick(&mut self.rng, &self.stale_waiters.clone()) {
            ensure!(!self.core.cancel_waiter(w), "stale cancel_waiter accepted");
        }
        let dead = PoolId::from_seq(u64::MAX);
        ensure!(!self.core.pool_broken(dead, self.now), "unknown pool_broken accepted");
        ensure!(!self.core.pool_create_failed(dead, self.now), "unknown pool_create_failed accepted");
        self.check_quiet();
    }

    /// Releases everything, settles the scale and runs one check: then
    /// exactly `desired` pools exist and all are idle.
    fn quiesce(&mut self) {
        self.totals.quiescences += 1;
        self.fail_creates = false;
        if !self.running {
            self.start();
        }
        while let Some(w) = self.queue.pop_front() {
            ensure!(self.core.cancel_waiter(w.id), "quiesce: cancel {:?}", w.id);
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
                    self.release_lease(id, false); // not already finalised by its last job
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
            ensure!(self.core.job_finished(lease, self.now).is_none(), "orphan job_finished did something");
        }
        ensure!(self.leases.is_empty() && self.queue.is_empty(), "quiesce left leases or waiters");
        self.units = self.random_units();
        self.core.notify_scale_changed(self.now);
        self.next_check = Some(self.now);
        self.handle_timeout();
        let desired = self.config.desired_pools(self.units);
        ensure!(self.core.desired_count() == desired, "desired {} != {desired}", self.core.desired_count());
        ensure!(
            self.core.total_count() == desired,
            "quiescent total {} != desired {desired}",
            self.core.total_count()
        );
        ensure!(self.core.available_count() == self.core.total_count(), "quiescent pools not all idle");
        ensure!(self.live.len() == desired, "driver sees {} live pools, desired {desired}", self.live.len());
        self.fail_creates = true;
    }

    fn finish_one(&mut self, id: LeaseId) {
        let l = &self.leases[&id];
        let (jobs, draining, pool) = (l.jobs, l.draining, l.grant.pool);
        let expected = (draining && jobs == 1).then(|| self.expected_finalise(id));
        let result = self.core.job_finished(id, self.now);
        ensure!(result == expected, "job_finished gave {result:?}, expected {expected:?}");
        let mut ctx = Ctx::default();
        if let Some(outcome) = result {
            self.on_finalised(id, pool, outcome, &mut ctx);
        } else {
            self.leases.get_mut(&id).expect("lease").jobs -= 1;
        }
        self.drain(&mut ctx);
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
        let (available, leased, total) = (core.available_count(), core.leased_count(), core.total_count());
        ensure!(
            core.is_running() == self.running,
            "running flag: core {}, model {}",
            core.is_running(),
            self.running
        );
        ensure!(total == available + leased, "total {total} != {available} + {leased}");
        ensure!(total <= max, "total {total} > max_pools {max}");
        ensure!(self.live.len() == total, "driver has {} live pools, core counts {total}", self.live.len());
        ensure!(
            self.leases.len() == leased,
            "driver holds {} leases, core counts {leased}",
            self.leases.len()
        );
        ensure!(
            core.desired_count() == self.config.desired_pools(core.units()),
            "desired_count off the rule"
        );

        // Leases: the same set, on distinct live pools, with the same state.
        let stats = core.stats(self.now);
        ensure!(stats.leases.len() == self.leases.len(), "stats lease count");
        let mut pools = HashSet::new();
        for (s, (id, m)) in stats.leases.iter().zip(&self.leases) {
            ensure!(s.id == *id, "lease {:?} in core, {id:?} in model", s.id);
            ensure!(s.pool == m.grant.pool, "{id:?} on {:?} in core, {:?} in model", s.pool, m.grant.pool);
            ensure!(self.live.contains(&s.pool), "{id:?} leases {:?}, which is not live", s.pool);
            ensure!(pools.insert(s.pool), "{:?} leased twice", s.pool);
            ensure!(s.jobs == m.jobs && s.draining == m.draining, "{id:?} jobs/draining differ");
            ensure!(s.owner == m.owner, "{id:?} owner differs");
            ensure!(s.leased_at == m.grant.leased_at && s.lease_duration == m.grant.lease_duration, "timing");
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

        // Waiters: the same queue in the same order, and only when nothing is free.
        ensure!(
            core.waiting_count() == self.queue.len(),
            "waiting {} vs {}",
            core.waiting_count(),
            self.queue.len()
        );
        ensure!(core.waiters().eq(self.queue.iter().map(|w| w.id)), "waiter order differs");
        if !self.queue.is_empty() {
            ensure!(
                available == 0 && total == max,
                "waiters wait while a pool is free ({available}) or creatable ({total}/{max})"
            );
        }

        // The desired count (at least the minimum) holds: a pool that leaves is
        // replaced at once, except after a failed creation or a second broken
        // pool, until the next check or the next revocation or finalise.
        if self.running && !self.short_of_min {
            ensure!(total >= self.config.min_pools(), "total {total} below min_pools");
            let desired = core.desired_count();
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
            ensure!(total == 0 && self.queue.is_empty(), "stopped core holds pools or waiters");
        }
    }
}

/// What a second `release` of the same lease must answer.
fn outcome_again(first: ReleaseOutcome) -> ReleaseOutcome {
    match first {
        ReleaseOutcome::Draining { jobs } => ReleaseOutcome::Draining { jobs },
        _ => ReleaseOutcome::Unknown,
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
