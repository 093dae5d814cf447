//! Steady-state acquire/release cycles allocate nothing.
//!
//! Counting needs a `#[global_allocator]`, and writing one needs
//! `unsafe impl GlobalAlloc`. The workspace lints set `unsafe_code = "forbid"`
//! for every target of this package, integration tests included, and a
//! `forbid` cannot be lowered by `#![allow(unsafe_code)]` in this file
//! (rustc E0453). So the counting allocator comes from the dev-dependency
//! `allocation-counter`, which installs one that counts per thread: the test
//! harness's other threads never pollute a measurement.
//!
//! Each scenario warms up first (so the core's slabs, heaps and action queue
//! have grown to the working-set size), then measures 10,000 cycles.

use std::hint::black_box;
use std::time::{Duration, Instant};

use allocation_counter::{AllocationInfo, measure};
use leasepool_core::{Acquire, Acquired, Action, Config, Core, LeaseEnd, PoolFate, Released};

const CYCLES: usize = 10_000;
const WARM_UP: usize = 100;

fn drain(core: &mut Core) -> usize {
    let mut n = 0;
    while let Some(action) = core.poll_action() {
        black_box(&action);
        n += 1;
    }
    n
}

/// Drains the actions of a lease's end: exactly one `LeaseEnded`, the pool
/// kept.
#[track_caller]
fn drain_kept(core: &mut Core) {
    let Some(Action::LeaseEnded { end, .. }) = core.poll_action() else { panic!("no LeaseEnded") };
    assert_eq!(end, LeaseEnd::Released(PoolFate::Kept));
    assert_eq!(drain(core), 0);
}

fn started(max_pools: usize) -> (Core, Instant) {
    started_with(Config::builder().max_pools(max_pools))
}

fn started_with(builder: leasepool_core::ConfigBuilder) -> (Core, Instant) {
    let now = Instant::now();
    let config = builder.build().expect("valid config");
    let mut core = Core::new(config);
    core.start(now, 0).expect("stopped");
    // Two-step creation: confirm the pool the start asked for.
    let Some(Action::CreatePool(pool)) = core.poll_action() else { panic!("no CreatePool") };
    core.pool_created(now, pool);
    assert_eq!(drain(&mut core), 0);
    (core, now)
}

/// Runs `cycle` WARM_UP times unmeasured, then CYCLES times measured.
fn steady_state(mut cycle: impl FnMut()) -> AllocationInfo {
    for _ in 0..WARM_UP {
        cycle();
    }
    measure(|| {
        for _ in 0..CYCLES {
            cycle();
        }
    })
}

fn report(name: &str, info: &AllocationInfo) {
    println!("{name}: {CYCLES} cycles -> {} allocations ({} bytes)", info.count_total, info.bytes_total);
}

#[test]
fn the_counter_is_live() {
    // Guards the zero assertions below against a counter that counts nothing.
    let info = measure(|| {
        black_box(Box::new(1_u64));
    });
    assert_eq!(info.count_total, 1);
}

#[test]
fn acquire_release_cycle_allocates_nothing() {
    let (mut core, now) = started(4);
    let info = steady_state(|| {
        let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
        drain(&mut core);
        let outcome = core.release(now, g.lease);
        assert_eq!(outcome, Ok(Released::Ended));
        drain_kept(&mut core);
    });
    report("acquire + release", &info);
    assert_eq!(info.count_total, 0);
}

#[test]
fn acquire_job_release_cycle_allocates_nothing() {
    let (mut core, now) = started(4);
    let info = steady_state(|| {
        let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
        drain(&mut core);
        assert_eq!(core.job_submitted(now, g.lease), Ok(g.pool));
        assert_eq!(core.job_finished(now, g.lease), Ok(()));
        assert_eq!(core.release(now, g.lease), Ok(Released::Ended));
        drain_kept(&mut core);
    });
    report("acquire + job + release", &info);
    assert_eq!(info.count_total, 0);
}

#[test]
fn draining_release_cycle_allocates_nothing() {
    let (mut core, now) = started(4);
    let info = steady_state(|| {
        let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
        drain(&mut core);
        core.job_submitted(now, g.lease).unwrap();
        assert_eq!(core.release(now, g.lease), Ok(Released::Draining { jobs: 1 }));
        assert_eq!(core.job_finished(now, g.lease), Ok(()));
        drain_kept(&mut core);
    });
    report("acquire + job + draining release + job finished", &info);
    assert_eq!(info.count_total, 0);
}

