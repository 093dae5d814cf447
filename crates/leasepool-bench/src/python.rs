//! The Python original: a venv under `<out>/pyenv` with `leasepool==0.1.3`
//! from PyPI, and `python/bench_leasepool.py` run once per repetition so
//! that its runs interleave with the Rust ones.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::run_command;

/// The PyPI release this project re-imagines.
const VERSION: &str = "0.1.3";
/// Bound on one Python invocation (pip install included).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The Python side, or why it is skipped.
pub(crate) struct Python {
    python: Option<PathBuf>,
    script: PathBuf,
    reason: String,
}

impl Python {
    /// Disabled, with `reason`.
    pub(crate) fn disabled(reason: &str) -> Self {
        Python { python: None, script: PathBuf::new(), reason: reason.into() }
    }

    /// Creates (or reuses) the venv and installs the package. Never fails:
    /// a missing python3, venv or package becomes a skip reason.
    pub(crate) fn setup(out: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python").join("bench_leasepool.py");
        match Self::prepare(out) {
            Ok((python, version)) => {
                eprintln!("python: {version} in {}", out.join("pyenv").display());
                Python { python: Some(python), script, reason: String::new() }
            }
            Err(reason) => {
                eprintln!("python: skipped: {reason}");
                Python { python: None, script, reason }
            }
        }
    }

    fn prepare(out: &Path) -> Result<(PathBuf, String), String> {
        let system = ["python3", "python"]
            .into_iter()
            .find(|p| run_command(Command::new(p).arg("--version"), Duration::from_secs(20)).is_ok())
            .ok_or("no python3 on PATH")?;
        let venv = out.join("pyenv");
        let python = venv.join("bin").join("python");
        if !python.exists() {
            eprintln!("python: creating a venv in {}", venv.display());
            run_command(Command::new(system).args(["-m", "venv"]).arg(&venv), TIMEOUT)
                .map_err(|e| format!("`{system} -m venv` failed: {e}"))?;
        }
        let check = || {
            run_command(
                Command::new(&python)
                    .args(["-c", "import leasepool, importlib.metadata as m; print(m.version('leasepool'))"]),
                Duration::from_secs(30),
            )
            .map(|out| out.trim().to_owned())
        };
        if check().ok().as_deref() != Some(VERSION) {
            eprintln!("python: pip install leasepool=={VERSION}");
            run_command(
                Command::new(&python).args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &format!("leasepool=={VERSION}"),
                ]),
                TIMEOUT,
            )
            .map_err(|e| format!("pip install leasepool=={VERSION} failed: {e}"))?;
        }
        match check() {
            Ok(v) if v == VERSION => {}
            Ok(v) => return Err(format!("found leasepool {v}, wanted {VERSION}")),
            Err(e) => return Err(format!("leasepool not importable after install: {e}")),
        }
        let version = run_command(Command::new(&python).arg("--version"), Duration::from_secs(20))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        Ok((python, format!("{version}, leasepool {VERSION}")))
    }

    pub(crate) fn available(&self) -> bool {
        self.python.is_some()
    }

    pub(crate) fn reason(&self) -> &str {
        &self.reason
    }

    /// Runs one scenario for about `seconds` and returns its figure.
    pub(crate) fn run(&self, scenario: &str, seconds: f64, extra: &[(&str, &str)]) -> Result<f64, String> {
        let python = self.python.as_ref().ok_or_else(|| self.reason.clone())?;
        let mut cmd = Command::new(python);
        cmd.arg(&self.script).arg(scenario).arg("--seconds").arg(format!("{seconds:.3}"));
        for (k, v) in extra {
            cmd.arg(k).arg(v);
        }
        let out = run_command(&mut cmd, Duration::from_secs(60))?;
        let line = out
            .lines()
            .find(|l| l.starts_with("RESULT\t"))
            .ok_or_else(|| format!("no RESULT line in {out:?}"))?;
        let value = line.split('\t').nth(2).ok_or("short RESULT line")?;
        value.parse::<f64>().map_err(|e| format!("bad value {value:?}: {e}"))
    }
}
