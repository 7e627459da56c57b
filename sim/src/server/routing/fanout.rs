//! A message to a user (`messaging.md` §5.5, §6.1, §9.2): every `<to>` of its
//! `<participants>` must name a device of the recipient or of the sender (not the sending
//! device, none twice) with one valid `<enc>`; a pkmsg from a companion needs its
//! `<device-identity>`. Devices removed since the sender's usync are not delivered to, and the
//! ack's `phash` tells the sender its list is stale. Each remaining device gets its own copy.

use std::collections::BTreeSet;

use tether_core::binary::{Jid, Node};

use super::acceptance::{Nack, nack, refuse};
use super::enc::{is_pkmsg, single_enc};
use crate::server::FakeServer;
use crate::server::accounts::{DeviceAddr, Endpoint, Namespace, jid_attr, namespace_of};

/// A validated fan-out: each addressed device with its JID as written and its `<enc>`.
struct Fanout {
    ns: Namespace,
    recipient: String,
    targets: Vec<(DeviceAddr, Node)>,
    /// Every device the stanza named, removed ones included.
    addressed: BTreeSet<DeviceAddr>,
}

impl FakeServer {
    fn validate_fanout(&self, sender: &DeviceAddr, to: &Jid, node: &Node) -> Result<Fanout, Nack> {
        // Groups and other servers are not carried (yet).
        let ns = namespace_of(to).ok_or_else(|| refuse(400))?;
        if to.device_id() != 0 || to.has_explicit_device() {
            return Err(nack(
                400,
                "to names a device but device_fanout is not false",
            ));
        }
        let (recipient, _) = self.accounts.find(to).ok_or_else(|| refuse(400))?;
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
            if namespace_of(&jid) != Some(ns) {
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

    pub(super) fn route_fanout(
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use tether_core::binary::Node;

    use crate::server::accounts::jid_attr;
    use crate::server::fixture::{
        A2, B_USER, Fixture, ack_of, all_of_b_and_a0, jid, message, summary,
    };
    use crate::server::routing::enc_bytes;

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
}
