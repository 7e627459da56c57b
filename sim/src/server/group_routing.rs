//! Routing group messages (`messaging.md` §7): one `skmsg` for every member device, with the
//! pairwise part (a sender-key distribution, `pkmsg`/`msg`) addressed to it; group retry
//! resends; group receipts. The server never decrypts.
//!
//! ```text
//!  <message id to=group [phash] [addressing_mode]>[<participants><to jid><enc/>…]<enc skmsg/>
//!     no such group ─▶ ack error=404 · sender not a member ─▶ ack error=403
//!     malformed (no or two skmsg, a <to> in the other namespace…) ─▶ 479/400 + complaint
//!     otherwise ─▶ <ack class=message id from=group t phash=<server's>> (the hash of every
//!        member device, the sender's included: a client whose hash differs refreshes), then
//!        for every member device but the sender:
//!        <message from=group participant=<sender device> id t type notify addressing_mode
//!         participant_pn|participant_lid>[<enc its pairwise part/>]<enc skmsg/>
//!        [<device-identity/> with a pkmsg]
//!     a <to> naming a device that is no member's (removed, unlinked): not delivered
//!  <message id to=group participant=<requester device>><enc count=n/> (a retry resend)
//!     ─▶ that device alone, if the original was queued for it (whatever the membership
//!        now) or both are members; dedup per (device, count)
//!  <receipt id to=group participant=<sender device> [type]>
//!     ─▶ <receipt from=group participant=<reader device> id t [type]> to the sender device
//!        (read/played: to every device of the sender's account but the reader)
//! ```

use std::collections::{BTreeMap, BTreeSet};

use tether_core::binary::{Jid, Node};

use super::FakeServer;
use super::accounts::{DeviceAddr, Endpoint, Namespace, jid_attr, namespace_of};
use super::queues::{AckKey, Queued, StanzaClass};
use super::routing::{
    Nack, delivered_head, delivered_tail, enc_bytes, is_pkmsg, nack, refuse, single_enc,
};

/// The `skmsg` of a group stanza (exactly one, `v="2"`, with ciphertext).
fn the_skmsg(node: &Node) -> Result<&Node, Nack> {
    let skmsgs: Vec<&Node> = node
        .child_nodes()
        .iter()
        .filter(|c| c.tag == "enc")
        .collect();
    let [enc] = skmsgs.as_slice() else {
        return Err(nack(
            479,
            format!(
                "a group message with {} top-level <enc>s, not one",
                skmsgs.len()
            ),
        ));
    };
    if enc.attr_str("type") != Some("skmsg") || enc.attr_str("v") != Some("2") {
        return Err(nack(479, "a group message whose <enc> is not a v2 skmsg"));
    }
    if enc_bytes(enc).is_empty() {
        return Err(nack(479, "an skmsg without ciphertext"));
    }
    Ok(enc)
}

impl FakeServer {
    /// A group's addressing namespace and its member devices (the sender's included), after
    /// checking that `sender` is a member.
    fn group_for_sender(
        &self,
        sender: &DeviceAddr,
        group: &Jid,
    ) -> Result<(Namespace, Vec<DeviceAddr>), Nack> {
        let g = self
            .groups
            .groups
            .get(group.user_str())
            .ok_or_else(|| refuse(404))?;
        if !g.members.contains_key(&sender.user) {
            return Err(refuse(403));
        }
        Ok((g.mode, self.member_devices(g.members.keys())))
    }

