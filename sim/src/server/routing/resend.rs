//! Retry resends (`messaging.md` §6.6): `<message id to=device device_fanout="false">` with
//! one `<enc count=n>` (whatsmeow, Tether), or its `<enc>` inside the one `<to>` of a
//! `<participants>` that names the same device (Baileys 6.17.16). The resend goes to that one
//! device only, once per (device, count); it keeps the message's original `t` when it names
//! it. A group's resend (`to` the group, the device as `participant`) shares
//! [`FakeServer::accept_resend`].

use tether_core::binary::{Jid, Node};

use super::acceptance::{Nack, nack, refuse};
use super::enc::{is_pkmsg, single_enc};
use crate::server::FakeServer;
use crate::server::accounts::{DeviceAddr, Endpoint, jid_attr};

impl FakeServer {
    pub(super) fn route_retry(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        id: &str,
        to: &Jid,
        node: &Node,
    ) -> Result<(), Nack> {
        let Some((target, ns)) = self.accounts.resolve(to) else {
            // The device is gone (or never was): a stale retry, not a protocol violation.
            return Err(refuse(479));
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
    pub(crate) fn accept_resend(
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
}

/// A retry resend the server accepted (see [`FakeServer::accept_resend`]).
pub(crate) struct Resend {
    /// The time the copy shows: the original's when the resend names it.
    pub(crate) shown_t: u64,
    /// Its `<enc>`.
    pub(crate) enc: Node,
    /// The sender's `<device-identity>`, with a pkmsg.
    pub(crate) identity: Option<Node>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use tether_core::binary::Node;

    use crate::server::fixture::{A2, Fixture, ack_of, jid, summary};
    use crate::server::routing::enc_bytes;

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
}
