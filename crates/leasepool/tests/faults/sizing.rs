//! Hostile sizing: size providers that return 0, `usize::MAX`, or flap on
//! every call, with scale notifications and checks coming all the time.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leasepool::Runtime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::*;
use crate::{seeded, seeds};

const MIN: usize = 2;
const MAX: usize = 5;
/// How long each provider is hammered.
const PHASE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy)]
enum Mode {
    Zero,
    Max,
    /// 0, `usize::MAX`, 0, ... one per call.
    Alternate,
    /// A random value per call, extremes included.
    Random,
}

/// The provider under test; `fixed` overrides the mode (for the final check).
struct Provider {
    mode: Mode,
    calls: AtomicU64,
    flip: AtomicBool,
    rng: Mutex<StdRng>,
    fixed: Mutex<Option<usize>>,
}

impl Provider {
    fn units(&self) -> usize {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(units) = *self.fixed.lock().unwrap() {
            return units;
        }
        match self.mode {
            Mode::Zero => 0,
            Mode::Max => usize::MAX,
            Mode::Alternate => {
                if self.flip.fetch_xor(true, Ordering::Relaxed) {
                    usize::MAX
                } else {
                    0
                }
            }
            Mode::Random => {
                let mut rng = self.rng.lock().unwrap();
                match rng.random_range(0..6) {
                    0 => 0,
                    1 => usize::MAX,
                    2 => usize::MAX - rng.random_range(0..1_000),
                    3 => rng.random_range(0..100),
                    _ => rng.random::<u64>() as usize,
                }
            }
        }
    }
}

/// For each hostile provider (always 0, always `usize::MAX`, alternating,
/// random) and a random `units_per_pool` (1 up to `u64::MAX / 2`), with a
/// 1 ms check interval: one task calls `notify_scale_changed` in a loop,
/// one samples `stats()` and `desired_executor_count()`, two acquire and
/// run jobs. Every sample has `min_pools <= total <= max_pools`,
/// `total == available + leased` and a desired count in range; no panic
/// anywhere (a panic hook counts them); acquires keep being served. Then a
/// fixed provider value moves the pools to the minimum and to the value's
/// desired count: the checker survived.
async fn hostile_size_providers<R: Runtime + Default>() {
    for seed in seeds(1) {
        let (mut rng, _guard) = seeded("sizing::hostile_size_providers", seed);
        for mode in [Mode::Zero, Mode::Max, Mode::Alternate, Mode::Random] {
            let units_per_pool = match rng.random_range(0..4) {
                0 => 1,
                1 => 7,
                2 => 1 << 40,
                _ => u64::MAX / 2,
            };
            let provider = Arc::new(Provider {
                mode,
                calls: AtomicU64::new(0),
                flip: AtomicBool::new(false),
                rng: Mutex::new(StdRng::seed_from_u64(rng.random())),
                fixed: Mutex::new(None),
            });
            let p = Arc::clone(&provider);
            let m = started(
                builder::<R>()
                    .max_pools(MAX)
                    .min_pools(MIN)
                    .units_per_pool(units_per_pool)
                    .check_interval(Duration::from_millis(1))
                    .workers_per_pool(1)
                    .name_prefix("fsizing")
                    .size_provider(move || p.units()),
            )
            .await;

            let until = Instant::now() + PHASE;
            let notifies = Arc::new(AtomicUsize::new(0));
            let samples = Arc::new(AtomicUsize::new(0));
            let served = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            {
                let (m, notifies) = (m.clone(), Arc::clone(&notifies));
                tasks.push(spawn::<R, _>(async move {
                    while Instant::now() < until {
                        m.notify_scale_changed();
                        notifies.fetch_add(1, Ordering::Relaxed);
                        yield_now().await;
                    }
                }));
            }
            {
                let (m, samples) = (m.clone(), Arc::clone(&samples));
                tasks.push(spawn::<R, _>(async move {
                    while Instant::now() < until {
                        let s = m.stats();
                        assert_eq!(s.total, s.available + s.leased + s.creating, "{s:?}");
                        assert!((MIN..=MAX).contains(&s.total), "pool count out of bounds: {s:?}");
                        assert!(
                            (MIN..=MAX).contains(&s.desired_executor_count),
                            "desired out of bounds: {s:?}"
                        );
                        assert!((MIN..=MAX).contains(&m.desired_executor_count()));
                        assert!((MIN..=MAX).contains(&m.total_count()));
                        samples.fetch_add(1, Ordering::Relaxed);
                        yield_now().await;
                    }
                }));
            }
            for _ in 0..2 {
                let (m, served) = (m.clone(), Arc::clone(&served));
                tasks.push(spawn::<R, _>(async move {
                    while Instant::now() < until {
                        let lease =
                            m.acquire().timeout(Duration::from_secs(5)).await.expect("acquires are served");
                        assert_eq!(lease.run(|| 5).await.expect("job"), 5);
                        drop(lease);
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            join_all::<R, _>(PHASE + Duration::from_secs(10), "the sizing tasks end", tasks).await;
            // The checks above ran: the sampler sampled, the notifier
            // notified, acquires were served and the checker consulted the
            // provider.
            let ran = |n: &AtomicUsize| n.load(Ordering::Relaxed);
            assert!(ran(&samples) > 0, "{mode:?}: the sampler never checked the counts");
            assert!(ran(&notifies) > 0, "{mode:?}: no scale notification was sent");
            assert!(ran(&served) > 0, "{mode:?}: no acquire was served");
            assert!(provider.calls.load(Ordering::Relaxed) > 0, "{mode:?}: the provider was never called");

            // The checker is alive: a fixed value moves the pools, both ways.
            let config = m.config();
            let low = 0;
            let high = usize::MAX;
            for units in [low, high, low] {
                *provider.fixed.lock().unwrap() = Some(units);
                m.notify_scale_changed();
                let want = config.desired_executor_count(units as u64);
                eventually::<R>("the checker still follows the provider", || {
                    m.total_count() == want && m.available_count() == want
                })
                .await;
            }
            println!(
                "sizing {mode:?} (units_per_pool {units_per_pool}): {} provider calls, {} notifications, {} samples \
                 in [{MIN}, {MAX}], {} acquires served; pools then followed 0 -> {} -> 0",
                provider.calls.load(Ordering::Relaxed),
                notifies.load(Ordering::Relaxed),
                samples.load(Ordering::Relaxed),
                served.load(Ordering::Relaxed),
                config.desired_executor_count(high as u64),
            );
            m.stop().await;
        }
    }
}

faults! { hostile_size_providers }
