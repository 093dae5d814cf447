//! S2: one lease per tiny job (`x + 1`), 64 concurrent tasks, in jobs/s.
//! The hardest case for leasing: the job is nothing, so the acquire,
//! hand-off and release are the whole cost. Compared with the hand-offs
//! users would write instead (`spawn_blocking`, with or without a
//! semaphore, a deadpool of executors, `blocking::unblock`), raw channel
//! floors and the Python original; leasepool also runs on async-std and
//! smol.

use std::hint::black_box;
use std::sync::Arc;

use leasepool::Runtime;
use leasepool_bench::{LitePool, deadpool_executors, manager};
use tokio::sync::Semaphore;

use super::{AsyncStdRt, SmolRt, TASKS, TokioRt, med, throughput, tiny};
use crate::execs::{AsyncStd, Exec, Smol, Tokio};
use crate::harness::{Better, Budget, Impl, Watchdog, interleave};
use crate::python::Python;
use crate::report::{Comparison, Group, Report, Target};

const S2_LP: &str = "leasepool lease per job";
const S2_LP_ASYNC_STD: &str = "leasepool lease per job (async-std)";
const S2_LP_SMOL: &str = "leasepool lease per job (smol)";
const S2_SB: &str = "tokio spawn_blocking";
const S2_SEM_SB: &str = "tokio Semaphore(8)+spawn_blocking";
const S2_DP: &str = "deadpool emulated lease (4 x 2 threads)";
const S2_UNBLOCK: &str = "blocking::unblock";
const S2_RAW: &str = "raw floor (8 threads + oneshot)";
const S2_RAW4: &str = "raw floor, 4 in flight (4 x 2 threads + oneshot)";
const S2_PY: &str = "python leasepool 0.1.3";

pub(crate) fn s2_leasepool<R: Runtime + Default, E: Exec>(exec: &E, b: &Budget) -> f64 {
    exec.block_on(async {
        let m = manager::<R>(4, 2).await;
        let v = throughput(exec, TASKS, b.run, false, |i, ctl| {
            let m = m.clone();
            async move {
                let mut n = 0;
                while !ctl.stopped() {
                    let lease = m.acquire().await.expect("acquire");
                    black_box(lease.run(move || tiny(i)).await.expect("job"));
                    drop(lease);
                    n += 1;
                }
                n
            }
        })
        .await;
        m.stop().await;
        v
    })
}

fn s2_spawn_blocking(b: &Budget, sem: Option<usize>) -> f64 {
    let rt = Tokio::new();
    let sem = sem.map(|n| Arc::new(Semaphore::new(n)));
    rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| {
        let sem = sem.clone();
        async move {
            let mut n = 0;
            while !ctl.stopped() {
                let permit = match &sem {
                    Some(s) => Some(s.acquire().await.expect("open")),
                    None => None,
                };
                black_box(tokio::task::spawn_blocking(move || tiny(i)).await.expect("job"));
                drop(permit);
                n += 1;
            }
            n
        }
    }))
}

fn s2_deadpool(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = deadpool_executors(4, 2, "dp");
    let v = rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| {
        let pool = pool.clone();
        async move {
            let mut n = 0;
            while !ctl.stopped() {
                let executor = pool.get().await.expect("open");
                black_box(executor.submit(move || tiny(i)).await.expect("job"));
                drop(executor);
                n += 1;
            }
            n
        }
    }));
    drop(rt);
    drop(pool);
    v
}

fn s2_unblock(b: &Budget) -> f64 {
    let rt = Tokio::new();
    rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| async move {
        let mut n = 0;
        while !ctl.stopped() {
            black_box(blocking::unblock(move || tiny(i)).await);
            n += 1;
        }
        n
    }))
}

fn s2_raw(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = Arc::new(LitePool::new(8, "raw"));
    let v = rt.block_on(throughput(&rt, TASKS, b.run, false, |i, ctl| {
        let pool = Arc::clone(&pool);
        async move {
            let mut n = 0;
            while !ctl.stopped() {
                black_box(pool.submit(move || tiny(i)).await.expect("job"));
                n += 1;
            }
            n
        }
    }));
    drop(rt);
    v
}

