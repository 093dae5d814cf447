//! A worker that breaks the protocol: this test binary re-executed as
//! `rogue_entry`, which connects and says hello like a worker, then answers
//! each call with the bytes its input asks for. Every kind of bad reply
//! fails its job with a typed error and retires the pool; the parent never
//! panics, and a replacement pool serves.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use leasepool::process::frame::{self, Reply};
use leasepool::process::{ProcessConfig, ProcessJob};
use leasepool::{Error, Runtime};

use crate::{manager, process_tests};

/// How the rogue answers a call (its input byte).
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
enum Answer {
    /// A well-formed reply: the string "ok".
    Fine = 0,
    /// A frame with no tag byte.
    Empty,
    /// A tag no reply has.
    UnknownTag,
    /// A panic message that is not UTF-8.
    NotUtf8,
    /// A hello where a reply belongs.
    Hello,
    /// A header announcing 2 GiB, then nothing.
    Oversized,
    /// Half a frame, then the process exits with code 17.
    CutThenExit,
    /// Half a frame, then the connection closes while the process lives on.
    CutThenClose,
}

/// Asks the rogue for one answer; the output type is the string "ok".
struct Rogue;
impl ProcessJob for Rogue {
    const NAME: &'static str = "rogue";
    type Input = u8;
    type Output = String;
    fn run(_: u8) -> String {
        unreachable!("only the rogue answers")
    }
}

/// The rogue worker's entry: a no-op in the test run itself.
#[test]
fn rogue_entry() {
    let Some(socket) = std::env::var_os("LEASEPOOL_PROCESS_SOCKET") else { return };
    let token = std::env::var("LEASEPOOL_PROCESS_TOKEN").ok().and_then(|t| t.parse().ok()).unwrap_or(0);
    let Ok(mut conn) = UnixStream::connect(socket) else { std::process::exit(4) };
    let mut out = Vec::new();
    frame::encode_reply(&Reply::Hello { token, pid: std::process::id() }, &mut out);
    conn.write_all(&out).expect("hello");
    loop {
        let mut header = [0; frame::HEADER];
        if conn.read_exact(&mut header).is_err() {
            std::process::exit(0);
        }
        let mut body = vec![0; u32::from_le_bytes(header) as usize];
        conn.read_exact(&mut body).expect("a whole call");
        let call = frame::decode_call(&body).expect("a call");
        let bytes: Vec<u8> = match call.input.first().copied().unwrap_or(0) {
            0 => {
                let mut out = Vec::new();
                frame::encode_reply(&Reply::Ok(&[2, b'o', b'k']), &mut out);
                out
            }
            1 => vec![0, 0, 0, 0],
            2 => vec![1, 0, 0, 0, 99],
            3 => vec![2, 0, 0, 0, frame::TAG_PANICKED, 0xff],
            4 => {
                let mut out = Vec::new();
                frame::encode_reply(&Reply::Hello { token, pid: std::process::id() }, &mut out);
                out
            }
            5 => vec![0, 0, 0, 0x80],
            6 | 7 => vec![10, 0, 0, 0, frame::TAG_OK, 1, 2],
            other => panic!("no answer {other}"),
        };
        conn.write_all(&bytes).expect("the answer");
        match call.input.first().copied().unwrap_or(0) {
            6 => std::process::exit(17),
            // Bounded, so that no rogue outlives a failed test for long.
            5 => std::thread::sleep(Duration::from_secs(30)),
            7 => {
                conn.shutdown(std::net::Shutdown::Both).expect("close");
                std::thread::sleep(Duration::from_secs(30));
            }
            _ => {}
        }
    }
}

fn rogue_config() -> ProcessConfig {
    ProcessConfig::new()
        .worker_args(["rogue::rogue_entry", "--exact", "--nocapture", "--test-threads=1"])
        .kill_grace(Duration::from_millis(100))
}

/// One bad answer on a fresh lease: the job's error, then the pool retired
/// (the lease's next job says so) and a replacement that serves.
async fn answer<R: Runtime + Default>(m: &leasepool::process::ProcessManager<R>, how: Answer) -> Error {
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run::<Rogue>(Answer::Fine as u8).await.unwrap(), "ok");
    let err = lease.run::<Rogue>(how as u8).await.unwrap_err();
    println!("{how:?}: {err}");
    let after = lease.run::<Rogue>(Answer::Fine as u8).await.unwrap_err();
    assert!(matches!(after, Error::Broken(_)), "{how:?}: the pool is retired: {after:?}");
    drop(lease);
    let lease = m.acquire().await.unwrap();
    assert_eq!(lease.run::<Rogue>(Answer::Fine as u8).await.unwrap(), "ok", "{how:?}: a replacement serves");
    err
}

async fn bad_replies_are_typed_errors_and_retire_the_pool<R: Runtime + Default>() {
    let m = manager::<R>(1, rogue_config(), |b| b).await;
    for (how, what) in [
        (Answer::Empty, "empty frame"),
        (Answer::UnknownTag, "unexpected frame tag 99"),
        (Answer::NotUtf8, "not UTF-8"),
        (Answer::Hello, "set-up frame"),
        (Answer::Oversized, "over the limit"),
        (Answer::CutThenClose, "closed its connection"),
    ] {
        let err = answer(&m, how).await;
        assert!(matches!(&err, Error::WorkerProtocol(msg) if msg.contains(what)), "{how:?}: {err:?}");
    }
    // A reply cut short by the worker's exit: the exit is what happened.
    let err = answer(&m, Answer::CutThenExit).await;
    assert!(matches!(err, Error::WorkerCrashed { signal: None, code: Some(17) }), "{err:?}");
    m.stop().await;
}

process_tests! {
    bad_replies_are_typed_errors_and_retire_the_pool,
}
