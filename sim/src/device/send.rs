//! Sending (`messaging.md` §5) and answering retry receipts (§6.6) for a [`SimDevice`].
//!
//! ```text
//!  send_text ─▶ usync [to user, own user] ─▶ devices (minus itself), LIDs learnt
//!     ─▶ devices without a session? <iq encrypt get><key><user jid/>…</key> ─▶ X3DH each
//!     ─▶ encrypt per device ─▶ <message to id type=text><participants>…</participants>
//!        [<device-identity>] ─▶ <ack> ─▶ Sent{t} | SendFailed{error}
//!  <receipt type=retry count=n> ─▶ <keys>? new session from them : no session? fetch a bundle
//!     ─▶ re-encrypt the kept plaintext ─▶ <message to=device device_fanout=false>
//!        <enc count=n/> (at most MAX_RETRIES per requester)
//! ```

use bytes::Bytes;
use prost::Message as _;
use tether_core::binary::{Content, Jid, Node, Server, Value};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::padding;
use tether_core::proto::message::{DeviceSentMessage, Message};
use tether_signal::{
    IdentityKey, IdentityPolicy, PreKeyBundle, PreKeyId, PublicKey, RegistrationId, SessionRecord,
    SignedPreKeyId,
};

use super::{DeviceEvent, Kept, MAX_RETRIES, Pending, SimDevice};

/// A message on its way out.
#[derive(Clone, Debug)]
pub(super) struct SendJob {
    /// The recipient user, as addressed on the wire.
    to: Jid,
    /// The encoded `Message`.
    message: Vec<u8>,
    /// The devices to encrypt for, once the usync answered.
    devices: Vec<Jid>,
}

pub(super) fn jid_attr(node: &Node, key: &str) -> Option<Jid> {
    match node.get_attr(key)? {
        Value::Jid(jid) => Some(jid.clone()),
        Value::String(s) => s.parse().ok(),
    }
}

fn child_bytes<'a>(node: &'a Node, tag: &str) -> Option<&'a Bytes> {
    match &node.child(tag)?.content {
        Content::Bytes(b) => Some(b),
        _ => None,
    }
}

fn fixed<const N: usize>(node: &Node, tag: &str) -> Option<[u8; N]> {
    <[u8; N]>::try_from(&child_bytes(node, tag)?[..]).ok()
}

fn u24(node: &Node) -> Option<u32> {
    let [a, b, c] = fixed::<3>(node, "id")?;
    Some(u32::from_be_bytes([0, a, b, c]))
}

/// A bundle from a `<user>` of a key-fetch answer, or from the `<keys>` of a retry receipt
/// (children directly in the node, or wrapped in `<keys>`: `messaging.md` §3).
fn parse_bundle(node: &Node, registration: Option<u32>, device: u16) -> Option<PreKeyBundle> {
    let keys = node.child("keys").unwrap_or(node);
    let registration = match registration {
        Some(r) => r,
        None => u32::from_be_bytes(fixed::<4>(node, "registration")?),
    };
    let identity = fixed::<32>(keys, "identity")?;
    let skey = keys.child("skey")?;
    let pre_key = match keys.child("key") {
        Some(key) => Some((
            PreKeyId::new(u24(key)?),
            PublicKey::from_montgomery(fixed::<32>(key, "value")?),
        )),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id: RegistrationId::new(registration),
        device_id: u32::from(device),
        pre_key,
        signed_pre_key_id: SignedPreKeyId::new(u24(skey)?),
        signed_pre_key: PublicKey::from_montgomery(fixed::<32>(skey, "value")?),
        signed_pre_key_signature: fixed::<64>(skey, "signature")?,
        identity_key: IdentityKey::new(PublicKey::from_montgomery(identity)),
    })
}

impl SimDevice {
    /// Sends `text` to `to` (a user JID, phone number or LID, or a group): returns the message id at once;
    /// [`DeviceEvent::Sent`] or [`DeviceEvent::SendFailed`] follows.
    pub fn send_text(&mut self, to: &Jid, text: &str, unix: u64) -> String {
        self.send_message(to, &Message::text(text), unix)
    }

