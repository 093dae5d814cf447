//! Helpers shared by the test binaries `conformance` and `faults` (each
//! includes this file with `#[path = "../common/mod.rs"] mod common;`):
//! the per-runtime test macro, the watchdog, bounded waiting, single polls
//! (with the task's waker or with a flag of their own), a gate for blocking
//! jobs, and an instrumented runtime.

// Each binary uses a different subset of these helpers.
#![allow(dead_code)]

/// Instantiates the listed generic tests (`async fn name<R: Runtime +
/// Default>()`) of the calling module for every enabled runtime: per
/// runtime feature, a module (`tokio`, `smol`, `async_std`) holding one
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
use std::future::{Future, IntoFuture};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use leasepool::Runtime;
use leasepool::driver::{AcquireBuilder, Acquiring, BoxFuture, Builder, LeasedExecutorManager};

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
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            body();
            let _ = tx.send(());
        })
        .expect("spawn the test thread");
    match rx.recv_timeout(TEST_LIMIT) {
        Ok(()) => thread.join().expect("test thread"),
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the test thread ended without reporting"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{name} did not finish within {TEST_LIMIT:?}: it hangs"),
    }
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

/// `(available, leased, total, waiting)` from one consistent snapshot.
pub(crate) fn counts<R: Runtime>(m: &Manager<R>) -> (usize, usize, usize, usize) {
    let s = m.stats();
    assert_eq!(s.total, s.available + s.leased, "total must be available + leased: {s:?}");
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
