//! Log forwarding. In the worker: a `tracing` subscriber that writes each
//! event as one line on stderr (see [`frame::LogLine`]). In the parent: a
//! thread per worker process reads its output pipe line by line and
//! re-emits each line as a `tracing` event with the configured target and
//! the fields `pool`, `worker`, `pid`, `source` and `fields`.
//!
//! A `tracing` target is `'static` and fixed at each callsite, but the
//! target here is configured at run time ([`ProcessLogging::target`]). So
//! the parent emits through a callsite of its own: one `Metadata` per
//! (target, level) pair, leaked once and cached, registered with
//! `tracing-core` like a macro's callsite. A process uses a handful of
//! pairs (one target per manager, five levels), so the leak is bounded.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Mutex, OnceLock, PoisonError};

use leasepool_core::PoolId;
use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{FieldSet, Value};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::{Interest, Subscriber};
use tracing_core::{Event, LevelFilter, Metadata, span};

use super::ProcessLogging;
use super::frame::{self, LogLine};

/// The longest output line forwarded as one event; a longer line is cut
/// into pieces of this size (a worker cannot make the parent buffer an
/// endless line).
const MAX_LINE: u64 = 64 << 10;

// ---------------------------------------------------------------------------
// In the worker
// ---------------------------------------------------------------------------

/// Writes every event at `level` or more severe to stderr, one line each.
struct Forwarder {
    max: LevelFilter,
}

/// Installs the forwarder as the worker's global subscriber (a worker whose
/// code already set one keeps its own).
pub(crate) fn install_forwarder(level: Level) {
    let _ = tracing::subscriber::set_global_default(Forwarder { max: LevelFilter::from_level(level) });
}

/// Collects an event's message and its other fields as `k=v`.
#[derive(Default)]
struct Collect {
    message: String,
    fields: String,
}

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl Subscriber for Forwarder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut collect = Collect::default();
        event.record(&mut collect);
        let meta = event.metadata();
        let line = LogLine {
            level: *meta.level(),
            target: meta.target().to_owned(),
            message: collect.message,
            fields: collect.fields,
        };
        let mut out = String::new();
        frame::encode_log_line(&line, &mut out);
        // One write under stderr's lock: `eprintln!` takes the same lock,
        // so lines of both never interleave.
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

// ---------------------------------------------------------------------------
// In the parent
// ---------------------------------------------------------------------------

/// Where a worker's lines come from, for the fields of what is re-emitted.
#[derive(Clone)]
pub(crate) struct Origin {
    pub(crate) pool: PoolId,
    pub(crate) worker: usize,
    pub(crate) pid: u32,
    pub(crate) logging: ProcessLogging,
}

/// Reads a worker's output pipe until it closes (the worker and whatever
/// it started have exited), re-emitting each line. Runs on a thread of its
/// own, which ends with the pipe.
pub(crate) fn forward(pipe: impl Read, origin: &Origin) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        match frame::decode_log_line(&line) {
            Some(event) => emit(origin, event.level, &event.target, &event.message, &event.fields),
            None => emit(origin, Level::INFO, "stdout", &String::from_utf8_lossy(&line), ""),
        }
    }
}

/// Emits one forwarded line as an event of `origin`'s target at `level`.
fn emit(origin: &Origin, level: Level, source: &str, message: &str, fields: &str) {
    if level > origin.logging.level || level > LevelFilter::current() {
        return;
    }
    let meta = callsite(&origin.logging.target, level);
    tracing_core::dispatcher::get_default(|dispatch| {
        if !dispatch.enabled(meta) {
            return;
        }
        let set = meta.fields();
        let field = |name| set.field(name).expect("declared in FIELDS");
        let (f_message, f_pool, f_worker, f_pid, f_source, f_fields) = (
            field("message"),
            field("pool"),
            field("worker"),
            field("pid"),
            field("source"),
            field("fields"),
        );
        let message = format_args!("{message}");
        let pool = tracing::field::display(origin.pool);
        let worker = origin.worker as u64;
        let values: [(&Field, Option<&dyn Value>); 6] = [
            (&f_message, Some(&message)),
            (&f_pool, Some(&pool)),
            (&f_worker, Some(&worker)),
            (&f_pid, Some(&origin.pid)),
            (&f_source, Some(&source)),
            (&f_fields, Some(&fields)),
        ];
        dispatch.event(&Event::new(meta, &set.value_set(&values)));
    });
}

/// The fields of every forwarded event.
const FIELDS: &[&str] = &["message", "pool", "worker", "pid", "source", "fields"];

/// A callsite made at run time for one (target, level) pair.
struct DynCallsite {
    meta: OnceLock<Metadata<'static>>,
}

impl Callsite for DynCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.meta.get().expect("set before it is registered")
    }
}

/// The leaked, registered metadata of `target` at `level` (made once).
fn callsite(target: &str, level: Level) -> &'static Metadata<'static> {
    type Cache = Vec<(&'static str, Level, &'static Metadata<'static>)>;
    static CACHE: Mutex<Cache> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, _, meta)) = cache.iter().find(|(t, l, _)| *t == target && *l == level) {
        return meta;
    }
    let target: &'static str = Box::leak(target.to_owned().into_boxed_str());
    let site: &'static DynCallsite = Box::leak(Box::new(DynCallsite { meta: OnceLock::new() }));
    let meta = Metadata::new(
        "forwarded worker log",
        target,
        level,
        Some(file!()),
        Some(line!()),
        Some(module_path!()),
        FieldSet::new(FIELDS, Identifier(site)),
        Kind::EVENT,
    );
    let meta = site.meta.get_or_init(|| meta);
    tracing_core::callsite::register(site);
    cache.push((target, level, meta));
    meta
}
