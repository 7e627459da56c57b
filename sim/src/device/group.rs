//! Groups for a [`SimDevice`] (`messaging.md` §7): creating and changing groups through the
//! server's `w:g2` iqs, sending with a sender key, receiving `skmsg`s, and the retry path.
//!
//! ```text
//!  create_group / change_group ─▶ <iq xmlns=w:g2 type=set> ─▶ GroupCreated | GroupUpdated
//!  send_group_message ─▶ <iq w:g2 get><query/> (members, addressing mode)
//!     ─▶ usync (every member user + its own) ─▶ devices lacking its current sender key
//!     ─▶ bundles where no session ─▶ pairwise SKDM to each (pkmsg/msg) + one skmsg
//!     ─▶ <message to=group phash [addressing_mode=lid]> ─▶ <ack> : Sent | SendFailed
//!  <notification w:gp2> a member removed or left ─▶ its sender key is dropped: the next send
//!     makes a new one and hands it to everyone still there (a removed member never decrypts
//!     what is sent afterwards)
//!  <message from=group participant=sender> ─▶ pairwise part first (an SKDM is taken in),
//!     then the skmsg ─▶ Received(chat=group) + <receipt to=group participant=sender>;
//!     no sender key ─▶ <receipt type=retry to=group participant=sender>
//!  <receipt type=retry from=group participant=requester> ─▶ the message again, pairwise,
//!     with the sender key inside: <message to=group participant=requester><enc count/>
//! ```

use std::collections::BTreeSet;

use bytes::Bytes;
use prost::Message as _;
use tether_core::binary::{Content, Jid, Node, Server};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::padding;
use tether_core::proto::message::{Message, SenderKeyDistributionMessage as Skdm};
use tether_signal::{SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord};

use super::send::jid_attr;
use super::{DeviceEvent, Kept, Peer, Pending, SimDevice};

/// A group message on its way out.
#[derive(Clone, Debug)]
pub(crate) struct GroupJob {
    group: Jid,
    message: Vec<u8>,
    /// `lid` or `pn`, once the metadata answered.
    lid_mode: bool,
    /// Every member device but this one, once the usync answered.
    devices: Vec<Jid>,
}

/// The sender-key side of a device: its own keys per group, who holds them, and the keys
/// other members distributed.
#[derive(Debug, Default)]
pub(crate) struct GroupKeys {
    own: std::collections::BTreeMap<String, SenderKeyRecord>,
    holders: std::collections::BTreeMap<String, BTreeSet<Peer>>,
    theirs: std::collections::BTreeMap<(String, Peer), SenderKeyRecord>,
    pub(crate) jobs: std::collections::BTreeMap<String, GroupJob>,
}

fn group_key(group: &Jid) -> String {
    group.to_non_ad().to_string()
}

fn is_group(jid: &Jid) -> bool {
    *jid.server() == Server::Group
}

impl SimDevice {
    fn group_iq(&mut self, to: Jid, kind: &str, child: Node, pending: Pending) -> String {
        let iq_id = self.next_iq_id();
        self.pending.insert(iq_id.clone(), pending);
        self.outbox.push_back(
            Node::new("iq")
                .attr("id", iq_id.clone())
                .attr("xmlns", "w:g2")
                .attr("type", kind.to_owned())
                .jid_attr("to", to)
                .children(vec![child]),
        );
        iq_id
    }

    /// Creates a group with `members` (user JIDs; LID ones make a LID-addressed group):
    /// [`DeviceEvent::GroupCreated`] follows.
    pub fn create_group(&mut self, subject: &str, members: &[Jid]) {
        let participants = members
            .iter()
            .map(|m| Node::new("participant").jid_attr("jid", m.to_non_ad()))
            .collect();
        let key = format!("k{}", self.counter);
        let create = Node::new("create")
            .attr("subject", subject.to_owned())
            .attr("key", key)
            .children(participants);
        self.group_iq(
            Jid::server_jid(Server::Group),
            "set",
            create,
            Pending::GroupChange,
        );
    }

