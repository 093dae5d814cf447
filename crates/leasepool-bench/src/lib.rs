//! The pieces `leasepool-bench`, `leasepool-bench-mem` and `benches/nanos.rs`
//! share: the runtime, the leasepool manager and core as the scenarios set
//! them up, and the peers' minimal thread pool.
//!
//! * [`tokio_runtime`]: the multi-threaded tokio runtime with 2 workers.
//! * [`manager`]: a started leasepool manager whose pools all exist.
//! * [`core_with_leases`] and [`take_leases`]: a started `leasepool-core`
//!   with live leases, for S7 and S9; [`checker_pass`]: the core's periodic
//!   work that S7 times.
//! * [`LitePool`]: N dedicated std threads fed by one crossbeam channel,
//!   results through a `oneshot`. Eight of them are the *raw floor*; a few of
//!   them handed out by a `deadpool::unmanaged::Pool` ([`deadpool_executors`])
//!   are the *emulated lease*.

use std::hint::black_box;
use std::thread::JoinHandle;
use std::time::Instant;

use leasepool::Runtime;
use leasepool::core::{Acquire, Acquired, Action, Config, Core};
use leasepool::driver::LeasedExecutorManager;

/// A fresh multi-threaded tokio runtime with 2 worker threads, timers and IO
/// enabled.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

/// A started leasepool manager of `pools` pools x `workers` workers, all
/// pools created up front (`min_pools = max_pools`); worker threads are
/// named `bench-{pool}-{worker}`.
pub async fn manager<R: Runtime + Default>(pools: usize, workers: usize) -> LeasedExecutorManager<R> {
    let m = LeasedExecutorManager::<R>::builder()
        .max_pools(pools)
        .min_pools(pools)
        .workers_per_pool(workers)
        .name_prefix("bench")
        .build()
        .expect("valid manager config");
    m.start().await.expect("manager starts");
    m
}

/// A started `leasepool-core` of `max_pools` / `min_pools`, its start-up
/// actions drained, holding `live` leases taken by [`take_leases`]; returns
/// it with the instant it runs at.
pub fn core_with_leases(max_pools: usize, min_pools: usize, live: usize) -> (Core, Instant) {
    let now = Instant::now();
    let config = Config::builder().max_pools(max_pools).min_pools(min_pools).build().expect("valid config");
    let mut core = Core::new(config);
    core.start(now, 0).expect("a new core starts");
    confirm_creations(&mut core, now);
    take_leases(&mut core, now, live);
    (core, now)
}

/// One checker pass on `core` at `now`, the body S7 times (in the binary and
/// in `benches/nanos.rs`): `notify_scale_changed`, `handle_timeout`, then,
/// if a check is due (the scale change makes one), `handle_units` with 0
/// units; last, the actions all this produced, drained through [`black_box`].
#[inline]
pub fn checker_pass(core: &mut Core, now: Instant) {
    core.notify_scale_changed(now);
    core.handle_timeout(now);
    if let Some(due) = core.check_due(now) {
        core.handle_units(now, due, black_box(0));
    }
    while let Some(a) = core.poll_action() {
        black_box(a);
    }
}

/// Drains `core`'s actions, confirming every pool creation at once.
pub fn confirm_creations(core: &mut Core, now: Instant) {
    while let Some(action) = core.poll_action() {
        if let Action::CreatePool(pool) = action {
            core.pool_created(now, pool);
        }
    }
}

/// Takes `n` leases on `core` at `now` without waiting (a pool created for
/// an acquire is confirmed at once), draining the actions after each. The
/// leases stay live (a `Grant` is plain data: dropping it does not release
/// its lease).
///
/// # Panics
///
/// If an acquire is neither granted nor served by a pool created for it.
pub fn take_leases(core: &mut Core, now: Instant, n: usize) {
    for _ in 0..n {
        match core.acquire(now, Acquire::no_wait()) {
            Ok(Acquired::Granted(g)) => drop(black_box(g)),
            Ok(Acquired::Queued(_)) => {}
            other => panic!("expected a grant, got {other:?}"),
        }
        confirm_creations(core, now);
    }
}

type Task = Box<dyn FnOnce() + Send>;

/// A minimal thread pool: `threads` std threads pulling boxed jobs from one
/// crossbeam channel. Dropping it closes the channel and joins the threads.
pub struct LitePool {
    tx: Option<crossbeam_channel::Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
}

impl LitePool {
    /// Starts `threads` threads named `{name}-{i}`.
    pub fn new(threads: usize, name: &str) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Task>();
        let threads = (0..threads)
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    })
                    .expect("spawn a peer worker thread")
            })
            .collect();
        LitePool { tx: Some(tx), threads }
    }

    /// Queues `f`; its result comes back through the returned receiver.
    pub fn submit<T, F>(&self, f: F) -> oneshot::AsyncReceiver<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::async_channel();
        let job: Task = Box::new(move || {
            let _ = tx.send(f());
        });
        if let Some(sender) = &self.tx {
            let _ = sender.send(job);
        }
        rx
    }
}

impl Drop for LitePool {
    fn drop(&mut self) {
        drop(self.tx.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A deadpool of `pools` [`LitePool`]s of `threads` threads each, the
/// threads named `{name}{pool}-{thread}`: the "emulated lease".
pub fn deadpool_executors(pools: usize, threads: usize, name: &str) -> deadpool::unmanaged::Pool<LitePool> {
    deadpool::unmanaged::Pool::from(
        (0..pools).map(|i| LitePool::new(threads, &format!("{name}{i}"))).collect::<Vec<_>>(),
    )
}
