//! Beyond the original: what the Python original (leasepool 0.1.3) does not
//! promise: FIFO waiters with one grant per freed pool, a grant handed back
//! without losing capacity, an indexed next timeout, one `LeaseEnded` per
//! lease, and a clock going backwards.

use super::*;

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
    // No idle timeout: released pools above the desired count add no deadline.
    let b = builder(N as usize)
        .lease_grace(Duration::ZERO)
        .check_interval(secs(50 * 365 * 24 * 3600))
        .idle_timeout(Duration::ZERO);
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
    // No idle timeout, so that a release can also shut its pool down.
    let b = builder(3)
        .default_lease_for(secs(10))
        .lease_grace(Duration::ZERO)
        .check_interval(secs(3600))
        .idle_timeout(Duration::ZERO);
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
