//! One test (or a few) per behaviour of the sans-IO core, in numbered
//! sections: 1 start, 2 stop, 3 acquire (then waiter timeout and cancel),
//! 4 submitting through a lease, 5 release, 6 the checker pass, 7 counts and
//! stats, 8 configuration validation, then the sizing rule; and, under
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

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use leasepool_core::{
    Acquire, AcquireError, Acquired, Action, Config, ConfigBuilder, ConfigError, Core, Grant, LeaseEnd,
    LeaseError, LeaseId, PoolError, PoolFate, PoolId, Released, RunError, ShutdownReason, Wait, WaiterError,
    WaiterId,
};

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

// ---- 1. start ---------------------------------------------------------------

/// Pools are created in two steps now: `start` asks for them, and they count
/// (as being created) until the driver confirms them.
#[test]
fn start_is_idempotent_and_creates_desired_pools_for_the_units_given_at_start() {
    let now = Instant::now();
    let mut core = core_with(builder(5));
    assert_eq!(core.start(now, 31), Ok(())); // ceil(31 / 10) = 4
    let actions = drain_raw(&mut core);
    let pools = created(&actions);
    assert_eq!(actions.len(), 4, "only CreatePool actions: {actions:?}");
    assert_eq!(pools.len(), 4);
    assert_eq!(pools.iter().collect::<HashSet<_>>().len(), 4, "distinct pool ids");
    assert_eq!((core.available_count(), core.creating_count(), core.total_count()), (0, 4, 4));
    for &p in &pools {
        core.pool_created(now, p);
    }
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(
        (core.available_count(), core.leased_count(), core.creating_count(), core.total_count()),
        (4, 0, 0, 4)
    );
    assert_eq!(core.desired_executor_count(), 4);
    assert!(core.is_running());

    assert_eq!(core.start(now, 50), Err(RunError::AlreadyRunning), "second start is a no-op");
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(core.total_count(), 4);
    assert_eq!(core.units(), 31, "a second start does not re-sample units");
}

#[test]
fn start_with_zero_units_creates_min_pools() {
    let (core, pools) = started(builder(5).min_pools(2), Instant::now(), 0);
    assert_eq!(pools.len(), 2);
    assert_eq!(core.total_count(), 2);
}

#[test]
fn start_failure_pool_create_failed_then_stop_leaves_zero_pools_and_a_restartable_core() {
    let now = Instant::now();
    let mut core = core_with(builder(5).min_pools(3));
    assert_eq!(core.start(now, 0), Ok(()));
    // The driver creates pools in order; the first one fails.
    let Some(Action::CreatePool(first)) = core.poll_action() else { panic!("expected CreatePool") };
    core.pool_create_failed(now, first);
    let rest = drain_raw(&mut core);
    let rest_created = created(&rest);
    assert_eq!(rest_created.len(), 2, "the min is not restored by a failed creation: {rest:?}");
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!((core.total_count(), core.creating_count()), (2, 2));
    for &p in &rest_created {
        core.pool_created(now, p);
    }
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!((core.total_count(), core.available_count()), (2, 2));

    // Start failed: the driver stops, which tears down what start created.
    assert_eq!(core.stop(now), Ok(()));
    let stop_actions = drain_raw(&mut core);
    let mut down: Vec<_> = shut_down(&stop_actions).into_iter().map(|(p, _)| p).collect();
    down.sort();
    assert_eq!(down, rest_created);
    assert!(shut_down(&stop_actions).iter().all(|(_, r)| *r == ShutdownReason::Stopped));
    assert_eq!(core.total_count(), 0);
    assert!(!core.is_running());
    assert_eq!(core.poll_timeout(), None);

    // It can start again, with fresh pool ids.
    assert_eq!(core.start(now, 0), Ok(()));
    let again = created(&drain(&mut core, now));
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|p| *p != first && !rest_created.contains(p)));
    assert_eq!(core.total_count(), 3);
}

// ---- 2. stop ----------------------------------------------------------------

/// Stop also ends every lease with one `LeaseEnded { end: Stopped }`, each
/// just before the shutdown of its pool.
#[test]
fn stop_is_idempotent_and_shuts_down_available_and_leased_pools() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(3), now, 30);
    assert_eq!(pools.len(), 3);
    let a = take(&mut core, now); // leased
    let b = take(&mut core, now); // draining
    core.job_submitted(now, b.lease).unwrap();
    assert_eq!(core.release(now, b.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!((core.available_count(), core.leased_count()), (1, 2));

    assert_eq!(core.stop(now), Ok(()));
    let actions = drain_raw(&mut core);
    let mut down: Vec<_> = shut_down(&actions).into_iter().map(|(p, _)| p).collect();
    down.sort();
    assert_eq!(down, pools, "available, leased and draining pools are all shut down");
    assert_eq!(actions.len(), 5, "three shutdowns and two lease ends: {actions:?}");
    assert!(shut_down(&actions).iter().all(|(_, r)| *r == ShutdownReason::Stopped));
    assert_eq!(end_of(&actions, a.lease), LeaseEnd::Stopped);
    assert_eq!(end_of(&actions, b.lease), LeaseEnd::Stopped);
    assert_ends_come_first(&actions);
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 0, 0));
    assert!(core.stats(now).leases.is_empty());
    assert!(!core.stats(now).running);

    assert_eq!(core.stop(now), Err(RunError::NotRunning), "second stop is a no-op");
    assert!(drain_raw(&mut core).is_empty());
    // The driver's in-flight job on the stopped pool finishes later: ignored.
    assert_eq!(core.job_finished(now, b.lease), Err(LeaseError::Ended));
    assert_eq!(core.release(now, a.lease), Err(LeaseError::Ended));
    assert_eq!(core.job_submitted(now, a.lease), Err(LeaseError::Ended));
    assert_eq!(core.pool_broken(now, a.pool), Err(PoolError::Unknown));
    assert!(drain_raw(&mut core).is_empty());
}

/// Waiters fail with `Stopped` (was `NotStarted`, which now means "never
/// started").
#[test]
fn stop_fails_every_waiter_with_stopped_and_later_acquires_fail_the_same_way() {
    let now = Instant::now();
    let mut never = core_with(builder(1));
    assert_eq!(never.acquire(now, Acquire::no_wait()), Err(AcquireError::NotStarted));
    assert_eq!(never.acquire(now, Acquire::wait()), Err(AcquireError::NotStarted));

    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    assert_eq!(core.stop(now), Ok(()));
    let actions = drain_raw(&mut core);
    assert_eq!(fails(&actions), vec![(w1, AcquireError::Stopped), (w2, AcquireError::Stopped)]);
    assert_eq!(core.waiting_count(), 0);
    assert_eq!(core.cancel_waiter(now, w1), Err(WaiterError::Ended));

    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Stopped));
    assert_eq!(core.acquire(now, Acquire::wait()), Err(AcquireError::Stopped));
    // A stopped core ignores timers and scale signals.
    core.notify_scale_changed(now);
    core.handle_timeout(now + secs(1000));
    assert_eq!(core.check_due(now + secs(1000)), None, "no check while stopped");
    assert_eq!(core.poll_timeout(), None);
    assert!(drain_raw(&mut core).is_empty());
}

#[test]
fn restart_after_stop_works_and_lease_ids_stay_unique_across_restart() {
    let now = Instant::now();
    let (mut core, first_pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    core.stop(now).unwrap();
    drain_raw(&mut core);

    assert_eq!(core.start(now, 0), Ok(()));
    let second_pools = created(&drain(&mut core, now));
    assert!(second_pools.iter().all(|p| !first_pools.contains(p) && *p != b.pool));
    let c = take(&mut core, now);
    let d = take(&mut core, now);
    let ids: HashSet<LeaseId> = [a.lease, b.lease, c.lease, d.lease].into_iter().collect();
    assert_eq!(ids.len(), 4, "lease ids never repeat across restart");
    // Stale ids from before the restart never match a new lease, even when
    // they reuse the same internal slot.
    assert_eq!(core.release(now, a.lease), Err(LeaseError::Ended));
    assert_eq!(core.job_submitted(now, b.lease), Err(LeaseError::Ended));
    assert_eq!(core.leased_count(), 2);
}

// ---- 3. acquire -------------------------------------------------------------

/// The replacement pool is created for the acquire, which now waits for its
/// confirmation (it used to be granted the unconfirmed pool at once).
#[test]
fn acquire_revokes_hard_expired_leases_first() {
    let now = Instant::now();
    let b = builder(1).default_lease_for(secs(10)).lease_grace(secs(1));
    let (mut core, _) = started(b, now, 0);
    let old = granted(core.acquire(now, Acquire::no_wait().owner("old")));
    let later = now + secs(11); // exactly the hard expiry
    let w = queued(core.acquire(later, Acquire::no_wait()));
    let actions = drain(&mut core, later);
    assert_eq!(actions[..2], revoked(&old, Some("old")));
    let Action::CreatePool(p) = actions[2] else { panic!("a replacement: {actions:?}") };
    assert_eq!(actions.len(), 4, "{actions:?}");
    let fresh = grant_for(&actions, w);
    assert_eq!(fresh.pool, p);
    assert_ne!(fresh.pool, old.pool);
    assert_eq!(core.job_submitted(later, old.lease), Err(LeaseError::Ended));
}

#[test]
fn acquire_takes_the_oldest_returned_available_pool() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(3).min_pools(3), now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    assert_eq!(gs.iter().map(|g| g.pool).collect::<Vec<_>>(), pools, "start order first");
    // Return them in the order 2, 3, 1.
    for i in [1, 2, 0] {
        assert_eq!(released(&mut core, now, gs[i].lease).0, PoolFate::Kept);
    }
    let order: Vec<PoolId> = (0..3).map(|_| take(&mut core, now).pool).collect();
    assert_eq!(order, vec![pools[1], pools[2], pools[0]]);
}

