//! Receipts and acks from devices (`messaging.md` §6.3, §6.4, §9.4).
//!
//! ```text
//!  <receipt id to=device [type=inactive|retry|sender|peer_msg]> ─▶ that device
//!  <receipt id to=user type=read|played>                       ─▶ every device of that user
//!  <receipt id to=user type=read-self|played-self>             ─▶ the reader's other devices
//!     each delivered as <receipt from=<reader's device, namespace of to> id t [type]
//!     [recipient] [participant]> with the children copied, queued and acked like messages;
//!     the reader gets <ack class="receipt" id from=to [type]>, and the message(s) it names
//!     leave the reader's queue
//!  <receipt id to=group participant=device [type]> ─▶ group_routing.rs
//!  <ack class id [to] [participant] [type]> ─▶ the stanza it names leaves the acking
//!     device's queue
//! ```

use tether_core::binary::Node;

use super::FakeServer;
use super::accounts::{DeviceAddr, Endpoint, jid_attr};
use super::queues::{AckKey, Queued, StanzaClass};

/// Receipt types addressed to a user rather than a device.
fn user_level(receipt_type: Option<&str>) -> bool {
    matches!(
        receipt_type,
        Some("read" | "read-self" | "played" | "played-self")
    )
}

impl FakeServer {
    /// A `<receipt>` from `reader`.
    pub(super) fn on_receipt(&mut self, reader: &DeviceAddr, endpoint: Endpoint, node: &Node) {
        let Some(id) = node.attr_str("id").map(str::to_owned) else {
            self.complain(Some(reader), "a <receipt> without an id".to_owned());
            return;
        };
        let receipt_type = node.attr_str("type").map(str::to_owned);
        let Some(to) = jid_attr(node, "to") else {
            self.complain(Some(reader), format!("receipt {id} without a to"));
            return;
        };
        let mut ack = Node::new("ack")
            .attr("class", "receipt")
            .attr("id", id.clone())
            .jid_attr("from", to.clone());
        if let Some(kind) = &receipt_type {
            ack = ack.attr("type", kind.clone());
        }
        self.transmit(reader, endpoint, &ack);
        if *to.server() == tether_core::binary::Server::Group {
            let user_receipt = user_level(receipt_type.as_deref());
            self.on_group_receipt(
                reader,
                endpoint,
                &to,
                node,
                &id,
                receipt_type.as_deref(),
                user_receipt,
            );
            return;
        }

        // The messages it answers leave the reader's queue (a retry receipt too: the device
        // got the stanza, it just could not decrypt it).
        let named = self.accounts.resolve(&to).map(|(addr, _)| addr);
        let user_receipt = user_level(receipt_type.as_deref());
        let mut ids = vec![id.clone()];
        if let Some(list) = node.child("list") {
            ids.extend(
                list.child_nodes()
                    .iter()
                    .filter_map(|item| item.attr_str("id").map(str::to_owned)),
            );
        }
        for message in &ids {
            let key = AckKey {
                class: StanzaClass::Message,
                id: message,
                from: if user_receipt { None } else { named.as_ref() },
                receipt_type: None,
            };
            if self.acknowledge(reader, &key) {
                self.note_retry_ack(reader, endpoint, receipt_type.as_deref(), message);
            }
        }

        let Some((_, ns)) = self.accounts.find(&to) else {
            return; // an unknown user: nothing to route
        };
        let targets: Vec<DeviceAddr> = match receipt_type.as_deref() {
            Some("read-self" | "played-self") => self.own_other_devices(reader),
            kind if user_level(kind) => {
                let user = self.accounts.find(&to).map(|(a, _)| a.pn.clone());
                self.accounts
                    .all_devices()
                    .into_iter()
                    .filter(|a| Some(&a.user) == user.as_ref() && a != reader)
                    .collect()
            }
            _ => match named {
                Some(addr) if addr == *reader => {
                    self.complain(Some(reader), format!("receipt {id} addressed to itself"));
                    return;
                }
                Some(addr) => vec![addr],
                None => return, // a device that is gone
            },
        };
        let Some(from) = self.accounts.jid(reader, ns) else {
            return;
        };
        let t = node
            .attr_str("t")
            .map(str::to_owned)
            .unwrap_or_else(|| self.unix_at(self.now).to_string());
        let mut delivered = Node::new("receipt")
            .jid_attr("from", from)
            .attr("id", id.clone())
            .attr("t", t);
        if let Some(kind) = &receipt_type {
            delivered = delivered.attr("type", kind.clone());
        }
        for key in ["recipient", "participant", "category"] {
            if let Some(value) = node.get_attr(key) {
                delivered.attrs.push(tether_core::binary::Attr {
                    key: key.into(),
                    value: value.clone(),
                });
            }
        }
        delivered.content = node.content.clone();
        for target in targets {
            let entry = Queued {
                class: StanzaClass::Receipt,
                id: id.clone(),
                from: Some(reader.clone()),
                receipt_type: receipt_type.clone(),
                node: delivered.clone(),
                queued_at: self.now,
            };
            self.enqueue(&target, entry);
        }
    }

