//! The state every handle shares: the core behind one mutex, the live pools,
//! the queued acquires' wake-up slots, and the checker task.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use rustc_hash::FxHashMap as HashMap;

use leasepool_core::{
    AcquireError, Action, Core, Grant, LeaseEnd, LeaseId, PoolFate, PoolId, Released, ShutdownReason,
    WaiterId,
};

use crate::backend::{Backend, Initializer, OnBroken, ThreadPool};
use crate::error::Error;
use crate::job::{JobEnd, catch};
use crate::recorder::{Meters, Published};
use crate::runtime::Runtime;
use crate::signal::{Signal, sleep_or};
use crate::slots::SlotTable;
use crate::tally::Tally;
use crate::task::{self, TaskGuard, TaskSlot};

pub(crate) type SizeProvider = Arc<dyn Fn() -> usize + Send + Sync>;

/// A process manager's worker settings (`None` on a thread manager).
#[cfg(all(unix, feature = "process"))]
pub(crate) type ProcessSettings = Arc<crate::process::ProcessConfig>;
/// No process backend in this build.
#[cfg(not(all(unix, feature = "process")))]
pub(crate) type ProcessSettings = std::convert::Infallible;

/// Settings the core does not need.
pub(crate) struct Settings {
    /// Set for a process manager: its pools start worker processes.
    pub(crate) process: Option<ProcessSettings>,
    /// The configuration's `workers_per_pool`, kept here so that creating
    /// a pool (outside the lock) need not lock the core to read it.
    pub(crate) workers_per_pool: usize,
    pub(crate) name_prefix: Arc<str>,
    pub(crate) size_provider: Option<SizeProvider>,
    pub(crate) initializer: Option<Initializer>,
}

impl Settings {
    /// The backend of the pools: worker processes for a process manager,
    /// else threads.
    pub(crate) fn backend(&self) -> Backend {
        if self.process.is_some() { Backend::Process } else { Backend::Thread }
    }
}

/// A granted pool, as a new `Lease` takes it.
pub(crate) struct Handover {
    pub(crate) grant: Grant,
    pub(crate) pool: Arc<ThreadPool>,
    /// From `ThreadPool::begin_lease`, taken at the grant.
    pub(crate) tenancy: u32,
}

impl Handover {
    /// Claims `pool` for `grant` (under the lock, as the core grants it).
    pub(crate) fn new(grant: Grant, pool: &Arc<ThreadPool>) -> Self {
        Handover { grant, pool: Arc::clone(pool), tenancy: pool.begin_lease() }
    }
}

/// What a queued acquire is waiting for.
pub(crate) type Outcome = Result<Handover, Error>;

pub(crate) struct WaiterSlot {
    /// The acquire's task, from its last poll. Once `outcome` is set it is
    /// a no-op: the effect that set the outcome took the waker, to wake the
    /// acquire after unlocking.
    pub(crate) waker: Waker,
    /// The acquire's timeout, for the error that reports it.
    pub(crate) timeout: Option<std::time::Duration>,
    /// Set once, by the action that ends the wait (a grant or a failure);
    /// taken by the acquire's next poll.
    pub(crate) outcome: Option<Outcome>,
}

#[derive(Default)]
struct Checker {
    /// The checker task's epoch: moved on by start and stop, so an older task exits.
    task: TaskSlot,
    /// The deadline the checker sleeps until (`None`: not sleeping on one).
    armed: Option<Instant>,
    wake: Signal,
}

