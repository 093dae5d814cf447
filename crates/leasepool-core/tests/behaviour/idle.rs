//! Idle timeout: a pool released above the desired count stays available
//! for `idle_timeout` (60 s by default) and is shut down
//! (`ShutdownReason::Idle`) by the first `handle_timeout` at or after its
//! idle deadline, if the run is still above the desired count. And load
//! shedding: `max_waiters` bounds the queue.

use super::*;

/// Two pools with one desired (min_pools 1, no units): the second, released
/// last, is above the desired count. Returns the core and both grants'
/// pools, the surplus one released at `now`.
fn two_pools_one_released(b: ConfigBuilder, now: Instant) -> (Core, PoolId, PoolId) {
    let (mut core, _) = started(b, now, 0);
    let a = take(&mut core, now);
    let b = take(&mut core, now);
    assert_eq!((core.total_count(), core.desired_executor_count()), (2, 1));
    assert_eq!(released(&mut core, now, b.lease).0, PoolFate::Kept);
    (core, a.pool, b.pool)
}

#[test]
fn a_surplus_pool_is_kept_while_idle_less_than_the_timeout() {
    let now = Instant::now();
    let (mut core, _, surplus) = two_pools_one_released(builder(2), now);
    assert_eq!((core.available_count(), core.total_count()), (1, 2));
    // Just before its deadline nothing happens.
    core.handle_timeout(now + secs(60) - Duration::from_millis(1));
    assert!(drain(&mut core, now).is_empty());
    assert_eq!(core.available_count(), 1);
    // And it is leased again without a new pool being created.
    let g = take(&mut core, now + secs(59));
    assert_eq!(g.pool, surplus);
    assert_eq!(core.creating_count(), 0);
}

#[test]
fn a_surplus_pool_is_shut_down_at_its_idle_deadline() {
    let now = Instant::now();
    let (mut core, _, surplus) = two_pools_one_released(builder(2), now);
    let at = now + secs(60);
    assert_eq!(core.poll_timeout(), Some(at), "the idle deadline comes before the check at 120 s");
    core.handle_timeout(at);
    assert_eq!(
        drain(&mut core, at),
        vec![Action::ShutdownPool { pool: surplus, reason: ShutdownReason::Idle }]
    );
    assert_eq!((core.total_count(), core.leased_count(), core.available_count()), (1, 1, 0));
    assert_eq!(core.poll_timeout(), Some(now + secs(120)), "no idle deadline left");
}

#[test]
fn a_late_timer_shuts_down_only_what_is_above_the_desired_count() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3), now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    // All three come back: the first two find the run above the desired 1
    // and carry a deadline; the last is within it.
    for (i, g) in gs.iter().enumerate() {
        assert_eq!(released(&mut core, now + secs(i as u64), g.lease).0, PoolFate::Kept);
    }
    assert_eq!(core.poll_timeout(), Some(now + secs(60)));
    let late = now + secs(600);
    core.handle_timeout(late);
    let shut = shut_down(&drain(&mut core, late));
    assert_eq!(shut, vec![(gs[0].pool, ShutdownReason::Idle), (gs[1].pool, ShutdownReason::Idle)]);
    assert_eq!((core.total_count(), core.available_count()), (1, 1));
    // The last pool is within the desired count: no deadline, never shut.
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
}

#[test]
fn leasing_an_idle_pool_again_clears_its_deadline() {
    let now = Instant::now();
    let (mut core, _, surplus) = two_pools_one_released(builder(2), now);
    let g = take(&mut core, now + secs(30));
    assert_eq!(g.pool, surplus);
    // Only the lease's hard expiry and the check are left.
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
    core.handle_timeout(now + secs(61));
    assert!(shut_down(&drain(&mut core, now + secs(61))).is_empty(), "a leased pool never times out");
    // Released again at 90 s: a fresh deadline, 60 s from then.
    assert_eq!(released(&mut core, now + secs(90), g.lease).0, PoolFate::Kept);
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
    assert_eq!(core.stats(now + secs(90)).available, 1);
}

