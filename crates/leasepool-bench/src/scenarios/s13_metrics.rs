//! S13: what the `metrics` feature costs: S1 (`try_acquire` or `acquire`,
//! then drop, ns/op) and S2 (a lease per tiny job, 64 tasks, jobs/s) with the
//! feature off (this binary) and on (`leasepool-bench-metrics`, the same
//! crate built with `--features metrics`), interleaved run by run. With the
//! feature on, each run is measured twice: with a Prometheus recorder
//! installed (what a service pays: every gauge, counter and histogram
//! recorded, scraped once a second) and with none (the facade's no-op
//! handles).
//!
//! Every figure is taken in a fresh process (`--metrics-child WHAT`, see
//! `metrics_child.rs`), this binary's for "off" and the sibling's for "on",
//! so that the rows differ only in the build; `cargo xtask bench` builds
//! the sibling next to this binary.

use std::process::Command;
use std::time::Duration;

use super::s1_acquire::s1_leasepool;
use super::s2_lease_per_job::s2_leasepool;
use super::{TokioRt, med};
use crate::execs::Tokio;
use crate::harness::{Better, Budget, Impl, Samples, Watchdog, interleave, run_command};
use crate::report::{Comparison, Group, Report, Target};

/// The sibling binary: this crate with the `metrics` feature.
const SIBLING: &str = "leasepool-bench-metrics";

/// Bound on one run of the sibling.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// The most the feature may cost, as a ratio of time per operation.
const MAX_OVERHEAD: f64 = 1.10;

/// One measurement: what, and its row names off / on without a recorder /
/// on with one.
struct Case {
    what: &'static str,
    off: &'static str,
    noop: &'static str,
    on: &'static str,
}

const S1_TRY: Case = Case {
    what: "s1-try",
    off: "S1 try_acquire+drop, metrics off",
    noop: "S1 try_acquire+drop, metrics on, no recorder",
    on: "S1 try_acquire+drop, metrics on, prometheus recorder",
};
const S1_ACQ: Case = Case {
    what: "s1-acquire",
    off: "S1 acquire+drop, metrics off",
    noop: "S1 acquire+drop, metrics on, no recorder",
    on: "S1 acquire+drop, metrics on, prometheus recorder",
};
const S2: Case = Case {
    what: "s2",
    off: "S2 lease per job, metrics off",
    noop: "S2 lease per job, metrics on, no recorder",
    on: "S2 lease per job, metrics on, prometheus recorder",
};

/// Runs `what` in this process (the binary it was built into decides
/// whether the feature is on).
pub(crate) fn measure(what: &str, b: &Budget) -> Result<f64, String> {
    match what {
        "s1-try" => Ok(s1_leasepool(b, false)),
        "s1-acquire" => Ok(s1_leasepool(b, true)),
        "s2" => Ok(s2_leasepool::<TokioRt, _>(&Tokio::new(), b)),
        other => Err(format!("unknown measurement {other:?}")),
    }
}

/// Runs `what` in a process of this binary (metrics off) or of the sibling
/// (on), with or without a recorder.
fn child(b: &Budget, what: &str, metrics: bool, recorder: bool) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let sibling =
        if metrics { exe.with_file_name(format!("{SIBLING}{}", std::env::consts::EXE_SUFFIX)) } else { exe };
    if !sibling.exists() {
        return Err(format!(
            "{} is missing: `cargo xtask bench` builds it (leasepool-bench with `--features metrics`)",
            sibling.display()
        ));
    }
    let mut cmd = Command::new(&sibling);
    cmd.args(["--metrics-child", what, if recorder { "recorder" } else { "none" }]);
    if b.quick {
        cmd.arg("--quick");
    }
    let out = run_command(&mut cmd, CHILD_TIMEOUT)?;
    out.lines()
        .find_map(|l| l.strip_prefix("VALUE\t"))
        .ok_or_else(|| format!("{what}: no VALUE line in {out:?}"))?
        .trim()
        .parse()
        .map_err(|e| format!("{what}: {e}"))
}

/// The three rows of each case, in child processes: off, on without a
/// recorder, on with one.
fn impls<'a>(b: &'a Budget, cases: &[&'static Case]) -> Vec<Impl<'a>> {
    cases
        .iter()
        .flat_map(|&case| {
            [(case.off, false, false), (case.noop, true, false), (case.on, true, true)].map(
                |(name, metrics, recorder)| {
                    Impl::fallible(name, move || child(b, case.what, metrics, recorder))
                },
            )
        })
        .collect()
}

pub(crate) fn s13(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let s1 = [&S1_TRY, &S1_ACQ];
    let s1_samples = interleave("S13 (S1)", reps, impls(b, &s1), dog);
    let s2_samples = interleave("S13 (S2)", reps, impls(b, &[&S2]), dog);

    // The cost of the feature with a recorder, as time per operation on /
    // off (S2's time per job is the inverse of its throughput): of the
    // medians, and of the best runs (the least disturbed by the rest of
    // the machine, whose load only ever adds time).
    let best = |samples: &Samples, name: &str, better: Better| {
        samples.get(name).map_or(f64::NAN, |s| if better == Better::Lower { s.min() } else { s.max() })
    };
    for case in s1 {
        let key = format!("S13 {}", case.what);
        let ratio = med(&s1_samples, case.on) / med(&s1_samples, case.off);
        report.targets.push(Target::at_most(&key, "x (on/off)", ratio, MAX_OVERHEAD));
        let ratio = best(&s1_samples, case.on, Better::Lower) / best(&s1_samples, case.off, Better::Lower);
        report.targets.push(Target::at_most(&format!("{key} best runs"), "x (on/off)", ratio, MAX_OVERHEAD));
    }
    let ratio = med(&s2_samples, S2.off) / med(&s2_samples, S2.on);
    report.targets.push(Target::at_most("S13 s2", "x (on/off)", ratio, MAX_OVERHEAD));
    let ratio = best(&s2_samples, S2.off, Better::Higher) / best(&s2_samples, S2.on, Better::Higher);
    report.targets.push(Target::at_most("S13 s2 best runs", "x (on/off)", ratio, MAX_OVERHEAD));

    let notes = |what: &str| {
        vec![
            format!("{what}, leasepool on tokio, one process per run; \"off\": built without the metrics feature"),
            "\"on\": the same crate built with it (leasepool-bench-metrics), with a metrics-exporter-prometheus \
             recorder installed (histograms with buckets, rendered once a second) or none"
                .to_owned(),
            format!(
                "target: time per operation on/off with the recorder <= {MAX_OVERHEAD:.2}, of the medians and of \
                 the best runs"
            ),
        ]
    };
    let comparisons = |cases: &[&Case]| {
        cases
            .iter()
            .map(|c| {
                Comparison::new(
                    &format!("S13 {} metrics", c.what),
                    c.on,
                    &[c.off.to_owned(), c.noop.to_owned()],
                )
            })
            .collect()
    };
    report.groups.push(Group {
        id: "S13",
        title: "metrics feature cost: S1 acquire + release".into(),
        unit: "ns/op",
        better: Better::Lower,
        samples: s1_samples,
        notes: notes("S1: one task, acquire + drop, no work"),
        comparisons: comparisons(&s1),
        chart: false,
        runs: None,
    });
    report.groups.push(Group {
        id: "S13",
        title: "metrics feature cost: S2 lease per job".into(),
        unit: "jobs/s",
        better: Better::Higher,
        samples: s2_samples,
        notes: notes("S2: 64 tasks, acquire, run x + 1, release"),
        comparisons: comparisons(&[&S2]),
        chart: false,
        runs: None,
    });
}
