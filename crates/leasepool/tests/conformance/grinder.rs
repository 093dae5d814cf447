//! The work grinder (README.md, "WorkGrinder"): what starts a batch, the
//! batch lease, stop (drain or cancel, even while blocked on a lease),
//! withdrawn items, per-item results and errors, plain-thread callers,
//! concurrent batches, configuration errors and stats.
//!
//! Timing in these tests is only ever a lower bound or a generous deadline:
//! "nothing happened" is checked after a short while (a correct grinder
//! passes however long the while), and "something happened" is polled for.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leasepool::driver::{GrinderBuilder, WorkGrinder};
use leasepool::{Error, Runtime, StopMode};

use crate::common::*;

/// A max wait that never elapses during a test: only the threshold (or a
/// drain) starts a batch.
const HOUR: Duration = Duration::from_secs(3600);

/// How long "nothing happens" is watched for.
const A_WHILE: Duration = Duration::from_millis(200);

fn grinder<R: Runtime>(m: &Manager<R>) -> GrinderBuilder<R> {
    WorkGrinder::builder(m)
}

/// Builds and starts a grinder.
async fn running<R: Runtime>(builder: GrinderBuilder<R>) -> WorkGrinder<R> {
    let g = builder.build().expect("valid grinder configuration");
    g.start().await.expect("start the grinder");
    g
}

/// The grinder's item counters: accepted, completed, failed, cancelled.
fn items<R: Runtime>(g: &WorkGrinder<R>) -> [u64; 4] {
    let c = g.stats().counters;
    [c.items_accepted, c.items_completed, c.items_failed, c.items_cancelled]
}

/// Owners of the manager's live leases that are grinder batch leases.
fn batch_owners<R: Runtime>(m: &Manager<R>) -> Vec<String> {
    let mut owners: Vec<String> = m
        .stats()
        .leases
        .iter()
        .filter_map(|l| l.owner.as_deref().filter(|o| o.contains("-batch-")).map(str::to_owned))
        .collect();
    owners.sort();
    owners
}

/// A job that counts its run in `ran` and returns `value`.
fn counted<T: Send + 'static>(ran: &Arc<AtomicUsize>, value: T) -> impl FnOnce() -> T + Send + 'static {
    let ran = Arc::clone(ran);
    move || {
        ran.fetch_add(1, Ordering::SeqCst);
        value
    }
}

/// A job that blocks on `gate` and then returns `value`.
fn gated<T: Send + 'static>(gate: &Gate, value: T) -> impl FnOnce() -> T + Send + 'static {
    let gate = gate.clone();
    move || {
        gate.wait();
        value
    }
}

/// Exactly `threshold` pending items start a batch (max wait far away);
/// fewer stay pending, with no batch and no lease, until the threshold is
/// reached.
async fn threshold_starts_a_batch_and_fewer_items_wait<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).workers_per_pool(2)).await;
    let g = running(grinder(&m).batch_size_threshold(3).max_wait(HOUR)).await;

    let first: Vec<_> = (0..3).map(|i| g.enqueue(move || i * 10).unwrap()).collect();
    for (i, handle) in first.into_iter().enumerate() {
        assert_eq!(within::<R, _>("the threshold batch runs", handle).await.unwrap(), i * 10);
    }
    eventually::<R>("the first batch is counted", || g.stats().counters.batches_run == 1).await;

    let ran = Arc::new(AtomicUsize::new(0));
    let a = g.enqueue(counted(&ran, 'a')).unwrap();
    let b = g.enqueue(counted(&ran, 'b')).unwrap();
    // The items before them completed; after a while these two are still
    // waiting: two is below the threshold and the max wait is an hour away.
    sleep::<R>(A_WHILE).await;
    let s = g.stats();
    assert_eq!((s.pending, s.running_batches, s.counters.batches_run), (2, 0, 1), "{s:?}");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(!a.is_finished() && !b.is_finished());
    assert!(batch_owners(&m).is_empty(), "no batch lease without a batch");

    let c = g.enqueue(counted(&ran, 'c')).unwrap();
    assert_eq!(within::<R, _>("a", a).await.unwrap(), 'a');
    assert_eq!(within::<R, _>("b", b).await.unwrap(), 'b');
    assert_eq!(within::<R, _>("c", c).await.unwrap(), 'c');
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    eventually::<R>("the second batch is counted", || g.stats().counters.batches_run == 2).await;
    assert_eq!(g.stats().counters.items_completed, 6);
    within::<R, _>("stop", g.stop(StopMode::Drain)).await;
    m.stop().await;
}

