//! start / stop / restart: both idempotent; `start` creates pools up to the
//! desired count and one checker; `stop` fails waiting and later acquires
//! with `NotStarted` before a start and `Stopped` after a stop; a stopped
//! manager starts again.

use std::time::Duration;

use leasepool::{Error, Runtime};

use crate::common::*;

/// `start` twice creates the pools once and spawns one checker.
async fn start_is_idempotent<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(true);
    let m = b.max_pools(4).min_pools(2).workers_per_pool(1).build().unwrap();
    assert!(!m.is_running());
    assert_eq!(counts(&m), (0, 0, 0, 0));

    m.start().await.expect("first start");
    m.start().await.expect("second start is a no-op");
    assert!(m.is_running());
    assert_eq!(counts(&m), (2, 0, 2, 0));
    assert_eq!(probe.spawns(), 1, "a second start must not spawn a second checker");
    m.stop().await;
}

/// `start` creates pools up to the desired count evaluated at start, not
/// just `min_pools`; without a size provider that is `min_pools`; it never
/// exceeds `max_pools`.
async fn start_creates_pools_up_to_desired<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(5).units_per_pool(10).size_provider(|| 25).workers_per_pool(1))
        .await;
    assert_eq!(m.desired_executor_count(), 3);
    assert_eq!(counts(&m), (3, 0, 3, 0));
    let s = m.stats();
    assert_eq!((s.units, s.desired_executor_count), (25, 3));
    m.stop().await;

    let m = started(builder::<R>().max_pools(5).min_pools(2).workers_per_pool(1)).await;
    assert_eq!(m.desired_executor_count(), 2);
    assert_eq!(counts(&m), (2, 0, 2, 0));
    m.stop().await;

    let m =
        started(builder::<R>().max_pools(4).units_per_pool(1).size_provider(|| 1_000).workers_per_pool(1))
            .await;
    assert_eq!(m.desired_executor_count(), 4);
    assert_eq!(counts(&m), (4, 0, 4, 0));
    m.stop().await;
}

/// `stop` twice is fine; it shuts every pool down (leased ones too) and the
/// leases it cut off refuse work.
async fn stop_is_idempotent<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(3).min_pools(2).workers_per_pool(1)).await;
    let lease = m.acquire().owner("cut-off").await.unwrap();
    assert_eq!(counts(&m), (1, 1, 2, 0));

    m.stop().await;
    m.stop().await;
    assert!(!m.is_running());
    assert_eq!(counts(&m), (0, 0, 0, 0));
    assert!(m.stats().leases.is_empty());
    assert!(matches!(lease.submit(|| ()), Err(Error::Stopped)));
    lease.release();
    drop(lease);
    assert_eq!(counts(&m), (0, 0, 0, 0));
}

/// A stopped manager starts again: pools, a new checker (it revokes an
/// expired lease) and leases all work; leases from before the stop stay
/// dead and cannot release anything of the new run.
async fn restart_works<R: Runtime + Default>() {
    let (b, probe) = instrumented::<R>(true);
    let m = b.max_pools(3).min_pools(2).lease_grace(Duration::ZERO).workers_per_pool(1).build().unwrap();
    m.start().await.unwrap();
    let old = m.acquire().owner("first-run").await.unwrap();
    m.stop().await;

    m.start().await.expect("restart");
    assert!(m.is_running());
    assert_eq!(counts(&m), (2, 0, 2, 0));
    assert_eq!(probe.spawns(), 2, "the restart spawns a fresh checker");
    assert!(matches!(old.submit(|| ()), Err(Error::Stopped)));

    let lease = m.acquire().owner("second-run").await.unwrap();
    assert_eq!(lease.run(|| 40 + 2).await.unwrap(), 42);
    assert_ne!(lease.id(), old.id());
    drop(old); // a release of the first run's lease must not touch this one
    assert_eq!(m.leased_count(), 1);
    assert_eq!(lease.run(|| "still mine").await.unwrap(), "still mine");
    drop(lease);
    assert_eq!(counts(&m), (2, 0, 2, 0));

    // The new checker works: a short lease nobody releases is revoked.
    let short = m.acquire().lease_for(Duration::from_millis(100)).await.unwrap();
    eventually::<R>("the restarted checker revokes the expired lease", || m.leased_count() == 0).await;
    assert!(matches!(short.submit(|| ()), Err(Error::LeaseExpired)));
    assert_eq!(counts(&m), (2, 0, 2, 0));
    m.stop().await;
}

