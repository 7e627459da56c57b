//! Invariant 8 of the messaging world: **no message plaintext in logs or `Debug` output**.
//!
//! Every text the world sends contains [`TEXT_MARK`]. [`SecretWatch`] is the run's `tracing`
//! subscriber: it counts `warn!`/`error!` like the connection world's
//! [`LogCounter`](crate::world::log::LogCounter) (it forwards those to one), and it formats
//! every event of the Tether crates (`tether_core`, `tether_signal`) at every level, looking
//! for the mark in its message and fields. The world also looks for the mark in the `Debug`
//! text of everything a companion emits (events, actions, store results).

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::world::log::LogCounter;

/// What every text the world sends contains (and nothing else should).
pub(crate) const TEXT_MARK: &str = " of seed ";

/// Whether the Tether crates wrote `target`.
fn ours(target: &str) -> bool {
    target.starts_with("tether_core") || target.starts_with("tether_signal")
}

/// See the module docs.
#[derive(Debug, Default, Clone)]
pub(crate) struct SecretWatch {
    counter: LogCounter,
    /// The first log line of ours that carried a text.
    leak: Arc<Mutex<Option<String>>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl SecretWatch {
    /// The counts of `warn!` and `error!`.
    pub(crate) fn counter(&self) -> &LogCounter {
        &self.counter
    }

    /// The first log line that carried a message text, if any.
    pub(crate) fn leak(&self) -> Option<String> {
        self.leak
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Subscriber for SecretWatch {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        ours(metadata.target()) || *metadata.level() <= Level::WARN
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if ours(metadata.target()) {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            if fields.0.contains(TEXT_MARK) {
                let mut leak = self.leak.lock().unwrap_or_else(PoisonError::into_inner);
                if leak.is_none() {
                    *leak = Some(format!(
                        "{} {}:{}",
                        metadata.level(),
                        metadata.target(),
                        fields.0
                    ));
                }
            }
        }
        if *metadata.level() <= Level::WARN {
            self.counter.event(event);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_text_in_a_tether_log_line_is_caught_at_any_level() {
        let watch = SecretWatch::default();
        tracing::subscriber::with_default(watch.clone(), || {
            tracing::debug!(target: "tether_core::messaging", id = "A1", "received");
            tracing::warn!(target: "tether_sim::device", text = "message 1 of seed 3", "not ours");
            assert!(watch.leak().is_none());
            tracing::trace!(target: "tether_core::messaging", text = "message 2 of seed 3", "x");
        });
        let leak = watch.leak().unwrap();
        assert!(leak.contains("message 2 of seed 3"), "{leak}");
        assert_eq!(watch.counter().logged().warnings, 1);
    }
}