/// A batch takes every pending item, not just `threshold` of them: five
/// items queued while the only batch slot is busy leave together in the
/// next batch.
async fn a_batch_takes_every_pending_item<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let g = running(grinder(&m).batch_size_threshold(2).max_wait(HOUR)).await;
    let gate = Gate::default();
    let first = [g.enqueue(gated(&gate, 0)).unwrap(), g.enqueue(|| 1).unwrap()];
    eventually::<R>("the first batch is running", || gate.entered() == 1).await;
    let rest: Vec<_> = (2..7).map(|i| g.enqueue(move || i).unwrap()).collect();
    assert_eq!(g.stats().pending, 5, "the only batch slot is busy");
    gate.open();
    for (i, handle) in first.into_iter().chain(rest).enumerate() {
        assert_eq!(within::<R, _>("every item runs", handle).await.unwrap(), i);
    }
    // Items are counted as their results go out, batches once they end.
    eventually::<R>("both batches end", || g.stats().running_batches == 0).await;
    let s = g.stats();
    assert_eq!(
        (s.counters.items_completed, s.counters.batches_run),
        (7, 2),
        "the five pending items left in one batch"
    );
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// Below the threshold, the oldest item's max wait starts the batch: a
/// single item runs no sooner than max_wait after it was queued.
async fn max_wait_starts_a_batch_below_the_threshold<R: Runtime + Default>() {
    const MAX_WAIT: Duration = Duration::from_millis(50);
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let g = running(grinder(&m).batch_size_threshold(1000).max_wait(MAX_WAIT)).await;

    for _ in 0..2 {
        let queued_at = Instant::now();
        let handle = g.enqueue(Instant::now).unwrap();
        let ran_at = within::<R, _>("the max wait starts the batch", handle).await.unwrap();
        let waited = ran_at.duration_since(queued_at);
        assert!(waited >= MAX_WAIT, "the item ran {waited:?} after it was queued, before max_wait");
    }
    eventually::<R>("two batches of one", || g.stats().counters.batches_run == 2).await;
    assert_eq!(g.stats().counters.items_completed, 2);
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// Each batch runs on a lease owned by `{owner_prefix}-batch-{n}` (n counts
/// batches from 1) and lasting `lease_for`; the defaults are
/// `work-grinder` and 60 s.
async fn batch_lease_has_owner_and_duration<R: Runtime + Default>() {
    let m =
        started(builder::<R>().max_pools(2).workers_per_pool(1).default_lease_for(Duration::from_secs(300)))
            .await;
    let g = running(
        grinder(&m)
            .batch_size_threshold(1)
            .max_wait(HOUR)
            .lease_for(Duration::from_secs(7))
            .owner_prefix("cfgrind"),
    )
    .await;

    for n in 1..=2 {
        let gate = Gate::default();
        let handle = g.enqueue(gated(&gate, n)).unwrap();
        eventually::<R>("the batch's item is running", || gate.entered() == 1).await;
        let leases = m.stats().leases;
        assert_eq!(leases.len(), 1, "{leases:?}");
        assert_eq!(leases[0].owner.as_deref(), Some(format!("cfgrind-batch-{n}").as_str()));
        assert_eq!(leases[0].lease_for, Duration::from_secs(7));
        assert_eq!(g.stats().running_batches, 1);
        gate.open();
        assert_eq!(within::<R, _>("the item ends", handle).await.unwrap(), n);
        eventually::<R>("the batch lease is released", || m.leased_count() == 0).await;
    }

    let defaults = running(grinder(&m).batch_size_threshold(1)).await;
    let gate = Gate::default();
    let handle = defaults.enqueue(gated(&gate, ())).unwrap();
    eventually::<R>("the item is running", || gate.entered() == 1).await;
    let leases = m.stats().leases;
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0].owner.as_deref(), Some("work-grinder-batch-1"));
    assert_eq!(leases[0].lease_for, Duration::from_secs(60));
    gate.open();
    within::<R, _>("the item ends", handle).await.unwrap();

    g.stop(StopMode::Drain).await;
    defaults.stop(StopMode::Drain).await;
    m.stop().await;
}

