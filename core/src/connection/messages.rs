//! The connection's side of messaging: handing stanzas, iq answers, loads, durable commits,
//! timers and commands to [`crate::messaging::engine::Messaging`], and turning what it
//! produces into transmits, actions (loads, persists) and events.
//!
//! Messaging commits become `PersistCredentials` actions like every other change; their
//! deferred effects (receipts, acks, outgoing messages, events) wait in `pending` for
//! `Persisted(seq)` — the durability rule of `messaging.md` §8.1 is the connection's
//! "persist before proceeding" rule, applied to messages.

use std::time::Instant;

use super::{Action, AfterPersist, Connection, State};
use crate::binary::{Jid, Node};
use crate::connection::CommandError;
use crate::creds::{CredentialsDelta, LoadId};
use crate::messaging::chatstate::{ChatState, chat_state_node};
use crate::messaging::engine::{Env, Routed};
use crate::messaging::ids::MessageId;
use crate::messaging::store::Deferred;
use crate::messaging::types::InboxPos;
use crate::proto::message::Message;
use crate::records::RecordData;

impl Connection {
    /// Runs `f` on messaging with the environment it needs (nothing without credentials),
    /// then collects what it produced.
    fn with_messaging<T>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut crate::messaging::engine::Messaging, Env<'_>) -> T,
    ) -> Option<T> {
        let unix = self.unix_at(now);
        let connected = self.state == State::Connected;
        let creds = self.creds.as_mut()?;
        let env = Env {
            creds,
            rng: &mut self.rng.msg,
            now,
            unix,
            connected,
        };
        let out = f(&mut self.messaging, env);
        self.flush_messaging(now);
        Some(out)
    }

    /// [`Connection::with_messaging`] for the command handlers.
    pub(super) fn with_messaging_pub(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut crate::messaging::engine::Messaging, Env<'_>),
    ) {
        self.with_messaging(now, f);
    }

    /// Writes the messages accepted by [`Command::Send`] that are not in a store transaction
    /// yet (a message is written with its encryption, so one waiting for records is not):
    /// a restart on the same store then sends them. [`Command::Shutdown`] does this; call it
    /// before dropping a `Connection` that is not live (idle or stopped), and execute the
    /// store action it produces.
    ///
    /// [`Command::Send`]: crate::connection::Command::Send
    /// [`Command::Shutdown`]: crate::connection::Command::Shutdown
    pub fn write_accepted_messages(&mut self, now: Instant) {
        self.with_messaging(now, |m, env| m.on_shutdown(env));
    }

    /// Starts messaging once the device is linked (inbox replay, outbox resume).
    pub(super) fn start_messaging(&mut self, now: Instant) {
        self.with_messaging(now, |m, env| m.start(env));
    }

    /// Logged in: pre-keys, resends.
    pub(super) fn messaging_connected(&mut self, now: Instant) {
        self.start_messaging(now);
        self.with_messaging(now, |m, env| m.on_connected(env));
    }

    /// Offers a stanza to messaging; returns it when messaging does not handle it.
    pub(super) fn offer_to_messaging(&mut self, node: Node, now: Instant) -> Option<Node> {
        if self.state != State::Connected {
            return Some(node);
        }
        match self.with_messaging(now, |m, env| m.on_stanza(env, node.clone())) {
            Some(rest) => rest,
            None => Some(node),
        }
    }

    /// Offers an iq answer to messaging; returns it when it is not messaging's.
    pub(super) fn offer_iq_answer(&mut self, node: Node, now: Instant) -> Option<Node> {
        match self.with_messaging(now, |m, env| m.on_iq_answer(env, node.clone())) {
            Some(rest) => rest,
            None => Some(node),
        }
    }

    /// A load answered.
    pub(super) fn messaging_loaded(&mut self, id: LoadId, data: Vec<RecordData>, now: Instant) {
        self.with_messaging(now, |m, env| m.on_loaded(env, id, data));
    }

    /// The deferred effects of a durable messaging commit, in order.
    pub(super) fn messaging_durable(&mut self, effects: Vec<Deferred>, now: Instant) {
        for effect in effects {
            match Routed::from(effect) {
                Routed::Send(node) => {
                    if self.state == State::Connected {
                        self.send(&node, now);
                    }
                }
                Routed::Event(event) => self.events.push_back(event),
                Routed::Commit(id) => self.messaging.on_commit_durable(id),
                Routed::Durable(d) => {
                    self.with_messaging(now, |m, env| m.on_durable(env, d));
                }
            }
        }
        self.messaging.trim();
    }

    /// Messaging timers.
    pub(super) fn messaging_timeout(&mut self, now: Instant) {
        if self.messaging.poll_timeout().is_some_and(|at| at <= now) {
            self.with_messaging(now, |m, env| m.handle_timeout(env));
        }
    }

    /// Takes what messaging produced: stanzas, events, loads and commits.
    fn flush_messaging(&mut self, now: Instant) {
        for node in self.messaging.take_nodes() {
            self.send(&node, now);
        }
        self.events.extend(self.messaging.take_events());
        for (id, reads) in self.messaging.take_loads() {
            self.actions.push_back(Action::LoadRecords { id, reads });
        }
        for (_, commit) in self.messaging.take_commits() {
            // The in-memory credentials already hold these changes (messaging applies them
            // as it makes them); the store gets them with the records, in one transaction.
            let delta = CredentialsDelta {
                changes: commit.changes,
                records: commit.records,
            };
            self.next_seq = self.next_seq.next();
            let seq = self.next_seq;
            self.pending
                .insert(seq, AfterPersist::Messaging(commit.then));
            self.actions
                .push_back(Action::PersistCredentials { seq, delta });
        }
    }

    /// Sends an end-to-end encrypted message to `to` (a user JID: phone number or LID). The
    /// id is returned at once; `Event::Sent` or `Event::SendFailed` follows. Accepted while
    /// disconnected too: the message is durable and goes out once connected.
    pub fn send_message(
        &mut self,
        to: Jid,
        message: Message,
        now: Instant,
    ) -> Result<MessageId, CommandError> {
        let now = self.clamp(now);
        if matches!(self.state, State::Stopped(_)) && self.creds.is_none() {
            return Err(CommandError::NotLinked);
        }
        self.with_messaging(now, |m, env| m.send(env, to, &message))
            .unwrap_or(Err(CommandError::NotLinked))
    }

    /// The application has these inbox entries.
    pub(super) fn confirm_inbox(&mut self, positions: &[InboxPos], now: Instant) {
        self.with_messaging(now, |m, env| m.confirm(env, positions));
    }

    /// Emits the inbox from a position on.
    pub(super) fn replay_inbox(&mut self, from: InboxPos, now: Instant) {
        self.with_messaging(now, |m, env| m.replay_from(env, from));
    }

    /// A read receipt.
    pub(super) fn mark_read(
        &mut self,
        chat: &Jid,
        participant: Option<&Jid>,
        ids: &[MessageId],
        now: Instant,
    ) {
        self.with_messaging(now, |m, env| m.mark_read(env, chat, participant, ids));
    }

    /// `<presence type="available|unavailable"/>`; delivery receipts follow it.
    pub(super) fn set_presence(&mut self, available: bool, now: Instant) {
        self.messaging.set_available(available);
        let kind = if available {
            "available"
        } else {
            "unavailable"
        };
        let mut presence = Node::new("presence").attr("type", kind);
        if let Some(name) = self.creds.as_ref().and_then(|c| c.push_name.clone()) {
            presence = presence.attr("name", name);
        }
        self.send(&presence, now);
    }

    /// `<chatstate to><composing/>|<paused/></chatstate>`: typing indicators for a chat.
    pub(super) fn send_chat_state(&mut self, to: &Jid, state: ChatState, now: Instant) {
        self.send(&chat_state_node(to, state), now);
    }

    /// Inbox entries the application has not confirmed yet.
    pub fn unconfirmed_messages(&self) -> u64 {
        self.messaging.unconfirmed()
    }
}
