//! Helpers shared by the test binaries `conformance`, `faults`, `process`
//! and `tracing_events` (each includes this file with `#[path = ...] mod
//! common;`): the per-runtime test macro, the watchdog and the serial
//! runner, bounded waiting, single polls (with the task's waker or with a
//! flag of their own), spawned tasks whose panics reach the test, a gate
//! for blocking jobs, a shared unit counter for size providers, checks on
//! pools (every worker alive, quiescence), an instrumented runtime, and
//! (`capture`) a global subscriber that records `tracing` events.

// Each binary uses a different subset of these helpers.
#![allow(dead_code)]

pub(crate) mod capture;

/// Instantiates the listed generic tests (`async fn name<R: Runtime +
/// Default>()`) of the calling module for every enabled runtime: per
/// runtime feature, a module (`tokio`, `smol`, `async_std`, `threads`) holding one
/// `#[test] fn name()` that hands `$runner` the test's full name and a
/// closure running the body on that runtime's `block_on`. `$runner` is a
/// `fn(&'static str, impl FnOnce() + Send + 'static)` such as [`watchdog`].
macro_rules! per_runtime {
    ($runner:path => $($test:ident),* $(,)?) => {
        #[cfg(feature = "runtime-tokio")]
        mod tokio {
            $(
                #[test]
                fn $test() {
                    $runner(concat!(module_path!(), "::", stringify!($test)), || {
                        ::leasepool::tokio::block_on(super::$test::<::leasepool::tokio::TokioRuntime>())
                    });
                }
            )*
        }

        #[cfg(feature = "runtime-smol")]
        mod smol {
            $(
                #[test]
                fn $test() {
                    $runner(concat!(module_path!(), "::", stringify!($test)), || {
                        ::leasepool::smol::block_on(super::$test::<::leasepool::smol::SmolRuntime>())
                    });
                }
            )*
        }

        #[cfg(feature = "runtime-threads")]
        mod threads {
            $(
                #[test]
                fn $test() {
                    $runner(concat!(module_path!(), "::", stringify!($test)), || {
                        ::leasepool::threads::block_on(super::$test::<::leasepool::threads::ThreadsRuntime>())
                    });
                }
            )*
        }

        #[cfg(feature = "runtime-async-std")]
        mod async_std {
            $(
                #[test]
                fn $test() {
                    $runner(concat!(module_path!(), "::", stringify!($test)), || {
                        ::leasepool::async_std::block_on(
                            super::$test::<::leasepool::async_std::AsyncStdRuntime>(),
                        )
                    });
                }
            )*
        }
    };
}

use std::cell::Cell;
use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use leasepool::Runtime;
use leasepool::driver::{AcquireBuilder, Acquiring, BoxFuture, Builder, Lease, LeasedExecutorManager, Stats};

/// A test that has not finished after this long is reported as hung.
pub(crate) const TEST_LIMIT: Duration = Duration::from_secs(30);

/// How long a background effect (checker pass, revocation, grant) may take
/// before a test gives up on it. Generous: the effects take milliseconds.
pub(crate) const EVENTUALLY: Duration = Duration::from_secs(5);

/// How long a job blocked on a [`Gate`] waits before giving up by itself,
/// so that a failed test never leaves a worker thread blocked for good.
const GATE_LIMIT: Duration = Duration::from_secs(15);

pub(crate) type Manager<R> = LeasedExecutorManager<R>;

/// Runs one test body on its own thread and fails it if it takes longer
/// than [`TEST_LIMIT`] (a hang), re-raising its panic otherwise.
pub(crate) fn watchdog(name: &'static str, body: impl FnOnce() + Send + 'static) {
    watchdog_for(TEST_LIMIT, name, body);
}

/// [`watchdog`] with a limit of its own, for a test whose work grows with
/// its size (a storm of many rounds), so that a slow machine is not
/// mistaken for a hang.
pub(crate) fn watchdog_for(limit: Duration, name: &'static str, body: impl FnOnce() + Send + 'static) {
    leasepool_driver::testing::watchdog(name, limit, body);
}

/// One test at a time in the binaries that need it (see [`serial`]).
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs one test body under the [`watchdog`] while holding [`SERIAL`], so
/// that the tests of a binary run one at a time (libtest runs them on
/// parallel threads of one process). The turn is taken before the
/// watchdog starts, so waiting for it does not count against the test's
/// time limit. A test that panicked does not block the others.
pub(crate) fn serial(name: &'static str, body: impl FnOnce() + Send + 'static) {
    let _turn = serial_turn();
    watchdog(name, body);
}

/// The turn [`serial`] takes, for runners that add work around the watchdog.
pub(crate) fn serial_turn() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A builder on the runtime's default handle.
pub(crate) fn builder<R: Runtime + Default>() -> Builder<R> {
    LeasedExecutorManager::<R>::builder()
}

