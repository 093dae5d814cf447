//! Use from plain threads and the handle's auto traits: the manager is
//! `Send + Sync + Clone`, with a blocking acquire for plain threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use leasepool::driver::{Acquiring, JobHandle, Lease, LeasedExecutorManager};
use leasepool::{Error, Runtime};

use crate::common::*;

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
fn assert_send_sync<T: Send + Sync + 'static>() {}
fn assert_send<T: Send + 'static>() {}

/// Static assertions, checked for every runtime `R` at once (the bounds of
/// a generic function are checked where it is defined).
#[allow(dead_code)]
fn handle_types_are_thread_safe<R: Runtime>() {
    assert_send_sync_clone::<LeasedExecutorManager<R>>();
    assert_send_sync::<Lease<R>>();
    assert_send::<Acquiring<R>>();
    assert_send::<JobHandle<String>>();
    assert_send_sync::<Error>();
}

/// The manager is Send + Sync + Clone; clones share one state; it works
/// from many plain threads at once.
async fn manager_is_send_sync_clone<R: Runtime + Default>() {
    handle_types_are_thread_safe::<R>();
    let m = started(builder::<R>().max_pools(2).workers_per_pool(1)).await;
    let clone = m.clone();
    let lease = clone.acquire().await.unwrap();
    assert_eq!(m.leased_count(), 1, "clones share one manager");
    drop(lease);
    assert_eq!(counts(&clone), (1, 0, 1, 0));

    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (m, done) = (m.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                for i in 0..25 {
                    let lease = m.acquire().owner(format!("thread-{t}")).blocking().expect("acquire");
                    assert_eq!(
                        lease.submit(move || t * 100 + i).expect("submit").wait().expect("job"),
                        t * 100 + i
                    );
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    eventually::<R>("every thread finishes", || done.load(Ordering::SeqCst) == 4).await;
    for t in threads {
        t.join().unwrap();
    }
    let (available, leased, total, waiting) = counts(&m);
    assert_eq!((leased, waiting), (0, 0));
    assert_eq!(available, total);
    assert!((1..=2).contains(&total));
    m.stop().await;
}

/// `acquire().blocking()` from a plain thread: gets a lease at once when a
/// pool is free, waits for a release otherwise; `try_acquire().blocking()`
/// fails with Unavailable instead of waiting.
async fn blocking_acquire_from_a_plain_thread<R: Runtime + Default>() {
    let m = started(builder::<R>().max_pools(1).workers_per_pool(1)).await;
    let m2 = m.clone();
    let free = std::thread::spawn(move || -> Result<i32, Error> {
        let lease = m2.acquire().owner("plain-thread").blocking()?;
        assert_eq!(lease.owner(), Some("plain-thread"));
        lease.submit(|| 21 * 2)?.wait()
    });
    eventually::<R>("the thread finishes", || free.is_finished()).await;
    assert_eq!(free.join().unwrap().unwrap(), 42);
    assert_eq!(counts(&m), (1, 0, 1, 0));

    let holder = m.acquire().await.unwrap();
    let m2 = m.clone();
    let unavailable = std::thread::spawn(move || m2.try_acquire().blocking().map(drop));
    eventually::<R>("try_acquire returns", || unavailable.is_finished()).await;
    assert!(matches!(unavailable.join().unwrap(), Err(Error::Unavailable)));

    let m2 = m.clone();
    let blocked = std::thread::spawn(move || m2.acquire().owner("blocked").blocking().map(|l| l.pool_id()));
    eventually::<R>("the blocking acquire queues", || m.waiting_count() == 1).await;
    assert!(!blocked.is_finished());
    let pool = holder.pool_id();
    drop(holder);
    eventually::<R>("the blocked thread is granted", || blocked.is_finished()).await;
    assert_eq!(blocked.join().unwrap().unwrap(), pool);
    assert_eq!(counts(&m), (1, 0, 1, 0));
    m.stop().await;
}

conformance! {
    manager_is_send_sync_clone,
    blocking_acquire_from_a_plain_thread,
}
