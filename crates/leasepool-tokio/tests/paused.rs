//! What the crate docs promise about tokio: leases and timeouts follow
//! tokio's clock (so `tokio::time::pause` governs them), and a manager built
//! inside a runtime can be started and used from a plain OS thread.
//!
//! Each test runs under a watchdog: a clock that does not follow the pause
//! shows up as a 30 s (or 60 s) real wait, failing the test instead of
//! blocking the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leasepool_tokio::{Builder, Error, LeasedExecutorManager, WorkGrinder};

/// Real time a test may take; everything here takes milliseconds.
const LIMIT: Duration = Duration::from_secs(15);

/// Runs `body` under the shared watchdog with [`LIMIT`].
fn watchdog(body: impl FnOnce() + Send + 'static) {
    leasepool_driver::testing::watchdog("paused-clock test", LIMIT, body);
}

/// A current-thread runtime whose clock starts paused.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused runtime")
}

/// A current-thread runtime with every driver enabled.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// A builder for a manager of one pool of one worker.
fn one_pool_builder() -> Builder {
    LeasedExecutorManager::builder().max_pools(1).workers_per_pool(1)
}

/// [`one_pool_builder`] with leases of 60 s and no grace after them.
fn sixty_second_leases() -> Builder {
    one_pool_builder().default_lease_for(Duration::from_secs(60)).lease_grace(Duration::ZERO)
}

/// On a paused current-thread runtime: an acquire timeout of 30 s ends when
/// the paused clock auto-advances to it (not after 30 real seconds), with
/// the held lease untouched; advancing the clock past the lease's hard
/// expiry (60 s, no grace) lets the checker revoke it, and the lease then
/// refuses jobs.
#[test]
fn leases_and_timeouts_follow_the_paused_clock() {
    watchdog(|| {
        paused_runtime().block_on(async {
            let m = sixty_second_leases().build().expect("valid configuration");
            m.start().await.expect("start");
            let held = m.acquire().owner("held").await.expect("the only pool is free");
            assert_eq!(held.hard_expires_at() - held.leased_at(), Duration::from_secs(60));

            let before = tokio::time::Instant::now();
            let waited = m.acquire().owner("impatient").timeout(Duration::from_secs(30)).await;
            assert!(
                matches!(waited, Err(Error::Timeout(limit)) if limit == Duration::from_secs(30)),
                "the only pool is held: the acquire times out, got {waited:?}"
            );
            let paused = before.elapsed();
            assert!(
                (Duration::from_secs(30)..Duration::from_secs(31)).contains(&paused),
                "the timeout ends at 30 s on the paused clock, not {paused:?}"
            );
            assert_eq!(m.leased_count(), 1, "30 s in, the 60 s lease is still held");
            assert_eq!(m.waiting_count(), 0);

            tokio::time::advance(Duration::from_secs(61)).await;
            let mut yields = 0;
            while m.leased_count() != 0 {
                yields += 1;
                assert!(yields <= 1_000, "the checker did not revoke the expired lease: {:?}", m.stats());
                tokio::task::yield_now().await;
            }
            assert!(m.stats().leases.is_empty());
            assert!(matches!(held.submit(|| ()), Err(Error::LeaseExpired)), "the revoked lease refuses jobs");
            m.stop().await;
        });
    });
}

/// A manager built inside a runtime (capturing its handle) is started from
/// a plain thread with no runtime context, leases a pool there with the
/// blocking acquire and runs a job; its checker runs on the captured
/// runtime (it follows a scale notification sent from the thread).
#[test]
fn manager_built_in_a_runtime_starts_from_a_plain_thread() {
    watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let units = Arc::new(AtomicUsize::new(0));
        let u = Arc::clone(&units);
        let m = rt.block_on(async move {
            LeasedExecutorManager::builder()
                .max_pools(2)
                .units_per_pool(10)
                .workers_per_pool(1)
                .check_interval(Duration::from_secs(3600))
                .size_provider(move || u.load(Ordering::SeqCst))
                .build()
                .expect("valid configuration")
        });
        let from_thread = std::thread::spawn(move || {
            assert!(tokio::runtime::Handle::try_current().is_err(), "a plain thread: no runtime context");
            futures_executor::block_on(m.start()).expect("start from a plain thread");
            assert_eq!(m.total_count(), 1);
            let lease = m.acquire().owner("thread").blocking().expect("acquire from a plain thread");
            let job = lease.submit(|| 6 * 7).expect("submit");
            assert_eq!(job.wait().expect("job"), 42);
            drop(lease);

            // The checker runs on the captured runtime: it follows a
            // notification to the provider's new value.
            units.store(20, Ordering::SeqCst);
            m.notify_scale_changed();
            let deadline = Instant::now() + Duration::from_secs(5);
            while m.total_count() != 2 {
                assert!(Instant::now() < deadline, "the checker never ran: {:?}", m.stats());
                std::thread::sleep(Duration::from_millis(2));
            }
            futures_executor::block_on(m.stop());
            assert_eq!(m.total_count(), 0);
        });
        from_thread.join().expect("the plain thread's part");
        drop(rt);
    });
}

