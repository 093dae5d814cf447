//! A web service that runs CPU-heavy work on leased pools, with axum.
//!
//! What it teaches: the lifespan of a manager in a service. It is built
//! and started before the first request, sized from the machine (one pool
//! per CPU the process may use, and as many pools as requests came in
//! lately). On SIGTERM or Ctrl-C the server stops accepting connections
//! and answers every request already in; only then does the manager shut
//! down gracefully, so no request loses its pool halfway.
//!
//! * `POST /work?iterations=N` hashes the body with SHA-256, then the
//!   digest again, N times in all (1 to `SERVICE_MAX_ITERATIONS`), on a
//!   leased pool, and answers `{"sha256": "...", "iterations": N}`. No pool
//!   within the acquire timeout (or too many requests waiting) is a 503
//!   with `Retry-After`; `&panic=true` makes the job panic: a 500.
//! * `GET /stats`: the manager's `stats()`, as JSON.
//! * `GET /metrics`: the Prometheus text format, from the library's
//!   `metrics` feature and `metrics-exporter-prometheus`.
//!
//! Run it with `cargo run -p leasepool-axum-service --example axum_service`
//! (it listens on 127.0.0.1:3000; give another address as the argument or
//! in `SERVICE_ADDR`, port 0 for any free port), then:
//!
//! ```sh
//! curl -X POST --data 'hello' 'http://127.0.0.1:3000/work?iterations=100000'
//! curl http://127.0.0.1:3000/stats
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! The other settings (`SERVICE_MAX_POOLS`, `SERVICE_ACQUIRE_TIMEOUT_MS`,
//! ...) are in `app/settings.rs`.

mod app;

use std::env;
use std::error::Error;
use std::future::Future;
use std::io;
use std::process::ExitCode;

use tokio::net::TcpListener;

use app::{Service, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("axum_service: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let settings = Settings::from_vars(env::args().nth(1), |var| env::var(var).ok())?;
    // Before the manager is built: it registers its metrics then.
    let metrics = app::install_metrics()?;
    let listener = TcpListener::bind(settings.addr).await?;
    let service = Service::start(settings, metrics).await?;
    // Before the address is printed: a harness may signal as soon as it reads it.
    let signal = shutdown_signal()?;
    let config = service.manager().config();
    // The bound address, on a line of its own: with port 0, a harness
    // reads the port from here.
    println!("listening on http://{}", listener.local_addr()?);
    println!("up to {} pools of {} worker threads each", config.max_pools(), config.workers_per_pool());

    let shutdown = async move {
        let name = signal.await;
        println!("{name}: shutting down: no new connections; answering the requests already in");
    };
    let ended = service.serve(listener, shutdown).await?;
    let report = ended.manager;
    println!(
        "shut down: {} requests in at the signal, all answered: {}; manager: {} leases at its \
         shutdown, {} ended, {} cut, in {:?}",
        ended.requests_at_shutdown,
        ended.requests_drained,
        report.leases_at_start,
        report.leases_released,
        report.leases_cut,
        report.elapsed
    );
    Ok(())
}

/// Installs the handlers now, so that no signal is missed, and completes
/// on the first of SIGTERM (what an orchestrator sends to stop a service)
/// and SIGINT (Ctrl-C), with its name.
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    })
}

/// Elsewhere, Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}
