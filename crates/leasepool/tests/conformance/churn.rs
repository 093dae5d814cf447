//! Pool churn and load shedding: with the default sizing (`min_pools` 1,
//! no size provider) a steady load of two concurrent leases reuses the two
//! pools it needs instead of creating and shutting one down per round
//! (`idle_timeout`); once the load is gone the surplus pool times out and
//! the total falls back to the desired count; and `max_waiters` fails an
//! acquire that would queue beyond it at once.

use std::time::Duration;

use leasepool::{Error, Runtime};

use crate::common::*;

/// `rounds` rounds of two leases held at once on `m`, then released: the
/// highest pool id any of them was on. Pool ids are sequential, so it is
/// the number of pools created.
async fn two_leases_a_round<R: Runtime + Default>(m: &Manager<R>, rounds: usize) -> u64 {
    let mut highest = 0;
    for _ in 0..rounds {
        let a = within::<R, _>("first lease", m.acquire()).await.expect("first lease");
        let b = within::<R, _>("second lease", m.acquire()).await.expect("second lease");
        highest = highest.max(a.pool_id().get()).max(b.pool_id().get());
        a.release();
        b.release();
    }
    highest
}

/// 1,000 rounds of two leases held at once create exactly two pools: the
/// one `start` creates and one for the second lease of the first round.
/// Pool ids are sequential, so no lease ever sees a pool id above 2.
async fn steady_load_above_the_minimum_reuses_its_pools<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(4).workers_per_pool(1)).await;
    assert_eq!(m.desired_executor_count(), 1);
    let highest = two_leases_a_round(&m, 1_000).await;
    assert_eq!(highest, 2, "pool {highest} created; the surplus pool was not reused");
    let (available, leased, total, _) = counts(&m);
    assert_eq!((available, leased, total), (2, 0, 2), "the surplus pool is idle, not gone yet");
    m.stop().await;

    // The same load with `idle_timeout` zero (a surplus pool shut down on
    // release, the behaviour before idle timeouts): a pool per round.
    let churning =
        started(builder::<R>().max_pools(4).workers_per_pool(1).idle_timeout(Duration::ZERO)).await;
    let churned = two_leases_a_round(&churning, 1_000).await;
    churning.stop().await;
    println!(
        "1,000 rounds of 2 concurrent leases: {highest} pools created with the default idle_timeout, {churned} with idle_timeout zero"
    );
    assert!(churned > 500, "with no idle timeout the surplus pool is recreated every round: {churned}");
}

/// The same steady load with a size provider (whose checks follow every
/// grant and release) still reuses its two pools: a check only shrinks at
/// once when the signal fell, and a surplus left by demand ages out.
async fn steady_load_with_a_size_provider_reuses_its_pools<R: Runtime + Default>() {
    let (units, provider) = units();
    let m = started(builder::<R>().max_pools(4).workers_per_pool(1).size_provider(provider)).await;
    let highest = two_leases_a_round(&m, 200).await;
    assert!(highest <= 2, "pool {highest} created; a check shut the surplus pool down");
    // A fall of the signal is still obeyed at once: up to 3 pools, then
    // back to 1 without waiting for any idle timeout.
    units.store(30, std::sync::atomic::Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("3 pools for 30 units", || counts(&m) == (3, 0, 3, 0)).await;
    units.store(0, std::sync::atomic::Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("back to 1 pool at the next check", || counts(&m) == (1, 0, 1, 0)).await;
    m.stop().await;
}

/// After `idle_timeout` of quiet, the pool above the desired count is shut
/// down and the total is the desired count again.
async fn surplus_pool_is_shut_down_after_idle_timeout<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(4).workers_per_pool(1).idle_timeout(Duration::from_millis(100)))
        .await;
    two_leases_a_round(&m, 1).await;
    eventually::<R>("the surplus pool times out", || {
        let s = m.stats();
        s.total == s.desired_executor_count && s.creating == 0
    })
    .await;
    let (available, leased, total, waiting) = counts(&m);
    assert_eq!((available, leased, total, waiting), (1, 0, 1, 0));
    assert_eq!(m.stats().desired_executor_count, 1);
    m.stop().await;
}

/// With `max_waiters` acquires queued, the next acquire fails at once
/// with `Unavailable` instead of queueing; a timed acquire too.
async fn acquire_beyond_max_waiters_is_shed<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1).max_waiters(1)).await;
    let held = within::<R, _>("the only pool", m.acquire()).await.expect("lease");
    let waiter = queued(&m, m.acquire()).await;
    let shed = within::<R, _>("a shed acquire fails at once", m.acquire()).await;
    assert!(matches!(shed, Err(Error::Unavailable)), "{shed:?}");
    let shed = within::<R, _>("a timed acquire too", m.acquire().timeout(Duration::from_secs(60))).await;
    assert!(matches!(shed, Err(Error::Unavailable)), "{shed:?}");
    assert_eq!(m.waiting_count(), 1, "the shed acquires never queued");
    // The queued one is still served when the pool comes back.
    held.release();
    let lease = within::<R, _>("the waiter is granted", waiter).await.expect("lease");
    lease.release();
    m.stop().await;
}

conformance! {
    steady_load_above_the_minimum_reuses_its_pools,
    steady_load_with_a_size_provider_reuses_its_pools,
    surplus_pool_is_shut_down_after_idle_timeout,
    acquire_beyond_max_waiters_is_shed,
}
