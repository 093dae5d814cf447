//! One test (or a few) per behaviour of the sans-IO core, in numbered
//! sections: 1 start, 2 stop (2b close: the graceful shutdown), 3 acquire (then waiter timeout and cancel),
//! 4 submitting through a lease, 5 release, 6 the checker pass, 7 counts and
//! stats, 8 configuration validation, then the sizing rule, the idle
//! timeout and `max_waiters` (`idle`); and, under
//! "beyond the original", what the Python original (leasepool 0.1.3) does
//! not promise: FIFO waiters with one grant per freed pool, a grant handed
//! back without losing capacity, and an indexed next timeout.
//!
//! Every test drives the core by the contract in the crate docs: after each
//! input, drain `poll_action` and look at exactly what came out. Most tests
//! use [`drain`], which performs every `CreatePool` at once (confirming it
//! with `pool_created`), so that they read like the one-step creation they
//! were written for; the tests of "pools being created" use [`drain_raw`]
//! and confirm (or fail) each creation themselves.
//!
//! This file holds the shared helpers; each section is a module of its own
//! (`start`, `stop`, `close`, `acquire`, `waiters`, `creating`, `submitting`,
//! `release`, `checker`, `stats`, `config`, `sizing`, `idle`, `beyond`,
//! `misuse`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use leasepool_core::{
    Acquire, AcquireError, Acquired, Action, Config, ConfigBuilder, ConfigError, Core, Grant, LeaseEnd,
    LeaseError, LeaseId, PoolError, PoolFate, PoolId, Released, RunError, ShutdownReason, Wait, WaiterError,
    WaiterId,
};

mod acquire;
mod beyond;
mod checker;
mod close;
mod config;
mod counters;
mod creating;
mod idle;
mod misuse;
mod release;
mod sizing;
mod start;
mod stats;
mod stop;
mod submitting;
mod waiters;

// ---- helpers --------------------------------------------------------------

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn builder(max: usize) -> ConfigBuilder {
    Config::builder().max_pools(max)
}

fn core_with(b: ConfigBuilder) -> Core {
    Core::new(b.build().expect("valid config"))
}

/// Every pending action, in order; creations are left unconfirmed.
fn drain_raw(core: &mut Core) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

/// Every pending action, in order, with every `CreatePool` performed at
/// once: confirmed with `pool_created` at `now` as it is drained, and what
/// that confirmation causes (a grant) drained after it.
fn drain(core: &mut Core, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(action) = core.poll_action() {
        if let Action::CreatePool(pool) = action {
            core.pool_created(now, pool);
        }
        out.push(action);
    }
    out
}

/// A started core (with its start actions drained and its creations
/// confirmed) and the pools it created.
fn started(b: ConfigBuilder, now: Instant, units: u64) -> (Core, Vec<PoolId>) {
    let mut core = core_with(b);
    assert_eq!(core.start(now, units), Ok(()));
    let pools = created(&drain(&mut core, now));
    assert_eq!(core.creating_count(), 0);
    (core, pools)
}

/// A core started at `now` with no pool yet: its one start creation asked
/// for (drained) and not confirmed.
#[track_caller]
fn starting(b: ConfigBuilder, now: Instant) -> (Core, PoolId) {
    let mut core = core_with(b);
    assert_eq!(core.start(now, 0), Ok(()));
    let [Action::CreatePool(pool)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    (core, pool)
}

fn created(actions: &[Action]) -> Vec<PoolId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePool(p) => Some(*p),
            _ => None,
        })
        .collect()
}

fn shut_down(actions: &[Action]) -> Vec<(PoolId, ShutdownReason)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ShutdownPool { pool, reason } => Some((*pool, *reason)),
            _ => None,
        })
        .collect()
}

fn grants(actions: &[Action]) -> Vec<(WaiterId, Grant)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Grant { waiter, grant } => Some((*waiter, *grant)),
            _ => None,
        })
        .collect()
}

fn fails(actions: &[Action]) -> Vec<(WaiterId, AcquireError)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::FailWaiter { waiter, error } => Some((*waiter, error.clone())),
            _ => None,
        })
        .collect()
}

