//! One test (or a few) per behaviour of the sans-IO core, in numbered
//! sections: 1 start, 2 stop, 3 acquire (then waiter timeout and cancel),
//! 4 submitting through a lease, 5 release, 6 the checker pass, 7 counts and
//! stats, 8 configuration validation, then the sizing rule; and, under
//! "beyond the original", what the Python original (leasepool 0.1.3) does
//! not promise: FIFO waiters with one grant per freed pool, a grant handed
//! back without losing capacity, and an indexed next timeout.
//!
//! Every test drives the core by the contract in the crate docs: after each
//! input, drain `poll_action` and look at exactly what came out.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use leasepool_core::{
    Acquire, AcquireError, Acquired, Action, Config, ConfigBuilder, ConfigError, Core, Finalised, Grant,
    LeaseId, PoolId, ReleaseOutcome, ShutdownReason, SubmitError, WaiterId,
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

/// Every pending action, in order.
fn drain(core: &mut Core) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

/// A started core (with its start actions drained) and the pools it created.
fn started(b: ConfigBuilder, now: Instant, units: u64) -> (Core, Vec<PoolId>) {
    let mut core = core_with(b);
    assert!(core.start(now, units));
    let pools = created(&drain(&mut core));
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
            Action::ShutdownPool { pool, reason } => Some((*pool, reason.clone())),
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

#[track_caller]
/// The shutdown of `g`'s pool at its lease's revocation.
fn revoked(g: &Grant, owner: Option<&str>) -> Action {
    Action::ShutdownPool {
        pool: g.pool,
        reason: ShutdownReason::Expired { lease: g.lease, owner: owner.map(Into::into) },
    }
}

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

/// Acquire without waiting, drain, and return the grant.
#[track_caller]
fn take(core: &mut Core, now: Instant) -> Grant {
    let g = granted(core.acquire(now, Acquire::no_wait()));
    drain(core);
    g
}

// ---- 1. start ---------------------------------------------------------------

#[test]
fn start_is_idempotent_and_creates_desired_pools_for_the_units_given_at_start() {
    let now = Instant::now();
    let mut core = core_with(builder(5));
    assert!(core.start(now, 31)); // ceil(31 / 10) = 4
    let actions = drain(&mut core);
    let pools = created(&actions);
    assert_eq!(actions.len(), 4, "only CreatePool actions: {actions:?}");
    assert_eq!(pools.len(), 4);
    assert_eq!(pools.iter().collect::<HashSet<_>>().len(), 4, "distinct pool ids");
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (4, 0, 4));
    assert_eq!(core.desired_count(), 4);
    assert!(core.is_running());

    assert!(!core.start(now, 50), "second start is a no-op");
    assert!(drain(&mut core).is_empty());
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
    assert!(core.start(now, 0));
    // The driver creates pools in order; the first one fails.
    let Some(Action::CreatePool(first)) = core.poll_action() else { panic!("expected CreatePool") };
    assert!(core.pool_create_failed(first, now));
    assert!(!core.pool_create_failed(first, now), "a forgotten pool is unknown");
    let rest = drain(&mut core);
    let rest_created = created(&rest);
    assert_eq!(rest_created.len(), 2, "the min is not restored by a failed creation: {rest:?}");
    assert_eq!(core.total_count(), 2);

    // Start failed: the driver stops, which tears down what start created.
    assert!(core.stop(now));
    let stop_actions = drain(&mut core);
    let mut down: Vec<_> = shut_down(&stop_actions).into_iter().map(|(p, _)| p).collect();
    down.sort();
    assert_eq!(down, rest_created);
    assert!(shut_down(&stop_actions).iter().all(|(_, r)| *r == ShutdownReason::Stopped));
    assert_eq!(core.total_count(), 0);
    assert!(!core.is_running());
    assert_eq!(core.poll_timeout(), None);

    // It can start again, with fresh pool ids.
    assert!(core.start(now, 0));
    let again = created(&drain(&mut core));
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|p| *p != first && !rest_created.contains(p)));
    assert_eq!(core.total_count(), 3);
}

// ---- 2. stop ----------------------------------------------------------------

#[test]
fn stop_is_idempotent_and_shuts_down_available_and_leased_pools() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(3), now, 30);
    assert_eq!(pools.len(), 3);
    let a = take(&mut core, now); // leased
    let b = take(&mut core, now); // draining
    core.job_submitted(b.lease, now).unwrap();
    assert_eq!(core.release(b.lease, now), ReleaseOutcome::Draining { jobs: 1 });
    assert_eq!((core.available_count(), core.leased_count()), (1, 2));

    assert!(core.stop(now));
    let actions = drain(&mut core);
    let mut down: Vec<_> = shut_down(&actions).into_iter().map(|(p, _)| p).collect();
    down.sort();
    assert_eq!(down, pools, "available, leased and draining pools are all shut down");
    assert_eq!(actions.len(), 3);
    assert!(shut_down(&actions).iter().all(|(_, r)| *r == ShutdownReason::Stopped));
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 0, 0));
    assert!(core.stats(now).leases.is_empty());
    assert!(!core.stats(now).running);

    assert!(!core.stop(now), "second stop is a no-op");
    assert!(drain(&mut core).is_empty());
    // The driver's in-flight job on the stopped pool finishes later: ignored.
    assert_eq!(core.job_finished(b.lease, now), None);
    assert_eq!(core.release(a.lease, now), ReleaseOutcome::Unknown);
    assert_eq!(core.job_submitted(a.lease, now), Err(SubmitError::Unknown));
    assert!(!core.pool_broken(a.pool, now));
    assert!(drain(&mut core).is_empty());
}

