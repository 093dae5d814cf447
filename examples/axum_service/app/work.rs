//! `POST /work`: CPU-heavy work on a leased pool, and how each way it can
//! fail becomes an HTTP answer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use leasepool::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;

/// The query of `POST /work`.
#[derive(Debug, Deserialize)]
pub(crate) struct WorkQuery {
    /// How many times to hash: the body once, then the digest again and
    /// again (1 to `max_iterations`; default 1).
    #[serde(default = "one")]
    iterations: u32,
    /// Make the job panic instead (to see a failed job answered 500).
    #[serde(default)]
    panic: bool,
}

fn one() -> u32 {
    1
}

/// The answer of `POST /work`.
#[derive(Debug, Serialize)]
pub(crate) struct WorkAnswer {
    /// The last digest, in lowercase hex.
    sha256: String,
    /// The iterations run.
    iterations: u32,
}

/// Leases a pool for at most the acquire timeout, hashes the body there
/// `iterations` times, and answers the last digest. No pool in time (or
/// the queue full) is a 503 with `Retry-After`; a panicking job is a 500.
pub(crate) async fn work(
    State(state): State<AppState>,
    Query(query): Query<WorkQuery>,
    body: Bytes,
) -> Response {
    let max = state.settings.max_iterations;
    if query.iterations == 0 || query.iterations > max {
        let message = format!("iterations must be between 1 and {max}, not {}", query.iterations);
        return error(StatusCode::BAD_REQUEST, message);
    }
    // Counted in the size signal while it waits and runs.
    let _in_flight = state.demand.enter();
    let acquired = state.manager.acquire().owner("work").timeout(state.settings.acquire_timeout).await;
    let lease = match acquired {
        Ok(lease) => lease,
        Err(err) => return failure(&state, &err),
    };
    let WorkQuery { iterations, panic } = query;
    let job = lease.run(move || {
        if panic {
            panic!("the request asked this job to panic");
        }
        sha256_iterated(&body, iterations)
    });
    match job.await {
        Ok(digest) => Json(WorkAnswer { sha256: hex(&digest), iterations }).into_response(),
        Err(err) => failure(&state, &err),
    }
    // The lease is dropped here: the pool goes back to the manager.
}

/// SHA-256 of `body`, then of each digest, `iterations` times in all.
pub(crate) fn sha256_iterated(body: &[u8], iterations: u32) -> [u8; 32] {
    let mut digest: [u8; 32] = Sha256::digest(body).into();
    for _ in 1..iterations {
        digest = Sha256::digest(digest).into();
    }
    digest
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer for a leasepool error, by its kind: capacity that may come
/// back (overload, a shutdown, a pool gone) is a 503 the client may retry
/// after `Retry-After`; a job that panicked, a broken pool or a bad setting
/// is a 500.
fn failure(state: &AppState, err: &Error) -> Response {
    match err.kind() {
        ErrorKind::Overload
        | ErrorKind::Stopped
        | ErrorKind::Spawn
        | ErrorKind::LeaseGone
        | ErrorKind::Cancelled => {
            let retry_after = state.settings.retry_after_secs().to_string();
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, err.to_string());
            let value = header::HeaderValue::from_str(&retry_after).expect("digits are a header value");
            response.headers_mut().insert(header::RETRY_AFTER, value);
            response
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// An error answer: `{"error": message}`.
fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
