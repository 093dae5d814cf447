//! S1: acquire + release with no contention and no work, in ns/op: what a
//! lease costs by itself, the price every other scenario pays per grant.
//! leasepool's `try_acquire` and `acquire` run against tokio's
//! `Semaphore::acquire_owned`, deadpool's unmanaged `get`, the Python
//! original, and a floor (two clock reads and two lock/unlock: the least a
//! lease that is stamped at grant and checked at release can cost).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use leasepool_bench::manager;
use tokio::sync::Semaphore;

use super::{TokioRt, med};
use crate::execs::{Exec, Tokio};
use crate::harness::{Better, Budget, Impl, Watchdog, calibrate_async, interleave};
use crate::python::Python;
use crate::report::{Comparison, Group, Report, Target};

const S1_TRY: &str = "leasepool try_acquire+drop";
const S1_ACQ: &str = "leasepool acquire+drop";
const S1_SEM: &str = "tokio Semaphore acquire_owned+drop";
const S1_DP: &str = "deadpool unmanaged get+drop";
const S1_FLOOR: &str = "floor: 2 clock reads + 2 lock/unlock";
const S1_PY_TRY: &str = "python leasepool 0.1.3 acquire(wait=False)+release";
const S1_PY_ACQ: &str = "python leasepool 0.1.3 acquire()+release";

pub(crate) fn s1_leasepool(b: &Budget, wait: bool) -> f64 {
    let rt = Tokio::new();
    let budget = b.ns_sample;
    rt.block_on(async {
        let m = manager::<TokioRt>(4, 2).await;
        let m2 = m.clone();
        let ns = rt
            .spawn(calibrate_async(budget, move |n| {
                let m = m2.clone();
                async move {
                    let t = Instant::now();
                    for _ in 0..n {
                        let lease = if wait { m.acquire().await } else { m.try_acquire().await };
                        drop(black_box(lease.expect("a pool is free")));
                    }
                    t.elapsed()
                }
            }))
            .await;
        m.stop().await;
        ns
    })
}

fn s1_semaphore(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let sem = Arc::new(Semaphore::new(4));
    rt.block_on(rt.spawn(calibrate_async(b.ns_sample, move |n| {
        let sem = Arc::clone(&sem);
        async move {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(Arc::clone(&sem).acquire_owned().await.expect("open")));
            }
            t.elapsed()
        }
    })))
}

/// What any acquire + release that times its leases pays at least: a grant
/// stamps `leased_at` and a release checks hard expiry, each with one clock
/// read, and each updates state shared with other tasks under a lock. No
/// bookkeeping at all: the row bounds S1 from below.
fn s1_floor(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let state = Arc::new(std::sync::Mutex::new(Instant::now()));
    rt.block_on(rt.spawn(calibrate_async(b.ns_sample, move |n| {
        let state = Arc::clone(&state);
        async move {
            let t = Instant::now();
            for _ in 0..n {
                let leased_at = Instant::now();
                *black_box(&state).lock().expect("not poisoned") = leased_at;
                let now = Instant::now();
                black_box(now < *black_box(&state).lock().expect("not poisoned"));
            }
            t.elapsed()
        }
    })))
}

fn s1_deadpool(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = deadpool::unmanaged::Pool::from(vec![0u64; 4]);
    rt.block_on(rt.spawn(calibrate_async(b.ns_sample, move |n| {
        let pool = pool.clone();
        async move {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(pool.get().await.expect("open")));
            }
            t.elapsed()
        }
    })))
}

pub(crate) fn s1(b: &Budget, dog: &Watchdog, reps: usize, py: &Python, report: &mut Report) {
    let py_secs = b.ns_sample.as_secs_f64() * 5.0;
    let impls = vec![
        Impl::new(S1_TRY, || s1_leasepool(b, false)),
        Impl::new(S1_ACQ, || s1_leasepool(b, true)),
        Impl::new(S1_SEM, || s1_semaphore(b)),
        Impl::new(S1_DP, || s1_deadpool(b)),
        Impl::new(S1_FLOOR, || s1_floor(b)),
        Impl::fallible(S1_PY_TRY, || py.run("s1-nowait", py_secs, &[])),
        Impl::fallible(S1_PY_ACQ, || py.run("s1-wait", py_secs, &[])),
    ];
    let samples = interleave("S1", reps, impls, dog);
    let mut notes = vec![
        "one task on a 2-worker tokio runtime, no work; lower is better".to_owned(),
        format!(
            "{S1_FLOOR}: the least an acquire + release pays that stamps the grant and checks expiry at release"
        ),
    ];
    if !py.available() {
        notes.push(format!("python skipped: {}", py.reason()));
    }
    let peers =
        |python: &str| vec![S1_SEM.to_owned(), S1_DP.to_owned(), S1_FLOOR.to_owned(), python.to_owned()];
    for (lp, key) in [(S1_TRY, "S1 try_acquire+drop"), (S1_ACQ, "S1 acquire+drop")] {
        let v = med(&samples, lp);
        report.targets.push(Target::at_most(key, "ns/op", v, 100.0));
        report.targets.push(Target::ratio_at_most(
            key,
            &format!("<= 2x {S1_SEM}"),
            v / med(&samples, S1_SEM),
            2.0,
        ));
        report.targets.push(Target::ratio_at_most(
            key,
            &format!("faster than {S1_DP} (ratio < 1)"),
            v / med(&samples, S1_DP),
            1.0,
        ));
    }
    report.groups.push(Group {
        id: "S1",
        title: "acquire + release, uncontended, no work".into(),
        unit: "ns/op",
        better: Better::Lower,
        samples,
        notes,
        comparisons: vec![
            Comparison::new("S1 try_acquire+drop", S1_TRY, &peers(S1_PY_TRY)),
            Comparison::new("S1 acquire+drop", S1_ACQ, &peers(S1_PY_ACQ)),
        ],
        chart: false,
        runs: None,
    });
}
