//! `cargo xtask fuzz` and `cargo xtask miri`: checks that need the nightly
//! toolchain. Neither is part of `cargo xtask ci`.

use std::path::Path;
use std::process::{Command, ExitCode};

/// Runs `cmd`, echoing it first; true when it exits 0.
fn run(cmd: &mut Command) -> bool {
    eprintln!("==> {cmd:?}");
    cmd.status().is_ok_and(|s| s.success())
}

fn has_nightly_tool(args: &[&str]) -> bool {
    Command::new("cargo").args(args).output().is_ok_and(|o| o.status.success())
}

/// The cargo-fuzz targets: the core simulation model driven by fuzzer
/// bytes, and the process backend's wire format (what a worker process,
/// untrusted, sends its pool).
const FUZZ_TARGETS: [&str; 2] = ["core_sim", "process_frame"];

/// `cargo xtask fuzz [seconds] [target]`: each cargo-fuzz target (or the
/// one named) for `seconds` (600 by default). Installs cargo-fuzz when it
/// is missing.
pub(crate) fn fuzz(root: &Path, args: &[&str]) -> ExitCode {
    let mut secs = 600;
    let mut targets: Vec<&str> = FUZZ_TARGETS.to_vec();
    for arg in args {
        match arg.parse::<u64>() {
            Ok(n) if n > 0 => secs = n,
            _ if FUZZ_TARGETS.contains(arg) => targets = vec![arg],
            _ => {
                return crate::usage_error(&format!(
                    "fuzz takes a number of seconds and a target ({}), not {arg:?}",
                    FUZZ_TARGETS.join(", ")
                ));
            }
        }
    }
    if !has_nightly_tool(&["+nightly", "fuzz", "--version"])
        && !run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))
    {
        eprintln!("cargo xtask fuzz: could not install cargo-fuzz");
        return ExitCode::FAILURE;
    }
    let time = format!("-max_total_time={secs}");
    let mut ok = true;
    for target in targets {
        ok &= run(Command::new("cargo").current_dir(root).args([
            "+nightly",
            "fuzz",
            "run",
            target,
            "--",
            &time,
            "-print_final_stats=1",
        ]));
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `cargo xtask miri`: the core's unit, behaviour and simulation tests under
/// Miri with a reduced simulation (3 seeds x 500 steps) and without the
/// 10,000-lease index tests, which take too long interpreted. Installs the
/// miri component when it is missing.
pub(crate) fn miri(root: &Path, args: &[&str]) -> ExitCode {
    if !args.is_empty() {
        return crate::usage_error("miri takes no arguments");
    }
    if !has_nightly_tool(&["+nightly", "miri", "--version"])
        && !run(Command::new("rustup").args(["+nightly", "component", "add", "miri", "rust-src"]))
    {
        eprintln!("cargo xtask miri: could not install the miri component");
        return ExitCode::FAILURE;
    }
    let ok = run(Command::new("cargo")
        .current_dir(root)
        .env("LEASEPOOL_SIM_SEEDS", "3")
        .env("LEASEPOOL_SIM_STEPS", "500")
        // Miri hides the host environment unless told to forward a variable
        // (and cargo-miri keeps the values it built with: after changing the
        // sizes here, remove target/miri).
        .env("MIRIFLAGS", "-Zmiri-env-forward=LEASEPOOL_SIM_SEEDS -Zmiri-env-forward=LEASEPOOL_SIM_STEPS")
        .args([
            "+nightly",
            "miri",
            "test",
            "-p",
            "leasepool-core",
            "--lib",
            "--test",
            "behaviour",
            "--test",
            "simulation",
            "--",
            "--skip",
            "ten_thousand",
        ]));
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
