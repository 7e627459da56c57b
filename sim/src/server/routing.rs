//! Message routing (`messaging.md` §5.5, §6.1, §6.6, §9.2, §9.3): validate a client's
//! `<message>`, assign its server time, ack it, and queue one stanza per addressed device with
//! only that device's `<enc>`. The server never decrypts.
//!
//! ```text
//!  <message id to=user> <participants><to jid=device><enc/></to>…</participants>
//!     seen before from this device?  ─▶ the same ack again, nothing delivered twice
//!     invalid?                        ─▶ <ack class="message" error=400|479> (and a complaint
//!                                        when a client broke the protocol, not just raced)
//!     otherwise ─▶ t, <ack class="message" id from=to t [phash]> (phash when the addressed
//!                  devices differ from the server's lists), then per <to>:
//!                  <message from=sender (namespace of `to`) id t type notify [sender_pn|
//!                   sender_lid] [recipient …own-device copies]><enc/>[<device-identity/>]
//!  <message id to=device device_fanout="false"><enc count=n/> (a retry resend; Baileys
//!   wraps the <enc> in <participants><to jid=device>, without count)
//!     ─▶ the same, to that one device; dedup per (device, count)
//! ```
//!
//! Every accepted message and every routed `<enc>` is logged ([`FakeServer::accepted`],
//! [`FakeServer::routed`]) for the simulator's invariants; nothing in them is secret to the
//! server (ciphertext only).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use tether_core::binary::{Content, Jid, Node};

use super::FakeServer;
use super::accounts::{Account, DeviceAddr, Endpoint, Namespace, jid_attr};
use super::queues::{EXPIRY, Queued, StanzaClass};

/// A message the server accepted and acked without error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The sending device.
    pub sender: DeviceAddr,
    /// The client's message id.
    pub id: String,
    /// The server time assigned.
    pub t: u64,
    /// The `to` of the stanza (a user, or a device for a retry resend).
    pub to: Jid,
    /// The devices a copy was queued for, in stanza order.
    pub recipients: Vec<DeviceAddr>,
    /// The `count` of a retry resend's `<enc>` (`None`: a fan-out).
    pub retry_count: Option<u32>,
}

/// One `<enc>` the server routed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    /// The sending device.
    pub sender: DeviceAddr,
    /// The device it was queued for.
    pub recipient: DeviceAddr,
    /// The message id.
    pub id: String,
    /// `pkmsg`, `msg` (or `skmsg`).
    pub kind: String,
    /// The ciphertext.
    pub ciphertext: Bytes,
}

/// Which stanza a repeat would duplicate: sender, id, and for a retry resend its target and
/// count.
pub(super) type DedupKey = (DeviceAddr, String, Option<(DeviceAddr, String)>);

/// The ack a repeat gets again.
#[derive(Clone, Debug)]
struct AckedAs {
    to: Jid,
    t: u64,
    phash: Option<String>,
}

/// Routing state: what each sender already sent (dedup), kept for [`EXPIRY`].
#[derive(Debug, Default)]
pub(crate) struct Routing {
    seen: BTreeMap<DedupKey, AckedAs>,
    seen_order: VecDeque<(Instant, DedupKey)>,
}

