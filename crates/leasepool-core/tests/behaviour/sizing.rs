//! The sizing rule: the desired pool count for a unit count.

use super::*;

#[test]
fn sizing_rule_is_min_max_of_ceil_units_over_units_per_pool() {
    let c = builder(5).min_pools(2).units_per_pool(10).build().unwrap();
    for (units, want) in [(0, 2), (1, 2), (10, 2), (20, 2), (21, 3), (30, 3), (31, 4), (50, 5), (51, 5)] {
        assert_eq!(c.desired_executor_count(units), want, "units {units}");
    }
    assert_eq!(c.desired_executor_count(u64::MAX), 5, "u64::MAX clamps to max_pools");
    let one = builder(usize::MAX).units_per_pool(1).build().unwrap();
    assert_eq!(one.desired_executor_count(u64::MAX), usize::try_from(u64::MAX).unwrap_or(usize::MAX));
    let big = builder(3).units_per_pool(u64::MAX).build().unwrap();
    assert_eq!(
        (big.desired_executor_count(0), big.desired_executor_count(1), big.desired_executor_count(u64::MAX)),
        (1, 1, 1)
    );
}

#[test]
fn core_sizes_from_the_units_it_was_given() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(4), now, u64::MAX);
    assert_eq!((pools.len(), core.desired_executor_count()), (4, 4));
    core.notify_scale_changed(now);
    check(&mut core, now, 0);
    assert_eq!(shut_down(&drain_raw(&mut core)).len(), 3);
    assert_eq!((core.total_count(), core.desired_executor_count()), (1, 1), "0 units gives min_pools");
}
