//! Where events meet subscribers: the embedder [`publish`](Hub::publish)es every event of the
//! connection once; the hub turns it into its JSON line once and offers it to every subscriber,
//! each of which gets every inbox position at most once (from its `from` on, or from when it
//! subscribed) and only the events it asked for.
//!
//! ```text
//!  connection events ─▶ Hub::publish ─▶ JSON line ─┬─▶ subscriber 1 queue ─▶ its socket
//!                                                  ├─▶ subscriber 2 queue ─▶ …
//!                                                  └─  a full queue: that subscriber is cut
//!                                                      off (it resubscribes from its position)
//! ```
//!
//! A subscriber that stops reading never slows the others or the connection: its queue is
//! bounded ([`QUEUE`] lines) and it is disconnected when the queue is full. Nothing is lost by
//! that: messages stay in the durable inbox until confirmed, and `subscribe {"from": N}`
//! replays them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde_json::{Value, json};
use tether_core::binary::Jid;
use tether_core::connection::Event;
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::types::IncomingMessage;

use crate::events::{self, event_json};
use crate::status::unix_now_ms;

/// Lines a subscriber may have waiting before it is cut off.
pub const QUEUE: usize = 4096;

/// Received messages kept for `send` requests that reply to one by id.
const RECENT: usize = 512;

/// Sends whose recipient is remembered for their `sent` / `send_failed` events.
const RECIPIENTS: usize = 4096;

/// Which inbox positions a consumer still wants: each position at most once, none below
/// where it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PositionFilter {
    /// Every position below this one is done (delivered or not wanted); `None` until the
    /// first position is seen, for a consumer that starts "from now".
    floor: Option<u64>,
    /// Positions at or above the floor that were delivered.
    seen: BTreeSet<u64>,
}

impl PositionFilter {
    /// Everything from `from` on.
    pub fn from(from: u64) -> Self {
        Self {
            floor: Some(from),
            seen: BTreeSet::new(),
        }
    }

    /// Everything from the first position seen on (a consumer that starts now).
    pub fn from_now() -> Self {
        Self::default()
    }

    /// Whether `position` is wanted; if so it counts as delivered from now on.
    pub fn take(&mut self, position: u64) -> bool {
        let floor = *self.floor.get_or_insert(position);
        if position < floor || !self.seen.insert(position) {
            return false;
        }
        let mut floor = floor;
        while self.seen.remove(&floor) {
            floor += 1;
        }
        self.floor = Some(floor);
        true
    }

    /// The lowest position not delivered yet (what a replay must start from), once known.
    pub fn next_wanted(&self) -> Option<u64> {
        self.floor
    }
}

/// One subscriber.
#[derive(Debug)]
struct Subscriber {
    tx: SyncSender<String>,
    /// To cut it off when it does not keep up.
    stream: UnixStream,
    positions: PositionFilter,
    events: Option<Vec<String>>,
    /// It asked for a replay from a position (it takes replayed entries too).
    catching_up: bool,
}

#[derive(Debug, Default)]
struct State {
    subscribers: BTreeMap<u64, Subscriber>,
    next_id: u64,
    recent: VecDeque<IncomingMessage>,
    recipients: VecDeque<(MessageId, Jid)>,
    /// One past the highest inbox position published.
    frontier: u64,
}

/// The subscribers of one instance and what they need from its events.
#[derive(Debug, Default)]
pub struct Hub {
    state: Mutex<State>,
}

impl Hub {
    /// A hub without subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a subscriber writing to `tx` (its connection's queue); `stream` is shut down if it
    /// falls behind. Returns its id and the position a replay must start from (`from`, when
    /// given).
    pub(crate) fn subscribe(
        &self,
        tx: SyncSender<String>,
        stream: UnixStream,
        from: Option<u64>,
        events: Option<Vec<String>>,
    ) -> u64 {
        let mut state = self.lock();
        let positions = match from {
            Some(from) => PositionFilter::from(from),
            // Live only: what was published before is not wanted.
            None if state.frontier > 0 => PositionFilter::from(state.frontier),
            None => PositionFilter::from_now(),
        };
        state.next_id += 1;
        let id = state.next_id;
        state.subscribers.insert(
            id,
            Subscriber {
                tx,
                stream,
                positions,
                events,
                catching_up: from.is_some(),
            },
        );
        id
    }

    /// Removes a subscriber.
    pub(crate) fn unsubscribe(&self, id: u64) {
        self.lock().subscribers.remove(&id);
    }