#[test]
fn stop_fails_every_waiter_with_not_started_and_later_acquires_fail_the_same_way() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    assert!(core.stop(now));
    let actions = drain(&mut core);
    let fails: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::FailWaiter { waiter, error } => Some((*waiter, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(fails, vec![(w1, AcquireError::NotStarted), (w2, AcquireError::NotStarted)]);
    assert_eq!(core.waiting_count(), 0);
    assert!(!core.cancel_waiter(w1));

    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::NotStarted));
    assert_eq!(core.acquire(now, Acquire::wait()), Err(AcquireError::NotStarted));
    // A stopped core ignores timers and scale signals.
    core.notify_scale_changed(now);
    core.handle_timeout(now + secs(1000), || panic!("no check while stopped"));
    assert_eq!(core.poll_timeout(), None);
    assert!(drain(&mut core).is_empty());
}

#[test]
fn restart_after_stop_works_and_lease_ids_stay_unique_across_restart() {
    let now = Instant::now();
    let (mut core, first_pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    core.stop(now);
    drain(&mut core);

    assert!(core.start(now, 0));
    let second_pools = created(&drain(&mut core));
    assert!(second_pools.iter().all(|p| !first_pools.contains(p) && *p != b.pool));
    let c = take(&mut core, now);
    let d = take(&mut core, now);
    let ids: HashSet<LeaseId> = [a.lease, b.lease, c.lease, d.lease].into_iter().collect();
    assert_eq!(ids.len(), 4, "lease ids never repeat across restart");
    // Stale ids from before the restart never match a new lease, even when
    // they reuse the same internal slot.
    assert_eq!(core.release(a.lease, now), ReleaseOutcome::Unknown);
    assert_eq!(core.job_submitted(b.lease, now), Err(SubmitError::Unknown));
    assert_eq!(core.leased_count(), 2);
}

// ---- 3. acquire -------------------------------------------------------------

#[test]
fn acquire_revokes_hard_expired_leases_first() {
    let now = Instant::now();
    let b = builder(1).default_lease(secs(10)).lease_grace(secs(1));
    let (mut core, _) = started(b, now, 0);
    let old = granted(core.acquire(now, Acquire::no_wait().owner("old")));
    let later = now + secs(11); // exactly the hard expiry
    let fresh = granted(core.acquire(later, Acquire::no_wait()));
    let actions = drain(&mut core);
    assert_eq!(actions[0], revoked(&old, Some("old")));
    assert_eq!(actions[1..], [Action::CreatePool(fresh.pool)]);
    assert_ne!(fresh.pool, old.pool);
    assert_eq!(core.job_submitted(old.lease, later), Err(SubmitError::Unknown));
}

#[test]
fn acquire_takes_the_oldest_returned_available_pool() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(3).min_pools(3), now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    assert_eq!(gs.iter().map(|g| g.pool).collect::<Vec<_>>(), pools, "start order first");
    // Return them in the order 2, 3, 1.
    for i in [1, 2, 0] {
        assert_eq!(core.release(gs[i].lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
    }
    let order: Vec<PoolId> = (0..3).map(|_| take(&mut core, now).pool).collect();
    assert_eq!(order, vec![pools[1], pools[2], pools[0]]);
}

#[test]
fn acquire_creates_pools_below_max_even_above_desired() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3), now, 0);
    assert_eq!(core.desired_count(), 1);
    take(&mut core, now);
    for _ in 0..2 {
        let g = granted(core.acquire(now, Acquire::no_wait()));
        assert_eq!(drain(&mut core), vec![Action::CreatePool(g.pool)]);
    }
    assert_eq!((core.total_count(), core.desired_count()), (3, 1), "demand above desired, up to max");
    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
}

#[test]
fn acquire_no_wait_fails_unavailable_at_once() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    assert_eq!(core.acquire(now, Acquire::no_wait()), Err(AcquireError::Unavailable));
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.waiting_count(), 0);
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
    assert!(drain(&mut core).is_empty(), "queueing performs no action");
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
    let (mut core, _) = started(builder(1).default_lease(secs(10)).lease_grace(secs(2)), now, 0);
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
    let g = take(&mut core, now);
    assert_eq!(g.soft_expires_at(), now + secs(10));
    assert_eq!(g.hard_expires_at(), now + secs(12));
    assert_eq!(core.poll_timeout(), Some(now + secs(12)));
}

// ---- waiters: timeout and cancel ------------------------------------------

#[test]
fn waiter_times_out_through_handle_timeout() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    assert_eq!(core.poll_timeout(), Some(now + secs(5)));
    core.handle_timeout(now + secs(4), || panic!("no check due"));
    assert!(drain(&mut core).is_empty(), "not yet");
    core.handle_timeout(now + secs(5), || panic!("no check due"));
    assert_eq!(drain(&mut core), vec![Action::FailWaiter { waiter: w, error: AcquireError::Timeout }]);
    assert_eq!(core.waiting_count(), 0);
    assert!(!core.cancel_waiter(w));
    assert_eq!(core.poll_timeout(), Some(now + secs(120)), "the deadline is gone from the index");
}