/// An acquire with no idle pool queues while a pool is created for it, and
/// is granted that pool when its creation is confirmed.
#[test]
fn acquire_creates_pools_below_max_even_above_desired() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3), now, 0);
    assert_eq!(core.desired_executor_count(), 1);
    take(&mut core, now);
    for _ in 0..2 {
        let w = queued(core.acquire(now, Acquire::no_wait()));
        let actions = drain_raw(&mut core);
        let [Action::CreatePool(p)] = actions[..] else { panic!("one creation: {actions:?}") };
        assert_eq!(core.creating_count(), 1);
        core.pool_created(now, p);
        let actions = drain_raw(&mut core);
        let [Action::Grant { waiter, grant }] = actions[..] else { panic!("one grant: {actions:?}") };
        assert_eq!((waiter, grant.pool, grant.leased_at), (w, p, now));
    }
    assert_eq!(
        (core.total_count(), core.desired_executor_count()),
        (3, 1),
        "demand above desired, up to max"
    );
    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
}

#[test]
fn acquire_no_wait_fails_unavailable_at_once() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(core.waiting_count(), 0);
}

/// New: `Wait::No` waits only when a pool is coming for it (one being
/// created and not owed to an earlier waiter, or room to create one).
#[test]
fn acquire_no_wait_queues_only_when_a_pool_is_coming_for_it() {
    let now = Instant::now();
    let mut core = core_with(builder(2));
    core.start(now, 0).unwrap();
    let [Action::CreatePool(p1)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    // p1 is being created and nobody waits for it: the first one waits for it.
    let w1 = queued(core.acquire(now, Acquire::wait().wait_mode(Wait::No)));
    assert!(drain_raw(&mut core).is_empty(), "p1 covers it");
    // Room for one more pool: created for the second.
    let w2 = queued(core.acquire(now, Acquire::no_wait()));
    let [Action::CreatePool(p2)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    assert_eq!((core.creating_count(), core.total_count()), (2, 2));
    // Both pools are owed: a third no-wait acquire fails, a waiting one queues.
    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
    let w3 = queued(core.acquire(now, Acquire::wait()));
    assert!(drain_raw(&mut core).is_empty(), "at max_pools: nothing more is created");
    core.pool_created(now, p2);
    core.pool_created(now, p1);
    let gs = grants(&drain_raw(&mut core));
    assert_eq!(gs.iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w1, p2), (w2, p1)]);
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w3]);
}

#[test]
fn acquire_wait_queues_in_arrival_order() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait_until(now + secs(60))));
    let w3 = queued(core.acquire(now, Acquire::wait().owner("x")));
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w1, w2, w3]);
    assert_eq!(core.waiting_count(), 3);
    assert!(drain_raw(&mut core).is_empty(), "queueing performs no action");
}

#[test]
fn acquire_with_a_deadline_at_or_before_now_fails_timeout_when_nothing_is_free() {
    let now = Instant::now() + secs(10);
    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    assert_eq!(core.acquire(now, Acquire::wait_until(now)), Err(AcquireError::Timeout));
    assert_eq!(core.acquire(now, Acquire::wait_until(now - secs(5))), Err(AcquireError::Timeout));
    assert_eq!(core.waiting_count(), 0);
}

#[test]
fn acquire_with_a_past_deadline_is_still_granted_when_a_pool_is_free() {
    // Chosen behaviour: the deadline bounds the *wait*; a free pool needs none.
    let now = Instant::now() + secs(10);
    let (mut core, _) = started(builder(1), now, 0);
    granted(core.acquire(now, Acquire::wait_until(now - secs(1))));
}

#[test]
fn granted_lease_schedules_its_hard_expiry() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease_for(secs(10)).lease_grace(secs(2)), now, 0);
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
    let g = take(&mut core, now);
    assert_eq!(g.soft_expires_at(), now + secs(10));
    assert_eq!(g.hard_expires_at(), now + secs(12));
    assert_eq!(core.poll_timeout(), Some(now + secs(12)));
}

// ---- waiters: timeout and cancel ------------------------------------------

/// `handle_timeout` only fails waiters and revokes leases; it never runs
/// the check (that is `handle_units`).
#[test]
fn waiter_times_out_through_handle_timeout() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    assert_eq!(core.poll_timeout(), Some(now + secs(5)));
    core.handle_timeout(now + secs(4));
    assert!(drain_raw(&mut core).is_empty(), "not yet");
    assert_eq!(core.check_due(now + secs(4)), None, "no check due");
    core.handle_timeout(now + secs(5));
    assert_eq!(drain_raw(&mut core), vec![Action::FailWaiter { waiter: w, error: AcquireError::Timeout }]);
    assert_eq!(core.waiting_count(), 0);
    assert_eq!(core.cancel_waiter(now + secs(5), w), Err(WaiterError::Ended));
    assert_eq!(core.poll_timeout(), Some(now + secs(120)), "the deadline is gone from the index");
}

/// The lease's end comes first, then the waiter's timeout is noticed and
/// the pool handed to the next waiter.
#[test]
fn a_pool_freed_after_a_waiters_deadline_fails_that_waiter_instead_of_granting_it() {
    // The driver's timer fires late: the release comes first.
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let a = take(&mut core, now);
    let late = queued(core.acquire(now, Acquire::wait_until(now + secs(1))));
    let patient = queued(core.acquire(now, Acquire::wait()));
    let at = now + secs(2);
    let (fate, actions) = released(&mut core, at, a.lease);
    assert_eq!(fate, PoolFate::HandedOff);
    assert_eq!(actions[0], Action::FailWaiter { waiter: late, error: AcquireError::Timeout }, "{actions:?}");
    assert_eq!(grants(&actions).iter().map(|(w, _)| *w).collect::<Vec<_>>(), vec![patient]);
    assert_ends_come_first(&actions);
    // Alone in the queue, the late waiter times out and the pool is kept.
    let (mut core, _) = started(builder(1), now, 0);
    let a = take(&mut core, now);
    let late = queued(core.acquire(now, Acquire::wait_until(now + secs(1))));
    let (fate, actions) = released(&mut core, at, a.lease);
    assert_eq!(fate, PoolFate::Kept);
    assert_eq!(
        actions,
        vec![
            Action::FailWaiter { waiter: late, error: AcquireError::Timeout },
            lease_ended(&a, None, LeaseEnd::Released(PoolFate::Kept))
        ]
    );
    assert_eq!(core.available_count(), 1);
}

/// The replacement pool is created for the new acquire (which waits for it)
/// and is granted to it, not to the waiter that timed out.
#[test]
fn a_waiter_past_its_deadline_does_not_take_the_pool_from_a_live_acquire() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease_for(secs(10)).lease_grace(Duration::ZERO), now, 0);
    take(&mut core, now);
    let late = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    // At hard expiry a new acquire revokes the lease; the replacement pool
    // is its, not the timed-out waiter's.
    let at = now + secs(10);
    let fresh = queued(core.acquire(at, Acquire::no_wait()));
    let actions = drain(&mut core, at);
    assert_eq!(grants(&actions).iter().map(|(w, _)| *w).collect::<Vec<_>>(), vec![fresh], "{actions:?}");
    assert!(
        actions.contains(&Action::FailWaiter { waiter: late, error: AcquireError::Timeout }),
        "{actions:?}"
    );
    assert_eq!(grant_for(&actions, fresh).leased_at, at);
}

#[test]
fn cancel_waiter_withdraws_a_queued_acquire() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).min_pools(1), now, 0);
    let g = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    assert_eq!(core.cancel_waiter(now, w1), Ok(()));
    assert_eq!(core.cancel_waiter(now, w1), Err(WaiterError::Ended), "cancel is idempotent");
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w2]);
    assert_eq!(core.poll_timeout(), Some(now + secs(120)), "cancelled deadline no longer scheduled");
    assert_eq!(core.cancel_waiter(now, w2), Ok(()));
    // Nobody waits now, so the release keeps the pool.
    let (fate, actions) = released(&mut core, now, g.lease);
    assert_eq!((fate, actions.len()), (PoolFate::Kept, 1));
}

/// New (two-step creation): cancelling a waiter whose grant is still in the
/// action queue withdraws the grant and hands its pool on, to the next
/// waiter or back to the idle pools.
#[test]
fn cancel_waiter_withdraws_an_undrained_grant_and_hands_its_pool_on() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let a = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    assert_eq!(core.release(now, a.lease), Ok(Released::Ended));
    // The driver has not drained the grant to w1 when w1's future is dropped.
    assert_eq!(core.cancel_waiter(now, w1), Ok(()));
    let actions = drain_raw(&mut core);
    let gs = grants(&actions);
    assert_eq!(gs.iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w2, a.pool)], "{actions:?}");
    // One lease ended that the driver knows: a (handed off to w1). w1's
    // withdrawn lease, never handed over, ends without a LeaseEnded.
    let ends = ended(&actions);
    assert_eq!(ends.len(), 1, "{actions:?}");
    assert!(ends.iter().all(|(_, p, e)| *p == a.pool && *e == LeaseEnd::Released(PoolFate::HandedOff)));
    assert_ends_come_first(&actions);
    assert_eq!((core.leased_count(), core.waiting_count(), core.total_count()), (1, 0, 1));
    // Once drained, the grant cannot be cancelled: it is released instead.
    assert_eq!(core.cancel_waiter(now, w2), Err(WaiterError::Ended));
    assert_eq!(released(&mut core, now, gs[0].1.lease).0, PoolFate::Kept);
    // Alone: the withdrawn grant's pool goes back to the idle pools.
    let a = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    core.release(now, a.lease).unwrap();
    assert_eq!(core.cancel_waiter(now, w), Ok(()));
    let actions = drain_raw(&mut core);
    assert!(grants(&actions).is_empty(), "{actions:?}");
    assert_eq!(ended(&actions).len(), 1, "only a's: the withdrawn lease was never handed over");
    assert_eq!((core.available_count(), core.leased_count()), (1, 0));
}

// ---- pools being created (two-step creation) -------------------------------

