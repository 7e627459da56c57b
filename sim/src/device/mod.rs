//! [`SimDevice`]: a simulated WhatsApp device with real Signal keys (`tether-signal`) — a
//! phone (device 0 of an account) or a headless companion — that sends and receives
//! end-to-end encrypted 1:1 text through the [`FakeServer`](crate::FakeServer)'s stanza
//! interface, exactly as a client does: it never reaches into the server's state.
//!
//! Sans-IO like everything here: the harness feeds it what the server delivered
//! ([`SimDevice::handle`], the output of `FakeServer::take_delivered`) and submits what it
//! wants to send ([`SimDevice::poll_stanza`] → `FakeServer::submit`); what happened comes out
//! of [`SimDevice::poll_event`].
//!
//! ```text
//!  register ─▶ <iq encrypt set> (identity, registration id, signed pre-key, one-time keys)
//!  send_text(to) ─▶ usync (to's user and its own, devices + lid)
//!        ─▶ bundle fetch for devices without a session ─▶ X3DH
//!        ─▶ Message (peer devices) / deviceSentMessage (own other devices), padded 1–16,
//!           encrypted per device (pkmsg until the peer answers, then msg)
//!        ─▶ <message><participants>…[<device-identity>]  ─▶ <ack t> : Sent | SendFailed
//!  <message> ─▶ decrypt (pkmsg: X3DH as responder, consumed one-time key deleted)
//!        ├─ ok: unpad, decode Message, unwrap deviceSentMessage ─▶ Received, delivery receipt
//!        │      (a redelivery: the receipt again, no second Received)
//!        └─ failure: retry receipt (count 1…5, <keys> from count 2); after 5: Undecryptable
//!  <receipt type=retry> for a message it sent ─▶ new session from the <keys> (or a fresh
//!        bundle), re-encrypt the kept plaintext, resend to that device (device_fanout=false)
//!  <receipt type=server-error> from an own device ─▶ MediaRetryRequested (its phone answers)
//!  <notification> ─▶ ack; encrypt/count: upload more keys; encrypt/identity: forget that
//!        user's sessions
//! ```
//!
//! Sessions are kept under the peer's canonical address (its LID when known; a PN-named
//! session moves to the LID name once the mapping is learnt). The device keeps every message it
//! sent (to answer retry receipts) and every one-time pre-key it has not seen consumed.
//! Nothing of it is durable: a simulated phone does not crash.

mod group;
mod keys;
mod receive;
mod send;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use tether_core::binary::{Jid, Node, Server};
use tether_signal::{IdentityKey, IdentityKeyPair, SessionRecord};

use keys::OwnKeys;
use send::SendJob;

/// How many retry receipts a device sends for one message before it gives up
/// (`messaging.md` §6.5: at most 5).
pub const MAX_RETRIES: u32 = 5;

/// How a [`SimDevice`] is set up.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// Seed of its randomness (keys, ids, padding).
    pub seed: u64,
    /// The account's phone-number user (digits).
    pub phone_number: String,
    /// The account's LID user (digits).
    pub lid_user: String,
    /// The device number (0 = the phone).
    pub device: u16,
    /// One-time pre-keys per upload.
    pub pre_key_batch: u32,
    /// Address sends in the LID namespace (whatsmeow's rule) rather than as given.
    pub prefer_lid: bool,
}

/// A peer device, named canonically: the LID user when known, else the phone number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Peer {
    /// `lid:<digits>` or `pn:<digits>`.
    user: String,
    device: u16,
}

