//! Acquiring a lease: the awaitable builder and its cancel-safe future.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use leasepool_core::{Acquire, Acquired, Wait, WaiterId};

use crate::error::Error;
use crate::lease::Lease;
use crate::runtime::Runtime;
use crate::shared::{Handover, Shared, WaiterSlot};

/// An acquire request. Set options, then `.await` it (or call
/// [`AcquireBuilder::blocking`] from a plain thread). It is
/// [`IntoFuture`], not a `Future`: to hand it to `tokio::spawn` or a
/// `block_on`, wrap it (`async move { m.acquire().await }`) or call
/// `.into_future()`.
///
/// # Errors
///
/// Awaited (or [`blocking`](Self::blocking)), it gives a [`Lease`], or:
///
/// * [`Error::NotStarted`]: the manager was never started;
/// * [`Error::Stopped`]: the manager was stopped, before the acquire or
///   while it waited;
/// * [`Error::RuntimeGone`]: the runtime that drove the manager has shut
///   down;
/// * [`Error::Timeout`]: no pool was granted within
///   [`timeout`](Self::timeout);
/// * [`Error::Config`]: [`lease_for`](Self::lease_for) was zero or too
///   long;
/// * [`Error::Spawn`]: the pool created for this acquire could not start
///   its threads;
/// * [`Error::Broken`]: the pool granted broke before the lease was handed
///   over.
///
/// ```
/// # async fn demo(manager: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
/// use std::time::Duration;
/// let lease = manager
///     .acquire()
///     .owner("nightly-report")
///     .lease_for(Duration::from_secs(30))
///     .timeout(Duration::from_secs(5))
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "an acquire does nothing until awaited"]
pub struct AcquireBuilder<R: Runtime> {
    shared: Arc<Shared<R>>,
    request: Acquire,
    timeout: Option<Duration>,
}

impl<R: Runtime> std::fmt::Debug for AcquireBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcquireBuilder")
            .field("request", &self.request)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<R: Runtime> AcquireBuilder<R> {
    /// An acquire of `request` (waiting or not) with no timeout yet.
    pub(crate) fn new(shared: Arc<Shared<R>>, request: Acquire) -> Self {
        AcquireBuilder { shared, request, timeout: None }
    }

    /// Labels the lease (shown in stats and logs).
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().owner(format!("tenant-{}", 42)).await?;
    /// assert_eq!(lease.owner(), Some("tenant-42"));
    /// # Ok(()) }
    /// ```
    pub fn owner(mut self, owner: impl Into<Arc<str>>) -> Self {
        self.request.owner = Some(owner.into());
        self
    }

    /// The lease duration (default: the manager's `default_lease_for`); must be > 0.
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// let lease = m.acquire().lease_for(std::time::Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub fn lease_for(mut self, lease: Duration) -> Self {
        self.request.lease_for = Some(lease);
        self
    }

    /// Gives up with [`Error::Timeout`] if no pool is granted within
    /// `timeout` (default: wait until granted or the manager stops).
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) {
    /// match m.acquire().timeout(std::time::Duration::from_millis(50)).await {
    ///     Err(leasepool::Error::Timeout(limit)) => println!("no pool within {limit:?}"),
    ///     other => drop(other),
    /// }
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Blocks the calling thread until the lease is granted (or the acquire
    /// fails). For plain OS threads; in async code, `.await` instead: on a
    /// runtime's thread it blocks the runtime that would free the pool and
    /// run the checker, which enforces [`AcquireBuilder::timeout`] (on a
    /// current-thread runtime it waits forever).
    ///
    /// # Errors
    ///
    /// Those of awaiting it: see [`AcquireBuilder`].
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// std::thread::spawn(move || {
    ///     let lease = m.acquire().blocking()?;
    ///     lease.submit(|| 1 + 1)?.wait()
    /// });
    /// # Ok(()) }
    /// ```
    pub fn blocking(self) -> Result<Lease<R>, Error> {
        futures_executor::block_on(self.into_future())
    }
}

impl<R: Runtime> IntoFuture for AcquireBuilder<R> {
    type Output = Result<Lease<R>, Error>;
    type IntoFuture = Acquiring<R>;

    fn into_future(self) -> Acquiring<R> {
        Acquiring { timeout: self.timeout, step: Step::Start(self.shared, self.request) }
    }
}

/// A non-waiting acquire request, from
/// [`LeasedExecutorManager::try_acquire`](crate::LeasedExecutorManager::try_acquire):
/// it is granted an idle pool at once, or fails with
/// [`Error::Unavailable`]. Set options, then `.await` it (or call
/// [`TryAcquireBuilder::blocking`] from a plain thread). It has no
/// `timeout`: it never waits.
///
/// # Errors
///
/// Awaited, it gives a [`Lease`], or:
///
/// * [`Error::Unavailable`]: no pool is free and the manager is at
///   `max_pools`;
/// * [`Error::NotStarted`], [`Error::Stopped`], [`Error::RuntimeGone`]: the
///   manager is not serving;
/// * [`Error::Config`]: [`lease_for`](Self::lease_for) was zero or too
///   long;
/// * [`Error::Spawn`], [`Error::Broken`]: the pool created for it could
///   not start, or broke before the lease was handed over.
///
/// ```
/// # async fn demo(manager: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
/// use std::time::Duration;
/// match manager.try_acquire().owner("preview").lease_for(Duration::from_secs(2)).await {
///     Ok(lease) => lease.run(|| ()).await?,
///     Err(e) if e.is_overload() => { /* shed load: answer 503 */ }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
///
/// A timeout would mean nothing here, so there is none:
///
/// ```compile_fail
/// # async fn demo(manager: leasepool::LeasedExecutorManager) {
/// let _ = manager.try_acquire().timeout(std::time::Duration::from_secs(1)).await;
/// # }
/// ```
#[must_use = "an acquire does nothing until awaited"]
pub struct TryAcquireBuilder<R: Runtime>(AcquireBuilder<R>);

impl<R: Runtime> std::fmt::Debug for TryAcquireBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryAcquireBuilder").field("request", &self.0.request).finish()
    }
}