#[test]
fn poll_timeout_includes_the_earliest_idle_deadline() {
    let now = Instant::now();
    let b = builder(3).idle_timeout(secs(10)).check_interval(secs(3600));
    let (mut core, _) = started(b, now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    released(&mut core, now + secs(5), gs[1].lease);
    released(&mut core, now + secs(2), gs[2].lease); // an older `now` is taken as 5 s
    assert_eq!(core.poll_timeout(), Some(now + secs(15)));
    core.handle_timeout(now + secs(15));
    assert_eq!(shut_down(&drain(&mut core, now + secs(15))).len(), 2);
    assert_eq!(core.poll_timeout(), Some(now + secs(300 + 15)), "then the remaining lease's hard expiry");
}

#[test]
fn a_check_still_shrinks_idle_pools_above_the_desired_count_at_once() {
    let now = Instant::now();
    let (mut core, _) = started(builder(4), now, 40);
    let gs: Vec<Grant> = (0..4).map(|_| take(&mut core, now)).collect();
    for g in &gs {
        assert_eq!(released(&mut core, now, g.lease).0, PoolFate::Kept);
    }
    // The signal falls: the next check shuts the surplus down at once,
    // whatever its idle time, least recently returned first.
    core.notify_scale_changed(now + secs(1));
    check(&mut core, now + secs(1), 0);
    let shut = shut_down(&drain(&mut core, now + secs(1)));
    let want: Vec<_> = gs[..3].iter().map(|g| (g.pool, ShutdownReason::Shrink)).collect();
    assert_eq!(shut, want);
    assert_eq!(core.total_count(), 1);
    assert_eq!(core.poll_timeout(), Some(now + secs(121)), "the kept pool carries no deadline");
}

#[test]
fn a_check_clears_deadlines_of_pools_within_a_risen_count() {
    let now = Instant::now();
    let (mut core, _, _) = two_pools_one_released(builder(3), now);
    core.notify_scale_changed(now);
    check(&mut core, now, 20); // desired 2: both pools are within it
    assert!(drain(&mut core, now).is_empty());
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
    core.handle_timeout(now + secs(60));
    assert!(drain(&mut core, now + secs(60)).is_empty());
}

#[test]
fn a_zero_idle_timeout_shuts_a_surplus_pool_down_on_release() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2).idle_timeout(Duration::ZERO), now, 0);
    let _a = take(&mut core, now);
    let b = take(&mut core, now);
    let (fate, actions) = released(&mut core, now, b.lease);
    assert_eq!(fate, PoolFate::ShutDown);
    assert_eq!(shut_down(&actions), vec![(b.pool, ShutdownReason::NotKept)]);
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
}

#[test]
fn a_pool_created_for_a_waiter_that_left_times_out_too() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2), now, 0);
    let _a = take(&mut core, now);
    let w = queued(core.acquire(now, Acquire::wait()));
    let [Action::CreatePool(p)] = drain_raw(&mut core)[..] else { panic!("one creation") };
    core.cancel_waiter(now, w).unwrap();
    core.pool_created(now, p);
    assert!(drain_raw(&mut core).is_empty());
    core.handle_timeout(now + secs(60));
    assert_eq!(drain_raw(&mut core), vec![Action::ShutdownPool { pool: p, reason: ShutdownReason::Idle }]);
}

#[test]
fn stop_forgets_idle_deadlines() {
    let now = Instant::now();
    let (mut core, _, _) = two_pools_one_released(builder(2), now);
    core.stop(now).unwrap();
    drain(&mut core, now);
    assert_eq!(core.poll_timeout(), None);
    core.start(now, 0).unwrap();
    drain(&mut core, now);
    assert_eq!(core.poll_timeout(), Some(now + secs(120)));
}

#[test]
fn an_acquire_beyond_max_waiters_is_shed_at_once() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).max_waiters(2), now, 0);
    let _held = take(&mut core, now);
    let w1 = queued(core.acquire(now, Acquire::wait()));
    let w2 = queued(core.acquire(now, Acquire::wait_until(now + secs(5))));
    assert_eq!(core.acquire(now, Acquire::wait()), Err(AcquireError::Unavailable));
    assert_eq!(core.acquire(now, Acquire::wait_until(now + secs(5))), Err(AcquireError::Unavailable));
    assert!(drain_raw(&mut core).is_empty(), "a shed acquire leaves nothing behind");
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w1, w2]);
    // Room again once a waiter leaves.
    core.cancel_waiter(now, w2).unwrap();
    queued(core.acquire(now, Acquire::wait()));
}

#[test]
fn max_waiters_zero_is_refused_naming_the_field() {
    let err = builder(1).max_waiters(0).build().unwrap_err();
    assert_eq!(err, ConfigError::TooSmall { field: "max_waiters", value: 0 });
    assert!(builder(1).idle_timeout(Duration::MAX).build().is_err_and(|e| e.field() == "idle_timeout"));
    assert_eq!(builder(1).build().unwrap().idle_timeout(), secs(60));
    assert_eq!(builder(1).build().unwrap().max_waiters(), None);
}