/// stop(Drain) refuses new work from the moment it is called, runs every
/// queued item (below the threshold) before it returns, and leaves the
/// grinder stopped; start makes it serve again.
async fn drain_stop_runs_queued_work_then_refuses_new_work<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let g = running(grinder(&m).batch_size_threshold(100).max_wait(HOUR)).await;

    // The first item holds the batch until the test opens the gate, so the
    // drain cannot end before the checks below.
    let gate = Gate::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let mut handles = vec![g.enqueue(gated(&gate, 0)).unwrap()];
    handles.extend((1..5).map(|i| g.enqueue(counted(&ran, i)).unwrap()));
    assert_eq!(g.stats().pending, 5);

    let mut stop = Box::pin(g.stop(StopMode::Drain));
    assert!(poll_once(&mut stop).await.is_pending(), "the drain waits for the queued work");
    let s = g.stats();
    assert!(s.started && s.stopping, "{s:?}");
    assert!(matches!(g.enqueue(|| ()), Err(Error::GrinderNotRunning)));
    assert!(matches!(g.submit(|| ()).await, Err(Error::GrinderNotRunning)));
    assert!(matches!(g.submit_as("late", || ()).await, Err(Error::GrinderNotRunning)));

    eventually::<R>("the drain starts a batch below the threshold", || gate.entered() == 1).await;
    gate.open();
    within::<R, _>("the drain ends", stop).await;
    assert!(handles.iter().all(|h| h.is_finished()), "every queued item finished before stop returned");
    assert_eq!(ran.load(Ordering::SeqCst), 4);
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap(), i);
    }
    let s = g.stats();
    assert!(!s.started && !s.stopping, "{s:?}");
    assert_eq!(
        (s.pending, s.running_batches, s.counters.batches_run, s.counters.items_completed),
        (0, 0, 1, 5)
    );
    eventually::<R>("the batch lease is released", || m.leased_count() == 0).await;

    assert!(matches!(g.enqueue(|| ()), Err(Error::GrinderNotRunning)));
    assert!(matches!(g.submit(|| ()).await, Err(Error::GrinderNotRunning)));
    within::<R, _>("stopping a stopped grinder returns at once", g.stop(StopMode::Drain)).await;
    within::<R, _>("in either mode", g.stop(StopMode::CancelPending)).await;

    // Restart: it serves again, and a second drain works the same way.
    g.start().await.expect("start the grinder");
    assert!(g.stats().started);
    let again: Vec<_> = (0..3).map(|i| g.enqueue(move || i + 100).unwrap()).collect();
    within::<R, _>("the second drain ends", g.stop(StopMode::Drain)).await;
    for (i, handle) in again.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap(), i + 100);
    }
    assert_eq!(g.stats().counters.batches_run, 2);
    m.stop().await;
}