/// Many quick stop/start cycles leave exactly one live checker, and it still
/// hears notifications (here: a scale change with a one-hour interval).
async fn rapid_restarts_keep_one_working_checker<R: Runtime + Default>() {
    let (units, provider) = units();
    let m = builder::<R>()
        .max_pools(4)
        .units_per_pool(10)
        .size_provider(provider)
        .check_interval(Duration::from_secs(3600))
        .lease_grace(Duration::ZERO)
        .workers_per_pool(1)
        .build()
        .unwrap();
    for round in 0..20 {
        m.start().await.unwrap();
        m.stop().await;
        assert_eq!(counts(&m), (0, 0, 0, 0), "round {round}");
    }
    m.start().await.unwrap();
    units.store(30, std::sync::atomic::Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("the checker of the last start hears notify_scale_changed", || m.total_count() == 3)
        .await;
    // And a grant still schedules its expiry with that checker.
    let lease = m.acquire().lease_for(Duration::from_millis(100)).await.unwrap();
    eventually::<R>("the checker of the last start revokes at hard expiry", || m.leased_count() == 0).await;
    drop(lease);
    m.stop().await;
}

/// After stop + start, the new checker hears notifications whatever order
/// the runtime polls the old and new checker tasks in. The old checker is
/// frozen across stop + start and only polled again once the new one is
/// asleep: it must then exit without taking the new checker's wake-ups.
async fn restarted_checker_hears_notifications_whatever_the_poll_order<R: Runtime + Default>() {
    let (units, provider) = units();
    let (b, probe) = instrumented::<R>(true);
    let m = b
        .max_pools(4)
        .units_per_pool(10)
        .size_provider(provider)
        .check_interval(Duration::from_secs(3600))
        .workers_per_pool(1)
        .build()
        .unwrap();
    m.start().await.unwrap(); // checker task 0
    eventually::<R>("checker 0 goes to sleep", || probe.sleeps_of(0) >= 1).await;
    probe.freeze(0);
    m.stop().await; // wakes checker 0, which is not polled while frozen
    m.start().await.unwrap(); // checker task 1
    // Checker 1 runs a pass, sees the stop's wake-up, runs again and sleeps.
    eventually::<R>("checker 1 settles", || probe.sleeps_of(1) >= 2).await;
    probe.thaw(0);
    eventually::<R>("the superseded checker exits", || probe.finished(0)).await;

    units.store(30, std::sync::atomic::Ordering::SeqCst);
    m.notify_scale_changed();
    eventually::<R>("the current checker hears notify_scale_changed", || m.total_count() == 3).await;
    assert!(!probe.finished(1));
    m.stop().await;
}

/// Before start every kind of acquire fails with `NotStarted`; after stop,
/// with `Stopped` (a message for a service shutting down, not for a
/// developer who forgot `start`).
async fn acquire_when_not_started_fails<R: Runtime + Default>() {
    let m = builder::<R>().max_pools(2).workers_per_pool(1).build().unwrap();
    for round in ["before start", "after stop"] {
        let refused = |e: &Error| match round {
            "before start" => matches!(e, Error::NotStarted),
            _ => matches!(e, Error::Stopped),
        };
        assert!(m.acquire().await.err().is_some_and(|e| refused(&e)), "{round}");
        assert!(m.try_acquire().await.err().is_some_and(|e| refused(&e)), "{round}");
        assert!(
            m.acquire().timeout(Duration::from_secs(3600)).await.err().is_some_and(|e| refused(&e)),
            "{round}"
        );
        let m2 = m.clone();
        let blocking = std::thread::spawn(move || m2.acquire().blocking().map(drop));
        assert!(blocking.join().unwrap().err().is_some_and(|e| refused(&e)), "{round}");
        assert_eq!(counts(&m), (0, 0, 0, 0));
        if round == "before start" {
            m.start().await.unwrap();
            m.stop().await;
        }
    }
}

/// `stop` fails every queued acquire (async, with a timeout, and blocking on
/// a plain thread) with `Stopped`, not with a timeout and not by hanging.
async fn stop_fails_waiting_acquires<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().owner("holder").await.unwrap();
    let a = queued(&m, m.acquire().owner("a")).await;
    let b = queued(&m, m.acquire().owner("b").timeout(Duration::from_secs(3600))).await;
    let m2 = m.clone();
    let c = std::thread::spawn(move || m2.acquire().owner("c").blocking().map(drop));
    eventually::<R>("the blocking acquire queues", || m.waiting_count() == 3).await;

    m.stop().await;
    assert!(matches!(within::<R, _>("queued acquire a fails", a).await, Err(Error::Stopped)));
    assert!(matches!(within::<R, _>("queued acquire b fails", b).await, Err(Error::Stopped)));
    eventually::<R>("the blocking acquire returns", || c.is_finished()).await;
    assert!(matches!(c.join().unwrap(), Err(Error::Stopped)));
    assert_eq!(counts(&m), (0, 0, 0, 0));
    assert!(matches!(holder.submit(|| ()), Err(Error::Stopped)));
}

/// An acquire that was handed a pool but not polled since is still waiting
/// when `stop` runs: it fails with `Stopped` like every other waiter (also
/// when the manager is started again before it is polled), instead of
/// resolving later to a lease on a pool the stop shut down.
async fn stop_fails_an_acquire_granted_but_not_yet_polled<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    for restart_first in [false, true] {
        let holder = m.acquire().owner("holder").await.unwrap();
        let granted = queued(&m, m.acquire().owner("granted")).await;
        drop(holder); // hands the pool to `granted`, which is not polled
        assert_eq!((m.waiting_count(), m.leased_count()), (0, 1));

        m.stop().await;
        assert_eq!(counts(&m), (0, 0, 0, 0));
        if restart_first {
            m.start().await.unwrap();
        }
        let result = within::<R, _>("the granted acquire resolves", granted).await;
        assert!(matches!(result, Err(Error::Stopped)), "restart first: {restart_first}: {result:?}");
        if !restart_first {
            m.start().await.unwrap();
        }
        assert_eq!(counts(&m), (1, 0, 1, 0), "nothing of the cut-off grant is left");
    }
    m.stop().await;
}

conformance! {
    start_is_idempotent,
    start_creates_pools_up_to_desired,
    stop_is_idempotent,
    restart_works,
    rapid_restarts_keep_one_working_checker,
    restarted_checker_hears_notifications_whatever_the_poll_order,
    acquire_when_not_started_fails,
    stop_fails_waiting_acquires,
    stop_fails_an_acquire_granted_but_not_yet_polled,
}
