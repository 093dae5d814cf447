//! S7: the sans-IO core alone: a checker pass and `poll_timeout` with 10
//! and with 10,000 live leases, in ns/op: whether the core's periodic work
//! stays flat as leases grow (target: 10,000 / 10 at most 3x). No runtime
//! and no peers (they have no such state machine).

use std::hint::black_box;
use std::time::Instant;

use leasepool_bench::{checker_pass, core_with_leases};

use super::med;
use crate::harness::{Better, Budget, Impl, Watchdog, calibrate_sync, interleave};
use crate::report::{Comparison, Group, Report, Target};

fn s7_pass(b: &Budget, live: usize) -> f64 {
    let (mut core, now) = core_with_leases(10_000, 1, live);
    calibrate_sync(b.ns_sample, |n| {
        let t = Instant::now();
        for _ in 0..n {
            checker_pass(&mut core, now);
        }
        t.elapsed()
    })
}

fn s7_poll_timeout(b: &Budget, live: usize) -> f64 {
    let (core, _) = core_with_leases(10_000, 1, live);
    calibrate_sync(b.ns_sample, |n| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(black_box(&core).poll_timeout());
        }
        t.elapsed()
    })
}

const S7_PASS_SMALL: &str = "checker pass, 10 live leases";
const S7_PASS_LARGE: &str = "checker pass, 10000 live leases";
const S7_POLL_SMALL: &str = "poll_timeout, 10 live leases";
const S7_POLL_LARGE: &str = "poll_timeout, 10000 live leases";

pub(crate) fn s7(b: &Budget, dog: &Watchdog, reps: usize, report: &mut Report) {
    let impls = vec![
        Impl::new(S7_PASS_SMALL, || s7_pass(b, 10)),
        Impl::new(S7_PASS_LARGE, || s7_pass(b, 10_000)),
        Impl::new(S7_POLL_SMALL, || s7_poll_timeout(b, 10)),
        Impl::new(S7_POLL_LARGE, || s7_poll_timeout(b, 10_000)),
    ];
    let samples = interleave("S7", reps, impls, dog);
    let pass = med(&samples, S7_PASS_LARGE) / med(&samples, S7_PASS_SMALL);
    let poll = med(&samples, S7_POLL_LARGE) / med(&samples, S7_POLL_SMALL);
    report.targets.push(Target::at_most("S7 checker pass, 10000 / 10 leases", "x", pass, 3.0));
    report.targets.push(Target::at_most("S7 poll_timeout, 10000 / 10 leases", "x", poll, 3.0));
    report.groups.push(Group {
        id: "S7",
        title: "leasepool-core: checker pass and poll_timeout vs live leases (max_pools 10,000)".into(),
        unit: "ns/op",
        better: Better::Lower,
        samples,
        notes: vec![
            "checker pass = notify_scale_changed(now) + handle_timeout(now) + check_due + handle_units(now, due, 0) + draining poll_action; \
             no runtime, no peers (the peers have no such state machine)"
                .into(),
            format!("ratio 10000 / 10: checker pass {pass:.2}, poll_timeout {poll:.2}"),
        ],
        comparisons: vec![
            Comparison::new("S7 checker pass, 10 leases", S7_PASS_SMALL, &[]),
            Comparison::new("S7 checker pass, 10000 leases", S7_PASS_LARGE, &[]),
            Comparison::new("S7 poll_timeout, 10 leases", S7_POLL_SMALL, &[]),
            Comparison::new("S7 poll_timeout, 10000 leases", S7_POLL_LARGE, &[]),
        ],
        chart: false,
        runs: None,
    });
}
