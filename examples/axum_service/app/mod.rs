//! The service: its state, its routes, and its lifespan (start the
//! manager, serve, then shut down in order).
//!
//! `main.rs` runs it with the settings of the environment and the process's
//! signals; the integration test runs it with its own settings and shutdown.

mod demand;
mod settings;
mod work;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use leasepool::{LeasedExecutorManager, ShutdownReport, Stats};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use demand::Demand;
pub(crate) use settings::Settings;

/// Bucket bounds of the `*_seconds` histograms (acquire wait, lease hold,
/// job run): from a grant at once (tens of microseconds) to a wait as long
/// as a generous acquire timeout. With buckets the exporter writes true
/// histograms, which Prometheus can aggregate across instances
/// (`histogram_quantile` over `sum by (le)`); summaries cannot be.
pub(crate) const SECONDS_BUCKETS: [f64; 14] =
    [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How often the exporter's histogram samples are folded into its buckets
/// between scrapes (`install_recorder` leaves that to the caller).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// How long the size signal remembers a peak of requests (one to two of these).
const DEMAND_WINDOW: Duration = Duration::from_secs(10);

/// Installs the process-wide Prometheus recorder the library's metrics go
/// to, and returns the handle `/metrics` renders. Call it once per process.
pub(crate) fn install_metrics() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS)?
        .install_recorder()
}

/// What every request handler sees. Cheap to clone (`Arc`s inside).
#[derive(Clone)]
pub(crate) struct AppState {
    /// The manager: started before the first request, shut down after the
    /// last answer.
    manager: LeasedExecutorManager,
    /// The `/work` requests in the service: the manager's size signal.
    demand: Arc<Demand>,
    /// Renders `/metrics`.
    metrics: PrometheusHandle,
    /// Fixed at startup.
    settings: Arc<Settings>,
}

/// A started service, not yet serving.
pub(crate) struct Service {
    state: AppState,
}

/// How a service ended.
#[derive(Debug)]
pub(crate) struct Ended {
    /// The `/work` requests in the service when the shutdown began: each
    /// is answered (with a pool) before the manager shuts down.
    pub(crate) requests_at_shutdown: usize,
    /// Whether every request was answered before the shutdown timeout
    /// (false: the connections still open were dropped).
    pub(crate) requests_drained: bool,
    /// The manager's graceful shutdown, which follows the last answer.
    pub(crate) manager: ShutdownReport,
}

impl Service {
    /// Builds and starts the manager: up to `max_pools` pools of
    /// `workers_per_pool` threads, one pool per request in the service
    /// (the peak of the last seconds), at least one.
    pub(crate) async fn start(
        settings: Settings,
        metrics: PrometheusHandle,
    ) -> Result<Self, leasepool::Error> {
        let demand = Demand::new(DEMAND_WINDOW);
        let signal = Arc::clone(&demand);
        let manager = LeasedExecutorManager::builder()
            .name_prefix(settings.name.clone())
            .max_pools(settings.max_pools)
            .min_pools(1)
            .workers_per_pool(settings.workers_per_pool)
            .max_waiters(settings.max_waiters)
            .units_per_pool(1)
            .size_provider(move || signal.units())
            .check_interval(Duration::from_secs(5))
            // Long enough for the largest job on a busy machine: a lease
            // held past it (and its grace) is revoked, its pool replaced.
            .default_lease_for(Duration::from_secs(60))
            .build()?;
        manager.start().await?;
        let state = AppState { manager, demand, metrics, settings: Arc::new(settings) };
        Ok(Service { state })
    }

    /// The manager (the test holds leases of its own to fill the pools).
    pub(crate) fn manager(&self) -> &LeasedExecutorManager {
        &self.state.manager
    }

    /// Serves on `listener` until `shutdown` completes, then ends in order:
    /// stop accepting connections, answer every request already in (they
    /// still get pools: the manager is running), and only then shut the
    /// manager down gracefully, letting the jobs whose requests were given
    /// up by their clients finish. The whole ending is bounded by
    /// `shutdown_timeout`, counted from `shutdown`.
    pub(crate) async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<Ended> {
        let Service { state } = self;
        let timeout = state.settings.shutdown_timeout;
        let upkeep = tokio::spawn(upkeep(state.metrics.clone()));
        // Set when the shutdown begins: its deadline, and the requests in.
        let (began_tx, began_rx) = watch::channel(None);
        let demand = Arc::clone(&state.demand);
        let server = axum::serve(listener, routes(state.clone()))
            .with_graceful_shutdown(async move {
                shutdown.await;
                began_tx.send_replace(Some((Instant::now() + timeout, demand.in_flight())));
            })
            .into_future();
        let (served, requests_drained) = tokio::select! {
            served = server => (served, true),
            () = past_deadline(began_rx.clone()) => (Ok(()), false),
        };
        // Not begun: the server failed before any signal, and the manager
        // gets the whole timeout.
        let (deadline, requests_at_shutdown) = began_rx.borrow().unwrap_or((Instant::now() + timeout, 0));
        let left = deadline.saturating_duration_since(Instant::now());
        let manager = state.manager.shutdown(left).await;
        upkeep.abort();
        served.map(|()| Ended { requests_at_shutdown, requests_drained, manager })
    }
}

/// The routes.
fn routes(state: AppState) -> Router {
    Router::new()
        .route("/work", post(work::work))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Completes at the shutdown deadline, once the shutdown has begun.
async fn past_deadline(mut began: watch::Receiver<Option<(Instant, usize)>>) {
    match began.wait_for(Option::is_some).await.map(|began| *began) {
        Ok(Some((deadline, _))) => sleep_until(deadline).await,
        // The server ended before any signal: the other branch wins.
        _ => std::future::pending().await,
    }
}

/// Folds histogram samples into buckets every [`METRICS_UPKEEP`].
async fn upkeep(metrics: PrometheusHandle) {
    loop {
        tokio::time::sleep(METRICS_UPKEEP).await;
        metrics.run_upkeep();
    }
}

/// `GET /stats`: the manager's snapshot, as JSON.
async fn stats(State(state): State<AppState>) -> Json<Stats> {
    Json(state.manager.stats())
}

/// `GET /metrics`: every metric of the process, in Prometheus's text format.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
