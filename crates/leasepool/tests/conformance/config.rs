//! Configuration validation: `build()` rejects every invalid setting (and
//! an acquire its zero lease duration) with an error naming the field; the
//! defaults of every setting but the required `max_pools`.

use std::time::Duration;

use leasepool::driver::Builder;
use leasepool::{Backend, ConfigError, Error, Runtime};

use crate::common::*;

fn rejected<R: Runtime>(builder: Builder<R>) -> ConfigError {
    builder.build().expect_err("the configuration must be rejected")
}

/// `build` rejects each invalid field with an error naming it.
async fn config_errors_name_the_field<R: Runtime + Default>() {
    let cases: Vec<(Builder<R>, &str)> = vec![
        (builder::<R>(), "max_pools"),
        (builder::<R>().max_pools(0), "max_pools"),
        (builder::<R>().max_pools(2).min_pools(0), "min_pools"),
        (builder::<R>().max_pools(2).min_pools(3), "min_pools"),
        (builder::<R>().max_pools(2).units_per_pool(0), "units_per_pool"),
        (builder::<R>().max_pools(2).workers_per_pool(0), "workers_per_pool"),
        (builder::<R>().max_pools(2).check_interval(Duration::ZERO), "check_interval"),
        (builder::<R>().max_pools(2).default_lease_for(Duration::ZERO), "default_lease_for"),
        (builder::<R>().max_pools(2).name_prefix("bad\0prefix"), "name_prefix"),
        (builder::<R>().max_pools(2).backend(Backend::Process), "backend"),
    ];
    for (builder, field) in cases {
        let err = rejected(builder);
        assert_eq!(err.field(), field, "{err}");
        assert!(err.to_string().contains(field), "the message names the field: {err}");
        let err = Error::from(err);
        assert!(err.to_string().contains(field), "and so does the manager error: {err}");
    }

    // Zero grace means "no grace"; min == max is fine.
    let m = builder::<R>().max_pools(2).min_pools(2).lease_grace(Duration::ZERO).build().expect("valid");
    assert_eq!(m.config().lease_grace(), Duration::ZERO);
    assert_eq!(m.config().min_pools(), 2);
}

/// Built with only `max_pools`, every other setting has its default
/// (README.md, "Configuration"; the same as in the Python original,
/// leasepool 0.1.3), seen through the public API: `min_pools` 1,
/// `units_per_pool` 10, `check_interval` 120 s, default lease 300 s, grace
/// 15 s, `workers_per_pool` 4 (a lease's jobs run on 4 distinct worker
/// threads named `leasepool-{pool}-{0..3}`), `name_prefix` `leasepool`; and
/// `max_pools` has no default: it is required.
async fn defaults_follow_the_original<R: Runtime + Default>() {
    match builder::<R>().build() {
        Err(ConfigError::Missing { field }) => assert_eq!(field, "max_pools"),
        Err(other) => panic!("without max_pools: expected `Missing {{ max_pools }}`, got {other:?}"),
        Ok(_) => panic!("max_pools is required, but the builder accepted a configuration without it"),
    }
    let err = rejected(builder::<R>());
    assert!(err.to_string().contains("max_pools"), "the message names the field: {err}");

    let m = builder::<R>().max_pools(1).build().expect("only max_pools is required");
    let c = m.config();
    assert_eq!(c.max_pools(), 1);
    assert_eq!(c.min_pools(), 1, "min_pools");
    assert_eq!(c.units_per_pool(), 10, "units_per_pool");
    assert_eq!(c.check_interval(), Duration::from_secs(120), "check_interval");
    assert_eq!(c.default_lease_for(), Duration::from_secs(300), "default_lease_for");
    assert_eq!(c.lease_grace(), Duration::from_secs(15), "lease_grace");
    assert_eq!(c.workers_per_pool(), 4, "workers_per_pool");
    assert_eq!(m.backend(), Backend::Thread, "backend");

    m.start().await.expect("start");
    let s = m.stats();
    assert_eq!(&*s.name_prefix, "leasepool", "name_prefix");
    assert_eq!((s.min_pools, s.max_pools, s.workers_per_pool), (1, 1, 4), "{s:?}");
    // No size provider: 0 units, so the minimum of one pool.
    assert_eq!((s.units, s.desired_executor_count, s.total), (0, 1, 1), "{s:?}");

    let lease = m.acquire().await.expect("acquire");
    assert_eq!(lease.lease_for(), Duration::from_secs(300), "the default lease");
    assert_eq!(lease.grace(), Duration::from_secs(15), "the default grace");
    assert_eq!(lease.soft_expires_at(), lease.leased_at() + Duration::from_secs(300));
    assert_eq!(lease.hard_expires_at(), lease.soft_expires_at() + Duration::from_secs(15));
    let pool = lease.pool_id().get();
    let mut names = every_worker_answers(&lease, 4).await;
    names.sort();
    let expected: Vec<String> = (0..4).map(|i| format!("leasepool-{pool}-{i}")).collect();
    assert_eq!(names, expected, "4 workers named `{{name_prefix}}-{{pool}}-{{i}}`");
    drop(lease);
    m.stop().await;
}

/// A zero per-acquire lease is a configuration error naming "lease", for
/// acquire and try_acquire, whether or not a pool is free; it neither
/// takes a pool nor queues.
async fn zero_lease_per_acquire_is_rejected<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let mut holder = None;
    for attempt in 0..2 {
        for result in [
            m.acquire().lease_for(Duration::ZERO).await,
            m.try_acquire().lease_for(Duration::ZERO).await,
            m.acquire().lease_for(Duration::ZERO).timeout(Duration::from_secs(1)).await,
        ] {
            match result {
                Err(Error::Config(e)) => {
                    assert_eq!(e.field(), "lease_for");
                    assert!(Error::Config(e).to_string().contains("lease_for"));
                }
                other => panic!("attempt {attempt}: expected a config error, got {other:?}"),
            }
        }
        let (_, leased, total, waiting) = counts(&m);
        assert_eq!((leased, total, waiting), (attempt, 1, 0));
        if attempt == 0 {
            // Again with the only pool leased: still rejected, not queued.
            holder = Some(m.acquire().await.unwrap());
        }
    }
    drop(holder);
    m.stop().await;
}

conformance! {
    config_errors_name_the_field,
    defaults_follow_the_original,
    zero_lease_per_acquire_is_rejected,
}