impl Routing {
    fn remember(&mut self, key: DedupKey, acked: AckedAs, now: Instant) {
        while let Some((at, _)) = self.seen_order.front() {
            if now.saturating_duration_since(*at) < EXPIRY {
                break;
            }
            if let Some((_, old)) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen_order.push_back((now, key.clone()));
        self.seen.insert(key, acked);
    }
}

/// Why a message was refused: the `error` of the ack, and a complaint when the client broke
/// the protocol (rather than, say, racing a device-list change).
pub(super) struct Nack {
    pub(super) code: u16,
    pub(super) complaint: Option<String>,
}

pub(super) fn nack(code: u16, complaint: impl Into<String>) -> Nack {
    Nack {
        code,
        complaint: Some(complaint.into()),
    }
}

/// The one valid `<enc>` of a `<to>` (or of a retry resend).
pub(super) fn single_enc(parent: &Node) -> Result<&Node, Nack> {
    let encs: Vec<&Node> = parent
        .child_nodes()
        .iter()
        .filter(|c| c.tag == "enc")
        .collect();
    let [enc] = encs.as_slice() else {
        return Err(nack(479, format!("{} <enc> children, not one", encs.len())));
    };
    if enc.attr_str("v") != Some("2") {
        return Err(nack(479, "an <enc> without v=\"2\""));
    }
    if !matches!(enc.attr_str("type"), Some("pkmsg" | "msg")) {
        return Err(nack(479, "an <enc> whose type is not pkmsg or msg"));
    }
    match &enc.content {
        Content::Bytes(b) if !b.is_empty() => Ok(enc),
        _ => Err(nack(479, "an <enc> without ciphertext")),
    }
}

pub(super) fn enc_bytes(enc: &Node) -> Bytes {
    match &enc.content {
        Content::Bytes(b) => b.clone(),
        _ => Bytes::new(),
    }
}

pub(super) fn is_pkmsg(enc: &Node) -> bool {
    enc.attr_str("type") == Some("pkmsg")
}

/// A validated fan-out: each addressed device with its JID as written and its `<enc>`.
struct Fanout {
    ns: Namespace,
    recipient: String,
    targets: Vec<(DeviceAddr, Node)>,
    /// Every device the stanza named, removed ones included.
    addressed: BTreeSet<DeviceAddr>,
}

impl FakeServer {
    /// A `<message>` from `sender`.
    pub(super) fn on_message(&mut self, sender: &DeviceAddr, endpoint: Endpoint, node: &Node) {
        let Some(id) = node.attr_str("id").map(str::to_owned) else {
            self.complain(Some(sender), "a <message> without an id".to_owned());
            return;
        };
        let to = jid_attr(node, "to");
        let retry = node.attr_str("device_fanout") == Some("false");
        let result = match &to {
            None => Err(nack(400, "a <message> without a to")),
            Some(to) if *to.server() == tether_core::binary::Server::Group => {
                self.route_group(sender, endpoint, &id, to, node)
            }
            Some(to) if retry => self.route_retry(sender, endpoint, &id, to, node),
            Some(to) => self.route_fanout(sender, endpoint, &id, to, node),
        };
        if let Err(Nack { code, complaint }) = result {
            if let Some(what) = complaint {
                self.complain(Some(sender), format!("message {id}: {what}"));
            }
            let mut ack = Node::new("ack").attr("class", "message").attr("id", id);
            if let Some(to) = to {
                ack = ack.jid_attr("from", to);
            }
            let ack = ack.attr("error", code.to_string());
            self.transmit(sender, endpoint, &ack);
        }
    }

    /// Answers a repeat of an accepted stanza with its first ack; `true` if it was one.
    pub(super) fn repeat(
        &mut self,
        key: &DedupKey,
        sender: &DeviceAddr,
        endpoint: Endpoint,
    ) -> bool {
        let Some(acked) = self.routing.seen.get(key).cloned() else {
            return false;
        };
        self.transmit(sender, endpoint, &message_ack(&key.1, &acked));
        true
    }

    fn validate_fanout(&self, sender: &DeviceAddr, to: &Jid, node: &Node) -> Result<Fanout, Nack> {
        let ns = super::accounts::namespace_of(to).ok_or(Nack {
            // Groups and other servers are not carried (yet).
            code: 400,
            complaint: None,
        })?;
        if to.device_id() != 0 || to.has_explicit_device() {
            return Err(nack(
                400,
                "to names a device but device_fanout is not false",
            ));
        }
        let (recipient, _) = self.accounts.find(to).ok_or(Nack {
            code: 400,
            complaint: None,
        })?;
        let recipient = recipient.pn.clone();
        let participants = node
            .child("participants")
            .ok_or_else(|| nack(479, "no <participants>"))?;
        let mut targets = Vec::new();
        let mut seen = BTreeSet::new();
        let mut any_pkmsg = false;
        for child in participants.child_nodes() {
            if child.tag != "to" {
                continue;
            }
            let jid = jid_attr(child, "jid").ok_or_else(|| nack(479, "a <to> without a jid"))?;
            if super::accounts::namespace_of(&jid) != Some(ns) {
                return Err(nack(
                    400,
                    format!("<to jid={jid}> is not in the namespace of to"),
                ));
            }
            let Some((account, _)) = self.accounts.find(&jid) else {
                return Err(nack(479, format!("<to jid={jid}> names an unknown user")));
            };
            if account.pn != recipient && account.pn != sender.user {
                return Err(nack(
                    479,
                    format!("<to jid={jid}> is neither recipient nor sender"),
                ));
            }
            let addr = DeviceAddr {
                user: account.pn.clone(),
                device: jid.device_id(),
            };
            if addr == *sender {
                return Err(nack(479, "the sending device addressed itself"));
            }
            if !seen.insert(addr.clone()) {
                return Err(nack(479, format!("{jid} addressed twice")));
            }
            let enc = single_enc(child)?;
            any_pkmsg |= is_pkmsg(enc);
            if account.devices.contains_key(&addr.device) {
                targets.push((addr, enc.clone()));
            }
            // A device the account no longer has (removed since the sender's usync): not
            // delivered; the ack's phash tells the sender its list is stale.
        }
        if seen.is_empty() {
            return Err(nack(479, "an empty <participants>"));
        }
        if any_pkmsg && sender.device != 0 && node.child("device-identity").is_none() {
            return Err(nack(479, "a pkmsg without <device-identity>"));
        }
        Ok(Fanout {
            ns,
            recipient,
            targets,
            addressed: seen,
        })
    }

