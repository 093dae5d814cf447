//! The axum example end to end: its service on a loopback port, driven by a
//! real HTTP client (hyper's) with concurrent requests.
//!
//! Each test starts its own service (its own manager, named after the test,
//! which is the `manager` label of its metrics) and shuts it down with the
//! same graceful sequence as SIGTERM. The figures (requests, 503s, requests
//! in flight at shutdown, requests lost) are written to stderr past the test
//! harness's capture, so that a CI log shows them.
//!
//! Nothing here waits on a bare sleep: where the test needs requests to be
//! waiting, it holds the pools itself and polls the manager's counts, under a
//! watchdog.

// The service's own code, as `main.rs` includes it: the test starts it with
// its own settings and shutdown signal.
#[path = "../app/mod.rs"]
mod app;
mod exposition;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use futures_util::future::join_all;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use leasepool::LeasedExecutorManager;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use app::{Ended, Service, Settings};
use exposition::Exposition;

/// Every test's bound: far above what any of them needs.
const WATCHDOG: Duration = Duration::from_secs(120);

/// The process-wide recorder: the first test to start a service installs it.
fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| app::install_metrics().expect("the recorder installs once")).clone()
}

/// Writes a figure where the CI log shows it, past the harness's capture.
fn figure(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// Runs `body` under the watchdog.
async fn watchdog<T>(name: &str, body: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WATCHDOG, body).await {
        Ok(out) => out,
        Err(_) => panic!("{name}: still running after {WATCHDOG:?}"),
    }
}

/// Polls `done` until it holds, under the watchdog.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    watchdog(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A service serving on a loopback port, and a client for it.
struct Running {
    addr: SocketAddr,
    manager: LeasedExecutorManager,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: oneshot::Sender<()>,
    served: JoinHandle<io::Result<Ended>>,
}

/// An answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("{} answered no JSON ({err}): {:?}", self.status, String::from_utf8_lossy(&self.body))
        })
    }
}

/// Settings for a test: its name is the manager's, one worker per pool,
/// waits long enough never to time out unless the test says otherwise.
fn settings(name: &str, max_pools: usize) -> Settings {
    let mut settings = Settings::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.name = name.to_owned();
    settings.max_pools = max_pools;
    settings.max_waiters = 64;
    settings.acquire_timeout = Duration::from_secs(60);
    settings.max_iterations = 100_000;
    settings.shutdown_timeout = Duration::from_secs(60);
    settings
}

impl Running {
    async fn start(settings: Settings) -> Running {
        let listener = TcpListener::bind(settings.addr).await.expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let service = Service::start(settings, metrics()).await.expect("the service starts");
        let manager = service.manager().clone();
        let (shutdown, signal) = oneshot::channel::<()>();
        let served = tokio::spawn(service.serve(listener, async move {
            let _ = signal.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Running { addr, manager, client, shutdown, served }
    }

    async fn request(&self, method: Method, path_and_query: &str, body: Bytes) -> Answer {
        send(&self.client, self.addr, method, path_and_query, body).await
    }

    async fn post_work(&self, query: &str, body: &[u8]) -> Answer {
        self.request(Method::POST, &format!("/work?{query}"), Bytes::copy_from_slice(body)).await
    }

    async fn get(&self, path: &str) -> Answer {
        let answer = self.request(Method::GET, path, Bytes::new()).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}");
        answer
    }

    /// `/stats`, parsed.
    async fn stats(&self) -> Value {
        self.get("/stats").await.json()
    }

    /// Sends the shutdown signal and waits for the service to end.
    async fn shut_down(self) -> Ended {
        let _ = self.shutdown.send(());
        self.served.await.expect("the server task did not panic").expect("the server ran")
    }
}

/// Sends one request and reads the whole answer.
async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    body: Bytes,
) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"))
        .body(Full::new(body))
        .expect("a valid request");
    let response = client.request(request).await.expect("the service answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the whole body").to_bytes();
    Answer { status: parts.status, headers: parts.headers, body }
}

