//! The parent's side of one worker process: starting it, sending it
//! batches of calls and reading their replies over its connection, and
//! ending it (SIGTERM, a grace period,
//! SIGKILL, and always a reap).
//!
//! A `WorkerProcess` belongs to exactly one pool worker thread, which is
//! the only one that signals or waits on it: the child is never reaped
//! while anyone else could still signal its pid, so a kill cannot hit a
//! reused pid. Other threads only shut its connection down (see
//! `PoolCtx::shut_down`), which wakes the owner.

use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::frame::{self, Call, FrameError, Reply};
use super::pool::PoolCtx;
use super::{env, logs};

/// Why a call got no reply.
pub(crate) enum CallError {
    /// The connection ended (or failed), perhaps inside a frame: the worker
    /// exited, was killed, or its pool shut the connection down.
    Gone,
    /// The worker sent bytes that are not a valid frame.
    Frame(FrameError),
}

/// A running worker process and its connection.
pub(crate) struct WorkerProcess {
    /// Reaped only by this struct, and only once the connection is over.
    child: Child,
    pid: u32,
    conn: UnixStream,
    /// The connection's read side, buffered: replies that arrive together
    /// are read with one call.
    reader: std::io::BufReader<UnixStream>,
    /// The last reply's body; reused between calls.
    buf: Vec<u8>,
    /// The frames of the calls being sent; reused between batches.
    out: Vec<u8>,
    /// How much of `out` has been written. Invariant: below `out.len()`
    /// only while calls of the current batch are still going out, which
    /// `receive` goes on writing whenever no reply is readable.
    written: usize,
    max_frame: usize,
    grace: Duration,
}

/// Buffer capacity kept between calls: a buffer grown past it for a large
/// batch or reply is freed once used, so that one large call does not hold
/// its memory for the worker's life.
const RETAIN: usize = 1 << 20;

/// Names of the socket directories this process made, so that two workers
/// started at once never share one.
static STARTED: AtomicU64 = AtomicU64::new(0);