    /// Changes `group`'s membership: `change` is `add`, `remove`, `promote` or `demote`;
    /// [`DeviceEvent::GroupUpdated`] follows.
    pub fn change_group(&mut self, group: &Jid, change: &str, members: &[Jid]) {
        let participants = members
            .iter()
            .map(|m| Node::new("participant").jid_attr("jid", m.to_non_ad()))
            .collect();
        let node = Node::new(change.to_owned()).children(participants);
        self.group_iq(group.to_non_ad(), "set", node, Pending::GroupChange);
    }

    /// Sends `message` to `group`: returns the id at once; [`DeviceEvent::Sent`] or
    /// [`DeviceEvent::SendFailed`] follows.
    pub fn send_group_message(&mut self, group: &Jid, message: &Message, unix: u64) -> String {
        let mut random = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut self.rng, &mut random);
        let id = MessageId::generate(unix, &self.config.phone_number, &random).0;
        let group = group.to_non_ad();
        self.groups.jobs.insert(
            id.clone(),
            GroupJob {
                group: group.clone(),
                message: message.encode_to_vec(),
                lid_mode: true,
                devices: Vec::new(),
            },
        );
        let query = Node::new("query").attr("request", "interactive");
        self.group_iq(group, "get", query, Pending::GroupMeta(id.clone()));
        id
    }

    /// Fault: forgets every sender key other members distributed to it (their next `skmsg`
    /// needs a retry receipt, answered with the key re-attached).
    pub fn forget_group_keys(&mut self) {
        self.groups.theirs.clear();
    }

    /// Whether this device could read `skmsg` (sent to `group` by `sender`) with the sender
    /// keys it holds now — without changing them. The simulator's check that a removed member
    /// never decrypts what is sent after the removal.
    pub fn can_decrypt_group(&self, group: &Jid, sender: &Jid, skmsg: &[u8]) -> bool {
        let Ok(message) = SenderKeyMessage::parse(skmsg) else {
            return false;
        };
        let key = (group_key(group), self.peer(sender));
        self.groups
            .theirs
            .get(&key)
            .is_some_and(|record| record.clone().decrypt(&message).is_ok())
    }

    /// The answer to a group iq.
    pub(super) fn on_group_answer(&mut self, pending: Pending, node: &Node) {
        let ok = node.attr_str("type") == Some("result");
        match pending {
            Pending::GroupChange => {
                let from = jid_attr(node, "from");
                if let Some(group) = node.child("group").and_then(|g| g.attr_str("id")) {
                    let group = Jid::user(group, Server::Group);
                    self.events.push_back(DeviceEvent::GroupCreated { group });
                } else if let Some(group) = from.filter(is_group) {
                    self.events
                        .push_back(DeviceEvent::GroupUpdated { group, ok });
                } else if !ok {
                    tracing::debug!(answer = %node, "a group change was refused");
                }
            }
            Pending::GroupMeta(id) => self.on_group_meta(&id, node, ok),
            Pending::GroupUsync(id) => self.on_group_usync(&id, node, ok),
            Pending::GroupBundles(id) => {
                self.install_bundles(node);
                self.encrypt_group_and_send(&id);
            }
            _ => {}
        }
    }

    fn group_fail(&mut self, id: &str, reason: &str) {
        self.groups.jobs.remove(id);
        self.events.push_back(DeviceEvent::SendFailed {
            id: id.to_owned(),
            reason: reason.to_owned(),
        });
    }

    fn on_group_meta(&mut self, id: &str, node: &Node, ok: bool) {
        let Some(group) = node.child("group").filter(|_| ok) else {
            return self.group_fail(id, "the group query was refused (not a member?)");
        };
        let lid_mode = group.attr_str("addressing_mode") == Some("lid");
        let mut users = Vec::new();
        for p in group
            .child_nodes()
            .iter()
            .filter(|p| p.tag == "participant")
        {
            let Some(jid) = jid_attr(p, "jid") else {
                continue;
            };
            for (alt_key, pn_first) in [("phone_number", false), ("lid", true)] {
                if let Some(alt) = jid_attr(p, alt_key) {
                    if pn_first {
                        self.learn_lid(jid.user_str(), alt.user_str());
                    } else {
                        self.learn_lid(alt.user_str(), jid.user_str());
                    }
                }
            }
            if !self.own_user(&jid) {
                users.push(jid.to_non_ad());
            }
        }
        let own = if lid_mode {
            Jid::user(&self.config.lid_user, Server::Lid)
        } else {
            Jid::user(&self.config.phone_number, Server::WhatsApp)
        };
        users.push(own);
        if let Some(job) = self.groups.jobs.get_mut(id) {
            job.lid_mode = lid_mode;
        }
        let usync = self.usync_iq(&users, Pending::GroupUsync(id.to_owned()));
        self.outbox.push_back(usync);
    }

    fn on_group_usync(&mut self, id: &str, node: &Node, ok: bool) {
        if !ok {
            return self.group_fail(id, "the device query was refused");
        }
        let Some(job) = self.groups.jobs.get(id).cloned() else {
            return;
        };
        let mut devices = Vec::new();
        let users = node
            .child("usync")
            .and_then(|u| u.child("list"))
            .map(|l| l.child_nodes().to_vec())
            .unwrap_or_default();
        for user in &users {
            let Some(jid) = jid_attr(user, "jid") else {
                continue;
            };
            let list = user
                .child("devices")
                .and_then(|d| d.child("device-list"))
                .map(|l| l.child_nodes().to_vec())
                .unwrap_or_default();
            for device in &list {
                let Some(n) = device.attr_str("id").and_then(|d| d.parse::<u16>().ok()) else {
                    continue;
                };
                let device_jid = Jid::device(jid.user_str(), n, jid.server().clone());
                if !(self.own_user(&device_jid) && n == self.config.device) {
                    devices.push(device_jid);
                }
            }
        }
        let holders = self
            .groups
            .holders
            .get(&group_key(&job.group))
            .cloned()
            .unwrap_or_default();
        let missing: Vec<Jid> = devices
            .iter()
            .filter(|d| !holders.contains(&self.peer(d)))
            .filter(|d| {
                self.sessions
                    .get(&self.peer(d))
                    .is_none_or(|r| !r.has_open_session())
            })
            .cloned()
            .collect();
        if let Some(job) = self.groups.jobs.get_mut(id) {
            job.devices = devices;
        }
        if missing.is_empty() {
            return self.encrypt_group_and_send(id);
        }
        self.fetch_bundles(&missing, Pending::GroupBundles(id.to_owned()));
    }

    /// The SKDM `Message` for `group` with this device's current key, if it has one.
    fn skdm_message(&self, group: &Jid, inner: Message) -> Message {
        let distribution = self
            .groups
            .own
            .get(&group_key(group))
            .and_then(SenderKeyRecord::distribution_message);
        let mut message = inner;
        if let Some(d) = distribution {
            message.sender_key_distribution_message = Some(Skdm {
                group_id: Some(group.to_string()),
                axolotl_sender_key_distribution_message: Some(Bytes::copy_from_slice(d.as_bytes())),
            });
        }
        message
    }

    fn encrypt_group_and_send(&mut self, id: &str) {
        let Some(job) = self.groups.jobs.get(id).cloned() else {
            return;
        };
        let key = group_key(&job.group);
        if !self.groups.own.contains_key(&key) {
            let record = SenderKeyRecord::generate(&mut self.rng);
            self.groups.own.insert(key.clone(), record);
            self.groups.holders.remove(&key);
        }
        let skdm = self
            .skdm_message(&job.group, Message::default())
            .encode_to_vec();
        let holders = self.groups.holders.get(&key).cloned().unwrap_or_default();
        let mut participants = Vec::new();
        let mut any_pkmsg = false;
        let mut now_holding = holders.clone();
        for device in &job.devices {
            let peer = self.peer(device);
            if holders.contains(&peer) {
                continue;
            }
            let Some(enc) = self.encrypt_for(device, &skdm) else {
                continue; // no session: it asks with a retry receipt
            };
            any_pkmsg |= enc.attr_str("type") == Some("pkmsg");
            now_holding.insert(peer);
            participants.push(
                Node::new("to")
                    .jid_attr("jid", device.clone())
                    .children(vec![enc]),
            );
        }
        let random = self.random_byte();
        let padded = padding::pad(job.message.clone(), random);
        let Some(record) = self.groups.own.get_mut(&key) else {
            return self.group_fail(id, "no sender key");
        };
        let skmsg = match record.encrypt(&padded, &mut self.rng) {
            Ok(bytes) => bytes,
            Err(error) => return self.group_fail(id, &error.to_string()),
        };
        self.groups.holders.insert(key, now_holding);
        let own = if job.lid_mode {
            self.jid()
        } else {
            self.pn_jid()
        };
        let mut all = job.devices.clone();
        all.push(own);
        let phash = tether_core::messaging::phash::participant_hash(&all);
        let mut children = Vec::new();
        if !participants.is_empty() {
            children.push(Node::new("participants").children(participants));
        }
        children.push(
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "skmsg")
                .bytes(skmsg),
        );
        if any_pkmsg && let Some(adv) = &self.adv_identity {
            children.push(Node::new("device-identity").bytes(adv.clone()));
        }
        let mut stanza = Node::new("message")
            .attr("id", id.to_owned())
            .jid_attr("to", job.group.clone())
            .attr("type", "text")
            .attr("phash", phash);
        if job.lid_mode {
            stanza = stanza.attr("addressing_mode", "lid");
        }
        self.kept.insert(
            id.to_owned(),
            Kept {
                chat: job.group.clone(),
                message: job.message.clone(),
                t: None,
            },
        );
        self.outbox.push_back(stanza.children(children));
    }

    /// A `w:gp2` notification (acked by the caller): a member removed or leaving drops this
    /// device's sender key for the group.
    pub(super) fn on_group_notification(&mut self, node: &Node) {
        let Some(group) = jid_attr(node, "from").filter(is_group) else {
            return;
        };
        for child in node.child_nodes() {
            if matches!(&*child.tag, "remove" | "leave") {
                let key = group_key(&group);
                self.groups.own.remove(&key);
                self.groups.holders.remove(&key);
            }
            self.events.push_back(DeviceEvent::GroupChanged {
                group: group.clone(),
                change: child.tag.to_string(),
            });
        }
    }

    /// A `<message from=group participant=…>`.
    pub(super) fn on_group_message(&mut self, node: &Node, unix: u64) {
        let (Some(id), Some(group), Some(sender)) = (
            node.attr_str("id").map(str::to_owned),
            jid_attr(node, "from"),
            jid_attr(node, "participant"),
        ) else {
            return;
        };
        for (key, lid_side) in [("participant_pn", false), ("participant_lid", true)] {
            if let Some(alt) = jid_attr(node, key) {
                if lid_side {
                    self.learn_lid(sender.user_str(), alt.user_str());
                } else {
                    self.learn_lid(alt.user_str(), sender.user_str());
                }
            }
        }
        let peer = self.peer(&sender);
        let dedup = (peer.clone(), id.clone());
        if let Some(receipt) = self.processed.get(&dedup).cloned() {
            self.outbox.push_back(receipt);
            return;
        }
        if self.given_up.contains(&dedup) {
            self.outbox.push_back(group_ack(&id, &group, &sender));
            return;
        }
        let t = node
            .attr_str("t")
            .and_then(|t| t.parse().ok())
            .unwrap_or(unix);
        let mut encs: Vec<&Node> = node
            .child_nodes()
            .iter()
            .filter(|c| c.tag == "enc")
            .collect();
        encs.sort_by_key(|e| e.attr_str("type") == Some("skmsg"));
        let mut content: Option<Message> = None;
        let mut failure: Option<String> = None;
        for enc in encs {
            let plain = if self.fail_next > 0 {
                self.fail_next -= 1;
                Err("a decryption failure (injected)".to_owned())
            } else if enc.attr_str("type") == Some("skmsg") {
                self.decrypt_skmsg(&group, &peer, enc)
            } else {
                self.decrypt(&peer, enc).map(|d| d.plaintext)
            };
            let message = match plain {
                Ok(plain) => padding::unpad(&plain)
                    .ok()
                    .and_then(|body| Message::decode(body).ok()),
                Err(reason) => {
                    failure = Some(reason);
                    continue;
                }
            };
            let Some(mut message) = message else {
                continue;
            };
            if let Some(skdm) = message.sender_key_distribution_message.take()
                && skdm.group_id.as_deref() == Some(group.to_string().as_str())
                && let Some(bytes) = &skdm.axolotl_sender_key_distribution_message
                && let Ok(distribution) = SenderKeyDistributionMessage::parse(bytes)
            {
                self.groups
                    .theirs
                    .entry((group_key(&group), peer.clone()))
                    .or_default()
                    .process_distribution(&distribution);
            }
            if content.is_none() && message != Message::default() {
                content = Some(message);
            }
        }
        match (content, failure) {
            (Some(message), _) => {
                let from_me = self.own_user(&sender);
                let mut receipt = Node::new("receipt")
                    .attr("id", id.clone())
                    .jid_attr("to", group.clone())
                    .jid_attr("participant", sender.clone());
                if from_me {
                    receipt = receipt.attr("type", "sender");
                }
                self.events
                    .push_back(DeviceEvent::Received(super::Received {
                        id: id.clone(),
                        chat: group.to_non_ad(),
                        sender: sender.clone(),
                        from_me,
                        text: message.text_content().map(str::to_owned),
                        media: tether_core::media::MediaRef::of(&message).map(Box::new),
                        content: message.encode_to_vec().into(),
                        t,
                        offline: node.attr_str("offline").is_some(),
                    }));
                self.retries.remove(&dedup);
                self.processed.insert(dedup, receipt.clone());
                self.outbox.push_back(receipt);
            }
            (None, Some(reason)) => self.on_failure(node, &id, &group, peer, &reason, unix),
            // Only a sender key: processed.
            (None, None) => self.outbox.push_back(group_ack(&id, &group, &sender)),
        }
    }

    fn decrypt_skmsg(&mut self, group: &Jid, peer: &Peer, enc: &Node) -> Result<Vec<u8>, String> {
        let Content::Bytes(bytes) = &enc.content else {
            return Err("an skmsg without ciphertext".to_owned());
        };
        let message = SenderKeyMessage::parse(bytes).map_err(|e| e.to_string())?;
        let record = self
            .groups
            .theirs
            .get_mut(&(group_key(group), peer.clone()))
            .ok_or_else(|| "no sender key for this member".to_owned())?;
        record.decrypt(&message).map_err(|e| e.to_string())
    }

    /// The resend of kept group message `id` to `requester`: pairwise, the sender key inside.
    pub(super) fn group_resend(&mut self, id: &str, group: &Jid, requester: &Jid, count: u32) {
        let Some(kept) = self.kept.get(id).cloned() else {
            return;
        };
        let inner = Message::decode(kept.message.as_slice()).unwrap_or_default();
        let body = self.skdm_message(group, inner).encode_to_vec();
        let Some(enc) = self.encrypt_for(requester, &body) else {
            return self.events.push_back(DeviceEvent::RetryRefused {
                id: id.to_owned(),
                from: requester.clone(),
                reason: "no session to resend on".to_owned(),
            });
        };
        if let Some(peer) = Some(self.peer(requester)) {
            self.groups
                .holders
                .entry(group_key(group))
                .or_default()
                .insert(peer);
        }
        let pkmsg = enc.attr_str("type") == Some("pkmsg");
        let mut children = vec![enc.attr("count", count.to_string())];
        if pkmsg && let Some(adv) = &self.adv_identity {
            children.push(Node::new("device-identity").bytes(adv.clone()));
        }
        let mut stanza = Node::new("message")
            .attr("id", id.to_owned())
            .jid_attr("to", group.clone())
            .jid_attr("participant", requester.clone())
            .attr("type", "text");
        if let Some(t) = kept.t {
            stanza = stanza.attr("t", t.to_string());
        }
        self.outbox.push_back(stanza.children(children));
        self.events.push_back(DeviceEvent::Resent {
            id: id.to_owned(),
            to: requester.clone(),
            count,
        });
    }
}

/// `<ack class="message" id to=group participant=sender/>`.
fn group_ack(id: &str, group: &Jid, sender: &Jid) -> Node {
    Node::new("ack")
        .attr("class", "message")
        .attr("id", id.to_owned())
        .jid_attr("to", group.clone())
        .jid_attr("participant", sender.clone())
}
