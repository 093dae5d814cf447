//! Taking, creating and waiting for pools: an acquire takes the most
//! recently returned idle pool, else creates one while fewer than `max_pools` exist,
//! else waits (or fails at once, or after its timeout).

use std::collections::HashSet;
use std::future::IntoFuture;
use std::task::Poll;
use std::time::{Duration, Instant};

use leasepool::{Error, Runtime};

use crate::common::*;

/// An acquire takes an available pool, then creates pools up to
/// `max_pools` (above the desired count); released pools above the desired
/// count are shut down again on release with a zero `idle_timeout` (the
/// default keeps them idle for a while: `churn.rs`).
async fn acquire_takes_then_creates_pools<R: Runtime + Default>() {
    let m =
        started(builder::<R>().max_pools(3).min_pools(1).workers_per_pool(1).idle_timeout(Duration::ZERO))
            .await;
    assert_eq!(counts(&m), (1, 0, 1, 0));
    let a = m.acquire().await.unwrap();
    assert_eq!(counts(&m), (0, 1, 1, 0), "the first acquire takes the idle pool");
    let b = m.acquire().await.unwrap();
    assert_eq!(counts(&m), (0, 2, 2, 0), "then pools are created on demand");
    let c = m.try_acquire().await.unwrap();
    assert_eq!(counts(&m), (0, 3, 3, 0));
    assert_eq!(m.desired_executor_count(), 1, "demand may push the total above desired");
    let pools: HashSet<_> = [&a, &b, &c].iter().map(|l| l.pool_id()).collect();
    assert_eq!(pools.len(), 3, "every lease has its own pool");
    for lease in [&a, &b, &c] {
        assert_eq!(lease.run(|| 1).await.unwrap(), 1);
    }
    assert!(matches!(m.try_acquire().await, Err(Error::Unavailable)));

    drop(a);
    drop(b);
    drop(c);
    assert_eq!(counts(&m), (1, 0, 1, 0), "pools above the desired count are not kept");
    m.stop().await;
}

/// The most recently returned idle pool is leased first, whatever the
/// order the pools were leased in.
async fn most_recently_returned_pool_is_leased_first<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).min_pools(2).workers_per_pool(1)).await;
    for a_first in [true, false] {
        let a = m.acquire().await.unwrap();
        let b = m.acquire().await.unwrap();
        let (pool_a, pool_b) = (a.pool_id(), b.pool_id());
        let last = if a_first {
            drop(a);
            drop(b);
            pool_b
        } else {
            drop(b);
            drop(a);
            pool_a
        };
        let first = m.acquire().await.unwrap();
        let second = m.acquire().await.unwrap();
        let other = if last == pool_a { pool_b } else { pool_a };
        assert_eq!((first.pool_id(), second.pool_id()), (last, other));
    }
    m.stop().await;
}

/// `try_acquire` on a full manager fails on its first poll with
/// Unavailable and leaves nothing queued.
async fn try_acquire_on_full_manager_fails_at_once<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let _holder = m.acquire().await.unwrap();
    let mut attempt = m.try_acquire().owner("impatient").lease_for(Duration::from_secs(5)).into_future();
    match poll_once(&mut attempt).await {
        Poll::Ready(Err(Error::Unavailable)) => {}
        other => panic!("expected Unavailable at once, got {other:?}"),
    }
    assert_eq!(counts(&m), (0, 1, 1, 0));
    m.stop().await;
}

/// A bounded acquire on a full manager fails with Timeout after (not
/// before) its bound and leaves nothing queued; a zero bound fails at once.
async fn acquire_timeout_on_full_manager<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().await.unwrap();

    let bound = Duration::from_millis(50);
    let begun = Instant::now();
    let err = within::<R, _>("the bounded acquire gives up", m.acquire().timeout(bound)).await.unwrap_err();
    let waited = begun.elapsed();
    assert!(matches!(err, Error::Timeout(d) if d == bound), "{err:?}");
    assert!(waited >= bound, "gave up after {waited:?}, before its {bound:?} bound");
    assert!(waited < EVENTUALLY, "gave up only after {waited:?}");
    assert_eq!(counts(&m), (0, 1, 1, 0), "the timed-out waiter left the queue");

    let mut zero = m.acquire().timeout(Duration::ZERO).into_future();
    assert!(matches!(poll_once(&mut zero).await, Poll::Ready(Err(Error::Timeout(_)))));

    // The holder is unaffected and a zero bound still gets a free pool.
    assert_eq!(holder.run(|| 3).await.unwrap(), 3);
    drop(holder);
    let lease = m.acquire().timeout(Duration::ZERO).await.expect("a free pool needs no waiting");
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// A bounded waiter granted before its deadline keeps its lease: the
/// deadline passing later does nothing to it.
async fn bounded_waiter_granted_in_time_keeps_its_lease<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().await.unwrap();
    let waiter = queued(&m, m.acquire().owner("patient").timeout(Duration::from_millis(100))).await;
    drop(holder);
    let lease = within::<R, _>("the waiter is granted", waiter).await.unwrap();
    assert_eq!(lease.owner(), Some("patient"));
    sleep::<R>(Duration::from_millis(150)).await; // past the old acquire deadline
    assert_eq!(lease.run(|| "ok").await.unwrap(), "ok");
    assert_eq!(counts(&m), (0, 1, 1, 0));
    m.stop().await;
}

conformance! {
    acquire_takes_then_creates_pools,
    most_recently_returned_pool_is_leased_first,
    try_acquire_on_full_manager_fails_at_once,
    acquire_timeout_on_full_manager,
    bounded_waiter_granted_in_time_keeps_its_lease,
}