/// stop(CancelPending) while a batch is blocked waiting for a lease (the
/// only pool is held elsewhere): every item, in the batch or still queued,
/// resolves to Cancelled at once, none runs, and the batch's acquire is
/// withdrawn, so the held pool, once released, is free again.
async fn cancel_stop_while_blocked_on_a_lease<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let held = m.acquire().owner("holder").await.unwrap();
    let g = running(grinder(&m).batch_size_threshold(3).max_wait(HOUR)).await;

    let ran = Arc::new(AtomicUsize::new(0));
    let mut handles: Vec<_> = (0..3).map(|i| g.enqueue(counted(&ran, i)).unwrap()).collect();
    eventually::<R>("the batch waits for the held pool", || {
        m.waiting_count() == 1 && g.stats().running_batches == 1
    })
    .await;
    // Two more, queued behind the blocked batch.
    handles.extend((3..5).map(|i| g.enqueue(counted(&ran, i)).unwrap()));
    assert_eq!(g.stats().pending, 2);

    within::<R, _>("a cancelling stop returns at once", g.stop(StopMode::CancelPending)).await;
    let s = g.stats();
    assert!(!s.started && !s.stopping, "{s:?}");
    assert_eq!(s.pending, 0);
    for (i, handle) in handles.into_iter().enumerate() {
        let result = within::<R, _>("the item is cancelled promptly", handle).await;
        assert!(matches!(result, Err(Error::Cancelled)), "item {i}: {result:?}");
    }
    assert!(matches!(g.enqueue(|| ()), Err(Error::GrinderNotRunning)));
    eventually::<R>("the batch's acquire is withdrawn", || m.waiting_count() == 0).await;
    eventually::<R>("the cancelled batch is finished", || g.stats().running_batches == 0).await;
    assert_eq!(items(&g), [5, 0, 0, 5], "every item, in the batch or queued, counted as cancelled");
    assert_eq!(g.stats().counters.batches_run, 1);

    drop(held);
    assert_eq!(counts(&m), (1, 0, 1, 0), "nothing leaked: the held pool is free again");
    let lease = m.try_acquire().await.expect("the pool is available");
    assert_eq!(lease.run(|| 5).await.unwrap(), 5);
    drop(lease);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "no cancelled item ran");
    m.stop().await;
}