#[test]
fn a_pool_freed_after_a_waiters_deadline_fails_that_waiter_instead_of_granting_it() {
    // The driver's timer fires late: the release comes first.
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let a = take(&mut core, now);
    let late = queued(core.acquire(now, Acquire::wait_until(now + secs(1))));
    let patient = queued(core.acquire(now, Acquire::wait()));
    let at = now + secs(2);
    assert_eq!(core.release(a.lease, at), ReleaseOutcome::Finalised(Finalised::HandedOff));
    let actions = drain(&mut core);
    assert_eq!(actions[0], Action::FailWaiter { waiter: late, error: AcquireError::Timeout }, "{actions:?}");
    assert_eq!(grants(&actions).iter().map(|(w, _)| *w).collect::<Vec<_>>(), vec![patient]);
    // Alone in the queue, the late waiter times out and the pool is kept.
    let (mut core, _) = started(builder(1), now, 0);
    let a = take(&mut core, now);
    let late = queued(core.acquire(now, Acquire::wait_until(now + secs(1))));
    assert_eq!(core.release(a.lease, at), ReleaseOutcome::Finalised(Finalised::Kept));
    assert_eq!(drain(&mut core), vec![Action::FailWaiter { waiter: late, error: AcquireError::Timeout }]);
    assert_eq!(core.available_count(), 1);
}

#[test]
fn a_waiter_past_its_deadline_does_not_take_the_pool_from_a_live_acquire() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease(secs(10)).lease_grace(Duration::ZERO), now, 0);
    take(&mut core, now);
    let late = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    // At hard expiry a new acquire revokes the lease; the replacement pool
    // is its, not the timed-out waiter's.
    let at = now + secs(10);
    let fresh = granted(core.acquire(at, Acquire::no_wait()));
    let actions = drain(&mut core);
    assert!(grants(&actions).is_empty(), "{actions:?}");
    assert!(
        actions.contains(&Action::FailWaiter { waiter: late, error: AcquireError::Timeout }),
        "{actions:?}"
    );
    assert_eq!(fresh.leased_at, at);
}

#[test]
fn cancel_waiter_withdraws_a_queued_acquire() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).min_pools(1), now, 0);
    let g = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    assert!(core.cancel_waiter(w1));
    assert!(!core.cancel_waiter(w1), "cancel is idempotent");
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w2]);
    assert_eq!(core.poll_timeout(), Some(now + secs(120)), "cancelled deadline no longer scheduled");
    assert!(core.cancel_waiter(w2));
    // Nobody waits now, so the release keeps the pool.
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
    assert!(drain(&mut core).is_empty());
}

// ---- 4. submitting through a lease -----------------------------------------

#[test]
fn job_submitted_on_an_unknown_lease_fails() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    assert_eq!(core.job_submitted(g.lease, now), Ok(g.pool));
    assert_eq!(core.job_finished(g.lease, now), None);
    core.release(g.lease, now);
    assert_eq!(core.job_submitted(g.lease, now), Err(SubmitError::Unknown));
    assert_eq!(core.job_finished(g.lease, now), None, "unknown leases are ignored");
}

#[test]
fn job_submitted_on_a_released_draining_lease_fails_released() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(g.lease, now).unwrap();
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Draining { jobs: 1 });
    assert_eq!(core.job_submitted(g.lease, now), Err(SubmitError::Released));
}

#[test]
fn job_submitted_past_hard_expiry_revokes_on_the_spot_restores_min_and_serves_waiters() {
    let now = Instant::now();
    let b = builder(1).default_lease(secs(10)).lease_grace(secs(5)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = granted(core.acquire(now, Acquire::no_wait().owner("late")));
    let w = queued(core.acquire(now, Acquire::wait()));
    // Soft expiry alone still accepts work.
    assert_eq!(core.job_submitted(g.lease, now + secs(12)), Ok(g.pool));
    core.job_finished(g.lease, now + secs(12));
    let late = now + secs(15);
    assert_eq!(core.job_submitted(g.lease, late), Err(SubmitError::Expired));
    let actions = drain(&mut core);
    assert_eq!(actions[0], revoked(&g, Some("late")));
    let Action::CreatePool(fresh) = actions[1] else { panic!("min restored: {actions:?}") };
    let [(waiter, grant)] = grants(&actions)[..] else { panic!("one grant: {actions:?}") };
    assert_eq!((waiter, grant.pool), (w, fresh));
    assert_eq!(actions.len(), 3);
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    assert_eq!(core.job_submitted(g.lease, late), Err(SubmitError::Unknown));
}

#[test]
fn pool_broken_retires_the_pool_and_serves_waiters() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    assert_eq!(a.pool, pools[0]);
    core.job_submitted(a.lease, now).unwrap();
    let w = queued(core.acquire(now, Acquire::wait()));

    assert!(core.pool_broken(a.pool, now));
    let actions = drain(&mut core);
    assert_eq!(actions[0], Action::ShutdownPool { pool: a.pool, reason: ShutdownReason::Broken });
    let Action::CreatePool(fresh) = actions[1] else { panic!("replacement created: {actions:?}") };
    let [(waiter, grant)] = grants(&actions)[..] else { panic!("one grant: {actions:?}") };
    assert_eq!((waiter, grant.pool), (w, fresh), "the waiter gets the replacement");
    assert!(!core.pool_broken(a.pool, now), "already retired");
    assert_eq!(core.job_finished(a.lease, now), None, "its lease is gone");
    assert_eq!(core.job_submitted(a.lease, now), Err(SubmitError::Unknown));

    // Never reused: cycle leases many times and never see it again.
    let live = grants(&actions)[0].1;
    core.release(live.lease, now);
    core.release(b.lease, now);
    drain(&mut core);
    for _ in 0..10 {
        let g = take(&mut core, now);
        assert_ne!(g.pool, a.pool);
        core.release(g.lease, now);
        drain(&mut core);
    }
}

