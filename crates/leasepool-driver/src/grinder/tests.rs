//! Unit tests of the grinder: chunking, a refusing lease, drain waiters,
//! a loop that cannot be spawned.

use std::future::Future;
use std::task::{Context, Waker};

use super::batch::{run_on, submit_chunks};
use super::*;
use crate::job::JobHandle;
use crate::recorder::GrinderMeters;
use crate::testing::ThreadPerTask;

/// `n` items returning their index, with their handles.
fn items(n: usize) -> (Vec<Item>, Vec<JobHandle<usize>>) {
    (0..n).map(|i| Item::new(None, move || i)).unzip()
}

/// A submission fails part-way through a batch (the second of three
/// chunks): the first chunk's items keep their real results (they run
/// after the failure and are unaffected by it), the failing chunk and
/// the one after it get the submission error, and nothing is submitted
/// after the failure.
#[test]
fn failed_submission_fails_only_the_unsubmitted_items() {
    let (batch, handles) = items(6);
    let mut calls = 0;
    let submitted = submit_chunks(batch, 3, |chunk| {
        calls += 1;
        if calls == 2 { Err((chunk, Error::LeaseExpired)) } else { Ok(chunk) }
    });
    assert_eq!(calls, 2, "no submission after the first failure");
    assert_eq!(submitted.len(), 1);
    let finished: Vec<bool> = handles.iter().map(JobHandle::is_finished).collect();
    assert_eq!(finished, [false, false, true, true, true, true], "only the unsubmitted items failed");

    for item in submitted.into_iter().flatten() {
        item.job.run();
    }
    let results: Vec<_> = handles.into_iter().map(JobHandle::wait).collect();
    assert!(matches!(results[..2], [Ok(0), Ok(1)]), "{results:?}");
    assert!(results[2..].iter().all(|r| matches!(r, Err(Error::LeaseExpired))), "{results:?}");
}

/// A failure on the first chunk fails every item with that error (a
/// broken pool's cause, not a generic one).
#[test]
fn failure_on_the_first_chunk_fails_every_item_with_its_error() {
    let (batch, handles) = items(5);
    let submitted = submit_chunks(batch, 2, |chunk| -> Result<(), _> {
        Err((chunk, Error::Broken(Arc::from("init failed"))))
    });
    assert!(submitted.is_empty());
    for handle in handles {
        assert!(matches!(handle.wait(), Err(Error::Broken(msg)) if &*msg == "init failed"));
    }
}

/// A batch on a lease that refuses jobs (released here) fails every item
/// with the lease's error: nothing runs, nothing is lost.
#[test]
fn run_on_a_refusing_lease_fails_every_item_with_its_error() {
    let m = crate::Builder::with_runtime(ThreadPerTask).max_pools(1).workers_per_pool(2).build().unwrap();
    futures_executor::block_on(async {
        m.start().await.unwrap();
        let lease = m.acquire().await.unwrap();
        lease.release();
        let (batch, handles) = items(4);
        let tally = Arc::new(GrinderTally::new(GrinderMeters::new(&Arc::from("test"))));
        run_on(&lease, 2, batch, &Arc::default(), &tally).await;
        assert_eq!(tally.counters().items_failed, 4, "each item counted once, as failed");
        for handle in handles {
            let result = handle.await;
            assert!(matches!(result, Err(Error::LeaseReleased)), "{result:?}");
        }
        m.stop().await;
    });
}

/// A draining stop (and a start waiting for it) polled again and again
/// by one task keeps one registration, not one per poll.
#[test]
fn a_pending_drain_registers_each_task_once() {
    let m = crate::Builder::with_runtime(ThreadPerTask).max_pools(1).workers_per_pool(1).build().unwrap();
    futures_executor::block_on(async {
        m.start().await.unwrap();
        // The only pool is held, so the pending item's batch cannot run.
        let held = m.acquire().await.unwrap();
        let g = WorkGrinder::builder(&m).batch_size_threshold(1).build().unwrap();
        g.start().await.expect("start the grinder");
        let handle = g.enqueue(|| 1).unwrap();
        let mut stop = std::pin::pin!(g.stop(StopMode::Drain));
        let mut start = std::pin::pin!(g.start());
        let (waker_a, waker_b) = (futures_task_waker(), futures_task_waker());
        for _ in 0..100 {
            assert!(stop.as_mut().poll(&mut Context::from_waker(&waker_a)).is_pending());
            assert!(start.as_mut().poll(&mut Context::from_waker(&waker_b)).is_pending());
        }
        assert_eq!(lock(&g.g.state).stop_waiters.len(), 2, "one per task");
        drop(held);
        stop.await;
        start.await.expect("start after the drain");
        assert_eq!(handle.await.unwrap(), 1);
        g.stop(StopMode::Drain).await;
        m.stop().await;
    });
}

