//! S6: cost per grant with 10 and with 10,000 tasks waiting on one pool,
//! in ns/grant: whether a grant stays as cheap when the wait queue is long
//! (target: 10,000 / 10 at most 1.5x), against tokio's `Semaphore(1)` and
//! a deadpool with one object.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use leasepool_bench::manager;
use tokio::sync::Semaphore;

use super::{TokioRt, med};
use crate::execs::{Exec, Tokio};
use crate::harness::{Better, Budget, Impl, Watchdog, interleave};
use crate::report::{Comparison, Group, Report, Target};

/// Waiting-task counts compared.
const S6_SMALL: usize = 10;
const S6_LARGE: usize = 10_000;

/// Common S6 shape, in steady state: `n` tasks loop "take the only permit,
/// give it back", so about `n - 1` are always queued. The permit is held
/// while the tasks are spawned and queue up (untimed); then it is released
/// and the tasks churn for `dur`. Returns ns per grant: `dur` over the
/// grants completed before the deadline.
async fn s6_churn<H>(
    rt: &Tokio,
    n: usize,
    dur: Duration,
    hold: impl Future<Output = H>,
    take_one: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
    queued: impl Fn(usize) -> bool,
) -> f64 {
    let held = hold.await;
    let take_one = Arc::new(take_one);
    let started = Arc::new(AtomicUsize::new(0));
    // Set just before the permit is released; the deadline follows it.
    let ctl: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (take_one, started, ctl) = (Arc::clone(&take_one), Arc::clone(&started), Arc::clone(&ctl));
            rt.0.spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let mut grants = 0u64;
                let mut deadline = None;
                loop {
                    take_one().await;
                    let now = Instant::now();
                    let d = *deadline.get_or_insert_with(|| {
                        ctl.lock().unwrap_or_else(PoisonError::into_inner).expect("released after start")
                    });
                    if now > d {
                        return grants;
                    }
                    grants += 1;
                }
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < n || !queued(n) {
        tokio::task::yield_now().await;
    }
    *ctl.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + dur);
    drop(held);
    let mut grants = 0;
    for h in handles {
        grants += h.await.expect("task");
    }
    dur.as_nanos() as f64 / grants.max(1) as f64
}

fn s6_leasepool(n: usize, dur: Duration) -> f64 {
    let rt = Tokio::new();
    rt.block_on(async {
        let m = manager::<TokioRt>(1, 1).await;
        let (m1, m2) = (m.clone(), m.clone());
        let v = s6_churn(
            &rt,
            n,
            dur,
            async move { m1.acquire().await.expect("acquire") },
            move || {
                let m = m2.clone();
                Box::pin(async move { drop(m.acquire().await.expect("acquire")) })
            },
            |n| m.waiting_count() >= n,
        )
        .await;
        m.stop().await;
        v
    })
}

/// The peers do not expose their queue length; `started` (checked by
/// s6_churn) counts tasks that reached their first acquire, and a short
/// pause lets the last of them enqueue.
fn settle(_: usize) -> bool {
    std::thread::sleep(Duration::from_millis(2));
    true
}

fn s6_semaphore(n: usize, dur: Duration) -> f64 {
    let rt = Tokio::new();
    let sem = Arc::new(Semaphore::new(1));
    let s2 = Arc::clone(&sem);
    rt.block_on(s6_churn(
        &rt,
        n,
        dur,
        Arc::clone(&sem).acquire_owned(),
        move || {
            let s = Arc::clone(&s2);
            Box::pin(async move { drop(s.acquire().await.expect("open")) })
        },
        settle,
    ))
}

fn s6_deadpool(n: usize, dur: Duration) -> f64 {
    let rt = Tokio::new();
    let pool = deadpool::unmanaged::Pool::from(vec![()]);
    let (p1, p2) = (pool.clone(), pool.clone());
    rt.block_on(s6_churn(
        &rt,
        n,
        dur,
        async move { p1.get().await.expect("open") },
        move || {
            let p = p2.clone();
            Box::pin(async move { drop(p.get().await.expect("open")) })
        },
        settle,
    ))
}

const S6_LP_SMALL: &str = "leasepool, 10 waiting";
const S6_LP_LARGE: &str = "leasepool, 10000 waiting";
const S6_SEM_SMALL: &str = "tokio Semaphore(1), 10 waiting";
const S6_SEM_LARGE: &str = "tokio Semaphore(1), 10000 waiting";
const S6_DP_SMALL: &str = "deadpool unmanaged (1 object), 10 waiting";
const S6_DP_LARGE: &str = "deadpool unmanaged (1 object), 10000 waiting";

pub(crate) fn s6(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let d = b.run;
    let impls = vec![
        Impl::new(S6_LP_SMALL, || s6_leasepool(S6_SMALL, d)),
        Impl::new(S6_LP_LARGE, || s6_leasepool(S6_LARGE, d)),
        Impl::new(S6_SEM_SMALL, || s6_semaphore(S6_SMALL, d)),
        Impl::new(S6_SEM_LARGE, || s6_semaphore(S6_LARGE, d)),
        Impl::new(S6_DP_SMALL, || s6_deadpool(S6_SMALL, d)),
        Impl::new(S6_DP_LARGE, || s6_deadpool(S6_LARGE, d)),
    ];
    let samples = interleave("S6", reps, impls, dog);
    let lp_ratio = med(&samples, S6_LP_LARGE) / med(&samples, S6_LP_SMALL);
    let sem_ratio = med(&samples, S6_SEM_LARGE) / med(&samples, S6_SEM_SMALL);
    let dp_ratio = med(&samples, S6_DP_LARGE) / med(&samples, S6_DP_SMALL);
    report.targets.push(Target::at_most("S6 cost per grant, 10000 / 10 waiting", "x", lp_ratio, 1.5));
    report.extra_rows.push(crate::report::Row {
        scenario: "S6 scaling 10000/10 waiting".into(),
        leasepool: lp_ratio,
        peer: "tokio Semaphore(1)".into(),
        peer_value: sem_ratio,
        ratio: sem_ratio / lp_ratio,
        unit: "x".into(),
    });
    report.extra_rows.push(crate::report::Row {
        scenario: "S6 scaling 10000/10 waiting".into(),
        leasepool: lp_ratio,
        peer: "deadpool unmanaged".into(),
        peer_value: dp_ratio,
        ratio: dp_ratio / lp_ratio,
        unit: "x".into(),
    });
    report.groups.push(Group {
        id: "S6",
        title: "waiter scaling: cost per grant with 10 vs 10,000 tasks waiting on one pool".into(),
        unit: "ns/grant",
        better: Better::Lower,
        samples,
        notes: vec![
            format!(
                "max_pools 1 (workers_per_pool 1); steady state: each of the N tasks loops acquire + release, so \
                 about N - 1 are queued at every grant; {:.0} ms per run, ns per grant = run time / grants \
                 (spawning and queueing the tasks is not timed)",
                d.as_secs_f64() * 1e3
            ),
            format!(
                "scaling ratio (10000 / 10): leasepool {lp_ratio:.2}, tokio Semaphore {sem_ratio:.2}, \
                 deadpool {dp_ratio:.2}"
            ),
        ],
        comparisons: vec![
            Comparison::new(
                "S6 per grant, 10 waiting",
                S6_LP_SMALL,
                &[S6_SEM_SMALL.into(), S6_DP_SMALL.into()],
            ),
            Comparison::new(
                "S6 per grant, 10000 waiting",
                S6_LP_LARGE,
                &[S6_SEM_LARGE.into(), S6_DP_LARGE.into()],
            ),
        ],
        chart: false,
        runs: None,
    });
}
