//! A runtime that goes away, on every runtime: [`Mortal`] wraps one and,
//! once shut down, drops its tasks (as tokio does when a runtime is
//! dropped) and every new spawn (as with no runtime at all), so the
//! driver's handling of a lost checker or grinder loop runs the same on
//! all of them, including those whose own executors never shut down.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use leasepool::driver::{Builder, WorkGrinder};
use leasepool::{BoxFuture, Error, Runtime};

use crate::common::*;

#[derive(Debug, Default)]
struct Shutdown {
    gone: AtomicBool,
    /// The wakers of the tasks, woken by the shutdown so they drop.
    wakers: Mutex<Vec<Waker>>,
}

#[derive(Clone, Debug)]
struct Mortal<R> {
    inner: R,
    shutdown: Arc<Shutdown>,
}

impl<R: Runtime + Default> Mortal<R> {
    fn new() -> Self {
        Mortal { inner: R::default(), shutdown: Arc::default() }
    }
}

impl<R> Mortal<R> {
    /// Drops every task at its next poll, and every new spawn.
    fn shut_down(&self) {
        self.shutdown.gone.store(true, Ordering::SeqCst);
        std::mem::take(&mut *self.shutdown.wakers.lock().unwrap()).into_iter().for_each(Waker::wake);
    }

    /// A live runtime again, for a new start.
    fn revive(&self) {
        self.shutdown.gone.store(false, Ordering::SeqCst);
    }
}

struct Task {
    inner: Option<BoxFuture<()>>,
    shutdown: Arc<Shutdown>,
}

