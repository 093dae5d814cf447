//! S8: allocations per steady-state acquire + release through the async
//! API, in allocs/op (target: none), against tokio's `Semaphore` and
//! deadpool. Counted by `leasepool-bench-mem`, one fresh process per
//! measurement, whose counting allocator would slow the timed scenarios.

use super::mem_into;
use crate::harness::Better;
use crate::report::{Comparison, Group, Report, Target};

const S8_TRY: &str = "leasepool try_acquire+drop (current_thread)";
const S8_ACQ: &str = "leasepool acquire+drop (current_thread)";
const S8_SEM: &str = "tokio Semaphore acquire_owned+drop";
const S8_DP: &str = "deadpool unmanaged get+drop";

pub(crate) fn s8(report: &mut Report) {
    eprint!("  S8: ");
    let runs = [
        ("s8-try-acquire-current-thread", S8_TRY),
        ("s8-acquire-current-thread", S8_ACQ),
        ("s8-try-acquire-multi-thread", "leasepool try_acquire+drop (multi_thread, caller thread)"),
        ("s8-acquire-owner", "leasepool acquire().owner(..)+drop"),
        ("s8-run-job", "leasepool lease.run(x + 1), per job"),
        ("s8-semaphore", S8_SEM),
        ("s8-deadpool", S8_DP),
    ];
    let mut group = Group {
        id: "S8",
        title: "allocations per steady-state acquire + release (async API, tokio)".into(),
        runs: Some("one count over 10,000 cycles each"),
        unit: "allocs/op",
        better: Better::Lower,
        samples: Default::default(),
        notes: vec![
            "counted by allocation-counter (per thread) after 1,000 warm-up cycles, over 10,000".into(),
        ],
        comparisons: vec![
            Comparison::new("S8 try_acquire+drop allocations", S8_TRY, &[S8_SEM.into(), S8_DP.into()]),
            Comparison::new("S8 acquire+drop allocations", S8_ACQ, &[S8_SEM.into(), S8_DP.into()]),
        ],
        chart: false,
    };
    for (which, name) in runs {
        mem_into(&mut group, which, name, |l| (name, l.value));
    }
    eprintln!();
    let v = |name: &str| group.samples.get(name).map_or(f64::NAN, |s| s.median());
    report.targets.push(Target::at_most("S8 try_acquire+drop allocations", "allocs/op", v(S8_TRY), 0.0));
    report.targets.push(Target::at_most("S8 acquire+drop allocations", "allocs/op", v(S8_ACQ), 0.0));
    report.groups.push(group);
}
