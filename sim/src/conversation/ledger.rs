//! The messaging invariants of issue 13 item 10, kept as a ledger the
//! [`Conversation`](super::Conversation) world feeds with every trace record:
//!
//! 1. **Exactly once after confirmation.** Every accepted message reaches every addressed
//!    device's application: a phone (which never crashes) exactly once; a Tether companion at
//!    least once, never twice within one process, and never again after a durable
//!    confirmation — a message confirmed is delivered exactly once. A message that could not
//!    be decrypted counts when it came out as a typed `Undecryptable`.
//! 2. **In order per sender device**: the first deliveries of a sender's messages to one device
//!    follow the order the server accepted them (messages that needed a retry receipt, or a
//!    resend, are exempt: they legitimately overtake).
//! 3. **No (session, chain, counter) twice with different bytes**: every routed `pkmsg`/`msg`
//!    is parsed (tether-signal's parsers); the same sender, recipient, ratchet key and counter
//!    must always carry the same bytes (a key/IV reuse otherwise).
//! 4. **No one-time pre-key handed out twice** (per device and identity).
//! 5. **Nothing acknowledged before it is durable**: when a companion's delivery receipt or
//!    ack for a message reaches the server, its `MemStore` already holds that message's inbox
//!    row (or the application confirmed it); when its `<message>` reaches the server, its
//!    outbox row is durable.
//! 6. **No message dropped without a typed event**: every send ends in `Sent` or `SendFailed`
//!    (a companion's send lost with its process before its outbox row was durable is exempt:
//!    the application never heard of it either way), and every addressed device got the
//!    message or a typed `Undecryptable`, or its sender gave up on that device with a typed
//!    `SendFailed{DeviceUnreachable}` (it still could not decrypt after every resend).
//! 7. **No protocol violation** the server noticed (its complaints).
//! 8. **No message text in logs or `Debug` output** (`secrets.rs`).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use tether_core::binary::{Jid, Node};
use tether_core::records::Table;
use tether_signal::{PreKeySignalMessage, SignalMessage};

use crate::server::{Accepted, DeviceAddr, FakeServer, Handout, Routed};
use crate::store::MemStore;

/// A receiving or sending party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Party {
    /// A Tether companion (mesh index).
    Companion(usize),
    /// A local device (mesh index).
    Device(usize),
}

/// What one party got of one message.
#[derive(Debug, Default)]
struct Got {
    /// Deliveries per process epoch (always epoch 0 for devices).
    per_epoch: BTreeMap<u64, u32>,
    /// The global order of the first delivery.
    first: Option<u64>,
    /// The epoch in which a confirmation of it became durable.
    confirmed_in: Option<u64>,
    /// Confirmed by the application (durably or not).
    confirmed: bool,
}

/// A send the ledger waits to see finish.
#[derive(Debug)]
struct Pending {
    party: Party,
    epoch: u64,
}

/// A confirmation waiting to become durable: the write that carries it.
#[derive(Debug)]
struct Confirming {
    seq: u64,
    keys: Vec<(DeviceAddr, String)>,
    epoch: u64,
}

/// The ledger (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    got: BTreeMap<(Party, DeviceAddr, String), Got>,
    order: u64,
    /// Sends not finished yet, by message id.
    pending: BTreeMap<String, Pending>,
    /// Every send ever started (message id → its text), for the end check.
    texts: BTreeMap<String, String>,
    /// (recipient, id) of messages a retry receipt was sent for.
    retried: BTreeSet<(DeviceAddr, String)>,
    /// (recipient, id) of messages whose sender gave up on that device with a typed
    /// `SendFailed{DeviceUnreachable}` (after every resend).
    unreachable: BTreeSet<(DeviceAddr, String)>,
    /// (sender, recipient, ratchet key, counter) → ciphertext.
    wire: BTreeMap<(DeviceAddr, DeviceAddr, [u8; 33], u32), Bytes>,
    handed: BTreeSet<(DeviceAddr, [u8; 32], u32)>,
    confirming: BTreeMap<usize, Vec<Confirming>>,
    routed_seen: usize,
    handouts_seen: usize,
    /// Typed outcomes seen: `Sent`, `SendFailed`.
    pub(crate) sent: u64,
    pub(crate) send_failed: u64,
    /// Deliveries to applications (first ones), and typed undecryptables.
    pub(crate) delivered: u64,
    pub(crate) undecryptable: u64,
}

