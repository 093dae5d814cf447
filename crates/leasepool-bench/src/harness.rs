//! Measurement plumbing: options, time budgets, interleaved repetitions,
//! calibrated loops, medians and the watchdog that bounds every run.

use std::future::Future;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Command-line options.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) quick: bool,
    pub(crate) out: PathBuf,
    pub(crate) python: bool,
    /// Scenario ids to run (`s1`, `s2`, ...); `None`: all of them.
    pub(crate) only: Option<Vec<String>>,
    /// Repetitions of every implementation (interleaved).
    pub(crate) reps: usize,
    /// Run only implementations whose name contains this (for profiling).
    pub(crate) filter: Option<String>,
}

impl Opts {
    pub(crate) fn wants(&self, id: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|s| s.eq_ignore_ascii_case(id)))
    }
}

/// How long each measurement lasts; `--quick` shrinks everything.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Whether these are the `--quick` budgets: S13 passes it on to the
    /// processes it measures in, which build their own.
    pub(crate) quick: bool,
    /// One calibrated nanosecond-scale sample (S1, S7).
    pub(crate) ns_sample: Duration,
    /// One throughput run (S2, S4).
    pub(crate) run: Duration,
    /// Jobs per lease holder in S3.
    pub(crate) s3_jobs: usize,
    /// One S5 run (1 ms jobs).
    pub(crate) s5_run: Duration,
    /// Rounds (acquire, 1 ms job, release) of each S10 task.
    pub(crate) s10_rounds: usize,
    /// One S11 run (paced operations), after its warm-up.
    pub(crate) lat_run: Duration,
    /// Upper bound on any single run before the watchdog aborts.
    pub(crate) run_limit: Duration,
}

impl Budget {
    pub(crate) fn new(quick: bool) -> Self {
        if quick {
            Budget {
                quick,
                ns_sample: Duration::from_millis(40),
                run: Duration::from_millis(250),
                s3_jobs: 20_000,
                s5_run: Duration::from_millis(400),
                s10_rounds: 20,
                lat_run: Duration::from_millis(500),
                run_limit: Duration::from_secs(60),
            }
        } else {
            Budget {
                quick,
                ns_sample: Duration::from_millis(150),
                run: Duration::from_millis(600),
                s3_jobs: 50_000,
                s5_run: Duration::from_millis(1000),
                s10_rounds: 50,
                lat_run: Duration::from_millis(1200),
                run_limit: Duration::from_secs(120),
            }
        }
    }
}

/// Whether a larger figure is better (jobs/s) or a smaller one (ns/op).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    Higher,
    Lower,
}

impl Better {
    /// leasepool's figure against a peer's, oriented so that > 1 means
    /// leasepool is better.
    pub(crate) fn advantage(self, leasepool: f64, peer: f64) -> f64 {
        match self {
            Better::Higher => oriented(leasepool, peer),
            Better::Lower => oriented(peer, leasepool),
        }
    }
}

/// `a / b` with the zero cases spelled out: 0/0 is a tie (1), x/0 is inf.
pub(crate) fn oriented(a: f64, b: f64) -> f64 {
    if a == 0.0 && b == 0.0 { 1.0 } else { a / b }
}

/// One implementation's samples, one per repetition.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) values: Vec<f64>,
    /// The figure of all repetitions taken together, where one exists and
    /// says more than their median: a percentile of every operation of
    /// every run, where one run holds too few operations for its tail.
    pub(crate) pooled: Option<f64>,
}

impl Series {
    pub(crate) fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Series { name: name.into(), values, pooled: None }
    }

    pub(crate) fn median(&self) -> f64 {
        median(&self.values)
    }

    /// The figure tables, ratios and targets use: the pooled one if any,
    /// else the median of the runs.
    pub(crate) fn figure(&self) -> f64 {
        self.pooled.unwrap_or_else(|| self.median())
    }

    pub(crate) fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub(crate) fn max(&self) -> f64 {
        self.values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

/// A runnable implementation of a scenario: each call is one repetition and
/// returns its figure, or an error that drops the implementation from the
/// rest of the run (e.g. Python unavailable).
pub(crate) struct Impl<'a> {
    pub(crate) name: String,
    pub(crate) run: Box<dyn FnMut() -> Result<f64, String> + 'a>,
}

impl<'a> Impl<'a> {
    pub(crate) fn new(name: impl Into<String>, run: impl FnMut() -> f64 + 'a) -> Self {
        let mut run = run;
        Impl { name: name.into(), run: Box::new(move || Ok(run())) }
    }

    pub(crate) fn fallible(name: impl Into<String>, run: impl FnMut() -> Result<f64, String> + 'a) -> Self {
        Impl { name: name.into(), run: Box::new(run) }
    }
}

/// What an interleaved run produced.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    pub(crate) series: Vec<Series>,
    /// Implementations dropped, with the reason.
    pub(crate) skipped: Vec<(String, String)>,
}

impl Samples {
    pub(crate) fn get(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }
}

