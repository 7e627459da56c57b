//! Step 3 of a batch, per stanza: dedup, decrypt, decode, and the inbox row or the retry
//! receipt, staged in the batch's one commit with the acks and events that follow it.

use bytes::Bytes;
use prost::Message as _;
use tracing::{debug, warn};

use super::gather::{dedup_key, pn_form};
use super::{Inbox, ReceiptMode};
use crate::binary::{Jid, Node};
use crate::connection::Event;
use crate::messaging::address::{Address, Namespace, UserId};
use crate::messaging::ctx::Ctx;
use crate::messaging::devices::Devices;
use crate::messaging::ids::MessageId;
use crate::messaging::padding;
use crate::messaging::prekeys::PreKeys;
use crate::messaging::rows::{self, InboxKind, InboxRow, ProcessedRow, meta};
use crate::messaging::sessions::{self, DecryptFailure};
use crate::messaging::stanza::{self, DeliveryType, Enc, EncKind, Envelope};
use crate::messaging::store::Deferred;
use crate::messaging::types::{InboxPos, IncomingMessage, Undecryptable};
use crate::proto::message::Message;
use crate::records::Table;

impl Inbox {
    pub(super) fn process(
        &mut self,
        ctx: &mut Ctx<'_>,
        devices: &mut Devices,
        node: &Node,
        env: &Envelope,
    ) {
        let Some(from) = self.sender_address(ctx, env) else {
            nack(ctx, node, 487);
            return;
        };
        // Learn the PN↔LID pair the stanza carries.
        if let (Some(pn), Some(lid)) = (
            env.alt_pn
                .as_ref()
                .or_else(|| Some(env.sender()))
                .and_then(|j| UserId::of(&j.to_non_ad())),
            env.alt_lid
                .as_ref()
                .or_else(|| Some(env.sender()))
                .and_then(|j| UserId::of(&j.to_non_ad())),
        ) && pn.ns == Namespace::Pn
            && lid.ns == Namespace::Lid
        {
            devices.learn(ctx, &pn, &lid);
        }
        let key = dedup_key(ctx, env, &from);
        if ctx.get(Table::Processed, &key).flatten().is_some() {
            debug!(id = %env.id, "already processed: acknowledging again");
            self.acknowledge(ctx, node, env, true);
            return;
        }
        if env.encs.is_empty() {
            if env.unavailable {
                self.store_undecryptable(ctx, node, env, &key, "unavailable", 0);
                return;
            }
            nack(ctx, node, 488);
            return;
        }
        let group = env.is_group().then(|| env.from.to_non_ad());
        let mut content: Option<(Message, Bytes)> = None;
        let mut failure: Option<DecryptFailure> = None;
        let mut retry_seen = 0;
        // Document order: the pairwise part (a sender key, or a retry resend) comes first,
        // so an SKDM is taken in before the `skmsg` that needs it.
        let mut encs: Vec<&Enc> = env.encs.iter().collect();
        encs.sort_by_key(|e| e.kind == EncKind::SenderKey);
        for enc in encs {
            retry_seen = retry_seen.max(enc.count);
            let plaintext = match enc.kind {
                EncKind::PreKey | EncKind::Whisper => {
                    match sessions::decrypt(ctx, &from, pn_form(env), enc) {
                        Ok(plain) => {
                            let text = plain.plaintext.clone();
                            sessions::save(ctx, &from, plain);
                            Ok(text)
                        }
                        Err(f) => Err(f),
                    }
                }
                EncKind::SenderKey => match &group {
                    Some(g) => sessions::decrypt_group(ctx, g, &from, enc),
                    None => Err(DecryptFailure::Invalid(
                        "a sender-key message outside a group".into(),
                    )),
                },
            };
            let plaintext = match plaintext {
                Ok(p) => p,
                Err(f) => {
                    failure = Some(f);
                    continue;
                }
            };
            match decode_content(enc.version, &plaintext) {
                Ok((mut message, raw)) => {
                    if let (Some(g), Some(skdm)) =
                        (&group, message.sender_key_distribution_message.take())
                        && skdm.group_id.as_deref() == Some(g.to_string().as_str())
                        && let Some(bytes) = &skdm.axolotl_sender_key_distribution_message
                    {
                        sessions::process_distribution(ctx, g, &from, bytes);
                    }
                    if content.is_none() && has_content(&message) {
                        content = Some((message, raw));
                    }
                }
                Err(code) => {
                    // The ratchet moved: keep it, and refuse the content.
                    self.mark_processed(ctx, env, &key, None);
                    nack_deferred(ctx, node, code);
                    return;
                }
            }
        }
        // A stanza that carried only a sender key (no content of its own) is processed.
        if content.is_none() && failure.is_none() {
            self.mark_processed(ctx, env, &key, None);
            self.acknowledge(ctx, node, env, true);
            return;
        }
        match (content, failure) {
            (Some((message, raw)), _) => {
                self.store_message(ctx, node, env, &from, &key, message, raw)
            }
            (None, Some(f)) => self.on_failure(ctx, node, env, &from, &key, f, retry_seen),
            (None, None) => nack(ctx, node, 488),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn store_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        node: &Node,
        env: &Envelope,
        from: &Address,
        key: &Bytes,
        message: Message,
        raw: Bytes,
    ) {
        let own = is_own(ctx, &from.user);
        // A copy of an own message: the content is inside `deviceSentMessage`.
        let (message, raw, dsm_chat) = match (own, message.device_sent_message.as_deref()) {
            (true, Some(dsm)) => {
                let inner = dsm.message.as_deref().cloned().unwrap_or_default();
                let raw = Bytes::from(inner.encode_to_vec());
                (inner, raw, dsm.destination_jid.clone())
            }
            _ => (message, raw, None),
        };
        let chat = if env.is_group() {
            env.from.to_non_ad()
        } else if own {
            env.recipient
                .clone()
                .or_else(|| dsm_chat.and_then(|c| c.parse().ok()))
                .unwrap_or_else(|| env.from.to_non_ad())
        } else {
            env.from.to_non_ad()
        };
        let pos = self.put_entry(
            ctx,
            InboxRow {
                from_me: Some(own),
                message: Some(raw.clone()),
                ..envelope_row(InboxKind::Message, env, &chat)
            },
        );
        self.mark_processed(ctx, env, key, Some(pos));
        self.retries.remove(&(from.to_string(), env.id.clone()));
        self.acknowledge(ctx, node, env, true);
        let event = IncomingMessage {
            inbox: InboxPos(pos),
            id: MessageId(env.id.clone()),
            chat,
            sender: env.sender().clone(),
            sender_alt: alt_of(env),
            from_me: own,
            timestamp: env.t,
            push_name: env.notify.clone(),
            offline: env.offline,
            message_type: env.message_type.clone(),
            message,
            raw,
            replayed: false,
        };
        ctx.defer(Deferred::Event(Event::Message(Box::new(event))));
        if self.config.auto_confirm {
            self.confirm(ctx, &[InboxPos(pos)]);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_failure(
        &mut self,
        ctx: &mut Ctx<'_>,
        node: &Node,
        env: &Envelope,
        from: &Address,
        key: &Bytes,
        failure: DecryptFailure,
        sender_count: u32,
    ) {
        let slot = (from.to_string(), env.id.clone());
        let sent = self
            .retries
            .get(&slot)
            .copied()
            .unwrap_or(0)
            .max(sender_count);
        if !failure.retryable() || sent >= self.config.max_retries {
            warn!(id = %env.id, %from, reason = %failure, retries = sent, "giving up on a message");
            self.retries.remove(&slot);
            self.store_undecryptable(ctx, node, env, key, &failure.to_string(), sent);
            return;
        }
        let count = sent + 1;
        if self.retries.len() >= 4096 {
            self.retries.clear(); // a soft limit; the sender's `count` carries the number too
        }
        self.retries.insert(slot, count);
        warn!(id = %env.id, %from, reason = %failure, count, "asking the sender to resend");
        let keys = (count >= 2 || failure.needs_keys()).then(|| PreKeys::retry_keys(ctx));
        let registration = ctx.creds.registration_id;
        if let Some(receipt) = stanza::retry_receipt(node, count, registration, keys.as_ref()) {
            ctx.defer(Deferred::Send(receipt));
        }
        // A fresh key (if any) is durable before the receipt; the stanza is acknowledged after
        // it, so the server stops redelivering it and waits for the resend.
        nack_deferred_plain(ctx, node);
    }

    /// Writes `row` as the next inbox entry (and the moved watermark) into the commit;
    /// returns its position.
    fn put_entry(&mut self, ctx: &mut Ctx<'_>, row: InboxRow) -> u64 {
        let pos = self.next;
        self.next += 1;
        ctx.put(Table::Inbox, rows::pos_key(pos), rows::encode(&row));
        ctx.put(
            Table::Meta,
            Bytes::from_static(meta::INBOX_NEXT.as_bytes()),
            rows::u64_value(self.next),
        );
        pos
    }

    pub(super) fn store_undecryptable(
        &mut self,
        ctx: &mut Ctx<'_>,
        node: &Node,
        env: &Envelope,
        key: &Bytes,
        reason: &str,
        retry_count: u32,
    ) {
        let chat = if env.is_group() {
            env.from.to_non_ad()
        } else {
            env.recipient
                .clone()
                .unwrap_or_else(|| env.from.to_non_ad())
        };
        let pos = self.put_entry(
            ctx,
            InboxRow {
                reason: Some(reason.to_owned()),
                retry_count: Some(retry_count),
                ..envelope_row(InboxKind::Undecryptable, env, &chat)
            },
        );
        self.mark_processed(ctx, env, key, Some(pos));
        nack_deferred_plain(ctx, node);
        ctx.defer(Deferred::Event(Event::Undecryptable(Box::new(
            Undecryptable {
                inbox: InboxPos(pos),
                id: MessageId(env.id.clone()),
                chat,
                sender: env.sender().clone(),
                timestamp: env.t,
                reason: reason.to_owned(),
                retry_count,
                replayed: false,
            },
        ))));
        if self.config.auto_confirm {
            self.confirm(ctx, &[InboxPos(pos)]);
        }
    }

    pub(super) fn mark_processed(
        &mut self,
        ctx: &mut Ctx<'_>,
        env: &Envelope,
        key: &Bytes,
        pos: Option<u64>,
    ) {
        let row = ProcessedRow {
            position: pos,
            t: Some(env.t),
        };
        ctx.put(Table::Processed, key.clone(), rows::encode(&row));
        if let Some(hash) = key.get(1..17).and_then(|h| <[u8; 16]>::try_from(h).ok()) {
            let day = u32::try_from(ctx.unix / 86_400).unwrap_or(u32::MAX);
            ctx.put(
                Table::Processed,
                rows::processed_index_key(day, &hash),
                Bytes::new(),
            );
        }
    }

    /// The delivery receipt (which acknowledges the stanza), after the commit.
    pub(super) fn acknowledge(
        &self,
        ctx: &mut Ctx<'_>,
        node: &Node,
        env: &Envelope,
        deferred: bool,
    ) {
        let own = Address::of(env.sender()).is_some_and(|a| is_own(ctx, &a.user));
        let kind = if env.category.as_deref() == Some("peer") {
            DeliveryType::Peer
        } else if own {
            DeliveryType::Sender
        } else {
            match self.config.receipts {
                ReceiptMode::Active => DeliveryType::Active,
                ReceiptMode::Inactive => DeliveryType::Inactive,
                ReceiptMode::FollowPresence if self.available => DeliveryType::Active,
                ReceiptMode::FollowPresence => DeliveryType::Inactive,
            }
        };
        if let Some(receipt) = stanza::delivery_receipt(node, kind) {
            if deferred {
                ctx.defer(Deferred::Send(receipt));
            } else {
                ctx.send(receipt);
            }
        }
    }
}

/// Whether a decoded message has content for the application (beyond a sender key and
/// message metadata).
pub(super) fn has_content(message: &Message) -> bool {
    let mut rest = message.clone();
    rest.sender_key_distribution_message = None;
    rest.message_context_info = None;
    rest != Message::default()
}

/// Unpads (for `v="2"`) and decodes the content; `Err` carries the nack code.
pub(super) fn decode_content(version: u8, plaintext: &[u8]) -> Result<(Message, Bytes), u16> {
    let body = if version >= 3 {
        plaintext
    } else {
        padding::unpad(plaintext).map_err(|_| 491u16)?
    };
    let message = Message::decode(body).map_err(|_| 491u16)?;
    Ok((message, Bytes::copy_from_slice(body)))
}

pub(super) fn nack(ctx: &mut Ctx<'_>, node: &Node, code: u16) {
    if let Some(n) = stanza::message_ack(node, Some(code)) {
        ctx.send(n);
    }
}

pub(super) fn nack_deferred(ctx: &mut Ctx<'_>, node: &Node, code: u16) {
    if let Some(n) = stanza::message_ack(node, Some(code)) {
        ctx.defer(Deferred::Send(n));
    }
}

pub(super) fn nack_deferred_plain(ctx: &mut Ctx<'_>, node: &Node) {
    if let Some(n) = stanza::message_ack(node, None) {
        ctx.defer(Deferred::Send(n));
    }
}

/// The sender's other address form, as the stanza names it.
/// An inbox row of `kind` in `chat` with the fields every entry takes from its envelope.
fn envelope_row(kind: InboxKind, env: &Envelope, chat: &Jid) -> InboxRow {
    InboxRow {
        kind: Some(kind as i32),
        id: Some(env.id.clone()),
        chat: Some(chat.to_string()),
        sender: Some(env.sender().to_string()),
        sender_alt: alt_of(env).map(|j| j.to_string()),
        timestamp: Some(env.t),
        push_name: env.notify.clone(),
        offline: Some(env.offline),
        participant: env.participant.as_ref().map(ToString::to_string),
        message_type: Some(env.message_type.clone()),
        ..InboxRow::default()
    }
}

pub(super) fn alt_of(env: &Envelope) -> Option<Jid> {
    let sender = env.sender();
    let alt = if sender.server() == &crate::binary::Server::Lid {
        env.alt_pn.as_ref()
    } else {
        env.alt_lid.as_ref()
    }?;
    Some(Jid::device(
        alt.user_str(),
        sender.device_id(),
        alt.server().clone(),
    ))
}

pub(super) fn is_own(ctx: &Ctx<'_>, user: &UserId) -> bool {
    let Some(device) = ctx.creds.device.as_ref() else {
        return false;
    };
    device.jid.user_str() == user.user && user.ns == Namespace::Pn
        || device
            .lid
            .as_ref()
            .is_some_and(|l| l.user_str() == user.user && user.ns == Namespace::Lid)
}