/// Builds and starts a manager.
pub(crate) async fn started<R: Runtime>(builder: Builder<R>) -> Manager<R> {
    let manager = builder.build().expect("valid configuration");
    manager.start().await.expect("start");
    manager
}

/// `(available, leased, total, waiting)` from one consistent snapshot,
/// taken once no pool is being created. A creation is counted at once and
/// finishes on another thread without yielding (its threads are spawned
/// and the pool confirmed in one go, outside the manager's lock), so the
/// wait is microseconds and needs no runtime; a creation that never
/// finishes fails the assertion below after [`EVENTUALLY`].
pub(crate) fn counts<R: Runtime>(m: &Manager<R>) -> (usize, usize, usize, usize) {
    let since = Instant::now();
    let mut s = m.stats();
    while s.creating > 0 && since.elapsed() < EVENTUALLY {
        std::thread::yield_now();
        s = m.stats();
    }
    assert_eq!(s.creating, 0, "a pool creation never finished: {s:?}");
    assert_eq!(
        s.total,
        s.available + s.leased + s.creating,
        "total must be available + leased + creating: {s:?}"
    );
    assert!(s.total <= s.max_pools, "never more than max_pools pools, created or being created: {s:?}");
    (s.available, s.leased, s.total, s.waiting)
}

/// Sleeps on the runtime's timer.
pub(crate) async fn sleep<R: Runtime + Default>(d: Duration) {
    let rt = R::default();
    rt.sleep_until(rt.now() + d).await;
}

/// Waits until `cond` holds, polling every few milliseconds; fails the test
/// after [`EVENTUALLY`].
pub(crate) async fn eventually<R: Runtime + Default>(what: &str, cond: impl FnMut() -> bool) {
    eventually_for::<R>(EVENTUALLY, what, cond).await;
}

/// [`eventually`] with an explicit limit.
pub(crate) async fn eventually_for<R: Runtime + Default>(
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        sleep::<R>(Duration::from_millis(2)).await;
    }
}

/// Awaits `fut`, failing the test if it is not ready within [`EVENTUALLY`].
pub(crate) async fn within<R: Runtime + Default, F: IntoFuture>(what: &str, fut: F) -> F::Output {
    within_for::<R, F>(EVENTUALLY, what, fut).await
}

/// [`within`] with an explicit limit.
pub(crate) async fn within_for<R: Runtime + Default, F: IntoFuture>(
    limit: Duration,
    what: &str,
    fut: F,
) -> F::Output {
    let rt = R::default();
    let mut timer = rt.sleep_until(rt.now() + limit);
    let mut fut = pin!(fut.into_future());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if timer.as_mut().poll(cx).is_ready() {
            panic!("not within {limit:?}: {what}");
        }
        Poll::Pending
    })
    .await
}

/// Waits until the manager is quiescent (see [`is_quiescent`]), failing
/// with `what` after [`EVENTUALLY`]; returns a snapshot taken afterwards.
pub(crate) async fn quiescent<R: Runtime + Default>(m: &Manager<R>, what: &str) -> Stats {
    eventually::<R>(what, || is_quiescent(&m.stats())).await;
    m.stats()
}

/// Quiescence: nothing leased or waiting, every pool idle, and the pool
/// count back at the desired count.
pub(crate) fn is_quiescent(s: &Stats) -> bool {
    s.leased == 0 && s.waiting == 0 && s.available == s.total && s.total == s.desired_executor_count
}

/// The result of a task spawned with [`spawn`]; awaiting it re-raises the
/// task's panic in the awaiting test.
pub(crate) struct Joined<T>(Arc<Mutex<JoinSlot<T>>>);

struct JoinSlot<T> {
    out: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
}

