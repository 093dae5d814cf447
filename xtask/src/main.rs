//! `cargo xtask`: project automation for the leasepool workspace.
//!
//! Run `cargo xtask help` for the list of commands. `cargo xtask ci` runs every
//! check the project cares about, across all four runtimes, and prints a
//! summary table at the end. It keeps going after a failed step so the summary
//! shows everything, and exits non-zero if any step failed.
//!
//! Besides the standard library, only `serde_json` (to read Prometheus's
//! answers in `e2e`), so the xtask builds fast and offline.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod e2e;
mod nightly;

/// The facade features, one per runtime adapter.
const RUNTIMES: [&str; 4] = ["runtime-tokio", "runtime-async-std", "runtime-smol", "runtime-threads"];
/// Facade features checked with every runtime: the process backend's and
/// the observability features' tests, clippy lints and examples run on each
/// runtime too (the builds without them are checked by the
/// `test (no optional features)` step).
const EXTRA_FEATURES: &str = "process,serde,metrics";
/// The runtime kept by `ci --quick`.
const QUICK_RUNTIME: &str = "runtime-tokio";
/// The workspace members with `publish = false`, left out of `cargo package`
/// (which does not skip them by itself). `fuzz/` is not a workspace member.
const UNPUBLISHED: [&str; 3] = ["leasepool-bench", SERVICE_PACKAGE, "xtask"];
/// The one top-level example that belongs to `leasepool-core`, not the facade.
const CORE_EXAMPLE: &str = "custom_scheduler";
/// The web-service example: a directory of `examples/`, in its own crate.
const SERVICE_EXAMPLE: &str = "axum_service";
const SERVICE_PACKAGE: &str = "leasepool-axum-service";
/// The tests of every crate but the core and the facade (which run per
/// runtime); it builds the web-service example too.
const OTHER_CRATES_TEST: [&str; 7] =
    ["test", "--workspace", "--all-features", "--exclude", "leasepool-core", "--exclude", "leasepool"];
/// How long one example may run (after it has been built) before it is killed.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The cargo-deny checks that work offline (`advisories` must fetch its database).
/// The global `--offline` (which replaced `check --disable-fetch` in current
/// cargo-deny) runs `cargo metadata --offline` and fetches nothing itself; the
/// packages of every target platform must be in the cargo cache, so the step
/// runs `cargo fetch` (crates.io only) first.
const DENY_ARGS: [&str; 7] = ["deny", "--offline", "--all-features", "check", "bans", "licenses", "sources"];
/// Set to `1` to also run `cargo deny check advisories` (needs network access).
const ADVISORIES_ENV: &str = "LEASEPOOL_ADVISORIES";

const HELP: &str = "\
Usage: cargo xtask <command> [options]

Commands:
  ci [--quick]   Run every check: fmt, clippy, tests, docs, examples, cargo-deny,
                 bench build, packaging, e2e. Keeps going after a failure, prints a
                 summary, and exits non-zero if any step failed.
                 --quick: per-runtime clippy and examples run on runtime-tokio only.
  e2e            The axum example (examples/axum_service) under load, scraped
                 every second by a real Prometheus (Debian's `prometheus`,
                 installed with apt-get when missing): checks the metrics
                 through Prometheus's query API, and runs every PromQL
                 expression of docs/scaling-out.md. Also a step of `ci`.
  bench [--quick] [--no-python] [--only s1,s2,...] [--reps N] [--out DIR] [--filter TEXT]
                 Build crates/leasepool-bench in release mode and run every
                 scenario with leasepool and its peers interleaved; prints the
                 tables and targets, writes target/bench/summary.tsv,
                 target/bench/throughput.svg and (with S11)
                 target/bench/latency.svg and latency.tsv. --quick: about
                 four minutes.
                 S13 (the metrics feature's cost) also builds the bench with
                 `--features metrics` (in target/bench-metrics) and runs it
                 as leasepool-bench-metrics, interleaved.
  fuzz [SECS] [TARGET]
                 cargo-fuzz (nightly): core_sim (the core) and process_frame
                 (the process wire format), or the one named; default 600 s each
  miri           the core's tests under Miri (nightly), reduced simulation
  help           Print this message.

Environment:
  CARGO                   cargo binary to use (default: `cargo`)
  LEASEPOOL_ADVISORIES=1  also run `cargo deny check advisories` (needs network)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["help" | "--help" | "-h"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["ci"] => ci(false),
        ["ci", "--quick"] => ci(true),
        ["bench", rest @ ..] => bench(rest),
        ["e2e"] => e2e(),
        ["fuzz", rest @ ..] => nightly::fuzz(&workspace_root(), rest),
        ["miri", rest @ ..] => nightly::miri(&workspace_root(), rest),
        [] => usage_error("missing command"),
        other => usage_error(&format!("unknown arguments: {}", other.join(" "))),
    }
}