/// stop(CancelPending) while a batch runs: the running item finishes with
/// its real result, the items after it in the batch are cancelled, and the
/// lease is released afterwards.
async fn cancel_stop_lets_the_running_item_finish<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let g = running(grinder(&m).batch_size_threshold(3).max_wait(HOUR)).await;

    let gate = Gate::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let running_item = g.enqueue(gated(&gate, "ran to the end")).unwrap();
    let rest: Vec<_> = (0..2).map(|i| g.enqueue(counted(&ran, i)).unwrap()).collect();
    eventually::<R>("the first item runs", || gate.entered() == 1).await;

    within::<R, _>("a cancelling stop returns at once", g.stop(StopMode::CancelPending)).await;
    assert!(!running_item.is_finished(), "the running item is not interrupted");
    gate.open();
    assert_eq!(within::<R, _>("the running item ends", running_item).await.unwrap(), "ran to the end");
    for handle in rest {
        let result = within::<R, _>("the rest of the batch", handle).await;
        assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    eventually::<R>("the batch ends and its lease is released", || {
        g.stats().running_batches == 0 && m.leased_count() == 0
    })
    .await;
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// A stopped (cancelled) grinder restarted at once serves again, round
/// after round: the old batching loop must not swallow the new loop's
/// wake-ups.
async fn restart_after_cancel_stop_serves_again<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let g = running(grinder(&m).batch_size_threshold(1).max_wait(HOUR)).await;
    for round in 0..50 {
        let handle = g.enqueue(move || round).unwrap();
        let result = within::<R, _>("an item after a restart runs", handle).await;
        assert_eq!(result.unwrap(), round, "round {round}");
        g.stop(StopMode::CancelPending).await;
        assert!(!g.stats().started);
        g.start().await.expect("start the grinder");
    }
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// Dropping a WorkHandle before its batch starts removes the item from the
/// queue at once; it never runs, and the other items still do.
async fn dropped_handle_leaves_the_queue_at_once<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(2)).await;
    let g = running(grinder(&m).batch_size_threshold(3).max_wait(HOUR)).await;

    let withdrawn_ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&withdrawn_ran);
    let withdrawn = g.enqueue(move || flag.store(true, Ordering::SeqCst)).unwrap();
    let b = g.enqueue(|| 'b').unwrap();
    assert_eq!(g.stats().pending, 2);
    drop(withdrawn);
    let s = g.stats();
    assert_eq!(s.pending, 1, "the dropped item left the queue at once: {s:?}");

    // A dropped submit future withdraws its item the same way.
    drop(g.submit(|| 'x'));
    assert_eq!(g.stats().pending, 1);

    // Two more reach the threshold of three (the withdrawn item does not count).
    let c = g.enqueue(|| 'c').unwrap();
    assert_eq!(g.stats().pending, 2);
    let d = g.submit_as("tenant-d", || 'd');
    assert_eq!(within::<R, _>("b", b).await.unwrap(), 'b');
    assert_eq!(within::<R, _>("c", c).await.unwrap(), 'c');
    assert_eq!(within::<R, _>("d", d).await.unwrap(), 'd');
    eventually::<R>("the batch is counted", || g.stats().counters.batches_run == 1).await;
    assert_eq!(g.stats().counters.items_completed, 3, "the batch held the three live items only");
    assert_eq!(items(&g), [5, 3, 0, 2], "the two withdrawn items count as cancelled");
    assert!(!withdrawn_ran.load(Ordering::SeqCst), "a withdrawn item never runs");
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// A panicking item fails only its own caller, with Panicked carrying the
/// message; the other items of the same batch (and chunk) get their
/// results, and the pool keeps serving the next batch.
async fn panicking_item_fails_only_its_caller<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1).name_prefix("cfgpanic")).await;
    let g = running(grinder(&m).batch_size_threshold(3).max_wait(HOUR)).await;
    let thread = || std::thread::current().name().map(str::to_owned).expect("named worker");

    let before = g.submit(thread);
    let boom = g.submit_as("bomb", || -> String { panic!("grinder kaboom {}", 7) });
    let after = g.submit(thread);
    let err = within::<R, _>("the panicking item", boom).await.unwrap_err();
    assert!(matches!(&err, Error::Panicked(msg) if msg.contains("grinder kaboom 7")), "{err:?}");
    let first = within::<R, _>("the item before", before).await.unwrap();
    let second = within::<R, _>("the item after", after).await.unwrap();
    assert_eq!(first, second, "one worker, one chunk: the same thread ran both");
    let pool = pool_of_thread(&first).expect("a pool number");

    let next: Vec<_> = (0..3).map(|_| g.enqueue(thread).unwrap()).collect();
    for handle in next {
        let name = within::<R, _>("the next batch", handle).await.unwrap();
        assert_eq!(pool_of_thread(&name), Some(pool), "the pool was not retired: {name}");
    }
    assert_eq!(m.total_count(), 1);
    assert_eq!(items(&g), [6, 5, 1, 0], "the panicking item counted as failed, the rest completed");
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// When the batch's pool breaks (its worker initializer fails), every item
/// of the batch gets Broken with the cause, nothing hangs, and the next
/// batch runs on a good pool.
async fn broken_pool_fails_its_batch_and_the_next_batch_runs<R: Runtime + Default>() {
    let fail = Arc::new(AtomicBool::new(false));
    let inits = Arc::new(AtomicUsize::new(0));
    let (f, n) = (Arc::clone(&fail), Arc::clone(&inits));
    let m = started(builder::<R>().max_pools(2).workers_per_pool(2).initializer(move || {
        n.fetch_add(1, Ordering::SeqCst);
        if f.load(Ordering::SeqCst) { Err("grinder pool cursed") } else { Ok(()) }
    }))
    .await;
    eventually::<R>("the first pool's workers are initialised", || inits.load(Ordering::SeqCst) == 2).await;
    let held = m.acquire().owner("holder").await.unwrap();
    // The batch now needs a new pool, and that pool breaks.
    fail.store(true, Ordering::SeqCst);
    let g = running(grinder(&m).batch_size_threshold(4).max_wait(HOUR)).await;
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4).map(|i| g.enqueue(counted(&ran, i)).unwrap()).collect();
    for handle in handles {
        match within::<R, _>("an item on a broken pool ends", handle).await {
            Err(Error::Broken(msg)) => assert!(msg.contains("grinder pool cursed"), "{msg}"),
            other => panic!("expected Broken, got {other:?}"),
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    fail.store(false, Ordering::SeqCst);
    drop(held);
    let handles: Vec<_> = (0..4).map(|i| g.enqueue(counted(&ran, i)).unwrap()).collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(within::<R, _>("the next batch", handle).await.unwrap(), i);
    }
    eventually::<R>("both batches counted", || g.stats().counters.batches_run == 2).await;
    assert_eq!(items(&g), [8, 4, 4, 0], "the broken batch's items failed, the next batch's completed");
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// Plain OS threads enqueue and block on `wait`, no async context; with a
/// threshold equal to the number of threads they share one batch.
async fn plain_threads_enqueue_and_wait<R: Runtime + Default>() {
    const THREADS: usize = 4;
    let m = started(builder::<R>().max_pools(1).workers_per_pool(2)).await;
    let g = running(grinder(&m).batch_size_threshold(THREADS).max_wait(HOUR)).await;

    let results = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (g, results) = (g.clone(), Arc::clone(&results));
            std::thread::spawn(move || {
                let handle =
                    if i % 2 == 0 { g.enqueue(move || i * i) } else { g.enqueue_as("thread", move || i * i) };
                let value = handle.expect("enqueue from a plain thread").wait();
                results.lock().unwrap().push((i, value));
            })
        })
        .collect();
    eventually::<R>("every thread got its result", || results.lock().unwrap().len() == THREADS).await;
    for thread in threads {
        thread.join().expect("the thread ended");
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|&(i, _)| i);
    for (i, value) in results {
        assert_eq!(value.unwrap(), i * i);
    }
    eventually::<R>("one batch", || g.stats().counters.batches_run == 1).await;
    assert_eq!(g.stats().counters.items_completed, THREADS as u64);
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// With max_concurrent_batches(3), batches run at once, each on its own
/// lease; a fourth waits (pending) until one of them finishes.
async fn concurrent_batches_use_several_leases<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(4).workers_per_pool(1)).await;
    let g = running(grinder(&m).batch_size_threshold(1).max_wait(HOUR).max_concurrent_batches(3)).await;

    let gate = Gate::default();
    let mut handles = Vec::new();
    for n in 1..=3 {
        handles.push(g.enqueue(gated(&gate, n)).unwrap());
        eventually::<R>("the new batch's item runs", || gate.entered() == n).await;
        assert_eq!(g.stats().running_batches, n);
        assert!(m.leased_count() >= n);
    }
    assert_eq!(batch_owners(&m), ["work-grinder-batch-1", "work-grinder-batch-2", "work-grinder-batch-3"]);
    assert_eq!(g.stats().max_concurrent_batches, 3);

    let fourth = g.enqueue(|| 4).unwrap();
    sleep::<R>(A_WHILE).await;
    assert_eq!(g.stats().pending, 1, "every batch slot is taken");
    assert!(!fourth.is_finished());
    assert_eq!(m.leased_count(), 3);

    gate.open();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(within::<R, _>("a concurrent batch", handle).await.unwrap(), i + 1);
    }
    assert_eq!(within::<R, _>("the fourth batch", fourth).await.unwrap(), 4);
    eventually::<R>("every batch finished and released", || {
        g.stats().counters.batches_run == 4 && m.leased_count() == 0
    })
    .await;
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// build() rejects each invalid value with an error naming the field.
async fn invalid_configuration_names_the_field<R: Runtime + Default>() {
    let m = builder::<R>().max_pools(1).build().unwrap();
    let cases: Vec<(GrinderBuilder<R>, &str)> = vec![
        (grinder(&m).batch_size_threshold(0), "batch_size_threshold"),
        (grinder(&m).max_wait(Duration::ZERO), "max_wait"),
        (grinder(&m).max_wait(Duration::MAX), "max_wait"),
        (grinder(&m).lease_for(Duration::ZERO), "lease_for"),
        (grinder(&m).lease_for(Duration::MAX), "lease_for"),
        (grinder(&m).max_concurrent_batches(0), "max_concurrent_batches"),
    ];
    for (builder, field) in cases {
        let err = builder.build().expect_err("the configuration must be rejected");
        assert_eq!(err.field(), field, "{err}");
        assert!(err.to_string().contains(field), "the message names the field: {err}");
    }
    assert!(grinder(&m).build().is_ok(), "the defaults are valid");
}