/// On a paused clock advanced 10 minutes, a lease acquired from a plain
/// thread (blocking acquire) is stamped with the runtime's time, not real
/// time: it is fresh, and jobs submitted from the runtime run on it; a
/// release from the plain thread keeps its pool. Without `test-util` the
/// thread would read real time, 10 minutes behind: the lease would look
/// hard-expired from inside the runtime and be revoked on the first submit.
#[cfg(feature = "test-util")]
#[test]
fn threads_outside_the_runtime_read_the_paused_clock() {
    watchdog(|| {
        paused_runtime().block_on(async {
            let m = sixty_second_leases()
                .check_interval(Duration::from_secs(3600))
                .build()
                .expect("valid configuration");
            m.start().await.expect("start");
            tokio::time::advance(Duration::from_secs(600)).await;
            let m2 = m.clone();
            let lease = std::thread::spawn(move || m2.acquire().owner("thread").blocking().expect("acquire"))
                .join()
                .expect("the plain thread");
            let now = tokio::time::Instant::now().into_std();
            assert!(
                lease.leased_at() + Duration::from_secs(1) >= now,
                "stamped {:?} before the paused clock",
                now - lease.leased_at()
            );
            // Waited for blocking: an idle paused runtime would auto-advance
            // to the lease's expiry while the job runs.
            assert_eq!(lease.submit(|| 7).expect("a fresh lease").wait().expect("its job"), 7);
            let pool = lease.pool_id();
            std::thread::spawn(move || lease.release()).join().expect("release from a plain thread");
            let again = m.try_acquire().await.expect("the pool was kept");
            assert_eq!(again.pool_id(), pool);
            drop(again);
            m.stop().await;
        });
    });
}

/// A manager of one pool of one worker, capturing the runtime current
/// where it is built, if any.
fn one_pool() -> LeasedExecutorManager {
    one_pool_builder().build().expect("config")
}

/// A grinder on `m` that sends each item off in a batch of its own.
fn one_item_grinder(m: &LeasedExecutorManager) -> WorkGrinder {
    WorkGrinder::builder(m).batch_size_threshold(1).build().expect("config")
}

/// A grinder on `m` that holds items until 100 are queued or an hour has
/// passed.
fn lazy_grinder(m: &LeasedExecutorManager) -> WorkGrinder {
    WorkGrinder::builder(m)
        .batch_size_threshold(100)
        .max_wait(Duration::from_secs(3600))
        .build()
        .expect("config")
}

/// An acquire with a 50 ms timeout while the only pool is held: it times
/// out only if the manager's checker runs.
async fn checker_runs(m: &LeasedExecutorManager) {
    let held = m.acquire().await.expect("the only pool");
    let waited = m.acquire().timeout(Duration::from_millis(50));
    let res = tokio::time::timeout(Duration::from_secs(5), waited).await;
    assert!(matches!(res, Ok(Err(Error::Timeout(_)))), "the checker does not run: {res:?}");
    drop(held);
    m.stop().await;
}

/// `start` outside any runtime, on a manager built outside one, returns
/// `RuntimeGone` (no panic) and leaves the manager stopped, not running
/// without a checker: a later start inside a runtime starts everything.
#[test]
fn a_start_that_cannot_spawn_its_checker_leaves_the_manager_stopped() {
    watchdog(|| {
        let m = one_pool();
        let started = futures_executor::block_on(m.start());
        assert!(
            matches!(started, Err(Error::RuntimeGone)),
            "no runtime to spawn the checker on: {started:?}"
        );
        assert!(!m.is_running());
        assert!(matches!(m.acquire().blocking(), Err(Error::Stopped)), "the start was undone");
        assert_eq!(m.total_count(), 0, "the pools it created are shut down");
        leasepool_tokio::block_on(async {
            m.start().await.expect("start inside a runtime");
            checker_runs(&m).await;
        });
    });
}

