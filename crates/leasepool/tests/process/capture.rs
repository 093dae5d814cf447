//! A global subscriber that records every event of this binary with its
//! target and fields (forwarded worker logs are emitted on the parent's
//! log threads, so a thread-local subscriber would not see them).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, Once};

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
        let recorded = Recorded { target: meta.target().to_owned(), level: *meta.level(), fields };
        EVENTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(recorded);
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Installs the recorder (once per binary).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| tracing::subscriber::set_global_default(Recorder).expect("no other global subscriber"));
}

/// The recorded events with `target` whose message contains `text`.
pub(crate) fn events(target: &str, text: &str) -> Vec<Recorded> {
    let events = EVENTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    events
        .iter()
        .filter(|e| e.target == target && e.fields.get("message").is_some_and(|m| m.contains(text)))
        .cloned()
        .collect()
}
