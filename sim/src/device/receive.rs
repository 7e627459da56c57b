//! Receiving (`messaging.md` §6) for a [`SimDevice`]: decrypt, unpad, decode, receipts,
//! retry receipts, and the acks of receipts and notifications.
//!
//! ```text
//!  <message from id t [offline]><enc type=pkmsg|msg/>
//!     processed before (a redelivery)? ─▶ the same receipt again, nothing else
//!     decrypt ok ─▶ Received ─▶ <receipt id to=from> (own device: type="sender" recipient=chat)
//!     decrypt failed ─▶ <receipt type="retry"><retry count=n/><registration/>[<keys/> n ≥ 2]
//!                       after MAX_RETRIES: Undecryptable, <ack class="message"> (given up)
//! ```

use prost::Message as _;
use tether_core::binary::{Content, Jid, Node, Server};
use tether_core::messaging::padding;
use tether_core::proto::message::Message;
use tether_signal::{
    DecryptError, Decrypted, IdentityPolicy, PreKeySignalMessage, ResponderKeys, SessionRecord,
    SignalMessage,
};

use super::send::jid_attr;
use super::{DeviceEvent, MAX_RETRIES, Peer, Received, SimDevice};

/// Why a message could not be turned into a `Received`.
fn failure_text(error: &DecryptError) -> String {
    error.to_string()
}

impl SimDevice {
    pub(super) fn on_message(&mut self, node: &Node, unix: u64) {
        let (Some(id), Some(from)) = (
            node.attr_str("id").map(str::to_owned),
            jid_attr(node, "from"),
        ) else {
            return;
        };
        if *from.server() == Server::Group {
            return self.on_group_message(node, unix);
        }
        // Learn the sender's other user from the stanza.
        for key in [
            "sender_lid",
            "sender_pn",
            "peer_recipient_lid",
            "peer_recipient_pn",
        ] {
            if let Some(alt) = jid_attr(node, key) {
                let named = if key.starts_with("peer_") {
                    jid_attr(node, "recipient")
                } else {
                    Some(from.clone())
                };
                if let Some(named) = named {
                    match (named.server(), alt.server()) {
                        (Server::WhatsApp, Server::Lid) => {
                            self.learn_lid(named.user_str(), alt.user_str());
                        }
                        (Server::Lid, Server::WhatsApp) => {
                            self.learn_lid(alt.user_str(), named.user_str());
                        }
                        _ => {}
                    }
                }
            }
        }
        let peer = self.peer(&from);
        let key = (peer.clone(), id.clone());
        if let Some(receipt) = self.processed.get(&key).cloned() {
            self.outbox.push_back(receipt);
            return;
        }
        if self.given_up.contains(&key) {
            self.outbox.push_back(plain_ack(&id, &from));
            return;
        }
        let Some(enc) = node.child("enc") else {
            return;
        };
        let t = node
            .attr_str("t")
            .and_then(|t| t.parse().ok())
            .unwrap_or(unix);
        let decrypted = if self.fail_next > 0 {
            self.fail_next -= 1;
            Err("a decryption failure (injected)".to_owned())
        } else {
            self.decrypt(&peer, enc)
        };
        match decrypted {
            Ok(decrypted) => self.deliver(node, &id, &from, peer, &decrypted, t),
            Err(reason) => self.on_failure(node, &id, &from, peer, &reason, unix),
        }
    }