/// A manager built in a runtime that is gone by the time it starts spawns
/// its checker on the runtime current at `start`, not on the dead one.
#[test]
fn a_manager_built_in_a_dropped_runtime_starts_on_the_current_one() {
    watchdog(|| {
        let m = leasepool_tokio::block_on(async { one_pool() });
        leasepool_tokio::block_on(async {
            m.start().await.expect("start in a new runtime");
            checker_runs(&m).await;
        });
    });
}

/// A manager built in a paused runtime that is gone by the time it starts
/// reads the clock of the runtime it runs on, not the frozen one: its
/// checker still times acquires out.
#[test]
fn a_manager_built_in_a_dropped_paused_runtime_follows_the_current_clock() {
    watchdog(|| {
        let paused = paused_runtime();
        let m = paused.block_on(async { one_pool() });
        drop(paused);
        leasepool_tokio::block_on(async {
            m.start().await.expect("start in a new runtime");
            checker_runs(&m).await;
        });
    });
}

/// A grinder whose start cannot spawn its loop (tokio outside a runtime)
/// stays stopped: it refuses work instead of queueing it for no loop, and a
/// start inside a runtime then runs it.
#[test]
fn a_grinder_start_that_cannot_spawn_its_loop_leaves_it_stopped() {
    watchdog(|| {
        let rt = tokio::runtime::Runtime::new().expect("a runtime");
        let m = one_pool();
        rt.block_on(m.start()).expect("start in the runtime");
        let g = one_item_grinder(&m);
        let started = futures_executor::block_on(g.start());
        assert!(matches!(started, Err(Error::RuntimeGone)), "no runtime to spawn the loop on: {started:?}");
        assert!(!g.stats().started && !g.is_running());
        assert!(matches!(g.enqueue(|| 0), Err(Error::GrinderNotRunning)));
        rt.block_on(async {
            g.start().await.expect("start the grinder");
            let item = g.enqueue(|| 1).expect("accepted");
            let ran = tokio::time::timeout(Duration::from_secs(5), item).await;
            assert!(matches!(ran, Ok(Ok(1))), "{ran:?}");
            g.stop(leasepool_tokio::StopMode::Drain).await;
            m.stop().await;
        });
    });
}

/// A manager started on a runtime that is then dropped loses its checker
/// with it; the next `start`, on another runtime, spawns a new one instead
/// of finding the manager already running.
#[test]
fn a_start_after_the_runtime_was_dropped_restarts_the_checker() {
    watchdog(|| {
        let m = one_pool();
        leasepool_tokio::block_on(async { m.start().await.expect("start on the first runtime") });
        // That runtime is gone, and its checker task with it.
        assert!(!m.is_running());
        assert!(!m.stats().running);
        leasepool_tokio::block_on(async {
            m.start().await.expect("start on the second runtime");
            checker_runs(&m).await;
        });
    });
}