/// stats() reports the configuration and the live state: started,
/// stopping, pending, oldest wait, running and finished batches, items.
async fn stats_report_the_grinder_state<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(2).workers_per_pool(2)).await;

    let s = grinder(&m).build().unwrap().stats();
    assert_eq!(
        (s.batch_size_threshold, s.max_wait, s.lease_for),
        (20, Duration::from_secs(10), Duration::from_secs(60))
    );
    assert_eq!(s.max_concurrent_batches, 1);

    let g = grinder(&m)
        .batch_size_threshold(3)
        .max_wait(HOUR)
        .lease_for(Duration::from_secs(9))
        .max_concurrent_batches(2)
        .build()
        .unwrap();
    let s = g.stats();
    assert!(!s.started && !s.stopping);
    assert_eq!((s.pending, s.oldest_wait, s.running_batches), (0, None, 0));
    assert_eq!(s.counters, leasepool::GrinderCounters::default(), "nothing counted yet");
    assert_eq!((s.batch_size_threshold, s.max_wait, s.lease_for), (3, HOUR, Duration::from_secs(9)));
    assert_eq!(s.max_concurrent_batches, 2);
    assert!(matches!(g.enqueue(|| ()), Err(Error::GrinderNotRunning)), "not started yet");
    assert!(format!("{g:?}").contains("WorkGrinder"));

    g.start().await.expect("start the grinder");
    g.start().await.expect("idempotent"); // idempotent
    assert!(g.stats().started);
    let a = g.enqueue(|| 1).unwrap();
    let b = g.enqueue(|| 2).unwrap();
    let s = g.stats();
    assert_eq!(s.pending, 2);
    let first_wait = s.oldest_wait.expect("an item is pending");
    assert!(first_wait < HOUR);
    sleep::<R>(Duration::from_millis(20)).await;
    let later_wait = g.stats().oldest_wait.expect("still pending");
    assert!(later_wait >= first_wait + Duration::from_millis(20), "{first_wait:?} then {later_wait:?}");

    let c = g.enqueue(|| 3).unwrap();
    assert_eq!(within::<R, _>("a", a).await.unwrap() + within::<R, _>("b", b).await.unwrap(), 3);
    assert_eq!(within::<R, _>("c", c).await.unwrap(), 3);
    eventually::<R>("the batch is counted", || g.stats().counters.batches_run == 1).await;
    let s = g.stats();
    assert!(s.started && !s.stopping);
    assert_eq!((s.pending, s.oldest_wait, s.running_batches, s.counters.items_completed), (0, None, 0, 3));

    g.stop(StopMode::Drain).await;
    let s = g.stats();
    assert!(!s.started && !s.stopping);
    assert_eq!((s.counters.batches_run, s.counters.items_completed), (1, 3), "the counters survive a stop");
    assert_eq!(items(&g), [3, 3, 0, 0]);
    m.stop().await;
}

