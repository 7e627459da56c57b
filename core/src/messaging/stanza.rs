//! The message-layer stanzas: reading `<message>` envelopes (`messaging.md` §6.1) and
//! building `<message>` (§5.5, §6.6), `<receipt>` (§6.3, §6.5) and `<ack>` (§6.4) stanzas.
//!
//! Parsing is total: a malformed envelope is a typed [`EnvelopeError`] (the caller nacks it),
//! never a panic.

use bytes::Bytes;
use thiserror::Error;

use crate::binary::{Attr, Content, Jid, Node, Value};

/// The kind of an `<enc>` child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncKind {
    /// A `PreKeySignalMessage`.
    PreKey,
    /// A `SignalMessage`.
    Whisper,
    /// A `SenderKeyMessage` (groups).
    SenderKey,
}

impl EncKind {
    /// The `type` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreKey => "pkmsg",
            Self::Whisper => "msg",
            Self::SenderKey => "skmsg",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pkmsg" => Some(Self::PreKey),
            "msg" => Some(Self::Whisper),
            "skmsg" => Some(Self::SenderKey),
            _ => None,
        }
    }
}

/// One `<enc>` of a received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enc {
    /// `pkmsg`, `msg` or `skmsg`.
    pub kind: EncKind,
    /// The `v` attribute (2 = padded protobuf).
    pub version: u8,
    /// The sender's retry count (`count`), 0 when absent.
    pub count: u32,
    /// `mediatype`, when present.
    pub media_type: Option<String>,
    /// `decrypt-fail="hide"`.
    pub hide_fail: bool,
    /// The ciphertext.
    pub ciphertext: Bytes,
}

/// A received `<message>` envelope.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// `id`.
    pub id: String,
    /// `from`: the sending device (1:1) or the group (groups).
    pub from: Jid,
    /// `participant`: the sending device in a group.
    pub participant: Option<Jid>,
    /// `recipient`: the chat, on copies of own messages.
    pub recipient: Option<Jid>,
    /// `t`, server time (0 when absent).
    pub t: u64,
    /// `type`.
    pub message_type: String,
    /// `notify`: the sender's push name.
    pub notify: Option<String>,
    /// `offline` present: from the backlog.
    pub offline: bool,
    /// `category`.
    pub category: Option<String>,
    /// `edit`.
    pub edit: Option<String>,
    /// `sender_pn` / `participant_pn` / `peer_recipient_pn`: a phone-number alternate.
    pub alt_pn: Option<Jid>,
    /// `sender_lid` / `participant_lid` / `peer_recipient_lid`: a LID alternate.
    pub alt_lid: Option<Jid>,
    /// `peer_recipient_pn` / `peer_recipient_lid`: the chat's other form on own copies.
    pub recipient_alt: Option<Jid>,
    /// `addressing_mode` (groups).
    pub addressing_mode: Option<String>,
    /// The `<enc>` children, in document order.
    pub encs: Vec<Enc>,
    /// An `<unavailable>` child instead of content.
    pub unavailable: bool,
}

