//! The e2e's child processes and temporary directory, each stopped or
//! removed when dropped, whatever happened before.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Where a child's output goes.
pub(crate) enum Output {
    /// Its stdout is read line by line (stderr is inherited).
    Piped,
    /// Both go to this file, shown when something fails.
    File(PathBuf),
}

/// A child process, killed when dropped if it still runs.
pub(crate) struct Running {
    name: &'static str,
    child: Child,
    /// The address it serves on, once known.
    pub(crate) addr: Option<SocketAddr>,
    /// Its stdout lines, from a reader thread (`Output::Piped`).
    lines: Option<Receiver<String>>,
    /// Lines read and not yet handed out by `output`.
    seen: Vec<String>,
    /// Its log file (`Output::File`).
    log: Option<PathBuf>,
}

impl Running {
    pub(crate) fn spawn(name: &'static str, mut command: Command, output: Output) -> Result<Running, String> {
        command.stdin(Stdio::null());
        let log = match output {
            Output::Piped => {
                command.stdout(Stdio::piped());
                None
            }
            Output::File(path) => {
                let file =
                    File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let copy = file.try_clone().map_err(|e| format!("cannot share {}: {e}", path.display()))?;
                command.stdout(file).stderr(copy);
                Some(path)
            }
        };
        println!("--> {command:?}");
        let mut child = command.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        let lines = child.stdout.take().map(|stdout| {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Ok(Running { name, child, addr: None, lines, seen: Vec::new(), log })
    }

    /// Waits for a stdout line that `wanted` accepts, up to `timeout`.
    pub(crate) fn wait_for_line(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let lines = self.lines.as_ref().ok_or("stdout is not piped")?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{}: no expected line within {timeout:?}", self.name));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(format!("{} exited ({status}) before printing the expected line", self.name));
                }
            }
        }
    }

    /// Every stdout line read so far.
    pub(crate) fn output(&mut self) -> Vec<String> {
        if let Some(lines) = &self.lines {
            self.seen.extend(lines.try_iter());
        }
        std::mem::take(&mut self.seen)
    }

    /// An error if the process has exited.
    pub(crate) fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited ({status}){}", self.name, self.log_tail())),
            Err(err) => Err(format!("{}: {err}", self.name)),
        }
    }

    /// The end of the log file, to show with an error.
    pub(crate) fn log_tail(&self) -> String {
        let Some(log) = &self.log else { return String::new() };
        let text = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("; the end of {}:\n{tail}", log.display())
    }

    /// Asks the process to stop (SIGTERM), waits up to `timeout`, and kills
    /// it past that. Its exit status, or `None` if it had to be killed.
    pub(crate) fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        #[cfg(unix)]
        let asked = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        #[cfg(not(unix))]
        let asked = false;
        let deadline = Instant::now() + if asked { timeout } else { Duration::ZERO };
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                _ => break,
            }
        }
        eprintln!("{} still running: killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate(Duration::from_secs(10));
        }
    }
}

/// A fresh directory under the system's temporary directory, removed
/// when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
