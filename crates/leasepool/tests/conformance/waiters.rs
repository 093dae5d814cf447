//! First-come-first-served waiters and cancel safety: dropping an acquire
//! future at any point never loses or leaks capacity.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use leasepool::driver::Acquiring;
use leasepool::{Error, Runtime};

use crate::common::*;

/// Queued acquires are granted in queue order, one per released lease, and
/// only the head of the queue is granted (whom each grant wakes is
/// [`each_grant_wakes_only_its_waiter`]: here the test's own waker is shared
/// by every future it polls).
async fn waiters_are_served_fifo<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().owner("holder").await.unwrap();
    let mut waiting = Vec::new();
    for i in 0..5 {
        waiting.push(queued(&m, m.acquire().owner(format!("w{i}"))).await);
    }
    drop(holder);
    for i in 0..5 {
        let mut head = waiting.remove(0);
        let lease = match poll_once(&mut head).await {
            Poll::Ready(Ok(lease)) => lease,
            other => panic!("w{i} should hold the pool now, got {other:?}"),
        };
        assert_eq!(lease.owner(), Some(format!("w{i}").as_str()));
        for rest in &mut waiting {
            assert!(poll_once(rest).await.is_pending(), "only the head of the queue is granted");
        }
        assert_eq!(m.waiting_count(), 4 - i);
        assert_eq!(lease.run(move || i).await.unwrap(), i);
        drop(lease);
    }
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// One wake per grant: each queued acquire is polled once with a waker of
/// its own, so the test sees exactly whom each grant woke. A released
/// lease wakes the head of the queue and nobody else; the next release
/// wakes the next one.
async fn each_grant_wakes_only_its_waiter<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().owner("holder").await.unwrap();
    let mut waiting = Vec::new();
    for i in 0..3 {
        let flag = Arc::new(Flag::default());
        let mut fut = m.acquire().owner(format!("w{i}")).into_future();
        assert!(poll_flagged(&mut fut, &flag).is_pending(), "w{i} should queue");
        waiting.push((fut, flag));
    }
    assert_eq!(m.waiting_count(), 3);
    let woken =
        |waiting: &[(Acquiring<R>, Arc<Flag>)]| waiting.iter().map(|(_, f)| f.woken()).collect::<Vec<_>>();
    assert_eq!(woken(&waiting), [false, false, false], "nothing granted yet");

    drop(holder);
    assert_eq!(woken(&waiting), [true, false, false], "the release woke the head of the queue only");

    // A woken waiter holds the pool: polling it once takes the lease.
    let take = |waiting: &mut [(Acquiring<R>, Arc<Flag>)], i: usize| {
        let (fut, flag) = &mut waiting[i];
        match poll_flagged(fut, flag) {
            Poll::Ready(Ok(lease)) => lease,
            other => panic!("w{i} was woken, so it holds the pool, got {other:?}"),
        }
    };
    let lease = take(&mut waiting, 0);
    assert_eq!(lease.owner(), Some("w0"));
    assert_eq!(woken(&waiting), [true, false, false], "taking the grant wakes nobody");
    drop(lease);
    assert_eq!(woken(&waiting), [true, true, false], "the next release woke the next waiter only");

    let lease = take(&mut waiting, 1);
    assert_eq!(lease.owner(), Some("w1"));
    drop(lease);
    assert_eq!(woken(&waiting), [true, true, true]);
    let (last, flag) = &mut waiting[2];
    assert!(matches!(poll_flagged(last, flag), Poll::Ready(Ok(_))), "w2 holds the pool");
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// The same order holds for acquires waiting in separate runtime tasks,
/// woken by the runtime rather than polled by the test.
async fn waiting_tasks_are_served_fifo<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (m2, order2) = (m.clone(), Arc::clone(&order));
        tasks.push(spawn::<R, _>(async move {
            let lease = m2.acquire().owner(format!("task-{i}")).await.expect("granted");
            lease.run(|| ()).await.expect("job");
            order2.lock().unwrap().push(i);
        }));
        eventually::<R>("the task's acquire is queued", || m.waiting_count() == i + 1).await;
    }
    drop(holder);
    join_all::<R, _>(EVENTUALLY, "every task is served", tasks).await;
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
    eventually::<R>("the last task released", || m.leased_count() == 0).await;
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// A queued acquire dropped before its grant leaves the queue; the next
/// waiter gets the pool.
async fn dropped_queued_acquire_loses_nothing<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().await.unwrap();
    let gone = queued(&m, m.acquire().owner("gone")).await;
    let next = queued(&m, m.acquire().owner("next")).await;
    drop(gone);
    assert_eq!(m.waiting_count(), 1);
    drop(holder);
    let lease = within::<R, _>("the remaining waiter is granted", next).await.unwrap();
    assert_eq!(lease.owner(), Some("next"));
    assert_eq!(counts(&m), (0, 1, 1, 0));
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// An acquire dropped after its grant but before it is polled again gives
/// the pool back: to the next waiter if there is one, otherwise to the
/// available list.
async fn acquire_dropped_after_grant_gives_the_pool_back<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;

    // Nobody else waits: the pool becomes available.
    let holder = m.acquire().await.unwrap();
    let granted = queued(&m, m.acquire().owner("never-polled")).await;
    drop(holder);
    assert_eq!(counts(&m), (0, 1, 1, 0), "the pool went to the queued acquire");
    drop(granted);
    assert_eq!(counts(&m), (1, 0, 1, 0), "dropping the granted acquire returns the pool");
    let lease = m.try_acquire().await.expect("the pool is free again");

    // Another waiter: it gets the pool directly.
    let granted = queued(&m, m.acquire().owner("never-polled")).await;
    let next = queued(&m, m.acquire().owner("next")).await;
    drop(lease);
    assert_eq!(counts(&m), (0, 1, 1, 1));
    drop(granted);
    assert_eq!(counts(&m), (0, 1, 1, 0));
    let lease = within::<R, _>("the next waiter gets the handed-back pool", next).await.unwrap();
    assert_eq!(lease.owner(), Some("next"));
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// A grant waits for its future however the queue moves on meanwhile: a
/// later acquire queued before the granted one is polled again (and so
/// stored in the same waiter slot) takes nothing from it, and both end with
/// the right lease.
async fn grant_not_yet_taken_survives_new_waiters<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().await.unwrap();
    let mut granted = queued(&m, m.acquire().owner("granted")).await;
    drop(holder);
    assert_eq!(counts(&m), (0, 1, 1, 0), "the pool went to the queued acquire");
    let mut later = Vec::new();
    for i in 0..3 {
        later.push(queued(&m, m.acquire().owner(format!("later-{i}"))).await);
    }
    let lease = match poll_once(&mut granted).await {
        Poll::Ready(Ok(lease)) => lease,
        other => panic!("the granted acquire must still hold its grant, got {other:?}"),
    };
    assert_eq!(lease.owner(), Some("granted"));
    for (i, waiter) in later.iter_mut().enumerate() {
        assert!(poll_once(waiter).await.is_pending(), "later-{i} still waits");
    }
    drop(lease);
    for (i, waiter) in later.into_iter().enumerate() {
        let lease = within::<R, _>("the later waiters are served in order", waiter).await.unwrap();
        assert_eq!(lease.owner(), Some(format!("later-{i}").as_str()));
    }
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// A waiter that timed out never consumes a later grant.
async fn timed_out_waiter_does_not_take_a_grant<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().await.unwrap();
    let hasty = queued(&m, m.acquire().owner("hasty").timeout(Duration::from_millis(30))).await;
    let patient = queued(&m, m.acquire().owner("patient")).await;
    assert!(matches!(within::<R, _>("the bounded waiter times out", hasty).await, Err(Error::Timeout(_))));
    assert_eq!(m.waiting_count(), 1);
    drop(holder);
    let lease = within::<R, _>("the patient waiter is granted", patient).await.unwrap();
    assert_eq!(lease.owner(), Some("patient"));
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// Churn: tasks acquire with tiny timeouts, drop acquire futures after zero,
/// one or two polls, try_acquire, run jobs and release, all at once. Then
/// every pool is back, nothing waits, and full capacity can be leased.
async fn acquire_churn_loses_no_capacity<R: Runtime + Default>() {
    const TASKS: usize = 6;
    const ROUNDS: u64 = 40;
    let m = started(builder::<R>().max_pools(2).min_pools(1).workers_per_pool(1)).await;
    let mut tasks = Vec::new();
    for task in 0..TASKS as u64 {
        let m = m.clone();
        tasks.push(spawn::<R, _>(async move {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (task + 1);
            for _ in 0..ROUNDS {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                match seed % 5 {
                    0 => {
                        let timeout = Duration::from_millis(seed % 4);
                        if let Ok(lease) = m.acquire().timeout(timeout).await {
                            lease.run(|| ()).await.expect("job");
                        }
                    }
                    1 => drop(m.acquire().into_future()),
                    2 => {
                        let mut f = m.acquire().into_future();
                        let _ = poll_once(&mut f).await;
                        drop(f);
                    }
                    3 => {
                        let mut f = m.acquire().into_future();
                        if poll_once(&mut f).await.is_pending() {
                            sleep::<R>(Duration::from_millis(1)).await;
                            if let Poll::Ready(Ok(lease)) = poll_once(&mut f).await {
                                lease.run(|| ()).await.expect("job");
                            }
                        }
                        drop(f);
                    }
                    _ => {
                        if let Ok(lease) = m.try_acquire().await {
                            sleep::<R>(Duration::from_millis(1)).await;
                            drop(lease);
                        }
                    }
                }
            }
        }));
    }
    join_all::<R, _>(EVENTUALLY, "every churn task finishes", tasks).await;
    let (available, leased, total, waiting) = counts(&m);
    assert_eq!((leased, waiting), (0, 0));
    assert_eq!(available, total);
    assert!((1..=2).contains(&total), "total {total}");
    let a = m.try_acquire().await.expect("capacity intact");
    let b = m.try_acquire().await.expect("capacity intact");
    assert!(matches!(m.try_acquire().await, Err(Error::Unavailable)));
    drop((a, b));
    m.stop().await;
}

conformance! {
    waiters_are_served_fifo,
    each_grant_wakes_only_its_waiter,
    waiting_tasks_are_served_fifo,
    dropped_queued_acquire_loses_nothing,
    acquire_dropped_after_grant_gives_the_pool_back,
    grant_not_yet_taken_survives_new_waiters,
    timed_out_waiter_does_not_take_a_grant,
    acquire_churn_loses_no_capacity,
}