/// S2's concurrency without leases: a lease per job on 4 pools admits 4
/// jobs in flight, so 4 tasks each keep one job in flight on a 2-thread
/// pool of their own. What is left of S2's time is the executors' hand-off.
fn s2_raw4(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pools: Arc<Vec<LitePool>> = Arc::new((0..4).map(|i| LitePool::new(2, &format!("raw{i}"))).collect());
    let v = rt.block_on(throughput(&rt, 4, b.run, false, |i, ctl| {
        let pools = Arc::clone(&pools);
        async move {
            let pool = &pools[i];
            let mut n = 0;
            while !ctl.stopped() {
                black_box(pool.submit(move || tiny(i)).await.expect("job"));
                n += 1;
            }
            n
        }
    }));
    drop(rt);
    v
}

pub(crate) fn s2(b: &Budget, dog: &Watchdog, reps: usize, py: &Python, report: &mut Report) {
    let secs = b.run.as_secs_f64();
    let impls = vec![
        Impl::new(S2_LP, || s2_leasepool::<TokioRt, _>(&Tokio::new(), b)),
        Impl::new(S2_SB, || s2_spawn_blocking(b, None)),
        Impl::new(S2_SEM_SB, || s2_spawn_blocking(b, Some(8))),
        Impl::new(S2_DP, || s2_deadpool(b)),
        Impl::new(S2_UNBLOCK, || s2_unblock(b)),
        Impl::new(S2_RAW, || s2_raw(b)),
        Impl::new(S2_RAW4, || s2_raw4(b)),
        Impl::fallible(S2_PY, || py.run("s2", secs, &[])),
        Impl::new(S2_LP_ASYNC_STD, || s2_leasepool::<AsyncStdRt, _>(&AsyncStd, b)),
        Impl::new(S2_LP_SMOL, || s2_leasepool::<SmolRt, _>(&Smol, b)),
    ];
    let samples = interleave("S2", reps, impls, dog);
    let lp = med(&samples, S2_LP);
    report.targets.push(Target::at_least("S2 lease per job (tokio)", "jobs/s", lp, 500_000.0));
    report.targets.push(Target::ratio_at_least(
        "S2 lease per job (tokio)",
        &format!(">= 2x {S2_DP}"),
        lp / med(&samples, S2_DP),
        2.0,
    ));
    report.targets.push(Target::ratio_at_least(
        "S2 lease per job (tokio)",
        ">= 70x python leasepool 0.1.3",
        lp / med(&samples, S2_PY),
        70.0,
    ));
    for (name, key) in
        [(S2_LP_ASYNC_STD, "S2 lease per job (async-std)"), (S2_LP_SMOL, "S2 lease per job (smol)")]
    {
        report.targets.push(Target::at_least(key, "jobs/s", med(&samples, name), 500_000.0));
    }
    let peers: Vec<String> = [S2_SB, S2_SEM_SB, S2_DP, S2_UNBLOCK, S2_RAW, S2_RAW4, S2_PY]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut notes = vec![
        "64 tasks, each: acquire a lease, run x + 1 on it, release; peers do the same hand-off their way"
            .into(),
        "async-std and smol rows: leasepool only (the peers are tokio-only), 2 executor threads each".into(),
        format!(
            "\"{S2_RAW4}\": 4 tasks, each with one job in flight on a pool of its own and no lease, \
             the concurrency a lease per job on 4 pools allows"
        ),
    ];
    if !py.available() {
        notes.push(format!("python skipped: {}", py.reason()));
    }
    report.groups.push(Group {
        id: "S2",
        title: "one lease per tiny job (x + 1), 64 concurrent tasks".into(),
        unit: "jobs/s",
        better: Better::Higher,
        samples,
        notes,
        comparisons: vec![
            Comparison::new("S2 lease per job (tokio)", S2_LP, &peers),
            Comparison::new("S2 lease per job (async-std)", S2_LP_ASYNC_STD, &[]),
            Comparison::new("S2 lease per job (smol)", S2_LP_SMOL, &[]),
        ],
        chart: true,
        runs: None,
    });
}
