//! Cooperative cancellation: a job started with a `CancelToken` sees it
//! turn true when its lease is revoked, when the manager stops, when its
//! caller drops the `JobHandle` or the `run_cancellable` future, and (for
//! the grinder) when the `WorkHandle` or `submit_cancellable` future is
//! dropped, the batch's lease is revoked, or a cancelling stop comes. The
//! job then returns; its result goes to the caller if one still waits and
//! is dropped otherwise, and the lease counts the job as finished once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leasepool::driver::{Builder, GrinderBuilder, WorkGrinder};
use leasepool::{CancelToken, Error, Runtime, StopMode};

use crate::common::*;

/// How long a looping job waits for its token before giving up by itself,
/// so that a failed test never leaves a worker spinning for good.
const LOOP_LIMIT: Duration = Duration::from_secs(15);

/// A max wait that never elapses during a test.
const HOUR: Duration = Duration::from_secs(3600);

/// What a looping job reports.
#[derive(Default)]
struct Seen {
    started: AtomicBool,
    /// The token's value when the job started (must be false).
    cancelled_at_start: AtomicBool,
    /// The job saw its token turn true and returned because of it.
    saw_cancel: AtomicBool,
    /// The job's result was dropped (nobody took it).
    result_dropped: AtomicBool,
}

impl Seen {
    fn started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    fn saw_cancel(&self) -> bool {
        self.saw_cancel.load(Ordering::SeqCst)
    }

    fn result_dropped(&self) -> bool {
        self.result_dropped.load(Ordering::SeqCst)
    }
}

/// A job's result that records being dropped.
struct Outcome {
    saw_cancel: bool,
    seen: Arc<Seen>,
}

impl Drop for Outcome {
    fn drop(&mut self) {
        self.seen.result_dropped.store(true, Ordering::SeqCst);
    }
}

/// A job that loops until its token turns true (or [`LOOP_LIMIT`]) and
/// reports what it saw.
fn until_cancelled(seen: &Arc<Seen>) -> impl FnOnce(CancelToken) -> Outcome + Send + 'static + use<> {
    let seen = Arc::clone(seen);
    move |token| {
        seen.cancelled_at_start.store(token.is_cancelled(), Ordering::SeqCst);
        seen.started.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + LOOP_LIMIT;
        while !token.is_cancelled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let saw_cancel = token.is_cancelled();
        seen.saw_cancel.store(saw_cancel, Ordering::SeqCst);
        Outcome { saw_cancel, seen }
    }
}

/// A builder for a manager of one pool of one worker.
fn one_worker<R: Runtime + Default>() -> Builder<R> {
    builder::<R>().max_pools(1).workers_per_pool(1)
}

/// A started manager of one pool of one worker whose expired leases are
/// revoked soon (a 50 ms grace, checked every 50 ms).
async fn one_worker_revoking<R: Runtime + Default>() -> Manager<R> {
    started(
        one_worker::<R>().lease_grace(Duration::from_millis(50)).check_interval(Duration::from_millis(50)),
    )
    .await
}

/// A grinder builder on `m` that sends each item off as a batch of its own
/// at once (a max wait that never elapses).
fn one_item_batches<R: Runtime + Default>(m: &Manager<R>) -> GrinderBuilder<R> {
    WorkGrinder::builder(m).batch_size_threshold(1).max_wait(HOUR)
}

/// Builds and starts the grinder of `builder`.
async fn started_grinder<R: Runtime + Default>(builder: GrinderBuilder<R>) -> WorkGrinder<R> {
    let g = builder.build().unwrap();
    g.start().await.expect("the grinder starts");
    g
}

/// Hands an [`until_cancelled`] job (reporting to a fresh [`Seen`]) to
/// `submit`, waits until it starts (`what`), and returns what it reports to
/// and what `submit` returned.
async fn looping<R: Runtime + Default, H>(
    what: &str,
    submit: impl FnOnce(&Arc<Seen>) -> H,
) -> (Arc<Seen>, H) {
    let seen = Arc::new(Seen::default());
    let handle = submit(&seen);
    eventually::<R>(what, || seen.started()).await;
    (seen, handle)
}

/// Waits until the looping job of `seen` sees its token turn true (`what`)
/// and then its result is dropped on the worker.
async fn cancelled_and_dropped<R: Runtime + Default>(what: &str, seen: &Seen) {
    eventually::<R>(what, || seen.saw_cancel()).await;
    eventually::<R>("its result is dropped on the worker", || seen.result_dropped()).await;
}

