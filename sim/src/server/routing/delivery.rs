//! Delivery (`messaging.md` §9.3): the stanza each addressed device gets — `from` the sending
//! device in the namespace the sender used, `id`, `t`, `type`, `notify`, the sender's other
//! JID (`sender_pn` / `sender_lid`), on the sender's own devices `recipient` (and its other
//! JID), the forwarded `edit` / `category`, that device's `<enc>` and, with a pkmsg, the
//! sender's `<device-identity>` — logged in [`FakeServer::routed`] and queued for the device
//! (delivered now when it is online, as its backlog otherwise).

use tether_core::binary::{Jid, Node};

use super::Routed;
use super::enc::enc_bytes;
use crate::server::FakeServer;
use crate::server::accounts::{Account, DeviceAddr, Namespace};
use crate::server::queues::{Queued, StanzaClass};

impl FakeServer {
    /// Logs every `<enc>` of `node` as routed from `sender` to `target` and queues it there.
    pub(crate) fn route_copy(
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
    pub(super) fn delivered_message(
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
}

/// What every delivered copy of a message carries after the attributes `head` set (`from`,
/// and in a group `participant`): `id`, `t`, `type`, `notify` (`messaging.md` §9.3).
pub(crate) fn delivered_head(
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
pub(crate) fn delivered_tail(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use tether_core::binary::Node;

    use crate::server::fixture::{A2, B_USER, Fixture, all_of_b_and_a0, jid, message, summary};
    use crate::server::routing::enc_bytes;

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