    fn route_fanout(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        id: &str,
        to: &Jid,
        node: &Node,
    ) -> Result<(), Nack> {
        let key = (sender.clone(), id.to_owned(), None);
        if self.repeat(&key, sender, endpoint) {
            return Ok(());
        }
        let fanout = self.validate_fanout(sender, to, node)?;
        let phash = self.ack_phash(sender, &fanout);
        let recipients = fanout.targets.iter().map(|(a, _)| a.clone()).collect();
        let t = self.accept(key, endpoint, to, phash, recipients, None);
        self.link_contacts(&sender.user, &fanout.recipient);
        let identity = node.child("device-identity").cloned();
        for (target, enc) in &fanout.targets {
            // The sender's device identity travels with each pkmsg copy (messaging.md §6.1:
            // whether the real server forwards it is unknown; receivers may check it).
            let identity = identity.as_ref().filter(|_| is_pkmsg(enc));
            let delivered =
                self.delivered_message(sender, fanout.ns, node, id, t, to, target, enc, identity);
            self.route_copy(sender, target, id, delivered);
        }
        Ok(())
    }

    fn route_retry(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        id: &str,
        to: &Jid,
        node: &Node,
    ) -> Result<(), Nack> {
        let Some((target, ns)) = self.accounts.resolve(to) else {
            // The device is gone (or never was): a stale retry, not a protocol violation.
            return Err(Nack {
                code: 479,
                complaint: None,
            });
        };
        if target == *sender {
            return Err(nack(479, "a retry resend to the sending device itself"));
        }
        let enc = self.retry_enc(node, &target)?;
        let Some(resend) = self.accept_resend(sender, endpoint, id, to, &target, node, enc)? else {
            return Ok(());
        };
        let chat = jid_attr(node, "recipient").unwrap_or_else(|| to.to_non_ad());
        let delivered = self.delivered_message(
            sender,
            ns,
            node,
            id,
            resend.shown_t,
            &chat,
            &target,
            &resend.enc,
            resend.identity.as_ref(),
        );
        self.route_copy(sender, &target, id, delivered);
        Ok(())
    }

    /// The checks and the acceptance every retry resend (`to` a device, or `to` a group with
    /// the device as `participant`) shares: one valid `<enc>`, dedup per (target, count), a
    /// pkmsg from a companion with its `<device-identity>`; `enc` is the resend's `<enc>`, as
    /// the caller found it. `None`: a repeat, answered with its first ack.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accept_resend(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        id: &str,
        to: &Jid,
        target: &DeviceAddr,
        node: &Node,
        enc: &Node,
    ) -> Result<Option<Resend>, Nack> {
        let count = enc.attr_str("count").unwrap_or_default().to_owned();
        let key = (
            sender.clone(),
            id.to_owned(),
            Some((target.clone(), count.clone())),
        );
        if self.repeat(&key, sender, endpoint) {
            return Ok(None);
        }
        if is_pkmsg(enc) && sender.device != 0 && node.child("device-identity").is_none() {
            return Err(nack(479, "a pkmsg resend without <device-identity>"));
        }
        let t = self.accept(
            key,
            endpoint,
            to,
            None,
            vec![target.clone()],
            count.parse().ok(),
        );
        Ok(Some(Resend {
            // The resend keeps the message's original time when it names it.
            shown_t: node.attr_str("t").and_then(|t| t.parse().ok()).unwrap_or(t),
            enc: enc.clone(),
            identity: is_pkmsg(enc)
                .then(|| node.child("device-identity").cloned())
                .flatten(),
        }))
    }

