//! Receiving (`messaging.md` §6, §8.1; `DESIGN.md` §10 "Durability" and "Delivery"): the
//! durable inbox and the pipeline that fills it.
//!
//! ```text
//!  start ─▶ load the inbox watermark, next position and confirmations ─▶ replay every
//!           unconfirmed entry as an event (pages of 256) ─▶ Ready
//!
//!  <message> ─▶ parsed once ─▶ queue ─▶ batch (≤ max_batch stanzas, arrival order):
//!      1. resolve each sender's canonical address (LID when known: attribute, or the map)
//!      2. load what the batch needs (dedup keys, sessions, identities, signed pre-keys);
//!         each stanza asks once, re-checks only when a load was answered, and keeps what it
//!         found cached (pinned) until its batch is processed
//!      3. per stanza, in order: already processed? → receipt again, no event
//!                               decrypt → unpad → decode → unwrap → inbox row
//!                               failed  → retry receipt (keys from the 2nd) + ack, or after
//!                                         the last retry an `Undecryptable` inbox row
//!      4. ONE commit: ratchets, consumed pre-keys, identities, inbox rows, dedup keys
//!      5. durable → receipts/acks leave, `Message`/`Undecryptable` events are emitted
//!  (the next batch may start while a commit is in flight: its effects follow in order)
//!
//!  Confirm(positions) ─▶ markers (or the watermark moves); unconfirmed entries are
//!  replayed after a restart.
//! ```

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use prost::Message as _;
use tracing::{debug, info, warn};

use super::address::{Address, Namespace, UserId};
use super::ctx::Ctx;
use super::devices::Devices;
use super::ids::MessageId;
use super::padding;
use super::prekeys::PreKeys;
use super::rows::{self, InboxKind, InboxRow, ProcessedRow, meta};
use super::sessions::{self, DecryptFailure};
use super::stanza::{self, DeliveryType, Enc, EncKind, Envelope};
use super::store::{Deferred, RangeFor};
use super::types::{InboxPos, IncomingMessage, Undecryptable};
use crate::binary::{Jid, Node};
use crate::connection::Event;
use crate::proto::message::Message;
use crate::records::{RecordRead, Table};

/// How the inbox behaves.
#[derive(Clone, Debug)]
pub struct InboxConfig {
    /// Stanzas decrypted and committed together (group commit).
    pub max_batch: usize,
    /// Confirm every message as it is emitted (at-most-once for the application). Off by
    /// default: the application confirms.
    pub auto_confirm: bool,
    /// Retry receipts sent for one message before it is reported undecryptable (whatsmeow:
    /// 4).
    pub max_retries: u32,
    /// Delivery receipts: `Active` always, `Inactive` always, or follow the presence the
    /// application set (whatsmeow's default: inactive until `available`).
    pub receipts: ReceiptMode,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            max_batch: 512,
            auto_confirm: false,
            max_retries: 4,
            receipts: ReceiptMode::FollowPresence,
        }
    }
}

/// Which delivery receipts to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptMode {
    /// Plain delivery receipts (two grey ticks).
    Active,
    /// `type="inactive"` receipts.
    Inactive,
    /// Active while the application's presence is `available`, else inactive.
    FollowPresence,
}

/// Replay of unconfirmed entries at start.
#[derive(Debug, PartialEq, Eq)]
enum Replay {
    /// Not started.
    Idle,
    /// Waiting for the counters and the confirmation markers.
    Counters,
    /// Waiting for a page of entries from this position.
    Page(u64),
    /// Done: new stanzas may be processed.
    Done,
}

/// A queued `<message>`: parsed on arrival, then the records its decryption needs.
#[derive(Debug)]
struct Queued {
    node: Node,
    env: Result<Envelope, u16>,
    /// The records it needs, once its sender's address is resolved.
    keys: Option<Vec<(Table, Bytes)>>,
    /// Every record it needs is cached (and pinned).
    ready: bool,
}

/// The inbox sub-machine.
#[derive(Debug)]
pub(crate) struct Inbox {
    config: InboxConfig,
    queue: VecDeque<Queued>,
    /// The queue length and the loads answered at the last look at the batch: nothing to do
    /// until one of them moves.
    looked: (usize, u64),
    /// At the last look, a stanza of the batch still waited for a record.
    waiting: bool,
    replay: Replay,
    /// The next position to assign (known once the counters are loaded).
    next: u64,
    /// Every position below is confirmed.
    watermark: u64,
    /// Confirmed positions at or above the watermark.
    confirmed: BTreeSet<u64>,
    /// The requested read in progress: (its start, the next position to emit).
    reading: Option<(u64, u64)>,
    /// Requested reads waiting for it.
    reads: VecDeque<u64>,
    /// Retry receipts sent per (sender address, message id), this process.
    retries: std::collections::BTreeMap<(String, String), u32>,
    /// The application's presence is `available`.
    pub(crate) available: bool,
}

