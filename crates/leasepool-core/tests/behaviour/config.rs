//! Section 8, configuration validation.

use super::*;

#[test]
fn config_requires_max_pools() {
    let err = Config::builder().build().unwrap_err();
    assert_eq!(err, ConfigError::Missing { field: "max_pools" });
    assert!(err.to_string().contains("max_pools"));
}

#[test]
fn config_counts_must_be_at_least_one_and_errors_name_the_field() {
    let cases: [(&str, ConfigBuilder); 4] = [
        ("max_pools", Config::builder().max_pools(0).min_pools(0)),
        ("min_pools", builder(2).min_pools(0)),
        ("units_per_pool", builder(2).units_per_pool(0)),
        ("workers_per_pool", builder(2).workers_per_pool(0)),
    ];
    for (field, b) in cases {
        let err = b.build().unwrap_err();
        assert_eq!(err, ConfigError::TooSmall { field, value: 0 }, "{field}");
        assert_eq!(err.field(), field);
        assert!(err.to_string().contains(field), "{err}");
    }
    assert!(builder(1).min_pools(1).units_per_pool(1).workers_per_pool(1).build().is_ok());
}

#[test]
fn config_min_pools_must_not_exceed_max_pools() {
    let err = builder(2).min_pools(3).build().unwrap_err();
    assert_eq!(err, ConfigError::MinAboveMax { min: 3, max: 2 });
    assert_eq!(err.field(), "min_pools");
    assert!(err.to_string().contains("min_pools") && err.to_string().contains("max_pools"));
    assert!(builder(3).min_pools(3).build().is_ok());
}

#[test]
fn config_durations_check_interval_and_default_lease_for_must_be_positive_grace_may_be_zero() {
    for (field, b) in [
        ("check_interval", builder(1).check_interval(Duration::ZERO)),
        ("default_lease_for", builder(1).default_lease_for(Duration::ZERO)),
    ] {
        let err = b.build().unwrap_err();
        assert_eq!(err, ConfigError::ZeroDuration { field });
        assert!(err.to_string().contains(field), "{err}");
    }
    let c = builder(1).lease_grace(Duration::ZERO).build().expect("grace 0 = no grace");
    assert_eq!(c.lease_grace(), Duration::ZERO);
    assert!(
        builder(1)
            .check_interval(Duration::from_nanos(1))
            .default_lease_for(Duration::from_nanos(1))
            .build()
            .is_ok()
    );

    // Absurdly long durations are refused too, naming the field.
    let huge = Duration::from_secs(u64::MAX);
    for (field, b) in [
        ("check_interval", builder(1).check_interval(huge)),
        ("default_lease_for", builder(1).default_lease_for(huge)),
        ("lease_grace", builder(1).lease_grace(huge)),
    ] {
        assert_eq!(b.build().unwrap_err(), ConfigError::DurationTooLong { field });
    }
}

#[test]
fn per_acquire_lease_for_of_zero_is_rejected_naming_lease_for() {
    let now = Instant::now();
    let (mut core, _) = started(builder(1), now, 0);
    let err = core.acquire(now, Acquire::no_wait().lease_for(Duration::ZERO)).unwrap_err();
    assert_eq!(err, AcquireError::InvalidLease(ConfigError::ZeroDuration { field: "lease_for" }));
    assert!(err.to_string().contains("lease_for"), "{err}");
    let AcquireError::InvalidLease(inner) = &err else { unreachable!() };
    assert_eq!(inner.field(), "lease_for");
    assert_eq!(
        core.config().validate_lease_for(Duration::ZERO),
        Err(ConfigError::ZeroDuration { field: "lease_for" })
    );
    // Rejected before anything happens, waiting or not.
    assert!(matches!(
        core.acquire(now, Acquire::wait().lease_for(Duration::ZERO)),
        Err(AcquireError::InvalidLease(_))
    ));
    assert!(drain_raw(&mut core).is_empty());
    assert_eq!((core.leased_count(), core.waiting_count()), (0, 0));
    assert!(matches!(
        core.acquire(now, Acquire::no_wait().lease_for(Duration::from_secs(u64::MAX))),
        Err(AcquireError::InvalidLease(ConfigError::DurationTooLong { field: "lease_for" }))
    ));
}