/// The same for a grinder: its loop, and a batch that was waiting for a
/// lease, go down with the runtime (the batch's item fails as cancelled and
/// its slot among the concurrent batches is freed); the next `start` runs
/// a new loop. And a grinder whose loop is gone refuses work with
/// `RuntimeGone`, and a draining `stop` of it returns instead of waiting
/// forever.
#[test]
fn a_grinder_outliving_its_runtime_restarts_and_drains() {
    watchdog(|| {
        let m = one_pool();
        let g = WorkGrinder::builder(&m)
            .batch_size_threshold(1)
            .max_concurrent_batches(1)
            .build()
            .expect("config");
        let lazy = lazy_grinder(&m);
        let (held, stranded) = leasepool_tokio::block_on(async {
            m.start().await.expect("start");
            g.start().await.expect("start the grinder");
            let held = m.acquire().await.expect("the only pool");
            let stranded = g.enqueue(|| 1).expect("accepted");
            // Its batch waits for the held pool when the runtime goes.
            let t0 = Instant::now();
            while m.waiting_count() == 0 {
                assert!(t0.elapsed() < Duration::from_secs(5), "the batch never asked for a lease");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (held, stranded)
        });
        assert!(matches!(stranded.wait(), Err(Error::Cancelled)));
        drop(held);
        leasepool_tokio::block_on(async {
            m.start().await.expect("restart the checker");
            g.start().await.expect("start the grinder");
            let item = tokio::time::timeout(Duration::from_secs(5), g.enqueue(|| 2).expect("accepted")).await;
            assert!(matches!(item, Ok(Ok(2))), "the new loop and the freed batch slot run it: {item:?}");
            lazy.start().await.expect("start the grinder");
        });
        // Its loop is gone: work is refused at once rather than queued for
        // no loop, and a draining stop on a live runtime returns.
        assert!(matches!(lazy.enqueue(|| 3), Err(Error::RuntimeGone)));
        leasepool_tokio::block_on(async {
            m.start().await.expect("restart the checker");
            tokio::time::timeout(Duration::from_secs(5), lazy.stop(leasepool_tokio::StopMode::Drain))
                .await
                .expect("the drain runs on this runtime");
            assert!(!lazy.stats().started);
            g.stop(leasepool_tokio::StopMode::CancelPending).await;
            m.stop().await;
        });
    });
}

/// A superseded checker that ends after the current one was lost (here: on
/// a runtime driven again later) does not hide that loss from `start`.
#[test]
fn a_late_superseded_checker_does_not_hide_a_lost_one() {
    watchdog(|| {
        let m = one_pool();
        let a = current_thread();
        a.block_on(async { m.start().await.expect("start on a") });
        leasepool_tokio::block_on(async {
            m.stop().await;
            m.start().await.expect("start on b");
        });
        // b is gone with the current checker; a's superseded one now ends.
        a.block_on(async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        });
        leasepool_tokio::block_on(async {
            m.start().await.expect("start on c");
            checker_runs(&m).await;
        });
    });
}

/// A drain whose loop went down with its runtime does not hold a later
/// `start` forever: a new loop finishes the drain, then the grinder starts.
#[test]
fn a_start_after_a_drain_lost_with_its_runtime_finishes_it() {
    watchdog(|| {
        let m = one_pool();
        let g = one_item_grinder(&m);
        let held = leasepool_tokio::block_on(async {
            m.start().await.expect("start");
            g.start().await.expect("start the grinder");
            let held = m.acquire().await.expect("the only pool");
            let item = g.enqueue(|| 1).expect("accepted");
            // The drain cannot finish while the pool is held.
            let drain =
                tokio::time::timeout(Duration::from_millis(100), g.stop(leasepool_tokio::StopMode::Drain));
            assert!(drain.await.is_err(), "the drain waits for the held pool");
            drop(item);
            held
        });
        drop(held);
        leasepool_tokio::block_on(async {
            m.start().await.expect("restart the checker");
            let started = tokio::time::timeout(Duration::from_secs(5), g.start()).await;
            started.expect("start finishes the drain").expect("start the grinder");
            assert!(g.stats().started);
            let item = tokio::time::timeout(Duration::from_secs(5), g.enqueue(|| 2).expect("accepted")).await;
            assert!(matches!(item, Ok(Ok(2))), "{item:?}");
            g.stop(leasepool_tokio::StopMode::Drain).await;
            m.stop().await;
        });
    });
}

/// The default idle timeout (60 s) on a paused clock: after two concurrent
/// leases, the surplus pool stays idle 59 s in and is shut down once the
/// clock passes 60 s, leaving the desired count (1).
#[test]
fn a_surplus_pool_times_out_after_the_default_idle_timeout() {
    watchdog(|| {
        paused_runtime().block_on(async {
            let m = LeasedExecutorManager::builder().max_pools(2).workers_per_pool(1).build().expect("valid");
            assert_eq!(m.config().idle_timeout(), Duration::from_secs(60));
            m.start().await.expect("start");
            let a = m.acquire().await.expect("first lease");
            let b = m.acquire().await.expect("second lease");
            a.release();
            b.release();
            assert_eq!((m.total_count(), m.available_count()), (2, 2));

            tokio::time::advance(Duration::from_secs(59)).await;
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
            assert_eq!(m.total_count(), 2, "59 s idle: the surplus pool is kept");

            tokio::time::advance(Duration::from_secs(2)).await;
            let mut yields = 0;
            while m.total_count() != 1 {
                yields += 1;
                assert!(yields <= 1_000, "the idle pool was not shut down: {:?}", m.stats());
                tokio::task::yield_now().await;
            }
            assert_eq!((m.available_count(), m.desired_executor_count()), (1, 1));
            m.stop().await;
        });
    });
}

