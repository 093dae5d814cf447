//! `cargo xtask e2e`: the axum example service scraped by a real
//! Prometheus.
//!
//! Installs Debian's `prometheus` package when `prometheus` is missing,
//! builds and starts the example service on a loopback port, starts
//! Prometheus scraping it every second, drives concurrent load, then asks
//! Prometheus's HTTP API whether the library's metrics arrived: the waiting
//! gauge rose, the granted counter grew, the histograms have samples. Then
//! it runs every PromQL expression of `docs/scaling-out.md`, each of which
//! must parse and return at least one series. Both processes are stopped at
//! the end, whatever happened (the service with SIGTERM, which exercises its
//! graceful shutdown).
//!
//! Every wait polls for readiness under a generous bound; none is a fixed
//! sleep.

mod doc;
mod http;
mod process;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Ci, Outcome, SERVICE_EXAMPLE, executable, target_dir};
use process::{Running, TempDir};

/// The manager's name in the service: the `manager` label of its metrics,
/// as in the page's queries.
const MANAGER: &str = "work";
/// The scrape job, as in the page's queries.
const JOB: &str = "axum-service";
/// The page whose PromQL is run.
const DOC: &str = "docs/scaling-out.md";

/// The service's sizing for the load: 2 pools, up to 6 requests waiting
/// up to 2 s for one; more are turned away at once (503).
const SERVICE_ENV: [(&str, &str); 4] = [
    ("SERVICE_NAME", MANAGER),
    ("SERVICE_MAX_POOLS", "2"),
    ("SERVICE_ACQUIRE_TIMEOUT_MS", "2000"),
    ("SERVICE_MAX_WAITERS", "6"),
];
/// The load: this many clients, each posting one request after another,
/// for this long (and at most `LOAD_MAX_REQUESTS` each); each job hashes
/// `LOAD_ITERATIONS` times (some milliseconds in a debug build). More
/// clients than pools and waiting places: the queue fills, and the rest
/// are turned away, as in an overload.
const LOAD_CLIENTS: usize = 12;
const LOAD_TIME: Duration = Duration::from_secs(8);
const LOAD_MAX_REQUESTS: usize = 2_000;
const LOAD_ITERATIONS: u32 = 4_000;
/// How long a client turned away waits before its next request (less than
/// the `Retry-After`, to keep the load on).
const LOAD_BACKOFF: Duration = Duration::from_millis(100);

/// Bounds on the waits; generous for a cold machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(250);

/// The `e2e` step; `build` is the cargo command that builds the example
/// (and puts it at `target/debug/examples/`).
pub(crate) fn run(ci: &Ci, build: &[&str]) -> Outcome {
    match e2e(ci, build) {
        Ok(()) => Outcome::Ok,
        Err(err) => {
            eprintln!("e2e: {err}");
            Outcome::Fail
        }
    }
}