#[test]
fn a_revocation_under_the_replacement_pause_still_restores_the_minimum() {
    // Only a pool lost to breaking waits for the check: a revoked lease's
    // pool is replaced at once, whether the revocation comes from a submit
    // or from the timer.
    for via_timer in [false, true] {
        let now = Instant::now();
        let b = builder(3).min_pools(2).default_lease(secs(10)).lease_grace(Duration::ZERO);
        let (mut core, pools) = started(b, now, 0);
        let a = take(&mut core, now);
        let other = if a.pool == pools[0] { pools[1] } else { pools[0] };
        assert!(core.pool_broken(other, now));
        drain(&mut core);
        assert_eq!(core.total_count(), 2, "the broken pool replaced at once");
        let at = a.hard_expires_at();
        if via_timer {
            assert_eq!(core.poll_timeout(), Some(at));
            core.handle_timeout(at, || 0);
        } else {
            assert_eq!(core.job_submitted(a.lease, at), Err(SubmitError::Expired));
        }
        let actions = drain(&mut core);
        assert_eq!(created(&actions).len(), 1, "via timer {via_timer}: {actions:?}");
        assert_eq!(core.total_count(), 2, "via timer {via_timer}: back at min_pools");
    }
}

#[test]
fn a_pool_that_breaks_before_its_grant_is_drained_fails_that_waiter() {
    // A custom driver whose pool breaks while it performs the drain that
    // created the pool and granted it to a waiter.
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease(secs(10)).lease_grace(Duration::ZERO), now, 0);
    take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    let at = now + secs(10);
    core.handle_timeout(at, || 0);
    assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { .. })));
    let Some(Action::CreatePool(fresh)) = core.poll_action() else { panic!("a replacement") };
    assert!(core.pool_broken(fresh, at));
    let actions = drain(&mut core);
    assert!(grants(&actions).is_empty(), "no grant of a forgotten lease: {actions:?}");
    assert!(
        actions.contains(&Action::FailWaiter { waiter: w, error: AcquireError::PoolCreationFailed }),
        "{actions:?}"
    );
    assert_eq!(core.leased_count(), 0);
}

#[test]
fn a_broken_pool_is_replaced_at_once_but_a_failing_replacement_waits_for_the_check() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    assert!(core.pool_broken(pools[0], now));
    let actions = drain(&mut core);
    let [Action::ShutdownPool { pool, reason: ShutdownReason::Broken }, Action::CreatePool(fresh)] =
        actions[..]
    else {
        panic!("retired and replaced: {actions:?}")
    };
    assert_eq!(pool, pools[0]);
    assert_eq!(core.total_count(), 1, "the minimum restored at once");
    assert!(!core.pool_broken(PoolId::from_seq(999), now), "unknown pool");
    // The replacement breaks too (an initializer that always fails): it is
    // not replaced in the same breath, so nothing spins.
    assert!(core.pool_broken(fresh, now));
    assert_eq!(drain(&mut core), vec![Action::ShutdownPool { pool: fresh, reason: ShutdownReason::Broken }]);
    assert_eq!(core.total_count(), 0);
    // Acquires still create on demand; a release (an outside event)
    // restores the desired count, here already met by the kept pool.
    let g = take(&mut core, now);
    core.release(g.lease, now);
    assert_eq!(core.total_count(), 1, "kept, no extra creation");
    // The next check restores the count and lifts the pause.
    let later = now + Duration::from_secs(120);
    assert_eq!(core.poll_timeout(), Some(later));
    core.handle_timeout(later, || 0);
    assert!(drain(&mut core).is_empty(), "the minimum already holds");
    let idle = core.stats(later).available;
    assert_eq!(idle, 1);
    let g = take(&mut core, later);
    assert!(core.pool_broken(g.pool, later));
    assert_eq!(created(&drain(&mut core)).len(), 1, "replaced at once again after the check");
}

#[test]
fn pool_create_failed_turns_an_undrained_grant_into_fail_waiter() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let _b = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    // The replacement pool for the broken one is created for the waiter...
    assert!(core.pool_broken(pools[0], now));
    assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { reason: ShutdownReason::Broken, .. })));
    let Some(Action::CreatePool(fresh)) = core.poll_action() else { panic!("replacement") };
    // ...and fails to start: its pending grant becomes a failure.
    assert!(core.pool_create_failed(fresh, now));
    assert_eq!(
        drain(&mut core),
        vec![Action::FailWaiter { waiter: w, error: AcquireError::PoolCreationFailed }]
    );
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    assert_eq!(core.job_submitted(a.lease, now), Err(SubmitError::Unknown));
}

