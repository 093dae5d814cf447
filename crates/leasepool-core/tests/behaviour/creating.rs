//! Pools being created (two-step creation): `CreatePool` confirmed later by
//! `pool_created`, or failed with `pool_create_failed`.

use super::*;

/// A waiter waits for a pool being created like for any other, and its
/// deadline still applies: it times out while the creation is in flight;
/// the pool, confirmed later, becomes idle.
#[test]
fn a_waiter_for_a_pool_being_created_still_times_out_at_its_deadline() {
    let now = Instant::now();
    // No idle timeout: the surplus pool is shut down on release at the end.
    let (mut core, p1) = starting(builder(2).idle_timeout(Duration::ZERO), now);
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
    let (mut core, p1) = starting(builder(3), now);
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

/// Two creations fail in turn while a third waiter waits at `max_pools`:
/// each failure fails one waiter and asks for a pool for those left
/// uncovered when there is room, so no waiter waits for a pool that is not
/// coming until the next check.
#[test]
fn a_failed_creation_creates_for_waiters_left_uncovered_with_room_to_create() {
    let now = Instant::now();
    let (mut core, p1) = starting(builder(2), now);
    let w1 = queued(core.acquire(now, Acquire::wait())); // covered by p1
    let _w2 = queued(core.acquire(now, Acquire::wait())); // creates p2
    let w3 = queued(core.acquire(now, Acquire::wait())); // at max_pools: waits for a release
    let [Action::CreatePool(p2)] = drain_raw(&mut core)[..] else { panic!("one more creation") };

    // Covered: every waiter has a pool coming, or max_pools is reached.
    let covered = |core: &Core| core.waiting_count() <= core.creating_count() || core.total_count() == 2;

    core.pool_create_failed(now, p1);
    assert_eq!(fails(&drain_raw(&mut core)).iter().map(|(w, _)| *w).collect::<Vec<_>>(), vec![w1]);
    assert!(
        covered(&core),
        "after p1 failed: {} waiters, {} coming, total {}",
        core.waiting_count(),
        core.creating_count(),
        core.total_count()
    );
    core.pool_create_failed(now, p2);
    drain_raw(&mut core);
    // w3 still waits (Wait::Forever), with a pool asked for it: the failure
    // freed room under max_pools.
    assert_eq!(core.waiters().collect::<Vec<_>>(), vec![w3]);
    assert!(
        covered(&core),
        "{} waiter(s) with no pool coming, total {} < max 2; next wake-up {:?} from now",
        core.waiting_count(),
        core.total_count(),
        core.poll_timeout().map(|t| t - now)
    );
}
