//! `leasepool-bench`: leasepool side by side with what users would pick
//! instead, in one run. `cargo xtask bench [--quick]` builds it in release
//! mode and runs it; `crates/leasepool-bench/README.md` lists the scenarios
//! and `src/scenarios/` implements them, one file per scenario.
//!
//! ```text
//! leasepool-bench [--quick] [--out DIR] [--no-python] [--only s1,s2,...] [--reps N]
//! ```
//!
//! Every scenario runs leasepool and its peers interleaved (`for rep { for
//! implementation { run } }`, rotating the starting implementation), prints
//! a table of medians and "leasepool advantage" ratios (> 1: leasepool is
//! better), checks the performance targets set next to each scenario
//! (throughput floors, ratios to peers, flat cost as waiters and leases
//! grow, zero allocations per acquire), and writes `DIR/summary.tsv`
//! (`scenario leasepool peer peer_value ratio unit`),
//! `DIR/throughput.svg` and, when S11 ran, `DIR/latency.svg` and
//! `DIR/latency.tsv` (`runtime setting implementation p50 p99 p99.9`, every
//! implementation of every setting, the peers' second copies included).
//!
//! Why no harness for the timed scenarios: the TSV needs every
//! implementation's median from the same, interleaved run, and criterion
//! and divan each run one benchmark to completion before the next and keep
//! their estimates to themselves (divan prints them; criterion writes JSON
//! per benchmark, never interleaved). So S1 and S7 use a calibrated loop
//! (an iteration count sized to a time budget, many repetitions, median),
//! and `benches/nanos.rs` keeps a divan version of S1 and S7 for
//! statistically richer, one-at-a-time runs (`cargo bench -p leasepool-bench`).
//!
//! S8 and S9 run in the sibling binary `leasepool-bench-mem`, whose counting
//! allocator must not slow the timed scenarios down; build both with
//! `cargo build --release -p leasepool-bench --bins`. S13 runs this binary
//! and `leasepool-bench-metrics` (this crate built with `--features
//! metrics`, which `cargo xtask bench` builds) once per measurement
//! (`--metrics-child`). The setup both binaries
//! and `benches/nanos.rs` share (runtime, manager, core, the peers'
//! `LitePool`) is this package's library, `src/lib.rs`.

mod execs;
mod harness;
mod metrics_child;
mod python;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use harness::{Budget, Opts, Watchdog};
use python::Python;
use report::Report;

const USAGE: &str = "\
Usage: leasepool-bench [--quick] [--out DIR] [--no-python] [--only s1,s2,...] [--reps N] [--filter TEXT]

  --quick        short runs and 5 repetitions (about four minutes on 2 cores)
  --out DIR      where summary.tsv, throughput.svg, latency.svg,
                 latency.tsv and the Python venv go
                 (default: target/bench)
  --no-python    skip the Python original (leasepool 0.1.3 from PyPI)
  --only LIST    run only these scenarios (s1..s13)
  --reps N       repetitions per implementation (default 5 quick, 9 full)
  --filter TEXT  run only implementations whose name contains TEXT (to profile
                 one, e.g. `--only s2 --filter \"leasepool lease per job\"`)
";

/// Thread counts of the smol and async-std global executors, to match the
/// 2 worker threads of the tokio runtime.
const RUNTIME_THREADS: [(&str, &str); 2] = [("SMOL_THREADS", "2"), ("ASYNC_STD_THREAD_COUNT", "2")];

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        quick: false,
        out: PathBuf::from("target/bench"),
        python: true,
        only: None,
        reps: 0,
        filter: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--no-python" => opts.python = false,
            "--out" => opts.out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            "--only" => {
                let list = args.next().ok_or("--only needs a list")?;
                opts.only = Some(list.split(',').map(|s| s.trim().to_lowercase()).collect());
            }
            "--reps" => {
                let n = args.next().ok_or("--reps needs a number")?;
                opts.reps = n.parse().map_err(|e| format!("--reps {n}: {e}"))?;
            }
            "--filter" => opts.filter = Some(args.next().ok_or("--filter needs a text")?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if opts.reps == 0 {
        opts.reps = if opts.quick { 5 } else { 9 };
    }
    Ok(opts)
}

