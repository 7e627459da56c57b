//! Stanza handling after the handshake (`session.md` §2 and §5): the verdict (`<success>`,
//! `<failure>`, `<stream:error>`), the post-login iqs, pre-key top-up, acks, server pings and
//! `<ib>` info bulletins. Linking stanzas go to [`super::linking`].

use std::collections::BTreeMap;
use std::time::Instant;

use rand_core::Rng;
use tracing::{debug, info, warn};

use super::{AfterPersist, Connection, Event, State};
use crate::binary::{Content, Jid, Node, Server, Value};
use crate::creds::{CredentialChange, Credentials};
use crate::keepalive::{self, KeepAliveOutput};
use crate::reason::{DisconnectReason, LostCause};

/// Why an iq was sent, to route its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IqPurpose {
    Active,
    Logout,
    MediaConn,
}

/// Per-connection stanza bookkeeping: iq ids and the answers still expected.
#[derive(Debug)]
pub(super) struct Session {
    id_prefix: String,
    counter: u64,
    pending_iqs: BTreeMap<String, IqPurpose>,
}

impl Session {
    pub(super) fn new(rng: &mut impl Rng) -> Self {
        // whatsmeow's shape: "<byte>.<byte>-<counter>", nibble-packable on the wire.
        let [a, b, ..] = rng.next_u32().to_be_bytes();
        Self {
            id_prefix: format!("{a}.{b}-"),
            counter: 0,
            pending_iqs: BTreeMap::new(),
        }
    }

    pub(super) fn next_iq_id(&mut self) -> String {
        self.counter += 1;
        format!("{}{}", self.id_prefix, self.counter)
    }

    /// Answers can no longer arrive once the transport is gone.
    pub(super) fn on_disconnect(&mut self) {
        self.pending_iqs.clear();
    }

    fn iq(&mut self, purpose: IqPurpose, xmlns: &'static str, kind: &'static str) -> Node {
        let id = self.next_iq_id();
        self.pending_iqs.insert(id.clone(), purpose);
        Node::new("iq")
            .attr("id", id)
            .attr("xmlns", xmlns)
            .attr("type", kind)
            .jid_attr("to", Jid::server_jid(Server::WhatsApp))
    }

    /// `<iq xmlns="w:m" type="set">`, its answer routed to the `media_conn` cache.
    pub(super) fn media_conn_iq(&mut self) -> Node {
        self.iq(IqPurpose::MediaConn, crate::media::conn::XMLNS, "set")
    }

    /// `<iq xmlns="md" type="set"><remove-companion-device jid=… reason="user_initiated"/>`.
    pub(super) fn logout_stanza(&mut self, creds: Option<&Credentials>) -> Option<Node> {
        let jid = creds?.device.as_ref()?.jid.clone();
        let child = Node::new("remove-companion-device")
            .jid_attr("jid", jid)
            .attr("reason", "user_initiated");
        Some(
            self.iq(IqPurpose::Logout, "md", "set")
                .children(vec![child]),
        )
    }
}

/// Stanzas the server expects an `<ack>` for (`session.md` §5.5).
const ACKED: [&str; 4] = ["message", "receipt", "notification", "call"];

/// `<ack class=… id=… to=… [participant] [recipient] [type]/>`, whatsmeow's shape (no `type` on
/// message acks).
fn ack_for(node: &Node) -> Option<Node> {
    let id = node.get_attr("id")?.clone();
    let from = node.get_attr("from")?.clone();
    let mut ack = Node::new("ack").attr("class", node.tag.to_string());
    ack.attrs.push(crate::binary::Attr {
        key: "id".into(),
        value: id,
    });
    ack.attrs.push(crate::binary::Attr {
        key: "to".into(),
        value: from,
    });
    for key in ["participant", "recipient"] {
        if let Some(value) = node.get_attr(key) {
            ack.attrs.push(crate::binary::Attr {
                key: key.into(),
                value: value.clone(),
            });
        }
    }
    if node.tag != "message"
        && let Some(value) = node.get_attr("type")
    {
        {
            ack.attrs.push(crate::binary::Attr {
                key: "type".into(),
                value: value.clone(),
            });
        }
    }
    Some(ack)
}

