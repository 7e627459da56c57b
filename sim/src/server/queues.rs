//! Per-device delivery queues (`messaging.md` §9.3): every message, receipt and notification
//! addressed to a device waits in its FIFO queue until that device acknowledges it — with an
//! `<ack>` of the same class and id, or, for a message, a `<receipt>` for it. A device online
//! gets each stanza the moment it is queued; whatever it has not acknowledged when it goes away
//! is delivered again at its next login (the backlog). Stanzas older than
//! [`EXPIRY`] are dropped unseen.
//!
//! ```text
//!  enqueue ─▶ [ oldest … newest ] ─▶ online and active? send now : wait for the login
//!  <ack class id to> / <receipt id to> from the device ─▶ the matching entry leaves
//!  login ─▶ every entry (the backlog), in order, marked offline
//! ```
//!
//! A client on a connection sends a retry receipt and an `<ack>` for one delivered message.
//! The retry receipt takes the message off the queue, and the ack that follows names that same
//! delivery ([`ReceiptAcked`]): it must not take off the resend the sender queued since under
//! the same id. A simulated phone answers a retry receipt at once, before that ack is read;
//! taking the resend off with the ack lost it when the connection dropped before it arrived.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use tether_core::binary::{Content, Node};

use super::FakeServer;
use super::accounts::{DeviceAddr, Endpoint};

/// How long the server keeps an unacknowledged stanza (14 days of virtual time).
pub const EXPIRY: Duration = Duration::from_secs(14 * 24 * 3600);

/// The kinds of stanza a device acknowledges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StanzaClass {
    /// `<message>`.
    Message,
    /// `<receipt>`.
    Receipt,
    /// `<notification>`.
    Notification,
}

impl StanzaClass {
    /// The class of a stanza tag (`message`, `receipt`, `notification`).
    pub fn of(tag: &str) -> Option<Self> {
        match tag {
            "message" => Some(Self::Message),
            "receipt" => Some(Self::Receipt),
            "notification" => Some(Self::Notification),
            _ => None,
        }
    }
}

/// One stanza waiting for a device's acknowledgement.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub(crate) class: StanzaClass,
    pub(crate) id: String,
    /// The device that caused it (the `to` of the client's ack names it); `None` for the
    /// server's own notifications.
    pub(crate) from: Option<DeviceAddr>,
    /// The receipt's `type` (`None`: a delivery receipt, or not a receipt).
    pub(crate) receipt_type: Option<String>,
    pub(crate) node: Node,
    pub(crate) queued_at: Instant,
}

/// One device's queue (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct DeviceQueue {
    entries: VecDeque<Queued>,
}

/// Delivery faults armed for one device.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DeliveryFaults {
    /// Deliveries still to duplicate.
    pub(crate) duplicate: u32,
    /// Acknowledgements still to lose.
    pub(crate) ignore_acks: u32,
    /// Messages whose ciphertext is still to garble.
    pub(crate) garble: u32,
}

/// Flips the last MAC byte of `message`'s `<enc>`; `false` when it has none.
fn garble_enc(message: &mut Node) -> bool {
    let Content::Nodes(children) = &mut message.content else {
        return false;
    };
    let Some(enc) = children.iter_mut().find(|c| c.tag == "enc") else {
        return false;
    };
    let Content::Bytes(bytes) = &enc.content else {
        return false;
    };
    let mut garbled = bytes.to_vec();
    // A `pkmsg` wraps the `msg` whose MAC it ends with; its own last byte may be a key id.
    let mac_end = if enc.attr_str("type") == Some("pkmsg") {
        tether_signal::message::PreKeySignalMessage::parse(&garbled)
            .ok()
            .and_then(|m| {
                let inner = m.message().as_bytes();
                garbled
                    .windows(inner.len())
                    .position(|w| w == inner)
                    .map(|at| at + inner.len())
            })
    } else {
        Some(garbled.len())
    };
    let Some(last) = mac_end
        .and_then(|end| end.checked_sub(1))
        .and_then(|at| garbled.get_mut(at))
    else {
        return false;
    };
    *last ^= 0x01;
    enc.content = Content::Bytes(garbled.into());
    true
}

/// Messages a retry receipt took off a device's queue, whose `<ack>` is still to come (see the
/// module docs). At most [`ReceiptAcked::KEPT`] per device, the oldest forgotten first: a device
/// that never acks cannot make it grow.
#[derive(Debug, Default)]
pub(crate) struct ReceiptAcked {
    by_device: BTreeMap<DeviceAddr, VecDeque<String>>,
}