/// With a size provider every release asks for a check. A check whose
/// desired count did not fall leaves the surplus idle pool (left by demand)
/// with its idle deadline, so those checks do not churn it; a check whose
/// desired count fell shrinks it at once.
#[test]
fn a_check_shrinks_a_surplus_only_when_the_signal_fell() {
    let now = Instant::now();
    let (mut core, _, surplus) = two_pools_one_released(builder(3).has_size_provider(true), now);
    // The release asked for a check; the signal is unchanged (0 units).
    check(&mut core, now, 0);
    assert_eq!((core.available_count(), core.total_count()), (1, 2), "kept idle across the check");
    assert_eq!(core.poll_timeout(), Some(now + secs(60)), "its idle deadline still counts");
    let g = take(&mut core, now + secs(1));
    assert_eq!(g.pool, surplus, "reused, not recreated");
    assert_eq!(core.creating_count(), 0);
    assert_eq!(released(&mut core, now + secs(1), g.lease).0, PoolFate::Kept);
    // The signal rises (2 pools wanted), then falls back to 0 units: the
    // fall is obeyed at that check, whatever the idle time.
    check(&mut core, now + secs(2), 20);
    assert_eq!(core.desired_executor_count(), 2);
    let shrink_at = now + secs(3);
    core.notify_scale_changed(shrink_at);
    check(&mut core, shrink_at, 0);
    assert_eq!(core.desired_executor_count(), 1);
    assert_eq!(core.total_count(), 1, "a fall of the signal shrinks at once");
}

/// A fall of the signal that finds the surplus pools leased is obeyed as
/// they come back: each is shut down on release (`NotKept`), not kept idle
/// for `idle_timeout`; once the debt is paid, a release above the desired
/// count is kept idle again.
#[test]
fn a_fall_that_finds_pools_leased_shuts_them_down_on_release() {
    let now = Instant::now();
    let (mut core, _) = started(builder(4).has_size_provider(true), now, 30);
    assert_eq!(core.total_count(), 3);
    let leases: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    // The signal falls to 0 units (1 pool) while all three are leased.
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    assert_eq!((core.desired_executor_count(), core.total_count()), (1, 3), "nothing idle to shrink yet");
    let (fate, actions) = released(&mut core, now, leases[0].lease);
    assert_eq!(fate, PoolFate::ShutDown, "owed to the fall: {actions:?}");
    assert!(shut_down(&actions).contains(&(leases[0].pool, ShutdownReason::NotKept)));
    let (fate, _) = released(&mut core, now, leases[1].lease);
    assert_eq!(fate, PoolFate::ShutDown);
    assert_eq!(core.total_count(), 1, "the fall is obeyed as the leases allow");
    // Debt paid: demand above the desired count is kept idle again.
    let extra = take(&mut core, now);
    assert_eq!(released(&mut core, now, extra.lease).0, PoolFate::Kept);
}

/// A fall of the signal owes a shrink for each leased pool above the new
/// count; when those leases expire instead of being released, the debt
/// goes with them, and a later surplus left by demand is kept idle again.
#[test]
fn the_shrink_debt_goes_with_the_leases_it_was_for() {
    let now = Instant::now();
    let (mut core, _) = started(builder(3).idle_timeout(secs(60)).lease_grace(Duration::ZERO), now, 30);
    assert_eq!(core.total_count(), 3);
    let _keep = take_with(&mut core, now, Acquire::no_wait().lease_for(secs(1000)));
    let _a = take_with(&mut core, now, Acquire::no_wait().lease_for(secs(10)));
    let _b = take_with(&mut core, now, Acquire::no_wait().lease_for(secs(10)));
    // The signal falls to 1 pool: 2 leased pools are owed a shrink.
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    drain(&mut core, now);
    assert_eq!(core.desired_executor_count(), 1);

    // The two owed leases expire: their pools are shut down, the debt is paid.
    let t = now + secs(10);
    core.handle_timeout(t);
    drain(&mut core, t);
    assert_eq!((core.total_count(), core.leased_count()), (1, 1));
    assert!(core.check_due(t).is_none());

    // Demand for a second pool: created, leased, released.
    let d = take(&mut core, t);
    let (fate, actions) = released(&mut core, t, d.lease);
    assert_eq!(
        fate,
        PoolFate::Kept,
        "a pool released above the desired count with no debt left is kept idle for idle_timeout: {actions:?}"
    );
}

/// A waiter past its deadline (the driver's timer is late) is failed
/// before a new acquire is counted against `max_waiters`.
#[test]
fn a_waiter_past_its_deadline_does_not_count_toward_max_waiters() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1).max_waiters(1), now, 0);
    let _held = take(&mut core, now);
    let _late = queued(core.acquire(now, Acquire::wait_until(now + secs(1))));
    // At now + 5 s, before the driver's timer fires handle_timeout:
    let t = now + secs(5);
    assert!(
        matches!(core.acquire(t, Acquire::wait()), Ok(Acquired::Queued(_))),
        "shed behind a waiter that timed out 4 s ago"
    );
}