impl Connection {
    /// Routes one received stanza.
    pub(super) fn on_node(&mut self, node: Node, now: Instant) {
        let Some(node) = self.offer_to_messaging(node, now) else {
            return;
        };
        match &*node.tag {
            "success" => self.on_success(&node, now),
            "failure" => {
                let reason = DisconnectReason::from_failure(&node, self.unix_now());
                self.end_transport(reason, now);
            }
            "stream:error" => self.end_transport(DisconnectReason::from_stream_error(&node), now),
            "xmlstreamend" => self.end_transport(
                DisconnectReason::ConnectionLost {
                    cause: LostCause::StreamEnd,
                },
                now,
            ),
            "iq" => self.on_iq(node, now),
            "ib" => self.on_ib(node, now),
            tag if ACKED.contains(&tag) => {
                if let Some(ack) = ack_for(&node) {
                    self.send(&ack, now);
                }
                if tag == "notification" && node.attr_str("type") == Some("link_code_companion_reg")
                {
                    self.on_primary_hello(&node);
                    return;
                }
                self.events.push_back(Event::Stanza(node));
            }
            _ => self.events.push_back(Event::Stanza(node)),
        }
    }

    fn on_success(&mut self, node: &Node, now: Instant) {
        if self.state == State::Pairing || self.creds.as_ref().is_none_or(|c| !c.is_paired()) {
            // session.md §2.1: a success before pairing completed is not authoritative.
            debug!("ignoring <success> on an unpaired connection");
            return;
        }
        self.timers.clear(crate::timer::Timer::Handshake);
        self.state = State::Connected;
        self.policy.on_connected(now);
        let server_t = node.attr_str("t").and_then(|t| t.parse::<u64>().ok());
        if let Some(t) = server_t {
            let request = self.attempt.as_ref().and_then(|a| a.finished_at);
            self.check_clock(t, request, now);
        }
        if self.creds.as_ref().is_some_and(|c| !c.confirmed) {
            self.persist(CredentialChange::Confirmed, AfterPersist::Nothing);
        }
        if let Some(lid) = node.get_attr("lid").and_then(value_jid) {
            let known = self
                .creds
                .as_ref()
                .and_then(|c| c.device.as_ref()?.lid.clone());
            if known.as_ref() != Some(&lid) {
                self.persist(CredentialChange::Lid(lid), AfterPersist::Nothing);
            }
        }
        let jid = self
            .creds
            .as_ref()
            .and_then(|c| c.device.as_ref())
            .map(|d| d.jid.clone());
        if let Some(jid) = jid {
            info!(%jid, "connected");
            self.events.push_back(Event::Connected { jid });
        }
        let active = self
            .session
            .iq(IqPurpose::Active, "passive", "set")
            .children(vec![Node::new("active")]);
        self.send(&active, now);
        let server_ms = server_t
            .unwrap_or_else(|| self.unix_at(now))
            .saturating_mul(1000);
        self.send(&unified_session(server_ms), now);
        self.messaging_connected(now);
    }

    /// Server time `t` against the local clock. `request` is when the request this stanza
    /// answers was sent (ClientFinish, for `<success>`): half that round trip is taken off. A
    /// stanza the server sends unprompted (`<pair-success>`, whenever the phone scans) has no
    /// round trip to correct for: pass `None`.
    pub(super) fn check_clock(&mut self, server_t: u64, request: Option<Instant>, now: Instant) {
        let sent = request.unwrap_or(now);
        let half_rtt = now.saturating_duration_since(sent) / 2;
        let local = self.unix_at(now.checked_sub(half_rtt).unwrap_or(now));
        let offset = super::io::clock_offset(server_t, local);
        if offset.unsigned_abs() > self.config.clock_skew_threshold.as_secs() {
            warn!(
                offset_secs = offset,
                "local clock differs from the server's"
            );
            self.events.push_back(Event::ClockSkew {
                offset_secs: offset,
            });
        }
    }