/// Why an envelope cannot be processed (each maps to a nack code, `messaging.md` §6.4).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// A required attribute is missing or malformed.
    #[error("the message stanza has no valid {0}")]
    Attribute(&'static str),
    /// An `<enc>` child is malformed.
    #[error("an <enc> child is malformed: {0}")]
    Enc(&'static str),
}

impl EnvelopeError {
    /// The nack code for this error (487: parsing error).
    pub fn nack_code(&self) -> u16 {
        487
    }
}

/// The JID in attribute `key` (a JID value, or a string that parses as one).
pub(crate) fn jid_attr(node: &Node, key: &str) -> Option<Jid> {
    match node.get_attr(key)? {
        Value::Jid(j) => Some(j.clone()),
        Value::String(s) => s.parse().ok(),
    }
}

impl Envelope {
    /// Reads a `<message>` stanza.
    pub fn parse(node: &Node) -> Result<Self, EnvelopeError> {
        let id = node
            .attr_str("id")
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .ok_or(EnvelopeError::Attribute("id"))?
            .to_owned();
        let from = jid_attr(node, "from").ok_or(EnvelopeError::Attribute("from"))?;
        let t = match node.attr_str("t") {
            Some(t) => t.parse().map_err(|_| EnvelopeError::Attribute("t"))?,
            None => 0,
        };
        let alt = |a: &str, b: &str, c: &str| {
            jid_attr(node, a)
                .or_else(|| jid_attr(node, b))
                .or_else(|| jid_attr(node, c))
        };
        let mut encs = Vec::new();
        let mut unavailable = false;
        for child in node.child_nodes() {
            match &*child.tag {
                "enc" => {
                    let Some(kind) = child.attr_str("type").and_then(EncKind::parse) else {
                        continue; // other types (e.g. Messenger's) are skipped, §6.2
                    };
                    let version = match child.attr_str("v") {
                        Some(v) => v.parse().map_err(|_| EnvelopeError::Enc("v"))?,
                        None => 2,
                    };
                    let count = match child.attr_str("count") {
                        Some(c) => c.parse().map_err(|_| EnvelopeError::Enc("count"))?,
                        None => 0,
                    };
                    let ciphertext = match &child.content {
                        Content::Bytes(b) => b.clone(),
                        Content::String(s) => Bytes::copy_from_slice(s.as_bytes()),
                        _ => return Err(EnvelopeError::Enc("content")),
                    };
                    encs.push(Enc {
                        kind,
                        version,
                        count,
                        media_type: child.attr_str("mediatype").map(str::to_owned),
                        hide_fail: child.attr_str("decrypt-fail") == Some("hide"),
                        ciphertext,
                    });
                }
                "unavailable" => unavailable = true,
                _ => {}
            }
        }
        Ok(Self {
            id,
            participant: jid_attr(node, "participant"),
            recipient: jid_attr(node, "recipient"),
            t,
            message_type: node.attr_str("type").unwrap_or("text").to_owned(),
            notify: node.attr_str("notify").map(str::to_owned),
            offline: node.get_attr("offline").is_some(),
            category: node.attr_str("category").map(str::to_owned),
            edit: node.attr_str("edit").map(str::to_owned),
            alt_pn: alt("sender_pn", "participant_pn", "peer_recipient_pn"),
            alt_lid: alt("sender_lid", "participant_lid", "peer_recipient_lid"),
            recipient_alt: jid_attr(node, "peer_recipient_pn")
                .or_else(|| jid_attr(node, "peer_recipient_lid")),
            addressing_mode: node.attr_str("addressing_mode").map(str::to_owned),
            from,
            encs,
            unavailable,
        })
    }

    /// The device that sent it (the participant in a group, else `from`).
    pub fn sender(&self) -> &Jid {
        self.participant.as_ref().unwrap_or(&self.from)
    }

    /// Whether it came to a group.
    pub fn is_group(&self) -> bool {
        self.participant.is_some() || matches!(self.from.server(), crate::binary::Server::Group)
    }
}

fn push_attr(node: &mut Node, key: &str, value: Value) {
    node.attrs.push(Attr {
        key: key.to_owned().into(),
        value,
    });
}

/// Copies `from`'s addressing attributes (`participant`, `recipient`) onto `node`.
fn copy_addressing(node: &mut Node, source: &Node) {
    for key in ["participant", "recipient"] {
        if let Some(v) = source.get_attr(key) {
            push_attr(node, key, v.clone());
        }
    }
}

/// `<ack class="message" id to [participant] [recipient] [error]/>` for a received message
/// (whatsmeow's shape: no `type` on message acks).
pub fn message_ack(source: &Node, error: Option<u16>) -> Option<Node> {
    let id = source.get_attr("id")?.clone();
    let from = source.get_attr("from")?.clone();
    let mut ack = Node::new("ack").attr("class", "message");
    push_attr(&mut ack, "id", id);
    push_attr(&mut ack, "to", from);
    copy_addressing(&mut ack, source);
    if let Some(code) = error {
        ack = ack.attr("error", code.to_string());
    }
    Some(ack)
}

/// The `type` of a delivery receipt (`messaging.md` §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryType {
    /// Normal delivery while marked online.
    Active,
    /// Normal delivery while not marked online (`inactive`).
    Inactive,
    /// A copy of an own message from another own device (`sender`).
    Sender,
    /// A `category="peer"` stanza (`peer_msg`).
    Peer,
}

/// The delivery receipt for a processed message: it also acknowledges the stanza.
pub fn delivery_receipt(source: &Node, kind: DeliveryType) -> Option<Node> {
    let id = source.get_attr("id")?.clone();
    let from = source.get_attr("from")?.clone();
    let mut r = Node::new("receipt");
    push_attr(&mut r, "id", id);
    push_attr(&mut r, "to", from);
    match kind {
        DeliveryType::Active => {}
        DeliveryType::Inactive => r = r.attr("type", "inactive"),
        DeliveryType::Sender => r = r.attr("type", "sender"),
        DeliveryType::Peer => r = r.attr("type", "peer_msg"),
    }
    copy_addressing(&mut r, source);
    Some(r)
}