    /// A `<message to=group>` from `sender`.
    pub(super) fn route_group(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        id: &str,
        group: &Jid,
        node: &Node,
    ) -> Result<(), Nack> {
        if jid_attr(node, "participant").is_some() {
            return self.route_group_retry(sender, endpoint, id, group, node);
        }
        let key = (sender.clone(), id.to_owned(), None);
        if self.repeat(&key, sender, endpoint) {
            return Ok(());
        }
        let (mode, members) = self.group_for_sender(sender, group)?;
        let skmsg = the_skmsg(node)?.clone();
        let member_set: BTreeSet<&DeviceAddr> = members.iter().collect();
        let mut pairwise: BTreeMap<DeviceAddr, Node> = BTreeMap::new();
        let mut any_pkmsg = false;
        if let Some(participants) = node.child("participants") {
            for child in participants.child_nodes().iter().filter(|c| c.tag == "to") {
                let jid =
                    jid_attr(child, "jid").ok_or_else(|| nack(479, "a <to> without a jid"))?;
                if namespace_of(&jid) != Some(mode) {
                    return Err(nack(
                        400,
                        format!("<to jid={jid}> is not in the group's namespace"),
                    ));
                }
                let enc = single_enc(child)?;
                any_pkmsg |= is_pkmsg(enc);
                let Some((account, _)) = self.accounts.find(&jid) else {
                    continue; // not an account the server carries: nobody to deliver to
                };
                let addr = DeviceAddr {
                    user: account.pn.clone(),
                    device: jid.device_id(),
                };
                if addr == *sender {
                    return Err(nack(479, "the sending device addressed itself"));
                }
                if pairwise.contains_key(&addr) {
                    return Err(nack(479, format!("{jid} addressed twice")));
                }
                // A device that is no member's (removed since the sender's metadata, or
                // unlinked): not delivered; the ack's phash tells the sender.
                if member_set.contains(&addr) {
                    pairwise.insert(addr, enc.clone());
                }
            }
        }
        if any_pkmsg && sender.device != 0 && node.child("device-identity").is_none() {
            return Err(nack(479, "a pkmsg without <device-identity>"));
        }
        let all: Vec<Jid> = members
            .iter()
            .filter_map(|d| self.accounts.jid(d, mode))
            .collect();
        let phash = tether_core::messaging::phash::participant_hash(&all);
        let targets: Vec<DeviceAddr> = members.into_iter().filter(|d| d != sender).collect();
        let t = self.accept(key, endpoint, group, Some(phash), targets.clone(), None);
        let identity = node.child("device-identity").cloned();
        for target in &targets {
            let own = pairwise.get(target);
            let mut encs = Vec::new();
            encs.extend(own.cloned());
            encs.push(skmsg.clone());
            let identity = identity.as_ref().filter(|_| own.is_some_and(is_pkmsg));
            let delivered = self.group_delivered(sender, mode, node, group, id, t, encs, identity);
            self.route_copy(sender, target, id, delivered);
        }
        Ok(())
    }

    /// `<message to=group participant=device>`: a retry resend to one member device.
    fn route_group_retry(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        id: &str,
        group: &Jid,
        node: &Node,
    ) -> Result<(), Nack> {
        let requester = jid_attr(node, "participant")
            .and_then(|j| self.accounts.resolve(&j))
            .map(|(addr, _)| addr)
            .ok_or_else(|| refuse(479))?;
        if requester == *sender {
            return Err(nack(479, "a retry resend to the sending device itself"));
        }
        // A resend of a message the server delivered to the requester goes to it whatever
        // happened to the membership since (it carries nothing the requester was not sent);
        // anything else only between members.
        let mode = if self.delivered_before(sender, id, &requester) {
            self.groups
                .groups
                .get(group.user_str())
                .ok_or_else(|| refuse(404))?
                .mode
        } else {
            let (mode, members) = self.group_for_sender(sender, group)?;
            if !members.contains(&requester) {
                return Err(refuse(403));
            }
            mode
        };
        let enc = single_enc(node)?;
        let Some(resend) =
            self.accept_resend(sender, endpoint, id, group, &requester, node, enc)?
        else {
            return Ok(());
        };
        let delivered = self.group_delivered(
            sender,
            mode,
            node,
            group,
            id,
            resend.shown_t,
            vec![resend.enc],
            resend.identity.as_ref(),
        );
        self.route_copy(sender, &requester, id, delivered);
        Ok(())
    }

    /// Whether `sender`'s message `id` (its fan-out, not a resend) was queued for `requester`.
    fn delivered_before(&self, sender: &DeviceAddr, id: &str, requester: &DeviceAddr) -> bool {
        self.accepted().iter().any(|a| {
            a.retry_count.is_none()
                && a.sender == *sender
                && a.id == id
                && a.recipients.contains(requester)
        })
    }

