//! Seeded random simulation of a driver, with invariants checked after every
//! step.
//!
//! A model driver keeps a virtual clock and performs every action the core
//! asks for, tracking only what a real driver could know: the pools it
//! created and has not shut down, the leases it holds (taken, handed to a
//! waiter but not yet picked up, draining), the jobs in flight and the queued
//! acquires in arrival order, and the pool creations it was asked for and
//! has not finished: it confirms or fails each after a random delay, so
//! creations are in flight while other events happen. Random inputs cover acquires with and without
//! waiting and with random deadlines, dropped acquire futures, releases, job
//! starts and finishes, broken pools, failed pool creations, expiries, timer
//! firings (on time and late), scale changes (including 0 and `u64::MAX`
//! units) and stop/start.
//!
//! `LEASEPOOL_SIM_SEED=<n>` replays one seed; `LEASEPOOL_SIM_STEPS=<n>`
//! overrides the number of steps per seed and `LEASEPOOL_SIM_SEEDS=<n>` the
//! number of seeds (0..n) for a longer soak. Totals are printed (see them with
//! `cargo test -p leasepool-core --release --test simulation -- --nocapture`).

mod model;

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use model::Totals;

/// Seeds run by default, and steps per seed in release builds. Debug builds
/// run 20x fewer steps so the workspace test stays fast.
const SEEDS: u64 = 100;
const RELEASE_STEPS: u64 = 25_000;
const DEBUG_DIVISOR: u64 = 20;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

#[test]
fn seeded_random_simulation_keeps_every_invariant() {
    let default_steps = if cfg!(debug_assertions) { RELEASE_STEPS / DEBUG_DIVISOR } else { RELEASE_STEPS };
    let steps = env_u64("LEASEPOOL_SIM_STEPS").unwrap_or(default_steps);
    let seeds: Vec<u64> = match env_u64("LEASEPOOL_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("LEASEPOOL_SIM_SEEDS").unwrap_or(SEEDS)).collect(),
    };
    let started = Instant::now();
    let mut totals = Totals::default();
    for seed in seeds {
        let label =
            format!("seed {seed} (replay with LEASEPOOL_SIM_SEED={seed} LEASEPOOL_SIM_STEPS={steps})");
        totals.add(&model::run(StdRng::seed_from_u64(seed), steps, &label));
    }
    let elapsed = started.elapsed();
    println!(
        "simulation: {} seeds x {steps} steps = {} events, {} invariant checks, {} actions in {:.2?}",
        totals.seeds, totals.events, totals.invariant_checks, totals.actions, elapsed
    );
    println!("simulation coverage: {totals:#?}");
    let t = &totals;
    let default_seeds = env_u64("LEASEPOOL_SIM_SEED").is_none() && env_u64("LEASEPOOL_SIM_SEEDS").is_none();
    if default_seeds && steps >= RELEASE_STEPS / DEBUG_DIVISOR {
        // The interesting paths were all exercised.
        for (name, n) in [
            ("grants to waiters", t.grants_to_waiters),
            ("cancelled waiters", t.cancelled),
            ("waiter timeouts", t.waiter_timeouts),
            ("waiters failed on stop", t.waiters_failed_on_stop),
            ("grants handed back", t.handed_back),
            ("pools kept on release", t.kept),
            ("direct hand-offs on release", t.handed_off),
            ("pools not kept on release", t.not_kept),
            ("revocations", t.revoked),
            ("revocations on submit", t.revoked_on_submit),
            ("broken pools", t.broken),
            ("create failures", t.create_failures),
            ("waiters failed by a create failure", t.waiters_failed_on_create),
            ("creations confirmed", t.creations_confirmed),
            ("creations confirmed after a stop", t.confirmed_after_stop),
            ("lease ends", t.lease_ends),
            ("stale check tickets", t.stale_checks),
            ("start failures", t.start_failures),
            ("shrinks", t.shrinks),
            ("idle deadlines set", t.idle_deadlines),
            ("idle timeouts", t.idle_shutdowns),
            ("acquires shed at max_waiters", t.shed),
            ("checks", t.checks),
            ("quiescences", t.quiescences),
        ] {
            assert!(n > 0, "the simulation never exercised {name}");
        }
    }
}