#[test]
fn pool_create_failed_for_a_direct_grant_forgets_its_lease_and_waits_for_the_check_to_restore() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3).min_pools(2), now, 0);
    let _a = take(&mut core, now);
    let _b = take(&mut core, now);
    let c = granted(core.acquire(now, Acquire::no_wait()));
    assert_eq!(core.poll_action(), Some(Action::CreatePool(c.pool)));
    assert!(core.pool_create_failed(c.pool, now));
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.release(c.lease, now), ReleaseOutcome::Unknown, "the driver fails that acquire");
    assert_eq!((core.total_count(), core.leased_count()), (2, 2));
    // Creations that keep failing cannot spin: after a failed creation,
    // nothing is recreated until a check.
    let (mut core, pools) = started(builder(3).min_pools(2), now, 0);
    assert!(core.pool_broken(pools[0], now));
    let actions = drain(&mut core);
    let [_, Action::CreatePool(replacement)] = actions[..] else { panic!("{actions:?}") };
    assert!(core.pool_create_failed(replacement, now));
    assert!(drain(&mut core).is_empty(), "no immediate retry");
    assert_eq!(core.total_count(), 1, "below min_pools until the next check");
    core.notify_scale_changed(now);
    core.handle_timeout(now, || 0);
    assert_eq!(created(&drain(&mut core)).len(), 1);
    assert_eq!(core.total_count(), 2);
}

// ---- 5. release ---------------------------------------------------------------

#[test]
fn release_is_idempotent() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Unknown);
    assert!(drain(&mut core).is_empty());
    assert_eq!((core.available_count(), core.leased_count()), (1, 0));
}

#[test]
fn release_with_jobs_in_flight_drains_until_the_last_job_finishes() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(g.lease, now).unwrap();
    core.job_submitted(g.lease, now).unwrap();
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Draining { jobs: 2 });
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Draining { jobs: 2 }, "idempotent");
    assert_eq!((core.leased_count(), core.available_count()), (1, 0), "draining counts as leased");
    assert!(core.stats(now).leases[0].draining);
    assert_eq!(core.job_submitted(g.lease, now), Err(SubmitError::Released));
    assert_eq!(core.job_finished(g.lease, now), None);
    assert_eq!(core.leased_count(), 1);
    assert_eq!(core.job_finished(g.lease, now), Some(Finalised::Kept));
    assert_eq!((core.leased_count(), core.available_count()), (0, 1));
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Unknown);
}

#[test]
fn finalise_keeps_the_pool_only_while_total_stays_within_desired() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3), now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    assert_eq!(core.total_count(), 3);
    for g in &gs[..2] {
        assert_eq!(core.release(g.lease, now), ReleaseOutcome::Finalised(Finalised::ShutDown));
        assert_eq!(
            drain(&mut core),
            vec![Action::ShutdownPool { pool: g.pool, reason: ShutdownReason::NotKept { lease: g.lease } }]
        );
    }
    assert_eq!(core.release(gs[2].lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
    assert!(drain(&mut core).is_empty());
    assert_eq!((core.total_count(), core.available_count()), (1, 1));
}

#[test]
fn finalise_past_hard_expiry_shuts_the_pool_down_and_restores_min() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).default_lease(secs(10)).lease_grace(secs(0)), now, 0);
    let g = take(&mut core, now);
    // The timer has not fired yet; the release itself notices.
    let late = now + secs(10);
    assert_eq!(core.release(g.lease, late), ReleaseOutcome::Finalised(Finalised::ShutDown));
    let actions = drain(&mut core);
    assert_eq!(
        actions[0],
        Action::ShutdownPool { pool: g.pool, reason: ShutdownReason::NotKept { lease: g.lease } }
    );
    assert_eq!(created(&actions[1..]).len(), 1, "min restored");
    assert_eq!(core.total_count(), 1);
}

#[test]
fn draining_lease_finalised_past_hard_expiry_is_not_kept() {
    let now = Instant::now();
    let b = builder(1).default_lease(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    core.job_submitted(g.lease, now).unwrap();
    core.release(g.lease, now);
    assert_eq!(core.job_finished(g.lease, now + secs(11)), Some(Finalised::ShutDown));
}

#[test]
fn release_past_hard_expiry_with_jobs_revokes_at_once() {
    let now = Instant::now();
    let b = builder(2).min_pools(1).default_lease(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    core.job_submitted(g.lease, now).unwrap();
    let late = now + secs(11);
    assert_eq!(core.release(g.lease, late), ReleaseOutcome::Revoked);
    let actions = drain(&mut core);
    assert_eq!(actions[0], revoked(&g, None));
    assert_eq!(created(&actions[1..]).len(), 1, "min restored");
    assert_eq!((core.leased_count(), core.total_count()), (0, 1));
    assert_eq!(core.job_finished(g.lease, late), None, "its job's end is ignored");
    assert_eq!(core.release(g.lease, late), ReleaseOutcome::Unknown);
}

#[test]
fn release_busy_drains_until_one_job_finished() {
    let now = Instant::now();
    let b = builder(2).default_lease(secs(10)).lease_grace(secs(1)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    assert_eq!(core.release_busy(g.lease, now), ReleaseOutcome::Draining { jobs: 1 });
    assert_eq!(core.release_busy(g.lease, now), ReleaseOutcome::Draining { jobs: 1 }, "idempotent");
    assert_eq!(core.release(g.lease, now), ReleaseOutcome::Draining { jobs: 1 });
    assert_eq!(core.job_submitted(g.lease, now), Err(SubmitError::Released));
    assert_eq!(core.leased_count(), 1);
    assert!(core.stats(now).leases[0].draining);
    assert_eq!(core.job_finished(g.lease, now), Some(Finalised::Kept));
    assert_eq!(core.leased_count(), 0);

    // Past hard expiry it is revoked instead.
    let g = take(&mut core, now);
    assert_eq!(core.release_busy(g.lease, now + secs(11)), ReleaseOutcome::Revoked);
    assert_eq!(core.leased_count(), 0);
    assert_eq!(core.release_busy(g.lease, now + secs(11)), ReleaseOutcome::Unknown);
}

#[test]
fn release_hands_the_pool_directly_to_the_first_waiter() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait().lease(secs(42)).owner("w1")));
    let w2 = queued(core.acquire(now, Acquire::wait()));
    let later = now + secs(1);
    assert_eq!(core.release(g.lease, later), ReleaseOutcome::Finalised(Finalised::HandedOff));
    let actions = drain(&mut core);
    let [Action::Grant { waiter, grant }] = actions[..] else { panic!("one grant only: {actions:?}") };
    assert_eq!(waiter, w1);
    assert_eq!(grant.pool, g.pool, "same pool, no create/shutdown churn");
    assert_eq!(grant.leased_at, later);
    assert_eq!(grant.lease_duration, secs(42));
    assert_eq!(core.lease_owner(grant.lease).as_deref(), Some("w1"));
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w2]);
}