    /// Decrypts one `<enc>` from `peer`; the record changes only on success.
    pub(super) fn decrypt(&mut self, peer: &Peer, enc: &Node) -> Result<Decrypted, String> {
        let Content::Bytes(bytes) = &enc.content else {
            return Err("an <enc> without ciphertext".to_owned());
        };
        match enc.attr_str("type") {
            Some("pkmsg") => {
                let message = PreKeySignalMessage::parse(bytes).map_err(|e| e.to_string())?;
                let mut record = self.sessions.get(peer).cloned().unwrap_or_default();
                let needs = record.needs_pre_keys(&message);
                let keys = needs.then(|| ResponderKeys {
                    identity: &self.keys.identity,
                    registration_id: self.keys.registration_id,
                    signed_pre_key: self.keys.signed_by_id(message.signed_pre_key_id()),
                    one_time_pre_key: message.pre_key_id().and_then(|id| self.keys.one_time(id)),
                });
                let decrypted = record
                    .decrypt_pre_key(&message, keys, IdentityPolicy::AcceptAny, &mut self.rng)
                    .map_err(|e| failure_text(&e))?;
                if let Some(consumed) = decrypted.consumed_pre_key {
                    self.keys.consume(consumed);
                }
                self.sessions.insert(peer.clone(), record);
                self.identities
                    .insert(peer.clone(), decrypted.sender_identity);
                Ok(decrypted)
            }
            Some("msg") => {
                let message = SignalMessage::parse(bytes).map_err(|e| e.to_string())?;
                let record: &mut SessionRecord = self
                    .sessions
                    .get_mut(peer)
                    .ok_or_else(|| failure_text(&DecryptError::NoSession))?;
                record
                    .decrypt(&message, IdentityPolicy::AcceptAny, &mut self.rng)
                    .map_err(|e| failure_text(&e))
            }
            other => Err(format!("an <enc> of type {other:?}")),
        }
    }

    fn deliver(
        &mut self,
        node: &Node,
        id: &str,
        from: &Jid,
        peer: Peer,
        decrypted: &Decrypted,
        t: u64,
    ) {
        let from_me = self.own_user(from);
        let message = padding::unpad(&decrypted.plaintext)
            .ok()
            .and_then(|body| Message::decode(body).ok());
        let Some(message) = message else {
            // Decrypted but not a message: nothing for the application; acknowledge it.
            self.outbox.push_back(plain_ack(id, from));
            return;
        };
        let (chat, content) = match (&message.device_sent_message, from_me) {
            (Some(dsm), true) => {
                let chat = dsm
                    .destination_jid
                    .as_deref()
                    .and_then(|j| j.parse::<Jid>().ok())
                    .or_else(|| jid_attr(node, "recipient"))
                    .unwrap_or_else(|| from.to_non_ad());
                let inner = dsm.message.as_deref().cloned().unwrap_or_default();
                (chat, inner)
            }
            _ => (from.to_non_ad(), message),
        };
        self.events.push_back(DeviceEvent::Received(Received {
            id: id.to_owned(),
            chat: chat.clone(),
            sender: from.clone(),
            from_me,
            text: content.text_content().map(str::to_owned),
            media: tether_core::media::MediaRef::of(&content).map(Box::new),
            content: content.encode_to_vec().into(),
            t,
            offline: node.attr_str("offline").is_some(),
        }));
        let mut receipt = Node::new("receipt")
            .attr("id", id.to_owned())
            .jid_attr("to", from.clone());
        if from_me {
            receipt = receipt.attr("type", "sender").jid_attr("recipient", chat);
        }
        self.processed
            .insert((peer, id.to_owned()), receipt.clone());
        self.outbox.push_back(receipt);
    }