    /// The stanza a member device gets.
    #[allow(clippy::too_many_arguments)]
    fn group_delivered(
        &self,
        sender: &DeviceAddr,
        mode: Namespace,
        original: &Node,
        group: &Jid,
        id: &str,
        t: u64,
        encs: Vec<Node>,
        identity: Option<&Node>,
    ) -> Node {
        let Some(account) = self.accounts.get(&sender.user) else {
            return Node::new("message");
        };
        let head = Node::new("message")
            .jid_attr("from", group.clone())
            .jid_attr("participant", account.device_jid(sender.device, mode));
        let mut node = delivered_head(head, account, original, id, t)
            .attr("addressing_mode", if mode.is_lid() { "lid" } else { "pn" });
        node = if mode.is_lid() {
            node.jid_attr("participant_pn", account.user_jid(Namespace::Pn))
        } else {
            node.jid_attr("participant_lid", account.user_jid(Namespace::Lid))
        };
        delivered_tail(node, original, encs, identity)
    }

    /// A `<receipt to=group participant=…>` from `reader` (its ack was sent): the message it
    /// names leaves the reader's queue, and the receipt goes to the sender.
    pub(super) fn on_group_receipt(
        &mut self,
        reader: &DeviceAddr,
        endpoint: Endpoint,
        group: &Jid,
        node: &Node,
        id: &str,
        receipt_type: Option<&str>,
        user_level: bool,
    ) {
        let named = jid_attr(node, "participant")
            .and_then(|p| self.accounts.resolve(&p))
            .map(|(addr, _)| addr);
        let mut ids = vec![id.to_owned()];
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
                from: named.as_ref(),
                receipt_type: None,
            };
            if self.acknowledge(reader, &key) {
                self.note_retry_ack(reader, endpoint, receipt_type, message);
            }
        }
        let Some(named) = named else {
            return; // a device that is gone
        };
        let Some(mode) = self.groups.groups.get(group.user_str()).map(|g| g.mode) else {
            return;
        };
        let targets: Vec<DeviceAddr> = if user_level {
            self.accounts
                .get(&named.user)
                .map(|a| {
                    a.devices
                        .keys()
                        .map(|d| DeviceAddr {
                            user: named.user.clone(),
                            device: *d,
                        })
                        .filter(|d| d != reader)
                        .collect()
                })
                .unwrap_or_default()
        } else if named == *reader {
            self.complain(Some(reader), format!("receipt {id} addressed to itself"));
            return;
        } else {
            vec![named]
        };
        let Some(from) = self.accounts.jid(reader, mode) else {
            return;
        };
        let t = node
            .attr_str("t")
            .map(str::to_owned)
            .unwrap_or_else(|| self.unix_at(self.now).to_string());
        let mut delivered = Node::new("receipt")
            .jid_attr("from", group.clone())
            .jid_attr("participant", from)
            .attr("id", id.to_owned())
            .attr("t", t);
        if let Some(kind) = receipt_type {
            delivered = delivered.attr("type", kind.to_owned());
        }
        delivered.content = node.content.clone();
        for target in targets {
            let entry = Queued {
                class: StanzaClass::Receipt,
                id: id.to_owned(),
                from: Some(reader.clone()),
                receipt_type: receipt_type.map(str::to_owned),
                node: delivered.clone(),
                queued_at: self.now,
            };
            self.enqueue(&target, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;
    use crate::server::fixture::{A2, Fixture, ack_of, jid};

    fn enc(kind: &str, body: &str) -> Node {
        Node::new("enc")
            .attr("v", "2")
            .attr("type", kind.to_owned())
            .bytes(body.as_bytes().to_vec())
    }

    fn group_message(id: &str, group: &Jid, pairwise: &[(&str, &str)]) -> Node {
        let to = pairwise
            .iter()
            .map(|(device, kind)| {
                Node::new("to")
                    .jid_attr("jid", jid(device))
                    .children(vec![enc(kind, &format!("skdm-{device}"))])
            })
            .collect();
        let mut children = vec![Node::new("participants").children(to)];
        children.push(enc("skmsg", &format!("sk-{id}")));
        children.push(Node::new("device-identity").bytes(vec![1]));
        Node::new("message")
            .attr("id", id.to_owned())
            .jid_attr("to", group.clone())
            .attr("type", "text")
            .attr("phash", "2:whatever")
            .children(children)
    }

    fn encs(node: &Node) -> Vec<(String, Bytes)> {
        node.child_nodes()
            .iter()
            .filter(|c| c.tag == "enc")
            .map(|c| (c.attr_str("type").unwrap().to_owned(), enc_bytes(c)))
            .collect()
    }

    #[test]
    fn a_group_message_reaches_every_member_device_with_its_own_pairwise_part() {
        let mut f = Fixture::new();
        for device in [
            "100002@lid",
            "100002:3@lid",
            "100002:4@lid",
            "100001@lid",
            A2,
        ] {
            f.connect(device);
        }
        let group = f
            .server
            .create_group(&jid(A2), "Team", &[jid("100002@lid")], Namespace::Lid)
            .unwrap();
        for device in [
            "100002@lid",
            "100002:3@lid",
            "100002:4@lid",
            "100001@lid",
            A2,
        ] {
            f.take(device);
        }
        // B4 already holds the key: no pairwise part for it.
        let out = f.submit(
            A2,
            &group_message(
                "G1",
                &group,
                &[
                    ("100002@lid", "pkmsg"),
                    ("100002:3@lid", "msg"),
                    ("100001@lid", "msg"),
                ],
            ),
        );
        let ack = ack_of(&out, "G1").unwrap();
        assert!(ack.attr_str("error").is_none(), "{ack}");
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
        let b3 = f.take("100002:3@lid");
        assert_eq!(b3.len(), 1);
        let m = &b3[0];
        assert_eq!(jid_attr(m, "from"), Some(group.clone()));
        assert_eq!(jid_attr(m, "participant"), Some(jid(A2)));
        assert_eq!(m.attr_str("addressing_mode"), Some("lid"));
        assert_eq!(
            jid_attr(m, "participant_pn"),
            Some(jid("15550001@s.whatsapp.net"))
        );
        assert_eq!(
            encs(m),
            vec![
                ("msg".to_owned(), Bytes::from("skdm-100002:3@lid")),
                ("skmsg".to_owned(), Bytes::from("sk-G1"))
            ]
        );
        assert!(m.child("device-identity").is_none());
        let b0 = f.take("100002@lid");
        assert!(
            b0[0].child("device-identity").is_some(),
            "pkmsg copies carry it"
        );
        let b4 = f.take("100002:4@lid");
        assert_eq!(
            encs(&b4[0]),
            vec![("skmsg".to_owned(), Bytes::from("sk-G1"))]
        );
        assert_eq!(f.take("100001@lid").len(), 1, "the sender's own phone");
        assert_eq!(f.server.accepted()[0].recipients.len(), 4);
        assert!(
            f.server.complaints().is_empty(),
            "{:?}",
            f.server.complaints()
        );

        // B3's delivery receipt reaches A2 from the group, B3 as participant.
        let receipt = Node::new("receipt")
            .attr("id", "G1")
            .jid_attr("to", group.clone())
            .jid_attr("participant", jid(A2));
        f.submit("100002:3@lid", &receipt);
        assert_eq!(
            f.server.queue_len(&jid("100002:3@lid")),
            Some(1),
            "the w:gp2 add"
        );
        let a2 = f.take(A2);
        let r = a2.iter().find(|n| n.tag == "receipt").unwrap();
        assert_eq!(jid_attr(r, "from"), Some(group.clone()));
        assert_eq!(jid_attr(r, "participant"), Some(jid("100002:3@lid")));

        // A retry resend reaches only the requester.
        let resend = Node::new("message")
            .attr("id", "G1")
            .jid_attr("to", group.clone())
            .jid_attr("participant", jid("100002:4@lid"))
            .attr("type", "text")
            .children(vec![enc("msg", "resend").attr("count", "1")]);
        let out = f.submit(A2, &resend);
        assert!(ack_of(&out, "G1").unwrap().attr_str("error").is_none());
        let b4 = f.take("100002:4@lid");
        assert_eq!(
            encs(&b4[0]),
            vec![("msg".to_owned(), Bytes::from("resend"))]
        );
        assert!(f.take("100002:3@lid").is_empty());

        // B removed: the next message goes to A's phone only, and B may not send.
        f.server
            .remove_group_members(&group, &jid(A2), &[jid("100002@lid")])
            .unwrap();
        for device in ["100002@lid", "100002:3@lid", "100002:4@lid", "100001@lid"] {
            f.take(device);
        }
        let out = f.submit(A2, &group_message("G2", &group, &[("100002:3@lid", "msg")]));
        assert!(ack_of(&out, "G2").unwrap().attr_str("error").is_none());
        assert!(f.take("100002:3@lid").is_empty());
        assert_eq!(f.take("100001@lid").len(), 1);
        let out = f.submit("100002:3@lid", &group_message("G3", &group, &[]));
        assert_eq!(ack_of(&out, "G3").unwrap().attr_str("error"), Some("403"));
        assert!(
            f.server.complaints().is_empty(),
            "{:?}",
            f.server.complaints()
        );
    }

    /// Group sweep seed 548: a member device away while it was removed asks, once back, for a
    /// retry of a message sent to it before the removal; the resend must reach it (the
    /// original did), while a resend of a message sent after the removal is refused.
    #[test]
    fn a_resend_of_a_message_sent_before_a_removal_still_reaches_the_removed_device() {
        let mut f = Fixture::new();
        for device in ["100002@lid", "100001@lid", A2] {
            f.connect(device);
        }
        let group = f
            .server
            .create_group(&jid(A2), "Team", &[jid("100002@lid")], Namespace::Lid)
            .unwrap();
        let out = f.submit(A2, &group_message("G1", &group, &[("100002@lid", "pkmsg")]));
        assert!(ack_of(&out, "G1").unwrap().attr_str("error").is_none());
        f.server
            .remove_group_members(&group, &jid(A2), &[jid("100002@lid")])
            .unwrap();
        let out = f.submit(A2, &group_message("G2", &group, &[]));
        assert!(ack_of(&out, "G2").unwrap().attr_str("error").is_none());
        for device in ["100002@lid", "100001@lid"] {
            f.take(device);
        }
        let resend = |id: &str| {
            Node::new("message")
                .attr("id", id.to_owned())
                .jid_attr("to", group.clone())
                .jid_attr("participant", jid("100002@lid"))
                .attr("type", "text")
                .children(vec![enc("msg", "resend").attr("count", "1")])
        };
        let out = f.submit(A2, &resend("G1"));
        assert!(ack_of(&out, "G1").unwrap().attr_str("error").is_none());
        let b0 = f.take("100002@lid");
        assert_eq!(
            encs(&b0[0]),
            vec![("msg".to_owned(), Bytes::from("resend"))]
        );
        let out = f.submit(A2, &resend("G2"));
        assert_eq!(ack_of(&out, "G2").unwrap().attr_str("error"), Some("403"));
        assert!(f.take("100002@lid").is_empty());
        assert!(
            f.server.complaints().is_empty(),
            "{:?}",
            f.server.complaints()
        );
    }

    #[test]
    fn malformed_group_messages_are_nacked_with_a_complaint() {
        let mut f = Fixture::new();
        let group = f
            .server
            .create_group(&jid(A2), "Team", &[jid("100002@lid")], Namespace::Lid)
            .unwrap();
        let no_skmsg = Node::new("message")
            .attr("id", "X1")
            .jid_attr("to", group.clone())
            .children(vec![Node::new("participants")]);
        let other_ns = group_message("X2", &group, &[("15550002:3@s.whatsapp.net", "msg")]);
        for (stanza, code) in [(no_skmsg, "479"), (other_ns, "400")] {
            let id = stanza.attr_str("id").unwrap().to_owned();
            let out = f.submit(A2, &stanza);
            assert_eq!(ack_of(&out, &id).unwrap().attr_str("error"), Some(code));
        }
        assert_eq!(f.server.complaints().len(), 2);
        let out = f.submit(A2, &group_message("X3", &jid("1203639@g.us"), &[]));
        assert_eq!(ack_of(&out, "X3").unwrap().attr_str("error"), Some("404"));
    }
}