// ---- 6. the checker -----------------------------------------------------------

#[test]
fn checker_pass_grows_to_desired() {
    let now = Instant::now();
    let (mut core, _) = started(builder(5), now, 0);
    core.notify_scale_changed(now);
    core.handle_timeout(now, || 31);
    let actions = drain(&mut core);
    assert_eq!(created(&actions).len(), 3);
    assert_eq!(actions.len(), 3);
    assert_eq!((core.total_count(), core.desired_count(), core.units()), (4, 4, 31));
}

#[test]
fn checker_pass_shrinks_idle_pools_above_desired_most_recently_returned_first() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(5), now, 50);
    assert_eq!(pools.len(), 5);
    let gs: Vec<Grant> = (0..5).map(|_| take(&mut core, now)).collect();
    // Return in the order p3, p1, p5, p2, p4.
    for i in [2, 0, 4, 1, 3] {
        assert_eq!(core.release(gs[i].lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
    }
    core.notify_scale_changed(now);
    core.handle_timeout(now, || 20); // desired 2
    let down = shut_down(&drain(&mut core));
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
    core.handle_timeout(now, || 0);
    assert!(drain(&mut core).is_empty(), "leased pools stay");
    assert_eq!((core.leased_count(), core.total_count(), core.desired_count()), (5, 5, 1));
    // They shrink as they come back: all but the last one are shut down.
    for g in &gs[..4] {
        assert_eq!(core.release(g.lease, now), ReleaseOutcome::Finalised(Finalised::ShutDown));
    }
    assert_eq!(core.release(gs[4].lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
    assert_eq!(core.total_count(), 1);
}

#[test]
fn checker_pass_revokes_expired_leases_and_serves_waiters() {
    let now = Instant::now();
    let b = builder(1).default_lease(secs(10)).lease_grace(secs(1));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    let at = core.poll_timeout().unwrap();
    assert_eq!(at, g.hard_expires_at());
    core.handle_timeout(at, || panic!("no check due"));
    let actions = drain(&mut core);
    assert_eq!(actions[0], revoked(&g, None));
    let Action::CreatePool(fresh) = actions[1] else { panic!("{actions:?}") };
    assert_eq!(grants(&actions).iter().map(|(w, g)| (*w, g.pool)).collect::<Vec<_>>(), vec![(w, fresh)]);

    // The same revocation happens inside a scheduled check pass.
    let b = builder(1).default_lease(secs(10)).lease_grace(Duration::ZERO).check_interval(secs(20));
    let (mut core, _) = started(b, now, 0);
    let g = take(&mut core, now);
    core.handle_timeout(now + secs(20), || 0);
    let actions = drain(&mut core);
    assert!(
        matches!(&actions[0], Action::ShutdownPool { pool, reason: ShutdownReason::Expired { .. } } if *pool == g.pool)
    );
    assert_eq!(core.total_count(), 1);
}

#[test]
fn poll_timeout_is_the_earliest_of_next_check_next_hard_expiry_and_next_waiter_deadline() {
    let t0 = Instant::now();
    let b = builder(1).check_interval(secs(100)).default_lease(secs(50)).lease_grace(secs(10));
    let (mut core, _) = started(b, t0, 0);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(100)), "next check");
    let g = take(&mut core, t0);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(60)), "hard expiry");
    let w = queued(core.acquire(t0, Acquire::wait_until(t0 + secs(30))));
    assert_eq!(core.poll_timeout(), Some(t0 + secs(30)), "waiter deadline");
    core.cancel_waiter(w);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(60)));
    core.release(g.lease, t0);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(100)));

    // A check pass at t schedules the next one at t + check_interval.
    let t1 = t0 + secs(100);
    let mut calls = 0;
    core.handle_timeout(t1, || {
        calls += 1;
        0
    });
    assert_eq!(calls, 1);
    assert_eq!(core.poll_timeout(), Some(t1 + secs(100)));
    // A late timer still schedules from the time of the pass.
    let t2 = t1 + secs(130);
    core.handle_timeout(t2, || 0);
    assert_eq!(core.poll_timeout(), Some(t2 + secs(100)));

    // notify_scale_changed makes the check due now; units are sampled then only.
    let t3 = t2 + secs(5);
    core.handle_timeout(t3, || panic!("no check due yet"));
    core.notify_scale_changed(t3);
    assert_eq!(core.poll_timeout(), Some(t3));
    core.handle_timeout(t3, || 7);
    assert_eq!(core.units(), 7);
    assert_eq!(core.poll_timeout(), Some(t3 + secs(100)));
    drain(&mut core);

    core.stop(t3);
    assert_eq!(core.poll_timeout(), None);
}

