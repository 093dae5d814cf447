//! `leasepool-bench`: leasepool side by side with what users would pick
//! instead, in one run. `cargo xtask bench [--quick]` builds it in release
//! mode and runs it; `crates/leasepool-bench/README.md` lists the scenarios
//! and `src/scenarios.rs` implements them.
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
//! (`scenario leasepool peer peer_value ratio unit`) and
//! `DIR/throughput.svg`.
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
//! `cargo build --release -p leasepool-bench --bins`. The setup both binaries
//! and `benches/nanos.rs` share (runtime, manager, core, the peers'
//! `LitePool`) is this package's library, `src/lib.rs`.

mod execs;
mod harness;
mod python;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use harness::{Better, Budget, Opts, Series, Watchdog, run_command};
use python::Python;
use report::{Comparison, Group, Report, Target};

const USAGE: &str = "\
Usage: leasepool-bench [--quick] [--out DIR] [--no-python] [--only s1,s2,...] [--reps N] [--filter TEXT]

  --quick        short runs and 5 repetitions (about two minutes on 2 cores)
  --out DIR      where summary.tsv, throughput.svg and the Python venv go
                 (default: target/bench)
  --no-python    skip the Python original (leasepool 0.1.3 from PyPI)
  --only LIST    run only these scenarios (s1..s10)
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
    let needs_python = ["s1", "s2", "s4"].iter().any(|s| opts.wants(s));
    let py = if !opts.python {
        Python::disabled("--no-python")
    } else if needs_python {
        Python::setup(&opts.out)
    } else {
        Python::disabled("no python scenario selected")
    };

    let mut report = Report {
        subtitle: format!(
            "{} mode, medians of {reps} interleaved runs; {}; tokio multi-thread, 2 workers",
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
    timed("s8", &mut |r| s8(r));
    timed("s9", &mut |r| s9(r));
    timed("s10", &mut |r| scenarios::s10(&b, &dog, reps, r));

    report.notes.push(format!("scenario wall times: {}", timings.join(", ")));
    report.print(reps);
    let tsv = opts.out.join("summary.tsv");
    let svg = opts.out.join("throughput.svg");
    let mut ok = true;
    for (path, result) in [(&tsv, report.write_tsv(&tsv)), (&svg, report.write_svg(&svg))] {
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

// ---------------------------------------------------------------------------
// S8 / S9 through the sibling binary
// ---------------------------------------------------------------------------

struct MemLine {
    key: String,
    value: f64,
    unit: String,
    note: String,
}

/// Bound on one run of `leasepool-bench-mem` (each takes a second or two).
const MEM_TIMEOUT: Duration = Duration::from_secs(120);

fn mem(which: &str) -> Result<Vec<MemLine>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let sibling = exe.with_file_name(format!("leasepool-bench-mem{}", std::env::consts::EXE_SUFFIX));
    if !sibling.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p leasepool-bench --bins`",
            sibling.display()
        ));
    }
    let text =
        run_command(Command::new(&sibling).arg(which), MEM_TIMEOUT).map_err(|e| format!("{which}: {e}"))?;
    let lines: Vec<MemLine> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 5 && f[0] == "MEM").then(|| MemLine {
                key: f[1].into(),
                value: f[2].parse().unwrap_or(f64::NAN),
                unit: f[3].into(),
                note: f[4].into(),
            })
        })
        .collect();
    if lines.is_empty() { Err(format!("{which}: no MEM lines")) } else { Ok(lines) }
}

const S8_TRY: &str = "leasepool try_acquire+drop (current_thread)";
const S8_ACQ: &str = "leasepool acquire+drop (current_thread)";
const S8_SEM: &str = "tokio Semaphore acquire_owned+drop";
const S8_DP: &str = "deadpool unmanaged get+drop";

fn s8(report: &mut Report) {
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
        match mem(which) {
            Ok(lines) => {
                for l in lines {
                    group.notes.push(format!("{name}: {} {} ({})", l.value, l.unit, l.note));
                    group.samples.series.push(Series { name: name.into(), values: vec![l.value] });
                }
            }
            Err(e) => group.samples.skipped.push((name.into(), e)),
        }
        eprint!(".");
    }
    eprintln!();
    let v = |name: &str| group.samples.get(name).map_or(f64::NAN, |s| s.median());
    report.targets.push(Target::at_most("S8 try_acquire+drop allocations", "allocs/op", v(S8_TRY), 0.0));
    report.targets.push(Target::at_most("S8 acquire+drop allocations", "allocs/op", v(S8_ACQ), 0.0));
    report.groups.push(group);
}

const S9_IDLE_LP: &str = "leasepool idle manager, 4 pools x 4 workers";
const S9_IDLE_PEER: &str = "deadpool of 4 x 4 channel-fed threads, idle";
const S9_LEASE_CORE: &str = "leasepool-core, per live lease (10,000 leases)";
const S9_LEASE_DRIVER: &str = "leasepool async API, per live lease (1,000 leases)";
const S9_POOL: &str = "leasepool, per idle pool of 1 worker (1,000 pools)";

fn s9(report: &mut Report) {
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
            idle.samples.series.push(Series { name: name.into(), values: v });
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
        match mem(which) {
            Ok(lines) => {
                for l in lines {
                    let (name, value) = match l.key.as_str() {
                        "s9-lease-core" => (S9_LEASE_CORE, l.value),
                        "s9-lease-driver" => (S9_LEASE_DRIVER, l.value),
                        _ => (S9_POOL, l.value * 1024.0),
                    };
                    per.notes.push(format!("{name}: {} {} ({})", l.value, l.unit, l.note));
                    per.samples.series.push(Series { name: name.into(), values: vec![value] });
                }
            }
            Err(e) => per.samples.skipped.push((which.into(), e)),
        }
        eprint!(".");
    }
    eprintln!();
    report.groups.push(per);
}