fn e2e(ci: &Ci, build: &[&str]) -> Result<(), String> {
    let doc_text = fs::read_to_string(ci.root.join(DOC)).map_err(|e| format!("cannot read {DOC}: {e}"))?;
    let doc_queries = doc::queries(DOC, &doc_text);
    if doc_queries.is_empty() {
        return Err(format!("{DOC} has no ```promql block"));
    }
    let prometheus = ensure_prometheus()?;
    if ci.run_cargo(build, &[], None) == Outcome::Fail {
        return Err("building the example service failed".into());
    }
    let exe = executable(&target_dir(&ci.root).join("debug").join("examples"), SERVICE_EXAMPLE);

    // Dropped in reverse order: Prometheus, the service, then the files.
    let tmp = TempDir::new("leasepool-e2e")?;
    let mut service = start_service(&exe)?;
    let service_addr = service.addr.ok_or("the service printed no address")?;
    println!("service listening on {service_addr}");
    let mut prometheus = start_prometheus(&prometheus, tmp.path(), service_addr)?;
    let prometheus_addr = prometheus.addr.ok_or("no Prometheus address")?;
    let mut api = Api { addr: prometheus_addr, process: &mut prometheus };
    api.wait_ready()?;
    println!("prometheus ready on {prometheus_addr}");
    let up = format!(r#"up{{job="{JOB}"}}"#);
    api.poll(&up, "the service scraped", |series| series.iter().any(|s| s.value == 1.0))?;

    let load = drive_load(service_addr);
    println!(
        "load: {LOAD_CLIENTS} clients for {:?}: {} requests, {} x 200, {} x 503, {} other",
        LOAD_TIME, load.sent, load.ok, load.unavailable, load.other
    );
    if load.ok == 0 || load.other > 0 {
        return Err("the load was not served (no 200, or answers other than 200 and 503)".into());
    }
    if load.unavailable == 0 {
        return Err("the load turned nobody away: it did not overload the service".into());
    }

    // What the load must have left in Prometheus, each polled until a
    // scrape after the load shows it.
    let m = format!(r#"manager="{MANAGER}""#);
    let checks = [
        Check::new(
            "the waiting gauge rose under load",
            format!("max_over_time(leasepool_waiting{{{m}}}[5m])"),
            |v| v > 0.0,
        ),
        Check::new(
            format!("the granted counter counts every 200 ({})", load.ok),
            format!("sum(leasepool_leases_granted_total{{{m}}})"),
            move |v| v >= load.ok as f64,
        ),
        Check::new(
            "leases were granted after waiting",
            format!(r#"sum(leasepool_leases_granted_total{{{m},when="after_waiting"}})"#),
            |v| v > 0.0,
        ),
        Check::new(
            format!("the refusals are counted ({} x 503)", load.unavailable),
            format!(r#"sum({{__name__=~"leasepool_acquire_(timeouts|unavailable)_total",{m}}})"#),
            move |v| v >= load.unavailable as f64,
        ),
        Check::new(
            "the acquire wait histogram has samples",
            format!("sum(leasepool_acquire_wait_seconds_count{{{m}}})"),
            |v| v > 0.0,
        ),
        Check::new(
            "the lease hold histogram has samples",
            format!("sum(leasepool_lease_hold_seconds_count{{{m}}})"),
            |v| v > 0.0,
        ),
        Check::new(
            "the job run histogram has samples",
            format!("sum(leasepool_job_run_seconds_count{{{m}}})"),
            |v| v > 0.0,
        ),
        Check::new(
            "the acquire wait p99 is a number of seconds",
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(leasepool_acquire_wait_seconds_bucket{{{m}}}[5m])))"
            ),
            |v| v.is_finite() && v > 0.0,
        ),
    ];
    for Check { what, promql, holds } in &checks {
        let series = api.poll(promql, what, |series| series.iter().any(|s| holds(s.value)))?;
        println!("ok: {what}\n    {promql}\n    => {}", show(&series));
    }

    // The page's queries: each parses and returns a series.
    println!("\n{} PromQL expressions of {DOC}:", doc_queries.len());
    let mut failed = Vec::new();
    for query in &doc_queries {
        match api.query(&query.promql) {
            Ok(series) if !series.is_empty() => {
                println!("ok: {}\n    {}\n    => {}", query.place, query.promql, show(&series));
            }
            Ok(_) => {
                eprintln!("FAIL: {}: no series\n    {}", query.place, query.promql);
                failed.push(&query.place);
            }
            Err(err) => {
                eprintln!("FAIL: {}: {err}\n    {}", query.place, query.promql);
                failed.push(&query.place);
            }
        }
    }

    // The service's graceful shutdown, as an orchestrator would ask for it.
    let status = service.terminate(STOP_TIMEOUT);
    for line in service.output() {
        println!("service: {line}");
    }
    match status {
        Some(status) if status.success() => println!("service shut down on SIGTERM: {status}"),
        Some(status) => return Err(format!("the service exited with {status} on SIGTERM")),
        None => return Err(format!("the service did not exit within {STOP_TIMEOUT:?} of SIGTERM: killed")),
    }
    if !failed.is_empty() {
        let places: Vec<&str> = failed.iter().map(|p| p.as_str()).collect();
        return Err(format!("{DOC}: queries that failed: {}", places.join(", ")));
    }
    Ok(())
}

/// The `prometheus` binary: on the `PATH`, or installed from Debian's
/// package (as root, on a fresh CI machine: `apt-get install`, after an
/// `apt-get update` if the first try fails).
fn ensure_prometheus() -> Result<PathBuf, String> {
    let version = || {
        let out = Command::new("prometheus").arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout });
        out.status.success().then(|| text.lines().next().unwrap_or_default().to_owned())
    };
    if let Some(version) = version() {
        println!("prometheus: {version}");
        return Ok(PathBuf::from("prometheus"));
    }
    println!("prometheus is not installed: installing Debian's package with apt-get");
    let apt = |args: &[&str]| {
        println!("--> DEBIAN_FRONTEND=noninteractive apt-get {}", args.join(" "));
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "--no-install-recommends", "prometheus"];
    let installed = apt(&install) || (apt(&["update"]) && apt(&install));
    if !installed {
        return Err("could not install prometheus with apt-get (is this Debian, as root?)".into());
    }
    let version = version().ok_or("prometheus was installed but does not run")?;
    println!("prometheus: {version}");
    Ok(PathBuf::from("prometheus"))
}