    /// A retry receipt from a client on a connection took message `id` off its queue: the
    /// `<ack>` the client sends with it names that delivery (see
    /// [`ReceiptAcked`](super::queues::ReceiptAcked)).
    /// Local devices (the simulated phones) send no ack with a retry receipt.
    pub(super) fn note_retry_ack(
        &mut self,
        reader: &DeviceAddr,
        endpoint: Endpoint,
        receipt_type: Option<&str>,
        id: &str,
    ) {
        if receipt_type == Some("retry") && matches!(endpoint, Endpoint::Conn(_)) {
            self.receipt_acked.note(reader, id);
        }
    }

    /// An `<ack>` from `device`: the stanza it names leaves its queue.
    pub(super) fn on_device_ack(&mut self, device: &DeviceAddr, node: &Node) {
        let (Some(id), Some(class)) = (
            node.attr_str("id"),
            node.attr_str("class").and_then(StanzaClass::of),
        ) else {
            return;
        };
        // In a group the device is the `participant`, the `to` is the group.
        let named = jid_attr(node, "to")
            .map(|to| match to.server() {
                tether_core::binary::Server::Group => jid_attr(node, "participant"),
                _ => Some(to),
            })
            .and_then(|named| self.accounts.resolve(&named?));
        let from = match class {
            // Notifications come from the server (or name a user, not a device).
            StanzaClass::Notification => None,
            _ => named.map(|(addr, _)| addr),
        };
        let receipt_type = match class {
            StanzaClass::Receipt => node.attr_str("type").map(Some),
            _ => None,
        };
        // Its receipt already took this delivery off the queue: a resend queued since under
        // the same id stays.
        if class == StanzaClass::Message && self.receipt_acked.take(device, id) {
            return;
        }
        let key = AckKey {
            class,
            id,
            from: from.as_ref(),
            receipt_type,
        };
        self.acknowledge(device, &key);
    }