/// Waits until no job is counted on any lease of `m`.
async fn jobs_counted_out<R: Runtime + Default>(m: &Manager<R>) {
    eventually::<R>("the lease counts the job as finished", || m.stats().leases.iter().all(|l| l.jobs == 0))
        .await;
}

/// Waits until `g` runs no batch and nothing of `m` is leased.
async fn batch_released<R: Runtime + Default>(g: &WorkGrinder<R>, m: &Manager<R>) {
    eventually::<R>("the batch ends and its lease is released", || {
        g.stats().running_batches == 0 && m.leased_count() == 0
    })
    .await;
}

/// The token is `Clone + Send + Sync`, false while the result is wanted,
/// and the job's value reaches its caller.
async fn token_stays_false_while_the_result_is_wanted<R: Runtime + Default>() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<CancelToken>();

    let m = started(one_worker::<R>()).await;
    let lease = m.acquire().await.unwrap();
    let seen_by_job = lease
        .run_cancellable(|token| {
            let copy = token.clone();
            let from_a_thread = std::thread::spawn(move || copy.is_cancelled()).join().unwrap();
            (token.is_cancelled(), from_a_thread, format!("{token:?}"))
        })
        .await
        .unwrap();
    assert_eq!(seen_by_job, (false, false, "CancelToken { cancelled: false }".to_owned()));
    let handle = lease.submit_cancellable(|token| token.is_cancelled()).unwrap();
    assert!(!within::<R, _>("the job ends", handle).await.unwrap());
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0), "every job counted as finished");
    m.stop().await;
}

/// A lease revoked at hard expiry (short lease, short grace) shuts its
/// pool down: the running job sees its token turn true, returns, and its
/// caller (still waiting) gets what it returned.
async fn revocation_cancels_a_running_job<R: Runtime + Default>() {
    let m = one_worker_revoking::<R>().await;
    // Long enough for the job to start first, however loaded the machine.
    let lease = m.acquire().lease_for(Duration::from_millis(500)).await.unwrap();
    let (seen, handle) =
        looping::<R, _>("the job starts", |seen| lease.submit_cancellable(until_cancelled(seen)).unwrap())
            .await;
    assert!(!seen.cancelled_at_start.load(Ordering::SeqCst));

    let outcome = within::<R, _>("the job sees the revocation and returns", handle).await.unwrap();
    assert!(outcome.saw_cancel && seen.saw_cancel(), "the job returned because of its token");
    drop(outcome);
    assert!(matches!(lease.submit(|| ()), Err(Error::LeaseExpired)));
    eventually::<R>("the revoked pool's worker returns", || {
        let s = m.stats();
        s.leases.is_empty() && s.winding_down == 0
    })
    .await;
    drop(lease);
    m.stop().await;
}

/// `stop` shuts every pool down: a running job sees its token turn true,
/// and its caller gets what it returned.
async fn stop_cancels_a_running_job<R: Runtime + Default>() {
    let m = started(one_worker::<R>()).await;
    let lease = m.acquire().await.unwrap();
    let (seen, handle) =
        looping::<R, _>("the job starts", |seen| lease.submit_cancellable(until_cancelled(seen)).unwrap())
            .await;
    assert!(!seen.saw_cancel(), "nothing cancelled it yet");

    within::<R, _>("stop returns", m.stop()).await;
    let outcome = within::<R, _>("the job sees the stop and returns", handle).await.unwrap();
    assert!(outcome.saw_cancel && seen.saw_cancel());
    assert!(matches!(lease.submit(|| ()), Err(Error::Stopped)));
    drop(outcome);
    eventually::<R>("the stopped pool's worker returns", || m.stats().winding_down == 0).await;
}