pub(crate) struct State {
    pub(crate) core: Core,
    /// The live pools: its keys are exactly the pools the core counts as
    /// available or leased (a pool enters with `pool_created`, under the
    /// same lock, and leaves with the `ShutdownPool` that ends it).
    pub(crate) pools: HashMap<PoolId, Arc<ThreadPool>>,
    /// The acquires queued in the core, by waiter id: an entry lives from
    /// the `Queued` answer until its acquire takes the outcome or is
    /// dropped, so it may outlive the core's waiter (see `SlotTable`).
    pub(crate) waiters: SlotTable<WaiterId, WaiterSlot>,
    /// Pools shut down whose worker threads may still be finishing jobs:
    /// they no longer count toward `max_pools` in the core, and the stats
    /// show them apart. Pruned of finished pools at every shutdown.
    pub(crate) winding_down: Vec<Arc<ThreadPool>>,
    /// The checker task: its epoch, its deadline and its wake-up signal.
    checker: Checker,
    /// The tasks in `LeasedExecutorManager::shutdown` waiting for the last
    /// lease to end: woken by the drain that finds the closing core drained.
    pub(crate) shutdown_waiters: Vec<Waker>,
    /// The pool whose creation is being reported failed, with why: set
    /// only for the drain that follows `pool_create_failed`, so that the
    /// waiter it fails gets the real error.
    failed_creation: Option<(PoolId, Arc<std::io::Error>)>,
    /// What the meters last published, when the next publication is due,
    /// and the acquire waits and lease holds since (feature `metrics`;
    /// empty without it): armed by a drain, published by the checker at
    /// that deadline, or by the input itself while no checker runs.
    pub(crate) published: Published,
}

pub(crate) struct Shared<R: Runtime> {
    pub(crate) runtime: R,
    pub(crate) settings: Settings,
    /// Jobs and size provider reads, counted where they happen, outside the
    /// lock (on its own cache line: workers bump it for every job).
    pub(crate) tally: CachePadded<Tally>,
    /// The handles this manager records through, and its histograms
    /// between publications (feature `metrics`).
    pub(crate) meters: Meters,
    /// The checker was lost and its waiters are still to be failed: set by
    /// the lost task's guard, which may be dropped on a thread that holds
    /// the lock (a failed spawn in `start`); the next unlock on that thread
    /// fails them ([`Locked`]'s `Drop`).
    loss_pending: AtomicBool,
    state: Mutex<State>,
    me: Weak<Shared<R>>,
}

thread_local! {
    /// How many manager locks this thread holds (0 or 1: M is never
    /// nested). A lost checker's guard reads it to know whether it may take
    /// the lock or must leave the work to this thread's holder.
    static HOLDING: Cell<usize> = const { Cell::new(0) };
}

/// The manager lock, held: the state, and on unlock the waiters of a
/// checker lost while it was held are failed.
pub(crate) struct Locked<'a, R: Runtime> {
    guard: Option<MutexGuard<'a, State>>,
    shared: &'a Shared<R>,
}

impl<R: Runtime> Deref for Locked<'_, R> {
    type Target = State;
    fn deref(&self) -> &State {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl<R: Runtime> DerefMut for Locked<'_, R> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl<R: Runtime> Drop for Locked<'_, R> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let holding = HOLDING.with(|h| {
            h.set(h.get() - 1);
            h.get()
        });
        // One atomic load per unlock; set only by a checker lost on this
        // thread while it held the lock.
        if holding == 0 && self.shared.loss_pending.load(Ordering::Acquire) {
            self.shared.fail_lost_waiters();
        }
    }
}

/// Effects performed once the lock is released: waking an acquire that
/// was granted a pool (a wake-up can cost a system call, which would make
/// everyone waiting for the lock wait longer), shutting a pool down
/// (cancelling queued jobs, whose completion takes the lock again), and
/// creating one (spawning threads must not hold up every acquirer).
#[derive(Default)]
pub(crate) struct Effects {
    wake: Wakes,
    create: Vec<PoolId>,
    shutdown: Vec<Arc<ThreadPool>>,
}

impl Effects {
    #[inline] // usually there is nothing to do
    fn is_empty(&self) -> bool {
        self.wake.is_empty() && self.create.is_empty() && self.shutdown.is_empty()
    }
}

