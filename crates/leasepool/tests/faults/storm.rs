//! Cancellation storm: thousands of acquires that time out, fail at once,
//! are dropped at random points (including between a grant and the first
//! poll after it), and leases dropped at random points with jobs in flight.
//! Afterwards nothing may be lost: no lease, no waiter, no pool, no job.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use leasepool::driver::{JobHandle, Lease, LeasedExecutorManager};
use leasepool::{Error, Runtime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::*;
use crate::{seeded, seeds};

/// Acquires per seed.
const ACQUIRES: usize = 10_000;
/// Tasks sharing them.
const TASKS: usize = 50;
/// Seeds per run.
const SEEDS: usize = 3;

#[derive(Default)]
struct Tally {
    attempts: AtomicUsize,
    grants: AtomicUsize,
    timeouts: AtomicUsize,
    unavailable: AtomicUsize,
    dropped_futures: AtomicUsize,
    never_polled: AtomicUsize,
    dropped_after_grant: AtomicUsize,
    jobs: AtomicUsize,
    handles_kept: AtomicUsize,
    handles_dropped: AtomicUsize,
    handles_awaited: AtomicUsize,
    released: AtomicUsize,
    dropped_leases: AtomicUsize,
}

impl Tally {
    fn bump(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }
}

/// 10,000 acquires x 3 seeds on 3 pools of 2 workers from 50 tasks: random
/// timeouts, `try_acquire`, acquire futures dropped before their first
/// poll, after some polls, and after a grant they never saw, leases dropped
/// or released with jobs queued and running, job handles kept, awaited or
/// dropped. After quiescence nothing is leased or waiting, every pool is
/// idle and the count is back to the desired one, and every kept job
/// handle resolved with its job's value.
///
/// The storm must also have reached every path it is there to test: over
/// the seeds, acquires timed out, were refused, were dropped before and
/// after their grant, and leases were both released and dropped with job
/// handles kept, awaited and dropped (a storm that only ever granted would
/// pass every check above without testing anything).
async fn cancellation_storm<R: Runtime + Default>() {
    let mut tallies = Vec::new();
    for seed in seeds(SEEDS) {
        tallies.push(storm::<R>(seed).await);
    }
    /// One of the tally's counters.
    type Counter = fn(&Tally) -> &AtomicUsize;
    let total = |counter: Counter| tallies.iter().map(|t| Tally::get(counter(t))).sum::<usize>();
    let paths: [(&str, Counter); 10] = [
        ("acquires timed out", |t| &t.timeouts),
        ("try_acquire found nothing free", |t| &t.unavailable),
        ("acquire futures dropped before a grant", |t| &t.dropped_futures),
        ("acquire futures dropped after a grant they never saw", |t| &t.dropped_after_grant),
        ("jobs submitted", |t| &t.jobs),
        ("job handles kept", |t| &t.handles_kept),
        ("job handles awaited", |t| &t.handles_awaited),
        ("job handles dropped", |t| &t.handles_dropped),
        ("leases released", |t| &t.released),
        ("leases dropped", |t| &t.dropped_leases),
    ];
    for (what, counter) in paths {
        assert!(total(counter) > 0, "the storm never exercised this path: {what}");
    }
}

/// One seed's storm; returns its tally.
async fn storm<R: Runtime + Default>(seed: u64) -> Arc<Tally> {
    let (mut rng, _guard) = seeded("storm::cancellation_storm", seed);
    let started_at = Instant::now();
    let check = Duration::from_millis(rng.random_range(2..=50));
    let m = started(
        builder::<R>()
            .max_pools(3)
            .min_pools(1)
            .workers_per_pool(2)
            .check_interval(check)
            // Surplus pools left by the storm age out quickly, so that the
            // test sees the manager come back to the desired count.
            .idle_timeout(check)
            .name_prefix("fstorm"),
    )
    .await;
    let tally = Arc::new(Tally::default());
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| spawn::<R, _>(storm_task(m.clone(), rng.random(), ACQUIRES / TASKS, Arc::clone(&tally))))
        .collect();
    // Generous: the storm is CPU-bound and slows down with the machine; a
    // lost grant shows up sooner, as an acquire timing out after 10 s.
    let kept: Vec<_> = join_all::<R, _>(Duration::from_secs(45), "every storm task ends", tasks)
        .await
        .into_iter()
        .flatten()
        .collect();

    for (expected, handle) in kept {
        assert_eq!(within::<R, _>("a kept job handle resolves", handle).await.expect("kept job"), expected);
    }
    back_to_one_idle_pool::<R>(&m).await;
    let handed_back = grant_then_drop::<R>(&m, &mut rng).await;
    back_to_one_idle_pool::<R>(&m).await;

    let t = &*tally;
    let g = Tally::get;
    assert_eq!(
        g(&t.grants) + g(&t.timeouts) + g(&t.unavailable) + g(&t.dropped_futures) + g(&t.dropped_after_grant),
        g(&t.attempts),
        "every acquire is accounted for"
    );
    // Paths taken by the roll of the seeded generator alone, whatever the
    // timing: each seed has hundreds of them.
    assert!(g(&t.grants) > 0, "seed {seed}: no acquire was granted");
    assert!(g(&t.never_polled) > 0, "seed {seed}: no acquire future was dropped before its first poll");
    println!(
        "storm seed {seed} ({:?}, check_interval {check:?}): {ACQUIRES} rounds from {TASKS} tasks, {} acquires: {} grants, {} timeouts, \
         {} unavailable, {} dropped futures ({} never polled), {} dropped after grant (+{handed_back} in the quiet phase); {} jobs ({} handles kept, \
         {} awaited, {} dropped); leases: {} released, {} dropped",
        started_at.elapsed(),
        g(&t.attempts),
        g(&t.grants),
        g(&t.timeouts),
        g(&t.unavailable),
        g(&t.dropped_futures),
        g(&t.never_polled),
        g(&t.dropped_after_grant),
        g(&t.jobs),
        g(&t.handles_kept),
        g(&t.handles_awaited),
        g(&t.handles_dropped),
        g(&t.released),
        g(&t.dropped_leases),
    );
    m.stop().await;
    tally
}

