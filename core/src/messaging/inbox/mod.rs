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

mod gather;
mod receive;
mod replay;

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use tracing::{info, warn};

use super::ctx::Ctx;
use super::devices::Devices;
use super::rows::{self, meta};
use super::stanza::{self, Envelope};
use super::types::InboxPos;
use crate::binary::Node;
use crate::records::Table;

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
