//! divan versions of the nanosecond-scale scenarios, for one-at-a-time,
//! statistically richer runs than the interleaved `leasepool-bench` binary
//! gives: `cargo bench -p leasepool-bench`.
//!
//! * S1: one uncontended acquire + release. Each future is polled once
//!   with a no-op waker (an uncontended acquire never waits), inside a
//!   tokio runtime context, so the figure is the acquire path itself
//!   without a scheduler round trip.
//! * S7: a `leasepool-core` checker pass and `poll_timeout` with 10 and
//!   10,000 live leases.
//!
//! The numbers in `target/bench/summary.tsv` come from the binary, whose
//! loop runs on a tokio worker like an application's would; see its docs
//! for why divan cannot provide interleaved medians.

use std::future::{Future, IntoFuture};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use divan::Bencher;
use leasepool::tokio::{LeasedExecutorManager, TokioRuntime};
use leasepool_bench::{core_with_leases, manager, tokio_runtime};

fn main() {
    divan::main();
}

/// Polls `f` once; an uncontended acquire is ready at once.
fn ready<T>(f: impl Future<Output = T>) -> T {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an uncontended acquire must not wait"),
    }
}

/// leasepool as the binary's S1 uses it: 4 pools x 2 workers, all created.
fn started_manager(rt: &tokio::runtime::Runtime) -> LeasedExecutorManager {
    rt.block_on(manager::<TokioRuntime>(4, 2))
}

mod s1 {
    use super::*;

    #[divan::bench]
    fn leasepool_try_acquire_drop(bencher: Bencher<'_, '_>) {
        let rt = tokio_runtime();
        let _ctx = rt.enter();
        let m = started_manager(&rt);
        bencher.bench_local(|| drop(black_box(ready(m.try_acquire().into_future()).expect("free pool"))));
    }

    #[divan::bench]
    fn leasepool_acquire_drop(bencher: Bencher<'_, '_>) {
        let rt = tokio_runtime();
        let _ctx = rt.enter();
        let m = started_manager(&rt);
        bencher.bench_local(|| drop(black_box(ready(m.acquire().into_future()).expect("free pool"))));
    }

    #[divan::bench]
    fn tokio_semaphore_acquire_owned_drop(bencher: Bencher<'_, '_>) {
        let sem = Arc::new(tokio::sync::Semaphore::new(4));
        bencher.bench_local(|| drop(black_box(ready(Arc::clone(&sem).acquire_owned()).expect("open"))));
    }

    #[divan::bench]
    fn deadpool_unmanaged_get_drop(bencher: Bencher<'_, '_>) {
        let pool = deadpool::unmanaged::Pool::from(vec![0u64; 4]);
        bencher.bench_local(|| drop(black_box(ready(pool.get()).expect("open"))));
    }
}

mod s7 {
    use super::*;

    #[divan::bench(args = [10, 10_000])]
    fn checker_pass(bencher: Bencher<'_, '_>, live: usize) {
        let (mut core, now) = core_with_leases(10_000, 1, live);
        // Qualified: this bench function has the same name.
        bencher.bench_local(|| leasepool_bench::checker_pass(&mut core, now));
    }

    #[divan::bench(args = [10, 10_000])]
    fn poll_timeout(bencher: Bencher<'_, '_>, live: usize) {
        let (core, _) = core_with_leases(10_000, 1, live);
        bencher.bench_local(|| black_box(black_box(&core).poll_timeout()));
    }
}