impl WorkerProcess {
    /// Starts worker `worker` of the pool: spawns the program with the
    /// thread that forwards its output, and waits for its connection and
    /// hello (up to `start_timeout` in all, or until the pool shuts down).
    /// The error says why, for the pool's broken message.
    pub(crate) fn start(ctx: &PoolCtx, worker: usize) -> Result<WorkerProcess, String> {
        if super::is_worker() {
            return Err("this process is itself a worker process: its `main` must call \
                        `leasepool::process::init` before anything else"
                .to_owned());
        }
        let cfg = &ctx.config;
        let deadline = Instant::now() + cfg.start_timeout;
        let dir = socket_dir().map_err(|e| format!("could not create the worker socket directory: {e}"))?;
        let path = dir.join("s");
        let started = Self::spawn_and_accept(ctx, worker, &path, deadline);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
        let (child, conn, token) = started?;
        let pid = child.id();
        let reader = match conn.try_clone() {
            Ok(read_half) => std::io::BufReader::with_capacity(64 << 10, read_half),
            Err(e) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("worker process {pid}: {e}"));
            }
        };
        let mut process = WorkerProcess {
            child,
            pid,
            conn,
            reader,
            buf: Vec::new(),
            out: Vec::new(),
            written: 0,
            max_frame: cfg.max_frame,
            grace: cfg.kill_grace,
        };
        // Registered before the hello, so that a pool shut down while the
        // worker still sets up wakes this thread, which ends the worker at
        // once instead of when the start timeout runs out.
        let registered = process.conn.try_clone().map(|clone| ctx.register(clone));
        let ready = match registered {
            Ok(()) => process.hello(ctx, token, deadline),
            Err(e) => Err(format!("worker process {pid}: {e}")),
        };
        if let Err(why) = ready {
            process.terminate();
            return Err(why);
        }
        Ok(process)
    }

    fn spawn_and_accept(
        ctx: &PoolCtx,
        worker: usize,
        path: &Path,
        deadline: Instant,
    ) -> Result<(Child, UnixStream, u64), String> {
        let cfg = &ctx.config;
        let listener =
            UnixListener::bind(path).map_err(|e| format!("could not listen on {}: {e}", path.display()))?;
        let token = RandomState::new().hash_one((std::process::id(), worker, Instant::now())) | 1;
        let program = match &cfg.program {
            Some(program) => program.clone(),
            None => {
                std::env::current_exe().map_err(|e| format!("could not find the current executable: {e}"))?
            }
        };
        let mut cmd = Command::new(&program);
        cmd.args(&cfg.args)
            .envs(cfg.env.iter().map(|(k, v)| (k, v)))
            .env(env::SOCKET, path)
            .env(env::TOKEN, token.to_string())
            .env(env::PARENT, std::process::id().to_string())
            .env(env::MAX_FRAME, cfg.max_frame.to_string())
            .stdin(Stdio::null());
        if let Some(bytes) = cfg.memory_limit {
            cmd.env(env::MEMORY_LIMIT, bytes.to_string());
        }
        if cfg.logging.enabled {
            // stdout is joined to stderr by the worker's `init`; what it
            // prints before (a test harness's banner) is dropped.
            cmd.env(env::LOG_LEVEL, cfg.logging.level.as_str()).stdout(Stdio::null()).stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|e| format!("could not start {}: {e}", program.display()))?;
        // The output is read from the start: a set-up that printed more
        // than the pipe holds would otherwise block before its hello.
        let started = forward_output(ctx, worker, &mut child)
            .and_then(|()| accept(&listener, &mut child, ctx, deadline));
        match started {
            Ok(conn) => Ok((child, conn, token)),
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(why)
            }
        }
    }

    /// Reads the worker's first frame, by the deadline: its hello with our
    /// token, or why its set-up failed.
    fn hello(&mut self, ctx: &PoolCtx, token: u64, deadline: Instant) -> Result<(), String> {
        let pid = self.pid;
        // Never zero, which would mean no timeout at all.
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let _ = self.conn.set_read_timeout(Some(left));
        let read = read_frame(&mut self.reader, &mut self.buf, self.max_frame);
        let _ = self.conn.set_read_timeout(None);
        match read {
            Ok(()) => match frame::decode_reply(&self.buf) {
                Ok(Reply::Hello { token: t, pid: p }) if t == token && p == pid => Ok(()),
                Ok(Reply::Hello { .. }) => {
                    Err(format!("worker process {pid} sent a hello with the wrong token"))
                }
                Ok(Reply::InitFailed(why)) => Err(format!("worker process {pid}: {why}")),
                Ok(_) => Err(format!("worker process {pid} sent a reply before its hello")),
                Err(e) => Err(format!("worker process {pid} sent a bad hello: {e}")),
            },
            Err(CallError::Frame(e)) => Err(format!("worker process {pid} sent a bad hello: {e}")),
            Err(CallError::Gone) if ctx.is_shut() => {
                Err(format!("the pool shut down while worker process {pid} set up"))
            }
            Err(CallError::Gone) => {
                let status = self.wait_for(self.grace);
                Err(match status {
                    Some(status) => format!("worker process {pid} ended before its hello ({status})"),
                    None => {
                        format!("worker process {pid} sent no hello within {:?}", ctx.config.start_timeout)
                    }
                })
            }
        }
    }

    /// The worker's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends calls, as one write when the socket takes them all: the
    /// worker answers them in order, so a batch costs one wake-up each way
    /// instead of one per call. What the socket does not take now goes out
    /// while the replies are read (see [`receive`](Self::receive)).
    pub(crate) fn send<'a>(&mut self, calls: impl IntoIterator<Item = Call<'a>>) {
        self.out.clear();
        self.written = 0;
        for call in calls {
            frame::encode_call(call, &mut self.out);
        }
        self.write_until_readable();
    }

    /// Reads the next reply (borrowing the reply buffer), writing the rest
    /// of the batch while no reply is readable. A worker blocked writing a
    /// reply reads no call: were the rest of the batch written blocking,
    /// each side would wait for the other for good once both directions'
    /// buffers are full.
    pub(crate) fn receive(&mut self) -> Result<Reply<'_>, CallError> {
        self.write_until_readable();
        read_frame(&mut self.reader, &mut self.buf, self.max_frame)?;
        frame::decode_reply(&self.buf).map_err(CallError::Frame)
    }

    /// Writes what is left of `out` until it is all written or a reply
    /// can be read. A write that fails (the worker is gone, or the pool
    /// shut the connection down) ends the sending: the replies the worker
    /// sent still come in, then the end of the stream.
    fn write_until_readable(&mut self) {
        use rustix::event::{PollFd, PollFlags};
        while self.written < self.out.len() && self.reader.buffer().is_empty() {
            match send_some(&self.conn, &self.out[self.written..]) {
                Ok(n) => self.written += n,
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {
                    let mut fds = [PollFd::new(&self.conn, PollFlags::IN | PollFlags::OUT)];
                    if rustix::event::poll(&mut fds, None).is_ok()
                        && fds[0].revents().intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
                    {
                        return;
                    }
                }
                Err(_) => {
                    // A call cut short must not leave a live worker
                    // waiting for its rest while this side waits for its
                    // reply: the worker sees the end of the stream.
                    let _ = self.conn.shutdown(std::net::Shutdown::Write);
                    self.written = self.out.len();
                }
            }
        }
        if self.written == self.out.len() && self.out.capacity() > RETAIN {
            self.out = Vec::new();
            self.written = 0;
        }
    }

    /// Frees the reply buffer if a large reply grew it (between calls).
    pub(crate) fn trim(&mut self) {
        if self.buf.capacity() > RETAIN {
            self.buf = Vec::new();
        }
    }

    /// Ends the worker now: SIGTERM, up to the grace period to exit, then
    /// SIGKILL; reaps it either way.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        let _ = self.conn.shutdown(std::net::Shutdown::Both);
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        // Not reaped yet, so the pid is still this child's.
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        self.wait_for(self.grace).unwrap_or_else(|| self.kill())
    }

    /// The connection ended by itself: the worker exited or is exiting.
    /// Waits up to the grace period for its status (`Err` with the status
    /// after SIGKILL if it kept running without its connection).
    pub(crate) fn exited(&mut self) -> Result<ExitStatus, ExitStatus> {
        self.wait_for(self.grace).ok_or_else(|| self.kill())
    }

    fn kill(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(0))
    }

    /// Polls for the worker's exit for up to `timeout`, reaping it.
    fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Ok(None) => return None,
                // Already reaped (cannot happen: only we wait on it).
                Err(_) => return Some(std::os::unix::process::ExitStatusExt::from_raw(0)),
            }
        }
    }
}