/// Runs every implementation `reps` times, interleaved: repetition `r` runs
/// all of them, starting at a rotating offset so no implementation always
/// goes first. Each run is bounded by the watchdog.
pub(crate) fn interleave(label: &str, reps: usize, mut impls: Vec<Impl<'_>>, dog: &Watchdog) -> Samples {
    if let Some(f) = dog.filter.as_deref() {
        let exact = impls.iter().any(|i| i.name == f);
        impls.retain(|i| if exact { i.name == f } else { i.name.contains(f) });
    }
    let n = impls.len();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut dropped: Vec<Option<String>> = vec![None; n];
    eprint!("  {label}: ");
    for rep in 0..reps {
        for k in 0..n {
            let i = (k + rep) % n;
            if dropped[i].is_some() {
                continue;
            }
            let imp = &mut impls[i];
            let guard = dog.arm(format!("{label} / {} / rep {}", imp.name, rep + 1));
            let result = (imp.run)();
            drop(guard);
            match result {
                Ok(v) => values[i].push(v),
                Err(reason) => {
                    eprint!("[{} skipped: {reason}] ", imp.name);
                    dropped[i] = Some(reason);
                }
            }
        }
        eprint!("{}", rep + 1);
        eprint!("{}", if rep + 1 < reps { " " } else { "\n" });
    }
    let mut samples = Samples::default();
    for (i, imp) in impls.into_iter().enumerate() {
        match dropped[i].take() {
            Some(reason) if values[i].is_empty() => samples.skipped.push((imp.name, reason)),
            _ => samples.series.push(Series::new(imp.name, std::mem::take(&mut values[i]))),
        }
    }
    samples
}

/// Finds an iteration count whose loop lasts about `budget`, then returns
/// the nanoseconds per iteration of one loop of that length.
pub(crate) fn calibrate_sync(budget: Duration, mut f: impl FnMut(u64) -> Duration) -> f64 {
    let mut iters = PROBE_ITERS;
    let iters = loop {
        match next_iters(budget, iters, f(iters)) {
            Ok(n) => break n,
            Err(n) => iters = n,
        }
    };
    let d = f(iters);
    d.as_nanos() as f64 / iters as f64
}

/// The async twin of [`calibrate_sync`]: `f(n)` runs `n` iterations and
/// returns how long they took.
pub(crate) async fn calibrate_async<F, Fut>(budget: Duration, mut f: F) -> f64
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Duration>,
{
    let mut iters = PROBE_ITERS;
    let iters = loop {
        match next_iters(budget, iters, f(iters).await) {
            Ok(n) => break n,
            Err(n) => iters = n,
        }
    };
    let d = f(iters).await;
    d.as_nanos() as f64 / iters as f64
}

/// Iterations of the first calibration probe.
const PROBE_ITERS: u64 = 64;

/// One calibration step: `iters` iterations took `elapsed`. `Ok(n)`: a loop
/// of `n` iterations lasts about `budget` (the probe lasted at least a tenth
/// of it, or hit the iteration cap); `Err(n)`: probe again with `n`.
fn next_iters(budget: Duration, iters: u64, elapsed: Duration) -> Result<u64, u64> {
    if elapsed >= budget / 10 || iters >= 1 << 34 {
        let per = elapsed.as_nanos().max(1) as f64 / iters as f64;
        Ok(((budget.as_nanos() as f64 / per) as u64).max(1))
    } else {
        Err(iters * 4)
    }
}

/// Bounds every run: if one lasts longer than the limit (a hang in the
/// library or a peer), the process is aborted with a message naming it.
#[derive(Clone)]
pub(crate) struct Watchdog {
    /// `--filter`: carried here because every scenario already gets the watchdog.
    pub(crate) filter: Option<String>,
    current: Arc<Mutex<Option<(String, Instant)>>>,
}

/// Disarms the watchdog when dropped.
pub(crate) struct Armed {
    current: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Drop for Armed {
    fn drop(&mut self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl Watchdog {
    pub(crate) fn start(limit: Duration, filter: Option<String>) -> Self {
        let current: Arc<Mutex<Option<(String, Instant)>>> = Arc::new(Mutex::new(None));
        let watched = Arc::clone(&current);
        std::thread::Builder::new()
            .name("bench-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(200));
                    let slot = watched.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some((label, since)) = slot.as_ref() {
                        if since.elapsed() > limit {
                            eprintln!(
                                "\nleasepool-bench: `{label}` ran longer than its {}s bound; aborting \
                                 (a hang in the library or a peer)",
                                limit.as_secs()
                            );
                            std::process::exit(3);
                        }
                    }
                }
            })
            .expect("spawn the watchdog thread");
        Watchdog { filter, current }
    }

    pub(crate) fn arm(&self, label: String) -> Armed {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((label, Instant::now()));
        Armed { current: Arc::clone(&self.current) }
    }
}

/// Runs `cmd` with a timeout (killing it when it expires); returns its
/// stdout, or an error with its exit status and the tail of its stderr.
/// Both pipes are drained while it runs, so a chatty child cannot block.
pub(crate) fn run_command(cmd: &mut Command, timeout: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", timeout.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        let stderr = stderr.join().unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).rev().take(3).collect();
        Err(format!("{status} ({})", tail.into_iter().rev().collect::<Vec<_>>().join(" | ")))
    }
}

/// `1234567.0` → `1.23M`; keeps tables narrow.
pub(crate) fn human(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