impl ReceiptAcked {
    /// Ids remembered per device.
    const KEPT: usize = 64;

    /// A receipt from `device` took message `id` off its queue.
    pub(crate) fn note(&mut self, device: &DeviceAddr, id: &str) {
        let ids = self.by_device.entry(device.clone()).or_default();
        if ids.len() == Self::KEPT {
            ids.pop_front();
        }
        ids.push_back(id.to_owned());
    }

    /// Whether an `<ack>` from `device` for message `id` names a delivery its receipt already
    /// took off (forgotten here once answered).
    pub(crate) fn take(&mut self, device: &DeviceAddr, id: &str) -> bool {
        let Some(ids) = self.by_device.get_mut(device) else {
            return false;
        };
        let Some(at) = ids.iter().position(|known| known == id) else {
            return false;
        };
        ids.remove(at);
        true
    }
}

/// What an acknowledgement names.
#[derive(Clone, Debug)]
pub(crate) struct AckKey<'a> {
    pub(crate) class: StanzaClass,
    pub(crate) id: &'a str,
    /// The device the ack's `to` names (`None`: no `to`, or the server).
    pub(crate) from: Option<&'a DeviceAddr>,
    /// For receipts: the type the ack repeats (`None`: it gives none, so any matches).
    pub(crate) receipt_type: Option<Option<&'a str>>,
}

impl DeviceQueue {
    pub(crate) fn push(&mut self, entry: Queued) {
        self.entries.push_back(entry);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.entries.iter()
    }

    /// Removes the oldest entry `key` names; returns it.
    pub(crate) fn remove(&mut self, key: &AckKey<'_>) -> Option<Queued> {
        let index = self.entries.iter().position(|e| {
            e.class == key.class
                && e.id == key.id
                && key.from.is_none_or(|from| e.from.as_ref() == Some(from))
                && key
                    .receipt_type
                    .is_none_or(|t| e.receipt_type.as_deref() == t)
        })?;
        self.entries.remove(index)
    }

    /// Drops entries queued before `now - EXPIRY`; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|e| now.saturating_duration_since(e.queued_at) < EXPIRY);
        before - self.entries.len()
    }

    /// Every entry, oldest first (a snapshot for a backlog delivery).
    pub(crate) fn snapshot(&self) -> Vec<Queued> {
        self.entries.iter().cloned().collect()
    }
}

impl FakeServer {
    /// Queues `entry` for `to` and sends it at once when `to` is online and active. Returns
    /// `false` (and drops it) when there is no such device.
    pub(super) fn enqueue(&mut self, to: &DeviceAddr, mut entry: Queued) -> bool {
        if entry.class == StanzaClass::Message
            && let Some(faults) = self.delivery_faults.get_mut(to)
            && faults.garble > 0
            && garble_enc(&mut entry.node)
        {
            faults.garble -= 1;
        }
        let node = entry.node.clone();
        let Some(state) = self.accounts.device_mut(to) else {
            return false;
        };
        state.queue.push(entry);
        let online = state.online.filter(|o| o.active).map(|o| o.endpoint);
        if let Some(endpoint) = online {
            self.transmit(to, endpoint, &node);
        }
        true
    }

    /// Sends `node` to `to` at `endpoint` (twice, while a duplication fault is armed for an
    /// ack-expecting stanza).
    pub(super) fn transmit(&mut self, to: &DeviceAddr, endpoint: Endpoint, node: &Node) {
        if StanzaClass::of(&node.tag).is_some()
            && let Some(faults) = self.delivery_faults.get_mut(to)
            && faults.duplicate > 0
        {
            faults.duplicate -= 1;
            self.transmit_once(to, endpoint, node);
        }
        self.transmit_once(to, endpoint, node);
    }

    fn transmit_once(&mut self, to: &DeviceAddr, endpoint: Endpoint, node: &Node) {
        match endpoint {
            Endpoint::Conn(id) => self.send_node(id, node),
            Endpoint::Local => self
                .local_inbox
                .entry(to.clone())
                .or_default()
                .push_back(node.clone()),
        }
    }

    /// `device` acknowledged the stanza `key` names: it leaves the queue.
    pub(super) fn acknowledge(&mut self, device: &DeviceAddr, key: &AckKey<'_>) -> bool {
        if let Some(faults) = self.delivery_faults.get_mut(device)
            && faults.ignore_acks > 0
        {
            faults.ignore_acks -= 1;
            return false;
        }
        let removed = self
            .accounts
            .device_mut(device)
            .and_then(|s| s.queue.remove(key));
        removed.is_some()
    }