/// Waits until nothing is leased or waiting, every pool is idle and the
/// pool count is back to the desired count (here the minimum, 1).
async fn back_to_one_idle_pool<R: Runtime + Default>(m: &LeasedExecutorManager<R>) {
    let s =
        quiescent::<R>(m, "quiescence: nothing leased or waiting, every pool idle, total == desired").await;
    assert_eq!(
        (s.leased, s.waiting, s.available, s.total, s.desired_executor_count),
        (0, 0, 1, 1, 1),
        "{s:?}"
    );
    assert!(s.leases.is_empty(), "{s:?}");
    assert_eq!(m.waiting_count(), 0);
}

/// The quiet phase after a storm: with every pool held, queue one acquire
/// (one poll), release one holder so that the pool is granted to it, and
/// drop it without polling again, many times over. Each time the grant must
/// come back: nothing waiting, the other holders still leased, and a fresh
/// acquire served at once. Returns the number of grants dropped this way.
async fn grant_then_drop<R: Runtime + Default>(m: &LeasedExecutorManager<R>, rng: &mut StdRng) -> usize {
    let rounds = 200;
    for _ in 0..rounds {
        let mut holders = Vec::new();
        while let Ok(lease) = m.try_acquire().await {
            holders.push(lease);
        }
        assert_eq!(holders.len(), 3, "every pool is free between rounds: {:?}", m.stats());
        let flag = Arc::new(Flag::default());
        let mut fut = m.acquire().into_future();
        assert!(poll_flagged(&mut fut, &flag).is_pending(), "all pools are held: the acquire queues");
        assert_eq!(m.waiting_count(), 1);
        let released = holders.swap_remove(rng.random_range(0..holders.len()));
        if rng.random_bool(0.5) {
            released.release()
        } else {
            drop(released)
        }
        assert!(flag.woken(), "the released pool is granted to the only waiter at once");
        assert_eq!(
            (m.waiting_count(), m.leased_count()),
            (0, 3),
            "granted: leased until taken or given back"
        );
        drop(fut);
        assert_eq!((m.waiting_count(), m.leased_count()), (0, 2), "the dropped grant is given back");
        let again = m.try_acquire().await.expect("the given-back capacity is there");
        drop(again);
        drop(holders);
    }
    rounds
}