/// Dropping the `JobHandle` of a running job turns its token true; the
/// job returns, its result is dropped, and the lease counts it as finished
/// once: the lease takes the next job and, released, is idle at once.
async fn dropped_job_handle_cancels_the_job<R: Runtime + Default>() {
    let m = started(one_worker::<R>()).await;
    let lease = m.acquire().await.unwrap();
    let (seen, handle) =
        looping::<R, _>("the job starts", |seen| lease.submit_cancellable(until_cancelled(seen)).unwrap())
            .await;
    assert!(!seen.saw_cancel(), "nothing cancelled it yet");

    drop(handle);
    cancelled_and_dropped::<R>("the job sees its handle dropped", &seen).await;
    jobs_counted_out(&m).await;
    assert_eq!(lease.run(|| 7).await.unwrap(), 7, "the lease and its worker serve the next job");
    drop(lease);
    // Released with no job in flight, the pool is idle at once: the job
    // was counted out exactly once (not at all would leave it draining).
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// Dropping the `run_cancellable` future (a client that went away) after
/// its job started turns the token true, with the same accounting.
async fn dropped_run_future_cancels_the_job<R: Runtime + Default>() {
    let m = started(one_worker::<R>()).await;
    let lease = m.acquire().await.unwrap();
    let seen = Arc::new(Seen::default());
    let mut request = Box::pin(lease.run_cancellable(until_cancelled(&seen)));
    assert!(poll_once(&mut request).await.is_pending(), "the job is queued, not done");
    eventually::<R>("the job starts", || seen.started()).await;
    assert!(!seen.saw_cancel(), "nothing cancelled it yet");

    drop(request);
    cancelled_and_dropped::<R>("the job sees its future dropped", &seen).await;
    jobs_counted_out(&m).await;
    assert_eq!(lease.run(|| 8).await.unwrap(), 8);
    drop(lease);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

/// A grinder item running when its `WorkHandle` is dropped sees its token
/// turn true; the batch ends, its lease is released, and the item counts.
async fn dropped_work_handle_cancels_the_item<R: Runtime + Default>() {
    let m = started(one_worker::<R>()).await;
    let g = started_grinder(one_item_batches(&m)).await;
    let (seen, handle) =
        looping::<R, _>("the item starts", |seen| g.enqueue_cancellable(until_cancelled(seen)).unwrap())
            .await;
    assert!(!seen.saw_cancel(), "nothing cancelled it yet");

    drop(handle);
    cancelled_and_dropped::<R>("the item sees its handle dropped", &seen).await;
    batch_released(&g, &m).await;
    assert_eq!(g.stats().counters.items_completed, 1);
    assert_eq!(within::<R, _>("the next item", g.submit(|| 9)).await.unwrap(), 9);
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// Dropping the `submit_cancellable` future of a running grinder item does
/// the same.
async fn dropped_grinder_future_cancels_the_item<R: Runtime + Default>() {
    let m = started(one_worker::<R>()).await;
    let g = started_grinder(one_item_batches(&m)).await;
    let (seen, request) =
        looping::<R, _>("the item starts", |seen| g.submit_cancellable(until_cancelled(seen))).await;
    assert!(!seen.saw_cancel(), "nothing cancelled it yet");

    drop(request);
    cancelled_and_dropped::<R>("the item sees its future dropped", &seen).await;
    batch_released(&g, &m).await;
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

/// A cancelling grinder stop turns the running item's token true; its
/// caller, still waiting, gets what it returned.
async fn cancelling_grinder_stop_cancels_the_running_item<R: Runtime + Default>() {
    let m = started(one_worker::<R>()).await;
    let g = started_grinder(one_item_batches(&m)).await;
    let (seen, handle) =
        looping::<R, _>("the item starts", |seen| g.enqueue_cancellable(until_cancelled(seen)).unwrap())
            .await;
    assert!(!seen.saw_cancel(), "nothing cancelled it yet");

    within::<R, _>("a cancelling stop returns at once", g.stop(StopMode::CancelPending)).await;
    let outcome = within::<R, _>("the item sees the stop and returns", handle).await.unwrap();
    assert!(outcome.saw_cancel && seen.saw_cancel());
    drop(outcome);
    batch_released(&g, &m).await;
    m.stop().await;
}

/// A grinder item whose batch lease is revoked at hard expiry sees its
/// token turn true.
async fn batch_lease_revocation_cancels_the_item<R: Runtime + Default>() {
    let m = one_worker_revoking::<R>().await;
    let g = started_grinder(one_item_batches(&m).lease_for(Duration::from_millis(500))).await;
    let (seen, handle) =
        looping::<R, _>("the item starts", |seen| g.enqueue_cancellable(until_cancelled(seen)).unwrap())
            .await;

    let outcome = within::<R, _>("the item sees the revocation and returns", handle).await.unwrap();
    assert!(outcome.saw_cancel && seen.saw_cancel());
    drop(outcome);
    eventually::<R>("the batch ends", || g.stats().running_batches == 0).await;
    g.stop(StopMode::Drain).await;
    m.stop().await;
}

conformance! {
    token_stays_false_while_the_result_is_wanted,
    revocation_cancels_a_running_job,
    stop_cancels_a_running_job,
    dropped_job_handle_cancels_the_job,
    dropped_run_future_cancels_the_job,
    dropped_work_handle_cancels_the_item,
    dropped_grinder_future_cancels_the_item,
    cancelling_grinder_stop_cancels_the_running_item,
    batch_lease_revocation_cancels_the_item,
}