/// The queued acquires to wake once the lock is released. A release grants
/// at most one pool, so the first waker has a place of its own, and the
/// common case allocates nothing.
#[derive(Default)]
struct Wakes {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakes {
    /// Takes the waker of `slot`, which has its outcome: its acquire needs
    /// no further wake-up from the slot.
    fn take_from(&mut self, slot: &mut WaiterSlot) {
        self.push(std::mem::replace(&mut slot.waker, Waker::noop().clone()));
    }

    fn push(&mut self, waker: Waker) {
        match self.first {
            None => self.first = Some(waker),
            Some(_) => self.more.push(waker),
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn wake(&mut self) {
        if let Some(first) = self.first.take() {
            first.wake();
        }
        self.more.drain(..).for_each(Waker::wake);
    }

    fn extend(&mut self, other: Wakes) {
        other.first.into_iter().chain(other.more).for_each(|waker| self.push(waker));
    }
}

/// A pool creation that failed, as the call that performed it saw it.
pub(crate) type CreateFailure = (PoolId, Arc<std::io::Error>);

impl<R: Runtime> Shared<R> {
    pub(crate) fn new(runtime: R, core: Core, settings: Settings) -> Arc<Self> {
        let meters = Meters::new(&settings.name_prefix, core.config());
        Arc::new_cyclic(|me| Shared {
            runtime,
            settings,
            tally: CachePadded::default(),
            meters,
            loss_pending: AtomicBool::new(false),
            state: Mutex::new(State {
                core,
                pools: HashMap::default(),
                waiters: SlotTable::default(),
                checker: Checker::default(),
                failed_creation: None,
                winding_down: Vec::new(),
                shutdown_waiters: Vec::new(),
                published: Published::default(),
            }),
            me: me.clone(),
        })
    }

    pub(crate) fn lock(&self) -> Locked<'_, R> {
        // Nothing user-supplied runs under this lock, so a poisoned lock
        // only means a panic in our own bookkeeping; the state is still
        // consistent at every await-free step, so keep serving.
        let guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        HOLDING.with(|h| h.set(h.get() + 1));
        Locked { guard: Some(guard), shared: self }
    }

    /// The checker's guard found it dropped while current: its runtime is
    /// gone (or could not spawn it). Fails the queued acquires now, so that
    /// none hangs: under the lock if this thread may take it, else on the
    /// unlock of this thread's holder.
    fn checker_dropped(&self) {
        self.loss_pending.store(true, Ordering::Release);
        if HOLDING.with(Cell::get) == 0 {
            self.fail_lost_waiters();
        }
    }

    /// Fails every queued acquire with [`Error::RuntimeGone`] if the checker
    /// is (still) lost: a stop or a new start may have come first.
    fn fail_lost_waiters(&self) {
        if self.loss_pending.swap(false, Ordering::AcqRel) {
            self.with(|st, now| st.fail_lost_waiters(now));
        }
    }

    /// Locks, runs `f` on the state, performs every resulting action, and
    /// shuts pools down after unlocking.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut State, Instant) -> T) -> T {
        self.with_then(self.runtime.now(), f, |_, out| out)
    }

    /// Like [`Shared::with`], at an instant the caller has already read.
    pub(crate) fn with_at<T>(&self, now: Instant, f: impl FnOnce(&mut State, Instant) -> T) -> T {
        self.with_then(now, f, |_, out| out)
    }

    /// Like [`Shared::with_at`], then runs `then` on the drained state
    /// before unlocking.
    pub(crate) fn with_then<T, U>(
        &self,
        now: Instant,
        f: impl FnOnce(&mut State, Instant) -> T,
        then: impl FnOnce(&mut State, T) -> U,
    ) -> U {
        let (out, fx) = self.locked(now, f, then);
        if !fx.is_empty() {
            self.perform_effects(fx);
        }
        out
    }

    /// Like [`Shared::with_at`], and returns the pool creations that failed
    /// among those this call performed.
    pub(crate) fn with_creations<T>(
        &self,
        now: Instant,
        f: impl FnOnce(&mut State, Instant) -> T,
    ) -> (T, Vec<CreateFailure>) {
        let (out, fx) = self.locked(now, f, |_, out| out);
        (out, self.perform_effects(fx))
    }

