//! Section 3, `acquire`: immediate grants, queueing, creating pools for the request,
//! no-wait and deadline outcomes.

use super::*;

/// The replacement pool is created for the acquire, which waits for its
/// confirmation: a pool is never granted before it exists.
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

/// An acquire takes the most recently returned idle pool (after a start,
/// the last one created): the pools returned earlier stay idle, so that
/// their idle deadlines can shut a surplus down.
#[test]
fn acquire_takes_the_most_recently_returned_available_pool() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(3).min_pools(3), now, 0);
    let gs: Vec<Grant> = (0..3).map(|_| take(&mut core, now)).collect();
    let taken: Vec<PoolId> = gs.iter().map(|g| g.pool).collect();
    assert_eq!(taken, vec![pools[2], pools[1], pools[0]], "the last created first");
    // Return them in the order 2, 3, 1.
    for pool in [pools[1], pools[2], pools[0]] {
        let g = gs.iter().find(|g| g.pool == pool).expect("taken");
        assert_eq!(released(&mut core, now, g.lease).0, PoolFate::Kept);
    }
    let order: Vec<PoolId> = (0..3).map(|_| take(&mut core, now).pool).collect();
    assert_eq!(order, vec![pools[0], pools[2], pools[1]]);
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

/// `Wait::No` waits only when a pool is coming for it (one being
/// created and not owed to an earlier waiter, or room to create one).
#[test]
fn acquire_no_wait_queues_only_when_a_pool_is_coming_for_it() {
    let now = Instant::now();
    let (mut core, p1) = starting(builder(2), now);
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
