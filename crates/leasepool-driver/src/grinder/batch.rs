//! Running one batch: lease a pool, split the items into one chunk per
//! worker, release.

use std::future::{IntoFuture, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use crate::error::Error;
use crate::job::{CancelSource, CancelState, CancelToken, Job, JobEnd, JobHandle};
use crate::lease::Lease;
use crate::recorder::Stopwatch;
use crate::runtime::Runtime;
use crate::signal::Signal;

use super::{Grinder, GrinderTally, State, lock};

pub(super) struct Item {
    pub(super) job: Job,
    owner: Option<Arc<str>>,
    /// A cancellable item's token state, bound to its batch when it runs.
    cancel: Option<Arc<CancelState>>,
}

impl Item {
    /// An item running `f`, and the handle its caller waits on.
    pub(super) fn new<T, F>(owner: Option<Arc<str>>, f: F) -> (Item, JobHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Untimed: an item's end is only counted; the chunk it runs in is
        // what the manager times.
        let (job, handle) = Job::replying(f, false, |_| ());
        (Item { job, owner, cancel: None }, handle)
    }

    /// An item running `f` with a [`CancelToken`], and its handle.
    pub(super) fn cancellable<T, F>(owner: Option<Arc<str>>, f: F) -> (Item, JobHandle<T>)
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, handle, cancel) = Job::cancellable(f, false, |_| ());
        (Item { job, owner, cancel: Some(cancel) }, handle)
    }

    /// Fails an item before it ran (in a batch or not), counting it in
    /// `tally` before its caller hears.
    pub(super) fn fail(self, error: &Error, tally: &GrinderTally) {
        tracing::debug!(owner = self.owner.as_deref(), %error, "grinder item failed before it ran");
        self.job.cancel_counted(error.clone(), tally);
    }
}

#[derive(Default)]
pub(super) struct BatchCancel {
    cancelled: AtomicBool,
    signal: Mutex<Signal>,
}

impl BatchCancel {
    pub(super) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        lock(&self.signal).notify();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl CancelSource for BatchCancel {
    fn is_cancelled(&self) -> bool {
        BatchCancel::is_cancelled(self)
    }
}

/// A batch taken from the queue, with what its task needs.
pub(super) struct Batch {
    n: u64,
    /// Its entry in `State::in_flight`.
    pub(super) key: usize,
    pub(super) items: Vec<Item>,
    cancel: Arc<BatchCancel>,
    lease_for: Duration,
    /// The grinder's counts, where each item's end is counted.
    tally: Arc<GrinderTally>,
}

/// Books a batch taken from the queue as started.
pub(super) fn start_batch(st: &mut State, items: Vec<Item>) -> Batch {
    st.batch_seq += 1;
    let cancel = Arc::new(BatchCancel::default());
    let key = st.in_flight.insert(Arc::clone(&cancel));
    let lease_for = st.queue.policy().lease_for_value();
    Batch { n: st.batch_seq, key, items, cancel, lease_for, tally: Arc::clone(&st.tally) }
}

/// One batch: lease a pool (unless cancelled first), run the items, release.
pub(super) async fn run_batch<R: Runtime>(g: Arc<Grinder<R>>, batch: Batch, _end: BatchEnd<R>) {
    let Batch { n, key: _, items, cancel, lease_for, tally } = batch;
    let owner = format!("{}-batch-{n}", g.owner_prefix);
    let mut acquire = g.manager.acquire().owner(owner).lease_for(lease_for).into_future();
    let acquired = poll_fn(|cx| {
        if cancel.is_cancelled() || lock(&cancel.signal).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut acquire).poll(cx).map(Some)
    })
    .await;
    drop(acquire); // a pending acquire withdraws; a grant goes to the next waiter
    match acquired {
        None => items.into_iter().for_each(|item| item.fail(&Error::Cancelled, &tally)),
        Some(Err(error)) => items.into_iter().for_each(|item| item.fail(&error, &tally)),
        Some(Ok(lease)) => run_on(&lease, g.workers, items, &cancel, &tally).await,
    }
}

/// Books a batch as finished when its task ends, or is dropped with a
/// runtime that shut down (its items then fail as cancelled): either way
/// its slot among the concurrent batches is freed.
pub(super) struct BatchEnd<R: Runtime> {
    pub(super) g: Arc<Grinder<R>>,
    pub(super) key: usize,
}

