//! S9: memory: the resident size of an idle 4 x 4 manager against 16 idle
//! channel-fed threads, and the bytes per live lease (core and async API)
//! and per idle pool. Measured by `leasepool-bench-mem`, one fresh process
//! per measurement, so that one run's memory does not blur the next.

use super::{mem, mem_into};
use crate::harness::{Better, Series};
use crate::report::{Comparison, Group, Report};

const S9_IDLE_LP: &str = "leasepool idle manager, 4 pools x 4 workers";
const S9_IDLE_PEER: &str = "deadpool of 4 x 4 channel-fed threads, idle";
const S9_LEASE_CORE: &str = "leasepool-core, per live lease (10,000 leases)";
const S9_LEASE_DRIVER: &str = "leasepool async API, per live lease (1,000 leases)";
const S9_POOL: &str = "leasepool, per idle pool of 1 worker (1,000 pools)";

pub(crate) fn s9(report: &mut Report) {
    eprint!("  S9: ");
    let mut idle = Group {
        id: "S9",
        title: "memory: resident size of an idle manager (VmRSS delta)".into(),
        runs: Some("median of 3 fresh processes each"),
        unit: "KiB",
        better: Better::Lower,
        samples: Default::default(),
        notes: Vec::new(),
        comparisons: vec![Comparison::new("S9 idle manager 4x4 RSS", S9_IDLE_LP, &[S9_IDLE_PEER.into()])],
        chart: false,
    };
    let mut values: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut errors: [Option<String>; 2] = [None, None];
    for _ in 0..3 {
        for (i, which) in ["s9-idle-leasepool", "s9-idle-peer-threads"].into_iter().enumerate() {
            match mem(which) {
                Ok(lines) => values[i].extend(lines.iter().map(|l| l.value)),
                Err(e) => errors[i] = Some(e),
            }
            eprint!(".");
        }
    }
    for ((name, v), error) in [S9_IDLE_LP, S9_IDLE_PEER].into_iter().zip(values).zip(errors) {
        if v.is_empty() {
            idle.samples.skipped.push((name.into(), error.unwrap_or_default()));
        } else {
            idle.notes.push(format!("{name}: runs {v:?} KiB"));
            idle.samples.series.push(Series::new(name, v));
        }
    }
    idle.notes
        .push("thread stacks are mapped lazily: RSS counts the touched pages, not the 2 MiB reserve".into());
    report.groups.push(idle);

    let mut per = Group {
        id: "S9",
        title: "memory: bytes per live lease, and per idle pool".into(),
        runs: Some("one measurement each"),
        unit: "bytes",
        better: Better::Lower,
        samples: Default::default(),
        notes: vec![
            "10,000 live leases through the async API would need 10,000 pools = 10,000 threads; the core is \
             measured with 10,000 and the async API with 1,000 pools x 1 worker, pools created before the leases"
                .into(),
        ],
        comparisons: vec![
            Comparison::new("S9 bytes per live lease (core)", S9_LEASE_CORE, &[]),
            Comparison::new("S9 bytes per live lease (async API)", S9_LEASE_DRIVER, &[]),
            Comparison::new("S9 bytes per idle pool (RSS)", S9_POOL, &[]),
        ],
        chart: false,
    };
    for which in ["s9-lease-core", "s9-lease-driver"] {
        mem_into(&mut per, which, which, |l| match l.key.as_str() {
            "s9-lease-core" => (S9_LEASE_CORE, l.value),
            "s9-lease-driver" => (S9_LEASE_DRIVER, l.value),
            _ => (S9_POOL, l.value * 1024.0),
        });
    }
    eprintln!();
    report.groups.push(per);
}