/// A batch's items run as one job per worker: once the batch lease is
/// revoked at hard expiry, the items of a running chunk that have not
/// started yet fail with `LeaseExpired` instead of running on a retired pool.
async fn items_after_the_batch_lease_expired_do_not_run<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1).lease_grace(Duration::ZERO)).await;
    let g = running(grinder(&m).batch_size_threshold(2).max_wait(HOUR).lease_for(Duration::from_millis(100)))
        .await;
    let gate = Gate::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let first = g.enqueue(gated(&gate, 1)).unwrap();
    let second = g.enqueue(counted(&ran, 2)).unwrap();
    eventually::<R>("the first item is running", || gate.entered() == 1).await;
    eventually::<R>("the batch lease is revoked at hard expiry", || m.leased_count() == 0).await;
    gate.open();
    assert_eq!(within::<R, _>("the running item ends", first).await.unwrap(), 1);
    assert!(matches!(within::<R, _>("the next item resolves", second).await, Err(Error::LeaseExpired)));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "an item ran after its lease was revoked");
}

/// `start` while a draining stop is in progress waits for the drain, then
/// starts again.
async fn start_during_a_drain_waits_and_restarts<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let g = running(grinder(&m).batch_size_threshold(1).max_wait(HOUR)).await;
    let gate = Gate::default();
    let held = g.enqueue(gated(&gate, 7)).unwrap();
    eventually::<R>("the item is running", || gate.entered() == 1).await;
    let stopper = g.clone();
    let stop = std::thread::spawn(move || futures_executor::block_on(stopper.stop(StopMode::Drain)));
    eventually::<R>("the stop is draining", || g.stats().stopping).await;
    let starter = g.clone();
    let start = std::thread::spawn(move || futures_executor::block_on(starter.start()));
    sleep::<R>(A_WHILE).await;
    assert!(!start.is_finished(), "start returned while the drain was still running");
    gate.open();
    assert_eq!(within::<R, _>("the held item ends", held).await.unwrap(), 7);
    stop.join().unwrap();
    start.join().unwrap().expect("start after the drain");
    let s = g.stats();
    assert!(s.started && !s.stopping, "started again after the drain: {s:?}");
    assert_eq!(within::<R, _>("a new item runs", g.submit(|| 8)).await.unwrap(), 8);
}