/// A waker of its own (unlike a clone of one waker, whose `will_wake`
/// would match the others').
fn futures_task_waker() -> Waker {
    struct Nothing;
    impl std::task::Wake for Nothing {
        fn wake(self: Arc<Self>) {}
    }
    Waker::from(Arc::new(Nothing))
}

/// A runtime like [`ThreadPerTask`] whose next spawn, once armed, runs
/// a hook and then panics (as tokio's does outside a runtime).
#[derive(Clone, Debug, Default)]
struct FailingSpawn;

type Hook = Box<dyn FnOnce() + Send>;
static FAIL_NEXT_SPAWN: std::sync::Mutex<Option<Hook>> = std::sync::Mutex::new(None);

impl Runtime for FailingSpawn {
    fn spawn(&self, f: crate::BoxFuture<()>) {
        if let Some(hook) = FAIL_NEXT_SPAWN.lock().unwrap().take() {
            hook();
            panic!("cannot spawn");
        }
        ThreadPerTask.spawn(f);
    }
    fn sleep_until(&self, deadline: std::time::Instant) -> crate::BoxFuture<()> {
        ThreadPerTask.sleep_until(deadline)
    }
}

/// A start whose loop cannot be spawned (the runtime panics) returns
/// `RuntimeGone` instead of unwinding, leaves the grinder stopped, and
/// fails the work accepted while it looked started instead of leaving
/// it queued with no loop to run it.
#[test]
fn a_start_that_cannot_spawn_its_loop_fails_the_work_it_accepted() {
    let m = crate::Builder::with_runtime(FailingSpawn).max_pools(1).workers_per_pool(1).build().unwrap();
    futures_executor::block_on(m.start()).unwrap();
    let g = WorkGrinder::builder(&m).batch_size_threshold(8).build().unwrap();
    let accepted = Arc::new(std::sync::Mutex::new(None));
    let (g2, a2) = (g.clone(), Arc::clone(&accepted));
    *FAIL_NEXT_SPAWN.lock().unwrap() = Some(Box::new(move || {
        *a2.lock().unwrap() = Some(g2.enqueue(|| 7).expect("accepted: the grinder looks started"));
    }));
    let started = futures_executor::block_on(g.start());
    assert!(matches!(started, Err(Error::RuntimeGone)), "{started:?}");
    assert!(!g.stats().started && !g.is_running());
    assert_eq!(g.stats().pending, 0);
    let item = accepted.lock().unwrap().take().expect("the hook ran");
    assert!(matches!(item.wait(), Err(Error::RuntimeGone)));
    assert!(matches!(g.enqueue(|| 0), Err(Error::GrinderNotRunning)), "stopped, not lost");
    futures_executor::block_on(m.stop());
}

/// Items are split in order into at most one chunk per worker, of equal
/// size except the last.
#[test]
fn items_are_split_into_one_chunk_per_worker_in_order() {
    for (n, workers, sizes) in [
        (4, 2, vec![2, 2]),
        (5, 4, vec![2, 2, 1]),
        (3, 4, vec![1, 1, 1]),
        (1, 4, vec![1]),
        (7, 1, vec![7]),
        (6, 3, vec![2, 2, 2]),
    ] {
        let (batch, handles) = items(n);
        let chunks = submit_chunks(batch, workers, Ok::<_, (Vec<Item>, Error)>);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), sizes, "{n} items, {workers} workers");
        for item in chunks.into_iter().flatten() {
            item.job.run();
        }
        let results: Vec<usize> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
        assert_eq!(results, (0..n).collect::<Vec<_>>());
    }
}