/// Spawns `fut` on the runtime under test.
pub(crate) fn spawn<R, T>(fut: impl Future<Output = T> + Send + 'static) -> Joined<T>
where
    R: Runtime + Default,
    T: Send + 'static,
{
    let slot = Arc::new(Mutex::new(JoinSlot { out: None, waker: None }));
    let done = Arc::clone(&slot);
    R::default().spawn(Box::pin(async move {
        let out = AssertUnwindSafe(fut).catch_unwind().await;
        let mut slot = done.lock().unwrap_or_else(PoisonError::into_inner);
        slot.out = Some(out);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }));
    Joined(slot)
}

impl<T> Future for Joined<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.out.take() {
            Some(Ok(out)) => Poll::Ready(out),
            Some(Err(panic)) => {
                drop(slot);
                std::panic::resume_unwind(panic)
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Awaits every task, in order, within `limit` overall.
pub(crate) async fn join_all<R: Runtime + Default, T>(
    limit: Duration,
    what: &str,
    tasks: Vec<Joined<T>>,
) -> Vec<T> {
    within_for::<R, _>(limit, what, async move {
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await);
        }
        out
    })
    .await
}

/// Lets other tasks run once.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// Polls `fut` exactly once (with the current task's waker).
pub(crate) async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// A waker that only records that it was woken: polled with its own flag,
/// a future shows exactly which wake-ups were meant for it (the task's
/// waker, shared by everything the task polls, cannot tell).
#[derive(Default)]
pub(crate) struct Flag(AtomicBool);

impl Flag {
    /// Whether the flag's waker has been woken.
    pub(crate) fn woken(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `fut` once with a waker that only sets `flag`.
pub(crate) fn poll_flagged<F: Future + Unpin>(fut: &mut F, flag: &Arc<Flag>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::clone(flag));
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

/// Starts `acquire`, polls it once and checks that it queued (waiting
/// count up by one). The returned future is queued, first come first served.
pub(crate) async fn queued<R: Runtime>(m: &Manager<R>, acquire: AcquireBuilder<R>) -> Acquiring<R> {
    let before = m.waiting_count();
    let mut fut = acquire.into_future();
    assert!(poll_once(&mut fut).await.is_pending(), "the acquire should have queued");
    assert_eq!(m.waiting_count(), before + 1, "the acquire should be in the waiting queue");
    fut
}

/// The pool sequence number in a worker thread name `{prefix}-{pool}-{i}`.
pub(crate) fn pool_of_thread(name: &str) -> Option<u64> {
    let mut parts = name.rsplitn(3, '-');
    let _worker = parts.next()?;
    parts.next()?.parse().ok()
}

/// Runs `workers` jobs on `lease` that only finish once all of them are
/// running at the same time, so they succeed only if every worker thread
/// of the pool is alive. Returns the thread names, one per worker.
pub(crate) async fn every_worker_answers<R: Runtime + Default>(
    lease: &Lease<R>,
    workers: usize,
) -> Vec<String> {
    let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let arrived = Arc::clone(&arrived);
            lease
                .submit(move || {
                    let (count, cv) = &*arrived;
                    let mut n = count.lock().unwrap();
                    *n += 1;
                    cv.notify_all();
                    let (n, wait) =
                        cv.wait_timeout_while(n, Duration::from_secs(5), |n| *n < workers).unwrap();
                    assert!(
                        !wait.timed_out(),
                        "only {} of {workers} workers ran at once: a worker is gone",
                        *n
                    );
                    std::thread::current().name().expect("worker threads are named").to_owned()
                })
                .expect("the lease accepts jobs")
        })
        .collect();
    let mut names = Vec::new();
    for handle in handles {
        names.push(within::<R, _>("a rendezvous job ends", handle).await.expect("every worker is alive"));
    }
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), workers, "one job per worker thread: {names:?}");
    for name in &names {
        assert_eq!(pool_of_thread(name), Some(lease.pool_id().get()), "{name} runs the lease's pool");
    }
    names
}

/// A unit count for a size provider: the shared counter the test sets,
/// and a provider (for `Builder::size_provider`) that reads it.
pub(crate) fn units() -> (Arc<AtomicUsize>, impl Fn() -> usize + Send + Sync + 'static) {
    let units = Arc::new(AtomicUsize::new(0));
    let signal = Arc::clone(&units);
    (units, move || signal.load(Ordering::SeqCst))
}

/// A gate that jobs block on until the test opens it, counting how many
/// jobs have entered. Blocking jobs give up by themselves after a while.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<GateInner>);

#[derive(Default)]
struct GateInner {
    open: Mutex<bool>,
    cv: Condvar,
    entered: AtomicUsize,
}

impl Gate {
    /// Blocks the calling (worker) thread until the gate opens.
    pub(crate) fn wait(&self) {
        self.0.entered.fetch_add(1, Ordering::SeqCst);
        let open = self.0.open.lock().unwrap();
        let (open, _) = self.0.cv.wait_timeout_while(open, GATE_LIMIT, |open| !*open).unwrap();
        assert!(*open, "the test never opened the gate");
    }

    /// A job that waits at the gate, then returns `value`.
    pub(crate) fn job<T: Send + 'static>(&self, value: T) -> impl FnOnce() -> T + Send + 'static {
        let gate = self.clone();
        move || {
            gate.wait();
            value
        }
    }

    /// Lets every blocked and future job through.
    pub(crate) fn open(&self) {
        *self.0.open.lock().unwrap() = true;
        self.0.cv.notify_all();
    }

    /// How many jobs have reached the gate.
    pub(crate) fn entered(&self) -> usize {
        self.0.entered.load(Ordering::SeqCst)
    }
}

