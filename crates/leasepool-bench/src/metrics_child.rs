//! `leasepool-bench[-metrics] --metrics-child WHAT recorder|none [--quick]`:
//! one S13 measurement in a process of its own, printed as
//! `VALUE\t<figure>`. Every S13 figure is taken so (in this binary for
//! "metrics off", in `leasepool-bench-metrics`, built with the `metrics`
//! feature, for "on"), so that each compares fresh processes alike. With
//! `recorder` (the `metrics` build only), a Prometheus recorder (with
//! histogram buckets) is installed first (so the manager registers its
//! handles with it) and a thread renders it once a second, as a scrape
//! would; with `none`, the
//! manager's handles are the facade's no-ops.

use std::process::ExitCode;
#[cfg(feature = "metrics")]
use std::time::Duration;

use crate::harness::Budget;
use crate::scenarios::measure;

/// How often the recorder is rendered (a scrape drains its histograms).
#[cfg(feature = "metrics")]
const SCRAPE: Duration = Duration::from_secs(1);

/// Histogram buckets, in seconds: 1 µs to 10 s.
#[cfg(feature = "metrics")]
const BUCKETS: [f64; 15] =
    [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0, 10.0];

pub(crate) fn run(args: &[String]) -> ExitCode {
    let (what, recorder, quick) = match args {
        [what, mode, rest @ ..] if mode == "recorder" || mode == "none" => {
            (what.as_str(), mode == "recorder", rest.iter().any(|a| a == "--quick"))
        }
        _ => {
            eprintln!("usage: leasepool-bench-metrics --metrics-child WHAT recorder|none [--quick]");
            return ExitCode::from(2);
        }
    };
    if recorder && !install_recorder() {
        return ExitCode::FAILURE;
    }
    match measure(what, &Budget::new(quick)) {
        Ok(v) => {
            println!("VALUE\t{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Installs a Prometheus recorder, rendered once a second, whose
/// histograms have buckets (Prometheus histograms rather than the
/// exporter's default summaries: what a service scraped by Prometheus
/// usually sets, since buckets aggregate across instances).
#[cfg(feature = "metrics")]
fn install_recorder() -> bool {
    let Ok(builder) = metrics_exporter_prometheus::PrometheusBuilder::new().set_buckets(&BUCKETS) else {
        eprintln!("invalid histogram buckets");
        return false;
    };
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        eprintln!("a recorder is already installed");
        return false;
    }
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(SCRAPE);
            std::hint::black_box(handle.render());
        }
    });
    true
}

#[cfg(not(feature = "metrics"))]
fn install_recorder() -> bool {
    eprintln!("a recorder needs the build with `--features metrics` (leasepool-bench-metrics)");
    false
}
