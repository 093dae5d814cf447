//! S5: 1 ms sleeping jobs from 64 tasks on 8 workers, as the share of
//! worker time spent in jobs: whether a lease per job, a lease per 2 jobs
//! and the grinder keep the workers busy once jobs are long enough for the
//! dispatch cost to fade, against `Semaphore(8)` + `spawn_blocking` and a
//! raw channel floor.

use std::collections::VecDeque;
use std::sync::Arc;

use leasepool_bench::{LitePool, manager};
use tokio::sync::Semaphore;

use super::{TASKS, TokioRt, grinder, med, sleep_1ms, throughput};
use crate::execs::{Exec, Tokio};
use crate::harness::{Better, Budget, Impl, Watchdog, interleave};
use crate::report::{Comparison, Group, Report, Target};

const S5_LP: &str = "leasepool lease per job (8 pools x 1 worker)";
const S5_LP2: &str = "leasepool lease per 2 jobs (4 pools x 2 workers)";
const S5_GR: &str = "leasepool grinder (4 x 2, threshold 32, 4 batches)";
const S5_SEM_SB: &str = "tokio Semaphore(8)+spawn_blocking";
const S5_RAW: &str = "raw floor (8 threads + oneshot)";
/// Worker-nanoseconds in one second of 8 workers.
const S5_CAPACITY_NS_PER_SEC: f64 = 8.0 * 1e9;

/// Busy worker-ns per second (the tasks sum what their jobs measured) as a
/// percentage of what 8 workers offer.
fn to_utilisation(busy_ns_per_sec: f64) -> f64 {
    100.0 * busy_ns_per_sec / S5_CAPACITY_NS_PER_SEC
}

fn s5_lease(b: &Budget, pools: usize, per_lease: usize) -> f64 {
    let rt = Tokio::new();
    let v = rt.block_on(async {
        let m = manager::<TokioRt>(pools, 8 / pools).await;
        let v = throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
            let m = m.clone();
            async move {
                let mut busy = 0;
                while !ctl.stopped() {
                    let lease = m.acquire().await.expect("acquire");
                    if ctl.stopped() {
                        break;
                    }
                    let handles: Vec<_> =
                        (0..per_lease).map(|_| lease.submit(sleep_1ms).expect("submit")).collect();
                    for h in handles {
                        let ns = h.await.expect("job");
                        if ctl.in_time() {
                            busy += ns;
                        }
                    }
                    drop(lease);
                }
                busy
            }
        })
        .await;
        m.stop().await;
        v
    });
    to_utilisation(v)
}

fn s5_grinder(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let v = rt.block_on(async {
        let m = manager::<TokioRt>(4, 2).await;
        let g = grinder(&m, 32, 4).await;
        let v = throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
            let g = g.clone();
            async move {
                let mut busy = 0;
                let mut in_flight = VecDeque::with_capacity(4);
                while !ctl.stopped() {
                    in_flight.push_back(g.submit(sleep_1ms));
                    if in_flight.len() >= 4 {
                        let f = in_flight.pop_front().expect("non-empty");
                        let ns = f.await.expect("job");
                        if ctl.in_time() {
                            busy += ns;
                        }
                    }
                }
                drop(in_flight); // withdraws what has not started
                busy
            }
        })
        .await;
        g.stop(leasepool::StopMode::CancelPending).await;
        m.stop().await;
        v
    });
    to_utilisation(v)
}

fn s5_semaphore(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let sem = Arc::new(Semaphore::new(8));
    to_utilisation(rt.block_on(throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
        let sem = Arc::clone(&sem);
        async move {
            let mut busy = 0;
            while !ctl.stopped() {
                let permit = sem.acquire().await.expect("open");
                let ns = tokio::task::spawn_blocking(sleep_1ms).await.expect("job");
                drop(permit);
                if ctl.in_time() {
                    busy += ns;
                }
            }
            busy
        }
    })))
}

fn s5_raw(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = Arc::new(LitePool::new(8, "raw"));
    let v = rt.block_on(throughput(&rt, TASKS, b.s5_run, true, |_, ctl| {
        let pool = Arc::clone(&pool);
        async move {
            let mut busy = 0;
            while !ctl.stopped() {
                let ns = pool.submit(sleep_1ms).await.expect("job");
                if ctl.in_time() {
                    busy += ns;
                }
            }
            busy
        }
    }));
    drop(rt);
    to_utilisation(v)
}

pub(crate) fn s5(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let impls = vec![
        Impl::new(S5_LP, || s5_lease(b, 8, 1)),
        Impl::new(S5_LP2, || s5_lease(b, 4, 2)),
        Impl::new(S5_GR, || s5_grinder(b)),
        Impl::new(S5_SEM_SB, || s5_semaphore(b)),
        Impl::new(S5_RAW, || s5_raw(b)),
    ];
    let samples = interleave("S5", reps, impls, dog);
    // What one "1 ms" job really lasts here, for the notes.
    let real_us = (0..100).map(|_| sleep_1ms()).sum::<u64>() as f64 / 100.0 / 1e3;
    report.targets.push(Target::at_least("S5 lease per job", "% busy", med(&samples, S5_LP), 90.0));
    report.targets.push(Target::at_least("S5 grinder", "% busy", med(&samples, S5_GR), 90.0));
    let peers = vec![S5_SEM_SB.to_owned(), S5_RAW.to_owned()];
    report.groups.push(Group {
        id: "S5",
        title: "1 ms sleeping jobs, 64 tasks, 8 workers: utilisation (% of worker time spent in jobs)".into(),
        unit: "% busy",
        better: Better::Higher,
        samples,
        notes: vec![
            "utilisation = time the jobs finished before the deadline measured themselves running \
             / (8 workers x run time)"
                .into(),
            format!(
                "measured, not counted, because std::thread::sleep(1 ms) lasts {real_us:.0} us here (timer \
                 slack, wake-up): counting 1 ms per job would cap every dispatcher below 100%"
            ),
            "lease per job: 8 pools x 1 worker, the configuration for one job at a time per lease (on \
             4 x 2 a lone job leaves its pool's second worker idle: 50% at most)"
                .into(),
            "grinder: threshold 32 (a batch = 16 ms on 2 workers), max_wait 1 ms, max_concurrent_batches 4, \
             4 in flight per task"
                .into(),
        ],
        comparisons: vec![
            Comparison::new("S5 lease per job", S5_LP, &peers),
            Comparison::new("S5 lease per 2 jobs", S5_LP2, &peers),
            Comparison::new("S5 grinder", S5_GR, &peers),
        ],
        chart: true,
        runs: None,
    });
}