    /// The `<enc>` of a retry resend to `target`: a child of the `<message>` (whatsmeow,
    /// Tether), or of the one `<to>` of its `<participants>`, which must name `target`
    /// (Baileys 6.17.16).
    fn retry_enc<'n>(&self, node: &'n Node, target: &DeviceAddr) -> Result<&'n Node, Nack> {
        let Some(participants) = node.child("participants") else {
            return single_enc(node);
        };
        if node.child("enc").is_some() {
            return Err(nack(
                479,
                "a retry resend with both <enc> and <participants>",
            ));
        }
        let tos: Vec<&Node> = participants
            .child_nodes()
            .iter()
            .filter(|c| c.tag == "to")
            .collect();
        let [to] = tos.as_slice() else {
            return Err(nack(
                479,
                format!("a retry resend addressing {} devices, not one", tos.len()),
            ));
        };
        let named = jid_attr(to, "jid").and_then(|jid| self.accounts.resolve(&jid));
        if named.as_ref().map(|(addr, _)| addr) != Some(target) {
            return Err(nack(
                479,
                "a retry resend whose <to> is not the device it is for",
            ));
        }
        single_enc(to)
    }

    /// Accepts the stanza `key` names: assigns `t`, remembers the ack for repeats, sends it,
    /// and logs the message. Returns `t`.
    pub(super) fn accept(
        &mut self,
        key: DedupKey,
        endpoint: Endpoint,
        to: &Jid,
        phash: Option<String>,
        recipients: Vec<DeviceAddr>,
        retry_count: Option<u32>,
    ) -> u64 {
        let t = self.stanza_time(endpoint);
        let acked = AckedAs {
            to: to.clone(),
            t,
            phash,
        };
        let (sender, id) = (key.0.clone(), key.1.clone());
        self.routing.remember(key, acked.clone(), self.now);
        let withheld = sender.device == 0
            && self.config.planted == Some(super::PlantedBug::PhoneMessageAckWithheld);
        if !withheld {
            self.transmit(&sender, endpoint, &message_ack(&id, &acked));
        }
        self.accepted.push(Accepted {
            sender,
            id,
            t,
            to: to.clone(),
            recipients,
            retry_count,
        });
        t
    }

    /// Logs every `<enc>` of `node` as routed from `sender` to `target` and queues it there.
    pub(super) fn route_copy(
        &mut self,
        sender: &DeviceAddr,
        target: &DeviceAddr,
        id: &str,
        node: Node,
    ) {
        for enc in node.child_nodes().iter().filter(|c| c.tag == "enc") {
            self.routed.push(Routed {
                sender: sender.clone(),
                recipient: target.clone(),
                id: id.to_owned(),
                kind: enc.attr_str("type").unwrap_or_default().to_owned(),
                ciphertext: enc_bytes(enc),
            });
        }
        let entry = Queued {
            class: StanzaClass::Message,
            id: id.to_owned(),
            from: Some(sender.clone()),
            receipt_type: None,
            node,
            queued_at: self.now,
        };
        self.enqueue(target, entry);
    }

    /// The stanza device `target` gets (`messaging.md` §9.3).
    fn delivered_message(
        &self,
        sender: &DeviceAddr,
        ns: Namespace,
        original: &Node,
        id: &str,
        t: u64,
        chat: &Jid,
        target: &DeviceAddr,
        enc: &Node,
        identity: Option<&Node>,
    ) -> Node {
        let Some(account) = self.accounts.get(&sender.user) else {
            return Node::new("message");
        };
        let from = Node::new("message").jid_attr("from", account.device_jid(sender.device, ns));
        let mut node = delivered_head(from, account, original, id, t);
        node = if ns.is_lid() {
            node.jid_attr("sender_pn", account.user_jid(Namespace::Pn))
        } else {
            node.jid_attr("sender_lid", account.user_jid(Namespace::Lid))
        };
        if target.user == sender.user {
            node = node.jid_attr("recipient", chat.clone());
            if let Some(alternate) = self.alternate_user(chat) {
                let key = if ns.is_lid() {
                    "peer_recipient_pn"
                } else {
                    "peer_recipient_lid"
                };
                node = node.jid_attr(key, alternate);
            }
        }
        delivered_tail(node, original, vec![enc.clone()], identity)
    }

    /// The `phash` for the ack: the participant hash of both accounts' devices (the sender's
    /// included, as whatsmeow computes it) when the addressed devices differ from the server's
    /// lists (`messaging.md` §5.6, §9.2).
    fn ack_phash(&self, sender: &DeviceAddr, fanout: &Fanout) -> Option<String> {
        let mut expected = BTreeSet::new();
        let mut all = Vec::new();
        for user in BTreeSet::from([&fanout.recipient, &sender.user]) {
            let Some(account) = self.accounts.get(user) else {
                continue;
            };
            for device in account.devices.keys() {
                all.push(account.device_jid(*device, fanout.ns));
                let addr = DeviceAddr {
                    user: user.clone(),
                    device: *device,
                };
                if addr != *sender {
                    expected.insert(addr);
                }
            }
        }
        (fanout.addressed != expected)
            .then(|| tether_core::messaging::phash::participant_hash(&all))
    }

    /// The server time of a stanza arriving on `endpoint` (with the connection's skew).
    fn stanza_time(&self, endpoint: Endpoint) -> u64 {
        match endpoint {
            Endpoint::Conn(id) => self.server_time(id, self.now),
            Endpoint::Local => self.unix_at(self.now),
        }
    }

    /// Two accounts that exchanged a message hear of each other's device and identity changes.
    fn link_contacts(&mut self, a: &str, b: &str) {
        if a == b {
            return;
        }
        if let Some(account) = self.accounts.get_mut(a) {
            account.contacts.insert(b.to_owned());
        }
        if let Some(account) = self.accounts.get_mut(b) {
            account.contacts.insert(a.to_owned());
        }
    }

    /// Every message accepted (the newest ones under a `history_limit`).
    pub fn accepted(&self) -> &[Accepted] {
        self.accepted.kept()
    }

    /// The accepted messages after the first `seen` ever (those still kept), and the total.
    pub fn accepted_since(&self, seen: usize) -> (&[Accepted], usize) {
        (self.accepted.since(seen), self.accepted.total())
    }

    /// Every `<enc>` routed (the newest ones under a `history_limit`).
    pub fn routed(&self) -> &[Routed] {
        self.routed.kept()
    }

    /// The routed `<enc>`s after the first `seen` ever (those still kept), and the total.
    pub fn routed_since(&self, seen: usize) -> (&[Routed], usize) {
        (self.routed.since(seen), self.routed.total())
    }
}