/// Every `LeaseEnded` in `actions`: lease, pool and how it ended.
fn ended(actions: &[Action]) -> Vec<(LeaseId, PoolId, LeaseEnd)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::LeaseEnded { lease, pool, end, .. } => Some((*lease, *pool, *end)),
            _ => None,
        })
        .collect()
}

/// How `lease` ended in `actions`: exactly one `LeaseEnded` names it.
#[track_caller]
fn end_of(actions: &[Action], lease: LeaseId) -> LeaseEnd {
    let ends: Vec<_> = ended(actions).into_iter().filter(|(l, _, _)| *l == lease).collect();
    assert_eq!(ends.len(), 1, "one LeaseEnded for {lease:?}: {actions:?}");
    ends[0].2
}

/// The `LeaseEnded` of `g` with its owner: the first action of its end.
fn lease_ended(g: &Grant, owner: Option<&str>, end: LeaseEnd) -> Action {
    Action::LeaseEnded { lease: g.lease, pool: g.pool, owner: owner.map(Into::into), end }
}

/// The two actions of `g`'s revocation at hard expiry: its lease ends,
/// then its pool is shut down.
fn revoked(g: &Grant, owner: Option<&str>) -> [Action; 2] {
    [
        lease_ended(g, owner, LeaseEnd::Expired),
        Action::ShutdownPool { pool: g.pool, reason: ShutdownReason::Expired },
    ]
}

/// Every `LeaseEnded` comes before any `ShutdownPool` or `Grant` of its pool
/// that follows it in the same drain.
#[track_caller]
fn assert_ends_come_first(actions: &[Action]) {
    for (i, a) in actions.iter().enumerate() {
        let pool = match a {
            Action::ShutdownPool { pool, .. } => *pool,
            Action::Grant { grant, .. } => grant.pool,
            _ => continue,
        };
        if let Some(j) =
            actions.iter().position(|e| matches!(e, Action::LeaseEnded { pool: p, .. } if *p == pool))
        {
            assert!(j < i, "the LeaseEnded of {pool:?} comes after its reuse: {actions:?}");
        }
    }
}

#[track_caller]
fn granted(r: Result<Acquired, AcquireError>) -> Grant {
    match r {
        Ok(Acquired::Granted(g)) => g,
        other => panic!("expected an immediate grant, got {other:?}"),
    }
}

#[track_caller]
fn queued(r: Result<Acquired, AcquireError>) -> WaiterId {
    match r {
        Ok(Acquired::Queued(w)) => w,
        other => panic!("expected a queued waiter, got {other:?}"),
    }
}

/// The grant of `waiter` in `actions`.
#[track_caller]
fn grant_for(actions: &[Action], waiter: WaiterId) -> Grant {
    let found: Vec<Grant> =
        grants(actions).into_iter().filter(|(w, _)| *w == waiter).map(|(_, g)| g).collect();
    assert_eq!(found.len(), 1, "one grant for {waiter:?}: {actions:?}");
    found[0]
}

/// Acquire without waiting and return the lease: an idle pool at once, or
/// a pool created for it (confirmed at once by [`drain`]).
#[track_caller]
fn take(core: &mut Core, now: Instant) -> Grant {
    take_with(core, now, Acquire::no_wait())
}

#[track_caller]
fn take_with(core: &mut Core, now: Instant, request: Acquire) -> Grant {
    match core.acquire(now, request) {
        Ok(Acquired::Granted(g)) => {
            drain(core, now);
            g
        }
        Ok(Acquired::Queued(w)) => grant_for(&drain(core, now), w),
        other => panic!("expected a lease, got {other:?}"),
    }
}

/// Releases `lease`, which must end now, drains, and returns what became of
/// its pool and the actions.
#[track_caller]
fn released(core: &mut Core, now: Instant, lease: LeaseId) -> (PoolFate, Vec<Action>) {
    assert_eq!(core.release(now, lease), Ok(Released::Ended));
    let actions = drain(core, now);
    match end_of(&actions, lease) {
        LeaseEnd::Released(fate) => (fate, actions),
        other => panic!("released {lease:?} ended {other:?}: {actions:?}"),
    }
}

/// Runs the check that is due at `now` with `units`.
#[track_caller]
fn check(core: &mut Core, now: Instant, units: u64) {
    let due = core.check_due(now).expect("a check is due");
    core.handle_units(now, due, units);
}