/// The digest the service must answer, computed here.
fn expected_digest(body: &[u8], iterations: u32) -> String {
    let mut digest = Sha256::digest(body);
    for _ in 1..iterations {
        digest = Sha256::digest(digest);
    }
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts a 200 answer carries the right digest.
fn assert_digest(answer: &Answer, body: &[u8], iterations: u32) {
    assert_eq!(answer.status, StatusCode::OK, "body: {:?}", String::from_utf8_lossy(&answer.body));
    let json = answer.json();
    assert_eq!(json["sha256"], expected_digest(body, iterations), "digest of {body:?} x{iterations}");
    assert_eq!(json["iterations"], iterations);
}

/// Asserts an overload answer: 503 with a whole number of seconds in
/// `Retry-After`.
fn assert_503(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let retry = answer.headers.get(header::RETRY_AFTER).expect("a 503 says when to retry");
    let secs: u64 = retry.to_str().expect("ascii").parse().expect("whole seconds");
    assert!(secs >= 1, "Retry-After: {secs}");
}

/// `counters.NAME` of a `/stats` answer.
fn counter(stats: &Value, name: &str) -> u64 {
    stats["counters"][name].as_u64().unwrap_or_else(|| panic!("counters.{name} in {stats}"))
}

#[test]
fn settings_come_from_the_environment_and_name_a_bad_variable() {
    fn read<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| vars.iter().find(|(var, _)| *var == name).map(|(_, value)| (*value).to_owned())
    }
    let defaults = Settings::from_vars(None, read(&[])).expect("the defaults");
    assert_eq!(defaults.addr, SocketAddr::from(([127, 0, 0, 1], 3000)));
    assert!(defaults.max_pools >= 1);

    let vars = [("SERVICE_MAX_POOLS", "3"), ("SERVICE_ACQUIRE_TIMEOUT_MS", "1500"), ("SERVICE_NAME", "api")];
    let settings = Settings::from_vars(Some("127.0.0.1:0".to_owned()), read(&vars)).expect("valid");
    assert_eq!(settings.addr.port(), 0, "the argument is the address");
    assert_eq!((settings.max_pools, settings.max_waiters, settings.name.as_str()), (3, 48, "api"));
    assert_eq!(settings.acquire_timeout, Duration::from_millis(1500));
    assert_eq!(settings.retry_after_secs(), 2, "whole seconds, rounded up");

    let err = Settings::from_vars(None, read(&[("SERVICE_MAX_POOLS", "four")])).expect_err("not a number");
    assert!(err.to_string().starts_with("SERVICE_MAX_POOLS=\"four\": "), "{err}");
    let err = Settings::from_vars(Some("localhost".to_owned()), read(&[])).expect_err("no port");
    assert!(err.to_string().starts_with("the address argument="), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_get_the_right_digests() {
    watchdog("digests", async {
        let service = Running::start(settings("digests", 2)).await;
        let before = service.stats().await;

        let jobs =
            (0..24u32).map(|i| {
                let body = format!("request {i}").into_bytes();
                let iterations = 1 + i * 97;
                let service = &service;
                async move {
                    (service.post_work(&format!("iterations={iterations}"), &body).await, body, iterations)
                }
            });
        let answers = join_all(jobs).await;
        for (answer, body, iterations) in &answers {
            assert_digest(answer, body, *iterations);
        }
        // The query is checked before any pool is leased.
        for query in ["iterations=0", "iterations=100001", "iterations=many"] {
            let answer = service.post_work(query, b"x").await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        }

        let after = service.stats().await;
        let granted =
            |s: &Value| counter(s, "leases_granted_at_once") + counter(s, "leases_granted_after_waiting");
        assert_eq!(granted(&after) - granted(&before), 24, "one lease per request: {after}");
        assert_eq!(counter(&after, "jobs_run") - counter(&before, "jobs_run"), 24);
        assert_eq!(counter(&after, "leases_released") - counter(&before, "leases_released"), 24);
        assert_eq!(after["max_pools"], 2);
        let ended = service.shut_down().await;
        assert!(ended.manager.drained());
        figure(&format!(
            "axum_service digests: {} requests, all 200 with the digest computed here",
            answers.len()
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_answered_503_with_retry_after() {
    watchdog("overload", async {
        let mut settings = settings("overload", 1);
        settings.acquire_timeout = Duration::from_millis(50);
        settings.max_waiters = 3;
        let service = Running::start(settings).await;

        // Every pool held here: each request either waits its 50 ms out or
        // finds the queue full.
        let held = service.manager.acquire().owner("test").await.expect("the only pool");
        let answers = join_all((0..12).map(|_| service.post_work("iterations=10", b"busy"))).await;
        for answer in &answers {
            assert_503(answer);
        }
        let stats = service.stats().await;
        let refused = counter(&stats, "acquire_timeouts") + counter(&stats, "acquire_unavailable");
        assert_eq!(refused, 12, "each 503 counted as a timeout or a full queue: {stats}");
        drop(held);

        // A burst on one pool: whatever waits more than 50 ms is turned
        // away, and whatever is answered 200 has the right digest.
        let burst = 32;
        let answers = join_all((0..burst).map(|_| service.post_work("iterations=20000", b"burst"))).await;
        let mut ok = 0;
        let mut unavailable = 0;
        for answer in &answers {
            if answer.status == StatusCode::OK {
                assert_digest(answer, b"burst", 20_000);
                ok += 1;
            } else {
                assert_503(answer);
                unavailable += 1;
            }
        }
        assert!(ok >= 1, "the pool served someone");
        let ended = service.shut_down().await;
        assert!(ended.manager.drained());
        figure(&format!(
            "axum_service overload: 12 requests with the only pool held: 12 x 503 + Retry-After; \
             burst of {burst} on 1 pool with a 50 ms acquire timeout: {ok} x 200, {unavailable} x 503"
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_is_a_500_and_the_pool_serves_on() {
    watchdog("panics", async {
        let service = Running::start(settings("panics", 1)).await;
        let answer = service.post_work("iterations=5&panic=true", b"boom").await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        let message = answer.json()["error"].as_str().expect("an error message").to_owned();
        assert!(message.contains("panicked"), "{message}");
        // The same (only) pool serves the next request.
        assert_digest(&service.post_work("iterations=5", b"fine").await, b"fine", 5);
        let stats = service.stats().await;
        assert_eq!(counter(&stats, "jobs_panicked"), 1, "{stats}");
        assert_eq!(counter(&stats, "pools_broken"), 0, "{stats}");
        service.shut_down().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_is_the_managers_snapshot_as_json() {
    watchdog("stats", async {
        let service = Running::start(settings("stats", 2)).await;
        let held = service.manager.acquire().owner("holder").await.expect("a pool");
        let stats = service.stats().await;
        for key in [
            "backend",
            "name_prefix",
            "running",
            "available",
            "leased",
            "creating",
            "total",
            "winding_down",
            "desired_executor_count",
            "units",
            "waiting",
            "min_pools",
            "max_pools",
            "workers_per_pool",
            "leases",
            "counters",
        ] {
            assert!(stats.get(key).is_some(), "/stats has no {key:?}: {stats}");
        }
        assert_eq!(stats["backend"], "thread");
        assert_eq!(stats["name_prefix"], "stats");
        assert_eq!(stats["running"], true);
        assert_eq!(stats["leased"], 1);
        let lease = &stats["leases"][0];
        assert_eq!(lease["owner"], "holder");
        for key in ["expires_in_secs", "held_secs"] {
            assert!(lease[key].is_f64(), "leases[0].{key} in seconds: {lease}");
        }
        // Exactly the counters the library serializes (their names are
        // pinned by its own serialization tests), each a whole number.
        let library = serde_json::to_value(service.manager.stats().counters).expect("counters serialize");
        let names = |v: &Value| {
            let object = v.as_object().unwrap_or_else(|| panic!("an object: {v}"));
            object.keys().cloned().collect::<Vec<_>>()
        };
        assert_eq!(names(&stats["counters"]), names(&library), "{stats}");
        for name in names(&library) {
            counter(&stats, &name);
        }
        drop(held);
        service.shut_down().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_is_prometheus_text_with_the_librarys_names() {
    watchdog("metrics", async {
        let service = Running::start(settings("metrics", 1)).await;
        // A wait (the pool held here), a grant after waiting, a job.
        let held = service.manager.acquire().owner("test").await.expect("the only pool");
        let waiting = service.post_work("iterations=3", b"waited");
        let release = async {
            until("a waiting request", || service.manager.waiting_count() == 1).await;
            drop(held);
        };
        let (answer, ()) = tokio::join!(waiting, release);
        assert_digest(&answer, b"waited", 3);

        // The manager publishes its metrics in batches (within 250 ms):
        // read until the wait, the grant and the job show, every text
        // parsed strictly.
        let mut scrapes = 0;
        let exposition = watchdog("the metrics published", async {
            loop {
                scrapes += 1;
                let response = service.get("/metrics").await;
                let content_type = response.headers.get(header::CONTENT_TYPE).expect("a content type");
                assert!(content_type.to_str().unwrap().starts_with("text/plain"), "{content_type:?}");
                let text = std::str::from_utf8(&response.body).expect("UTF-8");
                let exposition = Exposition::parse(text).unwrap_or_else(|err| panic!("{err}\n{text}"));
                let at_least_one =
                    |name: &str| exposition.samples(name, "metrics").iter().any(|s| s.value >= 1.0);
                let published = at_least_one("leasepool_jobs_run_total")
                    && HISTOGRAMS.iter().all(|h| at_least_one(&format!("{h}_count")))
                    && exposition.samples("leasepool_leases_granted_total", "metrics").iter().any(|s| {
                        s.labels.get("when").is_some_and(|w| w == "after_waiting") && s.value >= 1.0
                    });
                if published {
                    break exposition;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;

        let ours = |name: &str| exposition.samples(name, "metrics");
        for gauge in GAUGES {
            assert_eq!(exposition.kind(gauge), Some("gauge"), "{gauge}");
            assert_eq!(ours(gauge).len(), 1, "{gauge}{{manager=\"metrics\"}}");
        }
        assert_eq!(ours("leasepool_max_pools")[0].value, 1.0);
        for counter in COUNTERS_TOTAL {
            assert_eq!(exposition.kind(counter), Some("counter"), "{counter}");
            assert!(!ours(counter).is_empty(), "{counter}{{manager=\"metrics\"}}");
        }
        let granted: BTreeMap<String, f64> = ours("leasepool_leases_granted_total")
            .iter()
            .map(|s| (s.labels.get("when").cloned().unwrap_or_default(), s.value))
            .collect();
        assert_eq!(granted.keys().collect::<Vec<_>>(), ["after_waiting", "at_once"], "{granted:?}");
        for histogram in HISTOGRAMS {
            assert_eq!(exposition.kind(histogram), Some("histogram"), "{histogram}: buckets set");
            assert!(!ours(&format!("{histogram}_sum")).is_empty(), "{histogram}_sum");
            assert!(ours(&format!("{histogram}_bucket")).len() > 1, "{histogram}_bucket");
        }
        let names = exposition.kinds.len();
        let samples = exposition.samples.len();
        service.shut_down().await;
        figure(&format!(
            "axum_service /metrics: {names} metric families, {samples} samples, parsed strictly \
             ({scrapes} scrapes until the wait, the grant and the job were published)"
        ));
    })
    .await;
}

#[test]
fn the_exposition_parser_refuses_what_the_format_does_not_allow() {
    let good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 3\n\n\
                # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n";
    let parsed = Exposition::parse(good).expect("valid");
    assert_eq!(parsed.samples[0].labels["b"], "q\"");
    for (why, bad) in [
        ("no TYPE", "x 1\n"),
        ("unquoted label value", "# TYPE x counter\nx{a=1} 1\n"),
        ("no value", "# TYPE x counter\nx{a=\"1\"}\n"),
        ("not a number", "# TYPE x counter\nx one\n"),
        ("two TYPEs", "# TYPE x counter\n# TYPE x gauge\nx 1\n"),
        ("TYPE after its samples", "x 1\n# TYPE x counter\n"),
        ("bad name", "# TYPE 1x counter\n1x 1\n"),
        ("falling", "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"),
        ("no +Inf", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n"),
        ("+Inf is not the count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n"),
    ] {
        assert!(Exposition::parse(bad).is_err(), "{why}: accepted {bad:?}");
    }
}

/// The gauges of the contract.
const GAUGES: [&str; 8] = [
    "leasepool_pools",
    "leasepool_pools_available",
    "leasepool_pools_leased",
    "leasepool_pools_creating",
    "leasepool_waiting",
    "leasepool_desired_pools",
    "leasepool_max_pools",
    "leasepool_units",
];

/// The manager's counters of the contract (the grinder's need a grinder,
/// which the service does not run).
const COUNTERS_TOTAL: [&str; 14] = [
    "leasepool_leases_granted_total",
    "leasepool_acquire_timeouts_total",
    "leasepool_acquire_unavailable_total",
    "leasepool_waiters_cancelled_total",
    "leasepool_leases_released_total",
    "leasepool_leases_revoked_total",
    "leasepool_pools_created_total",
    "leasepool_pools_shut_down_total",
    "leasepool_pools_broken_total",
    "leasepool_jobs_run_total",
    "leasepool_jobs_panicked_total",
    "leasepool_jobs_cancelled_total",
    "leasepool_size_provider_reads_total",
    "leasepool_size_provider_failures_total",
];

/// The histograms of the contract.
const HISTOGRAMS: [&str; 3] =
    ["leasepool_acquire_wait_seconds", "leasepool_lease_hold_seconds", "leasepool_job_run_seconds"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_answers_every_request_already_in() {
    watchdog("shutdown", async {
        let service = Running::start(settings("shutdown", 2)).await;
        // Both pools held here: the requests wait in the queue, in flight.
        let held = [
            service.manager.acquire().owner("test").await.expect("a pool"),
            service.manager.acquire().owner("test").await.expect("a pool"),
        ];
        let in_flight = 8;
        let requests: Vec<_> = (0..in_flight)
            .map(|i| {
                let body = format!("in flight {i}").into_bytes();
                let client = service.client.clone();
                let addr = service.addr;
                tokio::spawn(async move {
                    let answer =
                        send(&client, addr, Method::POST, "/work?iterations=2000", body.clone().into()).await;
                    (answer, body)
                })
            })
            .collect();
        until("every request waiting", || service.manager.waiting_count() == in_flight).await;

        // The signal: the server stops accepting, and the requests in stay.
        let addr = service.addr;
        let Running { manager, shutdown, served, .. } = service;
        let _ = shutdown.send(());
        watchdog("the listener closes", async {
            while tokio::net::TcpStream::connect(addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(manager.waiting_count(), in_flight, "the manager still serves the requests in");
        assert!(manager.is_running());

        // Free the pools: each waiting request gets one and is answered.
        drop(held);
        let mut answered = 0;
        for request in requests {
            let (answer, body) = request.await.expect("the request task");
            assert_digest(&answer, &body, 2000);
            answered += 1;
        }
        let ended = served.await.expect("the server task").expect("the server ran");
        assert_eq!(ended.requests_at_shutdown, in_flight);
        assert!(ended.requests_drained);
        assert!(ended.manager.was_running);
        assert_eq!(ended.manager.leases_cut, 0);
        assert!(!manager.is_running(), "the manager shut down after the last answer");
        let lost = in_flight - answered;
        assert_eq!(lost, 0);
        figure(&format!(
            "axum_service shutdown: {in_flight} requests in flight at the signal, {answered} answered 200, \
             lost {lost}; new connections refused; manager: {} leases cut",
            ended.manager.leases_cut
        ));
    })
    .await;
}
