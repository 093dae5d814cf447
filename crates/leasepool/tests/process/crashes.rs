//! A worker process that dies (signal, abort, exit, memory limit) fails its
//! job with `WorkerCrashed` and retires its pool; a bad reply fails with
//! `WorkerProtocol`; a failing worker set-up breaks the pool. The manager
//! serves on with a replacement pool every time. A set-up that prints a lot
//! still finishes, and one still running at a stop is killed at once.

use std::time::{Duration, Instant};

use leasepool::process::ProcessConfig;
use leasepool::{Error, ErrorKind, Runtime};

use crate::common::capture::{events_of, install};
use crate::common::{eventually, eventually_for, within, within_for};
use crate::jobs::{Alloc, Big, CHATTER, CURSE, Crash, Echo, EchoAsBool, How, STALL, WhoAmI};
use crate::{config, is_gone, manager, marker, process_tests};

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

/// A worker whose set-up prints more than its output pipe holds still
/// finishes it: the pipe is read from the start.
async fn a_chatty_worker_setup_finishes<R: Runtime + Default>() {
    let cfg = config().worker_env(CHATTER, "1000000").start_timeout(Duration::from_secs(10));
    let m = manager::<R>(1, cfg, |b| b).await;
    let lease = m.acquire().await.unwrap();
    let echo = within_for::<R, _>(
        Duration::from_secs(20),
        "a job after a chatty set-up",
        lease.run::<Echo>("x".into()),
    );
    assert_eq!(echo.await.unwrap(), "echo: x");
    drop(lease);
    m.stop().await;
}

/// A stop while a worker still sets up kills it at once, not when its
/// start timeout runs out.
async fn a_stop_kills_a_worker_still_setting_up<R: Runtime + Default>() {
    let marker = marker("stall");
    install();
    let cfg = config().worker_env(STALL, &marker).start_timeout(Duration::from_secs(600));
    let m = manager::<R>(1, cfg, |b| b).await;
    let lease = m.acquire().await.unwrap();
    let queued = lease.submit::<Echo>("x".into()).unwrap();
    eventually::<R>("the worker's set-up starts", || marker.exists()).await;
    let pid: u32 = eventually_some::<R, _>(|| std::fs::read_to_string(&marker).ok()?.parse().ok()).await;
    let _ = std::fs::remove_file(&marker);
    m.stop().await;
    let stopped = Instant::now();
    let err = within::<R, _>("the queued call ends", queued).await.unwrap_err();
    assert!(matches!(err, Error::Stopped | Error::Cancelled), "{err:?}");
    eventually_for::<R>(Duration::from_secs(5), &format!("worker {pid} gone after the stop"), || {
        is_gone(pid)
    })
    .await;
    println!("worker process {pid} gone {:?} after the stop", stopped.elapsed());
    // Its thread ends without calling the pool broken: nothing broke.
    eventually::<R>("the pool's threads end", || m.stats().winding_down == 0).await;
    let broken = events_of("leasepool_driver::backend", "worker initializer failed");
    assert!(
        !broken.iter().any(|e| e.fields.get("error").is_some_and(|m| m.contains(&pid.to_string()))),
        "{broken:?}"
    );
    drop(lease);
}

/// Calls queued behind one that crashes its worker (sent in its batch, or
/// still waiting) all end, none hangs: those before it with their outputs,
/// the rest with the crash or the broken pool.
async fn calls_queued_behind_a_crash_all_end<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let before: Vec<_> = (0..5).map(|i| lease.submit::<Echo>(format!("{i}")).unwrap()).collect();
    let crash = lease.submit::<Crash>(How::Exit(5)).unwrap();
    let behind: Vec<_> = (0..20).map(|i| lease.submit::<Echo>(format!("{i}"))).collect();
    for (i, handle) in before.into_iter().enumerate() {
        assert_eq!(within::<R, _>("a call before the crash", handle).await.unwrap(), format!("echo: {i}"));
    }
    let err = within::<R, _>("the crashing call", crash).await.unwrap_err();
    assert!(matches!(err, Error::WorkerCrashed { code: Some(5), .. }), "{err:?}");
    for handle in behind {
        // Refused at once once the pool is retired, or failed from the handle.
        let err = match handle {
            Ok(handle) => within::<R, _>("a call behind the crash", handle).await.unwrap_err(),
            Err(err) => err,
        };
        assert!(matches!(err, Error::WorkerCrashed { .. } | Error::Broken(_) | Error::Cancelled), "{err:?}");
    }
    drop(lease);
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run::<Echo>("after".into()).await.unwrap(), "echo: after");
    drop(lease);
    m.stop().await;
}

/// A worker program that never connects (or ends at once) breaks its pool
/// with a message naming the cause; the process is killed and reaped.
async fn a_worker_that_never_connects_breaks_its_pool<R: Runtime + Default>() {
    for (program, args, why) in
        [("sleep", &["600"][..], "did not connect within"), ("true", &[][..], "ended before it connected")]
    {
        let cfg = ProcessConfig::new()
            .worker_program(program)
            .worker_args(args)
            .start_timeout(Duration::from_millis(500))
            .kill_grace(Duration::from_millis(100));
        let m = manager::<R>(1, cfg, |b| b).await;
        let lease = m.acquire().await.unwrap();
        let err = within::<R, _>("the job on a pool that never started", lease.run::<Echo>("x".into()))
            .await
            .unwrap_err();
        println!("{program}: {err}");
        let Error::Broken(msg) = &err else { panic!("{program}: expected Broken, got {err:?}") };
        assert!(msg.contains(why), "{program}: {msg}");
        let pid: u32 = msg
            .split("worker process ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|pid| pid.parse().ok())
            .unwrap_or_else(|| panic!("a pid in {msg}"));
        assert!(is_gone(pid), "{program}: worker {pid} killed and reaped");
        drop(lease);
        m.stop().await;
    }
}

/// Polls `f` until it gives a value (fails the test after a while).
async fn eventually_some<R: Runtime + Default, T>(mut f: impl FnMut() -> Option<T>) -> T {
    let mut out = None;
    eventually::<R>("a value", || {
        out = f();
        out.is_some()
    })
    .await;
    out.expect("set when the wait ended")
}

process_tests! {
    calls_queued_behind_a_crash_all_end,
    a_worker_that_never_connects_breaks_its_pool,
    a_chatty_worker_setup_finishes,
    a_stop_kills_a_worker_still_setting_up,
    crashes_are_typed_and_retire_the_pool,
    a_crash_leaves_other_pools_alone,
    the_memory_limit_ends_a_greedy_job,
    an_oversized_reply_is_refused_unread,
    a_reply_of_another_type_is_refused,
    a_failing_worker_setup_breaks_the_pool,
}
