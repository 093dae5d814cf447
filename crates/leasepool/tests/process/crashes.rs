//! A worker process that dies (signal, abort, exit, memory limit) fails its
//! job with `WorkerCrashed` and retires its pool; a bad reply fails with
//! `WorkerProtocol`; a failing worker set-up breaks the pool. The manager
//! serves on with a replacement pool every time.

use leasepool::{Error, ErrorKind, Runtime};

use crate::jobs::{Alloc, Big, CURSE, Crash, Echo, EchoAsBool, How, WhoAmI};
use crate::{config, is_gone, manager, process_tests};

/// Runs `how` on a fresh lease and checks the crash and the replacement.
async fn crash_once<R: Runtime + Default>(
    m: &leasepool::process::ProcessManager<R>,
    how: How,
    want: (Option<i32>, Option<i32>),
) {
    let lease = m.acquire().await.unwrap();
    let pid = lease.run::<WhoAmI>(()).await.unwrap();
    let err = lease.run::<Crash>(how).await.unwrap_err();
    println!("{err}");
    match &err {
        Error::WorkerCrashed { signal, code } => assert_eq!((*signal, *code), want, "{err}"),
        other => panic!("expected WorkerCrashed, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::WorkerCrashed);
    assert!(err.is_retryable());
    assert!(is_gone(pid), "the crashed worker {pid} was reaped");
    // The lease's pool is retired: its next job says why.
    let again = lease.run::<Echo>("x".into()).await.unwrap_err();
    assert!(matches!(&again, Error::Broken(msg) if msg.contains("crashed")), "{again:?}");
    drop(lease);
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run::<Echo>("after".into()).await.unwrap(), "echo: after");
}

async fn crashes_are_typed_and_retire_the_pool<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b).await;
    crash_once(&m, How::Segfault, (Some(11), None)).await;
    crash_once(&m, How::Abort, (Some(6), None)).await;
    crash_once(&m, How::Exit(3), (None, Some(3))).await;
    m.stop().await;
}

async fn a_crash_leaves_other_pools_alone<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b.min_pools(2)).await;
    let a = m.acquire().await.unwrap();
    let b = m.acquire().await.unwrap();
    let b_pid = b.run::<WhoAmI>(()).await.unwrap();
    assert!(matches!(a.run::<Crash>(How::Exit(9)).await, Err(Error::WorkerCrashed { .. })));
    assert_eq!(b.run::<WhoAmI>(()).await.unwrap(), b_pid, "the other pool's worker lives on");
    drop((a, b));
    m.stop().await;
}

async fn the_memory_limit_ends_a_greedy_job<R: Runtime + Default>() {
    let m = manager::<R>(1, config().memory_limit(1 << 30), |b| b).await;
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run::<Alloc>(1 << 20).await.unwrap(), 256, "a small allocation fits");
    let err = lease.run::<Alloc>(4 << 30).await.unwrap_err();
    println!("{err}");
    assert!(matches!(err, Error::WorkerCrashed { signal: Some(6), .. }), "{err:?}");
    drop(lease);
    m.stop().await;
}

async fn an_oversized_reply_is_refused_unread<R: Runtime + Default>() {
    let m = manager::<R>(1, config().max_frame(1024), |b| b).await;
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run::<Big>(100).await.unwrap().len(), 100);
    let err = lease.run::<Big>(1 << 20).await.unwrap_err();
    println!("{err}");
    assert!(matches!(&err, Error::WorkerProtocol(msg) if msg.contains("over the limit")), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::PoolBroken);
    // An input over the limit fails before it is sent.
    let err = lease.run::<Echo>("y".repeat(2000)).await.unwrap_err();
    assert!(matches!(&err, Error::Codec(msg) if msg.contains("max_frame")), "{err:?}");
    drop(lease);
    m.stop().await;
}

async fn a_reply_of_another_type_is_refused<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let err = lease.run::<EchoAsBool>("hi".into()).await.unwrap_err();
    println!("{err}");
    assert!(matches!(&err, Error::WorkerProtocol(msg) if msg.contains("did not decode")), "{err:?}");
    drop(lease);
    m.stop().await;
}

async fn a_failing_worker_setup_breaks_the_pool<R: Runtime + Default>() {
    let m = manager::<R>(2, config().worker_env(CURSE, "no license server"), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let err = lease.run::<Echo>("x".into()).await.unwrap_err();
    println!("{err}");
    assert!(matches!(&err, Error::Broken(msg) if msg.contains("no license server")), "{err:?}");
    drop(lease);
    m.stop().await;
}

process_tests! {
    crashes_are_typed_and_retire_the_pool,
    a_crash_leaves_other_pools_alone,
    the_memory_limit_ends_a_greedy_job,
    an_oversized_reply_is_refused_unread,
    a_reply_of_another_type_is_refused,
    a_failing_worker_setup_breaks_the_pool,
}