/// An item is counted (in `items_completed`) before its caller gets the result:
/// read right after a result arrives, the stats include it, even while
/// the rest of its batch still runs, and after the last result of a large
/// run they include every item.
async fn stats_count_an_item_before_its_result_arrives<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(2)).await;
    let g = running(grinder(&m).batch_size_threshold(4).max_wait(HOUR)).await;

    // One batch, two chunks of two (one per worker): the second chunk's
    // first item holds its worker until the gate opens.
    let gate = Gate::default();
    let first: Vec<_> = (0..2).map(|i| g.enqueue(move || i).unwrap()).collect();
    let held = g.enqueue(gated(&gate, 2)).unwrap();
    let last = g.enqueue(|| 3).unwrap();
    for (i, handle) in first.into_iter().enumerate() {
        assert_eq!(within::<R, _>("an item of the free chunk", handle).await.unwrap(), i);
    }
    let s = g.stats();
    assert_eq!(
        (s.running_batches, s.counters.items_completed),
        (1, 2),
        "both delivered results are counted: {s:?}"
    );
    gate.open();
    assert_eq!(within::<R, _>("the held item", held).await.unwrap(), 2);
    assert_eq!(within::<R, _>("the last item", last).await.unwrap(), 3);
    assert_eq!(g.stats().counters.items_completed, 4, "every delivered result is counted");

    const MANY: u64 = 20_000;
    let handles: Vec<_> = (0..MANY).map(|i| g.enqueue(move || i).unwrap()).collect();
    let mut sum = 0;
    for handle in handles {
        sum += within::<R, _>("every item ends", handle).await.unwrap();
    }
    assert_eq!(sum, MANY * (MANY - 1) / 2);
    assert_eq!(g.stats().counters.items_completed, 4 + MANY, "read right after the last result");
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

conformance! {
    threshold_starts_a_batch_and_fewer_items_wait,
    a_batch_takes_every_pending_item,
    max_wait_starts_a_batch_below_the_threshold,
    batch_lease_has_owner_and_duration,
    drain_stop_runs_queued_work_then_refuses_new_work,
    cancel_stop_while_blocked_on_a_lease,
    cancel_stop_lets_the_running_item_finish,
    restart_after_cancel_stop_serves_again,
    dropped_handle_leaves_the_queue_at_once,
    panicking_item_fails_only_its_caller,
    broken_pool_fails_its_batch_and_the_next_batch_runs,
    plain_threads_enqueue_and_wait,
    concurrent_batches_use_several_leases,
    invalid_configuration_names_the_field,
    stats_report_the_grinder_state,
    items_after_the_batch_lease_expired_do_not_run,
    start_during_a_drain_waits_and_restarts,
    stats_count_an_item_before_its_result_arrives,
}