/// The keys a retry receipt carries from its second attempt on (`messaging.md` §6.5).
#[derive(Clone)]
pub struct RetryKeys {
    /// Own identity public key (32 bytes).
    pub identity: [u8; 32],
    /// A fresh one-time pre-key (id, public), already durable and never offered to the pool.
    pub pre_key: (u32, [u8; 32]),
    /// The current signed pre-key (id, public, signature).
    pub signed_pre_key: (u32, [u8; 32], [u8; 64]),
    /// Own `ADVSignedDeviceIdentity`.
    pub device_identity: Bytes,
}

/// `<tag><id>u24</id><value>32 bytes</value>[<signature>64</signature>]</tag>`.
pub fn key_node(
    tag: &'static str,
    id: u32,
    public: &[u8; 32],
    signature: Option<&[u8; 64]>,
) -> Node {
    let [_, a, b, c] = id.to_be_bytes();
    let mut children = vec![
        Node::new("id").bytes(vec![a, b, c]),
        Node::new("value").bytes(public.to_vec()),
    ];
    if let Some(signature) = signature {
        children.push(Node::new("signature").bytes(signature.to_vec()));
    }
    Node::new(tag).children(children)
}

/// `<receipt type="retry">` for a message that could not be decrypted.
pub fn retry_receipt(
    source: &Node,
    count: u32,
    registration_id: u32,
    keys: Option<&RetryKeys>,
) -> Option<Node> {
    let id = source.get_attr("id")?.clone();
    let from = source.get_attr("from")?.clone();
    let mut r = Node::new("receipt");
    push_attr(&mut r, "id", id.clone());
    push_attr(&mut r, "to", from);
    r = r.attr("type", "retry");
    copy_addressing(&mut r, source);
    if source.attr_str("category") == Some("peer") {
        r = r.attr("category", "peer");
    }
    let mut retry = Node::new("retry").attr("count", count.to_string());
    push_attr(&mut retry, "id", id);
    retry = retry
        .attr("t", source.attr_str("t").unwrap_or("0").to_owned())
        .attr("v", "1");
    let mut children = vec![
        retry,
        Node::new("registration").bytes(registration_id.to_be_bytes().to_vec()),
    ];
    if let Some(k) = keys {
        let (spk_id, spk, sig) = &k.signed_pre_key;
        children.push(Node::new("keys").children(vec![
            Node::new("type").bytes(vec![crate::payload::KEY_TYPE_DJB]),
            Node::new("identity").bytes(k.identity.to_vec()),
            key_node("key", k.pre_key.0, &k.pre_key.1, None),
            key_node("skey", *spk_id, spk, Some(sig)),
            Node::new("device-identity").bytes(k.device_identity.clone()),
        ]));
    }
    Some(r.children(children))
}

/// A read (or played) receipt: `<receipt id to=<chat user> type t [participant]><list>…`.
pub fn read_receipt(
    chat: &Jid,
    participant: Option<&Jid>,
    ids: &[String],
    kind: &'static str,
    t: u64,
) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let mut r = Node::new("receipt")
        .attr("id", first.clone())
        .jid_attr("to", chat.clone())
        .attr("type", kind)
        .attr("t", t.to_string());
    if let Some(p) = participant {
        r = r.jid_attr("participant", p.clone());
    }
    if !rest.is_empty() {
        r = r.children(vec![
            Node::new("list").children(
                rest.iter()
                    .map(|id| Node::new("item").attr("id", id.clone()))
                    .collect(),
            ),
        ]);
    }
    Some(r)
}

/// The `<ack class="receipt">` for a received receipt (`session.md` §5.5).
pub fn receipt_ack(source: &Node) -> Option<Node> {
    let id = source.get_attr("id")?.clone();
    let from = source.get_attr("from")?.clone();
    let mut ack = Node::new("ack").attr("class", "receipt");
    push_attr(&mut ack, "id", id);
    push_attr(&mut ack, "to", from);
    copy_addressing(&mut ack, source);
    if let Some(kind) = source.get_attr("type") {
        push_attr(&mut ack, "type", kind.clone());
    }
    Some(ack)
}

/// The `<ack class="notification">` for a received notification (with its `type`, except for
/// identity-change notifications, which whatsapp-rust acks without it).
pub fn notification_ack(source: &Node) -> Option<Node> {
    let id = source.get_attr("id")?.clone();
    let from = source.get_attr("from")?.clone();
    let mut ack = Node::new("ack").attr("class", "notification");
    push_attr(&mut ack, "id", id);
    push_attr(&mut ack, "to", from);
    copy_addressing(&mut ack, source);
    if let Some(kind) = source.get_attr("type") {
        push_attr(&mut ack, "type", kind.clone());
    }
    Some(ack)
}