/// A waiter waits for a pool being created like for any other, and its
/// deadline still applies: it times out while the creation is in flight;
/// the pool, confirmed later, becomes idle.
#[test]
fn a_waiter_for_a_pool_being_created_still_times_out_at_its_deadline() {
    let now = Instant::now();
    let mut core = core_with(builder(2));
    core.start(now, 0).unwrap();
    let [Action::CreatePool(p1)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    let w = queued(core.acquire(now, Acquire::wait_until(now + secs(3))));
    assert!(drain_raw(&mut core).is_empty(), "p1 is coming for it");
    assert_eq!(core.poll_timeout(), Some(now + secs(3)));
    core.handle_timeout(now + secs(3));
    assert_eq!(drain_raw(&mut core), vec![Action::FailWaiter { waiter: w, error: AcquireError::Timeout }]);
    assert_eq!((core.creating_count(), core.waiting_count()), (1, 0));
    core.pool_created(now + secs(4), p1);
    assert!(drain_raw(&mut core).is_empty(), "nobody waits: the pool is idle");
    assert_eq!((core.available_count(), core.creating_count()), (1, 0));

    // Confirmed after the deadline but before the timer fired: the waiter
    // fails then, never granted at or after its deadline.
    let a = take(&mut core, now + secs(4));
    let late = queued(core.acquire(now + secs(4), Acquire::wait_until(now + secs(5))));
    let [Action::CreatePool(p2)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    core.pool_created(now + secs(6), p2);
    assert_eq!(drain_raw(&mut core), vec![Action::FailWaiter { waiter: late, error: AcquireError::Timeout }]);
    assert_eq!((core.available_count(), core.leased_count()), (1, 1));
    assert_eq!(released(&mut core, now + secs(6), a.lease).0, PoolFate::ShutDown);
}

/// Cancel-safety while the pool is being created: the creation goes on, and
/// the pool it yields is idle (or goes to the next waiter).
#[test]
fn cancelling_a_waiter_while_its_pool_is_being_created_leaves_the_pool_to_others() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3), now, 0);
    let _a = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let [Action::CreatePool(p)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    assert_eq!(core.cancel_waiter(now, w1), Ok(()));
    assert_eq!((core.creating_count(), core.total_count(), core.waiting_count()), (1, 2, 0));
    // A new waiter is covered by the creation still in flight: none more.
    let w2 = queued(core.acquire(now, Acquire::wait()));
    assert!(drain_raw(&mut core).is_empty(), "the creation in flight covers w2");
    assert_eq!(core.cancel_waiter(now, w2), Ok(()));
    core.pool_created(now, p);
    assert!(drain_raw(&mut core).is_empty(), "nobody waits: idle");
    assert_eq!((core.available_count(), core.creating_count()), (1, 0));

    // Cancel one of two waiters: the creation goes to the one still waiting.
    let _b = take(&mut core, now);
    let w3 = queued(core.acquire(now, Acquire::wait()));
    let [Action::CreatePool(q)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    let w4 = queued(core.acquire(now, Acquire::wait()));
    assert!(drain_raw(&mut core).is_empty(), "at max_pools");
    assert_eq!(core.cancel_waiter(now, w3), Ok(()));
    core.pool_created(now, q);
    let actions = drain_raw(&mut core);
    assert_eq!(grants(&actions).iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w4, q)]);
}

/// First come, first served holds across creations: a pool created for a
/// later waiter goes to whoever is first in line when it is confirmed.
#[test]
fn a_created_pool_goes_to_the_first_waiter_not_the_one_it_was_created_for() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    // w1 waits at max_pools: no pool is created for it.
    let w1 = queued(core.acquire(now, Acquire::wait()));
    assert!(drain_raw(&mut core).is_empty());
    // b's pool breaks: its replacement is created (counting toward max)...
    assert_eq!(core.pool_broken(now, b.pool), Ok(()));
    let actions = drain_raw(&mut core);
    let [_, _, Action::CreatePool(p)] = actions[..] else { panic!("end, shutdown, creation: {actions:?}") };
    // ...a later waiter arrives while it is in flight...
    let w2 = queued(core.acquire(now, Acquire::wait()));
    assert!(drain_raw(&mut core).is_empty(), "at max_pools with the creation");
    // ...and the created pool goes to w1, first in line.
    core.pool_created(now, p);
    let gs = grants(&drain_raw(&mut core));
    assert_eq!(gs.iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w1, p)]);
    // A pool created for w1 that a release beats goes to w2.
    let (fate, actions) = released(&mut core, now, a.lease);
    assert_eq!(fate, PoolFate::HandedOff);
    assert_eq!(grant_for(&actions, w2).pool, pools[0]);
    assert_eq!(core.waiting_count(), 0);

    // The other way round: w1 waits for a creation, a release comes first.
    let (mut core, _) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let [Action::CreatePool(p)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    let w2 = queued(core.acquire(now, Acquire::wait()));
    assert!(drain_raw(&mut core).is_empty(), "at max_pools");
    assert_eq!(core.release(now, a.lease), Ok(Released::Ended));
    let actions = drain_raw(&mut core);
    assert_eq!(grant_for(&actions, w1).pool, a.pool, "first in line gets the released pool");
    core.pool_created(now, p);
    assert_eq!(grant_for(&drain_raw(&mut core), w2).pool, p);
}

/// A failed creation fails a waiter only if the waiters now outnumber the
/// creations still in flight, and then the first in line.
#[test]
fn pool_create_failed_fails_a_waiter_only_when_no_other_pool_is_coming() {
    let now = Instant::now();
    // Covered: three creations for one waiter; one fails, two still come.
    let mut core = core_with(builder(3).min_pools(3));
    core.start(now, 0).unwrap();
    let ps = created(&drain_raw(&mut core));
    assert_eq!(ps.len(), 3);
    let w = queued(core.acquire(now, Acquire::wait()));
    core.pool_create_failed(now, ps[0]);
    assert!(drain_raw(&mut core).is_empty(), "still covered");
    assert_eq!((core.creating_count(), core.total_count(), core.waiting_count()), (2, 2, 1));
    core.pool_created(now, ps[1]);
    assert_eq!(grant_for(&drain_raw(&mut core), w).pool, ps[1]);

    // Uncovered: three waiters, three creations; one fails, and the first
    // in line (not the one it was asked for) fails.
    let mut core = core_with(builder(3));
    core.start(now, 0).unwrap();
    let [Action::CreatePool(p1)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    let w3 = queued(core.acquire(now, Acquire::wait()));
    let more = created(&drain_raw(&mut core));
    assert_eq!(more.len(), 2, "one creation per uncovered waiter");
    core.pool_create_failed(now, more[0]);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::FailWaiter { waiter: w1, error: AcquireError::PoolCreationFailed { pool: more[0] } }]
    );
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w2, w3]);
    // No retry: the remaining two are covered by the two in flight.
    assert_eq!((core.creating_count(), core.total_count()), (2, 2));
    core.pool_created(now, p1);
    core.pool_created(now, more[1]);
    let gs = grants(&drain_raw(&mut core));
    assert_eq!(gs.iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w2, p1), (w3, more[1])]);
}

/// Creations asked for before `stop` are disowned: their confirmation shuts
/// the pool down (`Stopped`), even after a restart. Until then they still
/// count toward `max_pools` (their threads exist), but not toward the
/// desired count of a new run.
#[test]
fn a_creation_confirmed_after_stop_shuts_its_pool_down() {
    let now = Instant::now();
    let mut core = core_with(builder(3).min_pools(2));
    core.start(now, 0).unwrap();
    let ps = created(&drain_raw(&mut core));
    assert_eq!(ps.len(), 2);
    let w = queued(core.acquire(now, Acquire::wait()));
    core.stop(now).unwrap();
    assert_eq!(drain_raw(&mut core), vec![Action::FailWaiter { waiter: w, error: AcquireError::Stopped }]);
    assert_eq!((core.creating_count(), core.total_count()), (2, 2));
    core.pool_created(now, ps[0]);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::ShutdownPool { pool: ps[0], reason: ShutdownReason::Stopped }]
    );
    // Restarted before the other one is confirmed: it still belongs to the
    // old run, and is not granted; the new run creates its own two (3 in
    // all, within max_pools).
    core.start(now, 0).unwrap();
    let fresh = created(&drain_raw(&mut core));
    assert_eq!(fresh.len(), 2);
    let w = queued(core.acquire(now, Acquire::wait()));
    core.pool_created(now, ps[1]);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::ShutdownPool { pool: ps[1], reason: ShutdownReason::Stopped }]
    );
    assert_eq!((core.creating_count(), core.total_count(), core.waiting_count()), (2, 2, 1));
    // A disowned creation that fails does nothing either.
    core.stop(now).unwrap();
    assert_eq!(fails(&drain_raw(&mut core)), vec![(w, AcquireError::Stopped)]);
    core.pool_create_failed(now, fresh[0]);
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(core.total_count(), 1, "the other disowned creation counts until it is confirmed");
    core.pool_created(now, fresh[1]);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::ShutdownPool { pool: fresh[1], reason: ShutdownReason::Stopped }]
    );
    assert_eq!(core.total_count(), 0);
}

/// Creations in flight count toward `max_pools`: no matter how many acquire,
/// `total_count() = available + leased + creating <= max_pools`.
#[test]
fn total_count_stays_within_max_pools_with_creations_in_flight() {
    let now = Instant::now();
    let mut core = core_with(builder(4).min_pools(2));
    core.start(now, 0).unwrap();
    let mut in_flight = created(&drain_raw(&mut core));
    let mut waiters = Vec::new();
    for i in 0..10 {
        match core.acquire(now, if i % 2 == 0 { Acquire::wait() } else { Acquire::no_wait() }) {
            Ok(Acquired::Queued(w)) => waiters.push(w),
            Err(AcquireError::Unavailable) => assert!(i % 2 == 1 && core.total_count() == 4),
            other => panic!("{other:?}"),
        }
        in_flight.extend(created(&drain_raw(&mut core)));
        let total = core.available_count() + core.leased_count() + core.creating_count();
        assert_eq!(core.total_count(), total);
        assert!(total <= 4, "total {total} > max_pools");
        assert_eq!(core.creating_count(), in_flight.len());
    }
    assert_eq!((in_flight.len(), core.total_count(), core.stats(now).creating), (4, 4, 4));
    // Confirming them turns creations into leases, one for one.
    for (i, p) in in_flight.iter().enumerate() {
        core.pool_created(now, *p);
        let gs = grants(&drain_raw(&mut core));
        assert_eq!(gs.len(), 1);
        assert_eq!(gs[0].0, waiters[i], "first come, first served");
        assert_eq!((core.total_count(), core.creating_count(), core.leased_count()), (4, 3 - i, i + 1));
    }
}

// ---- 4. submitting through a lease -----------------------------------------