    /// Locks, runs `f` and `then` around the drain, and hands back the
    /// effects to perform after unlocking.
    fn locked<T, U>(
        &self,
        now: Instant,
        f: impl FnOnce(&mut State, Instant) -> T,
        then: impl FnOnce(&mut State, T) -> U,
    ) -> (U, Effects) {
        let mut fx = Effects::default();
        let mut st = self.lock();
        let out = f(&mut st, now);
        let publish = self.drain(&mut st, now, &mut fx);
        let out = then(&mut st, out);
        // No checker to publish the meters: this input does, after unlocking.
        let publication = publish.then(|| {
            let st = &mut *st;
            self.meters.take(&mut st.published, &st.core, &self.tally)
        });
        drop(st);
        if let Some(publication) = publication {
            self.meters.publish(publication);
        }
        (out, fx)
    }

    /// Performs effects outside the lock: shuts pools down, then creates
    /// pools and reports each outcome to the core (which may ask for more
    /// effects, performed in turn). Creation runs on the calling thread:
    /// a thread pool starts in microseconds. Returns the failed creations.
    #[inline(never)]
    fn perform_effects(&self, mut fx: Effects) -> Vec<CreateFailure> {
        let mut failures = Vec::new();
        loop {
            fx.wake.wake();
            for pool in fx.shutdown.drain(..) {
                pool.shutdown();
            }
            let Some(id) = fx.create.pop() else { return failures };
            let created = self.spawn_pool(id);
            let (broken, more) = self.locked(
                self.runtime.now(),
                |st, now| match created {
                    Ok(pool) => {
                        tracing::debug!(pool = %id, workers = self.settings.workers_per_pool, "pool created");
                        let broken = pool.broken().is_some();
                        st.pools.insert(id, pool);
                        st.core.pool_created(now, id);
                        broken
                    }
                    Err(e) => {
                        tracing::warn!(pool = %id, error = %e, "could not start pool worker threads");
                        let e = Arc::new(e);
                        failures.push((id, Arc::clone(&e)));
                        st.failed_creation = Some((id, e));
                        st.core.pool_create_failed(now, id);
                        false
                    }
                },
                |st, broken| {
                    st.failed_creation = None;
                    broken
                },
            );
            // Its initializer failed before the pool was confirmed (its
            // report found no pool to retire): retire it now, after the
            // waiter it went to has its lease (whose jobs fail with the cause).
            if broken {
                self.retire(id);
            }
            fx.wake.extend(more.wake);
            fx.create.extend(more.create);
            fx.shutdown.extend(more.shutdown);
        }
    }

    /// Starts the threads of pool `id` (no lock held).
    fn spawn_pool(&self, id: PoolId) -> std::io::Result<Arc<ThreadPool>> {
        let s = &self.settings;
        let workers = s.workers_per_pool;
        let me = self.me.clone();
        let on_broken: OnBroken = Arc::new(move |pool| {
            if let Some(shared) = me.upgrade() {
                shared.retire(pool);
            }
        });
        #[cfg(all(unix, feature = "process"))]
        if let Some(config) = &s.process {
            return crate::process::spawn_pool(
                id,
                &s.name_prefix,
                workers,
                s.initializer.clone(),
                config,
                on_broken,
            );
        }
        ThreadPool::spawn(id, &s.name_prefix, workers, s.initializer.clone(), on_broken)
    }

    /// The unit count from the size provider, or `None` if it panicked
    /// (logged and counted): the caller keeps the last good value, as an
    /// autoscaler does when its metric is unavailable, so that a flaky
    /// signal does not shrink a busy service. Without a provider, 0.
    pub(crate) fn sample_units(&self) -> Option<u64> {
        let Some(provider) = &self.settings.size_provider else { return Some(0) };
        let units = catch(|| provider());
        let failures = self.tally.provider_read(units.is_err());
        match units {
            Ok(units) => Some(units as u64),
            Err(e) => {
                tracing::info!(error = %e, failures, "size provider failed; keeping the last unit count");
                None
            }
        }
    }

