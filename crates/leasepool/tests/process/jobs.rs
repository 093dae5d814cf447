//! The jobs the worker processes of these tests know, and typed jobs on
//! process leases and the grinder.

use leasepool::Runtime;
use leasepool::process::{Jobs, ProcessGrinder, ProcessJob};
use serde::{Deserialize, Serialize};

use crate::common::within;
use crate::{config, manager, process_tests};

/// Set in a worker's environment to make its set-up fail.
pub(crate) const CURSE: &str = "LEASEPOOL_TEST_CURSED_SETUP";
/// Set to a path in a worker's environment to make its set-up write its
/// pid there and then never finish.
pub(crate) const STALL: &str = "LEASEPOOL_TEST_STALLED_SETUP";
/// Set to a byte count in a worker's environment to make its set-up print
/// that much on stderr before it finishes.
pub(crate) const CHATTER: &str = "LEASEPOOL_TEST_CHATTY_SETUP";

pub(crate) fn registry() -> Jobs {
    Jobs::new()
        .register::<Echo>()
        .register::<WhoAmI>()
        .register::<Spin>()
        .register::<Crash>()
        .register::<Boom>()
        .register::<Alloc>()
        .register::<Big>()
        .register::<Say>()
        .register::<Touchy>()
        .setup(|| {
            if let Ok(bytes) = std::env::var(CHATTER) {
                let line = "set-up chatter ".repeat(64);
                for _ in 0..bytes.parse::<usize>().expect("a byte count") / line.len() {
                    eprintln!("{line}");
                }
            }
            if let Some(marker) = std::env::var_os(STALL) {
                std::fs::write(marker, std::process::id().to_string()).expect("write the marker");
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
            match std::env::var(CURSE) {
                Ok(why) => Err(why),
                Err(_) => Ok(()),
            }
        })
}

pub(crate) struct Echo;
impl ProcessJob for Echo {
    const NAME: &'static str = "echo";
    type Input = String;
    type Output = String;
    fn run(s: String) -> String {
        format!("echo: {s}")
    }
}

/// The worker's pid.
pub(crate) struct WhoAmI;
impl ProcessJob for WhoAmI {
    const NAME: &'static str = "who-am-i";
    type Input = ();
    type Output = u32;
    fn run((): ()) -> u32 {
        std::process::id()
    }
}

/// Never returns; creates the file it is given first, if any (so that a
/// test knows it runs).
pub(crate) struct Spin;
impl ProcessJob for Spin {
    const NAME: &'static str = "spin";
    type Input = Option<std::path::PathBuf>;
    type Output = ();
    fn run(started: Option<std::path::PathBuf>) {
        if let Some(path) = started {
            std::fs::write(path, b"spinning").expect("write the marker");
        }
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) enum How {
    Segfault,
    Abort,
    Exit(i32),
}

/// Ends its worker.
pub(crate) struct Crash;
impl ProcessJob for Crash {
    const NAME: &'static str = "crash";
    type Input = How;
    type Output = ();
    fn run(how: How) {
        match how {
            How::Segfault => loop {
                // What a wild pointer brings, without `unsafe`. The first
                // SIGSEGV only meets std's stack-overflow handler, which
                // puts the default action back (a real fault would then
                // fault again); the next one kills.
                let _ = std::process::Command::new("kill")
                    .args(["-SEGV", &std::process::id().to_string()])
                    .status();
                std::thread::sleep(std::time::Duration::from_millis(5));
            },
            How::Abort => std::process::abort(),
            How::Exit(code) => std::process::exit(code),
        }
    }
}

/// Panics with its input.
pub(crate) struct Boom;
impl ProcessJob for Boom {
    const NAME: &'static str = "boom";
    type Input = String;
    type Output = ();
    fn run(msg: String) {
        panic!("{msg}");
    }
}

/// Allocates and touches `n` bytes.
pub(crate) struct Alloc;
impl ProcessJob for Alloc {
    const NAME: &'static str = "alloc";
    type Input = u64;
    type Output = u64;
    fn run(n: u64) -> u64 {
        let v = vec![1u8; n as usize];
        v.iter().step_by(4096).map(|b| u64::from(*b)).sum()
    }
}

/// A reply of `n` bytes.
pub(crate) struct Big;
impl ProcessJob for Big {
    const NAME: &'static str = "big";
    type Input = usize;
    type Output = Vec<u8>;
    fn run(n: usize) -> Vec<u8> {
        vec![7; n]
    }
}

/// Logs its input with `tracing` and prints it on stdout and stderr.
pub(crate) struct Say;
impl ProcessJob for Say {
    const NAME: &'static str = "say";
    type Input = String;
    type Output = ();
    fn run(what: String) {
        tracing::info!(answer = 42, who = "worker", "said {what}");
        tracing::debug!("below the forwarded level: {what}");
        println!("stdout {what}");
        eprintln!("stderr {what}");
    }
}

/// An output whose decoding panics (in the parent only: the worker only
/// encodes it).
pub(crate) struct Touchy;
impl ProcessJob for Touchy {
    const NAME: &'static str = "touchy";
    type Input = ();
    type Output = Fragile;
    fn run((): ()) -> Fragile {
        Fragile
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Fragile;
impl<'de> Deserialize<'de> for Fragile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d)?;
        panic!("a fragile output");
    }
}

/// Known to the parent only.
pub(crate) struct Missing;
impl ProcessJob for Missing {
    const NAME: &'static str = "missing";
    type Input = ();
    type Output = ();
    fn run((): ()) {}
}

/// `echo`'s name with another output type: the worker's reply must not
/// decode into it.
pub(crate) struct EchoAsBool;
impl ProcessJob for EchoAsBool {
    const NAME: &'static str = "echo";
    type Input = String;
    type Output = bool;
    fn run(_: String) -> bool {
        unreachable!("runs in the worker as `Echo`")
    }
}

async fn typed_jobs_run_in_worker_processes<R: Runtime + Default>() {
    let m = manager::<R>(2, config(), |b| b).await;
    let lease = m.acquire().owner("typed").await.unwrap();
    assert_eq!(lease.run::<Echo>("hi".into()).await.unwrap(), "echo: hi");
    let handles: Vec<_> = (0..20).map(|i| lease.submit::<Echo>(format!("{i}")).unwrap()).collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), format!("echo: {i}"));
    }
    let pid = lease.run::<WhoAmI>(()).await.unwrap();
    assert_ne!(pid, std::process::id(), "the job ran in another process");
    assert_eq!(m.backend(), leasepool::Backend::Process);
    drop(lease);
    m.stop().await;
}

