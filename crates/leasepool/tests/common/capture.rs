//! A global subscriber that records every event of the test binary with
//! its target, level and fields (a global one, because the events of
//! interest are emitted on the pools' and the checker's threads, and
//! forwarded worker logs on the parent's log threads, which a thread-local
//! subscriber would not see).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber, span};

/// One recorded event: its target, level and fields.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) target: String,
    pub(crate) level: tracing::Level,
    pub(crate) fields: BTreeMap<String, String>,
}

static EVENTS: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());

struct Recorder;

struct Visitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Visitor(&mut fields));
        let meta = event.metadata();
        recorded().push(Recorded { target: meta.target().to_owned(), level: *meta.level(), fields });
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Installs the recorder (once per binary).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| tracing::subscriber::set_global_default(Recorder).expect("no other global subscriber"));
}

/// Forgets the events recorded so far.
pub(crate) fn clear() {
    recorded().clear();
}

/// The recorded events whose message contains `text`.
pub(crate) fn events(text: &str) -> Vec<Recorded> {
    recorded().iter().filter(|e| e.message_contains(text)).cloned().collect()
}

/// The recorded events with `target` whose message contains `text`.
pub(crate) fn events_of(target: &str, text: &str) -> Vec<Recorded> {
    recorded().iter().filter(|e| e.target == target && e.message_contains(text)).cloned().collect()
}

fn recorded() -> MutexGuard<'static, Vec<Recorded>> {
    EVENTS.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recorded {
    fn message_contains(&self, text: &str) -> bool {
        self.fields.get("message").is_some_and(|m| m.contains(text))
    }
}