    /// The drain rule of `leasepool-core`: perform every action, in order.
    /// Returns whether the meters are to be published now (feature
    /// `metrics`, with no checker to do it).
    #[inline] // usually no action is queued: only the checker comparison runs
    pub(crate) fn drain(&self, st: &mut State, now: Instant, fx: &mut Effects) -> bool {
        while let Some(action) = st.core.poll_action() {
            self.perform(st, action, now, fx);
        }
        // The last lease of a closing manager ended: its shutdown returns.
        if st.core.is_drained() {
            st.shutdown_waiters.drain(..).for_each(Waker::wake);
        }
        // A grant, a new waiter deadline or a check the core made due can
        // move the next deadline earlier than the one the checker sleeps until.
        if let Some(armed) = st.checker.armed {
            if st.core.poll_timeout().is_some_and(|at| at < armed) {
                st.wake_checker();
            }
        }
        self.note_change(st, now)
    }

    /// After a drain (feature `metrics`): a publication falls due; the
    /// checker publishes it at that deadline, or, with no checker
    /// (stopped, or lost with its runtime), this input does (returns true).
    #[inline]
    fn note_change(&self, st: &mut State, now: Instant) -> bool {
        // Read only with a publication pending (never without the feature).
        let has_checker = |st: &State| st.core.is_running() && !st.checker_lost();
        if st.published.due().is_some_and(|due| now < due) && has_checker(st) {
            return false; // the checker publishes it, as already arranged
        }
        let armed = st.published.arm(now);
        if st.published.due().is_none() {
            return false; // nothing to publish (always, without the feature)
        }
        if !has_checker(st) {
            return true;
        }
        if armed {
            // Woken, the checker sets a timer for it, next to its own.
            st.wake_checker();
        }
        false
    }

    /// Performs one action of the core (out of line, to keep `drain` small).
    #[inline(never)]
    fn perform(&self, st: &mut State, action: Action, now: Instant, fx: &mut Effects) {
        match action {
            Action::CreatePool(id) => fx.create.push(id),
            Action::ShutdownPool { pool, reason } => {
                log_shutdown(pool, reason);
                if let Some(pool) = st.pools.remove(&pool) {
                    pool.shut_for(reason);
                    // Kept in sight while its running jobs end (for stats).
                    // A pool shut down earlier in this drain is not shut yet.
                    st.winding_down.retain(|p| !p.is_shut() || p.is_winding_down());
                    st.winding_down.push(Arc::clone(&pool));
                    fx.shutdown.push(pool);
                }
            }
            Action::Grant { waiter, grant } => {
                let slot = st.waiters.get_mut(waiter).filter(|s| s.outcome.is_none());
                match (slot, st.pools.get(&grant.pool)) {
                    (Some(slot), Some(pool)) => {
                        slot.outcome = Some(Ok(Handover::new(grant, pool)));
                        fx.wake.take_from(slot);
                        tracing::debug!(lease = %grant.lease, owner = st.core.lease_owner(grant.lease).as_deref(), pool = %grant.pool, "lease granted to waiter");
                    }
                    // The waiter is gone: hand the lease back, so the
                    // pool goes to the next one.
                    _ => {
                        let _ = st.core.release(now, grant.lease);
                    }
                }
            }
            Action::FailWaiter { waiter, error } => {
                let timeout = st.waiters.get_mut(waiter).and_then(|s| s.timeout);
                let error = st.refusal(error, timeout);
                if let Some(slot) = st.waiters.get_mut(waiter) {
                    slot.outcome = Some(Err(error));
                    fx.wake.take_from(slot);
                }
            }
            Action::LeaseEnded { lease, pool, owner, end } => {
                log_lease_end(lease, pool, owner.as_deref(), end)
            }
        }
    }