/// Starts the service on a free loopback port and reads the address it
/// prints.
fn start_service(exe: &Path) -> Result<Running, String> {
    let mut command = Command::new(exe);
    command.arg("127.0.0.1:0").envs(SERVICE_ENV);
    let mut service = Running::spawn("service", command, process::Output::Piped)?;
    let line = service.wait_for_line(START_TIMEOUT, |line| line.starts_with("listening on http://"))?;
    let addr = line.trim_start_matches("listening on http://").trim();
    service.addr = Some(addr.parse().map_err(|e| format!("bad address {addr:?}: {e}"))?);
    Ok(service)
}

/// Starts Prometheus on a free loopback port, scraping `target` every
/// second, with its data and log in `dir`.
fn start_prometheus(binary: &Path, dir: &Path, target: SocketAddr) -> Result<Running, String> {
    // A port free now; Prometheus cannot report one it picked itself.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = dir.join("prometheus.yml");
    let yml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n\
         \x20       labels:\n          namespace: {}\n          pod: {}\n",
        doc::NAMESPACE,
        doc::POD
    );
    fs::write(&config, yml).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let mut command = Command::new(binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={addr}"));
    let log = dir.join("prometheus.log");
    let mut prometheus = Running::spawn("prometheus", command, process::Output::File(log))?;
    prometheus.addr = Some(addr);
    Ok(prometheus)
}

/// What a query must show once the load has been scraped.
struct Check {
    what: String,
    promql: String,
    /// True of the value of at least one series.
    holds: Box<dyn Fn(f64) -> bool>,
}

impl Check {
    fn new(what: impl Into<String>, promql: String, holds: impl Fn(f64) -> bool + 'static) -> Self {
        Check { what: what.into(), promql, holds: Box::new(holds) }
    }
}

/// The tallies of the load.
#[derive(Clone, Copy)]
struct Load {
    sent: usize,
    ok: usize,
    unavailable: usize,
    other: usize,
}