    /// Sends any `Message` to `to` (see [`send_text`](Self::send_text)); a group JID sends
    /// with the device's sender key ([`send_group_message`](Self::send_group_message)).
    pub fn send_message(&mut self, to: &Jid, message: &Message, unix: u64) -> String {
        if *to.server() == Server::Group {
            return self.send_group_message(to, message, unix);
        }
        let mut random = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut self.rng, &mut random);
        let id = MessageId::generate(unix, &self.config.phone_number, &random).0;
        let mut to = to.to_non_ad();
        if self.config.prefer_lid
            && *to.server() == Server::WhatsApp
            && let Some(lid) = self.lid_of.get(to.user_str())
        {
            to = Jid::user(lid, Server::Lid);
        }
        let own = if *to.server() == Server::Lid {
            Jid::user(&self.config.lid_user, Server::Lid)
        } else {
            Jid::user(&self.config.phone_number, Server::WhatsApp)
        };
        let mut users = vec![to.clone()];
        if own != to {
            users.push(own);
        }
        let usync = self.usync_iq(&users, Pending::Usync(id.clone()));
        self.outbox.push_back(usync);
        self.jobs.insert(
            id.clone(),
            SendJob {
                to,
                message: message.encode_to_vec(),
                devices: Vec::new(),
            },
        );
        id
    }

    /// A usync device query (with `<lid/>`) for `users`, answered to `pending`.
    pub(super) fn usync_iq(&mut self, users: &[Jid], pending: Pending) -> Node {
        let users = users
            .iter()
            .map(|u| Node::new("user").jid_attr("jid", u.clone()))
            .collect();
        let iq_id = self.next_iq_id();
        self.pending.insert(iq_id.clone(), pending);
        Node::new("iq")
            .attr("id", iq_id.clone())
            .attr("xmlns", "usync")
            .attr("type", "get")
            .jid_attr("to", Jid::server_jid(Server::WhatsApp))
            .children(vec![
                Node::new("usync")
                    .attr("sid", iq_id)
                    .attr("mode", "query")
                    .attr("last", "true")
                    .attr("index", "0")
                    .attr("context", "message")
                    .children(vec![
                        Node::new("query").children(vec![
                            Node::new("devices").attr("version", "2"),
                            Node::new("lid"),
                        ]),
                        Node::new("list").children(users),
                    ]),
            ])
    }

    /// An iq answer: routed to what asked.
    pub(super) fn on_iq(&mut self, node: &Node) {
        let Some(pending) = node.attr_str("id").and_then(|id| self.pending.remove(id)) else {
            return;
        };
        let ok = node.attr_str("type") == Some("result");
        match pending {
            Pending::Upload | Pending::Rotate => {
                if !ok {
                    tracing::debug!(answer = %node, "a key iq was refused");
                }
            }
            Pending::Usync(id) => self.on_usync_answer(&id, node, ok),
            Pending::Bundles(id) => {
                self.install_bundles(node);
                if let Some(job) = self.jobs.get(&id).cloned() {
                    self.encrypt_and_send(&id, &job);
                }
            }
            Pending::RetryBundle(id, requester, count) => {
                self.install_bundles(node);
                self.resend(&id, &requester, count);
            }
            group @ (Pending::GroupChange
            | Pending::GroupMeta(_)
            | Pending::GroupUsync(_)
            | Pending::GroupBundles(_)) => self.on_group_answer(group, node),
        }
    }

    fn on_usync_answer(&mut self, id: &str, node: &Node, ok: bool) {
        let Some(job) = self.jobs.get(id).cloned() else {
            return;
        };
        if !ok {
            return self.fail(id, "the device query was refused");
        }
        let users = node
            .child("usync")
            .and_then(|u| u.child("list"))
            .map(|l| l.child_nodes().to_vec())
            .unwrap_or_default();
        // Learn the LIDs first: with `prefer_lid`, a send addressed by phone number goes out
        // in the LID namespace once the answer names the LID (whatsmeow's rule).
        for user in &users {
            if let (Some(jid), Some(lid)) = (
                jid_attr(user, "jid"),
                user.child("lid").and_then(|l| jid_attr(l, "val")),
            ) && *jid.server() == Server::WhatsApp
            {
                self.learn_lid(jid.user_str(), lid.user_str());
            }
        }
        let mut job = job;
        let to_lid = self
            .lid_of
            .get(job.to.user_str())
            .filter(|_| self.config.prefer_lid && *job.to.server() == Server::WhatsApp)
            .cloned();
        if let Some(lid) = to_lid {
            job.to = Jid::user(&lid, Server::Lid);
        }
        let mut devices = Vec::new();
        for user in &users {
            let Some(jid) = jid_attr(user, "jid") else {
                continue;
            };
            let named = self.in_namespace_of(&jid, &job.to);
            let list = user
                .child("devices")
                .and_then(|d| d.child("device-list"))
                .map(|l| l.child_nodes().to_vec())
                .unwrap_or_default();
            for device in &list {
                let Some(n) = device.attr_str("id").and_then(|d| d.parse::<u16>().ok()) else {
                    continue;
                };
                let device_jid = Jid::device(named.user_str(), n, named.server().clone());
                if !(self.own_user(&device_jid) && n == self.config.device) {
                    devices.push(device_jid);
                }
            }
        }
        let missing: Vec<Jid> = devices
            .iter()
            .filter(|d| {
                self.sessions
                    .get(&self.peer(d))
                    .is_none_or(|r| !r.has_open_session())
            })
            .cloned()
            .collect();
        let job = SendJob { devices, ..job };
        self.jobs.insert(id.to_owned(), job.clone());
        if missing.is_empty() {
            return self.encrypt_and_send(id, &job);
        }
        self.fetch_bundles(&missing, Pending::Bundles(id.to_owned()));
    }

    /// `user` in the namespace of `like` (its LID or phone number as known).
    fn in_namespace_of(&self, user: &Jid, like: &Jid) -> Jid {
        if user.server() == like.server() {
            return user.to_non_ad();
        }
        let own = self.own_user(user);
        match like.server() {
            Server::Lid if own => Jid::user(&self.config.lid_user, Server::Lid),
            Server::Lid => self
                .lid_of
                .get(user.user_str())
                .map_or_else(|| user.to_non_ad(), |lid| Jid::user(lid, Server::Lid)),
            _ if own => Jid::user(&self.config.phone_number, Server::WhatsApp),
            _ => self
                .lid_of
                .iter()
                .find(|(_, lid)| lid.as_str() == user.user_str())
                .map_or_else(
                    || user.to_non_ad(),
                    |(pn, _)| Jid::user(pn, Server::WhatsApp),
                ),
        }
    }

    pub(super) fn fetch_bundles(&mut self, devices: &[Jid], pending: Pending) {
        let iq_id = self.next_iq_id();
        self.pending.insert(iq_id.clone(), pending);
        let users = devices
            .iter()
            .map(|d| {
                Node::new("user")
                    .jid_attr("jid", d.clone())
                    .attr("reason", "identity")
            })
            .collect();
        let iq = Node::new("iq")
            .attr("id", iq_id)
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .jid_attr("to", Jid::server_jid(Server::WhatsApp))
            .children(vec![Node::new("key").children(users)]);
        self.outbox.push_back(iq);
    }

    /// X3DH with every bundle of a key-fetch answer (a device refused or with an invalid
    /// bundle is skipped).
    pub(super) fn install_bundles(&mut self, node: &Node) {
        let users = node
            .child("list")
            .map(|l| l.child_nodes().to_vec())
            .unwrap_or_default();
        for user in &users {
            let Some(jid) = jid_attr(user, "jid") else {
                continue;
            };
            if user.child("error").is_some() {
                continue;
            }
            if let Some(bundle) = parse_bundle(user, None, jid.device_id()) {
                self.start_session(&jid, &bundle);
            }
        }
    }

    /// A new session with `jid` from `bundle` (the current one, if any, is archived).
    fn start_session(&mut self, jid: &Jid, bundle: &PreKeyBundle) -> bool {
        let peer = self.peer(jid);
        let record = self.sessions.entry(peer.clone()).or_default();
        let started = record.process_bundle(
            &self.keys.identity,
            self.keys.registration_id,
            bundle,
            IdentityPolicy::AcceptAny,
            &mut self.rng,
        );
        match started {
            Ok(()) => {
                self.identities.insert(peer, bundle.identity_key);
                true
            }
            Err(error) => {
                tracing::debug!(%jid, %error, "bundle refused");
                false
            }
        }
    }

    /// Pads and encrypts `message` for `jid`: the `<enc>`, or `None` without a session.
    pub(super) fn encrypt_for(&mut self, jid: &Jid, message: &[u8]) -> Option<Node> {
        let random = self.random_byte();
        let padded = padding::pad(message.to_vec(), random);
        let peer = self.peer(jid);
        let record: &mut SessionRecord = self.sessions.get_mut(&peer)?;
        let before = self.reuse_counters.then(|| record.clone());
        let mut ciphertext = record.encrypt(&padded).ok()?;
        if let Some(before) = before {
            *record = before;
        }
        if self.corrupt_next > 0
            && let Some(last) = ciphertext.bytes.last_mut()
        {
            self.corrupt_next -= 1;
            *last ^= 0x01;
        }
        // The planted defect leaves out the version every `<enc>` must carry.
        let version = if self.planted_unversioned { "" } else { "2" };
        Some(
            Node::new("enc")
                .attr("v", version)
                .attr("type", ciphertext.kind.enc_type())
                .bytes(ciphertext.bytes),
        )
    }

    /// The `deviceSentMessage` copy of `message` (encoded) for own devices.
    fn device_sent(chat: &Jid, message: &[u8]) -> Vec<u8> {
        let inner = Message::decode(message).unwrap_or_default();
        Message {
            device_sent_message: Some(Box::new(DeviceSentMessage {
                destination_jid: Some(chat.to_string()),
                message: Some(Box::new(inner)),
                phash: None,
            })),
            ..Message::default()
        }
        .encode_to_vec()
    }

    fn encrypt_and_send(&mut self, id: &str, job: &SendJob) {
        let dsm = Self::device_sent(&job.to, &job.message);
        let mut participants = Vec::new();
        let mut any_pkmsg = false;
        let mut to_peer = false;
        for device in &job.devices {
            let own = self.own_user(device);
            let plaintext = if own { &dsm } else { &job.message };
            let Some(enc) = self.encrypt_for(device, plaintext) else {
                continue;
            };
            any_pkmsg |= enc.attr_str("type") == Some("pkmsg");
            to_peer |= !own;
            participants.push(
                Node::new("to")
                    .jid_attr("jid", device.clone())
                    .children(vec![enc]),
            );
        }
        let to_self = self.own_user(&job.to);
        if participants.is_empty() || !(to_peer || to_self) {
            self.jobs.remove(id);
            return self.fail(id, "no recipient device could be encrypted for");
        }
        let mut children = vec![Node::new("participants").children(participants)];
        if any_pkmsg && let Some(adv) = &self.adv_identity {
            children.push(Node::new("device-identity").bytes(adv.clone()));
        }
        let stanza = Node::new("message")
            .attr("id", id.to_owned())
            .jid_attr("to", job.to.clone())
            .attr("type", "text")
            .children(children);
        self.kept.insert(
            id.to_owned(),
            Kept {
                chat: job.to.clone(),
                message: job.message.clone(),
                t: None,
            },
        );
        self.outbox.push_back(stanza);
    }

    fn fail(&mut self, id: &str, reason: &str) {
        self.jobs.remove(id);
        self.events.push_back(DeviceEvent::SendFailed {
            id: id.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// The server's `<ack class="message">` (or of another class: nothing to do).
    pub(super) fn on_ack(&mut self, node: &Node) {
        if node.attr_str("class") != Some("message") {
            return;
        }
        let Some(id) = node.attr_str("id") else {
            return;
        };
        if self.jobs.remove(id).is_none() && self.groups.jobs.remove(id).is_none() {
            return; // a resend's ack, or a repeat
        }
        if let Some(error) = node.attr_str("error") {
            self.kept.remove(id);
            let reason = format!("the server refused it (error {error})");
            return self.events.push_back(DeviceEvent::SendFailed {
                id: id.to_owned(),
                reason,
            });
        }
        let t = node
            .attr_str("t")
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        if let Some(kept) = self.kept.get_mut(id) {
            kept.t = Some(t);
        }
        self.events.push_back(DeviceEvent::Sent {
            id: id.to_owned(),
            t,
        });
    }

    /// A retry receipt for a message this device sent (acked by the caller).
    pub(super) fn on_retry_receipt(&mut self, node: &Node) {
        let (Some(id), Some(from)) = (node.attr_str("id"), jid_attr(node, "from")) else {
            return;
        };
        // In a group the requester is the participant.
        let from = match from.server() {
            Server::Group => match jid_attr(node, "participant") {
                Some(p) => p,
                None => return,
            },
            _ => from,
        };
        let id = id.to_owned();
        let count = node
            .child("retry")
            .and_then(|r| r.attr_str("count"))
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(1);
        if !self.kept.contains_key(&id) {
            return self.events.push_back(DeviceEvent::RetryRefused {
                id,
                from,
                reason: "the message is not kept".to_owned(),
            });
        }
        let peer = self.peer(&from);
        let answered = self.resends.entry((id.clone(), peer.clone())).or_default();
        if *answered >= MAX_RETRIES {
            return self.events.push_back(DeviceEvent::RetryRefused {
                id,
                from,
                reason: format!("{MAX_RETRIES} resends made already"),
            });
        }
        *answered += 1;
        let registration = child_bytes(node, "registration")
            .and_then(|b| <[u8; 4]>::try_from(&b[..]).ok())
            .map(u32::from_be_bytes);
        if let Some(keys) = node.child("keys")
            && let Some(bundle) = parse_bundle(keys, registration, from.device_id())
            && self.start_session(&from, &bundle)
        {
            return self.resend(&id, &from, count);
        }
        let open = self
            .sessions
            .get(&peer)
            .is_some_and(SessionRecord::has_open_session);
        if open && count < 2 {
            self.resend(&id, &from, count);
        } else {
            // No session, or the session did not help: start a new one from a fresh bundle.
            self.fetch_bundles(
                std::slice::from_ref(&from),
                Pending::RetryBundle(id, from.clone(), count),
            );
        }
    }

    /// Re-encrypts kept message `id` for `to` alone and sends it (`device_fanout="false"`).
    fn resend(&mut self, id: &str, to: &Jid, count: u32) {
        let Some(kept) = self.kept.get(id).cloned() else {
            return;
        };
        if *kept.chat.server() == Server::Group {
            return self.group_resend(id, &kept.chat, to, count);
        }
        let own = self.own_user(to);
        let plaintext = if own {
            Self::device_sent(&kept.chat, &kept.message)
        } else {
            kept.message.clone()
        };
        let Some(enc) = self.encrypt_for(to, &plaintext) else {
            return self.events.push_back(DeviceEvent::RetryRefused {
                id: id.to_owned(),
                from: to.clone(),
                reason: "no session to resend on".to_owned(),
            });
        };
        let pkmsg = enc.attr_str("type") == Some("pkmsg");
        let mut children = vec![enc.attr("count", count.to_string())];
        if pkmsg && let Some(adv) = &self.adv_identity {
            children.push(Node::new("device-identity").bytes(adv.clone()));
        }
        let mut stanza = Node::new("message")
            .attr("id", id.to_owned())
            .jid_attr("to", to.clone())
            .attr("type", "text")
            .attr("device_fanout", "false");
        if let Some(t) = kept.t {
            stanza = stanza.attr("t", t.to_string());
        }
        if own {
            stanza = stanza.jid_attr("recipient", kept.chat);
        }
        self.outbox.push_back(stanza.children(children));
        self.events.push_back(DeviceEvent::Resent {
            id: id.to_owned(),
            to: to.clone(),
            count,
        });
    }
}