    pub(super) fn on_failure(
        &mut self,
        node: &Node,
        id: &str,
        from: &Jid,
        peer: Peer,
        reason: &str,
        unix: u64,
    ) {
        let key = (peer, id.to_owned());
        let sent = self.retries.get(&key).copied().unwrap_or(0);
        // A resend carries the sender's count: continue from it.
        let resend_count = node
            .child("enc")
            .and_then(|e| e.attr_str("count"))
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(0);
        let count = sent.max(resend_count) + 1;
        if count > MAX_RETRIES {
            self.retries.remove(&key);
            self.given_up.insert(key);
            // In a group the sender is the participant, not the group the stanza came from.
            let sender = match node.get_attr("participant") {
                Some(tether_core::binary::Value::Jid(j)) => j.clone(),
                Some(tether_core::binary::Value::String(s)) => {
                    s.parse().unwrap_or_else(|_| from.clone())
                }
                None => from.clone(),
            };
            self.events.push_back(DeviceEvent::Undecryptable {
                id: id.to_owned(),
                from: sender,
                retries: MAX_RETRIES,
                reason: reason.to_owned(),
            });
            self.outbox.push_back(plain_ack(id, from));
            return;
        }
        self.retries.insert(key, count);
        let t = node
            .attr_str("t")
            .map_or_else(|| unix.to_string(), str::to_owned);
        let with_keys = count >= 2;
        let mut children = vec![
            Node::new("retry")
                .attr("count", count.to_string())
                .attr("id", id.to_owned())
                .attr("t", t)
                .attr("v", "1"),
            Node::new("registration")
                .bytes(self.keys.registration_id.value().to_be_bytes().to_vec()),
        ];
        if with_keys {
            let adv = self.adv_identity.clone();
            children.push(self.keys.retry_keys(&mut self.rng, adv.as_deref()));
        }
        let mut receipt = Node::new("receipt")
            .attr("id", id.to_owned())
            .jid_attr("to", from.clone())
            .attr("type", "retry");
        if let Some(recipient) = jid_attr(node, "recipient") {
            receipt = receipt.jid_attr("recipient", recipient);
        }
        if let Some(participant) = jid_attr(node, "participant") {
            receipt = receipt.jid_attr("participant", participant);
        }
        self.outbox.push_back(receipt.children(children));
        self.events.push_back(DeviceEvent::RetryRequested {
            id: id.to_owned(),
            from: from.clone(),
            count,
            with_keys,
        });
    }

    /// A receipt for a message this device sent: acked; a retry is answered.
    pub(super) fn on_receipt(&mut self, node: &Node) {
        let (Some(id), Some(from)) = (node.attr_str("id"), jid_attr(node, "from")) else {
            return;
        };
        let kind = node.attr_str("type").map(str::to_owned);
        let mut ack = Node::new("ack")
            .attr("class", "receipt")
            .attr("id", id.to_owned())
            .jid_attr("to", from.clone());
        if let Some(kind) = &kind {
            ack = ack.attr("type", kind.clone());
        }
        // In a group the device is the participant.
        let participant = jid_attr(node, "participant");
        if let Some(p) = &participant {
            ack = ack.jid_attr("participant", p.clone());
        }
        self.outbox.push_back(ack);
        if kind.as_deref() == Some("retry") {
            self.on_retry_receipt(node);
            return;
        }
        if kind.as_deref() == Some("server-error") {
            self.events.push_back(DeviceEvent::MediaRetryRequested {
                id: id.to_owned(),
                from,
                receipt: Box::new(node.clone()),
            });
            return;
        }
        let from = participant.unwrap_or(from);
        self.events.push_back(DeviceEvent::Receipt {
            id: id.to_owned(),
            from,
            kind,
        });
    }

    /// A notification: acked; pre-key count → refill; identity → that user's sessions go.
    pub(super) fn on_notification(&mut self, node: &Node) {
        let Some(id) = node.attr_str("id") else {
            return;
        };
        let kind = node.attr_str("type").unwrap_or_default().to_owned();
        let from = jid_attr(node, "from");
        let mut ack = Node::new("ack")
            .attr("class", "notification")
            .attr("id", id.to_owned())
            .attr("type", kind.clone());
        if let Some(from) = &from {
            ack = ack.jid_attr("to", from.clone());
        }
        self.outbox.push_back(ack);
        if kind == "w:gp2" {
            return self.on_group_notification(node);
        }
        if kind != "encrypt" {
            return;
        }
        if node.child("count").is_some() {
            let batch = self.config.pre_key_batch;
            self.upload_pre_keys(batch);
        }
        if node.child("identity").is_some()
            && let Some(user) = from
        {
            let mut users = vec![self.peer(&user).user];
            if let Some(lid) = jid_attr(node, "lid") {
                users.push(self.peer(&lid).user);
            }
            self.sessions.retain(|p, _| !users.contains(&p.user));
            self.identities.retain(|p, _| !users.contains(&p.user));
            self.events.push_back(DeviceEvent::IdentityChanged { user });
        }
    }
}

/// `<ack class="message" id to=from/>`.
fn plain_ack(id: &str, from: &Jid) -> Node {
    Node::new("ack")
        .attr("class", "message")
        .attr("id", id.to_owned())
        .jid_attr("to", from.clone())
}