impl Drop for WorkerProcess {
    /// The worker thread is ending (its pool shut down): closing the
    /// connection makes an idle worker exit; one that does not within the
    /// grace period is killed. Reaped either way.
    fn drop(&mut self) {
        let _ = self.conn.shutdown(std::net::Shutdown::Both);
        if self.wait_for(self.grace).is_none() {
            self.kill();
        }
    }
}

/// A fresh directory only this user can enter, for one worker's socket.
fn socket_dir() -> io::Result<PathBuf> {
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let salt = RandomState::new().hash_one(n) & 0xffff_ffff;
    let dir = std::env::temp_dir().join(format!("leasepool-{}-{n}-{salt:08x}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// Starts the thread that re-emits the worker's output lines (when its
/// pool forwards logs); it ends with the pipe.
fn forward_output(ctx: &PoolCtx, worker: usize, child: &mut Child) -> Result<(), String> {
    let Some(pipe) = child.stderr.take() else { return Ok(()) };
    let pid = child.id();
    let origin = logs::Origin { pool: ctx.id, worker, pid, logging: ctx.config.logging.clone() };
    std::thread::Builder::new()
        .name(format!("{}-{}-{worker}-log", ctx.name_prefix, ctx.id))
        .spawn(move || logs::forward(pipe, &origin))
        .map(drop)
        .map_err(|e| format!("could not start the log thread of worker process {pid}: {e}"))
}

/// Waits for the worker's connection, while watching for its early exit,
/// its pool's shutdown and the deadline.
fn accept(
    listener: &UnixListener,
    child: &mut Child,
    ctx: &PoolCtx,
    deadline: Instant,
) -> Result<UnixStream, String> {
    let pid = child.id();
    let timeout = ctx.config.start_timeout;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(conn);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("accepting worker process {pid}: {e}")),
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "worker process {pid} ended before it connected ({status}): does its `main` call \
                 `leasepool::process::init` first?"
            ));
        }
        if ctx.is_shut() {
            return Err(format!("the pool shut down while worker process {pid} started"));
        }
        if Instant::now() >= deadline {
            return Err(format!("worker process {pid} did not connect within {timeout:?}"));
        }
        let mut fds = [rustix::event::PollFd::new(listener, rustix::event::PollFlags::IN)];
        let slice = rustix::event::Timespec { tv_sec: 0, tv_nsec: 10_000_000 };
        let _ = rustix::event::poll(&mut fds, Some(&slice));
    }
}

/// Reads one frame into `buf`; the length is checked before anything is
/// allocated for the body.
pub(crate) fn read_frame(conn: &mut impl Read, buf: &mut Vec<u8>, max: usize) -> Result<(), CallError> {
    let mut header = [0; frame::HEADER];
    conn.read_exact(&mut header).map_err(|_| CallError::Gone)?;
    let len = frame::body_len(header, max).map_err(CallError::Frame)?;
    buf.clear();
    buf.resize(len, 0);
    conn.read_exact(buf).map_err(|_| CallError::Gone)
}

/// Writes what the socket takes of `bytes` now, without blocking (`AGAIN`
/// if nothing). A peer that is gone gives `EPIPE`, never SIGPIPE (on Linux;
/// elsewhere Rust programs ignore SIGPIPE from the start).
fn send_some(conn: &UnixStream, bytes: &[u8]) -> rustix::io::Result<usize> {
    use rustix::net::SendFlags;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = SendFlags::DONTWAIT;
    match rustix::net::send(conn, bytes, flags) {
        Ok(0) => Err(rustix::io::Errno::PIPE),
        other => other,
    }
}
