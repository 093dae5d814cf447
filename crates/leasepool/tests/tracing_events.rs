//! Every lifecycle event (start, stop, pool created, lease granted,
//! draining, finalised, revoked, broken pool retired, size provider failed)
//! is a `tracing` event, with the lease id and owner as fields.
//!
//! A global subscriber records every event of this binary; the tests (one
//! per runtime) run one at a time and each looks only at what it caused.

#![cfg(feature = "any-runtime")]

#[macro_use]
#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use leasepool::Runtime;

use common::capture::{self, events};
use common::*;

/// Runs one test at a time ([`serial`]) with the recorder installed and
/// emptied.
fn recorded(name: &'static str, body: impl FnOnce() + Send + 'static) {
    capture::install();
    serial(name, || {
        capture::clear();
        body();
    });
}

fn assert_event(text: &str, field: &str, value: &str) {
    let found = events(text);
    assert!(
        found.iter().any(|e| e.fields.get(field).is_some_and(|v| v.trim_matches('"') == value)),
        "no {text:?} event with {field} = {value}; recorded: {found:?}"
    );
}

async fn lifecycle_events_carry_lease_and_owner<R: Runtime + Default>() {
    let m = started(
        builder::<R>()
            .max_pools(2)
            .workers_per_pool(1)
            .lease_grace(Duration::ZERO)
            .size_provider(|| panic!("recorded provider failure")),
    )
    .await;
    assert!(!events("lease manager started").is_empty());
    assert!(!events("pool created").is_empty());
    assert!(!events("size provider failed").is_empty(), "a failing size provider is logged");

    // Granted, draining, finalised: each names the lease and its owner.
    let lease = m.acquire().owner("traced").await.unwrap();
    let id = lease.id().to_string();
    assert_event("lease granted", "owner", "traced");
    assert_event("lease granted", "lease", &id);
    let gate = Gate::default();
    let job = lease.submit(gate.job(())).unwrap();
    eventually::<R>("the job runs", || gate.entered() == 1).await;
    lease.release();
    assert_event("draining", "owner", "traced");
    assert_event("draining", "lease", &id);
    gate.open();
    within::<R, _>("the job ends", job).await.unwrap();
    eventually::<R>("the drained lease is finalised", || !events("lease finalised").is_empty()).await;
    // One pool, one wanted (the failing provider counts 0 units): kept.
    assert_event("lease finalised; pool kept", "lease", &id);
    assert_event("lease finalised; pool kept", "owner", "traced");

    // Revoked at hard expiry, by the checker.
    let short = m.acquire().owner("short").lease_for(Duration::from_millis(50)).await.unwrap();
    let short_id = short.id().to_string();
    eventually::<R>("the short lease is revoked", || !events("revoked").is_empty()).await;
    assert_event("revoked", "lease", &short_id);
    assert_event("revoked", "owner", "short");
    drop(short);

    m.stop().await;
    assert!(!events("lease manager stopped").is_empty());

    // A pool whose worker initializer fails is retired.
    let broken =
        started(builder::<R>().max_pools(1).workers_per_pool(1).initializer(|| Err("no device"))).await;
    eventually::<R>("the broken pool is retired", || !events("broken pool retired").is_empty()).await;
    assert!(!events("worker initializer failed").is_empty());
    broken.stop().await;
}

/// The waiter path: a release hands the pool straight to a queued acquire,
/// logged with the waiter's lease and owner (as a plain string), and the
/// released lease is logged as handed off.
async fn waiter_grant_names_the_waiter<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let holder = m.acquire().owner("holder").await.unwrap();
    let holder_id = holder.id().to_string();
    let waiter = queued(&m, m.acquire().owner("queued-owner")).await;
    assert!(events("lease granted to waiter").is_empty(), "nothing granted to a waiter yet");
    drop(holder);
    let lease = within::<R, _>("the waiter is granted", waiter).await.unwrap();
    let id = lease.id().to_string();
    assert_event("lease granted to waiter", "owner", "queued-owner");
    assert_event("lease granted to waiter", "lease", &id);
    assert_event("lease finalised; pool handed to next waiter", "lease", &holder_id);
    assert_event("lease finalised; pool handed to next waiter", "owner", "holder");

    drop(lease);
    assert_event("lease finalised; pool kept", "lease", &id);
    assert_event("lease finalised; pool kept", "owner", "queued-owner");
    m.stop().await;
}

per_runtime!(crate::recorded => lifecycle_events_carry_lease_and_owner, waiter_grant_names_the_waiter);