    fn own_other_devices(&self, device: &DeviceAddr) -> Vec<DeviceAddr> {
        self.accounts
            .get(&device.user)
            .map(|account| {
                account
                    .devices
                    .keys()
                    .filter(|d| **d != device.device)
                    .map(|d| DeviceAddr {
                        user: device.user.clone(),
                        device: *d,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::server::fixture::{A2, Fixture, jid, message, summary};

    /// The first retry receipt for M1, to its sender A2.
    fn retry_receipt() -> Node {
        Node::new("receipt")
            .attr("id", "M1")
            .jid_attr("to", jid(A2))
            .attr("type", "retry")
            .children(vec![
                Node::new("retry").attr("count", "1").attr("id", "M1"),
                Node::new("registration").bytes(vec![0, 0, 1, 2]),
            ])
    }

    fn sent(f: &mut Fixture) {
        let targets = [
            ("100002@lid", "msg"),
            ("100002:3@lid", "msg"),
            ("100002:4@lid", "msg"),
            ("100001@lid", "msg"),
        ];
        f.submit(A2, &message("M1", "100002@lid", &targets));
    }

    #[test]
    fn a_delivery_receipt_reaches_the_sender_device_and_dequeues_the_message() {
        let mut f = Fixture::new();
        f.connect(A2);
        sent(&mut f);
        f.take(A2);
        let receipt = Node::new("receipt")
            .attr("id", "M1")
            .jid_attr("to", jid(A2));
        let out = f.submit("100002:3@lid", &receipt);
        assert_eq!(summary(&out), vec!["ack:M1"]);
        assert_eq!(out[0].attr_str("class"), Some("receipt"));
        assert_eq!(f.server.queue_len(&jid("100002:3@lid")), Some(0));
        assert_eq!(f.server.queue_len(&jid("100002:4@lid")), Some(1));
        let got = f.take(A2);
        assert_eq!(summary(&got), vec!["receipt:M1"]);
        assert_eq!(jid_attr(&got[0], "from"), Some(jid("100002:3@lid")));
        assert!(got[0].attr_str("type").is_none());
        // The sender acks the receipt: it leaves the sender's queue.
        let ack = Node::new("ack")
            .attr("class", "receipt")
            .attr("id", "M1")
            .jid_attr("to", jid("100002:3@lid"));
        f.submit(A2, &ack);
        assert_eq!(f.server.queue_len(&jid(A2)), Some(0));
    }

    #[test]
    fn a_read_receipt_goes_to_every_device_of_the_user_and_read_self_to_own_devices() {
        let mut f = Fixture::new();
        sent(&mut f);
        let read = Node::new("receipt")
            .attr("id", "M1")
            .jid_attr("to", jid("100001@lid"))
            .attr("type", "read")
            .attr("t", "1800000123")
            .children(vec![
                Node::new("list").children(vec![Node::new("item").attr("id", "M0")]),
            ]);
        f.submit("100002:3@lid", &read);
        let receipt = (StanzaClass::Receipt, "M1".to_owned());
        assert_eq!(f.server.queued(&jid(A2)), vec![receipt.clone()]);
        // The phone still holds its own-device copy of M1, then the receipt.
        assert_eq!(f.server.queued(&jid("100001@lid"))[1], receipt);
        let got = f.connect(A2);
        let receipt = got.iter().find(|n| n.tag == "receipt").unwrap();
        assert_eq!(receipt.attr_str("t"), Some("1800000123"));
        assert!(receipt.child("list").is_some());
        // read-self: only the reader's own other devices.
        let read_self = Node::new("receipt")
            .attr("id", "M1")
            .jid_attr("to", jid("100001@lid"))
            .attr("type", "read-self");
        f.submit("100002:3@lid", &read_self);
        assert_eq!(
            f.server.queued(&jid("100002@lid")).len(),
            2,
            "M1 and the read-self"
        );
        assert_eq!(f.server.queued(&jid("100001@lid")).len(), 2);
    }

    #[test]
    fn a_retry_receipt_is_routed_with_its_children() {
        let mut f = Fixture::new();
        f.connect(A2);
        sent(&mut f);
        f.take(A2);
        let retry = retry_receipt();
        f.submit("100002:4@lid", &retry);
        let got = f.take(A2);
        assert_eq!(got[0].attr_str("type"), Some("retry"));
        assert_eq!(got[0].child_nodes().len(), 2);
        // The retrying device acknowledged the message by it.
        assert_eq!(f.server.queue_len(&jid("100002:4@lid")), Some(0));
        // A receipt to oneself is a violation.
        let own = Node::new("receipt")
            .attr("id", "M1")
            .jid_attr("to", jid("100002:4@lid"));
        f.submit("100002:4@lid", &own);
        assert_eq!(f.server.complaints().len(), 1);
    }

    /// A stanza from `device` as if over a connection (the fixture's devices are local).
    fn over_conn(f: &mut Fixture, device: &str, node: &Node) {
        let (addr, _) = f.server.accounts.resolve(&jid(device)).unwrap();
        f.server
            .on_device_stanza(&addr, Endpoint::Conn(crate::server::ConnId(77)), node);
    }

    #[test]
    fn the_ack_sent_with_a_retry_receipt_leaves_the_resend_queued() {
        let mut f = Fixture::new();
        f.connect(A2);
        sent(&mut f);
        f.take(A2);
        let retrying = "100002:4@lid";
        let retry = retry_receipt();
        over_conn(&mut f, retrying, &retry);
        assert_eq!(f.server.queue_len(&jid(retrying)), Some(0));
        // The sender resends under the same id before the ack sent with the retry receipt
        // is read.
        let resend = Node::new("message")
            .attr("id", "M1")
            .jid_attr("to", jid(retrying))
            .attr("type", "text")
            .attr("device_fanout", "false")
            .children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .attr("count", "1")
                    .bytes(b"ct-M1-resent".to_vec()),
            ]);
        f.submit(A2, &resend);
        assert_eq!(f.server.queue_len(&jid(retrying)), Some(1));
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", "M1")
            .jid_attr("to", jid(A2));
        over_conn(&mut f, retrying, &ack);
        assert_eq!(
            f.server.queue_len(&jid(retrying)),
            Some(1),
            "the first delivery's ack must not take the resend"
        );
        // The resend's own ack takes it off.
        over_conn(&mut f, retrying, &ack);
        assert_eq!(f.server.queue_len(&jid(retrying)), Some(0));
    }
}
