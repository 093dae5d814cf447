//! Misuse panics: ids from another core, a pool confirmed or failed twice,
//! more jobs finished than submitted, `release_busy` after `job_submitted`.

use super::*;

/// A started core with one idle pool, and a second one whose ids are foreign
/// to it: a lease, a waiter and a pool of the second.
fn two_cores() -> (Core, Instant, Grant, WaiterId, PoolId) {
    let now = Instant::now();
    let (core, _) = started(builder(1), now, 0);
    let (mut other, pools) = started(builder(1), now, 0);
    let g = take(&mut other, now);
    let w = queued(other.acquire(now, Acquire::wait()));
    (core, now, g, w, pools[0])
}

#[test]
#[should_panic(expected = "release was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_release() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.release(now, g.lease);
}

#[test]
#[should_panic(expected = "release_busy was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_release_busy() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.release_busy(now, g.lease);
}

#[test]
#[should_panic(expected = "job_submitted was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_job_submitted() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.job_submitted(now, g.lease);
}

#[test]
#[should_panic(expected = "job_finished was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_job_finished() {
    let (mut core, now, g, _, _) = two_cores();
    let _ = core.job_finished(now, g.lease);
}

#[test]
#[should_panic(expected = "lease_owner was given a lease id issued by another Core")]
fn a_foreign_lease_id_panics_in_lease_owner() {
    let (core, _, g, _, _) = two_cores();
    let _ = core.lease_owner(g.lease);
}

#[test]
#[should_panic(expected = "cancel_waiter was given a waiter id issued by another Core")]
fn a_foreign_waiter_id_panics_in_cancel_waiter() {
    let (mut core, now, _, w, _) = two_cores();
    let _ = core.cancel_waiter(now, w);
}

#[test]
#[should_panic(expected = "pool_broken was given a pool id issued by another Core")]
fn a_foreign_pool_id_panics_in_pool_broken() {
    let (mut core, now, _, _, pool) = two_cores();
    let _ = core.pool_broken(now, pool);
}

#[test]
#[should_panic(expected = "pool_created was given a pool id issued by another Core")]
fn a_foreign_pool_id_panics_in_pool_created() {
    let (mut core, now, _, _, pool) = two_cores();
    core.pool_created(now, pool);
}

#[test]
#[should_panic(expected = "pool_create_failed was given a pool id issued by another Core")]
fn a_foreign_pool_id_panics_in_pool_create_failed() {
    let (mut core, now, _, _, pool) = two_cores();
    core.pool_create_failed(now, pool);
}

#[test]
#[should_panic(expected = "pool_created for pool 1, which is not being created")]
fn confirming_a_pool_twice_panics() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(1), now, 0);
    core.pool_created(now, pools[0]);
}

#[test]
#[should_panic(expected = "pool_create_failed for pool 1, which is not being created")]
fn failing_a_confirmed_pool_panics() {
    let now = Instant::now();
    let (mut core, pools) = started(builder(1), now, 0);
    core.pool_create_failed(now, pools[0]);
}

#[test]
#[should_panic(expected = "pool_create_failed for pool 1, which is not being created")]
fn failing_a_creation_twice_panics() {
    let now = Instant::now();
    let (mut core, p) = starting(builder(1), now);
    core.pool_create_failed(now, p);
    core.pool_create_failed(now, p);
}

#[test]
#[should_panic(expected = "job_finished on lease 1 with no job in flight")]
fn job_finished_with_no_job_in_flight_panics() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    core.job_finished(now, g.lease).unwrap();
    let _ = core.job_finished(now, g.lease);
}

#[test]
#[should_panic(expected = "release_busy on lease 1 whose jobs were reported with job_submitted")]
fn release_busy_after_job_submitted_panics() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let g = take(&mut core, now);
    core.job_submitted(now, g.lease).unwrap();
    let _ = core.release_busy(now, g.lease);
}