/// A runtime feature with [`EXTRA_FEATURES`], as one `--features` value.
fn with_extras(rt: &str) -> String {
    format!("{rt},{EXTRA_FEATURES}")
}

/// The workspace root: xtask/ lives directly under it.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().expect("xtask has a parent directory").to_path_buf()
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}\n");
    eprint!("{HELP}");
    ExitCode::from(2)
}

// ---------------------------------------------------------------------------
// `cargo xtask ci`
// ---------------------------------------------------------------------------

fn ci(quick: bool) -> ExitCode {
    let mut ci = Ci::new();
    println!("workspace root: {}", ci.root.display());
    println!("cargo:          {}", ci.cargo.to_string_lossy());
    println!("mode:           {}", if quick { "quick" } else { "full" });
    if env::var("CI").is_ok_and(|v| v == "true") {
        println!("CI=true:        running in CI");
    }

    // 1. Formatting.
    ci.cargo_step("fmt", &["fmt", "--all", "--", "--check"], &[]);

    // 2. Clippy, once per runtime feature, then everything together.
    for rt in RUNTIMES {
        let name = format!("clippy ({rt})");
        if quick && rt != QUICK_RUNTIME {
            ci.skip(name, "--quick");
            continue;
        }
        let features = with_extras(rt);
        let args = ["clippy", "-p", "leasepool", "--no-default-features", "--features", &features];
        ci.cargo_step(name, &[&args[..], &["--all-targets", "--", "-D", "warnings"]].concat(), &[]);
    }
    ci.cargo_step(
        "clippy (all-features)",
        &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"],
        &[],
    );

    // 3. The core's tests, in release mode for its long simulation test
    //    (with `serde`, for the tests of its serialized form).
    ci.cargo_step("test core", &["test", "-p", "leasepool-core", "--release", "--features", "serde"], &[]);

    // 4. Tests per runtime, then the other crates (the core already ran; the
    //    facade's suites are per runtime, and all features would only run
    //    the same three suites again).
    for rt in RUNTIMES {
        ci.cargo_step(
            format!("test ({rt})"),
            &["test", "-p", "leasepool", "--no-default-features", "--features", &with_extras(rt)],
            &[],
        );
    }
    // The facade as most services build it: the default runtime and no
    // optional feature (the steps above turn every one of them on).
    ci.cargo_step("test (no optional features)", &["test", "-p", "leasepool"], &[]);
    ci.cargo_step("test (other crates)", &OTHER_CRATES_TEST, &[]);

    // 5. Docs, with rustdoc warnings (broken links, ...) as errors: the
    //    public docs, then again with private items, whose doc comments
    //    (and intra-doc links) are checked only then.
    ci.cargo_step(
        "doc",
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    );
    ci.cargo_step(
        "doc (private items)",
        &["doc", "--workspace", "--no-deps", "--all-features", "--document-private-items"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    );

    // 6. Every top-level example on every runtime, then the core's own example.
    match discover_examples(&ci.root) {
        Ok(names) => {
            for rt in RUNTIMES {
                let name = format!("examples ({rt})");
                if quick && rt != QUICK_RUNTIME {
                    ci.skip(name, "--quick");
                } else {
                    let extras = with_extras(rt);
                    let features = ["--no-default-features", "--features", &extras];
                    let what = examples_banner("leasepool", &features, &names);
                    ci.step(name, &what, |ci| run_examples(ci, "leasepool", &features, &names));
                }
            }
        }
        Err(err) => ci.step("examples", "list examples/", |_| {
            eprintln!("cannot list examples/: {err}");
            Outcome::Fail
        }),
    }
    let core_example = [CORE_EXAMPLE.to_owned()];
    let what = examples_banner("leasepool-core", &[], &core_example);
    ci.step(format!("example {CORE_EXAMPLE}"), &what, |ci| {
        run_examples(ci, "leasepool-core", &[], &core_example)
    });
    // The web-service example is a server on tokio only, in a crate of its
    // own: its integration test ("test (other crates)") and the e2e step
    // below run it, over HTTP and under Prometheus.
    ci.skip(format!("example {SERVICE_EXAMPLE}"), "a server: run by its integration test and by e2e");

    // 7. cargo-deny: the offline checks, and advisories only when asked for.
    ci.step("deny", &command_line(&DENY_ARGS, &[]), deny);
    if advisories_requested() {
        ci.cargo_step("deny advisories", &["deny", "--all-features", "check", "advisories"], &[]);
    } else {
        ci.skip(
            "deny advisories",
            &format!("advisory database cannot be fetched offline; set {ADVISORIES_ENV}=1"),
        );
    }

    // 8. Benchmarks build (they are run by `cargo xtask bench`, not here).
    ci.cargo_step("bench build", &["bench", "-p", "leasepool-bench", "--no-run"], &[]);

    // 9. The crates as crates.io would get them: each publishable crate is
    //    packaged and its package built against the others' packages
    //    (`--allow-dirty`: a local run packages the work tree as it is).
    let mut package = vec!["package", "--workspace", "--allow-dirty"];
    for krate in UNPUBLISHED {
        package.extend(["--exclude", krate]);
    }
    forget_packaged_sources();
    ci.cargo_step("package", &package, &[]);

    // 10. The web-service example scraped by a real Prometheus, and the
    //     queries of docs/scaling-out.md.
    //     Its build is the "test (other crates)" build again (`--no-run`):
    //     that build made the example's binary already, and finds
    //     everything up to date, where a build of the example alone would
    //     compile tokio, hyper and axum again for its own feature set.
    let build = [&OTHER_CRATES_TEST[..], &["--no-run"]].concat();
    ci.step("e2e", E2E_WHAT, |ci| e2e::run(ci, &build));

    ci.print_summary()
}

/// Removes the sources cargo extracted from an earlier `cargo package
/// --workspace` of this workspace. Cargo builds each package against the
/// others' through a local registry whose extracted sources it keeps in
/// `$CARGO_HOME/registry/src/-<hash of the registry's path>/NAME-VERSION`,
/// and reuses them as long as the version is the same: a second run from
/// the same folder (a CI clone laid anew where an earlier one was) would
/// verify against the earlier code. Only directories of this workspace's
/// crates (`leasepool*`) in such local registries (names starting with
/// `-`, never crates.io's) are removed.
fn forget_packaged_sources() {
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let Some(src) = cargo_home.map(|home| home.join("registry").join("src")) else { return };
    let Ok(registries) = fs::read_dir(&src) else { return };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = fs::read_dir(registry.path()) else { continue };
        for krate in crates.flatten() {
            if krate.file_name().to_string_lossy().starts_with("leasepool") {
                if let Err(err) = fs::remove_dir_all(krate.path()) {
                    eprintln!("cannot remove {}: {err}", krate.path().display());
                }
            }
        }
    }
}