impl<R: Runtime> Drop for BatchEnd<R> {
    fn drop(&mut self) {
        let mut st = lock(&self.g.state);
        st.queue.batch_finished();
        st.in_flight.remove(self.key);
        // Counted with the batch's slot freed, under G: `stats` never sees
        // a batch both running and run.
        st.tally.batch_finished();
        st.wake.notify();
    }
}

/// Splits `items` into one chunk per worker and submits each as a job
/// through `lease`. If a submission fails, the items already submitted keep
/// their real results and only the rest get that error.
pub(super) async fn run_on<R: Runtime>(
    lease: &Lease<R>,
    workers: usize,
    items: Vec<Item>,
    cancel: &Arc<BatchCancel>,
    tally: &Arc<GrinderTally>,
) {
    // Cancellable items learn of a revoked lease (pool shut down) and of a
    // cancelling stop (the batch cancelled) through their tokens.
    for state in items.iter().filter_map(|item| item.cancel.as_ref()) {
        state.bind_pool(lease.pool());
        state.bind_source(Arc::clone(cancel) as Arc<dyn CancelSource>);
    }
    let done = submit_chunks_counted(items, workers, Some(&**tally), |chunk| {
        let finish = match lease.reserve() {
            Ok(finish) => finish,
            Err(error) => return Err((chunk, error)),
        };
        let cancel = Arc::clone(cancel);
        let tally = Arc::clone(tally);
        let (tx, finished) = JobHandle::<()>::channel();
        let job = Job::new(move |cancelled| {
            let watch = Stopwatch::start();
            for item in chunk {
                match &cancelled {
                    Some(error) => item.job.cancel_counted(error.clone(), &*tally),
                    // A chunk is one job: once the lease's pool is shut down
                    // (revoked, or the manager stopped), the rest of a
                    // running chunk must not run either.
                    None if finish.is_shut() => item.job.cancel_counted(Error::LeaseExpired, &*tally),
                    None if cancel.is_cancelled() => item.job.cancel_counted(Error::Cancelled, &*tally),
                    None => item.job.run_counted(&*tally),
                }
            }
            // To the manager the chunk is one job of the lease: it ran,
            // unless it was cancelled whole before it started.
            finish.done(match &cancelled {
                Some(error) => JobEnd::not_run(error),
                None => JobEnd::Returned { took: watch.elapsed() },
            });
            let _ = tx.send(Ok(()));
        });
        lease.queue(job);
        Ok(finished)
    });
    for finished in done {
        let _ = finished.await;
    }
}

/// Splits `items` into at most `workers` chunks of equal size (the last may
/// be smaller), in order, and hands each to `submit`, which either takes it
/// (returning what to wait for) or gives it back with an error. After the
/// first failure `submit` is not called again: that chunk and every later
/// one fail with its error, while the chunks already submitted are left to
/// report their real results.
#[cfg(test)]
pub(super) fn submit_chunks<D>(
    items: Vec<Item>,
    workers: usize,
    submit: impl FnMut(Vec<Item>) -> Result<D, (Vec<Item>, Error)>,
) -> Vec<D> {
    submit_chunks_counted(items, workers, None, submit)
}

/// `submit_chunks`, counting the items it fails in `tally` (if given)
/// before their callers hear.
fn submit_chunks_counted<D>(
    items: Vec<Item>,
    workers: usize,
    tally: Option<&GrinderTally>,
    mut submit: impl FnMut(Vec<Item>) -> Result<D, (Vec<Item>, Error)>,
) -> Vec<D> {
    let chunks = workers.clamp(1, items.len().max(1));
    let size = items.len().div_ceil(chunks);
    let mut items = items.into_iter();
    let mut done = Vec::with_capacity(chunks);
    loop {
        let chunk: Vec<Item> = items.by_ref().take(size).collect();
        if chunk.is_empty() {
            break;
        }
        match submit(chunk) {
            Ok(d) => done.push(d),
            Err((chunk, error)) => {
                chunk.into_iter().chain(items).for_each(|item| match tally {
                    Some(tally) => item.fail(&error, tally),
                    None => item.job.cancel(error.clone()),
                });
                break;
            }
        }
    }
    done
}
