//! The runtime conformance suite: every behaviour of the manager (README.md,
//! "Concepts" and "Guarantees"), end to end on real threads, written once
//! and run on every enabled runtime.
//!
//! Each test is an `async fn name<R: Runtime + Default>()` built on
//! `leasepool::driver::LeasedExecutorManager::<R>::builder()`. Each test
//! module ends with `conformance! { name, ... }`, which generates, per
//! enabled runtime feature, a module (`tokio`, `smol`, `async_std`) holding
//! one `#[test] fn name()` that runs the body on that runtime's `block_on`.
//! So `cargo test -p leasepool --test conformance` runs the suite on tokio,
//! `--no-default-features --features runtime-smol` on smol, and
//! `--all-features` on all three (`cargo test ... -- smol::` picks one).
//!
//! Rules the tests follow: nothing waits on a bare sleep to "let something
//! happen"; background effects are awaited by polling a condition with a
//! generous deadline ([`common::eventually`], [`common::within`]); every
//! test runs under a watchdog ([`common::watchdog`]) so that a hang fails
//! instead of blocking the run; and no test asserts how fast anything is.

#![cfg(any(
    feature = "runtime-tokio",
    feature = "runtime-smol",
    feature = "runtime-async-std",
    feature = "runtime-threads"
))]

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

/// Instantiates the listed generic tests of the calling module for every
/// enabled runtime, each under the [`common::watchdog`].
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        per_runtime!(crate::common::watchdog => $($test),*);
    };
}

mod acquire;
mod blocking;
mod cancel;
mod churn;
mod config;
mod counters;
mod expiry;
mod grinder;
mod jobs;
mod lease;
mod lifecycle;
#[cfg(feature = "metrics")]
mod metrics;
mod runtime_loss;
mod scaling;
mod shutdown;
mod stats;
mod waiters;
#[cfg(feature = "serde")]
mod wire;
