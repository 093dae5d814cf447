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

/// `cargo xtask fuzz [seconds]`: the `core_sim` cargo-fuzz target (the core
/// simulation model driven by fuzzer bytes), 600 s by default. Installs
/// cargo-fuzz when it is missing.
pub(crate) fn fuzz(root: &Path, args: &[&str]) -> ExitCode {
    let secs = match args {
        [] => 600,
        [s] => match s.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => return crate::usage_error(&format!("fuzz takes a number of seconds, not {s:?}")),
        },
        _ => return crate::usage_error("fuzz takes at most one argument: seconds"),
    };
    if !has_nightly_tool(&["+nightly", "fuzz", "--version"])
        && !run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))
    {
        eprintln!("cargo xtask fuzz: could not install cargo-fuzz");
        return ExitCode::FAILURE;
    }
    let time = format!("-max_total_time={secs}");
    let ok = run(Command::new("cargo").current_dir(root).args([
        "+nightly",
        "fuzz",
        "run",
        "core_sim",
        "--",
        &time,
        "-print_final_stats=1",
    ]));
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
