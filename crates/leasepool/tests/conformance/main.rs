//! The runtime conformance suite: every behaviour of the manager contract
//! (`DESIGN.md`), end to end on real threads, written once and run on every
//! enabled runtime.
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

#![cfg(any(feature = "runtime-tokio", feature = "runtime-smol", feature = "runtime-async-std"))]

/// Instantiates the listed generic tests of the calling module for every
/// enabled runtime.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        #[cfg(feature = "runtime-tokio")]
        mod tokio {
            $(
                #[test]
                fn $test() {
                    crate::common::watchdog(concat!(module_path!(), "::", stringify!($test)), || {
                        ::leasepool::tokio::block_on(super::$test::<::leasepool::tokio::TokioRuntime>())
                    });
                }
            )*
        }

        #[cfg(feature = "runtime-smol")]
        mod smol {
            $(
                #[test]
                fn $test() {
                    crate::common::watchdog(concat!(module_path!(), "::", stringify!($test)), || {
                        ::leasepool::smol::block_on(super::$test::<::leasepool::smol::SmolRuntime>())
                    });
                }
            )*
        }

        #[cfg(feature = "runtime-async-std")]
        mod async_std {
            $(
                #[test]
                fn $test() {
                    crate::common::watchdog(concat!(module_path!(), "::", stringify!($test)), || {
                        ::leasepool::async_std::block_on(
                            super::$test::<::leasepool::async_std::AsyncStdRuntime>(),
                        )
                    });
                }
            )*
        }
    };
}

mod common;

mod acquire;
mod blocking;
mod config;
mod expiry;
mod jobs;
mod lease;
mod lifecycle;
mod scaling;
mod stats;
mod waiters;
