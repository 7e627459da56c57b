//! The run's `tracing` subscriber (`DESIGN.md` §7: injected faults log at `warn!`; an `error!`
//! fails the run). It is installed per run with `tracing::subscriber::with_default`, so runs
//! on other threads keep their own counts. It keeps nothing but counts and the first
//! `error!` message; spans are ignored.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// What the run logged at `warn!` and `error!`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Logged {
    pub(crate) warnings: u64,
    pub(crate) errors: u64,
    /// The first `error!`: target and message.
    pub(crate) first_error: Option<String>,
}

/// Counts `warn!` and `error!` events (see the module docs).
#[derive(Debug, Default, Clone)]
pub(crate) struct LogCounter {
    logged: Arc<Mutex<Logged>>,
}

impl LogCounter {
    pub(crate) fn logged(&self) -> Logged {
        self.logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for LogCounter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // More verbose levels compare greater: WARN and ERROR only.
        *metadata.level() <= Level::WARN
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if *event.metadata().level() == Level::ERROR {
            logged.errors += 1;
            if logged.first_error.is_none() {
                let mut message = Message(String::new());
                event.record(&mut message);
                logged.first_error = Some(format!("{}: {}", event.metadata().target(), message.0));
            }
        } else {
            logged.warnings += 1;
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_warnings_and_keeps_the_first_error() {
        let counter = LogCounter::default();
        tracing::subscriber::with_default(counter.clone(), || {
            tracing::info!("not counted");
            tracing::warn!("a fault");
            tracing::error!(code = 7, "broken");
            tracing::error!("again");
        });
        let logged = counter.logged();
        assert_eq!((logged.warnings, logged.errors), (1, 2));
        let first = logged.first_error.unwrap_or_default();
        assert!(
            first.contains("broken") && first.contains("code=7"),
            "{first}"
        );
    }
}
