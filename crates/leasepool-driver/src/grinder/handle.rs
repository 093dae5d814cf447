//! [`WorkHandle`]: the pending result of one queued item.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, Weak};
use std::task::{Context, Poll};

use leasepool_core::ItemId;

use crate::error::Error;
use crate::job::JobHandle;

use super::{State, lock};

/// The pending result of an item queued with
/// [`WorkGrinder::enqueue`](super::WorkGrinder::enqueue).
///
/// `.await` it, or [`wait`](Self::wait) for it from a plain thread.
/// Dropping it before the item's batch starts removes the item from the
/// queue at once; dropping it while the item runs does not stop the item
/// (a thread cannot be killed), but an item queued with
/// [`WorkGrinder::enqueue_cancellable`](super::WorkGrinder::enqueue_cancellable)
/// sees its [`CancelToken`](crate::CancelToken) turn true.
///
/// # Errors
///
/// Awaited (or waited on), it gives the item's value, or one of the errors
/// listed under [`WorkGrinder::submit`](super::WorkGrinder::submit):
/// [`Error::Panicked`], [`Error::Cancelled`], [`Error::LeaseExpired`], or
/// the error that kept the item's batch from getting or using a lease.
///
/// ```
/// # async fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
/// let handle = g.enqueue(|| 7)?;
/// assert_eq!(handle.await?, 7);
/// # Ok(()) }
/// ```
#[must_use = "dropping a WorkHandle before its batch starts withdraws the item"]
pub struct WorkHandle<T> {
    pub(super) result: JobHandle<T>,
    pub(super) state: Weak<Mutex<State>>,
    pub(super) id: ItemId,
}

impl<T> fmt::Debug for WorkHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkHandle").field("id", &self.id).finish_non_exhaustive()
    }
}

impl<T> WorkHandle<T> {
    /// Blocks the current thread until the item's result is in. For plain
    /// OS threads: on an async runtime's thread it blocks the very runtime
    /// the grinder's loop runs on (on a current-thread runtime, forever);
    /// `.await` the handle there instead.
    ///
    /// # Errors
    ///
    /// As for `.await`: see [`WorkHandle`].
    ///
    /// ```
    /// # fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let v = g.enqueue(|| vec![1, 2, 3])?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn wait(mut self) -> Result<T, Error> {
        futures_executor::block_on(&mut self)
    }

    /// Whether the result is ready.
    ///
    /// ```
    /// # fn demo(g: leasepool::WorkGrinder) -> Result<(), leasepool::Error> {
    /// let h = g.enqueue(|| ())?;
    /// let ready = h.is_finished();
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.result.is_finished()
    }
}

impl<T> Future for WorkHandle<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.result).poll(cx)
    }
}

impl<T> Drop for WorkHandle<T> {
    fn drop(&mut self) {
        if self.result.is_finished() {
            return;
        }
        let Some(state) = self.state.upgrade() else { return };
        let mut st = lock(&state);
        let removed = st.queue.remove(self.id);
        if removed.is_some() {
            st.tally.withdrawn();
        }
        drop(st);
        drop(removed); // outside the lock: dropping a job resolves its channel
    }
}