/// Lists the top-level `examples/*.rs` (sorted), minus the core's own example.
fn discover_examples(root: &Path) -> io::Result<Vec<String>> {
    let dir = fs::read_dir(root.join("examples"))?;
    let mut names = Vec::new();
    for entry in dir {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "rs") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                if stem != CORE_EXAMPLE {
                    names.push(stem.to_owned());
                }
            }
        }
    }
    if names.is_empty() {
        return Err(io::Error::other("no examples in examples/"));
    }
    names.sort();
    Ok(names)
}

/// The banner line of an examples step.
fn examples_banner(package: &str, features: &[&str], names: &[String]) -> String {
    let mut args = vec!["run", "-q", "-p", package];
    args.extend_from_slice(features);
    let names = names.join(", ");
    format!("{} --example NAME, for NAME in: {names}", command_line(&args, &[]))
}

/// Builds the package's examples first (so the timeout only covers running),
/// then runs each one with a timeout. Every example runs even if one fails.
fn run_examples(ci: &Ci, package: &str, features: &[&str], names: &[String]) -> Outcome {
    let mut build = vec!["build", "-q", "-p", package];
    build.extend_from_slice(features);
    for name in names {
        build.extend(["--example", name.as_str()]);
    }
    if ci.run_cargo(&build, &[], None) == Outcome::Fail {
        eprintln!("building the examples of {package} failed");
        return Outcome::Fail;
    }

    let mut failed = Vec::new();
    for name in names {
        let mut run = vec!["run", "-q", "-p", package];
        run.extend_from_slice(features);
        run.extend(["--example", name.as_str()]);
        if ci.run_cargo(&run, &[], Some(EXAMPLE_TIMEOUT)) == Outcome::Fail {
            failed.push(name.as_str());
        }
    }
    if failed.is_empty() {
        Outcome::Ok
    } else {
        eprintln!("failed examples ({package} {}): {}", features.join(" "), failed.join(", "));
        Outcome::Fail
    }
}

