//! The state every handle shares: the core behind one mutex, the live pools,
//! the queued acquires' wake-up slots, and the checker task.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Instant;

use rustc_hash::FxHashMap as HashMap;

use leasepool_core::{
    AcquireError, Action, Core, Finalised, Grant, LeaseId, PoolId, ReleaseOutcome, ShutdownReason, WaiterId,
};

use crate::backend::{Backend, Initializer, OnBroken, ThreadPool};
use crate::job::catch;
use crate::runtime::Runtime;
use crate::signal::{Signal, sleep_or};
use crate::slots::SlotTable;
use crate::task::{self, SpawnFailed, TaskGuard, TaskSlot};

pub(crate) type SizeProvider = Arc<dyn Fn() -> usize + Send + Sync>;

/// Settings the core does not need.
pub(crate) struct Settings {
    pub(crate) backend: Backend,
    pub(crate) name_prefix: Arc<str>,
    pub(crate) size_provider: Option<SizeProvider>,
    pub(crate) initializer: Option<Initializer>,
}

/// A granted pool, as a new `Lease` takes it.
pub(crate) struct Claim {
    pub(crate) grant: Grant,
    pub(crate) pool: Arc<ThreadPool>,
    /// From `ThreadPool::begin_lease`, taken at the grant.
    pub(crate) generation: u32,
}

impl Claim {
    /// Claims `pool` for `grant` (under the lock, as the core grants it).
    pub(crate) fn new(grant: Grant, pool: &Arc<ThreadPool>) -> Self {
        Claim { grant, pool: Arc::clone(pool), generation: pool.begin_lease() }
    }
}

/// What a queued acquire is waiting for.
pub(crate) type Outcome = Result<Claim, AcquireError>;

pub(crate) struct WaiterSlot {
    pub(crate) waker: Waker,
    pub(crate) outcome: Option<Outcome>,
}

#[derive(Default)]
struct Checker {
    /// The checker task's epoch: moved on by start and stop, so an older task exits.
    task: TaskSlot,
    /// The deadline the checker sleeps until (`None`: not sleeping on one).
    armed: Option<Instant>,
    wake: Signal,
    /// Bumped by every `notify_scale_changed`, so that a pass can tell that
    /// the size provider value it read may already be stale.
    scale_notifications: u64,
}

pub(crate) struct State {
    pub(crate) core: Core,
    pub(crate) pools: HashMap<PoolId, Arc<ThreadPool>>,
    pub(crate) waiters: SlotTable<WaiterId, WaiterSlot>,
    checker: Checker,
    spawn_error: Option<Arc<std::io::Error>>,
}

pub(crate) struct Shared<R: Runtime> {
    pub(crate) runtime: R,
    pub(crate) settings: Settings,
    state: Mutex<State>,
    me: Weak<Shared<R>>,
}

/// Pools to shut down once the lock is released: shutting down cancels
/// queued jobs, whose completion takes the lock again.
#[derive(Default)]
pub(crate) struct Effects {
    shutdown: Vec<Arc<ThreadPool>>,
}

impl Effects {
    #[inline] // usually there is nothing to do
    fn perform(self) {
        if !self.shutdown.is_empty() {
            Self::shut_down(self.shutdown);
        }
    }

    fn shut_down(pools: Vec<Arc<ThreadPool>>) {
        for pool in pools {
            pool.shutdown();
        }
    }
}