/// `LOAD_CLIENTS` threads posting work for `LOAD_TIME`; halfway, the
/// service's `/stats` is printed.
fn drive_load(addr: SocketAddr) -> Load {
    let [sent, ok, unavailable, other] = [(); 4].map(|()| AtomicUsize::new(0));
    let end = Instant::now() + LOAD_TIME;
    thread::scope(|scope| {
        for client in 0..LOAD_CLIENTS {
            let (sent, ok, unavailable, other) = (&sent, &ok, &unavailable, &other);
            scope.spawn(move || {
                for n in 0..LOAD_MAX_REQUESTS {
                    if Instant::now() >= end {
                        break;
                    }
                    let body = format!("client {client} request {n}");
                    let target = format!("/work?iterations={LOAD_ITERATIONS}");
                    sent.fetch_add(1, Ordering::Relaxed);
                    match http::request(addr, "POST", &target, body.as_bytes(), REQUEST_TIMEOUT) {
                        Ok(r) if r.status == 200 && r.text().contains("\"sha256\"") => {
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(r) if r.status == 503 => {
                            thread::sleep(LOAD_BACKOFF);
                            unavailable.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(r) => {
                            eprintln!("load: {} {}", r.status, r.text());
                            other.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(err) => {
                            eprintln!("load: {err}");
                            other.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
        // Halfway, what the service itself says about the load.
        thread::sleep(LOAD_TIME / 2);
        match http::get(addr, "/stats", REQUEST_TIMEOUT) {
            Ok(stats) => println!("service /stats under load: {}", stats.text()),
            Err(err) => eprintln!("service /stats under load: {err}"),
        }
    });
    let get = |n: &AtomicUsize| n.load(Ordering::Relaxed);
    Load { sent: get(&sent), ok: get(&ok), unavailable: get(&unavailable), other: get(&other) }
}

/// One series of an instant query's answer.
struct Series {
    labels: String,
    value: f64,
}

fn show(series: &[Series]) -> String {
    let shown: Vec<String> = series.iter().take(4).map(|s| format!("{} {}", s.labels, s.value)).collect();
    let more = series.len().saturating_sub(4);
    if more > 0 { format!("{} (+{more} more)", shown.join("; ")) } else { shown.join("; ") }
}

/// Prometheus's HTTP API.
struct Api<'a> {
    addr: SocketAddr,
    /// Watched while waiting: a Prometheus that exits fails the wait at once.
    process: &'a mut Running,
}

impl Api<'_> {
    /// Waits until `/-/ready` answers 200, failing early if Prometheus exits.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.process.check_alive()?;
            if http::get(self.addr, "/-/ready", REQUEST_TIMEOUT).is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "Prometheus not ready after {START_TIMEOUT:?}{}",
                    self.process.log_tail()
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// An instant query: its series, or why it failed (a parse error
    /// comes back as `bad_data`).
    fn query(&self, promql: &str) -> Result<Vec<Series>, String> {
        let target = format!("/api/v1/query?query={}", http::encode(promql));
        let response =
            http::get(self.addr, &target, REQUEST_TIMEOUT).map_err(|e| format!("query failed: {e}"))?;
        let json: Value = serde_json::from_slice(&response.body)
            .map_err(|e| format!("HTTP {}: not JSON ({e}): {}", response.status, response.text()))?;
        if json["status"] != "success" {
            return Err(format!("HTTP {}: {}: {}", response.status, json["errorType"], json["error"]));
        }
        let data = &json["data"];
        let number = |pair: &Value| pair[1].as_str().and_then(|v| v.parse::<f64>().ok());
        match data["resultType"].as_str() {
            Some("scalar") => Ok(number(&data["result"])
                .map(|value| Series { labels: String::new(), value })
                .into_iter()
                .collect()),
            Some("vector") => Ok(data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| Some(Series { labels: s["metric"].to_string(), value: number(&s["value"])? }))
                .collect()),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    /// Queries until `holds` is true of the answer, up to `SCRAPE_TIMEOUT`.
    fn poll(
        &mut self,
        promql: &str,
        what: &str,
        holds: impl Fn(&[Series]) -> bool,
    ) -> Result<Vec<Series>, String> {
        let deadline = Instant::now() + SCRAPE_TIMEOUT;
        loop {
            self.process.check_alive()?;
            let answer = self.query(promql);
            match &answer {
                Ok(series) if holds(series) => return answer,
                Err(err) if err.contains("bad_data") => return Err(format!("{promql}: {err}")),
                _ => {}
            }
            if Instant::now() >= deadline {
                let last = answer.map_or_else(|e| e, |s| show(&s));
                return Err(format!(
                    "not true after {SCRAPE_TIMEOUT:?}: {what}\n    {promql}\n    => {last}"
                ));
            }
            thread::sleep(POLL);
        }
    }
}