/// What an [`Instrumented`] runtime saw, and which of its tasks are frozen.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    spawns: AtomicUsize,
    /// `(task, deadline)`: which spawned task (by spawn order, if any) asked
    /// to sleep until when.
    sleeps: Mutex<Vec<(Option<usize>, Instant)>>,
    tasks: Mutex<Tasks>,
}

#[derive(Debug, Default)]
struct Tasks {
    frozen: Vec<usize>,
    parked: Vec<(usize, Waker)>,
    finished: Vec<usize>,
}

thread_local! {
    /// The instrumented task being polled on this thread.
    static CURRENT_TASK: Cell<Option<usize>> = const { Cell::new(None) };
}

impl Probe {
    /// Tasks spawned (the checker is the only task the manager spawns: one
    /// per start).
    pub(crate) fn spawns(&self) -> usize {
        self.spawns.load(Ordering::SeqCst)
    }

    /// Whether some task asked to sleep until exactly `deadline`.
    pub(crate) fn slept_until(&self, deadline: Instant) -> bool {
        self.sleeps.lock().unwrap().iter().any(|&(_, d)| d == deadline)
    }

    /// How many sleeps task `task` (spawn order, from 0) has started.
    pub(crate) fn sleeps_of(&self, task: usize) -> usize {
        self.sleeps.lock().unwrap().iter().filter(|&&(t, _)| t == Some(task)).count()
    }

    /// Stops polling task `task` (wake-ups are held back) until [`Probe::thaw`].
    pub(crate) fn freeze(&self, task: usize) {
        self.tasks.lock().unwrap().frozen.push(task);
    }

    /// Polls task `task` again, delivering held-back wake-ups.
    pub(crate) fn thaw(&self, task: usize) {
        let mut tasks = self.tasks.lock().unwrap();
        tasks.frozen.retain(|&t| t != task);
        let (wake, keep): (Vec<_>, Vec<_>) = tasks.parked.drain(..).partition(|&(t, _)| t == task);
        tasks.parked = keep;
        drop(tasks);
        wake.into_iter().for_each(|(_, waker)| waker.wake());
    }

    /// Whether task `task` has run to completion.
    pub(crate) fn finished(&self, task: usize) -> bool {
        self.tasks.lock().unwrap().finished.contains(&task)
    }
}

/// Wraps a runtime to count and tag spawned tasks, record sleep deadlines
/// and freeze tasks on demand. With `timers: false` its sleeps never end,
/// so the checker runs only when notified: tests use that to make "nobody
/// but this call could have done it" deterministic instead of racing the
/// checker.
#[derive(Clone)]
pub(crate) struct Instrumented<R> {
    inner: R,
    timers: bool,
    probe: Arc<Probe>,
}

impl<R> fmt::Debug for Instrumented<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented").field("timers", &self.timers).finish_non_exhaustive()
    }
}

impl<R: Runtime + Default> Instrumented<R> {
    pub(crate) fn new(timers: bool) -> (Self, Arc<Probe>) {
        let probe = Arc::new(Probe::default());
        (Instrumented { inner: R::default(), timers, probe: Arc::clone(&probe) }, probe)
    }
}

/// A spawned task as the instrumented runtime sees it.
struct Tracked {
    task: usize,
    probe: Arc<Probe>,
    inner: BoxFuture<()>,
}

impl Future for Tracked {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut tasks = self.probe.tasks.lock().unwrap();
            if tasks.frozen.contains(&self.task) {
                tasks.parked.push((self.task, cx.waker().clone()));
                return Poll::Pending;
            }
        }
        let previous = CURRENT_TASK.with(|c| c.replace(Some(self.task)));
        let out = self.inner.as_mut().poll(cx);
        CURRENT_TASK.with(|c| c.set(previous));
        if out.is_ready() {
            self.probe.tasks.lock().unwrap().finished.push(self.task);
        }
        out
    }
}

impl<R: Runtime> Runtime for Instrumented<R> {
    fn spawn(&self, future: BoxFuture<()>) {
        let task = self.probe.spawns.fetch_add(1, Ordering::SeqCst);
        self.inner.spawn(Box::pin(Tracked { task, probe: Arc::clone(&self.probe), inner: future }));
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        let task = CURRENT_TASK.with(Cell::get);
        self.probe.sleeps.lock().unwrap().push((task, deadline));
        if self.timers { self.inner.sleep_until(deadline) } else { Box::pin(std::future::pending()) }
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }
}

/// A builder on an [`Instrumented`] runtime.
pub(crate) fn instrumented<R: Runtime + Default>(timers: bool) -> (Builder<Instrumented<R>>, Arc<Probe>) {
    let (rt, probe) = Instrumented::<R>::new(timers);
    (Builder::with_runtime(rt), probe)
}