#[test]
fn job_submitted_on_an_unknown_lease_fails() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    assert_eq!(core.job_submitted(now, g.lease), Ok(g.pool));
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    core.release(now, g.lease).unwrap();
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Ended));
    assert_eq!(core.job_finished(now, g.lease), Err(LeaseError::Ended), "ended leases are refused");
}

#[test]
fn job_submitted_on_a_released_draining_lease_fails_released() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Released));
}

/// The replacement is created for the waiter and granted on confirmation.
#[test]
fn job_submitted_past_hard_expiry_revokes_on_the_spot_restores_min_and_serves_waiters() {
    let now = Instant::now();
    let b = builder(1).default_lease_for(secs(10)).lease_grace(secs(5)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = granted(core.acquire(now, Acquire::no_wait().owner("late")));
    let w = queued(core.acquire(now, Acquire::wait()));
    // Soft expiry alone still accepts work.
    assert_eq!(core.job_submitted(now + secs(12), g.lease), Ok(g.pool));
    core.job_finished(now + secs(12), g.lease).unwrap();
    let late = now + secs(15);
    assert_eq!(core.job_submitted(late, g.lease), Err(LeaseError::Expired));
    let actions = drain(&mut core, late);
    assert_eq!(actions[..2], revoked(&g, Some("late")));
    let Action::CreatePool(fresh) = actions[2] else { panic!("min restored: {actions:?}") };
    let [(waiter, grant)] = grants(&actions)[..] else { panic!("one grant: {actions:?}") };
    assert_eq!((waiter, grant.pool), (w, fresh));
    assert_eq!(actions.len(), 4);
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    assert_eq!(core.job_submitted(late, g.lease), Err(LeaseError::Ended));
}

/// Its lease ends `PoolBroken`, before the shutdown; the replacement is
/// created for the waiter and granted on confirmation.
#[test]
fn pool_broken_retires_the_pool_and_serves_waiters() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    assert_eq!(a.pool, pools[0]);
    core.job_submitted(now, a.lease).unwrap();
    let w = queued(core.acquire(now, Acquire::wait()));

    assert_eq!(core.pool_broken(now, a.pool), Ok(()));
    let actions = drain(&mut core, now);
    assert_eq!(actions[0], lease_ended(&a, None, LeaseEnd::PoolBroken));
    assert_eq!(actions[1], Action::ShutdownPool { pool: a.pool, reason: ShutdownReason::Broken });
    let Action::CreatePool(fresh) = actions[2] else { panic!("replacement created: {actions:?}") };
    let [(waiter, grant)] = grants(&actions)[..] else { panic!("one grant: {actions:?}") };
    assert_eq!((waiter, grant.pool), (w, fresh), "the waiter gets the replacement");
    assert_eq!(core.pool_broken(now, a.pool), Err(PoolError::Unknown), "already retired");
    assert_eq!(core.job_finished(now, a.lease), Err(LeaseError::Ended), "its lease is gone");
    assert_eq!(core.job_submitted(now, a.lease), Err(LeaseError::Ended));

    // Never reused: cycle leases many times and never see it again.
    let live = grants(&actions)[0].1;
    core.release(now, live.lease).unwrap();
    core.release(now, b.lease).unwrap();
    drain(&mut core, now);
    for _ in 0..10 {
        let g = take(&mut core, now);
        assert_ne!(g.pool, a.pool);
        core.release(now, g.lease).unwrap();
        drain(&mut core, now);
    }
}

#[test]
fn a_revocation_under_the_replacement_pause_still_restores_the_minimum() {
    // Only a pool lost to breaking waits for the check: a revoked lease's
    // pool is replaced at once, whether the revocation comes from a submit
    // or from the timer.
    for via_timer in [false, true] {
        let now = Instant::now();
        let b = builder(3).min_pools(2).default_lease_for(secs(10)).lease_grace(Duration::ZERO);
        let (mut core, pools) = started(b, now, 0);
        let a = take(&mut core, now);
        let other = if a.pool == pools[0] { pools[1] } else { pools[0] };
        assert_eq!(core.pool_broken(now, other), Ok(()));
        drain(&mut core, now);
        assert_eq!(core.total_count(), 2, "the broken pool replaced at once");
        let at = a.hard_expires_at();
        if via_timer {
            assert_eq!(core.poll_timeout(), Some(at));
            core.handle_timeout(at);
        } else {
            assert_eq!(core.job_submitted(at, a.lease), Err(LeaseError::Expired));
        }
        let actions = drain(&mut core, at);
        assert_eq!(end_of(&actions, a.lease), LeaseEnd::Expired);
        assert_eq!(created(&actions).len(), 1, "via timer {via_timer}: {actions:?}");
        assert_eq!(core.total_count(), 2, "via timer {via_timer}: back at min_pools");
    }
}

/// The pool is granted (on confirmation of its creation) and breaks before
/// the driver drained the grant: the waiter fails with `PoolBroken`, and the
/// lease it never saw still ends once (`PoolBroken`).
#[test]
fn a_pool_that_breaks_before_its_grant_is_drained_fails_that_waiter() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease_for(secs(10)).lease_grace(Duration::ZERO), now, 0);
    take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    let at = now + secs(10);
    core.handle_timeout(at);
    assert!(matches!(core.poll_action(), Some(Action::LeaseEnded { end: LeaseEnd::Expired, .. })));
    assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { reason: ShutdownReason::Expired, .. })));
    let Some(Action::CreatePool(fresh)) = core.poll_action() else { panic!("a replacement") };
    core.pool_created(at, fresh);
    // The grant is queued, not yet drained, when the pool breaks.
    assert_eq!(core.pool_broken(at, fresh), Ok(()));
    let actions = drain_raw(&mut core);
    assert!(grants(&actions).is_empty(), "no grant of a forgotten lease: {actions:?}");
    assert_eq!(fails(&actions), vec![(w, AcquireError::PoolBroken { pool: fresh })], "{actions:?}");
    // The driver never saw that lease: no LeaseEnded names it.
    assert!(ended(&actions).is_empty(), "{actions:?}");
    assert!(shut_down(&actions).contains(&(fresh, ShutdownReason::Broken)));
    assert_eq!(core.leased_count(), 0);
}

#[test]
fn a_broken_pool_is_replaced_at_once_but_a_failing_replacement_waits_for_the_check() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    assert_eq!(core.pool_broken(now, pools[0]), Ok(()));
    let actions = drain_raw(&mut core);
    let [Action::ShutdownPool { pool, reason: ShutdownReason::Broken }, Action::CreatePool(fresh)] =
        actions[..]
    else {
        panic!("retired and replaced: {actions:?}")
    };
    assert_eq!(pool, pools[0]);
    assert_eq!(core.total_count(), 1, "the minimum restored at once");
    assert_eq!(core.pool_broken(now, pools[0]), Err(PoolError::Unknown), "retired pool");
    assert_eq!(core.pool_broken(now, fresh), Err(PoolError::Unknown), "not live before it is confirmed");
    core.pool_created(now, fresh);
    // The replacement breaks too (an initializer that always fails): it is
    // not replaced in the same breath, so nothing spins.
    assert_eq!(core.pool_broken(now, fresh), Ok(()));
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::ShutdownPool { pool: fresh, reason: ShutdownReason::Broken }]
    );
    assert_eq!(core.total_count(), 0);
    // Acquires still create on demand; a release (an outside event)
    // restores the desired count, here already met by the kept pool.
    let g = take(&mut core, now);
    core.release(now, g.lease).unwrap();
    drain(&mut core, now);
    assert_eq!(core.total_count(), 1, "kept, no extra creation");
    // The next check restores the count and lifts the pause.
    let later = now + Duration::from_secs(120);
    assert_eq!(core.poll_timeout(), Some(later));
    core.handle_timeout(later);
    check(&mut core, later, 0);
    assert!(drain_raw(&mut core).is_empty(), "the minimum already holds");
    let idle = core.stats(later).available;
    assert_eq!(idle, 1);
    let g = take(&mut core, later);
    assert_eq!(core.pool_broken(later, g.pool), Ok(()));
    assert_eq!(created(&drain(&mut core, later)).len(), 1, "replaced at once again after the check");
}

/// Was "an undrained grant of a failed pool becomes FailWaiter": a pool is
/// never granted before its creation is confirmed, so a failed creation now
/// fails the waiter it was coming for (uncovered, first in line).
#[test]
fn pool_create_failed_fails_the_waiter_its_pool_was_coming_for() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let _b = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    // The replacement pool for the broken one is created for the waiter...
    assert_eq!(core.pool_broken(now, pools[0]), Ok(()));
    assert!(matches!(core.poll_action(), Some(Action::LeaseEnded { end: LeaseEnd::PoolBroken, .. })));
    assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { reason: ShutdownReason::Broken, .. })));
    let Some(Action::CreatePool(fresh)) = core.poll_action() else { panic!("replacement") };
    assert_eq!(core.poll_action(), None, "nothing granted before the creation is confirmed");
    // ...and fails to start: the waiter fails, no other pool coming.
    core.pool_create_failed(now, fresh);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::FailWaiter { waiter: w, error: AcquireError::PoolCreationFailed { pool: fresh } }]
    );
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    assert_eq!(core.job_submitted(now, a.lease), Err(LeaseError::Ended));
}

/// Was "a failed creation forgets the lease granted on it": no lease is
/// granted on an unconfirmed pool now, so the acquire waiting for it fails,
/// and nothing is recreated until a check.
#[test]
fn pool_create_failed_for_an_acquire_fails_it_and_waits_for_the_check_to_restore() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3).min_pools(2), now, 0);
    let _a = take(&mut core, now);
    let _b = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::no_wait()));
    let Some(Action::CreatePool(c)) = core.poll_action() else { panic!("a creation for it") };
    core.pool_create_failed(now, c);
    assert_eq!(
        drain_raw(&mut core),
        vec![Action::FailWaiter { waiter: w, error: AcquireError::PoolCreationFailed { pool: c } }]
    );
    assert_eq!(core.cancel_waiter(now, w), Err(WaiterError::Ended));
    assert_eq!((core.total_count(), core.leased_count(), core.creating_count()), (2, 2, 0));
    // Creations that keep failing cannot spin: after a failed creation,
    // nothing is recreated until a check.
    let (mut core, pools) = started(builder(3).min_pools(2), now, 0);
    assert_eq!(core.pool_broken(now, pools[0]), Ok(()));
    let actions = drain_raw(&mut core);
    let [_, Action::CreatePool(replacement)] = actions[..] else { panic!("{actions:?}") };
    core.pool_create_failed(now, replacement);
    assert!(drain_raw(&mut core).is_empty(), "no immediate retry");
    assert_eq!(core.total_count(), 1, "below min_pools until the next check");
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    assert_eq!(created(&drain(&mut core, now)).len(), 1);
    assert_eq!(core.total_count(), 2);
}