/// `cargo deny check bans licenses sources`, installing cargo-deny if needed.
fn deny(ci: &Ci) -> Outcome {
    let installed = ci
        .cargo(&["deny", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        println!("cargo-deny is not installed: installing it with `cargo install --locked cargo-deny`");
        if ci.run_cargo(&["install", "--locked", "cargo-deny"], &[], None) == Outcome::Fail {
            return Outcome::Fail;
        }
    }
    if !advisories_requested() {
        println!(
            "note: `cargo deny check advisories` is skipped: its advisory database cannot be \
             fetched offline (set {ADVISORIES_ENV}=1 to run it)"
        );
    }
    // `cargo metadata` needs the packages of all platforms (windows-sys, wasm-bindgen, ...),
    // which the builds above did not download.
    if ci.run_cargo(&["fetch"], &[], None) == Outcome::Fail {
        return Outcome::Fail;
    }
    ci.run_cargo(&DENY_ARGS, &[], None)
}

fn advisories_requested() -> bool {
    env::var(ADVISORIES_ENV).is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------
// `cargo xtask bench`
// ---------------------------------------------------------------------------

/// Upper bounds on one benchmark run (the binary also bounds each scenario run).
const BENCH_TIMEOUT_QUICK: Duration = Duration::from_secs(15 * 60);
const BENCH_TIMEOUT_FULL: Duration = Duration::from_secs(60 * 60);

/// Builds the benchmark binaries in release mode, then runs `leasepool-bench`
/// with the given options (and `--out <target>/bench` unless one is given).
fn bench(args: &[&str]) -> ExitCode {
    let ci = Ci::new();
    let started = Instant::now();
    let build = ["build", "--release", "-p", "leasepool-bench", "--bins"];
    if ci.run_cargo(&build, &[], None) == Outcome::Fail {
        return ExitCode::FAILURE;
    }
    let target = target_dir(&ci.root);
    let exe = executable(&target.join("release"), "leasepool-bench");
    if wants_scenario(args, "s13") && !build_metrics_sibling(&ci, &target) {
        return ExitCode::FAILURE;
    }
    let mut cmd = Command::new(&exe);
    // The binary would re-exec itself to set these (smol's and async-std's
    // executor threads, matching tokio's 2 workers); setting them here keeps
    // it one process, so the timeout below kills all of it.
    cmd.args(args).current_dir(&ci.root).envs([("SMOL_THREADS", "2"), ("ASYNC_STD_THREAD_COUNT", "2")]);
    if !args.contains(&"--out") {
        cmd.arg("--out").arg(target.join("bench"));
    }
    let timeout = if args.contains(&"--quick") { BENCH_TIMEOUT_QUICK } else { BENCH_TIMEOUT_FULL };
    println!("--> {} {}", exe.display(), args.join(" "));
    let outcome = match run(&mut cmd, Some(timeout)) {
        Ok(Some(status)) if status.success() => ExitCode::SUCCESS,
        Ok(Some(status)) => {
            eprintln!("leasepool-bench failed: {status}");
            ExitCode::FAILURE
        }
        Ok(None) => {
            eprintln!("leasepool-bench timed out after {}s and was killed", timeout.as_secs());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("cannot run {}: {err}", exe.display());
            ExitCode::FAILURE
        }
    };
    println!("cargo xtask bench: {:.1}s (build included)", started.elapsed().as_secs_f64());
    outcome
}

/// The executable `name` in `dir` (`.exe` added on Windows).
fn executable(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{}", env::consts::EXE_SUFFIX))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root), or
/// `target/` at the root.
fn target_dir(root: &Path) -> PathBuf {
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    if target.is_absolute() { target } else { root.join(target) }
}

// ---------------------------------------------------------------------------
// `cargo xtask e2e`
// ---------------------------------------------------------------------------

/// The e2e as a command of its own: one step, and its summary.
fn e2e() -> ExitCode {
    let mut ci = Ci::new();
    let build = ["build", "-p", SERVICE_PACKAGE, "--example", SERVICE_EXAMPLE];
    ci.step("e2e", E2E_WHAT, |ci| e2e::run(ci, &build));
    ci.print_summary()
}

/// The banner of the e2e step.
const E2E_WHAT: &str = "the axum example scraped by a real Prometheus; the PromQL of docs/scaling-out.md";

/// Whether the bench options select scenario `id` (no `--only`: all).
fn wants_scenario(args: &[&str], id: &str) -> bool {
    match args.iter().position(|a| *a == "--only") {
        Some(i) => {
            args.get(i + 1).is_some_and(|list| list.split(',').any(|s| s.trim().eq_ignore_ascii_case(id)))
        }
        None => true,
    }
}

/// Builds S13's sibling, `leasepool-bench` with `--features metrics`, in a
/// target directory of its own (so that neither build invalidates the
/// other), and copies it next to the main binary as
/// `leasepool-bench-metrics`.
fn build_metrics_sibling(ci: &Ci, target: &Path) -> bool {
    let dir = target.join("bench-metrics");
    let dir_arg = dir.to_string_lossy().into_owned();
    let build = [
        "build",
        "--release",
        "-p",
        "leasepool-bench",
        "--bin",
        "leasepool-bench",
        "--features",
        "metrics",
        "--target-dir",
        &dir_arg,
    ];
    if ci.run_cargo(&build, &[], None) == Outcome::Fail {
        return false;
    }
    let from = executable(&dir.join("release"), "leasepool-bench");
    let to = executable(&target.join("release"), "leasepool-bench-metrics");
    match fs::copy(&from, &to) {
        Ok(_) => true,
        Err(err) => {
            eprintln!("cannot copy {} to {}: {err}", from.display(), to.display());
            false
        }
    }
}

// ---------------------------------------------------------------------------
// Step bookkeeping, command running, summary
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Fail,
    Skipped,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "FAIL",
            Outcome::Skipped => "skipped",
        }
    }
}