// ---- 7. counts and stats ------------------------------------------------------

#[test]
fn counts_track_available_leased_total_desired_and_waiting() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3).min_pools(2), now, 0);
    assert_eq!(
        (core.available_count(), core.leased_count(), core.total_count(), core.desired_count()),
        (2, 0, 2, 2)
    );
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    let c = take(&mut core, now);
    core.job_submitted(c.lease, now).unwrap();
    core.release(c.lease, now); // draining
    let _w = queued(core.acquire(now, Acquire::wait()));
    assert_eq!(
        (core.available_count(), core.leased_count(), core.total_count(), core.waiting_count()),
        (0, 3, 3, 1)
    );
    // Handed off to the waiter: still leased.
    assert_eq!(core.release(a.lease, now), ReleaseOutcome::Finalised(Finalised::HandedOff));
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 3, 3));
    // Keeping it would leave 3 > desired 2.
    assert_eq!(core.release(b.lease, now), ReleaseOutcome::Finalised(Finalised::ShutDown));
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (0, 2, 2));
    // The draining lease ends: 1 + 1 <= 2, kept.
    assert_eq!(core.job_finished(c.lease, now), Some(Finalised::Kept));
    assert_eq!((core.available_count(), core.leased_count(), core.total_count()), (1, 1, 2));
    drain(&mut core);
}

#[test]
fn stats_report_each_lease_with_time_left_never_negative() {
    let now = Instant::now();
    let b = builder(3).min_pools(2).workers_per_pool(6).default_lease(secs(100)).lease_grace(secs(20));
    let (mut core, _) = started(b, now, 0);
    let a = granted(core.acquire(now, Acquire::no_wait().owner("etl")));
    let b = granted(core.acquire(now + secs(10), Acquire::no_wait().lease(secs(30))));
    drain(&mut core);
    core.job_submitted(a.lease, now).unwrap();

    let s = core.stats(now + secs(20));
    assert!(s.running);
    assert_eq!((s.available, s.leased, s.total, s.desired, s.waiting), (0, 2, 2, 2, 0));
    assert_eq!((s.min_pools, s.max_pools, s.workers_per_pool), (2, 3, 6));
    assert_eq!(s.leases.len(), 2);
    let (la, lb) = (&s.leases[0], &s.leases[1]);
    assert_eq!((la.id, lb.id), (a.lease, b.lease), "sorted by id");
    assert_eq!(la.owner.as_deref(), Some("etl"));
    assert_eq!(lb.owner, None);
    assert_eq!((la.pool, lb.pool), (a.pool, b.pool));
    assert_eq!((la.soft_remaining, la.hard_remaining), (secs(80), secs(100)));
    assert_eq!((lb.soft_remaining, lb.hard_remaining), (secs(20), secs(40)));
    assert_eq!((la.jobs, la.draining), (1, false));
    assert_eq!(lb.lease_duration, secs(30));
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
fn config_durations_check_interval_and_default_lease_must_be_positive_grace_may_be_zero() {
    for (field, b) in [
        ("check_interval", builder(1).check_interval(Duration::ZERO)),
        ("default_lease", builder(1).default_lease(Duration::ZERO)),
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
            .default_lease(Duration::from_nanos(1))
            .build()
            .is_ok()
    );

    // Absurdly long durations are refused too, naming the field.
    let huge = Duration::from_secs(u64::MAX);
    for (field, b) in [
        ("check_interval", builder(1).check_interval(huge)),
        ("default_lease", builder(1).default_lease(huge)),
        ("lease_grace", builder(1).lease_grace(huge)),
    ] {
        assert_eq!(b.build().unwrap_err(), ConfigError::DurationTooLong { field });
    }
}

#[test]
fn per_acquire_lease_of_zero_is_rejected_naming_lease() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let err = core.acquire(now, Acquire::no_wait().lease(Duration::ZERO)).unwrap_err();
    assert_eq!(err, AcquireError::InvalidLease(ConfigError::ZeroDuration { field: "lease" }));
    assert!(err.to_string().contains("lease"), "{err}");
    let AcquireError::InvalidLease(inner) = &err else { unreachable!() };
    assert_eq!(inner.field(), "lease");
    // Rejected before anything happens, waiting or not.
    assert!(matches!(
        core.acquire(now, Acquire::wait().lease(Duration::ZERO)),
        Err(AcquireError::InvalidLease(_))
    ));
    assert!(drain(&mut core).is_empty());
    assert_eq!((core.leased_count(), core.waiting_count()), (0, 0));
    assert!(matches!(
        core.acquire(now, Acquire::no_wait().lease(Duration::from_secs(u64::MAX))),
        Err(AcquireError::InvalidLease(ConfigError::DurationTooLong { field: "lease" }))
    ));
}