/// A retry resend the server accepted (see [`FakeServer::accept_resend`]).
pub(super) struct Resend {
    /// The time the copy shows: the original's when the resend names it.
    pub(super) shown_t: u64,
    /// Its `<enc>`.
    pub(super) enc: Node,
    /// The sender's `<device-identity>`, with a pkmsg.
    pub(super) identity: Option<Node>,
}

/// What every delivered copy of a message carries after the attributes `head` set (`from`,
/// and in a group `participant`): `id`, `t`, `type`, `notify` (`messaging.md` §9.3).
pub(super) fn delivered_head(
    head: Node,
    sender: &Account,
    original: &Node,
    id: &str,
    t: u64,
) -> Node {
    head.attr("id", id.to_owned())
        .attr("t", t.to_string())
        .attr(
            "type",
            original.attr_str("type").unwrap_or("text").to_owned(),
        )
        .attr("notify", sender.push_name.clone())
}

/// A delivered copy's last part: the attributes forwarded from the sender's stanza (`edit`,
/// `category`), then its `<enc>`s and the device identity that travels with a pkmsg.
pub(super) fn delivered_tail(
    mut node: Node,
    original: &Node,
    encs: Vec<Node>,
    identity: Option<&Node>,
) -> Node {
    for key in ["edit", "category"] {
        if let Some(value) = original.attr_str(key) {
            node = node.attr(key, value.to_owned());
        }
    }
    let mut children = encs;
    children.extend(identity.cloned());
    node.children(children)
}