/// One `<to jid><enc v="2" type>…</enc></to>` of an outgoing fan-out.
pub fn participant(
    device: &Jid,
    kind: EncKind,
    ciphertext: Bytes,
    media_type: Option<&str>,
) -> Node {
    Node::new("to")
        .jid_attr("jid", device.clone())
        .children(vec![enc(kind, ciphertext, media_type, None)])
}

/// `<enc v="2" type [mediatype] [count]>ciphertext</enc>`.
pub fn enc(kind: EncKind, ciphertext: Bytes, media_type: Option<&str>, count: Option<u32>) -> Node {
    let mut e = Node::new("enc").attr("v", "2").attr("type", kind.as_str());
    if let Some(m) = media_type {
        e = e.attr("mediatype", m.to_owned());
    }
    if let Some(c) = count {
        e = e.attr("count", c.to_string());
    }
    e.bytes(ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming() -> Node {
        Node::new("message")
            .attr("id", "3EB0ABC")
            .jid_attr("from", "100:1@lid".parse().unwrap())
            .attr("t", "1800000000")
            .attr("type", "text")
            .attr("notify", "Alice")
            .jid_attr("sender_pn", "15550001:1@s.whatsapp.net".parse().unwrap())
            .attr("offline", "0")
            .children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "pkmsg")
                    .bytes(vec![0x33, 1, 2]),
                Node::new("enc")
                    .attr("v", "3")
                    .attr("type", "frskmsg")
                    .bytes(vec![9]),
            ])
    }

    #[test]
    fn envelopes_read_every_attribute() {
        let e = Envelope::parse(&incoming()).unwrap();
        assert_eq!(e.id, "3EB0ABC");
        assert_eq!(e.t, 1_800_000_000);
        assert_eq!(e.notify.as_deref(), Some("Alice"));
        assert!(e.offline && !e.is_group());
        assert_eq!(e.alt_pn.as_ref().unwrap().user_str(), "15550001");
        assert_eq!(e.encs.len(), 1, "unknown enc types are skipped");
        assert_eq!(e.encs[0].kind, EncKind::PreKey);
        assert_eq!(e.sender().to_string(), "100:1@lid");
    }

    #[test]
    fn malformed_envelopes_are_typed_errors() {
        let no_id = Node::new("message").attr("from", "1@lid");
        assert_eq!(
            Envelope::parse(&no_id).unwrap_err(),
            EnvelopeError::Attribute("id")
        );
        let bad_t = incoming().attr("t", "soon");
        // `attr` appends: the first `t` wins in attr_str, so build a fresh one.
        let _ = bad_t;
        let bad = Node::new("message")
            .attr("id", "x")
            .attr("from", "1@lid")
            .attr("t", "soon");
        assert_eq!(
            Envelope::parse(&bad).unwrap_err(),
            EnvelopeError::Attribute("t")
        );
        let bad_enc = Node::new("message")
            .attr("id", "x")
            .attr("from", "1@lid")
            .children(vec![Node::new("enc").attr("type", "msg")]);
        assert_eq!(
            Envelope::parse(&bad_enc).unwrap_err(),
            EnvelopeError::Enc("content")
        );
    }

    #[test]
    fn receipts_and_acks_address_the_sender() {
        let m = incoming();
        let r = delivery_receipt(&m, DeliveryType::Inactive).unwrap();
        assert_eq!(r.attr_str("type"), Some("inactive"));
        assert_eq!(
            r.get_attr("to")
                .and_then(Value::as_jid)
                .unwrap()
                .to_string(),
            "100:1@lid"
        );
        let ack = message_ack(&m, Some(491)).unwrap();
        assert_eq!(ack.attr_str("error"), Some("491"));
        assert!(ack.get_attr("type").is_none());
        let retry = retry_receipt(&m, 2, 0x01020304, None).unwrap();
        assert_eq!(retry.attr_str("type"), Some("retry"));
        let r = retry.child("retry").unwrap();
        assert_eq!(r.attr_str("count"), Some("2"));
        assert_eq!(r.attr_str("t"), Some("1800000000"));
        match &retry.child("registration").unwrap().content {
            Content::Bytes(b) => assert_eq!(&b[..], &[1, 2, 3, 4]),
            other => panic!("{other:?}"),
        }
        let read = read_receipt(
            &"100@lid".parse().unwrap(),
            None,
            &["a".into(), "b".into()],
            "read",
            5,
        )
        .unwrap();
        assert_eq!(read.attr_str("id"), Some("a"));
        assert_eq!(read.child("list").unwrap().child_nodes().len(), 1);
    }
}