// ---- 5. release ---------------------------------------------------------------

#[test]
fn release_is_idempotent() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    assert_eq!(released(&mut core, now, g.lease).0, PoolFate::Kept);
    assert_eq!(core.release(now, g.lease), Err(LeaseError::Ended));
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!((core.available_count(), core.leased_count()), (1, 0));
}

#[test]
fn release_with_jobs_in_flight_drains_until_the_last_job_finishes() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    core.job_submitted(now, g.lease).unwrap();
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 2 }));
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 2 }), "idempotent");
    assert!(drain_raw(&mut core).is_empty(), "no end while draining");
    assert_eq!((core.leased_count(), core.available_count()), (1, 0), "draining counts as leased");
    assert!(core.stats(now).leases[0].draining);
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Released));
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(core.leased_count(), 1);
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    assert_eq!(drain_raw(&mut core), vec![lease_ended(&g, None, LeaseEnd::Released(PoolFate::Kept))]);
    assert_eq!((core.leased_count(), core.available_count()), (0, 1));
    assert_eq!(core.release(now, g.lease), Err(LeaseError::Ended));
}

#[test]
fn finalise_keeps_the_pool_only_while_total_stays_within_desired() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3), now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    assert_eq!(core.total_count(), 3);
    for g in &gs[..2] {
        let (fate, actions) = released(&mut core, now, g.lease);
        assert_eq!(fate, PoolFate::ShutDown);
        assert_eq!(
            actions,
            vec![
                lease_ended(g, None, LeaseEnd::Released(PoolFate::ShutDown)),
                Action::ShutdownPool { pool: g.pool, reason: ShutdownReason::NotKept }
            ]
        );
    }
    let (fate, actions) = released(&mut core, now, gs[2].lease);
    assert_eq!((fate, actions.len()), (PoolFate::Kept, 1));
    assert_eq!((core.total_count(), core.available_count()), (1, 1));
}

/// Changed by design: a release at or after hard expiry (even with no job in
/// flight) ends as `Expired`, its pool shut down as `Expired` (was
/// `Finalised::ShutDown` with `NotKept`).
#[test]
fn release_past_hard_expiry_ends_expired_and_restores_min() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease_for(secs(10)).lease_grace(secs(0)), now, 0);
    let g = take(&mut core, now);
    // The timer has not fired yet; the release itself notices.
    let late = now + secs(10);
    assert_eq!(core.release(late, g.lease), Ok(Released::Ended));
    let actions = drain(&mut core, late);
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(created(&actions[2..]).len(), 1, "min restored");
    assert_eq!(core.total_count(), 1);
}

/// A draining lease whose last job finishes past hard expiry ends as
/// `Expired` (its pool is not kept).
#[test]
fn draining_lease_finalised_past_hard_expiry_is_not_kept() {
    let now = Instant::now();
    let b = builder(1).default_lease_for(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    core.release(now, g.lease).unwrap();
    assert_eq!(core.job_finished(now + secs(11), g.lease), Ok(()));
    let actions = drain(&mut core, now + secs(11));
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(core.available_count() + core.creating_count(), 1, "replaced, not kept");
}

#[test]
fn release_past_hard_expiry_with_jobs_revokes_at_once() {
    let now = Instant::now();
    let b =
        builder(2).min_pools(1).default_lease_for(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    let late = now + secs(11);
    assert_eq!(core.release(late, g.lease), Ok(Released::Ended));
    let actions = drain(&mut core, late);
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(created(&actions[2..]).len(), 1, "min restored");
    assert_eq!((core.leased_count(), core.total_count()), (0, 1));
    assert_eq!(core.job_finished(late, g.lease), Err(LeaseError::Ended), "its job's end is refused");
    assert_eq!(core.release(late, g.lease), Err(LeaseError::Ended));
}

#[test]
fn release_busy_drains_until_one_job_finished() {
    let now = Instant::now();
    let b = builder(2).default_lease_for(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    assert_eq!(core.release_busy(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!(core.release_busy(now, g.lease), Ok(Released::Draining { jobs: 1 }), "idempotent");
    assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 1 }));
    assert_eq!(core.job_submitted(now, g.lease), Err(LeaseError::Released));
    assert_eq!(core.leased_count(), 1);
    assert!(core.stats(now).leases[0].draining);
    assert_eq!(core.job_finished(now, g.lease), Ok(()));
    assert_eq!(end_of(&drain_raw(&mut core), g.lease), LeaseEnd::Released(PoolFate::Kept));
    assert_eq!(core.leased_count(), 0);

    // Past hard expiry it expires instead.
    let g = take(&mut core, now);
    assert_eq!(core.release_busy(now + secs(11), g.lease), Ok(Released::Ended));
    assert_eq!(end_of(&drain(&mut core, now + secs(11)), g.lease), LeaseEnd::Expired);
    assert_eq!(core.leased_count(), 0);
    assert_eq!(core.release_busy(now + secs(11), g.lease), Err(LeaseError::Ended));
}

#[test]
fn release_hands_the_pool_directly_to_the_first_waiter() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait().lease_for(secs(42)).owner("w1")));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    let later = now + secs(1);
    let (fate, actions) = released(&mut core, later, g.lease);
    assert_eq!(fate, PoolFate::HandedOff);
    let [Action::LeaseEnded { .. }, Action::Grant { waiter, grant }] = actions[..] else {
        panic!("the end, then one grant only: {actions:?}")
    };
    assert_eq!(waiter, w1);
    assert_eq!(grant.pool, g.pool, "same pool, no create/shutdown churn");
    assert_eq!(grant.leased_at, later);
    assert_eq!(grant.lease_for, secs(42));
    assert_eq!(core.lease_owner(grant.lease).as_deref(), Some("w1"));
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w2]);
}

// ---- 6. the checker -----------------------------------------------------------

/// A check runs when `check_due` says so, on the units handed to
/// `handle_units` (was: a units closure given to `handle_timeout`).
#[test]
fn checker_pass_grows_to_desired() {
    let now = Instant::now();
    let (mut core, _) = started(builder(5), now, 0);
    core.notify_scale_changed(now);
    core.handle_timeout(now);
    assert!(drain_raw(&mut core).is_empty(), "handle_timeout runs no check");
    assert_eq!(core.units(), 0);
    check(&mut core, now, 31);
    let actions = drain_raw(&mut core);
    assert_eq!(created(&actions).len(), 3);
    assert_eq!(actions.len(), 3);
    assert_eq!(
        (core.total_count(), core.creating_count(), core.desired_executor_count(), core.units()),
        (4, 3, 4, 31)
    );
}

#[test]
fn checker_pass_shrinks_idle_pools_above_desired_most_recently_returned_first() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(5), now, 50);
    assert_eq!(pools.len(), 5);
    let gs: Vec<Grant> = (0..5).map(|_| take(&mut core, now)).collect();
    // Return in the order p3, p1, p5, p2, p4.
    for i in [2, 0, 4, 1, 3] {
        assert_eq!(released(&mut core, now, gs[i].lease).0, PoolFate::Kept);
    }
    core.notify_scale_changed(now);
    check(&mut core, now, 20); // desired 2
    let down = shut_down(&drain_raw(&mut core));
    assert_eq!(
        down,
        vec![
            (pools[3], ShutdownReason::Shrink),
            (pools[1], ShutdownReason::Shrink),
            (pools[4], ShutdownReason::Shrink)
        ]
    );
    // The two oldest returned are left, oldest first.
    assert_eq!(take(&mut core, now).pool, pools[2]);
    assert_eq!(take(&mut core, now).pool, pools[0]);
}

#[test]
fn checker_never_revokes_leased_non_expired_pools_when_the_target_shrinks() {
    let now = Instant::now();
    let (mut core, _) = started(builder(5), now, 50);
    let gs: Vec<Grant> = (0..5).map(|_| take(&mut core, now)).collect();
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    assert!(drain_raw(&mut core).is_empty(), "leased pools stay");
    assert_eq!((core.leased_count(), core.total_count(), core.desired_executor_count()), (5, 5, 1));
    // They shrink as they come back: all but the last one are shut down.
    for g in &gs[..4] {
        assert_eq!(released(&mut core, now, g.lease).0, PoolFate::ShutDown);
    }
    assert_eq!(released(&mut core, now, gs[4].lease).0, PoolFate::Kept);
    assert_eq!(core.total_count(), 1);
}

/// Revocation comes from `handle_timeout`, and also from `handle_units`
/// when the check runs first.
#[test]
fn checker_pass_revokes_expired_leases_and_serves_waiters() {
    let now = Instant::now();
    let b = builder(1).default_lease_for(secs(10)).lease_grace(secs(1));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    let at = core.poll_timeout().unwrap();
    assert_eq!(at, g.hard_expires_at());
    core.handle_timeout(at);
    assert_eq!(core.check_due(at), None, "no check due");
    let actions = drain(&mut core, at);
    assert_eq!(actions[..2], revoked(&g, None));
    let Action::CreatePool(fresh) = actions[2] else { panic!("{actions:?}") };
    assert_eq!(grants(&actions).iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w, fresh)]);

    // The same revocation happens inside a scheduled check pass.
    let b = builder(1).default_lease_for(secs(10)).lease_grace(Duration::ZERO).check_interval(secs(20));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    check(&mut core, now + secs(20), 0);
    let actions = drain(&mut core, now + secs(20));
    assert_eq!(actions[..2], revoked(&g, None));
    assert_eq!(core.total_count(), 1);
}