// An `AcquireBuilder` of a no-wait request, with only the options that
// mean something for it.
impl<R: Runtime> TryAcquireBuilder<R> {
    pub(crate) fn new(shared: Arc<Shared<R>>) -> Self {
        TryAcquireBuilder(AcquireBuilder::new(shared, Acquire::no_wait()))
    }

    /// Labels the lease (shown in stats and logs).
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// let lease = m.try_acquire().owner("tenant-7").await?;
    /// assert_eq!(lease.owner(), Some("tenant-7"));
    /// # Ok(()) }
    /// ```
    pub fn owner(self, owner: impl Into<Arc<str>>) -> Self {
        TryAcquireBuilder(self.0.owner(owner))
    }

    /// The lease duration (default: the manager's `default_lease_for`); must be > 0.
    ///
    /// ```
    /// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
    /// let lease = m.try_acquire().lease_for(std::time::Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub fn lease_for(self, lease: Duration) -> Self {
        TryAcquireBuilder(self.0.lease_for(lease))
    }

    /// Tries to acquire from a plain thread. It never waits for a pool, but
    /// a pool being created for it is awaited.
    ///
    /// # Errors
    ///
    /// Those of awaiting it: see [`TryAcquireBuilder`].
    ///
    /// ```
    /// # fn demo(m: leasepool::LeasedExecutorManager) {
    /// std::thread::spawn(move || match m.try_acquire().blocking() {
    ///     Ok(lease) => drop(lease.submit(|| 1 + 1)),
    ///     Err(e) => eprintln!("busy: {e}"),
    /// });
    /// # }
    /// ```
    pub fn blocking(self) -> Result<Lease<R>, Error> {
        self.0.blocking()
    }
}

impl<R: Runtime> IntoFuture for TryAcquireBuilder<R> {
    type Output = Result<Lease<R>, Error>;
    type IntoFuture = Acquiring<R>;

    fn into_future(self) -> Acquiring<R> {
        self.0.into_future()
    }
}

/// Where an acquire is. The handle on the manager moves into the lease at
/// the end, so a grant clones nothing.
enum Step<R: Runtime> {
    Start(Arc<Shared<R>>, Acquire),
    /// Waiting, with the owner label to put on the lease and when the
    /// acquire asked (its wait is measured from then).
    Queued(Arc<Shared<R>>, WaiterId, Option<Arc<str>>, Instant),
    Done,
}

/// The future of an acquire. Cancel-safe: dropped while queued it leaves
/// the queue; dropped after a grant it hands the lease to the next waiter.
///
/// # Errors
///
/// Those of the builder it came from: see [`AcquireBuilder`] and
/// [`TryAcquireBuilder`].
///
/// ```
/// # async fn demo(m: leasepool::LeasedExecutorManager) -> Result<(), leasepool::Error> {
/// use std::future::IntoFuture;
/// let acquiring = m.acquire().owner("report").into_future();
/// let lease = acquiring.await?;
/// # Ok(()) }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Acquiring<R: Runtime> {
    timeout: Option<Duration>,
    step: Step<R>,
}