/// Re-runs this binary with the smol / async-std thread counts set (they
/// are read once, from the environment, when those executors start).
fn reexec_with_runtime_threads() -> Option<ExitCode> {
    if RUNTIME_THREADS.iter().all(|(k, _)| std::env::var_os(k).is_some()) {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let status = Command::new(exe).args(std::env::args_os().skip(1)).envs(RUNTIME_THREADS).status().ok()?;
    Some(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown cpu".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpus} cpus, {model}")
}

fn main() -> ExitCode {
    // S12's worker processes are this binary: they serve and never return.
    scenarios::process_init();
    // One S13 measurement, in a process of its own.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--metrics-child") {
        return metrics_child::run(&args[1..]);
    }
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("leasepool-bench: {e}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    if let Some(code) = reexec_with_runtime_threads() {
        return code;
    }
    if let Err(e) = std::fs::create_dir_all(&opts.out) {
        eprintln!("leasepool-bench: cannot create {}: {e}", opts.out.display());
        return ExitCode::FAILURE;
    }
    let b = Budget::new(opts.quick);
    let reps = opts.reps;
    println!("leasepool-bench: {} mode, {reps} interleaved repetitions per implementation", mode(&opts));
    println!("machine: {}", machine());
    println!("runtimes: tokio multi-thread (2 workers); smol and async-std with 2 executor threads");
    println!("leasepool: 4 pools x 2 workers, min_pools 4 (pre-created) unless a scenario says otherwise");

    let started = Instant::now();
    let dog = Watchdog::start(b.run_limit, opts.filter.clone());
    let needs_python = ["s1", "s2", "s4", "s12"].iter().any(|s| opts.wants(s));
    let py = if !opts.python {
        Python::disabled("--no-python")
    } else if needs_python {
        Python::setup(&opts.out)
    } else {
        Python::disabled("no python scenario selected")
    };

    let mut report = Report {
        subtitle: format!(
            "{} mode, {reps} interleaved runs; {}; tokio multi-thread, 2 workers",
            mode(&opts),
            machine()
        ),
        ..Report::default()
    };
    let mut timings = Vec::new();
    let mut timed = |id: &str, f: &mut dyn FnMut(&mut Report)| {
        if opts.wants(id) {
            let t = Instant::now();
            f(&mut report);
            timings.push(format!("{id} {:.1}s", t.elapsed().as_secs_f64()));
        }
    };
    timed("s1", &mut |r| scenarios::s1(&b, &dog, reps, &py, r));
    timed("s2", &mut |r| scenarios::s2(&b, &dog, reps, &py, r));
    timed("s3", &mut |r| scenarios::s3(&b, &dog, reps, r));
    timed("s4", &mut |r| scenarios::s4(&b, &dog, reps, &py, r));
    timed("s5", &mut |r| scenarios::s5(&b, &dog, reps, r));
    timed("s6", &mut |r| scenarios::s6(&b, &dog, reps, r));
    timed("s7", &mut |r| scenarios::s7(&b, &dog, reps, r));
    timed("s8", &mut |r| scenarios::s8(r));
    timed("s9", &mut |r| scenarios::s9(r));
    timed("s10", &mut |r| scenarios::s10(&b, &dog, reps, r));
    timed("s11", &mut |r| scenarios::s11(&b, &dog, reps, r));
    timed("s12", &mut |r| scenarios::s12(&b, &dog, reps, &py, r));
    timed("s13", &mut |r| scenarios::s13(&b, &dog, reps, r));

    report.notes.push(format!("scenario wall times: {}", timings.join(", ")));
    report.print(reps);
    let tsv = opts.out.join("summary.tsv");
    let svg = opts.out.join("throughput.svg");
    let mut written = vec![(tsv.clone(), report.write_tsv(&tsv)), (svg.clone(), report.write_svg(&svg))];
    if !report.latency.is_empty() {
        let lat = opts.out.join("latency.svg");
        written.push((lat.clone(), report.write_latency_svg(&lat)));
        let lat_tsv = opts.out.join("latency.tsv");
        written.push((lat_tsv.clone(), report.write_latency_tsv(&lat_tsv)));
    }
    let mut ok = true;
    for (path, result) in written {
        match result {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("leasepool-bench: cannot write {}: {e}", path.display());
                ok = false;
            }
        }
    }
    println!("total {:.1}s", started.elapsed().as_secs_f64());
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn mode(opts: &Opts) -> &'static str {
    if opts.quick { "quick" } else { "full" }
}
