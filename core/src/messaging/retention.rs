//! Retention: what the messaging layer keeps, and for how long (`DESIGN.md` §10: outgoing
//! plaintexts kept for retry receipts "14 days or a configured count"; whatsmeow keeps its
//! dedup hashes 14 days, the time the server keeps undelivered stanzas).
//!
//! ```text
//!  start, then every `interval` ─▶ one pass, in pages of PAGE rows:
//!     dedup keys recorded more than `processed` ago      (index: `d` ‖ day ‖ hash)
//!     outbox rows created more than `outbox` ago         (index: `t/` ‖ time ‖ id)
//!     inbox entries confirmed and older than `inbox`     (from the pruned watermark)
//!  each page: one commit of deletes; a full page asks for the next one
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::debug;

use super::ctx::Ctx;
use super::rows::{self, InboxRow, meta};
use super::store::RangeFor;
use crate::records::{RecordRead, Table};

/// How long things are kept.
#[derive(Clone, Debug)]
pub struct RetentionConfig {
    /// Dedup keys of processed messages (a redelivery older than this is not recognised).
    pub processed: Duration,
    /// Outgoing messages (retry receipts older than this cannot be answered).
    pub outbox: Duration,
    /// Confirmed inbox entries (a consumer can catch up this far back).
    pub inbox: Duration,
    /// How often to prune.
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            processed: Duration::from_secs(14 * DAY),
            outbox: Duration::from_secs(14 * DAY),
            inbox: Duration::from_secs(14 * DAY),
            interval: Duration::from_secs(6 * 3600),
        }
    }
}

const PAGE: u32 = 512;

/// Which part a range read answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Dedup index rows.
    Processed,
    /// Outbox time index rows.
    Outbox,
    /// The inbox, from the pruned watermark.
    Inbox,
}

/// The retention sub-machine.
#[derive(Debug)]
pub(crate) struct Retention {
    config: RetentionConfig,
    next_run: Option<Instant>,
    /// Parts of the current pass still running.
    running: u8,
    /// The inbox part waits for its watermarks.
    inbox_waiting: bool,
}

/// The outbox's time-index key of a message created at `unix` (seconds).
pub(crate) fn outbox_time_key(unix: u64, id: &str) -> Bytes {
    let mut k = b"t/".to_vec();
    k.extend_from_slice(&unix.to_be_bytes());
    k.push(b'/');
    k.extend_from_slice(id.as_bytes());
    Bytes::from(k)
}

impl Retention {
    pub(crate) fn new(config: RetentionConfig) -> Self {
        Self {
            config,
            next_run: None,
            running: 0,
            inbox_waiting: false,
        }
    }

    /// Schedules the first pass (soon after start).
    pub(crate) fn start(&mut self, now: Instant) {
        self.next_run.get_or_insert(now + Duration::from_secs(30));
    }