struct StepResult {
    name: String,
    outcome: Outcome,
    elapsed: Duration,
    note: String,
}

struct Ci {
    root: PathBuf,
    cargo: OsString,
    results: Vec<StepResult>,
    started: Instant,
}

impl Ci {
    fn new() -> Self {
        let root = workspace_root();
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        Ci { root, cargo, results: Vec::new(), started: Instant::now() }
    }

    /// Runs one step, timing it and recording its outcome. `what` goes in the
    /// banner: the command, or a description of the commands the step runs.
    fn step(&mut self, name: impl Into<String>, what: &str, body: impl FnOnce(&Ci) -> Outcome) {
        let name = name.into();
        println!("\n==> {name}: {what}");
        let start = Instant::now();
        let outcome = body(self);
        let elapsed = start.elapsed();
        if outcome == Outcome::Fail {
            eprintln!("==> {name}: FAILED after {:.1}s", elapsed.as_secs_f64());
        }
        self.results.push(StepResult { name, outcome, elapsed, note: String::new() });
    }

    /// A step made of a single cargo command.
    fn cargo_step(&mut self, name: impl Into<String>, args: &[&str], envs: &[(&str, &str)]) {
        self.step(name, &command_line(args, envs), |ci| ci.exec_cargo(args, envs, None));
    }