/// One task's share of the storm; returns the handles it kept, with the
/// value each job must produce.
async fn storm_task<R: Runtime + Default>(
    m: LeasedExecutorManager<R>,
    seed: u64,
    acquires: usize,
    tally: Arc<Tally>,
) -> Vec<(u64, JobHandle<u64>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kept = Vec::new();
    for _ in 0..acquires {
        // One acquire per round (the hand-off branch adds a second).
        Tally::bump(&tally.attempts);
        let lease = match rng.random_range(0..100) {
            // No-wait attempt.
            0..25 => match m.try_acquire().await {
                Ok(lease) => Some(lease),
                Err(Error::Unavailable) => {
                    Tally::bump(&tally.unavailable);
                    None
                }
                Err(e) => panic!("try_acquire: {e}"),
            },
            // A random timeout, zero included.
            25..55 => {
                let timeout = Duration::from_micros(rng.random_range(0..=5_000));
                match m.acquire().timeout(timeout).await {
                    Ok(lease) => Some(lease),
                    Err(Error::Timeout(t)) => {
                        assert_eq!(t, timeout);
                        Tally::bump(&tally.timeouts);
                        None
                    }
                    Err(e) => panic!("acquire with timeout: {e}"),
                }
            }
            // Dropped at a random point: before the first poll, or after a
            // few polls with other tasks running in between.
            55..70 => {
                let mut fut = m.acquire().into_future();
                let polls = rng.random_range(0..4);
                let mut got = None;
                for _ in 0..polls {
                    if let Poll::Ready(out) = poll_once(&mut fut).await {
                        got = Some(out);
                        break;
                    }
                    yield_now().await;
                }
                match got {
                    Some(out) => Some(out.expect("an acquire without timeout succeeds")),
                    None => {
                        if polls == 0 {
                            Tally::bump(&tally.never_polled);
                        }
                        Tally::bump(&tally.dropped_futures);
                        drop(fut);
                        None
                    }
                }
            }
            // Between a grant and the first poll: queue an acquire with one
            // poll while holding a lease, release the holder (its pool goes
            // to the first waiter, often this one), drop without polling.
            70..80 => match m.acquire().timeout(Duration::from_millis(5)).await {
                Err(Error::Timeout(_)) => {
                    Tally::bump(&tally.timeouts);
                    continue;
                }
                Err(e) => panic!("holder acquire: {e}"),
                Ok(holder) => {
                    Tally::bump(&tally.grants);
                    let flag = Arc::new(Flag::default());
                    Tally::bump(&tally.attempts);
                    let mut fut = m.acquire().into_future();
                    match poll_flagged(&mut fut, &flag) {
                        Poll::Ready(out) => {
                            drop(holder);
                            Some(out.expect("an acquire without timeout succeeds"))
                        }
                        Poll::Pending => {
                            drop(holder);
                            // Let the queue move (without polling) until
                            // this acquire is granted or a random number of
                            // scheduler turns has passed: turns, not time,
                            // so that a loaded machine sees grants here as
                            // often as an idle one.
                            let linger = rng.random_range(0..=400usize);
                            let mut turns = 0;
                            while !flag.woken() && turns < linger {
                                yield_now().await;
                                turns += 1;
                            }
                            // Woken means granted: no timeout, no stop.
                            if flag.woken() {
                                Tally::bump(&tally.dropped_after_grant);
                            } else {
                                Tally::bump(&tally.dropped_futures);
                            }
                            drop(fut);
                            None
                        }
                    }
                }
            },
            // Plain wait (generous timeout: lost capacity shows as a
            // timeout here instead of a hang).
            _ => match m.acquire().timeout(Duration::from_secs(10)).await {
                Ok(lease) => Some(lease),
                Err(e) => panic!("a plain acquire failed (capacity lost?): {e}; {:?}", m.stats()),
            },
        };
        if let Some(lease) = lease {
            Tally::bump(&tally.grants);
            use_lease(lease, &mut rng, &tally, &mut kept).await;
        }
    }
    kept
}

/// Submits a few tiny jobs, keeps, awaits or drops their handles, then
/// releases or drops the lease (jobs may still be queued or running).
async fn use_lease<R: Runtime + Default>(
    lease: Lease<R>,
    rng: &mut StdRng,
    tally: &Tally,
    kept: &mut Vec<(u64, JobHandle<u64>)>,
) {
    for _ in 0..rng.random_range(0..4) {
        let x: u64 = rng.random();
        let nap = rng.random_bool(0.2);
        let handle = lease
            .submit(move || {
                if nap {
                    std::thread::sleep(Duration::from_micros(200));
                }
                x.wrapping_mul(3)
            })
            .expect("a live lease accepts jobs");
        Tally::bump(&tally.jobs);
        match rng.random_range(0..3) {
            0 => {
                Tally::bump(&tally.handles_kept);
                kept.push((x.wrapping_mul(3), handle));
            }
            1 => {
                Tally::bump(&tally.handles_dropped);
                drop(handle);
            }
            _ => {
                Tally::bump(&tally.handles_awaited);
                assert_eq!(handle.await.expect("job"), x.wrapping_mul(3));
            }
        }
    }
    for _ in 0..rng.random_range(0..3) {
        yield_now().await;
    }
    if rng.random_bool(0.3) {
        lease.release();
        assert!(matches!(lease.submit(|| 0), Err(Error::LeaseReleased)), "a released lease refuses jobs");
        Tally::bump(&tally.released);
    } else {
        Tally::bump(&tally.dropped_leases);
    }
    drop(lease);
}

/// The storm's watchdog: a budget per seed, since its work (and so its time
/// on a loaded machine) grows with the seeds, not the 30 s of other tests.
pub(crate) fn storm_serial(name: &'static str, body: impl FnOnce() + Send + 'static) {
    let seeds = crate::seeds(SEEDS).len().max(1) as u32;
    crate::serial_for(Duration::from_secs(60) * seeds, name, body);
}

per_runtime!(crate::storm::storm_serial => cancellation_storm);