impl<R: Runtime> std::fmt::Debug for Acquiring<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acquiring").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl<R: Runtime> Future for Acquiring<R> {
    type Output = Result<Lease<R>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let timeout = this.timeout;
        match std::mem::replace(&mut this.step, Step::Done) {
            Step::Start(shared, request) => match start(&shared, request, timeout, cx) {
                Ok(Ok((handover, owner))) => {
                    let grant = &handover.grant;
                    tracing::debug!(lease = %grant.lease, owner = owner.as_deref(), pool = %grant.pool, "lease granted");
                    Poll::Ready(Ok(Lease::new(shared, handover, owner)))
                }
                Ok(Err((waiter, owner, asked))) => {
                    this.step = Step::Queued(shared, waiter, owner, asked);
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            },
            Step::Queued(shared, waiter, owner, asked) => {
                let mut st = shared.lock();
                let lost = st.checker_lost();
                let Some(slot) = st.waiters.get_mut(waiter) else {
                    return Poll::Ready(Err(Error::Stopped));
                };
                if let Some(outcome) = slot.outcome.take() {
                    st.waiters.remove(waiter);
                    if let Ok(handover) = &outcome {
                        // Granted at the core's clock, which `asked` came from.
                        st.published.acquired(handover.grant.leased_at.saturating_duration_since(asked));
                    }
                    drop(st);
                    return Poll::Ready(outcome.map(|handover| Lease::new(shared, handover, owner)));
                }
                // The checker went down with its runtime and its guard has
                // not failed the queue yet: nothing would time this out.
                if lost {
                    drop(st);
                    withdraw(&shared, waiter);
                    return Poll::Ready(Err(Error::RuntimeGone));
                }
                if !slot.waker.will_wake(cx.waker()) {
                    slot.waker = cx.waker().clone();
                }
                drop(st);
                this.step = Step::Queued(shared, waiter, owner, asked);
                Poll::Pending
            }
            Step::Done => panic!("Acquiring polled after completion"),
        }
    }
}

/// A granted pool, or a place in the queue and when it was asked for; with
/// the owner label.
type Started = Result<(Handover, Option<Arc<str>>), (WaiterId, Option<Arc<str>>, Instant)>;

/// The first poll: asks the core, queueing `cx`'s waker if it must wait.
fn start<R: Runtime>(
    shared: &Shared<R>,
    mut request: Acquire,
    timeout: Option<Duration>,
    cx: &Context<'_>,
) -> Result<Started, Error> {
    let owner = request.owner.clone();
    shared.with_then(
        shared.runtime.now(),
        |st, now| {
            if request.wait != Wait::No {
                request.wait = match timeout.and_then(|t| now.checked_add(t)) {
                    Some(deadline) => Wait::Until(deadline),
                    None => Wait::Forever,
                };
            }
            // Running without a checker: nothing would enforce a timeout
            // or the lease's expiry.
            if st.core.is_running() && st.checker_lost() {
                return Err(Error::RuntimeGone);
            }
            match st.core.acquire(now, request) {
                // Only a live pool is granted at once: it is in `pools`.
                Ok(Acquired::Granted(grant)) => {
                    st.published.acquired_at_once();
                    Ok(Ok((Handover::new(grant, &st.pools[&grant.pool]), owner)))
                }
                Ok(Acquired::Queued(waiter)) => {
                    let slot = WaiterSlot { waker: cx.waker().clone(), timeout, outcome: None };
                    st.waiters.insert(waiter, slot);
                    Ok(Err((waiter, owner, now)))
                }
                Err(e) => Err(st.refusal(e, timeout)),
            }
        },
        |_, started| started,
    )
}

impl<R: Runtime> Drop for Acquiring<R> {
    fn drop(&mut self) {
        let Step::Queued(shared, waiter, ..) = &self.step else { return };
        withdraw(shared, *waiter);
    }
}

/// Takes a queued acquire out of the queue, handing back a grant it has
/// not taken.
fn withdraw<R: Runtime>(shared: &Shared<R>, waiter: WaiterId) {
    shared.with(|st, now| match st.waiters.remove(waiter) {
        Some(WaiterSlot { outcome: Some(Ok(handover)), .. }) => {
            // Granted but never taken: the next waiter gets the pool.
            let _ = st.core.release(now, handover.grant.lease);
        }
        Some(WaiterSlot { outcome: None, .. }) => {
            let _ = st.core.cancel_waiter(now, waiter);
        }
        _ => {}
    });
}