impl Future for Task {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shutdown.gone.load(Ordering::SeqCst) {
            self.inner = None;
            return Poll::Ready(());
        }
        self.shutdown.wakers.lock().unwrap().push(cx.waker().clone());
        match self.inner.as_mut() {
            Some(inner) => inner.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl<R: Runtime> Runtime for Mortal<R> {
    fn spawn(&self, future: BoxFuture<()>) {
        if self.shutdown.gone.load(Ordering::SeqCst) {
            return drop(future);
        }
        self.inner.spawn(Box::pin(Task { inner: Some(future), shutdown: Arc::clone(&self.shutdown) }));
    }
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        self.inner.sleep_until(deadline)
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
}

fn one_pool<R: Runtime + Default>() -> (Manager<Mortal<R>>, Mortal<R>) {
    let rt = Mortal::<R>::new();
    let m = Builder::with_runtime(rt.clone()).max_pools(1).workers_per_pool(1).build().expect("config");
    (m, rt)
}

/// Once the runtime is gone: `is_running` is false, an acquire waiting
/// (async, and blocking on a plain thread) fails with `RuntimeGone`,
/// and so does every new one; the held lease still runs jobs. A start
/// on a live runtime recovers, checker included (a timeout fires).
async fn a_lost_runtime_fails_every_acquire_until_a_new_start<R: Runtime + Default>() {
    let (m, rt) = one_pool::<R>();
    m.start().await.expect("start");
    let held = m.acquire().await.expect("the only pool");
    let waiting = spawn::<R, _>({
        let m = m.clone();
        async move { m.acquire().await.map(drop) }
    });
    let blocked = std::thread::spawn({
        let m = m.clone();
        move || m.acquire().blocking().map(drop)
    });
    eventually::<R>("both acquires queued", || m.waiting_count() == 2).await;
    assert!(m.is_running());
    rt.shut_down();
    eventually::<R>("the checker is lost", || !m.is_running()).await;
    assert!(matches!(within::<R, _>("the async waiter", waiting).await, Err(Error::RuntimeGone)));
    eventually::<R>("the blocking waiter returns", || blocked.is_finished()).await;
    assert!(matches!(blocked.join().unwrap(), Err(Error::RuntimeGone)));
    assert_eq!(m.waiting_count(), 0);
    let fresh = m.acquire().timeout(Duration::from_millis(100)).await;
    assert!(matches!(fresh, Err(Error::RuntimeGone)), "{fresh:?}");
    assert!(matches!(m.try_acquire().await, Err(Error::RuntimeGone)));
    assert!(!m.stats().running);
    assert_eq!(within::<R, _>("a job on the held lease", held.run(|| 5)).await.unwrap(), 5);
    rt.revive();
    m.start().await.expect("a start on a live runtime recovers");
    assert!(m.is_running());
    let timed_out =
        within::<R, _>("the checker times the acquire out", m.acquire().timeout(Duration::from_millis(50)))
            .await;
    assert!(matches!(timed_out, Err(Error::Timeout(_))), "{timed_out:?}");
    drop(held);
    drop(within::<R, _>("the freed pool", m.acquire()).await.expect("granted"));
    m.stop().await;
}

/// With no runtime to spawn on, `start` returns `RuntimeGone` (no
/// panic) and leaves the manager stopped, pools torn down; the
/// grinder's `start` too, and it then refuses work.
async fn a_start_with_no_runtime_returns_runtime_gone<R: Runtime + Default>() {
    let (m, rt) = one_pool::<R>();
    rt.shut_down();
    assert!(matches!(m.start().await, Err(Error::RuntimeGone)));
    assert!(!m.is_running());
    assert_eq!(m.total_count(), 0, "the pools it created are shut down");
    rt.revive();
    m.start().await.expect("start");
    let g = WorkGrinder::builder(&m).batch_size_threshold(1).build().expect("config");
    rt.shut_down();
    assert!(matches!(g.start().await, Err(Error::RuntimeGone)));
    assert!(!g.is_running() && !g.stats().started);
    assert!(matches!(g.enqueue(|| 1), Err(Error::GrinderNotRunning)));
    rt.revive();
    m.start().await.expect("the checker went too: start again");
    g.start().await.expect("start the grinder");
    assert_eq!(within::<R, _>("an item runs", g.submit(|| 2)).await.unwrap(), 2);
    g.stop(leasepool::StopMode::Drain).await;
    m.stop().await;
}

/// The grinder's loop goes with the runtime: queued work fails with
/// `RuntimeGone`, new work is refused with it, `is_running` and the
/// stats say so; a start on a live runtime recovers.
async fn a_lost_grinder_loop_fails_its_work<R: Runtime + Default>() {
    let (m, rt) = one_pool::<R>();
    m.start().await.expect("start");
    let g = WorkGrinder::builder(&m)
        .batch_size_threshold(100)
        .max_wait(Duration::from_secs(3600))
        .build()
        .expect("config");
    g.start().await.expect("start the grinder");
    let queued = g.enqueue(|| 1).expect("accepted: waits for 99 more or an hour");
    rt.shut_down();
    eventually::<R>("the loop is lost", || !g.is_running()).await;
    assert!(!g.stats().started);
    assert!(matches!(within::<R, _>("the queued item", queued).await, Err(Error::RuntimeGone)));
    assert!(matches!(g.enqueue(|| 2), Err(Error::RuntimeGone)));
    rt.revive();
    m.start().await.expect("restart the checker");
    g.start().await.expect("restart the loop");
    let item = g.enqueue(|| 3).expect("accepted");
    g.stop(leasepool::StopMode::Drain).await;
    assert_eq!(within::<R, _>("the drained item", item).await.unwrap(), 3);
    m.stop().await;
}

conformance! {
    a_lost_runtime_fails_every_acquire_until_a_new_start,
    a_start_with_no_runtime_returns_runtime_gone,
    a_lost_grinder_loop_fails_its_work,
}

/// With the `metrics` feature: a manager whose checker went with its
/// runtime publishes its metrics from its own inputs, right after each
/// unlocks (the checker that would have published them within a moment
/// is gone).
#[cfg(feature = "metrics")]
mod metered {
    use std::sync::Arc;

    use leasepool::Runtime;
    use metrics_util::registry::Registry;

    use super::*;
    use crate::metrics::Kept;

    async fn a_manager_with_a_lost_checker_publishes_from_its_inputs<R: Runtime + Default>() {
        let kept = Kept(Arc::new(Registry::atomic()));
        let rt = Mortal::<R>::new();
        let m = metrics::with_local_recorder(&kept, || {
            Builder::with_runtime(rt.clone()).max_pools(1).workers_per_pool(1).name_prefix("lost").build()
        })
        .expect("config");
        m.start().await.expect("start");
        let held = m.acquire().await.expect("the only pool");
        rt.shut_down();
        eventually::<R>("the checker is lost", || !m.is_running()).await;
        let released = || kept.counter("leasepool_leases_released_total", "lost", &[]);
        assert_eq!(released(), 0);
        drop(held);
        assert_eq!(released(), 1, "the release published itself");
        assert_eq!(kept.gauge("leasepool_pools_leased", "lost"), 0.0);
    }

    conformance! {
        a_manager_with_a_lost_checker_publishes_from_its_inputs,
    }
}