    /// Retires a broken pool (idempotent). The core replaces it at once,
    /// and a replacement that breaks too at the next check, so an
    /// initializer that always fails cannot make the manager recreate pools
    /// in a tight loop.
    pub(crate) fn retire(&self, pool: PoolId) {
        self.with(|st, now| {
            // A pool not yet confirmed created is retired when it is.
            if st.pools.contains_key(&pool) && st.core.pool_broken(now, pool).is_ok() {
                tracing::warn!(pool = %pool, "broken pool retired");
            }
        });
    }

    /// Releases a lease. The core hears of jobs only now, if some are in
    /// flight: it then drains the lease (ends it as expired, past hard
    /// expiry), and the last job's [`Shared::job_finished`] ends it. How
    /// it ended is logged with the core's `LeaseEnded`.
    pub(crate) fn release(&self, grant: &Grant, owner: Option<&str>, pool: &ThreadPool, tenancy: u32) {
        let lease = grant.lease;
        self.with(|st, now| {
            let jobs = pool.release_lease(tenancy).unwrap_or(0);
            let released =
                if jobs > 0 { st.core.release_busy(now, lease) } else { st.core.release(now, lease) };
            if let Ok(Released::Draining { .. }) = released {
                tracing::debug!(lease = %lease, owner, jobs, "lease released while jobs run: draining");
            }
            st.published.released(now.saturating_duration_since(grant.leased_at));
        });
    }

    /// A job of a lease ended (before its result is delivered).
    #[inline]
    pub(crate) fn job_ended(&self, end: JobEnd) {
        self.tally.job(end);
        self.meters.job(end);
    }

    /// The last job of a released lease ended: the lease ends (unless it
    /// ended meanwhile: expired, its pool broken, or the manager stopped).
    pub(crate) fn job_finished(&self, lease: LeaseId) {
        self.with(|st, now| {
            let _ = st.core.job_finished(now, lease);
        });
    }

    /// Starts the checker task for a new epoch. Whether it was spawned: a
    /// runtime that cannot spawn (none around, or shut down) either panics
    /// or drops the task at once, and the caller undoes the start.
    pub(crate) fn spawn_checker(&self, st: &mut State) -> bool {
        let me = self.me.clone();
        let task = st.checker.task.next(Box::new(move || {
            if let Some(shared) = me.upgrade() {
                shared.checker_dropped();
            }
        }));
        st.checker.armed = None;
        let spawned = task::spawn(&self.runtime, Box::pin(run_checker(self.me.clone(), task)));
        spawned.is_ok() && !st.checker.task.is_lost()
    }
}

impl<R: Runtime> Drop for Shared<R> {
    /// The last handle is gone: shut every pool down so no thread lingers.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (_, pool) in st.pools.drain() {
            pool.shutdown();
        }
        // The checker sleeps holding a weak handle: woken, it finds the
        // manager gone and ends now, not at its deadline (on a runtime of
        // threads, its thread would linger until then).
        st.wake_checker();
    }
}

impl State {
    /// The error an acquire refused by the core gets, with every cause
    /// kept: a failed creation carries its `io::Error`, a broken pool its
    /// initializer's message.
    pub(crate) fn refusal(&self, error: AcquireError, timeout: Option<std::time::Duration>) -> Error {
        match error {
            AcquireError::NotStarted => Error::NotStarted,
            AcquireError::Stopped => Error::Stopped,
            AcquireError::Unavailable => Error::Unavailable,
            AcquireError::Timeout => Error::Timeout(timeout.unwrap_or_default()),
            AcquireError::PoolCreationFailed { pool } => match &self.failed_creation {
                Some((failed, e)) if *failed == pool => Error::Spawn(Arc::clone(e)),
                // The core names the pool whose failure is being reported,
                // in the drain that follows it.
                _ => unreachable!("a creation failure is drained with its report"),
            },
            AcquireError::PoolBroken { pool } => {
                self.pools.get(&pool).and_then(|p| p.broken()).unwrap_or_else(|| {
                    Error::Broken(Arc::from("the pool broke before the lease was handed over"))
                })
            }
            AcquireError::InvalidLease(e) => Error::Config(e),
        }
    }