const PAGE: u32 = 256;

impl Inbox {
    pub(crate) fn new(config: InboxConfig) -> Self {
        Self {
            config,
            queue: VecDeque::new(),
            looked: (0, u64::MAX),
            waiting: false,
            replay: Replay::Idle,
            next: 0,
            watermark: 0,
            confirmed: BTreeSet::new(),
            reading: None,
            reads: VecDeque::new(),
            retries: std::collections::BTreeMap::new(),
            available: false,
        }
    }

    /// Starts the replay of unconfirmed entries (once per process).
    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_>) {
        if self.replay != Replay::Idle {
            return;
        }
        self.replay = Replay::Counters;
        ctx.want([
            (Table::Meta, Bytes::from_static(meta::INBOX_NEXT.as_bytes())),
            (
                Table::Meta,
                Bytes::from_static(meta::INBOX_CONFIRMED.as_bytes()),
            ),
        ]);
        ctx.range(
            RecordRead::prefix(
                Table::Meta,
                Bytes::from_static(meta::CONFIRM_PREFIX),
                u32::MAX,
            ),
            RangeFor::InboxReplay,
        );
    }

    /// A range read of the replay.
    pub(crate) fn on_replay_rows(&mut self, ctx: &mut Ctx<'_>, rows: Vec<(Bytes, Bytes)>) {
        match self.replay {
            Replay::Counters => {
                let read = |ctx: &mut Ctx<'_>, name: &str| {
                    ctx.get(Table::Meta, name.as_bytes())
                        .flatten()
                        .and_then(|v| rows::read_u64(&v))
                        .unwrap_or(0)
                };
                self.next = read(ctx, meta::INBOX_NEXT);
                self.watermark = read(ctx, meta::INBOX_CONFIRMED);
                self.confirmed = rows
                    .iter()
                    .filter_map(|(k, _)| rows::read_u64(k.strip_prefix(meta::CONFIRM_PREFIX)?))
                    .filter(|p| *p >= self.watermark)
                    .collect();
                self.next_page(ctx, self.watermark);
            }
            Replay::Page(from) => {
                let n = rows.len();
                let mut last = from;
                for (k, v) in rows {
                    let Some(pos) = rows::read_u64(&k) else {
                        continue;
                    };
                    last = pos;
                    if pos >= self.next {
                        self.next = pos + 1; // an entry written after the counter (defensive)
                    }
                    if self.confirmed.contains(&pos) {
                        continue;
                    }
                    match rows::decode::<InboxRow>(&v).and_then(|r| event_of(pos, &r, false)) {
                        Some(event) => ctx.event(event),
                        None => warn!(pos, "an inbox entry does not decode; skipping it"),
                    }
                }
                if n < PAGE as usize {
                    debug!(next = self.next, "inbox replay done");
                    self.replay = Replay::Done;
                } else {
                    self.next_page(ctx, last + 1);
                }
            }
            Replay::Idle | Replay::Done => {}
        }
    }

    fn next_page(&mut self, ctx: &mut Ctx<'_>, from: u64) {
        self.replay = Replay::Page(from);
        ctx.range(
            RecordRead::Range {
                table: Table::Inbox,
                start: rows::pos_key(from),
                end: Bytes::new(),
                limit: PAGE,
            },
            RangeFor::InboxReplay,
        );
    }

    /// Emits every entry from `from` on, confirmed or not (a consumer catching up from a
    /// position it remembers), then `Event::InboxReplayed`. Reads run one after the other.
    pub(crate) fn read_from(&mut self, ctx: &mut Ctx<'_>, from: u64) {
        self.reads.push_back(from);
        if self.reading.is_none() {
            self.next_read(ctx);
        }
    }

    fn next_read(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(from) = self.reads.pop_front() {
            self.reading = Some((from, from));
            self.read_page(ctx, from);
        }
    }

    fn read_page(&mut self, ctx: &mut Ctx<'_>, from: u64) {
        ctx.range(
            RecordRead::Range {
                table: Table::Inbox,
                start: rows::pos_key(from),
                end: Bytes::new(),
                limit: PAGE,
            },
            RangeFor::InboxRead,
        );
    }

    /// A page of a requested read.
    pub(crate) fn on_read_rows(&mut self, ctx: &mut Ctx<'_>, rows: Vec<(Bytes, Bytes)>) {
        let Some((start, mut next)) = self.reading else {
            return;
        };
        let n = rows.len();
        for (k, v) in rows {
            let Some(pos) = rows::read_u64(&k) else {
                continue;
            };
            next = pos + 1;
            match rows::decode::<InboxRow>(&v).and_then(|r| event_of(pos, &r, true)) {
                Some(event) => ctx.event(event),
                None => warn!(pos, "an inbox entry does not decode; skipping it"),
            }
        }
        if n >= PAGE as usize {
            self.reading = Some((start, next));
            self.read_page(ctx, next);
            return;
        }
        // Entries committed while the read ran (after its last page) come as live events.
        let next = next.max(self.next).max(start);
        ctx.event(Event::InboxReplayed {
            from: InboxPos(start),
            next: InboxPos(next),
        });
        self.reading = None;
        self.next_read(ctx);
    }

    /// A `<message>` stanza arrived.
    pub(crate) fn on_message(&mut self, node: Node) {
        let env = Envelope::parse(&node).map_err(|error| {
            warn!(%error, "refusing a malformed message stanza");
            error.nack_code()
        });
        let ready = env.is_err();
        self.queue.push_back(Queued {
            node,
            env,
            keys: None,
            ready,
        });
    }

    /// Records were dropped from the cache and loads forgotten: every queued stanza looks
    /// for its records again.
    pub(crate) fn on_store_failed(&mut self) {
        for q in &mut self.queue {
            q.ready = q.env.is_err();
        }
        self.looked = (0, u64::MAX);
    }

    /// Whether a batch is waiting (for loads).
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Processes the next batch when everything it needs is loaded.
    pub(crate) fn poll(&mut self, ctx: &mut Ctx<'_>, devices: &mut Devices) {
        if self.replay != Replay::Done {
            return;
        }
        while !self.queue.is_empty() {
            let n = self.queue.len().min(self.config.max_batch.max(1));
            let look = (n, ctx.loads_answered());
            if look == self.looked {
                return;
            }
            // No load answered since the last look: only the stanzas that arrived since can
            // have changed (the others still wait for what they asked for).
            let from = if look.1 == self.looked.1 {
                self.looked.0.min(n)
            } else {
                0
            };
            let earlier_waiting = from > 0 && self.waiting;
            let rest_ready = self.gather(ctx, from, n);
            self.waiting = earlier_waiting || !rest_ready;
            self.looked = look;
            if self.waiting {
                return;
            }
            // 3. Process in arrival order; one commit for all of it.
            let batch: Vec<Queued> = self.queue.drain(..n).collect();
            for q in batch {
                match q.env {
                    Ok(env) => self.process(ctx, devices, &q.node, &env),
                    Err(code) => {
                        if let Some(nack) = stanza::message_ack(&q.node, Some(code)) {
                            ctx.send(nack);
                        }
                    }
                }
            }
            info!(stanzas = n, "inbox batch processed");
            // What the rest needs is pinned again as it is looked at.
            ctx.unpin_all();
            self.looked = (0, u64::MAX);
        }
    }

    /// Steps 1 and 2 for the queued stanzas `from..n`: asks for what is missing; `true` when
    /// every record they need is cached.
    fn gather(&mut self, ctx: &mut Ctx<'_>, from: usize, n: usize) -> bool {
        let mut all = true;
        for i in from..n {
            let Some(q) = self.queue.get(i) else { break };
            if q.ready {
                continue;
            }
            let keys = match (&q.env, &q.keys) {
                (Err(_), _) => continue,
                (Ok(_), Some(keys)) => keys.clone(),
                (Ok(env), None) => {
                    // 1. The sender's LID mapping, where the stanza does not carry the LID.
                    let map = UserId::of(&env.sender().to_non_ad())
                        .filter(|u| u.ns == Namespace::Pn && env.alt_lid.is_none())
                        .map(|u| Devices::map_key(&u));
                    if let Some(map) = map
                        && !ctx.want_pinned(&[map])
                    {
                        all = false;
                        continue;
                    }
                    let keys = self.needs(ctx, env);
                    if let Some(q) = self.queue.get_mut(i) {
                        q.keys = Some(keys.clone());
                    }
                    keys
                }
            };
            // 2. Everything the decryption needs.
            let ready = ctx.want_pinned(&keys);
            if let Some(q) = self.queue.get_mut(i) {
                q.ready = ready;
            }
            all &= ready;
        }
        all
    }

    /// The records the decryption of one stanza needs.
    fn needs(&self, ctx: &mut Ctx<'_>, env: &Envelope) -> Vec<(Table, Bytes)> {
        let Some(from) = self.sender_address(ctx, env) else {
            return Vec::new();
        };
        let mut keys = vec![(Table::Processed, dedup_key(ctx, env, &from))];
        let group = env.is_group().then(|| env.from.to_non_ad());
        for enc in &env.encs {
            keys.extend(sessions::needs(
                ctx,
                &from,
                pn_form(env),
                enc,
                group.as_ref(),
            ));
        }
        keys
    }

    /// The sender's canonical address: the LID form when known.
    fn sender_address(&self, ctx: &mut Ctx<'_>, env: &Envelope) -> Option<Address> {
        let sender = Address::of(env.sender())?;
        if sender.user.ns != Namespace::Pn {
            return Some(sender);
        }
        if let Some(lid) = env
            .alt_lid
            .as_ref()
            .and_then(|j| UserId::of(&j.to_non_ad()))
        {
            return Some(sender.with_user(&lid));
        }
        match Devices::lid_of(ctx, &sender.user) {
            Some(Some(lid)) => Some(sender.with_user(&lid)),
            _ => Some(sender),
        }
    }

    fn process(&mut self, ctx: &mut Ctx<'_>, devices: &mut Devices, node: &Node, env: &Envelope) {
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
    fn store_message(
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
        let pos = self.next;
        self.next += 1;
        let row = InboxRow {
            kind: Some(InboxKind::Message as i32),
            id: Some(env.id.clone()),
            chat: Some(chat.to_string()),
            sender: Some(env.sender().to_string()),
            sender_alt: alt_of(env).map(|j| j.to_string()),
            from_me: Some(own),
            timestamp: Some(env.t),
            push_name: env.notify.clone(),
            offline: Some(env.offline),
            message: Some(raw.clone()),
            reason: None,
            retry_count: None,
            participant: env.participant.as_ref().map(ToString::to_string),
            message_type: Some(env.message_type.clone()),
        };
        ctx.put(Table::Inbox, rows::pos_key(pos), rows::encode(&row));
        ctx.put(
            Table::Meta,
            Bytes::from_static(meta::INBOX_NEXT.as_bytes()),
            rows::u64_value(self.next),
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
    fn on_failure(
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

    fn store_undecryptable(
        &mut self,
        ctx: &mut Ctx<'_>,
        node: &Node,
        env: &Envelope,
        key: &Bytes,
        reason: &str,
        retry_count: u32,
    ) {
        let pos = self.next;
        self.next += 1;
        let chat = if env.is_group() {
            env.from.to_non_ad()
        } else {
            env.recipient
                .clone()
                .unwrap_or_else(|| env.from.to_non_ad())
        };
        let row = InboxRow {
            kind: Some(InboxKind::Undecryptable as i32),
            id: Some(env.id.clone()),
            chat: Some(chat.to_string()),
            sender: Some(env.sender().to_string()),
            sender_alt: alt_of(env).map(|j| j.to_string()),
            from_me: None,
            timestamp: Some(env.t),
            push_name: env.notify.clone(),
            offline: Some(env.offline),
            message: None,
            reason: Some(reason.to_owned()),
            retry_count: Some(retry_count),
            participant: env.participant.as_ref().map(ToString::to_string),
            message_type: Some(env.message_type.clone()),
        };
        ctx.put(Table::Inbox, rows::pos_key(pos), rows::encode(&row));
        ctx.put(
            Table::Meta,
            Bytes::from_static(meta::INBOX_NEXT.as_bytes()),
            rows::u64_value(self.next),
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

    fn mark_processed(&mut self, ctx: &mut Ctx<'_>, env: &Envelope, key: &Bytes, pos: Option<u64>) {
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
    fn acknowledge(&self, ctx: &mut Ctx<'_>, node: &Node, env: &Envelope, deferred: bool) {
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

    /// The application confirms entries: they are not emitted again after a restart.
    pub(crate) fn confirm(&mut self, ctx: &mut Ctx<'_>, positions: &[InboxPos]) {
        for InboxPos(pos) in positions {
            if *pos < self.watermark || *pos >= self.next || !self.confirmed.insert(*pos) {
                continue;
            }
            ctx.put(Table::Meta, rows::confirm_key(*pos), Bytes::new());
        }
        // Move the watermark over the confirmed prefix and drop its markers.
        let before = self.watermark;
        while self.confirmed.remove(&self.watermark) {
            ctx.delete(Table::Meta, rows::confirm_key(self.watermark));
            self.watermark += 1;
        }
        if self.watermark != before {
            ctx.put(
                Table::Meta,
                Bytes::from_static(meta::INBOX_CONFIRMED.as_bytes()),
                rows::u64_value(self.watermark),
            );
        }
    }

    /// Positions not yet confirmed, for diagnostics.
    pub(crate) fn unconfirmed(&self) -> u64 {
        self.next
            .saturating_sub(self.watermark)
            .saturating_sub(self.confirmed.len() as u64)
    }
}

/// The phone-number form of the sender, when the stanza names it (lookups accept both).
fn pn_form(env: &Envelope) -> Option<Address> {
    let sender = Address::of(env.sender())?;
    if sender.user.ns == Namespace::Pn {
        return Some(sender);
    }
    let pn = env
        .alt_pn
        .as_ref()
        .and_then(|j| UserId::of(&j.to_non_ad()))?;
    Some(sender.with_user(&pn))
}

/// The sender's other address form, as the stanza names it.
fn alt_of(env: &Envelope) -> Option<Jid> {
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

fn is_own(ctx: &Ctx<'_>, user: &UserId) -> bool {
    let Some(device) = ctx.creds.device.as_ref() else {
        return false;
    };
    device.jid.user_str() == user.user && user.ns == Namespace::Pn
        || device
            .lid
            .as_ref()
            .is_some_and(|l| l.user_str() == user.user && user.ns == Namespace::Lid)
}

fn dedup_key(_ctx: &Ctx<'_>, env: &Envelope, from: &Address) -> Bytes {
    let chat = if env.is_group() {
        env.from.to_non_ad().to_string()
    } else {
        String::new()
    };
    rows::processed_key(&rows::dedup_hash(&chat, &from.user.to_string(), &env.id))
}

/// Whether a decoded message has content for the application (beyond a sender key and
/// message metadata).
fn has_content(message: &Message) -> bool {
    let mut rest = message.clone();
    rest.sender_key_distribution_message = None;
    rest.message_context_info = None;
    rest != Message::default()
}

/// Unpads (for `v="2"`) and decodes the content; `Err` carries the nack code.
fn decode_content(version: u8, plaintext: &[u8]) -> Result<(Message, Bytes), u16> {
    let body = if version >= 3 {
        plaintext
    } else {
        padding::unpad(plaintext).map_err(|_| 491u16)?
    };
    let message = Message::decode(body).map_err(|_| 491u16)?;
    Ok((message, Bytes::copy_from_slice(body)))
}

fn nack(ctx: &mut Ctx<'_>, node: &Node, code: u16) {
    if let Some(n) = stanza::message_ack(node, Some(code)) {
        ctx.send(n);
    }
}

fn nack_deferred(ctx: &mut Ctx<'_>, node: &Node, code: u16) {
    if let Some(n) = stanza::message_ack(node, Some(code)) {
        ctx.defer(Deferred::Send(n));
    }
}

fn nack_deferred_plain(ctx: &mut Ctx<'_>, node: &Node) {
    if let Some(n) = stanza::message_ack(node, None) {
        ctx.defer(Deferred::Send(n));
    }
}

/// The event for a stored inbox row (`replayed`: for a requested read).
fn event_of(pos: u64, row: &InboxRow, replayed: bool) -> Option<Event> {
    let id = MessageId(row.id.clone()?);
    let chat: Jid = row.chat.as_deref()?.parse().ok()?;
    let sender: Jid = row.sender.as_deref()?.parse().ok()?;
    let timestamp = row.timestamp.unwrap_or(0);
    match InboxKind::try_from(row.kind.unwrap_or(0)).ok()? {
        InboxKind::Message => {
            let raw = row.message.clone().unwrap_or_default();
            Some(Event::Message(Box::new(IncomingMessage {
                inbox: InboxPos(pos),
                id,
                chat,
                sender,
                sender_alt: row.sender_alt.as_deref().and_then(|s| s.parse().ok()),
                from_me: row.from_me.unwrap_or(false),
                timestamp,
                push_name: row.push_name.clone(),
                offline: row.offline.unwrap_or(false),
                message_type: row.message_type.clone().unwrap_or_else(|| "text".into()),
                message: IncomingMessage::decode_content(&raw),
                raw,
                replayed,
            })))
        }
        InboxKind::Undecryptable => Some(Event::Undecryptable(Box::new(Undecryptable {
            inbox: InboxPos(pos),
            id,
            chat,
            sender,
            timestamp,
            reason: row.reason.clone().unwrap_or_default(),
            retry_count: row.retry_count.unwrap_or(0),
            replayed,
        }))),
    }
}