    fn skip(&mut self, name: impl Into<String>, reason: &str) {
        let name = name.into();
        println!("\n==> {name}: skipped ({reason})");
        let note = reason.to_owned();
        self.results.push(StepResult { name, outcome: Outcome::Skipped, elapsed: Duration::ZERO, note });
    }

    /// `cargo <args>`, run from the workspace root.
    fn cargo(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cargo);
        cmd.args(args).current_dir(&self.root);
        cmd
    }

    /// For steps made of several commands: prints the command, then runs it.
    fn run_cargo(&self, args: &[&str], envs: &[(&str, &str)], timeout: Option<Duration>) -> Outcome {
        println!("--> {}", command_line(args, envs));
        self.exec_cargo(args, envs, timeout)
    }

    /// Runs `cargo <args>` with inherited stdio and reports ok/FAIL.
    fn exec_cargo(&self, args: &[&str], envs: &[(&str, &str)], timeout: Option<Duration>) -> Outcome {
        let mut cmd = self.cargo(args);
        cmd.envs(envs.iter().copied());
        match run(&mut cmd, timeout) {
            Ok(Some(status)) if status.success() => Outcome::Ok,
            Ok(Some(status)) => {
                eprintln!("`cargo {}` failed: {status}", args.join(" "));
                Outcome::Fail
            }
            Ok(None) => {
                let secs = timeout.unwrap_or_default().as_secs();
                eprintln!("`cargo {}` timed out after {secs}s and was killed", args.join(" "));
                Outcome::Fail
            }
            Err(err) => {
                eprintln!("cannot run `cargo {}`: {err}", args.join(" "));
                Outcome::Fail
            }
        }
    }

    fn print_summary(&self) -> ExitCode {
        let failed = self.results.iter().any(|r| r.outcome == Outcome::Fail);
        let width = self.results.iter().map(|r| r.name.len()).max().unwrap_or(0).max("total".len());
        println!("\n==> summary");
        println!("{:<width$}  {:<7}  {:>8}", "step", "result", "seconds");
        println!("{}", "-".repeat(width + 2 + 7 + 2 + 8));
        for r in &self.results {
            let secs = r.elapsed.as_secs_f64();
            let note = if r.note.is_empty() { String::new() } else { format!("  ({})", r.note) };
            println!("{:<width$}  {:<7}  {secs:>8.1}{note}", r.name, r.outcome.label());
        }
        println!("{}", "-".repeat(width + 2 + 7 + 2 + 8));
        let total = if failed { Outcome::Fail } else { Outcome::Ok };
        let secs = self.started.elapsed().as_secs_f64();
        println!("{:<width$}  {:<7}  {secs:>8.1}", "total", total.label());
        if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    }
}

/// `cargo <args>` as a shell would show it, with its environment prefix.
fn command_line(args: &[&str], envs: &[(&str, &str)]) -> String {
    let env_prefix: String = envs.iter().map(|(k, v)| format!("{k}=\"{v}\" ")).collect();
    format!("{env_prefix}cargo {}", args.join(" "))
}

/// Spawns `cmd` with inherited stdio and waits for it. With a timeout, the
/// child is polled and killed once the timeout has passed, and `None` is
/// returned (`cargo run` execs the example on Unix, so killing the child kills
/// the example).
fn run(cmd: &mut Command, timeout: Option<Duration>) -> io::Result<Option<ExitStatus>> {
    let mut child = cmd.spawn()?;
    let Some(timeout) = timeout else {
        return child.wait().map(Some);
    };
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}