impl<R: Runtime> Shared<R> {
    pub(crate) fn new(runtime: R, core: Core, settings: Settings) -> Arc<Self> {
        Arc::new_cyclic(|me| Shared {
            runtime,
            settings,
            state: Mutex::new(State {
                core,
                pools: HashMap::default(),
                waiters: SlotTable::default(),
                checker: Checker::default(),
                spawn_error: None,
            }),
            me: me.clone(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing user-supplied runs under this lock, so a poisoned lock
        // only means a panic in our own bookkeeping; the state is still
        // consistent at every await-free step, so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// before unlocking (to see what the drain created, before anyone else
    /// can change it).
    pub(crate) fn with_then<T, U>(
        &self,
        now: Instant,
        f: impl FnOnce(&mut State, Instant) -> T,
        then: impl FnOnce(&mut State, T) -> U,
    ) -> U {
        let mut fx = Effects::default();
        let out = {
            let mut st = self.lock();
            let out = f(&mut st, now);
            self.drain(&mut st, now, &mut fx);
            then(&mut st, out)
        };
        fx.perform();
        out
    }

    /// The unit count from the size provider; a panic counts as 0.
    pub(crate) fn sample_units(&self) -> u64 {
        let Some(provider) = &self.settings.size_provider else { return 0 };
        match catch(|| provider()) {
            Ok(units) => units as u64,
            Err(e) => {
                tracing::debug!(error = %e, "size provider failed; counting 0 units for this check");
                0
            }
        }
    }

    /// A grant or a finalised release runs a checker pass (DESIGN 6), so
    /// that the pools follow the size provider without waiting for the
    /// interval. Without a provider the pass would change nothing that the
    /// core has not done already, so none is asked for. Passes coalesce: the
    /// checker runs at most one at a time, at once after the last.
    #[inline]
    pub(crate) fn request_pass(&self, st: &mut State, now: Instant) {
        if self.settings.size_provider.is_some() {
            st.notify_scale_changed(now);
        }
    }

    /// The drain rule of `leasepool-core`: perform every action, in order.
    #[inline] // usually no action is queued: only the checker comparison runs
    pub(crate) fn drain(&self, st: &mut State, now: Instant, fx: &mut Effects) {
        while let Some(action) = st.core.poll_action() {
            self.perform(st, action, now, fx);
        }
        // A grant, a new waiter deadline or a scale notification can move the
        // next deadline earlier than the one the checker sleeps until.
        if let Some(armed) = st.checker.armed {
            if st.core.poll_timeout().is_some_and(|at| at < armed) {
                st.wake_checker();
            }
        }
    }

    /// Performs one action of the core (out of line, to keep `drain` small).
    #[inline(never)]
    fn perform(&self, st: &mut State, action: Action, now: Instant, fx: &mut Effects) {
        match action {
            Action::CreatePool(id) => self.create_pool(st, id, now),
            Action::ShutdownPool { pool, reason } => {
                log_shutdown(pool, &reason);
                fx.shutdown.extend(st.pools.remove(&pool));
            }
            Action::Grant { waiter, grant } => {
                let slot = st.waiters.get_mut(waiter).filter(|s| s.outcome.is_none());
                match (slot, st.pools.get(&grant.pool)) {
                    (Some(slot), Some(pool)) => {
                        slot.outcome = Some(Ok(Claim::new(grant, pool)));
                        slot.waker.wake_by_ref();
                        self.request_pass(st, now);
                        tracing::debug!(lease = %grant.lease, owner = st.core.lease_owner(grant.lease).as_deref(), pool = %grant.pool, "lease granted to waiter");
                    }
                    // The waiter is gone: hand the lease back, so the
                    // pool goes to the next one.
                    _ => {
                        st.core.release(grant.lease, now);
                    }
                }
            }
            Action::FailWaiter { waiter, error } => {
                if let Some(slot) = st.waiters.get_mut(waiter) {
                    slot.outcome = Some(Err(error));
                    slot.waker.wake_by_ref();
                }
            }
        }
    }

    fn create_pool(&self, st: &mut State, id: PoolId, now: Instant) {
        let s = &self.settings;
        let workers = st.core.config().workers_per_pool();
        let me = self.me.clone();
        let on_broken: OnBroken = Arc::new(move |pool| {
            if let Some(shared) = me.upgrade() {
                shared.retire(pool);
            }
        });
        match ThreadPool::spawn(id, &s.name_prefix, workers, s.initializer.clone(), on_broken) {
            Ok(pool) => {
                tracing::info!(pool = %id, workers, "pool created");
                st.pools.insert(id, pool);
            }
            Err(e) => {
                tracing::warn!(pool = %id, error = %e, "could not start pool worker threads");
                st.spawn_error = Some(Arc::new(e));
                st.core.pool_create_failed(id, now);
            }
        }
    }

    /// Retires a broken pool (idempotent). The core replaces it at once,
    /// and a replacement that breaks too at the next check, so an
    /// initializer that always fails cannot make the manager recreate pools
    /// in a tight loop.
    pub(crate) fn retire(&self, pool: PoolId) {
        self.with(|st, now| {
            if st.core.pool_broken(pool, now) {
                tracing::warn!(pool = %pool, "broken pool retired");
            }
        });
    }

    /// Releases a lease and logs how it ended. The core hears of jobs only
    /// now, if some are in flight: it then drains the lease (revokes it,
    /// past hard expiry), and the last job's [`Shared::job_finished`] ends it.
    pub(crate) fn release(&self, lease: LeaseId, owner: Option<&str>, pool: &ThreadPool, generation: u32) {
        self.with(|st, now| {
            let jobs = pool.release_lease(generation).unwrap_or(0);
            let outcome =
                if jobs > 0 { st.core.release_busy(lease, now) } else { st.core.release(lease, now) };
            match outcome {
                ReleaseOutcome::Draining { .. } => {
                    tracing::info!(lease = %lease, owner, jobs, "lease released while jobs run: draining");
                }
                ReleaseOutcome::Finalised(f) => {
                    log_finalised(lease, owner, f);
                    self.request_pass(st, now);
                }
                // Revoked: logged with its pool's shutdown.
                _ => {}
            }
        });
    }

    /// The last job of a released lease ended: finalise it.
    pub(crate) fn job_finished(&self, lease: LeaseId) {
        self.with(|st, now| {
            // The owner is looked up only when the finalise log is wanted.
            let owner =
                tracing::enabled!(tracing::Level::DEBUG).then(|| st.core.lease_owner(lease)).flatten();
            if let Some(f) = st.core.job_finished(lease, now) {
                log_finalised(lease, owner.as_deref(), f);
                self.request_pass(st, now);
            }
        });
    }

    /// Starts the checker task for a new epoch. A runtime that cannot spawn
    /// it gives its panic back, for the caller to undo the start.
    pub(crate) fn spawn_checker(&self, st: &mut State) -> Result<(), SpawnFailed> {
        let task = st.checker.task.next();
        st.checker.armed = None;
        task::spawn(&self.runtime, Box::pin(run_checker(self.me.clone(), task)))
    }
}

impl<R: Runtime> Drop for Shared<R> {
    /// The last handle is gone: shut every pool down so no thread lingers.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (_, pool) in st.pools.drain() {
            pool.shutdown();
        }
    }
}

impl State {
    /// The error of the last pool whose threads failed to start, if any.
    pub(crate) fn take_spawn_error(&mut self) -> Option<Arc<std::io::Error>> {
        self.spawn_error.take()
    }

    /// Stops the core and the checker (false if already stopped). An
    /// acquire granted a pool it has not taken yet (not polled since the
    /// grant) is still waiting: the core forgot its lease and shuts the pool
    /// down, so it fails like the other waiters instead of resolving later
    /// to a dead lease.
    pub(crate) fn halt(&mut self, now: Instant) -> bool {
        if !self.core.stop(now) {
            return false;
        }
        for slot in self.waiters.values_mut() {
            if matches!(slot.outcome, Some(Ok(_))) {
                slot.outcome = Some(Err(AcquireError::NotStarted));
            }
        }
        self.stop_checker();
        true
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

    /// Makes the current checker task exit.
    fn stop_checker(&mut self) {
        self.checker.task.supersede();
        self.wake_checker();
    }

    /// The size signal may have changed: a checker pass runs now, and one
    /// that read the provider before this runs again with a fresh value.
    pub(crate) fn notify_scale_changed(&mut self, now: Instant) {
        self.core.notify_scale_changed(now);
        self.checker.scale_notifications += 1;
        self.wake_checker();
    }

    fn wake_checker(&mut self) {
        self.checker.wake.notify();
    }
}

fn log_shutdown(pool: PoolId, reason: &ShutdownReason) {
    match reason {
        ShutdownReason::Expired { lease, owner } => {
            tracing::warn!(lease = %lease, owner = owner.as_deref(), pool = %pool, "lease revoked at hard expiry; pool shut down");
        }
        ShutdownReason::Broken => tracing::info!(pool = %pool, "broken pool shut down"),
        reason => tracing::info!(pool = %pool, %reason, "pool shut down"),
    }
}

fn log_finalised(lease: LeaseId, owner: Option<&str>, how: Finalised) {
    match how {
        Finalised::Kept => tracing::debug!(lease = %lease, owner, "lease finalised; pool kept"),
        Finalised::HandedOff => {
            tracing::debug!(lease = %lease, owner, "lease finalised; pool handed to next waiter")
        }
        Finalised::ShutDown => tracing::debug!(lease = %lease, owner, "lease finalised; pool shut down"),
    }
}

/// The checker: runs whatever is due, then sleeps until the core's next
/// deadline or until woken. Holds only a weak reference while asleep, so
/// dropping every manager handle ends it. Owns its epoch's guard, which
/// marks it lost if its runtime drops it instead.
async fn run_checker<R: Runtime>(me: Weak<Shared<R>>, task: TaskGuard) {
    let epoch = task.epoch();
    loop {
        let Some(shared) = me.upgrade() else { return };
        // The provider is user code, so it is read before locking, and only
        // when a check is due. A scale notification that lands in between
        // must not be consumed by a pass that uses the value read before it.
        let (seen, due) = {
            let now = shared.runtime.now();
            let st = shared.lock();
            (st.checker.scale_notifications, st.core.check_due(now))
        };
        let units = due.then(|| shared.sample_units());
        let deadline = shared.with(|st, now| {
            if !st.checker.task.is_current(epoch) {
                return None;
            }
            // A check that fell due since (a grant, a release) runs on the
            // last value, and again at once with a fresh one.
            let (last, mut stale) = (st.core.units(), false);
            st.core.handle_timeout(now, || {
                units.unwrap_or_else(|| {
                    stale = true;
                    last
                })
            });
            if stale || st.checker.scale_notifications != seen {
                // Check again at once, with a fresh value.
                st.core.notify_scale_changed(now);
            }
            st.checker.armed = st.core.poll_timeout();
            st.checker.armed
        });
        let Some(deadline) = deadline else { return };
        let runtime = shared.runtime.clone();
        drop(shared);
        sleep_or(&runtime, Some(deadline), |cx| match me.upgrade() {
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