/// What a [`SimDevice`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// A message was decrypted and handed to the device's application (once per message).
    Received(Received),
    /// The server acked a message this device sent.
    Sent {
        /// The message id.
        id: String,
        /// The server time of the ack.
        t: u64,
    },
    /// The server refused a message, or it reached no device.
    SendFailed {
        /// The message id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A receipt for a message this device sent.
    Receipt {
        /// The message id.
        id: String,
        /// The device that sent the receipt.
        from: Jid,
        /// Its type (`None`: delivered).
        kind: Option<String>,
    },
    /// A retry receipt was answered with a resend.
    Resent {
        /// The message id.
        id: String,
        /// The device that asked.
        to: Jid,
        /// The retry count.
        count: u32,
    },
    /// A retry receipt could not be answered (the message is not kept, or the limit is
    /// reached).
    RetryRefused {
        /// The message id.
        id: String,
        /// The device that asked.
        from: Jid,
        /// Why.
        reason: String,
    },
    /// A message could not be decrypted after every retry: given up, acknowledged.
    Undecryptable {
        /// The message id.
        id: String,
        /// The sender device.
        from: Jid,
        /// Retry receipts sent.
        retries: u32,
        /// The last error.
        reason: String,
    },
    /// A decryption failed and a retry receipt went out.
    RetryRequested {
        /// The message id.
        id: String,
        /// The sender device.
        from: Jid,
        /// The retry count.
        count: u32,
        /// Whether the receipt carried a key bundle.
        with_keys: bool,
    },
    /// A contact's identity changed (a notification): its sessions were dropped.
    IdentityChanged {
        /// The user.
        user: Jid,
    },
    /// A group this device asked for was created.
    GroupCreated {
        /// The group.
        group: Jid,
    },
    /// The server answered a membership change this device asked for.
    GroupUpdated {
        /// The group.
        group: Jid,
        /// Whether it was applied.
        ok: bool,
    },
    /// A `w:gp2` notification: a group changed (`add`, `remove`, `promote`, `demote`,
    /// `subject`).
    GroupChanged {
        /// The group.
        group: Jid,
        /// The change's element name.
        change: String,
    },
    /// An own device asks for a re-upload (`<receipt type="server-error">`, `media.md` §4.4):
    /// the phone that keeps the media answers it.
    MediaRetryRequested {
        /// The message id.
        id: String,
        /// The asking device.
        from: Jid,
        /// The receipt as delivered (its `<encrypt>` and `<rmr>`).
        receipt: Box<Node>,
    },
}

/// A message a device's application got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The message id.
    pub id: String,
    /// The chat: the peer's user, or for a copy of an own message the chat it went to.
    pub chat: Jid,
    /// The sending device, as the stanza named it.
    pub sender: Jid,
    /// Whether an own device sent it.
    pub from_me: bool,
    /// The text (`conversation` or extended text).
    pub text: Option<String>,
    /// The media (image, video, audio, document, sticker), when it carries one.
    pub media: Option<Box<tether_core::media::MediaRef>>,
    /// The whole message (protobuf-encoded, unwrapped from a device-sent copy), for the fields
    /// the others do not carry (a location's, a contact card's).
    pub content: Bytes,
    /// The server time.
    pub t: u64,
    /// Whether it came from the offline backlog.
    pub offline: bool,
}

/// A message this device sent and keeps for retry receipts.
#[derive(Clone, Debug)]
pub(crate) struct Kept {
    /// The chat, as addressed.
    chat: Jid,
    /// The encoded `Message`.
    message: Vec<u8>,
    /// The server time, once acked.
    t: Option<u64>,
}

/// Why an iq was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// The pre-key upload (or a refill).
    Upload,
    /// A signed pre-key rotation.
    Rotate,
    /// A usync for the send job with this message id.
    Usync(String),
    /// A bundle fetch for the send job with this message id.
    Bundles(String),
    /// A bundle fetch to answer a retry receipt: message id, requester, count.
    RetryBundle(String, Jid, u32),
    /// A group create or membership change.
    GroupChange,
    /// The metadata query of the group send with this message id.
    GroupMeta(String),
    /// The usync of the group send with this message id.
    GroupUsync(String),
    /// The bundle fetch of the group send with this message id.
    GroupBundles(String),
}