#[test]
fn waiter_hand_off_cycle_allocates_nothing() {
    let (mut core, now) = started(1);
    let info = steady_state(|| {
        let Ok(Acquired::Granted(held)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
        drain(&mut core);
        let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::wait()) else { panic!("not queued") };
        assert_eq!(core.release(now, held.lease), Ok(Released::Ended));
        let Some(Action::LeaseEnded { end, .. }) = core.poll_action() else { panic!("no LeaseEnded") };
        assert_eq!(end, LeaseEnd::Released(PoolFate::HandedOff));
        let Some(Action::Grant { waiter, grant }) = core.poll_action() else { panic!("no hand-off") };
        assert_eq!(waiter, w);
        assert_eq!(drain(&mut core), 0);
        assert_eq!(core.release(now, grant.lease), Ok(Released::Ended));
        drain_kept(&mut core);
    });
    report("acquire + queued acquire + hand-off + release", &info);
    assert_eq!(info.count_total, 0);
}

#[test]
fn waiter_with_deadline_cancel_cycle_allocates_nothing() {
    let (mut core, now) = started(1);
    let deadline = now + Duration::from_secs(5);
    let info = steady_state(|| {
        let Ok(Acquired::Granted(held)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
        drain(&mut core);
        let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::wait_until(deadline)) else { panic!() };
        assert_eq!(core.cancel_waiter(now, w), Ok(()));
        assert_eq!(core.release(now, held.lease), Ok(Released::Ended));
        drain_kept(&mut core);
    });
    report("acquire + queued acquire with deadline + cancel + release", &info);
    assert_eq!(info.count_total, 0);
}

#[test]
fn create_confirm_grant_release_cycle_allocates_nothing() {
    // The idle pool is held for good: every acquire waits for a pool created
    // for it (two steps), and its release shuts that pool down again (no
    // idle timeout keeps it).
    let (mut core, now) = started_with(Config::builder().max_pools(4).idle_timeout(Duration::ZERO));
    let Ok(Acquired::Granted(_held)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
    let info = steady_state(|| {
        let Ok(Acquired::Queued(w)) = core.acquire(now, Acquire::no_wait()) else { panic!("not queued") };
        let Some(Action::CreatePool(pool)) = core.poll_action() else { panic!("no CreatePool") };
        assert_eq!(drain(&mut core), 0);
        core.pool_created(now, pool);
        let Some(Action::Grant { waiter, grant }) = core.poll_action() else { panic!("no grant") };
        assert_eq!((waiter, grant.pool), (w, pool));
        assert_eq!(core.release(now, grant.lease), Ok(Released::Ended));
        let Some(Action::LeaseEnded { end, .. }) = core.poll_action() else { panic!("no LeaseEnded") };
        assert_eq!(end, LeaseEnd::Released(PoolFate::ShutDown));
        assert!(matches!(core.poll_action(), Some(Action::ShutdownPool { .. })));
        assert_eq!(drain(&mut core), 0);
    });
    report("acquire waiting for a created pool + confirm + release", &info);
    assert_eq!(info.count_total, 0);
}

#[test]
fn idle_deadline_cycle_allocates_nothing() {
    // Two pools with one desired: the second is kept idle with a deadline
    // on every release and loses it on every acquire (a slab and a heap
    // entry each time, reused).
    let (mut core, now) = started(2);
    // The first pool stays leased throughout.
    let Ok(Acquired::Granted(_held)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
    let Ok(Acquired::Queued(_)) = core.acquire(now, Acquire::no_wait()) else { panic!("not queued") };
    let Some(Action::CreatePool(pool)) = core.poll_action() else { panic!("no CreatePool") };
    core.pool_created(now, pool);
    let Some(Action::Grant { grant, .. }) = core.poll_action() else { panic!("no grant") };
    assert_eq!(core.release(now, grant.lease), Ok(Released::Ended));
    drain_kept(&mut core);
    assert!(core.poll_timeout() < Some(now + Duration::from_secs(120)), "an idle deadline");
    let info = steady_state(|| {
        let Ok(Acquired::Granted(g)) = core.acquire(now, Acquire::no_wait()) else { panic!("no grant") };
        assert_eq!(core.release(now, g.lease), Ok(Released::Ended));
        drain_kept(&mut core);
    });
    report("acquire + release of a pool above the desired count (idle deadline)", &info);
    assert_eq!(info.count_total, 0);
}
