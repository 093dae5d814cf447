//! Waiters: timing out at their deadline, and `cancel_waiter` (queued or
//! with an undrained grant).

use super::*;

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

/// Cancelling a waiter whose grant is still in the
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

/// A grant still undrained when its lease ended (expired) and its slot was
/// reused: cancelling the waiter ends no other holder's lease, and no
/// `LeaseEnded` names the taken-back grant.
#[test]
fn cancelling_an_undrained_grant_of_an_ended_lease_touches_no_other_lease() {
    let now = Instant::now();
    let (mut core, _) = started(builder(2).min_pools(2).lease_grace(Duration::ZERO), now, 0);
    let l0 = take(&mut core, now); // slot 0
    let lb = take(&mut core, now); // slot 1
    let w = queued(core.acquire(now, Acquire::wait().lease_for(secs(1))));
    assert!(drain_raw(&mut core).is_empty());
    // Release: [LeaseEnded(l0, HandedOff), Grant(w, l1 in slot 0)].
    core.release(now, l0.lease).unwrap();
    let Some(Action::LeaseEnded { .. }) = core.poll_action() else { panic!() };
    // While the driver performs that LeaseEnded (Grant(w) still undrained),
    // inputs arrive: lb is released, time passes (l1 expires, slot 0 is
    // free again), another acquire takes the idle pool (into slot 0), and
    // w's acquire is dropped.
    assert_eq!(core.release(now, lb.lease), Ok(Released::Ended));
    let t = now + secs(1);
    core.handle_timeout(t);
    let other = granted(core.acquire(t, Acquire::no_wait()));
    assert_eq!(core.cancel_waiter(t, w), Ok(()));
    let actions = drain(&mut core, t);
    let l1_ended = ended(&actions).iter().any(|(_, _, e)| *e == LeaseEnd::Expired);
    assert!(
        ended(&actions).iter().all(|(l, _, _)| *l != other.lease),
        "cancel_waiter({w:?}) ended {:?}, another holder's live lease: {actions:?}",
        other.lease
    );
    assert!(!l1_ended, "LeaseEnded for a grant that was taken back before it was drained: {actions:?}");
    assert_eq!(core.leased_count(), 1);
}