/// How long a test waits for something that should happen at once: only
/// a hang reaches it.
const AT_ONCE: Duration = Duration::from_secs(5);

/// Runs `f` on a plain thread and returns its result, failing the test if
/// it has not returned within [`AT_ONCE`] (a hung blocking acquire).
fn on_thread<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || drop(tx.send(f())));
    rx.recv_timeout(AT_ONCE).unwrap_or_else(|_| panic!("{what}: still blocked after {AT_ONCE:?}"))
}

/// A manager started on a current-thread runtime that is then dropped:
/// `is_running` turns false, an acquire already waiting (async on another
/// runtime, and blocking on a plain thread) fails with `RuntimeGone` at
/// once, and so does every new one (not `NotStarted`, never a hang); the
/// held lease still works. A start on a live runtime recovers everything.
#[test]
fn acquires_fail_with_runtime_gone_once_the_runtime_is_dropped() {
    watchdog(|| {
        let m = one_pool();
        let rt = current_thread();
        let held = rt.block_on(async {
            m.start().await.expect("start");
            m.acquire().await.expect("the only pool")
        });
        // A blocking waiter on a plain thread, and an async one polled by
        // another runtime, both queued behind the held pool.
        let blocked = {
            let m = m.clone();
            std::thread::spawn(move || m.acquire().blocking().map(drop))
        };
        let other = tokio::runtime::Runtime::new().expect("another runtime");
        let waiting = {
            let m = m.clone();
            other.spawn(async move { m.acquire().await.map(drop) })
        };
        let t0 = Instant::now();
        while m.waiting_count() < 2 {
            assert!(t0.elapsed() < AT_ONCE, "the acquires never queued");
            std::thread::yield_now();
        }
        assert!(m.is_running());
        drop(rt);
        assert!(!m.is_running(), "the checker went with its runtime");
        let blocked = on_thread("the blocking waiter", move || blocked.join().expect("no panic"));
        assert!(matches!(blocked, Err(Error::RuntimeGone)), "{blocked:?}");
        let waited = other.block_on(async { tokio::time::timeout(AT_ONCE, waiting).await });
        assert!(matches!(waited, Ok(Ok(Err(Error::RuntimeGone)))), "{waited:?}");
        assert_eq!(m.waiting_count(), 0, "no waiter left queued");
        let m2 = m.clone();
        let fresh = on_thread("a new blocking acquire", move || {
            m2.acquire().timeout(Duration::from_millis(100)).blocking().map(drop)
        });
        assert!(matches!(fresh, Err(Error::RuntimeGone)), "{fresh:?}");
        let m2 = m.clone();
        let tried = on_thread("a try_acquire", move || m2.try_acquire().blocking().map(drop));
        assert!(matches!(tried, Err(Error::RuntimeGone)), "{tried:?}");
        assert!(
            matches!(held.submit(|| 5).map(|job| job.wait()), Ok(Ok(5))),
            "the held lease still runs jobs"
        );
        drop(held);
        other.block_on(async {
            m.start().await.expect("a start on a live runtime recovers");
            assert!(m.is_running());
            checker_runs(&m).await;
        });
    });
}

/// The grinder's loop goes with its runtime too: queued work fails with
/// `RuntimeGone` at once (no hung handle), new work is refused with it,
/// `is_running` and the stats say so; a start on a live runtime recovers.
#[test]
fn grinder_work_fails_with_runtime_gone_once_the_runtime_is_dropped() {
    watchdog(|| {
        let m = one_pool();
        let g = lazy_grinder(&m);
        let rt = current_thread();
        rt.block_on(async {
            m.start().await.expect("start");
            g.start().await.expect("start the grinder");
        });
        let queued = g.enqueue(|| 1).expect("accepted: waits for 99 more or an hour");
        assert!(g.is_running());
        drop(rt);
        assert!(!g.is_running() && !g.stats().started);
        let waited = on_thread("a queued item", move || queued.wait());
        assert!(matches!(waited, Err(Error::RuntimeGone)), "{waited:?}");
        assert!(matches!(g.enqueue(|| 2), Err(Error::RuntimeGone)));
        leasepool_tokio::block_on(async {
            m.start().await.expect("restart the checker");
            g.start().await.expect("restart the loop");
            assert!(g.is_running());
            let item = g.enqueue(|| 3).expect("accepted");
            g.stop(leasepool_tokio::StopMode::Drain).await;
            assert!(matches!(item.await, Ok(3)));
            m.stop().await;
        });
    });
}