/// A simulated device (see the module docs).
pub struct SimDevice {
    config: DeviceConfig,
    rng: ChaCha20Rng,
    keys: OwnKeys,
    /// The `ADVSignedDeviceIdentity` a companion sends with its `pkmsg`s.
    adv_identity: Option<Bytes>,
    sessions: BTreeMap<Peer, SessionRecord>,
    identities: BTreeMap<Peer, IdentityKey>,
    /// PN user → LID user, learnt from usync and stanzas.
    lid_of: BTreeMap<String, String>,
    pending: BTreeMap<String, Pending>,
    jobs: BTreeMap<String, SendJob>,
    kept: BTreeMap<String, Kept>,
    /// Retry receipts answered per (message id, requester).
    resends: BTreeMap<(String, Peer), u32>,
    /// Messages processed: (sender, id) → the receipt to send again on a redelivery.
    processed: BTreeMap<(Peer, String), Node>,
    /// Retry receipts sent per (sender, id).
    retries: BTreeMap<(Peer, String), u32>,
    /// Messages given up on (acknowledged after the last retry).
    given_up: BTreeSet<(Peer, String)>,
    outbox: VecDeque<Node>,
    events: VecDeque<DeviceEvent>,
    counter: u64,
    /// Fault: outgoing `<enc>`s still to corrupt.
    corrupt_next: u32,
    /// Fault: incoming messages still to treat as undecryptable.
    fail_next: u32,
    /// A planted defect: every encryption leaves the session as it found it, so the next
    /// message reuses the same chain key and counter.
    reuse_counters: bool,
    /// A planted defect: `<enc>`s go out with an empty `v`.
    planted_unversioned: bool,
    /// Sender keys (its own per group, the members') and group sends in progress.
    groups: group::GroupKeys,
}

impl std::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("jid", &self.jid())
            .field("sessions", &self.sessions.len())
            .field("kept", &self.kept.len())
            .finish_non_exhaustive()
    }
}

/// Moves stanzas between local `devices` and `server` until nothing moves (at most `limit`
/// rounds). Returns the rounds taken.
pub fn pump(
    server: &mut crate::FakeServer,
    devices: &mut [&mut SimDevice],
    now: std::time::Instant,
    limit: usize,
) -> usize {
    for round in 0..limit {
        let mut moved = false;
        for device in devices.iter_mut() {
            moved |= device.exchange(server, now);
        }
        if !moved {
            return round;
        }
    }
    limit
}