/// Runs `J` with `input` on a one-worker pool and returns its error, once
/// the same worker process has served the next job.
async fn fails_alone<R: Runtime + Default, J: ProcessJob<Output: std::fmt::Debug>>(
    input: J::Input,
) -> leasepool::Error {
    let m = manager::<R>(1, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let before = lease.run::<WhoAmI>(()).await.unwrap();
    let err = lease.run::<J>(input).await.unwrap_err();
    assert_eq!(lease.run::<WhoAmI>(()).await.unwrap(), before, "the worker lives on");
    drop(lease);
    m.stop().await;
    err
}

async fn an_unknown_job_fails_typed_and_the_worker_serves_on<R: Runtime + Default>() {
    let err = fails_alone::<R, Missing>(()).await;
    assert!(matches!(&err, leasepool::Error::UnknownJob(name) if &**name == "missing"), "{err:?}");
    assert!(!err.is_retryable());
}

async fn a_panicking_job_fails_alone<R: Runtime + Default>() {
    let err = fails_alone::<R, Boom>("kaboom".into()).await;
    assert!(matches!(&err, leasepool::Error::Panicked(msg) if msg.contains("kaboom")), "{err:?}");
}

/// A batch of calls whose inputs and outputs both overflow the socket's
/// buffers: the worker blocks writing a reply while the parent still
/// writes the batch, and neither may wait on the other for good.
async fn large_calls_in_one_batch_all_complete<R: Runtime + Default>() {
    let m = manager::<R>(1, config(), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let text = "x".repeat(256 << 10);
    let handles: Vec<_> = (0..32).map(|i| lease.submit::<Echo>(format!("{i} {text}")).unwrap()).collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let echo = within::<R, _>("a large call's reply", handle).await.unwrap();
        assert!(echo.starts_with(&format!("echo: {i} ")), "call {i}");
        assert_eq!(echo.len(), text.len() + format!("echo: {i} ").len());
    }
    drop(lease);
    m.stop().await;
}

/// A panic while the parent decodes a job's output fails that job with
/// `Panicked`, like a panic in the job itself; the worker serves on.
async fn a_panicking_output_decoder_fails_alone<R: Runtime + Default>() {
    let err = fails_alone::<R, Touchy>(()).await;
    assert!(matches!(&err, leasepool::Error::Panicked(msg) if msg.contains("fragile")), "{err:?}");
}

async fn the_grinder_batches_process_jobs<R: Runtime + Default>() {
    let m = manager::<R>(2, config(), |b| b).await;
    // Items alone are not kept waiting for company.
    let g =
        ProcessGrinder::new(&m, |b| b.batch_size_threshold(8).max_wait(std::time::Duration::from_millis(20)))
            .unwrap();
    g.start().await.unwrap();
    let futures: Vec<_> = (0..40).map(|i| g.submit::<Echo>(format!("{i}"))).collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.await.unwrap(), format!("echo: {i}"));
    }
    let err = g.submit::<Missing>(()).await.unwrap_err();
    assert!(matches!(err, leasepool::Error::UnknownJob(_)), "{err:?}");
    let err = g.submit::<Touchy>(()).await.unwrap_err();
    assert!(matches!(&err, leasepool::Error::Panicked(msg) if msg.contains("fragile")), "{err:?}");
    assert_eq!(g.submit::<Echo>("on".into()).await.unwrap(), "echo: on");
    g.stop(leasepool::StopMode::Drain).await;
    m.stop().await;
}

process_tests! {
    typed_jobs_run_in_worker_processes,
    large_calls_in_one_batch_all_complete,
    an_unknown_job_fails_typed_and_the_worker_serves_on,
    a_panicking_job_fails_alone,
    a_panicking_output_decoder_fails_alone,
    the_grinder_batches_process_jobs,
}
