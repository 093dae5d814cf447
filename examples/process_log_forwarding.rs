//! Log forwarding from worker processes: a worker's `tracing` events and
//! its stdout and stderr lines come out of the parent's subscriber, with
//! the configured target and the fields `pool`, `worker`, `pid`, `source`
//! and `fields`.
//!
//! What it teaches:
//! * `ProcessLogging { enabled, level, target }`: the most verbose level
//!   forwarded (filtered in the worker, so what is below costs nothing
//!   there) and the target the parent's events carry;
//! * a worker event keeps its level, and its own target and fields travel
//!   as `source` and `fields`; output lines arrive at INFO with
//!   `source = "stdout"`.
//!
//! The subscriber here is a few lines that print each event (a program
//! would use `tracing-subscriber`).
//!
//! Run it with `cargo run -p leasepool --features process --example process_log_forwarding`
//! (Unix only).

use std::fmt::Write as _;
use std::sync::Mutex;

use leasepool::process::{self, Jobs, ProcessConfig, ProcessJob, ProcessLogging};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber, span};

#[cfg(not(any(feature = "runtime-tokio", feature = "runtime-smol", feature = "runtime-threads")))]
use leasepool::async_std as rt;
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
use leasepool::smol as rt;
#[cfg(all(feature = "runtime-threads", not(any(feature = "runtime-tokio", feature = "runtime-smol"))))]
use leasepool::threads as rt;
#[cfg(feature = "runtime-tokio")]
use leasepool::tokio as rt;
use rt::LeasedExecutorManager;

/// Resizes an "image", logging as it goes.
struct Resize;
impl ProcessJob for Resize {
    const NAME: &'static str = "resize";
    type Input = (String, u32);
    type Output = u32;
    fn run((name, width): (String, u32)) -> u32 {
        tracing::info!(image = %name, width, "resizing");
        tracing::debug!("not forwarded: below the configured level");
        println!("plain stdout from the worker: {name}");
        eprintln!("plain stderr from the worker: {name}");
        tracing::warn!(image = %name, "upscaled: the source was small");
        width / 2
    }
}

/// Prints every event of the target it watches, with its fields.
struct Printer {
    target: &'static str,
}

/// What the printer printed, for the check at the end.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Fields(String);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Printer {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target() == self.target
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let line = format!("{} {}:{}", event.metadata().level(), event.metadata().target(), fields.0);
        println!("{line}");
        LINES.lock().unwrap().push(line);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    process::init(Jobs::new().register::<Resize>());
    tracing::subscriber::set_global_default(Printer { target: "imaging::workers" })?;

    rt::block_on(async {
        let logging = ProcessLogging { target: "imaging::workers".into(), ..ProcessLogging::default() };
        let manager = LeasedExecutorManager::builder()
            .max_pools(1)
            .workers_per_pool(1)
            .build_process(ProcessConfig::new().logging(logging))?;
        manager.start().await?;
        let lease = manager.acquire().owner("thumbnails").await?;
        let half = lease.run::<Resize>(("cat.png".into(), 640)).await?;
        println!("resized to {half}");
        drop(lease);
        // Lines are forwarded as the worker writes them; stopping ends the
        // worker, and with it its output pipe, after the last line.
        manager.stop().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while LINES.lock().unwrap().len() < 4 && std::time::Instant::now() < deadline {
            rt::sleep(std::time::Duration::from_millis(5)).await;
        }
        let lines = LINES.lock().unwrap();
        if lines.len() != 4 || lines.iter().any(|l| l.contains("not forwarded")) {
            return Err(format!("expected 4 forwarded lines, got {lines:?}").into());
        }
        Ok(())
    })
}