#[test]
fn poll_timeout_is_the_earliest_of_next_check_next_hard_expiry_and_next_waiter_deadline() {
    let t0 = Instant::now();
    let b = builder(1).check_interval(secs(100)).default_lease_for(secs(50)).lease_grace(secs(10));
    let (mut core, _) = started(b, t0, 0);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(100)), "next check");
    let g = take(&mut core, t0);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(60)), "hard expiry");
    let w = queued(core.acquire(t0, Acquire::wait_until(t0 + secs(30))));
    assert_eq!(core.poll_timeout(), Some(t0 + secs(30)), "waiter deadline");
    core.cancel_waiter(t0, w).unwrap();
    assert_eq!(core.poll_timeout(), Some(t0 + secs(60)));
    core.release(t0, g.lease).unwrap();
    drain_raw(&mut core);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(100)));

    // A check at t schedules the next one at t + check_interval.
    let t1 = t0 + secs(100);
    assert_eq!(core.check_due(t1 - secs(1)), None);
    core.handle_timeout(t1);
    assert_eq!(core.poll_timeout(), Some(t1), "still due until the units come in");
    check(&mut core, t1, 0);
    assert_eq!(core.poll_timeout(), Some(t1 + secs(100)));
    assert_eq!(core.check_due(t1), None);
    // A late timer still schedules from the time of the check.
    let t2 = t1 + secs(130);
    check(&mut core, t2, 0);
    assert_eq!(core.poll_timeout(), Some(t2 + secs(100)));

    // notify_scale_changed makes the check due now; units are taken then only.
    let t3 = t2 + secs(5);
    assert_eq!(core.check_due(t3), None, "no check due yet");
    core.notify_scale_changed(t3);
    assert_eq!(core.poll_timeout(), Some(t3));
    check(&mut core, t3, 7);
    assert_eq!(core.units(), 7);
    assert_eq!(core.poll_timeout(), Some(t3 + secs(100)));
    drain(&mut core, t3);

    core.stop(t3).unwrap();
    assert_eq!(core.poll_timeout(), None);
}

/// New: a check request that arrives while the units are being read (after
/// the `CheckDue` was issued) makes the next check due at once; a ticket
/// from before a stop, or one already used, does nothing.
#[test]
fn a_stale_check_ticket_makes_the_next_check_due_at_once() {
    let t0 = Instant::now();
    let (mut core, _) = started(builder(5).check_interval(secs(60)), t0, 0);
    core.notify_scale_changed(t0);
    let due = core.check_due(t0).expect("due");
    core.notify_scale_changed(t0 + secs(1)); // while the units were being read
    core.handle_units(t0 + secs(1), due, 31);
    assert_eq!(core.desired_executor_count(), 4, "the stale units still count");
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1)), "due again at once");
    let fresh = core.check_due(t0 + secs(1)).expect("a fresh read is due");
    core.handle_units(t0 + secs(1), fresh, 41);
    assert_eq!(core.desired_executor_count(), 5);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(61)), "not stale: the interval");
    // The same ticket again: the check is no longer due, nothing happens.
    core.handle_units(t0 + secs(2), fresh, 0);
    assert_eq!((core.units(), core.poll_timeout()), (41, Some(t0 + secs(61))));
    drain(&mut core, t0 + secs(2));

    // A ticket issued before a stop is void after a restart.
    core.notify_scale_changed(t0 + secs(2));
    let old = core.check_due(t0 + secs(2)).expect("due");
    core.stop(t0 + secs(2)).unwrap();
    drain_raw(&mut core);
    core.handle_units(t0 + secs(2), old, 0); // stopped: ignored
    core.start(t0 + secs(2), 10).unwrap();
    drain(&mut core, t0 + secs(2));
    core.notify_scale_changed(t0 + secs(3));
    core.handle_units(t0 + secs(3), old, 50);
    assert_eq!(core.units(), 10, "a ticket of an older run does nothing");
    assert!(core.check_due(t0 + secs(3)).is_some(), "the check is still due");
}

/// New: with a size provider, every grant and every lease ending by release
/// requests a check; without one, neither does.
#[test]
fn with_a_size_provider_grants_and_releases_request_a_check() {
    let t0 = Instant::now();
    for provider in [false, true] {
        let b = builder(3).check_interval(secs(60)).has_size_provider(provider);
        let (mut core, _) = started(b, t0, 0);
        assert_eq!(core.check_due(t0), None);
        let g = take(&mut core, t0 + secs(1));
        assert_eq!(core.check_due(t0 + secs(1)).is_some(), provider, "grant, provider {provider}");
        if provider {
            check(&mut core, t0 + secs(1), 0);
            assert_eq!(core.check_due(t0 + secs(1)), None);
        }
        // A release that only starts draining requests nothing...
        core.job_submitted(t0 + secs(2), g.lease).unwrap();
        assert_eq!(core.release(t0 + secs(2), g.lease), Ok(Released::Draining { jobs: 1 }));
        assert_eq!(core.check_due(t0 + secs(2)), None);
        // ...the end of the lease does.
        core.job_finished(t0 + secs(3), g.lease).unwrap();
        drain_raw(&mut core);
        assert_eq!(core.check_due(t0 + secs(3)).is_some(), provider, "end, provider {provider}");
        // A grant to a waiter while the units are read makes the ticket stale.
        if provider {
            let due = core.check_due(t0 + secs(3)).unwrap();
            let a = take(&mut core, t0 + secs(3));
            core.handle_units(t0 + secs(3), due, 0);
            assert_eq!(core.poll_timeout(), Some(t0 + secs(3)), "stale: due again at once");
            check(&mut core, t0 + secs(3), 0);
            assert_eq!(core.check_due(t0 + secs(3)), None);
            released(&mut core, t0 + secs(4), a.lease);
            assert!(core.check_due(t0 + secs(4)).is_some(), "released and ended");
        }
    }
}

// ---- 7. counts and stats ------------------------------------------------------

#[test]
fn counts_track_available_leased_total_desired_and_waiting() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3).min_pools(2), now, 0);
    assert_eq!(
        (core.available_count(), core.leased_count(), core.total_count(), core.desired_executor_count()),
        (2, 0, 2, 2)
    );
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    let c = take(&mut core, now);
    core.job_submitted(now, c.lease).unwrap();
    core.release(now, c.lease).unwrap(); // draining
    let _w = queued(core.acquire(now, Acquire::wait()));
    assert_eq!(
        (core.available_count(), core.leased_count(), core.total_count(), core.waiting_count()),
        (0, 3, 3, 1)
    );
    // Handed off to the waiter: still leased.
    assert_eq!(released(&mut core, now, a.lease).0, PoolFate::HandedOff);
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 3, 3));
    // Keeping it would leave 3 > desired 2.
    assert_eq!(released(&mut core, now, b.lease).0, PoolFate::ShutDown);
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 2, 2));
    // The draining lease ends: 1 + 1 <= 2, kept.
    assert_eq!(core.job_finished(now, c.lease), Ok(()));
    assert_eq!(end_of(&drain_raw(&mut core), c.lease), LeaseEnd::Released(PoolFate::Kept));
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (1, 1, 2));
}

#[test]
fn stats_report_each_lease_with_time_left_never_negative() {
    let now = Instant::now();
    let b = builder(3).min_pools(2).workers_per_pool(6).default_lease_for(secs(100)).lease_grace(secs(20));
    let (mut core, _) = started(b, now, 0);
    let a = granted(core.acquire(now, Acquire::no_wait().owner("etl")));
    let b = granted(core.acquire(now + secs(10), Acquire::no_wait().lease_for(secs(30))));
    drain_raw(&mut core);
    core.job_submitted(now + secs(10), a.lease).unwrap();
    let w = queued(core.acquire(now + secs(10), Acquire::wait())); // a third pool, being created

    let s = core.stats(now + secs(20));
    assert!(s.running);
    assert_eq!(
        (s.available, s.leased, s.creating, s.total, s.desired_executor_count, s.waiting),
        (0, 2, 1, 3, 2, 1)
    );
    assert_eq!((s.min_pools, s.max_pools, s.workers_per_pool, s.units), (2, 3, 6, 0));
    assert_eq!(s.leases.len(), 2);
    let (la, lb) = (&s.leases[0], &s.leases[1]);
    assert_eq!((la.id, lb.id), (a.lease, b.lease), "sorted by id");
    assert_eq!(la.owner.as_deref(), Some("etl"));
    assert_eq!(lb.owner, None);
    assert_eq!((la.pool, lb.pool), (a.pool, b.pool));
    assert_eq!((la.soft_remaining, la.hard_remaining), (secs(80), secs(100)));
    assert_eq!((lb.soft_remaining, lb.hard_remaining), (secs(20), secs(40)));
    assert_eq!((la.jobs, la.draining), (1, false));
    assert_eq!(lb.lease_for, secs(30));
    assert_eq!(lb.leased_at, now + secs(10));

    // Between soft and hard expiry: soft is zero, hard still counts down.
    let s = core.stats(now + secs(110));
    assert_eq!((s.leases[0].soft_remaining, s.leases[0].hard_remaining), (Duration::ZERO, secs(10)));
    // Past both: zero, never negative (and stats does not revoke anything).
    let s = core.stats(now + secs(10_000));
    for l in &s.leases {
        assert_eq!((l.soft_remaining, l.hard_remaining), (Duration::ZERO, Duration::ZERO));
    }
    assert_eq!(core.leased_count(), 2);
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w]);
}

// ---- 8. configuration validation ----------------------------------------------

#[test]
fn config_requires_max_pools() {
    let err = Config::builder().build().unwrap_err();
    assert_eq!(err, ConfigError::Missing { field: "max_pools" });
    assert!(err.to_string().contains("max_pools"));
}

#[test]
fn config_counts_must_be_at_least_one_and_errors_name_the_field() {
    let cases: [(&str, ConfigBuilder); 4] = [
        ("max_pools", Config::builder().max_pools(0).min_pools(0)),
        ("min_pools", builder(2).min_pools(0)),
        ("units_per_pool", builder(2).units_per_pool(0)),
        ("workers_per_pool", builder(2).workers_per_pool(0)),
    ];
    for (field, b) in cases {
        let err = b.build().unwrap_err();
        assert_eq!(err, ConfigError::TooSmall { field, value: 0 }, "{field}");
        assert_eq!(err.field(), field);
        assert!(err.to_string().contains(field), "{err}");
    }
    assert!(builder(1).min_pools(1).units_per_pool(1).workers_per_pool(1).build().is_ok());
}