/// The bytes an inbox row holds for message `id` (proto field 2, a string).
fn inbox_row_marker(id: &str) -> Option<Vec<u8>> {
    let len = u8::try_from(id.len()).ok().filter(|l| *l < 0x80)?;
    let mut marker = vec![0x12, len];
    marker.extend_from_slice(id.as_bytes());
    Some(marker)
}

/// Whether the store's outbox holds message `id` (its row key ends with the id; the prefix is
/// the core's).
fn outbox_holds(store: &MemStore, id: &str) -> bool {
    !id.is_empty()
        && store
            .records()
            .keys()
            .any(|(t, k)| *t == Table::Outbox && k.ends_with(id.as_bytes()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

impl Ledger {
    /// A send started (`epoch`: the sender's process, 0 for devices).
    pub(crate) fn send_started(&mut self, party: Party, epoch: u64, id: &str, text: &str) {
        self.pending.insert(id.to_owned(), Pending { party, epoch });
        self.texts.insert(id.to_owned(), text.to_owned());
    }

    /// `Sent` or `SendFailed` for `id`.
    pub(crate) fn send_finished(&mut self, id: &str, ok: bool) {
        self.pending.remove(id);
        if ok {
            self.sent += 1;
        } else {
            self.send_failed += 1;
        }
    }

    /// A companion crashed: its unfinished sends whose outbox row is not durable are lost
    /// with the process (exempt); the others carry over to the new process.
    pub(crate) fn crashed(&mut self, companion: usize, store: &MemStore) {
        self.pending
            .retain(|id, p| p.party != Party::Companion(companion) || outbox_holds(store, id));
    }

    /// A party's application got message `id` from `sender` (or a typed undecryptable):
    /// checks invariant 1 as it happens.
    pub(crate) fn delivered(
        &mut self,
        party: Party,
        epoch: u64,
        sender: DeviceAddr,
        id: &str,
        text: Option<&str>,
        undecryptable: bool,
    ) -> Result<(), String> {
        if let (Some(text), Some(sent)) = (text, self.texts.get(id))
            && text != sent
        {
            return Err(format!(
                "{party:?} got message {id} with a text other than the one sent"
            ));
        }
        self.order += 1;
        let order = self.order;
        let got = self
            .got
            .entry((party, sender.clone(), id.to_owned()))
            .or_default();
        let count = got.per_epoch.entry(epoch).or_default();
        *count += 1;
        if *count > 1 {
            return Err(format!(
                "exactly once: {party:?} got message {id} from {sender} twice in one process"
            ));
        }
        if let Some(confirmed) = got.confirmed_in
            && confirmed < epoch
        {
            return Err(format!(
                "exactly once after confirmation: {party:?} got message {id} from {sender} \
                 again after its confirmation was durable"
            ));
        }
        if got.first.is_none() {
            got.first = Some(order);
            if undecryptable {
                self.undecryptable += 1;
            } else {
                self.delivered += 1;
            }
        }
        Ok(())
    }

    /// Whether `party` got message `id` (from anyone), or a typed undecryptable of it.
    pub(crate) fn got_any(&self, party: Party, id: &str) -> bool {
        self.got
            .iter()
            .any(|((p, _, i), g)| *p == party && i == id && g.first.is_some())
    }

    /// The application of `companion` confirmed these messages; the write `seq` carries it
    /// (`None`: no write seen for it).
    pub(crate) fn confirming(
        &mut self,
        companion: usize,
        epoch: u64,
        keys: Vec<(DeviceAddr, String)>,
        seq: Option<u64>,
    ) {
        for key in &keys {
            if let Some(got) =
                self.got
                    .get_mut(&(Party::Companion(companion), key.0.clone(), key.1.clone()))
            {
                got.confirmed = true;
            }
        }
        if let Some(seq) = seq {
            self.confirming
                .entry(companion)
                .or_default()
                .push(Confirming { seq, keys, epoch });
        }
    }

    /// Write `seq` of `companion` is durable: confirmations it carried are.
    pub(crate) fn durable(&mut self, companion: usize, seq: u64) {
        let Some(list) = self.confirming.get_mut(&companion) else {
            return;
        };
        let (done, rest): (Vec<_>, Vec<_>) =
            std::mem::take(list).into_iter().partition(|c| c.seq <= seq);
        *list = rest;
        for c in done {
            for (sender, id) in c.keys {
                if let Some(got) = self.got.get_mut(&(Party::Companion(companion), sender, id)) {
                    got.confirmed_in.get_or_insert(c.epoch);
                }
            }
        }
    }

    /// A companion's process crashed: confirmations whose write was not durable are lost.
    pub(crate) fn forget_confirming(&mut self, companion: usize) {
        self.confirming.remove(&companion);
    }

    /// The sender of `id` gave up on `recipient` with a typed event.
    pub(crate) fn unreachable(&mut self, recipient: DeviceAddr, id: &str) {
        self.unreachable.insert((recipient, id.to_owned()));
    }

    /// A retry receipt for `id` from `recipient`.
    pub(crate) fn retried(&mut self, recipient: DeviceAddr, id: &str) {
        self.retried.insert((recipient, id.to_owned()));
    }

    /// The server received `node` from companion `companion` (whose device is `own`): the
    /// durability checks of invariant 5.
    pub(crate) fn companion_sent(
        &mut self,
        companion: usize,
        own: &DeviceAddr,
        node: &Node,
        store: &MemStore,
        server: &FakeServer,
    ) -> Result<(), String> {
        let id = node.attr_str("id").unwrap_or_default();
        match &*node.tag {
            "message" if !outbox_holds(store, id) => {
                return Err(format!(
                    "durable before the wire: companion {companion} sent message {id} \
                     before its outbox row was durable"
                ));
            }
            "receipt" => {
                let kind = node.attr_str("type");
                if matches!(kind, None | Some("inactive" | "sender" | "peer_msg")) {
                    let mut ids = vec![id.to_owned()];
                    if let Some(list) = node.child("list") {
                        ids.extend(
                            list.child_nodes()
                                .iter()
                                .filter_map(|i| i.attr_str("id").map(str::to_owned)),
                        );
                    }
                    let to = crate::server::jid_attr_of(node, "to");
                    for id in ids {
                        self.check_inbox(companion, own, store, server, to.as_ref(), &id)?;
                    }
                } else if kind == Some("retry") {
                    self.retried(own.clone(), id);
                }
            }
            "ack"
                if node.attr_str("class") == Some("message")
                    && node.attr_str("error").is_none() =>
            {
                let to = crate::server::jid_attr_of(node, "to");
                self.check_inbox(companion, own, store, server, to.as_ref(), id)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// An ack or delivery receipt for `id` is fine when the inbox holds the message, the
    /// application confirmed it, or it answers a retry receipt this device sent (then it
    /// claims nothing was processed: the resend is awaited).
    fn check_inbox(
        &self,
        companion: usize,
        own: &DeviceAddr,
        store: &MemStore,
        server: &FakeServer,
        from: Option<&Jid>,
        id: &str,
    ) -> Result<(), String> {
        let in_inbox = inbox_row_marker(id).is_some_and(|marker| {
            store
                .records()
                .iter()
                .any(|((t, _), v)| *t == Table::Inbox && contains(v, &marker))
        });
        let confirmed = from
            .and_then(|f| server.device_of(f))
            .and_then(|s| {
                self.got
                    .get(&(Party::Companion(companion), s, id.to_owned()))
            })
            .is_some_and(|g| g.confirmed);
        let retried = self.retried.contains(&(own.clone(), id.to_owned()));
        if in_inbox || confirmed || retried {
            Ok(())
        } else {
            Err(format!(
                "durable before the ack: companion {companion} acknowledged message {id} \
                 before its inbox row was durable"
            ))
        }
    }

    /// New routed ciphertexts: invariant 3.
    pub(crate) fn check_wire(&mut self, server: &FakeServer) -> Result<(), String> {
        let (routed, total) = server.routed_since(self.routed_seen);
        let routed: Vec<Routed> = routed.to_vec();
        self.routed_seen = total;
        for r in routed {
            let parsed = match r.kind.as_str() {
                "msg" => SignalMessage::parse(&r.ciphertext)
                    .ok()
                    .map(|m| (m.ratchet_key().serialize(), m.counter())),
                "pkmsg" => PreKeySignalMessage::parse(&r.ciphertext).ok().map(|m| {
                    let inner = m.message();
                    (inner.ratchet_key().serialize(), inner.counter())
                }),
                _ => None,
            };
            // A corrupted ciphertext (a planted fault) may not parse; it is not a reuse.
            let Some((ratchet, counter)) = parsed else {
                continue;
            };
            let key = (r.sender.clone(), r.recipient.clone(), ratchet, counter);
            let body = signal_body(&r);
            match self.wire.get(&key) {
                Some(previous) if *previous != body => {
                    return Err(format!(
                        "no (session, chain, counter) twice: {} sent {} counter {counter} of one \
                         chain twice with different bytes (message {}): key and IV reuse",
                        r.sender, r.recipient, r.id
                    ));
                }
                Some(_) => {}
                None => {
                    self.wire.insert(key, body);
                }
            }
        }
        Ok(())
    }

    /// New pre-key handouts: invariant 4.
    pub(crate) fn check_handouts(&mut self, server: &FakeServer) -> Result<(), String> {
        let (handouts, total) = server.handouts_since(self.handouts_seen);
        let handouts: Vec<Handout> = handouts.to_vec();
        self.handouts_seen = total;
        for h in handouts {
            if !self
                .handed
                .insert((h.device.clone(), h.identity, h.pre_key_id))
            {
                return Err(format!(
                    "no one-time pre-key handed out twice: {} pre-key {} went out again",
                    h.device, h.pre_key_id
                ));
            }
        }
        Ok(())
    }

    /// The end of the run: invariants 1, 2 and 6 over everything.
    pub(crate) fn finish(
        &self,
        server: &FakeServer,
        party_of: &dyn Fn(&DeviceAddr) -> Option<Party>,
    ) -> Result<(), String> {
        if let Some((id, p)) = self.pending.iter().next() {
            return Err(format!(
                "no message dropped without a typed event: {:?} (process {}) sent {id} and \
                 never heard Sent or SendFailed",
                p.party, p.epoch
            ));
        }
        let accepted: Vec<&Accepted> = server.accepted().iter().collect();
        let resent: BTreeSet<(DeviceAddr, String)> = accepted
            .iter()
            .filter(|a| a.retry_count.is_some())
            .flat_map(|a| a.recipients.iter().map(|r| (r.clone(), a.id.clone())))
            .collect();
        // Per (recipient, sender): the clean messages in acceptance order.
        let mut lanes: BTreeMap<(DeviceAddr, DeviceAddr), Vec<&str>> = BTreeMap::new();
        for a in accepted.iter().filter(|a| a.retry_count.is_none()) {
            for recipient in &a.recipients {
                let Some(party) = party_of(recipient) else {
                    continue;
                };
                let got = self
                    .got
                    .get(&(party, a.sender.clone(), a.id.clone()))
                    .and_then(|g| g.first);
                let key = (recipient.clone(), a.id.clone());
                if got.is_none() && self.unreachable.contains(&key) {
                    continue;
                }
                if got.is_none() {
                    let why = match (self.retried.contains(&key), resent.contains(&key)) {
                        (true, false) => "; it asked for a retry and the sender never resent it",
                        (true, true) => "; it asked for a retry and the resend did not help",
                        _ => "",
                    };
                    return Err(format!(
                        "every accepted message reaches every addressed device: {} never got \
                         message {} from {} (accepted at t={}){why}",
                        recipient, a.id, a.sender, a.t
                    ));
                }
                if !self.retried.contains(&key) && !resent.contains(&key) {
                    lanes
                        .entry((recipient.clone(), a.sender.clone()))
                        .or_default()
                        .push(&a.id);
                }
            }
        }
        for ((recipient, sender), ids) in &lanes {
            let Some(party) = party_of(recipient) else {
                continue;
            };
            let mut last: Option<(u64, &str)> = None;
            for id in ids {
                let Some(first) = self
                    .got
                    .get(&(party, sender.clone(), (*id).to_owned()))
                    .and_then(|g| g.first)
                else {
                    continue;
                };
                if let Some((before, previous)) = last
                    && first < before
                {
                    return Err(format!(
                        "in order per sender device: {recipient} got {id} before {previous}, \
                         which {sender} sent first"
                    ));
                }
                last = Some((first, id));
            }
        }
        Ok(())
    }
}

/// The ciphertext a wire key must map to: the whole `msg`, or the `pkmsg`'s inner message
/// (a repeated pkmsg of one session carries the same inner bytes).
fn signal_body(r: &Routed) -> Bytes {
    if r.kind == "pkmsg"
        && let Ok(m) = PreKeySignalMessage::parse(&r.ciphertext)
    {
        return Bytes::copy_from_slice(m.message().as_bytes());
    }
    r.ciphertext.clone()
}
