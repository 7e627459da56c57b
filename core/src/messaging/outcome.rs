//! How a send ended, durably, and told to the application at least once (issue 13: a send
//! whose outbox row was durable always ends in a typed event, crash or not).
//!
//! ```text
//!  ack / nack / give up ─▶ commit: row state (Acked | Failed + why), pending marker kept
//!        │ durable
//!        ▼
//!  Event::Sent | Event::SendFailed queued ─▶ the driver takes it (poll_event)
//!        │                                          │
//!        │ crash before it is taken                 ▼
//!        ▼                                  marker deleted with the next commit that
//!                                           writes anything else, or alone when no
//!                                           send waits (or at shutdown)
//!  restart: the marker and an Acked/Failed row
//!        ─▶ the same event again (same id, same t or reason)
//! ```
//!
//! The guarantee is "at least once": a crash between the driver taking the event and the
//! marker's deletion being durable emits it once more after the restart, with the same id.

use bytes::Bytes;
use tracing::{info, warn};

use super::ctx::Ctx;
use super::ids::MessageId;
use super::rows::{self, OutboxRow, OutboxState, StoredFailure};
use super::store::Deferred;
use super::types::SendError;
use crate::binary::Jid;
use crate::connection::Event;
use crate::records::Table;

/// Outcomes the driver has taken whose pending markers are still to be deleted.
#[derive(Debug, Default)]
pub(crate) struct Reported {
    ids: Vec<String>,
}

impl Reported {
    /// The application (through the driver) has the outcome of `id`.
    pub(crate) fn push(&mut self, id: &str) {
        self.ids.push(id.to_owned());
    }

    /// Deletes the markers of reported outcomes in the current commit when it writes
    /// something else anyway, holds many of them, or `force` (nothing waits to be sent, or a
    /// shutdown): a deletion never costs a waiting send a transaction of its own before its
    /// stanza (it cost the next send a second fsync). A marker deleted late only means the
    /// event may be emitted once more after a crash, which the at-least-once contract allows.
    pub(crate) fn flush(&mut self, ctx: &mut Ctx<'_>, force: bool) {
        if self.ids.is_empty() || !(force || ctx.writes_pending() || self.ids.len() >= 256) {
            return;
        }
        for id in self.ids.drain(..) {
            ctx.delete(Table::Outbox, pending_key(&id));
        }
    }
}

/// The server acked `id`: the row becomes `Acked`; `Sent` follows once that is durable.
pub(crate) fn acked(
    ctx: &mut Ctx<'_>,
    id: &str,
    row: OutboxRow,
    to: Jid,
    t: Option<u64>,
    attempts: u32,
) {
    let t = t.unwrap_or(ctx.unix);
    write(ctx, id, row, OutboxState::Acked, Some(t), attempts, None);
    ctx.defer(Deferred::Event(Event::Sent {
        id: MessageId(id.to_owned()),
        to,
        t,
    }));
}

/// `id` will not be sent: the row becomes `Failed` with why; `SendFailed` follows once that is
/// durable.
pub(crate) fn failed(ctx: &mut Ctx<'_>, id: &str, row: OutboxRow, attempts: u32, error: SendError) {
    warn!(%id, %error, "message not sent");
    write(
        ctx,
        id,
        row,
        OutboxState::Failed,
        None,
        attempts,
        Some(&error),
    );
    ctx.defer(Deferred::Event(Event::SendFailed {
        id: MessageId(id.to_owned()),
        reason: error,
    }));
}

/// At restart, a pending marker whose row already ended: its event again. Returns `false`
/// when the row has not ended (the caller resumes it).
pub(crate) fn replay(ctx: &mut Ctx<'_>, id: &str, row: &OutboxRow) -> bool {
    let event = match OutboxState::try_from(row.state.unwrap_or(0)) {
        Ok(OutboxState::Acked) => {
            let Some(to) = row.to.as_deref().and_then(|t| t.parse().ok()) else {
                ctx.delete(Table::Outbox, pending_key(id));
                return true;
            };
            Event::Sent {
                id: MessageId(id.to_owned()),
                to,
                t: row.server_t.or(row.created_at).unwrap_or(ctx.unix),
            }
        }
        Ok(OutboxState::Failed) => Event::SendFailed {
            id: MessageId(id.to_owned()),
            reason: row
                .failure
                .as_ref()
                .map(StoredFailure::to_error)
                .unwrap_or_else(|| SendError::Invalid("the reason was not recorded".into())),
        },
        _ => return false,
    };
    info!(%id, "telling the application again how a send ended (it may not have heard)");
    ctx.event(event);
    true
}

/// Writes `row` with a new state. The stanza is dropped (not needed once acked or failed); the
/// plaintext stays for retry receipts; the pending marker stays until the outcome is taken.
fn write(
    ctx: &mut Ctx<'_>,
    id: &str,
    mut row: OutboxRow,
    state: OutboxState,
    server_t: Option<u64>,
    attempts: u32,
    failure: Option<&SendError>,
) {
    row.state = Some(state as i32);
    if server_t.is_some() {
        row.server_t = server_t;
    }
    row.attempts = Some(attempts);
    row.stanza = None;
    row.failure = failure.map(StoredFailure::from_error);
    ctx.put(Table::Outbox, row_key(id), rows::encode(&row));
}

/// The outbox row of `id`.
pub(crate) fn row_key(id: &str) -> Bytes {
    Bytes::from(format!("m/{id}"))
}

/// The marker of a send whose outcome the application has not taken yet.
pub(crate) fn pending_key(id: &str) -> Bytes {
    Bytes::from(format!("p/{id}"))
}

impl StoredFailure {
    fn from_error(error: &SendError) -> Self {
        let (kind, code, detail, device) = match error {
            SendError::Nack { code, .. } => (1, u32::from(*code), String::new(), String::new()),
            SendError::Timeout { attempts } => (2, *attempts, String::new(), String::new()),
            SendError::NoDevices(s) => (3, 0, s.clone(), String::new()),
            SendError::InvalidRecipient(s) => (4, 0, s.clone(), String::new()),
            SendError::Invalid(s) => (5, 0, s.clone(), String::new()),
            SendError::DeviceUnreachable { device, reason } => {
                (6, 0, reason.clone(), device.clone())
            }
            SendError::Stopped(s) => (7, 0, s.clone(), String::new()),
        };
        Self {
            kind: Some(kind),
            code: Some(code),
            detail: Some(detail),
            device: Some(device),
        }
    }

    fn to_error(&self) -> SendError {
        let detail = self.detail.clone().unwrap_or_default();
        let code = self.code.unwrap_or(0);
        match self.kind.unwrap_or(0) {
            1 => SendError::nack(u16::try_from(code).unwrap_or(u16::MAX)),
            2 => SendError::Timeout { attempts: code },
            3 => SendError::NoDevices(detail),
            4 => SendError::InvalidRecipient(detail),
            6 => SendError::DeviceUnreachable {
                device: self.device.clone().unwrap_or_default(),
                reason: detail,
            },
            7 => SendError::Stopped(detail),
            _ => SendError::Invalid(detail),
        }
    }
}