#[test]
fn config_min_pools_must_not_exceed_max_pools() {
    let err = builder(2).min_pools(3).build().unwrap_err();
    assert_eq!(err, ConfigError::MinAboveMax { min: 3, max: 2 });
    assert_eq!(err.field(), "min_pools");
    assert!(err.to_string().contains("min_pools") && err.to_string().contains("max_pools"));
    assert!(builder(3).min_pools(3).build().is_ok());
}

#[test]
fn config_durations_check_interval_and_default_lease_for_must_be_positive_grace_may_be_zero() {
    for (field, b) in [
        ("check_interval", builder(1).check_interval(Duration::ZERO)),
        ("default_lease_for", builder(1).default_lease_for(Duration::ZERO)),
    ] {
        let err = b.build().unwrap_err();
        assert_eq!(err, ConfigError::ZeroDuration { field });
        assert!(err.to_string().contains(field), "{err}");
    }
    let c = builder(1).lease_grace(Duration::ZERO).build().expect("grace 0 = no grace");
    assert_eq!(c.lease_grace(), Duration::ZERO);
    assert!(
        builder(1)
            .check_interval(Duration::from_nanos(1))
            .default_lease_for(Duration::from_nanos(1))
            .build()
            .is_ok()
    );

    // Absurdly long durations are refused too, naming the field.
    let huge = Duration::from_secs(u64::MAX);
    for (field, b) in [
        ("check_interval", builder(1).check_interval(huge)),
        ("default_lease_for", builder(1).default_lease_for(huge)),
        ("lease_grace", builder(1).lease_grace(huge)),
    ] {
        assert_eq!(b.build().unwrap_err(), ConfigError::DurationTooLong { field });
    }
}

#[test]
fn per_acquire_lease_for_of_zero_is_rejected_naming_lease_for() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let err = core.acquire(now, Acquire::no_wait().lease_for(Duration::ZERO)).unwrap_err();
    assert_eq!(err, AcquireError::InvalidLease(ConfigError::ZeroDuration { field: "lease_for" }));
    assert!(err.to_string().contains("lease_for"), "{err}");
    let AcquireError::InvalidLease(inner) = &err else { unreachable!() };
    assert_eq!(inner.field(), "lease_for");
    assert_eq!(
        core.config().validate_lease_for(Duration::ZERO),
        Err(ConfigError::ZeroDuration { field: "lease_for" })
    );
    // Rejected before anything happens, waiting or not.
    assert!(matches!(
        core.acquire(now, Acquire::wait().lease_for(Duration::ZERO)),
        Err(AcquireError::InvalidLease(_))
    ));
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!((core.leased_count(), core.waiting_count()), (0, 0));
    assert!(matches!(
        core.acquire(now, Acquire::no_wait().lease_for(Duration::from_secs(u64::MAX))),
        Err(AcquireError::InvalidLease(ConfigError::DurationTooLong { field: "lease_for" }))
    ));
}

// ---- sizing rule ------------------------------------------------------------

#[test]
fn sizing_rule_is_min_max_of_ceil_units_over_units_per_pool() {
    let c = builder(5).min_pools(2).units_per_pool(10).build().unwrap();
    for (units, want) in [(0, 2), (1, 2), (10, 2), (20, 2), (21, 3), (30, 3), (31, 4), (50, 5), (51, 5)] {
        assert_eq!(c.desired_executor_count(units), want, "units {units}");
    }
    assert_eq!(c.desired_executor_count(u64::MAX), 5, "u64::MAX clamps to max_pools");
    let one = builder(usize::MAX).units_per_pool(1).build().unwrap();
    assert_eq!(one.desired_executor_count(u64::MAX), usize::try_from(u64::MAX).unwrap_or(usize::MAX));
    let big = builder(3).units_per_pool(u64::MAX).build().unwrap();
    assert_eq!(
        (big.desired_executor_count(0), big.desired_executor_count(1), big.desired_executor_count(u64::MAX)),
        (1, 1, 1)
    );
}

#[test]
fn core_sizes_from_the_units_it_was_given() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(4), now, u64::MAX);
    assert_eq!((pools.len(), core.desired_executor_count()), (4, 4));
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    assert_eq!(shut_down(&drain_raw(&mut core)).len(), 3);
    assert_eq!((core.total_count(), core.desired_executor_count()), (1, 1), "0 units gives min_pools");
}

// ---- beyond the original ----------------------------------------------------

/// One freed pool gives one grant (the lease's `LeaseEnded` comes first).
#[test]
fn waiters_are_served_fifo_with_one_grant_per_freed_pool() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    let ws: Vec<WaiterId> = (0..3).map(|_| queued(core.acquire(now, Acquire::wait()))).collect();

    let (_, actions) = released(&mut core, now, a.lease);
    assert_eq!(actions.len(), 2, "the lease's end and exactly one grant for one freed pool: {actions:?}");
    let [(w, g1)] = grants(&actions)[..] else { panic!() };
    assert_eq!((w, g1.pool), (ws[0], a.pool));
    assert_eq!(core.waiters().collect::<Vec<_>>(), ws[1..]);

    let (_, actions) = released(&mut core, now, b.lease);
    assert_eq!(grants(&actions).iter().map(|(w, _)| *w).collect::<Vec<_>>(), vec![ws[1]]);
    assert_eq!(actions.len(), 2);
    let (_, actions) = released(&mut core, now, g1.lease);
    assert_eq!(grants(&actions).iter().map(|(w, _)| *w).collect::<Vec<_>>(), vec![ws[2]]);
    assert_eq!(core.waiting_count(), 0);
}

#[test]
fn a_grant_handed_back_goes_to_the_next_waiter_without_losing_capacity() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let a = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    let (_, actions) = released(&mut core, now, a.lease);
    let [(first, g1)] = grants(&actions)[..] else { panic!() };
    assert_eq!(first, w1, "the released pool went to the first waiter");
    // w1's future was dropped before it saw the grant: the driver hands it back.
    assert_eq!(core.cancel_waiter(now, w1), Err(WaiterError::Ended), "drained: too late to cancel");
    let (fate, actions) = released(&mut core, now, g1.lease);
    assert_eq!(fate, PoolFate::HandedOff);
    let [Action::LeaseEnded { .. }, Action::Grant { waiter, grant: g2 }] = actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!((waiter, g2.pool), (w2, a.pool));
    assert_ne!(g2.lease, g1.lease);
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    // And once nobody waits, handing back keeps the pool.
    assert_eq!(released(&mut core, now, g2.lease).0, PoolFate::Kept);
    assert_eq!(core.available_count(), 1);
}

#[test]
fn poll_timeout_is_an_index_over_ten_thousand_leases() {
    const N: u64 = 10_000;
    let t0 = Instant::now();
    let b = builder(N as usize).lease_grace(Duration::ZERO).check_interval(secs(50 * 365 * 24 * 3600));
    let (mut core, _) = started(b, t0, 0);
    // Lease i expires at t0 + 1000 + perm(i) seconds, with perm a bijection
    // (7919 is prime, so i * 7919 mod N visits every residue once).
    let perm = |i: u64| (i * 7919) % N;
    let mut by_expiry: Vec<Option<LeaseId>> = vec![None; N as usize];
    for i in 0..N {
        let g = take_with(&mut core, t0, Acquire::no_wait().lease_for(secs(1000 + perm(i))));
        by_expiry[perm(i) as usize] = Some(g.lease);
    }
    assert_eq!(core.leased_count(), N as usize);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1000)));

    // Releasing a lease in the middle does not move it...
    let mid = by_expiry[5000].take().unwrap();
    assert_eq!(core.release(t0, mid), Ok(Released::Ended));
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1000)));
    // ...releasing the earliest moves it to the next earliest, every time.
    for k in 0..N {
        let Some(lease) = by_expiry[k as usize].take() else { continue };
        assert_eq!(core.release(t0, lease), Ok(Released::Ended));
        let next = (k + 1..N).find(|&j| by_expiry[j as usize].is_some());
        let want = next.map_or(t0 + secs(50 * 365 * 24 * 3600), |j| t0 + secs(1000 + j));
        assert_eq!(core.poll_timeout(), Some(want), "after releasing expiry #{k}");
    }
    assert_eq!(core.leased_count(), 0);
    assert_eq!(ended(&drain_raw(&mut core)).len(), N as usize);
}

#[test]
fn poll_timeout_is_an_index_over_ten_thousand_waiter_deadlines() {
    const N: u64 = 10_000;
    let t0 = Instant::now();
    let b = builder(1)
        .lease_grace(Duration::ZERO)
        .default_lease_for(secs(1_000_000))
        .check_interval(secs(2_000_000));
    let (mut core, _) = started(b, t0, 0);
    let held = take(&mut core, t0);
    let perm = |i: u64| (i * 7919) % N;
    let mut by_deadline: Vec<Option<WaiterId>> = vec![None; N as usize];
    for i in 0..N {
        let w = queued(core.acquire(t0, Acquire::wait_until(t0 + secs(10 + perm(i)))));
        by_deadline[perm(i) as usize] = Some(w);
    }
    assert_eq!(core.poll_timeout(), Some(t0 + secs(10)));
    for k in 0..N {
        let w = by_deadline[k as usize].take().unwrap();
        assert_eq!(core.cancel_waiter(t0, w), Ok(()));
        let want = if k + 1 < N { t0 + secs(10 + k + 1) } else { held.hard_expires_at() };
        assert_eq!(core.poll_timeout(), Some(want), "after cancelling deadline #{k}");
    }
    assert_eq!(core.waiting_count(), 0);
}

