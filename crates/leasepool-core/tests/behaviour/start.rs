//! Section 1, `start`: pools created for the units given, idempotence, and an
//! all-or-nothing start that fails and stops.

use super::*;

/// Pools are created in two steps now: `start` asks for them, and they count
/// (as being created) until the driver confirms them.
#[test]
fn start_is_idempotent_and_creates_desired_pools_for_the_units_given_at_start() {
    let now = Instant::now();
    let mut core = core_with(builder(5));
    assert_eq!(core.start(now, 31), Ok(())); // ceil(31 / 10) = 4
    let actions = drain_raw(&mut core);
    let pools = created(&actions);
    assert_eq!(actions.len(), 4, "only CreatePool actions: {actions:?}");
    assert_eq!(pools.len(), 4);
    assert_eq!(pools.iter().collect::<HashSet<_>>().len(), 4, "distinct pool ids");
    assert_eq!((core.available_count(), core.creating_count(), core.total_count()), (0, 4, 4));
    for &p in &pools {
        core.pool_created(now, p);
    }
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(
        (core.available_count(), core.leased_count(), core.creating_count(), core.total_count()),
        (4, 0, 0, 4)
    );
    assert_eq!(core.desired_executor_count(), 4);
    assert!(core.is_running());

    assert_eq!(core.start(now, 50), Err(RunError::AlreadyRunning), "second start is a no-op");
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!(core.total_count(), 4);
    assert_eq!(core.units(), 31, "a second start does not re-sample units");
}

#[test]
fn start_with_zero_units_creates_min_pools() {
    let (core, pools) = started(builder(5).min_pools(2), Instant::now(), 0);
    assert_eq!(pools.len(), 2);
    assert_eq!(core.total_count(), 2);
}

#[test]
fn start_failure_pool_create_failed_then_stop_leaves_zero_pools_and_a_restartable_core() {
    let now = Instant::now();
    let mut core = core_with(builder(5).min_pools(3));
    assert_eq!(core.start(now, 0), Ok(()));
    // The driver creates pools in order; the first one fails.
    let Some(Action::CreatePool(first)) = core.poll_action() else { panic!("expected CreatePool") };
    core.pool_create_failed(now, first);
    let rest = drain_raw(&mut core);
    let rest_created = created(&rest);
    assert_eq!(rest_created.len(), 2, "the min is not restored by a failed creation: {rest:?}");
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!((core.total_count(), core.creating_count()), (2, 2));
    for &p in &rest_created {
        core.pool_created(now, p);
    }
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!((core.total_count(), core.available_count()), (2, 2));

    // Start failed: the driver stops, which tears down what start created.
    assert_eq!(core.stop(now), Ok(()));
    let stop_actions = drain_raw(&mut core);
    let mut down: Vec<_> = shut_down(&stop_actions).into_iter().map(|(p, _)| p).collect();
    down.sort();
    assert_eq!(down, rest_created);
    assert!(shut_down(&stop_actions).iter().all(|(_, r)| *r == ShutdownReason::Stopped));
    assert_eq!(core.total_count(), 0);
    assert!(!core.is_running());
    assert_eq!(core.poll_timeout(), None);

    // It can start again, with fresh pool ids.
    assert_eq!(core.start(now, 0), Ok(()));
    let again = created(&drain(&mut core, now));
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|p| *p != first && !rest_created.contains(p)));
    assert_eq!(core.total_count(), 3);
}