impl SimDevice {
    /// A device with this Signal `identity` (a phone's is its account key, which also signs
    /// its companions' device identities).
    pub fn new(config: DeviceConfig, identity: IdentityKeyPair) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed ^ 0x5349_4d44_4556);
        let keys = OwnKeys::new(identity, &mut rng);
        Self {
            config,
            rng,
            keys,
            adv_identity: None,
            sessions: BTreeMap::new(),
            identities: BTreeMap::new(),
            lid_of: BTreeMap::new(),
            pending: BTreeMap::new(),
            jobs: BTreeMap::new(),
            kept: BTreeMap::new(),
            resends: BTreeMap::new(),
            processed: BTreeMap::new(),
            retries: BTreeMap::new(),
            given_up: BTreeSet::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            counter: 0,
            corrupt_next: 0,
            fail_next: 0,
            reuse_counters: false,
            planted_unversioned: false,
            groups: group::GroupKeys::default(),
        }
    }

    /// Fault: the next `n` `<enc>`s it sends carry a flipped MAC byte (the receiver cannot
    /// decrypt them and asks for a retry).
    pub fn corrupt_next_encs(&mut self, n: u32) {
        self.corrupt_next += n;
    }

    /// Fault: the next `n` messages it receives are treated as undecryptable (no session
    /// changes; a retry receipt goes out).
    pub fn fail_next_decrypts(&mut self, n: u32) {
        self.fail_next += n;
    }

    /// Plants a defect (never outside the tests that prove the simulator catches it): from
    /// now on each encryption forgets that it advanced the chain, so the next message to the
    /// same device reuses its counter (and message key) with other bytes.
    pub fn plant_counter_reuse(&mut self) {
        self.reuse_counters = true;
    }

    /// Plants a defect (never outside the tests that prove the simulator catches it): from
    /// now on its `<enc>`s carry an empty `v` (a protocol violation the server nacks).
    pub fn plant_unversioned_encs(&mut self) {
        self.planted_unversioned = true;
    }

    /// Sets the `ADVSignedDeviceIdentity` a companion sends with its `pkmsg`s.
    pub fn set_adv_identity(&mut self, identity: Bytes) {
        self.adv_identity = Some(identity);
    }

    /// Its JID in the LID namespace.
    pub fn jid(&self) -> Jid {
        Jid::device(&self.config.lid_user, self.config.device, Server::Lid)
    }

    /// Its JID in the phone-number namespace.
    pub fn pn_jid(&self) -> Jid {
        Jid::device(
            &self.config.phone_number,
            self.config.device,
            Server::WhatsApp,
        )
    }

    /// The device number.
    pub fn device_id(&self) -> u16 {
        self.config.device
    }

    /// Its identity key.
    pub fn identity_key(&self) -> IdentityKey {
        *self.keys.identity.identity_key()
    }

    /// The next stanza to submit to the server as this device.
    pub fn poll_stanza(&mut self) -> Option<Node> {
        self.outbox.pop_front()
    }

    /// The media of message `id` that this device sent (kept for retry receipts), when it
    /// carries one.
    pub fn sent_media(&self, id: &str) -> Option<tether_core::media::MediaRef> {
        use prost::Message as _;
        let kept = self.kept.get(id)?;
        let message = tether_core::proto::message::Message::decode(kept.message.as_slice()).ok()?;
        tether_core::media::MediaRef::of(&message)
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<DeviceEvent> {
        self.events.pop_front()
    }

    /// Whether a send job is still waiting for an answer.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Sessions it holds.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Handles one stanza the server delivered to this device; `unix` is the current server
    /// time (receipt timestamps).
    pub fn handle(&mut self, node: &Node, unix: u64) {
        match &*node.tag {
            "message" => self.on_message(node, unix),
            "receipt" => self.on_receipt(node),
            "notification" => self.on_notification(node),
            "ack" => self.on_ack(node),
            "iq" => self.on_iq(node),
            _ => {} // <ib>, presence: nothing to do
        }
    }

    /// Moves stanzas between this (local) device and `server` once: submits everything it
    /// has to send, then handles everything delivered to it. Returns whether anything moved.
    pub fn exchange(&mut self, server: &mut crate::FakeServer, now: std::time::Instant) -> bool {
        let jid = self.jid();
        let mut moved = false;
        while let Some(node) = self.poll_stanza() {
            moved = true;
            if let Err(error) = server.submit(&jid, &node, now) {
                tracing::debug!(%error, "a local device's stanza went nowhere");
            }
        }
        let unix = server.unix_at(now);
        for node in server.take_delivered(&jid) {
            moved = true;
            self.handle(&node, unix);
        }
        moved
    }

    pub(crate) fn next_iq_id(&mut self) -> String {
        self.counter += 1;
        format!("dev{}-{}", self.config.device, self.counter)
    }

    fn own_user(&self, jid: &Jid) -> bool {
        match jid.server() {
            Server::Lid => jid.user_str() == self.config.lid_user,
            Server::WhatsApp => jid.user_str() == self.config.phone_number,
            _ => false,
        }
    }

    /// Records that `pn` and `lid` (users) are one account; a session named by the phone
    /// number moves to the LID name.
    fn learn_lid(&mut self, pn: &str, lid: &str) {
        if self.lid_of.get(pn).map(String::as_str) == Some(lid) {
            return;
        }
        self.lid_of.insert(pn.to_owned(), lid.to_owned());
        let from = format!("pn:{pn}");
        let moved: Vec<Peer> = self
            .sessions
            .keys()
            .filter(|p| p.user == from)
            .cloned()
            .collect();
        for old in moved {
            let new = Peer {
                user: format!("lid:{lid}"),
                device: old.device,
            };
            if let Some(record) = self.sessions.remove(&old) {
                self.sessions.entry(new.clone()).or_insert(record);
            }
            if let Some(identity) = self.identities.remove(&old) {
                self.identities.entry(new).or_insert(identity);
            }
        }
    }

    /// The canonical name of a device JID.
    fn peer(&self, jid: &Jid) -> Peer {
        let user = match jid.server() {
            Server::Lid => format!("lid:{}", jid.user_str()),
            _ => match self.lid_of.get(jid.user_str()) {
                Some(lid) => format!("lid:{lid}"),
                None => format!("pn:{}", jid.user_str()),
            },
        };
        Peer {
            user,
            device: jid.device_id(),
        }
    }

    fn random_byte(&mut self) -> u8 {
        let mut byte = [0u8; 1];
        self.rng.fill_bytes(&mut byte);
        byte[0]
    }
}