    /// Stops the core and the checker (false if already stopped). An
    /// acquire granted a pool it has not taken yet (not polled since the
    /// grant) is still waiting: the core forgot its lease and shuts the pool
    /// down, so it fails like the other waiters instead of resolving later
    /// to a dead lease.
    pub(crate) fn halt(&mut self, now: Instant) -> bool {
        if self.core.stop(now).is_err() {
            return false;
        }
        for slot in self.waiters.values_mut() {
            if matches!(slot.outcome, Some(Ok(_))) {
                slot.outcome = Some(Err(Error::Stopped));
            }
        }
        self.stop_checker();
        // A shutdown waiting for the drain returns now (a stop, or a
        // joined shutdown's deadline): it would never be woken otherwise.
        self.shutdown_waiters.drain(..).for_each(Waker::wake);
        true
    }

    /// Begins a graceful shutdown (`Core::close`): every waiter fails with
    /// [`Error::Stopped`] now, idle pools shut down, leases live on. An
    /// acquire granted a pool it has not taken yet fails too, and its lease
    /// is handed back (its pool shuts down), as `halt` does. Returns how
    /// many waiters it failed; `None` if the manager is not running.
    pub(crate) fn close(&mut self, now: Instant) -> Option<usize> {
        let queued = self.core.waiting_count();
        let closing = self.core.is_closing();
        self.core.close(now).ok()?;
        if closing {
            return Some(0);
        }
        let mut untaken = 0;
        for slot in self.waiters.values_mut() {
            if let Some(Ok(handover)) = slot.outcome.take_if(|o| o.is_ok()) {
                let _ = self.core.release(now, handover.grant.lease);
                slot.outcome = Some(Err(Error::Stopped));
                slot.waker.wake_by_ref();
                untaken += 1;
            }
        }
        Some(queued + untaken)
    }

    /// The checker task's epoch, which identifies the current run: changed
    /// by every stop (and start).
    pub(crate) fn run_epoch(&self) -> u64 {
        self.checker.task.epoch()
    }

    /// Whether the running manager's checker task is gone (with its
    /// runtime). Every way the task ends by itself leaves it superseded or
    /// its manager gone, so a drop of the current one means it was lost.
    pub(crate) fn checker_lost(&self) -> bool {
        self.checker.task.is_lost()
    }

    /// The checker is lost while the core runs: every queued acquire fails
    /// with [`Error::RuntimeGone`] (nothing would time it out), and leaves
    /// the core's queue. An acquire already granted keeps its lease.
    fn fail_lost_waiters(&mut self, now: Instant) {
        if !self.core.is_running() || !self.checker_lost() {
            return;
        }
        let mut failed = Vec::new();
        for (waiter, slot) in self.waiters.iter_mut() {
            if slot.outcome.is_none() {
                slot.outcome = Some(Err(Error::RuntimeGone));
                slot.waker.wake_by_ref();
                failed.push(waiter);
            }
        }
        if !failed.is_empty() {
            tracing::warn!(waiters = failed.len(), "checker lost with its runtime; waiting acquires failed");
        }
        for waiter in failed {
            let _ = self.core.cancel_waiter(now, waiter);
        }
    }

    /// Makes the current checker task exit.
    fn stop_checker(&mut self) {
        self.checker.task.supersede();
        self.wake_checker();
    }

    /// The size signal may have changed: a check is due now (the core
    /// runs it again with a fresh value if the provider was being read).
    pub(crate) fn notify_scale_changed(&mut self, now: Instant) {
        self.core.notify_scale_changed(now);
        self.wake_checker();
    }

    fn wake_checker(&mut self) {
        self.checker.wake.notify();
    }
}

fn log_shutdown(pool: PoolId, reason: ShutdownReason) {
    match reason {
        ShutdownReason::Broken => tracing::info!(pool = %pool, "broken pool shut down"),
        reason => tracing::debug!(pool = %pool, %reason, "pool shut down"),
    }
}