// ---- sizing rule ------------------------------------------------------------

#[test]
fn sizing_rule_is_min_max_of_ceil_units_over_units_per_pool() {
    let c = builder(5).min_pools(2).units_per_pool(10).build().unwrap();
    for (units, want) in [(0, 2), (1, 2), (10, 2), (20, 2), (21, 3), (30, 3), (31, 4), (50, 5), (51, 5)] {
        assert_eq!(c.desired_pools(units), want, "units {units}");
    }
    assert_eq!(c.desired_pools(u64::MAX), 5, "u64::MAX clamps to max_pools");
    let one = builder(usize::MAX).units_per_pool(1).build().unwrap();
    assert_eq!(one.desired_pools(u64::MAX), usize::try_from(u64::MAX).unwrap_or(usize::MAX));
    let big = builder(3).units_per_pool(u64::MAX).build().unwrap();
    assert_eq!((big.desired_pools(0), big.desired_pools(1), big.desired_pools(u64::MAX)), (1, 1, 1));
}

#[test]
fn core_sizes_from_the_units_it_was_given() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(4), now, u64::MAX);
    assert_eq!((pools.len(), core.desired_count()), (4, 4));
    core.notify_scale_changed(now);
    core.handle_timeout(now, || 0);
    assert_eq!(shut_down(&drain(&mut core)).len(), 3);
    assert_eq!((core.total_count(), core.desired_count()), (1, 1), "0 units gives min_pools");
}

// ---- beyond the original ----------------------------------------------------

#[test]
fn waiters_are_served_fifo_with_one_grant_per_freed_pool() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2), now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    let ws: Vec<WaiterId> = (0..3).map(|_| queued(core.acquire(now, Acquire::wait()))).collect();

    core.release(a.lease, now);
    let actions = drain(&mut core);
    assert_eq!(actions.len(), 1, "exactly one action for one freed pool: {actions:?}");
    let [(w, g1)] = grants(&actions)[..] else { panic!() };
    assert_eq!((w, g1.pool), (ws[0], a.pool));
    assert_eq!(core.waiters().collect::<Vec<_>>(), ws[1..]);

    core.release(b.lease, now);
    let actions = drain(&mut core);
    assert_eq!(grants(&actions).iter().map(|(w, _)| *w).collect::<Vec<_>>(), vec![ws[1]]);
    assert_eq!(actions.len(), 1);
    core.release(g1.lease, now);
    let actions = drain(&mut core);
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
    core.release(a.lease, now);
    let [(first, g1)] = grants(&drain(&mut core))[..] else { panic!() };
    assert_eq!(first, w1, "the released pool went to the first waiter");
    // w1's future was dropped before it saw the grant: the driver hands it back.
    assert_eq!(core.release(g1.lease, now), ReleaseOutcome::Finalised(Finalised::HandedOff));
    let actions = drain(&mut core);
    let [Action::Grant { waiter, grant: g2 }] = actions[..] else { panic!("{actions:?}") };
    assert_eq!((waiter, g2.pool), (w2, a.pool));
    assert_ne!(g2.lease, g1.lease);
    assert_eq!((core.total_count(), core.leased_count(), core.waiting_count()), (1, 1, 0));
    // And once nobody waits, handing back keeps the pool.
    assert_eq!(core.release(g2.lease, now), ReleaseOutcome::Finalised(Finalised::Kept));
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
        let g = granted(core.acquire(t0, Acquire::no_wait().lease(secs(1000 + perm(i)))));
        by_expiry[perm(i) as usize] = Some(g.lease);
    }
    drain(&mut core);
    assert_eq!(core.leased_count(), N as usize);
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1000)));

    // Releasing a lease in the middle does not move it...
    let mid = by_expiry[5000].take().unwrap();
    assert!(matches!(core.release(mid, t0), ReleaseOutcome::Finalised(_)));
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1000)));
    // ...releasing the earliest moves it to the next earliest, every time.
    for k in 0..N {
        let Some(lease) = by_expiry[k as usize].take() else { continue };
        assert!(matches!(core.release(lease, t0), ReleaseOutcome::Finalised(_)));
        let next = (k + 1..N).find(|&j| by_expiry[j as usize].is_some());
        let want = next.map_or(t0 + secs(50 * 365 * 24 * 3600), |j| t0 + secs(1000 + j));
        assert_eq!(core.poll_timeout(), Some(want), "after releasing expiry #{k}");
    }
    assert_eq!(core.leased_count(), 0);
}

#[test]
fn poll_timeout_is_an_index_over_ten_thousand_waiter_deadlines() {
    const N: u64 = 10_000;
    let t0 = Instant::now();
    let b =
        builder(1).lease_grace(Duration::ZERO).default_lease(secs(1_000_000)).check_interval(secs(2_000_000));
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
        assert!(core.cancel_waiter(w));
        let want = if k + 1 < N { t0 + secs(10 + k + 1) } else { held.hard_expires_at() };
        assert_eq!(core.poll_timeout(), Some(want), "after cancelling deadline #{k}");
    }
    assert_eq!(core.waiting_count(), 0);
}
