//! Configuration validation: every error names its field (DESIGN.md,
//! manager behaviour 8).

use std::time::Duration;

use leasepool::driver::Builder;
use leasepool::{ConfigError, Error, Runtime};

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
        (builder::<R>().max_pools(2).default_lease(Duration::ZERO), "default_lease"),
        (builder::<R>().max_pools(2).name_prefix("bad\0prefix"), "name_prefix"),
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
                    assert_eq!(e.field(), "lease");
                    assert!(Error::Config(e).to_string().contains("lease"));
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
    zero_lease_per_acquire_is_rejected,
}