/// Every way a lease ends is logged here, from the core's `LeaseEnded`.
fn log_lease_end(lease: LeaseId, pool: PoolId, owner: Option<&str>, end: LeaseEnd) {
    match end {
        LeaseEnd::Released(PoolFate::Kept) => {
            tracing::debug!(lease = %lease, owner, "lease finalised; pool kept")
        }
        LeaseEnd::Released(PoolFate::HandedOff) => {
            tracing::debug!(lease = %lease, owner, "lease finalised; pool handed to next waiter")
        }
        LeaseEnd::Released(PoolFate::ShutDown) => {
            tracing::debug!(lease = %lease, owner, "lease finalised; pool shut down")
        }
        LeaseEnd::Expired => {
            tracing::warn!(lease = %lease, owner, pool = %pool, "lease revoked at hard expiry; pool shut down");
        }
        LeaseEnd::PoolBroken => {
            tracing::debug!(lease = %lease, owner, pool = %pool, "lease ended: its pool broke")
        }
        LeaseEnd::Stopped => {
            tracing::debug!(lease = %lease, owner, pool = %pool, "lease ended: manager stopped")
        }
    }
}

/// The checker: runs whatever is due, then sleeps until the core's next
/// deadline or until woken. A due check reads the size provider (user
/// code) with no lock held, then hands the value to the core. Holds only
/// a weak reference while asleep, so dropping every manager handle ends it.
/// Owns its epoch's guard, which marks it lost if its runtime drops it
/// instead.
async fn run_checker<R: Runtime>(me: Weak<Shared<R>>, task: TaskGuard) {
    let epoch = task.epoch();
    loop {
        let Some(shared) = me.upgrade() else { return };
        let current = |st: &State| st.checker.task.is_current(epoch);
        let due = shared.with(|st, now| {
            if !current(st) {
                return None;
            }
            st.core.handle_timeout(now);
            Some(st.core.check_due(now))
        });
        let Some(due) = due else { return };
        if let Some(due) = due {
            let units = shared.sample_units();
            shared.with(|st, now| {
                if current(st) {
                    let units = units.unwrap_or_else(|| st.core.units());
                    st.core.handle_units(now, due, units);
                }
            });
        }
        // No deadline while current means a closing core with nothing
        // scheduled: sleep on the signal until the stop that follows (an
        // exit here would be taken for a checker lost with its runtime).
        // After the drain (in `then`), so that it does not arm the next
        // publication: a publication due is taken, and the next one's time
        // read (feature `metrics`).
        let now = shared.runtime.now();
        let next = shared.with_then(
            now,
            |st, _| current(st),
            |st, current| {
                if !current {
                    return None;
                }
                let publication = st.published.due().is_some_and(|due| due <= now).then(|| {
                    let st = &mut *st;
                    shared.meters.take(&mut st.published, &st.core, &shared.tally)
                });
                st.checker.armed = st.core.poll_timeout();
                Some((st.checker.armed, st.published.due(), publication))
            },
        );
        let Some((deadline, due, publication)) = next else { return };
        if let Some(publication) = publication {
            shared.meters.publish(publication);
        }
        let runtime = shared.runtime.clone();
        drop(shared);
        // The next publication has a timer of its own: the checker's
        // deadline stays the core's.
        let mut publish_at = due.map(|due| runtime.sleep_until(due));
        sleep_or(&runtime, deadline, |cx| match me.upgrade() {
            _ if publish_at.as_mut().is_some_and(|t| t.as_mut().poll(cx).is_ready()) => Poll::Ready(()),
            Some(shared) => {
                let mut st = shared.lock();
                // Superseded by stop/start: exit without touching the signal,
                // which belongs to the current checker (polling it would
                // consume its wake-ups and replace its registered waker).
                if !st.checker.task.is_current(epoch) {
                    return Poll::Ready(());
                }
                st.checker.wake.poll(cx)
            }
            None => Poll::Ready(()),
        })
        .await;
    }
}