/// Every lease granted ends with exactly one `LeaseEnded` naming it, its
/// pool and owner, whatever ends it, before any shutdown or grant of its
/// pool in the same drain; a lease whose grant was withdrawn (cancelled or
/// broken before the driver drained it) ends once too.
#[test]
fn every_granted_lease_ends_with_exactly_one_lease_ended() {
    let t0 = Instant::now();
    let b = builder(3).default_lease_for(secs(10)).lease_grace(Duration::ZERO).check_interval(secs(3600));
    let (mut core, _) = started(b, t0, 0);
    let mut log: Vec<Action> = Vec::new();
    let mut seen: Vec<Grant> = Vec::new();
    let record = |core: &mut Core, now: Instant, log: &mut Vec<Action>| {
        let actions = drain(core, now);
        assert_ends_come_first(&actions);
        log.extend(actions);
    };

    // Released: kept.
    let a = granted(core.acquire(t0, Acquire::no_wait().owner("a")));
    seen.push(a);
    core.release(t0, a.lease).unwrap();
    record(&mut core, t0, &mut log);
    // b holds the idle pool; c and d wait for pools created for them.
    let b = granted(core.acquire(t0, Acquire::no_wait()));
    let wc = queued(core.acquire(t0, Acquire::wait().owner("c")));
    let wd = queued(core.acquire(t0, Acquire::wait()));
    record(&mut core, t0, &mut log);
    let (c, d) = (grant_for(&log, wc), grant_for(&log, wd));
    // e waits at max_pools; b's release hands off to it.
    let we = queued(core.acquire(t0, Acquire::wait()));
    core.release(t0, b.lease).unwrap();
    record(&mut core, t0, &mut log);
    let e = grant_for(&log, we);
    // Released, shut down (3 > desired 1); broken.
    core.release(t0, c.lease).unwrap();
    core.pool_broken(t0, d.pool).unwrap();
    record(&mut core, t0, &mut log);
    // Expired on submit; then on the timer; then on release with a job.
    let t1 = t0 + secs(10);
    assert_eq!(core.job_submitted(t1, e.lease), Err(LeaseError::Expired));
    record(&mut core, t1, &mut log);
    let f = take(&mut core, t1);
    let t2 = t1 + secs(10);
    core.handle_timeout(t2);
    record(&mut core, t2, &mut log);
    let h = take(&mut core, t2);
    core.job_submitted(t2, h.lease).unwrap();
    let t3 = t2 + secs(10);
    assert_eq!(core.release(t3, h.lease), Ok(Released::Ended));
    record(&mut core, t3, &mut log);
    // Withdrawn grants: a waiter cancelled with its grant undrained, and a
    // pool broken with its grant undrained.
    let i = take(&mut core, t3);
    let w = queued(core.acquire(t3, Acquire::wait()));
    let [Action::CreatePool(p)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    core.pool_created(t3, p);
    core.cancel_waiter(t3, w).unwrap();
    record(&mut core, t3, &mut log);
    let w = queued(core.acquire(t3, Acquire::wait()));
    let [Action::CreatePool(p)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    core.pool_created(t3, p);
    core.pool_broken(t3, p).unwrap();
    record(&mut core, t3, &mut log);
    assert!(fails(&log).contains(&(w, AcquireError::PoolBroken { pool: p })));
    // Stopped.
    core.stop(t3).unwrap();
    record(&mut core, t3, &mut log);
    seen.extend([b, c, d, e, f, h, i]);

    let ends = ended(&log);
    let mut count: HashMap<LeaseId, usize> = HashMap::new();
    for (lease, _, _) in &ends {
        *count.entry(*lease).or_default() += 1;
    }
    assert!(count.values().all(|&n| n == 1), "a lease ended twice: {ends:?}");
    for g in &seen {
        assert_eq!(count.get(&g.lease), Some(&1), "{:?} did not end once", g.lease);
        let (_, pool, _) = ends.iter().find(|(l, _, _)| *l == g.lease).unwrap();
        assert_eq!(*pool, g.pool);
        assert_eq!(core.release(t3, g.lease), Err(LeaseError::Ended));
    }
    assert_eq!(ends.len(), seen.len(), "none for the two withdrawn grants, never handed over: {ends:?}");
    let end = |g: &Grant| end_of(&log, g.lease);
    assert_eq!(
        [end(&a), end(&b), end(&c), end(&d), end(&e), end(&f), end(&h), end(&i)],
        [
            LeaseEnd::Released(PoolFate::Kept),
            LeaseEnd::Released(PoolFate::HandedOff),
            LeaseEnd::Released(PoolFate::ShutDown),
            LeaseEnd::PoolBroken,
            LeaseEnd::Expired,
            LeaseEnd::Expired,
            LeaseEnd::Expired,
            LeaseEnd::Stopped,
        ]
    );
    let owners: Vec<_> = log
        .iter()
        .filter_map(|x| match x {
            Action::LeaseEnded { lease, owner, .. } if [a.lease, c.lease].contains(lease) => owner.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        owners.iter().map(|o| &**o).collect::<Vec<_>>(),
        vec!["a", "c"],
        "the owner label rides along"
    );
}

/// A `now` older than one already seen is taken as the latest one: time
/// never goes backwards inside the core.
#[test]
fn a_clock_going_backwards_is_clamped_to_the_latest_now() {
    let t0 = Instant::now() + secs(100);
    let b = builder(2).default_lease_for(secs(10)).lease_grace(Duration::ZERO);
    let (mut core, _) = started(b, t0, 0);
    core.notify_scale_changed(t0 + secs(5));
    // An acquire read its clock before the notification reached the core.
    let g = granted(core.acquire(t0, Acquire::no_wait()));
    assert_eq!(g.leased_at, t0 + secs(5), "leased at the latest now");
    assert_eq!(g.hard_expires_at(), t0 + secs(15));
    // Past its hard expiry, a release stamped earlier still finds it expired.
    assert_eq!(core.job_submitted(t0 + secs(15) - Duration::from_nanos(1), g.lease), Ok(g.pool));
    core.notify_scale_changed(t0 + secs(20));
    assert_eq!(core.release(t0 + secs(1), g.lease), Ok(Released::Ended));
    let actions = drain(&mut core, t0);
    assert_eq!(end_of(&actions, g.lease), LeaseEnd::Expired, "released at 20 s, past its hard expiry");
    let g2 = take(&mut core, t0 + secs(1));
    assert_eq!(g2.leased_at, t0 + secs(20));
    // A timer firing early (an older now) revokes nothing before its time,
    // and one firing with an older now after a later input still does.
    core.handle_timeout(t0);
    assert_eq!(core.leased_count(), 1);
    core.notify_scale_changed(t0 + secs(30));
    core.handle_timeout(t0);
    assert_eq!(end_of(&drain(&mut core, t0), g2.lease), LeaseEnd::Expired, "expired at 30 s");
    // A deadline judged against the clamped clock: already past.
    let _held = take(&mut core, t0);
    let _other = take(&mut core, t0);
    assert_eq!(core.acquire(t0, Acquire::wait_until(t0 + secs(21))), Err(AcquireError::Timeout));
    // A check handed in with an older now runs at the latest one, and
    // check_due looks at the latest now too.
    check(&mut core, t0, 0);
    assert_eq!(core.check_due(t0 + secs(149)), None, "next check from 30 s");
    assert!(core.check_due(t0 + secs(150)).is_some(), "next check from 30 s");
    assert_eq!(core.check_due(t0), None);
    core.notify_scale_changed(t0 + secs(40));
    assert!(core.check_due(t0).is_some(), "due at the latest now (40 s)");
}

// ---- misuse panics ------------------------------------------------------------

/// A started core with one idle pool, and a second one whose ids are foreign
/// to it: a lease, a waiter and a pool of the second.
fn two_cores() -> (Core, Instant, Grant, WaiterId, PoolId) {
    let now = Instant::now();
    let (core, _) = started(builder(1), now, 0);
    let (mut other, pools) = started(builder(1), now, 0);
    let g = take(&mut other, now);
    let w = queued(other.acquire(now, Acquire::wait()));
    (core, now, g, w, pools[0])
}

#[test]
#[should_panic(expected = "release was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_release() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.release(now, g.lease);
}

#[test]
#[should_panic(expected = "release_busy was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_release_busy() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.release_busy(now, g.lease);
}

#[test]
#[should_panic(expected = "job_submitted was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_job_submitted() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.job_submitted(now, g.lease);
}

#[test]
#[should_panic(expected = "job_finished was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_job_finished() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.job_finished(now, g.lease);
}

#[test]
#[should_panic(expected = "lease_owner was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_lease_owner() {
    let (core, _, g, _, _) = two_cores();
    let _ = core.lease_owner(g.lease);
}

#[test]
#[should_panic(expected = "cancel_waiter was given a waiter id issued by another Core")]
fn a_foreign_waiter_id_panics_in_cancel_waiter() {
    let (mut core, now, _, w, _) = two_cores();
    let _ = core.cancel_waiter(now, w);
}

#[test]
#[should_panic(expected = "pool_broken was given a pool id issued by another Core")]
fn a_foreign_pool_id_panics_in_pool_broken() {
    let (mut core, now, _, _, pool) = two_cores();
    let _ = core.pool_broken(now, pool);
}

#[test]
#[should_panic(expected = "pool_created was given a pool id issued by another Core")]
fn a_foreign_pool_id_panics_in_pool_created() {
    let (mut core, now, _, _, pool) = two_cores();
    core.pool_created(now, pool);
}

#[test]
#[should_panic(expected = "pool_create_failed was given a pool id issued by another Core")]
fn a_foreign_pool_id_panics_in_pool_create_failed() {
    let (mut core, now, _, _, pool) = two_cores();
    core.pool_create_failed(now, pool);
}

#[test]
#[should_panic(expected = "pool_created for pool 1, which is not being created")]
fn confirming_a_pool_twice_panics() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(1), now, 0);
    core.pool_created(now, pools[0]);
}

#[test]
#[should_panic(expected = "pool_create_failed for pool 1, which is not being created")]
fn failing_a_confirmed_pool_panics() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(1), now, 0);
    core.pool_create_failed(now, pools[0]);
}

#[test]
#[should_panic(expected = "pool_create_failed for pool 1, which is not being created")]
fn failing_a_creation_twice_panics() {
    let now = Instant::now();
    let mut core = core_with(builder(1));
    core.start(now, 0).unwrap();
    let [Action::CreatePool(p)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    core.pool_create_failed(now, p);
    core.pool_create_failed(now, p);
}

#[test]
#[should_panic(expected = "job_finished on lease 1 with no job in flight")]
fn job_finished_with_no_job_in_flight_panics() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    core.job_finished(now, g.lease).unwrap();
    let _ = core.job_finished(now, g.lease);
}

#[test]
#[should_panic(expected = "release_busy on lease 1 whose jobs were reported with job_submitted")]
fn release_busy_after_job_submitted_panics() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    let _ = core.release_busy(now, g.lease);
}
