//! Sizing from the size provider, `desired = min(max_pools, max(min_pools,
//! ceil(units / units_per_pool)))`: checker passes on the interval, on
//! `notify_scale_changed`, after a grant and after a finalised release (the
//! provider read for those passes only), shrinking that spares leased
//! pools, and a failing provider (the last unit count is kept, the checker
//! keeps running).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leasepool::Runtime;
use leasepool::driver::Builder;

use crate::common::*;

/// 4 pools at most, 10 units a pool, one worker each, sized by `provider`,
/// checked only hourly: any other pass is one the test caused.
fn hourly<R: Runtime + Default>(provider: impl Fn() -> usize + Send + Sync + 'static) -> Builder<R> {
    builder::<R>()
        .max_pools(4)
        .units_per_pool(10)
        .size_provider(provider)
        .check_interval(Duration::from_secs(3600))
        .workers_per_pool(1)
}

/// `provider`, counting its reads.
fn counted(
    provider: impl Fn() -> usize + Send + Sync + 'static,
) -> (Arc<AtomicUsize>, impl Fn() -> usize + Send + Sync + 'static) {
    let reads = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&reads);
    (reads, move || {
        r.fetch_add(1, Ordering::SeqCst);
        provider()
    })
}

/// A started [`hourly`] manager whose checker is held inside a provider
/// read (the value of `units` already taken) until the gate opens.
async fn inside_a_provider_read<R: Runtime + Default>() -> (Manager<R>, Arc<AtomicUsize>, Gate) {
    let (units, read_units) = units();
    let hold = Arc::new(AtomicBool::new(false));
    let gate = Gate::default();
    let (h, g) = (Arc::clone(&hold), gate.clone());
    let m = started(hourly::<R>(move || {
        let value = read_units();
        if h.swap(false, Ordering::SeqCst) {
            g.wait(); // return `value` only after the test changed it
        }
        value
    }))
    .await;
    assert_eq!(counts(&m), (1, 0, 1, 0));
    hold.store(true, Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("the checker is inside the size provider", || gate.entered() == 1).await;
    (m, units, gate)
}

/// With a one-hour interval, `notify_scale_changed` makes the pools follow
/// the signal: grow, then shrink idle pools only, never leased ones.
async fn notify_scale_changed_grows_and_shrinks<R: Runtime + Default>() {
    let (units, provider) = units();
    // No idle timeout: a pool released above the count is shut down on
    // release, not by the check that release asks for.
    let m = started(hourly::<R>(provider).max_pools(5).idle_timeout(Duration::ZERO)).await;
    assert_eq!(counts(&m), (1, 0, 1, 0));

    units.store(35, Ordering::SeqCst);
    assert_eq!(m.desired_executor_count(), 4);
    m.notify_scale_changed();
    eventually::<R>("the checker grows to 4 pools", || m.total_count() == 4).await;
    assert_eq!(counts(&m), (4, 0, 4, 0));

    let a = m.acquire().owner("a").await.unwrap();
    let b = m.acquire().owner("b").await.unwrap();
    units.store(0, Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("the checker shuts idle pools down", || m.total_count() == 2).await;
    assert_eq!(counts(&m), (0, 2, 2, 0), "leased pools survive the shrink");
    assert_eq!(a.run(|| "a").await.unwrap(), "a");
    assert_eq!(b.run(|| "b").await.unwrap(), "b");

    drop(a);
    assert_eq!(counts(&m), (0, 1, 1, 0), "above desired: the released pool is shut down");
    drop(b);
    assert_eq!(counts(&m), (1, 0, 1, 0), "at the minimum: the released pool is kept");
    m.stop().await;
}

/// Without any notification the checker follows the signal every
/// `check_interval`.
async fn checker_follows_the_signal_every_interval<R: Runtime + Default>() {
    let (units, provider) = units();
    let m = started(
        builder::<R>()
            .max_pools(5)
            .min_pools(1)
            .units_per_pool(10)
            .size_provider(provider)
            .check_interval(Duration::from_millis(30))
            .workers_per_pool(1),
    )
    .await;
    units.store(21, Ordering::SeqCst);
    eventually::<R>("the periodic check grows to 3 pools", || m.total_count() == 3).await;
    units.store(0, Ordering::SeqCst);
    eventually::<R>("the periodic check shrinks to 1 pool", || m.total_count() == 1).await;
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// A panicking size provider keeps the last unit count (0 before any good
/// read, so `min_pools` at a first start), at start and in checker passes;
/// each failure is counted, and the checker survives and scales once the
/// provider works again.
async fn panicking_size_provider_keeps_the_last_value<R: Runtime + Default>() {
    let failing = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let (f, c) = (Arc::clone(&failing), Arc::clone(&calls));
    let m = builder::<R>()
        .max_pools(5)
        .min_pools(2)
        .units_per_pool(10)
        .check_interval(Duration::from_secs(3600))
        .size_provider(move || {
            c.fetch_add(1, Ordering::SeqCst);
            if f.load(Ordering::SeqCst) {
                panic!("size provider exploded");
            }
            45
        })
        .workers_per_pool(1)
        .build()
        .unwrap();
    m.start().await.expect("a failing size provider does not fail start");
    assert_eq!(counts(&m), (2, 0, 2, 0));
    assert_eq!(m.desired_executor_count(), 2);
    let s = m.stats();
    assert_eq!((s.units, s.desired_executor_count), (0, 2));
    assert!(s.counters.size_provider_failures >= 2, "start and desired_executor_count each failed: {s:?}");

    let before = calls.load(Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("a checker pass reads the failing provider", || calls.load(Ordering::SeqCst) > before)
        .await;
    let lease = m.acquire().await.expect("the manager keeps serving");
    assert_eq!(lease.run(|| 1).await.unwrap(), 1);
    drop(lease);

    failing.store(false, Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("the checker survived and scales to 5 pools", || m.total_count() == 5).await;
    assert_eq!(m.desired_executor_count(), 5);
    m.stop().await;
}

/// A service at 40 units (4 pools) whose signal then fails for three checks
/// keeps its 4 pools: a flaky signal does not shrink a busy service.
async fn a_failing_signal_does_not_shrink_the_pools<R: Runtime + Default>() {
    let (units, provider) = units();
    let failing = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&failing);
    units.store(40, Ordering::SeqCst);
    let m = started(
        builder::<R>()
            .max_pools(6)
            .units_per_pool(10)
            .workers_per_pool(1)
            .check_interval(Duration::from_secs(3600))
            .size_provider(move || {
                if f.load(Ordering::SeqCst) {
                    panic!("metrics backend unavailable");
                }
                provider()
            }),
    )
    .await;
    eventually::<R>("4 pools for 40 units", || counts(&m) == (4, 0, 4, 0)).await;
    failing.store(true, Ordering::SeqCst);
    let failures = m.stats().counters.size_provider_failures;
    for check in 1..=3 {
        m.notify_scale_changed();
        eventually::<R>("the check reads the failing provider", || {
            m.stats().counters.size_provider_failures >= failures + check
        })
        .await;
        let s = m.stats();
        assert_eq!((s.units, s.desired_executor_count, s.total), (40, 4, 4), "check {check}: {s:?}");
    }
    assert_eq!(m.desired_executor_count(), 4, "the last good value");
    m.stop().await;
}

/// A scale notification that arrives while the checker is reading the size
/// provider (which it does without holding the manager's lock) is not lost
/// to the pass that uses the value read before it.
async fn notification_during_a_provider_read_is_not_lost<R: Runtime + Default>() {
    let (m, units, gate) = inside_a_provider_read::<R>().await;
    units.store(30, Ordering::SeqCst);
    m.notify_scale_changed();
    gate.open();
    eventually::<R>("the checker applies the value notified during its read", || m.total_count() == 3).await;
    m.stop().await;
}

/// A grant that lands while the checker reads the provider for a pass asks
/// for a pass of its own, which reads the value changed meanwhile (not
/// swallowed by the pass already under way).
async fn a_grant_during_a_provider_read_gets_its_own_pass<R: Runtime + Default>() {
    let (m, units, gate) = inside_a_provider_read::<R>().await;
    units.store(30, Ordering::SeqCst);
    let lease = m.try_acquire().await.unwrap();
    gate.open();
    eventually::<R>("the grant's pass applies the value changed during the read", || m.total_count() == 3)
        .await;
    drop(lease);
    m.stop().await;
}

/// The size provider may call back into the manager (for example to size
/// by the queue length): no call path runs it under the manager's lock.
async fn size_provider_may_call_back_into_the_manager<R: Runtime + Default>() {
    let slot: Arc<Mutex<Option<Manager<R>>>> = Arc::new(Mutex::new(None));
    let probe = Arc::clone(&slot);
    let m = hourly::<R>(move || probe.lock().unwrap().as_ref().map_or(0, |m| 10 * (m.leased_count() + 1)))
        .build()
        .unwrap();
    *slot.lock().unwrap() = Some(m.clone());

    m.start().await.unwrap();
    assert_eq!(counts(&m), (1, 0, 1, 0));
    let a = m.acquire().await.unwrap();
    let b = m.acquire().await.unwrap();
    assert_eq!(m.desired_executor_count(), 3);
    // The grants' checker passes read the provider, which reads the manager.
    // Created in two steps: counted at once, idle once its threads run.
    eventually::<R>("the checker pass grows to the provider's 3 pools", || counts(&m) == (1, 2, 3, 0)).await;
    m.notify_scale_changed();
    eventually::<R>("a pass at the same signal keeps 3 pools", || counts(&m) == (1, 2, 3, 0)).await;
    assert_eq!((m.stats().desired_executor_count, m.stats().units), (3, 30));
    drop((a, b));
    m.stop().await;
    slot.lock().unwrap().take(); // break the manager <-> provider cycle
}

/// With a size provider, a grant runs a checker pass: the pools follow a
/// signal that changed without `notify_scale_changed`, long before the
/// interval.
async fn a_grant_runs_a_checker_pass<R: Runtime + Default>() {
    let (units, provider) = units();
    let m = started(hourly::<R>(provider)).await;
    assert_eq!(counts(&m), (1, 0, 1, 0));
    units.store(30, Ordering::SeqCst);
    let lease = m.acquire().await.unwrap();
    eventually::<R>("the grant's pass grows the pools to 3", || m.total_count() == 3).await;
    drop(lease);
    m.stop().await;
}

/// A finalised release runs a checker pass too: idle pools above the new
/// signal are shut down.
async fn a_finalised_release_runs_a_checker_pass<R: Runtime + Default>() {
    let (units, provider) = units();
    units.store(30, Ordering::SeqCst);
    let (reads, provider) = counted(provider);
    let m = started(hourly::<R>(provider)).await;
    assert_eq!(counts(&m), (3, 0, 3, 0));
    let lease = m.acquire().await.unwrap();
    // The grant's own pass reads the provider (start read it once) before
    // the signal drops: only the release's pass can see the drop.
    eventually::<R>("the grant's pass has read the provider", || reads.load(Ordering::SeqCst) == 2).await;
    units.store(0, Ordering::SeqCst);
    drop(lease);
    eventually::<R>("the release's pass shrinks the pools to 1", || m.total_count() == 1).await;
    m.stop().await;
}

/// The provider is user code: the checker reads it only for a pass (start,
/// the interval, a notification, a grant or a finalised release), not on
/// every wake-up, such as an acquire timing out.
async fn the_provider_is_read_only_for_a_checker_pass<R: Runtime + Default>() {
    let (calls, provider) = counted(|| 0);
    let m = started(hourly::<R>(provider).max_pools(1)).await;
    let _held = m.acquire().await.unwrap();
    eventually::<R>("start's and the grant's reads", || calls.load(Ordering::SeqCst) == 2).await;
    for _ in 0..5 {
        let timed_out = m.acquire().timeout(Duration::from_millis(10)).await;
        assert!(matches!(timed_out, Err(leasepool::Error::Timeout(_))), "{timed_out:?}");
    }
    sleep::<R>(Duration::from_millis(20)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "a timeout is no reason to read the provider");
    m.stop().await;
}

conformance! {
    a_grant_runs_a_checker_pass,
    a_grant_during_a_provider_read_gets_its_own_pass,
    a_finalised_release_runs_a_checker_pass,
    the_provider_is_read_only_for_a_checker_pass,
    notify_scale_changed_grows_and_shrinks,
    checker_follows_the_signal_every_interval,
    panicking_size_provider_keeps_the_last_value,
    a_failing_signal_does_not_shrink_the_pools,
    notification_during_a_provider_read_is_not_lost,
    size_provider_may_call_back_into_the_manager,
}