    fn on_iq(&mut self, node: Node, now: Instant) {
        if keepalive::is_server_ping(&node) {
            let pong = keepalive::pong_for(&node);
            self.send(&pong, now);
            return;
        }
        let kind = node.attr_str("type").unwrap_or_default();
        if matches!(kind, "result" | "error") {
            let id = node.attr_str("id").unwrap_or_default().to_owned();
            if id.starts_with(keepalive::PING_ID_PREFIX) {
                if let Some(KeepAliveOutput::Restored) = self.keepalive.on_pong(&id, now) {
                    self.events.push_back(Event::KeepAliveRestored);
                }
                return;
            }
            if self.on_pair_code_answer(&node, now) {
                return;
            }
            if let Some(purpose) = self.session.pending_iqs.remove(&id) {
                self.on_iq_answer(purpose, &node, kind == "result", now);
                return;
            }
            let Some(node) = self.offer_iq_answer(node, now) else {
                return;
            };
            self.events.push_back(Event::Stanza(node));
            return;
        }
        if kind == "set" && node.attr_str("xmlns") == Some("md") {
            if node.child("pair-device").is_some() {
                self.on_pair_device(&node, now);
                return;
            }
            if node.child("pair-success").is_some() {
                self.on_pair_success(&node, now);
                return;
            }
        }
        self.events.push_back(Event::Stanza(node));
    }

    fn on_iq_answer(&mut self, purpose: IqPurpose, node: &Node, ok: bool, now: Instant) {
        match purpose {
            IqPurpose::MediaConn => self.on_media_conn_answer(node, now),
            IqPurpose::Active | IqPurpose::Logout => {
                if !ok {
                    warn!(answer = %node, "server refused {purpose:?}");
                }
            }
        }
    }

    fn on_ib(&mut self, node: Node, now: Instant) {
        if let Some(info) = node
            .child("edge_routing")
            .and_then(|e| e.child("routing_info"))
            .and_then(|r| match &r.content {
                Content::Bytes(b) => Some(b.clone()),
                _ => None,
            })
        {
            self.persist(CredentialChange::RoutingInfo(info), AfterPersist::Nothing);
            return;
        }
        if node.child("downgrade_webclient").is_some() {
            self.end_transport(
                DisconnectReason::MultideviceMismatch { raw: Some(node) },
                now,
            );
            return;
        }
        self.events.push_back(Event::Stanza(node));
    }
}

/// `<ib><unified_session id=…/></ib>` (`session.md` §2.4): the id is the server's time in
/// milliseconds, shifted by three days, modulo one week.
fn unified_session(server_ms: u64) -> Node {
    const DAY_MS: u64 = 86_400_000;
    let id = server_ms.saturating_add(3 * DAY_MS) % (7 * DAY_MS);
    Node::new("ib").children(vec![
        Node::new("unified_session").attr("id", id.to_string()),
    ])
}

/// A JID attribute, whether typed or written as a string.
fn value_jid(value: &Value) -> Option<Jid> {
    match value {
        Value::Jid(jid) => Some(jid.clone()),
        Value::String(s) => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_session_id_is_server_time_plus_three_days_modulo_a_week() {
        let node = unified_session(1_711_713_012_000);
        let session = node.child("unified_session").unwrap();
        let id: u64 = session.attr_str("id").unwrap().parse().unwrap();
        assert_eq!(id, (1_711_713_012_000 + 259_200_000) % 604_800_000);
    }

    #[test]
    fn acks_copy_the_addressing_and_skip_type_on_messages() {
        let message = Node::new("message")
            .attr("id", "ABC")
            .jid_attr("from", "123@s.whatsapp.net".parse().unwrap())
            .attr("type", "text");
        let ack = ack_for(&message).unwrap();
        assert_eq!(ack.attr_str("class"), Some("message"));
        assert_eq!(ack.attr_str("id"), Some("ABC"));
        assert!(ack.get_attr("to").and_then(Value::as_jid).is_some());
        assert!(ack.get_attr("type").is_none());
        let receipt = Node::new("receipt")
            .attr("id", "R")
            .attr("from", "g@g.us")
            .attr("type", "read");
        assert_eq!(ack_for(&receipt).unwrap().attr_str("type"), Some("read"));
        assert!(ack_for(&Node::new("message").attr("id", "x")).is_none());
    }
}