    /// Delivery fault: the next `n` messages, receipts or notifications sent to `device`
    /// are sent twice (a duplicated delivery). `false`: no such device.
    pub fn duplicate_next_deliveries(&mut self, device: &tether_core::binary::Jid, n: u32) -> bool {
        let Some((addr, _)) = self.accounts.resolve(device) else {
            return false;
        };
        self.delivery_faults.entry(addr).or_default().duplicate += n;
        true
    }

    /// Delivery fault: the next `n` acks or receipts from `device` are lost on the server's
    /// side (the stanza stays queued and comes again at the device's next login). `false`:
    /// no such device.
    pub fn lose_next_acks(&mut self, device: &tether_core::binary::Jid, n: u32) -> bool {
        let Some((addr, _)) = self.accounts.resolve(device) else {
            return false;
        };
        self.delivery_faults.entry(addr).or_default().ignore_acks += n;
        true
    }

    /// Delivery fault: the next `n` messages queued for `device` carry a corrupted
    /// ciphertext (the last byte of the Signal message's MAC flipped, inside a `pkmsg`'s
    /// embedded message: a failed MAC check), as stored, so a redelivery is corrupted too. The recipient cannot decrypt it
    /// and asks the sender for a retry. `false`: no such device.
    pub fn garble_next_messages(&mut self, device: &tether_core::binary::Jid, n: u32) -> bool {
        let Some((addr, _)) = self.accounts.resolve(device) else {
            return false;
        };
        self.delivery_faults.entry(addr).or_default().garble += n;
        true
    }

    /// Disarms every delivery fault (duplications and lost acks still pending).
    pub fn clear_delivery_faults(&mut self) {
        self.delivery_faults.clear();
    }

    /// Stanzas waiting for `device`'s acknowledgement (`None`: no such device).
    pub fn queue_len(&self, device: &tether_core::binary::Jid) -> Option<usize> {
        let (addr, _) = self.accounts.resolve(device)?;
        Some(self.accounts.device(&addr)?.queue.len())
    }

    /// The ids and classes of the stanzas waiting for `device`, oldest first.
    pub fn queued(&self, device: &tether_core::binary::Jid) -> Vec<(StanzaClass, String)> {
        self.accounts
            .resolve(device)
            .and_then(|(addr, _)| self.accounts.device(&addr))
            .map(|s| s.queue.iter().map(|e| (e.class, e.id.clone())).collect())
            .unwrap_or_default()
    }

    /// Stanzas dropped unacknowledged after [`EXPIRY`].
    pub fn expired(&self) -> u64 {
        self.expired
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(class: StanzaClass, id: &str, from: u16, at: Instant) -> Queued {
        Queued {
            class,
            id: id.to_owned(),
            from: Some(DeviceAddr {
                user: "1".to_owned(),
                device: from,
            }),
            receipt_type: None,
            node: Node::new("message").attr("id", id.to_owned()),
            queued_at: at,
        }
    }

    #[test]
    fn acks_remove_only_the_entry_they_name() {
        let now = Instant::now();
        let mut queue = DeviceQueue::default();
        queue.push(entry(StanzaClass::Message, "A", 0, now));
        queue.push(entry(StanzaClass::Receipt, "A", 0, now));
        queue.push(entry(StanzaClass::Receipt, "A", 3, now));
        let three = DeviceAddr {
            user: "1".to_owned(),
            device: 3,
        };
        let key = AckKey {
            class: StanzaClass::Receipt,
            id: "A",
            from: Some(&three),
            receipt_type: Some(None),
        };
        assert_eq!(queue.remove(&key).unwrap().from.unwrap().device, 3);
        assert!(queue.remove(&key).is_none());
        let read = AckKey {
            receipt_type: Some(Some("read")),
            from: None,
            ..key.clone()
        };
        assert!(
            queue.remove(&read).is_none(),
            "a read ack names a read receipt"
        );
        let any = AckKey {
            from: None,
            receipt_type: None,
            ..key
        };
        assert!(queue.remove(&any).is_some());
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.snapshot()[0].class, StanzaClass::Message);
    }

    #[test]
    fn entries_expire_after_fourteen_days() {
        let start = Instant::now();
        let mut queue = DeviceQueue::default();
        queue.push(entry(StanzaClass::Message, "old", 0, start));
        queue.push(entry(StanzaClass::Message, "new", 0, start + EXPIRY / 2));
        assert_eq!(queue.expire(start + EXPIRY - Duration::from_secs(1)), 0);
        assert_eq!(queue.expire(start + EXPIRY), 1);
        assert_eq!(queue.snapshot()[0].id, "new");
    }
}