/// `<ack class="message" id from=to t [phash]/>`.
fn message_ack(id: &str, acked: &AckedAs) -> Node {
    let mut ack = Node::new("ack")
        .attr("class", "message")
        .attr("id", id.to_owned())
        .jid_attr("from", acked.to.clone())
        .attr("t", acked.t.to_string());
    if let Some(phash) = &acked.phash {
        ack = ack.attr("phash", phash.clone());
    }
    ack
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::server::fixture::{Fixture, ack_of, jid, message, summary};

    const A2: &str = "100001:2@lid";
    const B_USER: &str = "100002@lid";

    fn all_of_b_and_a0() -> Vec<(&'static str, &'static str)> {
        vec![
            ("100002@lid", "pkmsg"),
            ("100002:3@lid", "msg"),
            ("100002:4@lid", "msg"),
            ("100001@lid", "msg"),
        ]
    }

    #[test]
    fn fan_out_acks_with_t_and_gives_each_device_only_its_enc() {
        let mut f = Fixture::new();
        for device in [
            "100002@lid",
            "100002:3@lid",
            "100002:4@lid",
            "100001@lid",
            A2,
        ] {
            assert_eq!(summary(&f.connect(device)), vec!["ib:offline"]);
        }
        let out = f.submit(A2, &message("M1", B_USER, &all_of_b_and_a0()));
        let ack = ack_of(&out, "M1").unwrap();
        assert_eq!(ack.attr_str("class"), Some("message"));
        assert!(
            ack.attr_str("t").is_some() && ack.attr_str("error").is_none(),
            "{ack}"
        );
        assert!(
            ack.attr_str("phash").is_none(),
            "the full list needs no phash: {ack}"
        );

        let b3 = f.take("100002:3@lid");
        assert_eq!(summary(&b3), vec!["message:M1"]);
        let m = &b3[0];
        assert_eq!(jid_attr(m, "from"), Some(jid(A2)));
        assert_eq!(
            jid_attr(m, "sender_pn"),
            Some(jid("15550001@s.whatsapp.net"))
        );
        assert_eq!(m.attr_str("notify"), Some("Alice"));
        assert_eq!(m.attr_str("t"), ack.attr_str("t"));
        assert!(jid_attr(m, "recipient").is_none());
        let enc = m.child("enc").unwrap();
        assert_eq!(enc_bytes(enc), Bytes::from("ct-M1-100002:3@lid"));
        assert_eq!(
            m.child_nodes().len(),
            1,
            "no device-identity for a msg: {m}"
        );

        let b0 = f.take("100002@lid");
        assert!(
            b0[0].child("device-identity").is_some(),
            "pkmsg copies carry it"
        );
        let a0 = f.take("100001@lid");
        assert_eq!(jid_attr(&a0[0], "recipient"), Some(jid(B_USER)));
        assert_eq!(
            jid_attr(&a0[0], "peer_recipient_pn"),
            Some(jid("15550002@s.whatsapp.net"))
        );
        assert_eq!(f.server.accepted().len(), 1);
        assert_eq!(f.server.accepted()[0].recipients.len(), 4);
        assert_eq!(f.server.routed().len(), 4);
        assert!(
            f.server.complaints().is_empty(),
            "{:?}",
            f.server.complaints()
        );
    }

    #[test]
    fn a_pn_send_is_delivered_in_pn_with_sender_lid() {
        let mut f = Fixture::new();
        f.connect("15550002:3@s.whatsapp.net");
        let targets = [("15550002:3@s.whatsapp.net", "msg")];
        f.submit(
            "15550001:2@s.whatsapp.net",
            &message("P1", "15550002@s.whatsapp.net", &targets),
        );
        let got = f.take("100002:3@lid");
        assert_eq!(
            jid_attr(&got[0], "from"),
            Some(jid("15550001:2@s.whatsapp.net"))
        );
        assert_eq!(jid_attr(&got[0], "sender_lid"), Some(jid("100001@lid")));
    }

    #[test]
    fn a_repeat_is_acked_again_and_not_delivered_twice() {
        let mut f = Fixture::new();
        f.connect("100002:3@lid");
        let stanza = message("M2", B_USER, &all_of_b_and_a0());
        let first = f.submit(A2, &stanza);
        f.advance(std::time::Duration::from_secs(30));
        let second = f.submit(A2, &stanza);
        assert_eq!(
            ack_of(&first, "M2").unwrap().attr_str("t"),
            ack_of(&second, "M2").unwrap().attr_str("t")
        );
        assert_eq!(summary(&f.take("100002:3@lid")), vec!["message:M2"]);
        assert_eq!(f.server.queue_len(&jid("100002:3@lid")), Some(1));
        assert_eq!(f.server.accepted().len(), 1);
    }

    #[test]
    fn a_stale_device_list_is_accepted_with_the_servers_phash() {
        let mut f = Fixture::new();
        // B4 left out (linked after the sender's usync).
        let targets = [
            ("100002@lid", "msg"),
            ("100002:3@lid", "msg"),
            ("100001@lid", "msg"),
        ];
        let out = f.submit(A2, &message("M3", B_USER, &targets));
        let ack = ack_of(&out, "M3").unwrap();
        let expected = tether_core::messaging::phash::participant_hash(
            &[
                "100001@lid",
                A2,
                "100002@lid",
                "100002:3@lid",
                "100002:4@lid",
            ]
            .map(jid),
        );
        assert_eq!(ack.attr_str("phash"), Some(expected.as_str()));
        assert!(ack.attr_str("error").is_none());
        // A device that no longer exists: accepted, not delivered, phash again.
        let mut gone = all_of_b_and_a0();
        gone.push(("100002:9@lid", "msg"));
        let out = f.submit(A2, &message("M4", B_USER, &gone));
        assert!(ack_of(&out, "M4").unwrap().attr_str("phash").is_some());
        assert_eq!(f.server.accepted()[1].recipients.len(), 4);
        assert!(f.server.complaints().is_empty());
    }

    #[test]
    fn protocol_violations_are_nacked_and_logged() {
        let cases: Vec<(Node, &str)> = vec![
            (
                message("N1", B_USER, &[("15550002:3@s.whatsapp.net", "msg")]),
                "400",
            ),
            (message("N2", B_USER, &[(A2, "msg")]), "479"),
            (message("N3", B_USER, &[("100003@lid", "msg")]), "479"),
            (
                message("N4", "100002:3@lid", &[("100002:3@lid", "msg")]),
                "400",
            ),
            (
                Node::new("message")
                    .attr("id", "N5")
                    .jid_attr("to", jid(B_USER))
                    .children(vec![Node::new("participants").children(vec![
                            Node::new("to")
                                .jid_attr("jid", jid("100002:3@lid"))
                                .children(vec![
                                    Node::new("enc")
                                        .attr("v", "2")
                                        .attr("type", "pkmsg")
                                        .bytes(vec![1]),
                                ]),
                        ])]),
                "479",
            ),
        ];
        for (n, (stanza, code)) in cases.iter().enumerate() {
            let mut f = Fixture::new();
            let id = stanza.attr_str("id").unwrap();
            let out = f.submit(A2, stanza);
            let ack = ack_of(&out, id).unwrap_or_else(|| panic!("case {n}: no ack in {out:?}"));
            assert_eq!(ack.attr_str("error"), Some(*code), "case {n}: {ack}");
            assert_eq!(f.server.complaints().len(), 1, "case {n}");
            assert!(f.server.accepted().is_empty(), "case {n}");
        }
        // Not a violation: a user the server does not know.
        let mut f = Fixture::new();
        let out = f.submit(A2, &message("N6", "999@lid", &[("999@lid", "msg")]));
        assert_eq!(ack_of(&out, "N6").unwrap().attr_str("error"), Some("400"));
        assert!(f.server.complaints().is_empty());
    }

    #[test]
    fn a_retry_resend_reaches_only_its_device_once_per_count() {
        let mut f = Fixture::new();
        f.connect("100002:3@lid");
        f.connect("100002:4@lid");
        let resend = |count: &str| {
            Node::new("message")
                .attr("id", "R1")
                .jid_attr("to", jid("100002:3@lid"))
                .attr("type", "text")
                .attr("device_fanout", "false")
                .attr("t", "1700000000")
                .children(vec![
                    Node::new("enc")
                        .attr("v", "2")
                        .attr("type", "pkmsg")
                        .attr("count", count.to_owned())
                        .bytes(vec![9; 40]),
                    Node::new("device-identity").bytes(vec![1]),
                ])
        };
        for count in ["1", "1", "2"] {
            let out = f.submit(A2, &resend(count));
            assert!(ack_of(&out, "R1").unwrap().attr_str("error").is_none());
        }
        let got = f.take("100002:3@lid");
        assert_eq!(summary(&got), vec!["message:R1", "message:R1"]);
        assert_eq!(got[0].attr_str("t"), Some("1700000000"));
        assert_eq!(got[1].child("enc").unwrap().attr_str("count"), Some("2"));
        assert!(f.take("100002:4@lid").is_empty());
        assert_eq!(f.server.accepted().len(), 2);
        assert_eq!(f.server.accepted()[1].retry_count, Some(2));
    }

    #[test]
    fn a_resend_wrapped_in_participants_as_baileys_sends_it_reaches_its_device() {
        let mut f = Fixture::new();
        f.connect("100002:3@lid");
        f.connect("100002:4@lid");
        let resend = |id: &str, to: &str| {
            Node::new("message")
                .attr("id", id.to_owned())
                .jid_attr("to", jid("100002:3@lid"))
                .attr("type", "text")
                .attr("device_fanout", "false")
                .children(vec![
                    Node::new("participants").children(vec![
                        Node::new("to").jid_attr("jid", jid(to)).children(vec![
                            Node::new("enc")
                                .attr("v", "2")
                                .attr("type", "pkmsg")
                                .bytes(vec![9; 40]),
                        ]),
                    ]),
                    Node::new("device-identity").bytes(vec![1]),
                ])
        };
        let out = f.submit(A2, &resend("R2", "100002:3@lid"));
        assert!(ack_of(&out, "R2").unwrap().attr_str("error").is_none());
        let got = f.take("100002:3@lid");
        assert_eq!(summary(&got), vec!["message:R2"]);
        assert_eq!(
            enc_bytes(got[0].child("enc").unwrap()),
            Bytes::from(vec![9; 40])
        );
        assert!(f.take("100002:4@lid").is_empty());
        assert!(f.server.complaints().is_empty());
        // Its <to> must be the device the stanza is for.
        let out = f.submit(A2, &resend("R3", "100002:4@lid"));
        assert_eq!(ack_of(&out, "R3").unwrap().attr_str("error"), Some("479"));
        assert_eq!(f.server.complaints().len(), 1);
        assert!(f.take("100002:4@lid").is_empty());
    }

    #[test]
    fn a_garbled_message_reaches_its_device_with_the_last_byte_flipped_once() {
        let mut f = Fixture::new();
        f.connect("100002:3@lid");
        assert!(f.server.garble_next_messages(&jid("100002:3@lid"), 1));
        let targets = [("100002:3@lid", "msg")];
        for id in ["G1", "G2"] {
            f.submit(A2, &message(id, B_USER, &targets));
        }
        let got = f.take("100002:3@lid");
        assert_eq!(summary(&got), vec!["message:G1", "message:G2"]);
        let sent = b"ct-G1-100002:3@lid";
        let mut garbled = sent.to_vec();
        *garbled.last_mut().unwrap() ^= 1;
        assert_eq!(
            enc_bytes(got[0].child("enc").unwrap()),
            Bytes::from(garbled)
        );
        assert_eq!(
            enc_bytes(got[1].child("enc").unwrap()),
            Bytes::from_static(b"ct-G2-100002:3@lid")
        );
        // The server logs what the sender sent, not what it garbled.
        assert_eq!(f.server.routed()[0].ciphertext, Bytes::from_static(sent));
        assert!(!f.server.garble_next_messages(&jid("999:1@lid"), 1));
    }

    #[test]
    fn an_offline_device_gets_its_messages_as_a_backlog_until_it_acks() {
        let mut f = Fixture::new();
        for id in ["O1", "O2", "O3"] {
            f.submit(A2, &message(id, B_USER, &all_of_b_and_a0()));
        }
        let backlog = f.connect("100002:3@lid");
        assert_eq!(
            summary(&backlog),
            vec![
                "ib:offline_preview",
                "message:O1",
                "message:O2",
                "message:O3",
                "ib:offline"
            ]
        );
        let preview = backlog[0].child("offline_preview").unwrap();
        assert_eq!(preview.attr_str("message"), Some("3"));
        assert_eq!(backlog[1].attr_str("offline"), Some("0"));
        assert_eq!(
            backlog[4].child("offline").unwrap().attr_str("count"),
            Some("3")
        );
        // Ack O1 (plainly) and O2 (by receipt); only O3 comes again.
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", "O1")
            .jid_attr("to", jid(A2));
        f.submit("100002:3@lid", &ack);
        let receipt = Node::new("receipt")
            .attr("id", "O2")
            .jid_attr("to", jid(A2));
        f.submit("100002:3@lid", &receipt);
        f.server.disconnect_local(&jid("100002:3@lid"));
        let again = f.connect("100002:3@lid");
        assert_eq!(
            summary(&again),
            vec!["ib:offline_preview", "message:O3", "ib:offline"]
        );
    }
}
