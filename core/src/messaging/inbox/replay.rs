//! Replaying the durable inbox: unconfirmed entries at start, and the reads an application
//! asks for (one at a time, in pages).

use bytes::Bytes;
use tracing::{debug, warn};

use super::{Inbox, PAGE, Replay};
use crate::binary::Jid;
use crate::connection::Event;
use crate::messaging::ctx::Ctx;
use crate::messaging::ids::MessageId;
use crate::messaging::rows::{self, InboxKind, InboxRow, meta};
use crate::messaging::store::RangeFor;
use crate::messaging::types::{InboxPos, IncomingMessage, Undecryptable};
use crate::records::{RecordRead, Table};

impl Inbox {
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

    pub(super) fn next_page(&mut self, ctx: &mut Ctx<'_>, from: u64) {
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

    pub(super) fn next_read(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(from) = self.reads.pop_front() {
            self.reading = Some((from, from));
            self.read_page(ctx, from);
        }
    }

    pub(super) fn read_page(&mut self, ctx: &mut Ctx<'_>, from: u64) {
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
}

/// The event for a stored inbox row (`replayed`: for a requested read).
pub(super) fn event_of(pos: u64, row: &InboxRow, replayed: bool) -> Option<Event> {
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