    /// How many subscribers there are.
    pub fn subscribers(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// Remembers that message `id` went to `to` (its `sent` / `send_failed` events name it).
    pub fn note_recipient(&self, id: MessageId, to: Jid) {
        let mut state = self.lock();
        if state.recipients.len() >= RECIPIENTS {
            state.recipients.pop_front();
        }
        state.recipients.push_back((id, to));
    }

    /// The recipient of a message sent through this hub, if remembered.
    pub fn recipient(&self, id: &MessageId) -> Option<Jid> {
        let state = self.lock();
        state
            .recipients
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, to)| to.clone())
    }

    /// A recently received message by id (for replies by id), newest first.
    pub fn recent(&self, id: &str) -> Option<IncomingMessage> {
        self.lock()
            .recent
            .iter()
            .rev()
            .find(|m| m.id.as_str() == id)
            .cloned()
    }

    /// The JSON objects for `event` as the socket streams them (with `to` on `send_failed`
    /// when known).
    pub fn json(&self, event: &Event, now: Instant) -> Vec<Value> {
        let mut values = event_json(event, now);
        let id = match event {
            Event::SendFailed { id, .. } => Some(id),
            _ => None,
        };
        if let Some(to) = id.and_then(|id| self.recipient(id)) {
            for v in &mut values {
                v["to"] = json!(to.to_string());
            }
        }
        values
    }

    /// Offers one event of the connection to every subscriber.
    pub fn publish(&self, event: &Event) {
        let values = self.json(event, Instant::now());
        let position = events::position(event);
        let replayed = events::replayed(event);
        let ts = unix_now_ms();
        let lines: Vec<(String, String)> = values
            .iter()
            .map(|v| {
                let name = v["event"].as_str().unwrap_or_default().to_owned();
                (name, events::line(v, ts))
            })
            .collect();
        let mut state = self.lock();
        if let Event::Message(m) = event {
            if state.recent.len() >= RECENT {
                state.recent.pop_front();
            }
            state.recent.push_back((**m).clone());
        }
        if let Some(p) = position {
            state.frontier = state.frontier.max(p.saturating_add(1));
        }
        let mut cut = Vec::new();
        for (id, sub) in &mut state.subscribers {
            // A catch-up read is for the subscribers that asked for one; a live subscriber
            // takes only new entries.
            if replayed && !sub.catching_up {
                continue;
            }
            if matches!(event, Event::InboxReplayed { .. }) && !sub.catching_up {
                continue;
            }
            if let Some(p) = position
                && !sub.positions.take(p)
            {
                continue;
            }
            for (name, line) in &lines {
                if sub
                    .events
                    .as_ref()
                    .is_some_and(|wanted| !wanted.iter().any(|w| w == name))
                {
                    continue;
                }
                match sub.tx.try_send(line.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        tracing::warn!(
                            target: "tether::control",
                            "a subscriber fell {QUEUE} events behind; disconnecting it (it can \
                             subscribe again from its last inbox position)"
                        );
                        cut.push(*id);
                        break;
                    }
                    Err(TrySendError::Disconnected(_)) => {
                        cut.push(*id);
                        break;
                    }
                }
            }
        }
        for id in cut {
            if let Some(sub) = state.subscribers.remove(&id) {
                let _ = sub.stream.shutdown(Shutdown::Both);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_filter_from_a_position_takes_each_position_once() {
        let mut f = PositionFilter::from(3);
        assert!(!f.take(2), "below the start");
        assert!(
            f.take(5),
            "live entries may come before the replay reaches them"
        );
        assert!(f.take(3));
        assert!(!f.take(3), "a second replay of 3");
        assert!(f.take(4));
        assert_eq!(f.next_wanted(), Some(6));
        assert!(!f.take(5));
        assert!(f.take(6));
        assert_eq!(f.seen.len(), 0, "contiguous positions compact away");
    }

    #[test]
    fn a_filter_from_now_starts_at_the_first_position_it_sees() {
        let mut f = PositionFilter::from_now();
        assert_eq!(f.next_wanted(), None);
        assert!(f.take(10));
        assert!(!f.take(9));
        assert!(f.take(12));
        assert!(f.take(11));
        assert!(!f.take(12));
        assert_eq!(f.next_wanted(), Some(13));
    }

    #[test]
    fn recipients_and_recent_messages_are_bounded() {
        let hub = Hub::new();
        let to: Jid = "15551234567@s.whatsapp.net".parse().unwrap();
        for i in 0..(RECIPIENTS + 10) {
            hub.note_recipient(MessageId(format!("M{i}")), to.clone());
        }
        assert_eq!(hub.recipient(&MessageId("M0".into())), None);
        assert_eq!(
            hub.recipient(&MessageId(format!("M{}", RECIPIENTS + 9))),
            Some(to)
        );
        assert!(hub.lock().recipients.len() <= RECIPIENTS);
    }
}
