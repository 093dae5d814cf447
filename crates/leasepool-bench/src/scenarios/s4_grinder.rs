//! S4: the `WorkGrinder` batching tiny jobs from 64 tasks, in jobs/s:
//! leasepool's answer for many tiny jobs, against a raw channel floor,
//! `spawn_blocking` and the Python grinder, and on async-std and smol.
//! A 1-in-flight row shows what happens when batches never fill up.

use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;

use leasepool::Runtime;
use leasepool_bench::{LitePool, manager};

use super::{AsyncStdRt, SmolRt, TASKS, TokioRt, grinder, med, throughput, tiny};
use crate::execs::{AsyncStd, Exec, Smol, Tokio};
use crate::harness::{Better, Budget, Impl, Watchdog, interleave};
use crate::python::Python;
use crate::report::{Comparison, Group, Report, Target};

/// Items each S4 task keeps in flight (64 x 16 = 1024 = 4 batches of 256).
const S4_WINDOW: usize = 16;

const S4_LP: &str = "leasepool grinder (64 tasks x 16 in flight)";
const S4_LP_ONE: &str = "leasepool grinder (64 tasks x 1 in flight)";
const S4_LP_ASYNC_STD: &str = "leasepool grinder, 64 x 16 (async-std)";
const S4_LP_SMOL: &str = "leasepool grinder, 64 x 16 (smol)";
const S4_RAW: &str = "raw floor (8 threads + oneshot), 64 x 16";
const S4_SB: &str = "tokio spawn_blocking, 64 x 16";
const S4_PY: &str = "python grinder 0.1.3 (64 x 16)";

fn s4_leasepool<R: Runtime + Default, E: Exec>(exec: &E, b: &Budget, window: usize) -> f64 {
    exec.block_on(async {
        let m = manager::<R>(4, 2).await;
        let g = grinder(&m, 256, 4).await;
        let v = windowed(exec, b, window, || {
            let g = g.clone();
            // `submit` spelled out (queue now, await the handle later): the
            // future `submit` returns borrows `g`, so this closure could not
            // return it.
            move |i| {
                let job = g.enqueue(move || tiny(i));
                async move { job.expect("enqueue").await.expect("job") }
            }
        })
        .await;
        g.stop(leasepool::StopMode::Drain).await;
        m.stop().await;
        v
    })
}

/// 64 tasks x `window` in flight through `submit`.
async fn windowed<E, S, Fut, T>(exec: &E, b: &Budget, window: usize, make: impl Fn() -> S) -> f64
where
    E: Exec,
    S: FnMut(usize) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    throughput(exec, TASKS, b.run, false, |i, ctl| {
        let mut submit = make();
        async move {
            let mut n = 0;
            let mut in_flight = VecDeque::with_capacity(window);
            while !ctl.stopped() {
                if in_flight.len() == window {
                    black_box(in_flight.pop_front().expect("non-empty").await);
                    n += 1;
                }
                in_flight.push_back(submit(i));
            }
            for f in in_flight {
                black_box(f.await);
                n += 1;
            }
            n
        }
    })
    .await
}

fn s4_raw(b: &Budget) -> f64 {
    let rt = Tokio::new();
    let pool = Arc::new(LitePool::new(8, "raw"));
    let v = rt.block_on(windowed(&rt, b, S4_WINDOW, || {
        let pool = Arc::clone(&pool);
        move |i| pool.submit(move || tiny(i))
    }));
    drop(rt);
    v
}

fn s4_spawn_blocking(b: &Budget) -> f64 {
    let rt = Tokio::new();
    rt.block_on(windowed(&rt, b, S4_WINDOW, || |i| tokio::task::spawn_blocking(move || tiny(i))))
}

pub(crate) fn s4(b: &Budget, dog: &Watchdog, reps: usize, py: &Python, report: &mut Report) {
    let secs = b.run.as_secs_f64();
    let window = S4_WINDOW.to_string();
    let impls = vec![
        Impl::new(S4_LP, || s4_leasepool::<TokioRt, _>(&Tokio::new(), b, S4_WINDOW)),
        Impl::new(S4_LP_ONE, || s4_leasepool::<TokioRt, _>(&Tokio::new(), b, 1)),
        Impl::new(S4_RAW, || s4_raw(b)),
        Impl::new(S4_SB, || s4_spawn_blocking(b)),
        Impl::fallible(S4_PY, || py.run("s4", secs, &[("--window", &window)])),
        Impl::new(S4_LP_ASYNC_STD, || s4_leasepool::<AsyncStdRt, _>(&AsyncStd, b, S4_WINDOW)),
        Impl::new(S4_LP_SMOL, || s4_leasepool::<SmolRt, _>(&Smol, b, S4_WINDOW)),
    ];
    let samples = interleave("S4", reps, impls, dog);
    let lp = med(&samples, S4_LP);
    report.targets.push(Target::at_least("S4 grinder (tokio)", "jobs/s", lp, 1_000_000.0));
    report.targets.push(Target::ratio_at_least(
        "S4 grinder (tokio)",
        ">= 30x the python grinder",
        lp / med(&samples, S4_PY),
        30.0,
    ));
    for (name, key) in [(S4_LP_ASYNC_STD, "S4 grinder (async-std)"), (S4_LP_SMOL, "S4 grinder (smol)")] {
        report.targets.push(Target::at_least(key, "jobs/s", med(&samples, name), 1_000_000.0));
    }
    let mut notes = vec![
        "grinder: batch_size_threshold 256, max_wait 1 ms, max_concurrent_batches 4; each of the 64 tasks keeps \
         16 submit futures in flight (64 x 16 = 4 full batches)"
            .into(),
        "the 1-in-flight row shows why: 64 pending items never reach the 256 threshold, so every batch waits \
         the 1 ms max_wait (ceiling ~64 items/ms)"
            .into(),
        "python's WorkGrinder 0.1.3 runs one batch at a time (no max_concurrent_batches)".into(),
    ];
    if !py.available() {
        notes.push(format!("python skipped: {}", py.reason()));
    }
    report.groups.push(Group {
        id: "S4",
        title: "WorkGrinder, tiny jobs, 64 submitting tasks".into(),
        unit: "jobs/s",
        better: Better::Higher,
        samples,
        notes,
        comparisons: vec![
            Comparison::new(
                "S4 grinder (tokio)",
                S4_LP,
                &[S4_RAW.to_owned(), S4_SB.to_owned(), S4_PY.to_owned()],
            ),
            Comparison::new("S4 grinder, 1 in flight (tokio)", S4_LP_ONE, &[]),
            Comparison::new("S4 grinder (async-std)", S4_LP_ASYNC_STD, &[]),
            Comparison::new("S4 grinder (smol)", S4_LP_SMOL, &[]),
        ],
        chart: true,
        runs: None,
    });
}