    /// When the next pass is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.running > 0 {
            return None;
        }
        self.next_run
    }

    /// Starts a pass if one is due.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.running > 0 || self.next_run.is_none_or(|at| at > ctx.now) {
            return;
        }
        self.next_run = Some(ctx.now + self.config.interval);
        self.running = 3;
        self.page(ctx, Part::Processed);
        self.page(ctx, Part::Outbox);
        self.page(ctx, Part::Inbox);
    }

    fn page(&mut self, ctx: &mut Ctx<'_>, part: Part) {
        let unix = ctx.unix;
        let read = match part {
            Part::Processed => {
                let cutoff = unix.saturating_sub(self.config.processed.as_secs()) / 86_400;
                let mut end = vec![b'd'];
                end.extend_from_slice(&u32::try_from(cutoff).unwrap_or(u32::MAX).to_be_bytes());
                RecordRead::Range {
                    table: Table::Processed,
                    start: Bytes::from_static(b"d"),
                    end: Bytes::from(end),
                    limit: PAGE,
                }
            }
            Part::Outbox => {
                let cutoff = unix.saturating_sub(self.config.outbox.as_secs());
                let mut end = b"t/".to_vec();
                end.extend_from_slice(&cutoff.to_be_bytes());
                RecordRead::Range {
                    table: Table::Outbox,
                    start: Bytes::from_static(b"t/"),
                    end: Bytes::from(end),
                    limit: PAGE,
                }
            }
            Part::Inbox => {
                self.inbox_waiting = true;
                self.poll(ctx);
                return;
            }
        };
        ctx.range(read, RangeFor::Retention(part));
    }

    /// Starts the inbox part once its watermarks are loaded.
    pub(crate) fn poll(&mut self, ctx: &mut Ctx<'_>) {
        if !self.inbox_waiting {
            return;
        }
        if !ctx.want([
            (
                Table::Meta,
                Bytes::from_static(meta::INBOX_PRUNED.as_bytes()),
            ),
            (
                Table::Meta,
                Bytes::from_static(meta::INBOX_CONFIRMED.as_bytes()),
            ),
        ]) {
            return;
        }
        self.inbox_waiting = false;
        let (pruned, confirmed) = self.watermarks(ctx);
        if pruned < confirmed {
            self.inbox_page(ctx, pruned);
        } else {
            self.running = self.running.saturating_sub(1);
        }
    }

    fn watermarks(&self, ctx: &mut Ctx<'_>) -> (u64, u64) {
        let read = |ctx: &mut Ctx<'_>, name: &str| {
            ctx.get(Table::Meta, name.as_bytes())
                .flatten()
                .and_then(|v| rows::read_u64(&v))
                .unwrap_or(0)
        };
        (
            read(ctx, meta::INBOX_PRUNED),
            read(ctx, meta::INBOX_CONFIRMED),
        )
    }

    /// A page of rows to prune.
    pub(crate) fn on_rows(
        &mut self,
        ctx: &mut Ctx<'_>,
        part: Part,
        rows_read: Vec<(Bytes, Bytes)>,
    ) {
        match part {
            Part::Processed => {
                let n = rows_read.len();
                for (index, _) in &rows_read {
                    if let Some(hash) = index.get(5..21).and_then(|h| <[u8; 16]>::try_from(h).ok())
                    {
                        ctx.delete(Table::Processed, rows::processed_key(&hash));
                    }
                    ctx.delete(Table::Processed, index.clone());
                }
                debug!(pruned = n, "old dedup keys pruned");
                self.continue_or_done(ctx, part, n);
            }
            Part::Outbox => {
                let n = rows_read.len();
                for (index, _) in &rows_read {
                    if let Some(id) = index.get(11..).and_then(|i| std::str::from_utf8(i).ok()) {
                        ctx.delete(Table::Outbox, super::outcome::row_key(id));
                    }
                    ctx.delete(Table::Outbox, index.clone());
                }
                debug!(pruned = n, "old outgoing messages pruned");
                self.continue_or_done(ctx, part, n);
            }
            Part::Inbox => self.prune_inbox(ctx, rows_read),
        }
    }

    /// A page of inbox entries from the pruned watermark: entries both confirmed and older
    /// than the cutoff go, the first that is not ends the pass.
    fn prune_inbox(&mut self, ctx: &mut Ctx<'_>, rows_read: Vec<(Bytes, Bytes)>) {
        let (pruned, confirmed) = self.watermarks(ctx);
        let cutoff = ctx.unix.saturating_sub(self.config.inbox.as_secs());
        let mut next = pruned;
        let mut stop = false;
        for (k, v) in &rows_read {
            let Some(pos) = rows::read_u64(k) else {
                continue;
            };
            let t = rows::decode::<InboxRow>(v)
                .and_then(|r| r.timestamp)
                .unwrap_or(0);
            if pos >= confirmed || t > cutoff {
                stop = true;
                break;
            }
            ctx.delete(Table::Inbox, k.clone());
            next = pos + 1;
        }
        if next != pruned {
            ctx.put(
                Table::Meta,
                Bytes::from_static(meta::INBOX_PRUNED.as_bytes()),
                rows::u64_value(next),
            );
            debug!(
                from = pruned,
                to = next,
                "old confirmed inbox entries pruned"
            );
        }
        if !stop && rows_read.len() >= PAGE as usize {
            self.inbox_page(ctx, next);
        } else {
            self.running = self.running.saturating_sub(1);
        }
    }

    fn inbox_page(&mut self, ctx: &mut Ctx<'_>, from: u64) {
        ctx.range(
            RecordRead::Range {
                table: Table::Inbox,
                start: rows::pos_key(from),
                end: Bytes::new(),
                limit: PAGE,
            },
            RangeFor::Retention(Part::Inbox),
        );
    }

    fn continue_or_done(&mut self, ctx: &mut Ctx<'_>, part: Part, n: usize) {
        if n >= PAGE as usize {
            self.page(ctx, part);
        } else {
            self.running = self.running.saturating_sub(1);
        }
    }
}
