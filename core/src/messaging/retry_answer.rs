//! Answering retry receipts for messages this device sent (`messaging.md` §6.6).
//!
//! ```text
//!  <receipt type="retry" count=n> ─▶ RetryJob (keys? registration?) ─▶ past the limit:
//!       │                                               SendFailed{DeviceUnreachable}, once
//!       ▼
//!  load the outbox row and the device's session
//!       ├─ keys in the receipt ─▶ new session from them
//!       ├─ no session / other registration / count ≥ 2 ─▶ bundle fetch, wait
//!       ▼
//!  kept plaintext (deviceSentMessage for own devices; with the SKDM in a group)
//!       ─▶ pad + encrypt for that one device ─▶ commit ─▶ durable ─▶ resend (same id)
//! ```

use std::collections::BTreeSet;

use prost::Message as _;
use tracing::{info, warn};

use super::address::Address;
use super::bundle::{self, bundle_from_keys, registration_of};
use super::ctx::Ctx;
use super::devices::Devices;
use super::group_send;
use super::groups;
use super::ids::MessageId;
use super::outbox::{self, Step};
use super::outcome::row_key;
use super::padding;
use super::rows::{self, OutboxRow};
use super::sessions::{self, RawBundle};
use super::stanza::{self, EncKind, jid_attr};
use super::store::Deferred;
use super::types::SendError;
use crate::binary::{Jid, Node};
use crate::connection::Event;
use crate::proto::message::Message;
use crate::records::Table;

/// A retry receipt to answer.
#[derive(Debug)]
pub(super) struct RetryJob {
    pub(super) id: String,
    /// The device that could not decrypt.
    pub(super) requester: Jid,
    /// The group, for a group message.
    group: Option<Jid>,
    /// The receipt's retry count.
    pub(super) count: u32,
    keys: Option<RawBundle>,
    registration: Option<u32>,
    pub(super) bundle_asked: bool,
    /// The row, once loaded.
    row_loaded: bool,
    /// The resend went out (its ack tells whether the server took it).
    pub(super) resent: bool,
    /// The receipt's ack: it leaves after the answer (the resend), on the same stream, so a
    /// connection lost with the resend in flight loses the ack too and the server delivers
    /// the receipt again.
    pub(super) ack: Option<Node>,
}

impl RetryJob {
    /// Reads a `<receipt type="retry">`; `None` when it names no message or device.
    pub(super) fn from_receipt(node: &Node) -> Option<Self> {
        let id = node.attr_str("id")?.to_owned();
        let sender = jid_attr(node, "from")?;
        // In a group the receipt comes from the group, the device is the participant.
        let group = groups::is_group(&sender).then(|| sender.to_non_ad());
        let requester = match &group {
            Some(_) => jid_attr(node, "participant")?,
            None => sender,
        };
        let count = node
            .child("retry")
            .and_then(|r| r.attr_str("count"))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let registration = registration_of(node.child("registration"));
        let keys = node
            .child("keys")
            .and_then(|k| bundle_from_keys(k, registration, requester.device_id()));
        Some(Self {
            id,
            requester,
            group,
            count,
            keys,
            registration,
            bundle_asked: false,
            row_loaded: false,
            resent: false,
            ack: stanza::receipt_ack(node),
        })
    }
}

/// Tells the application that `device` did not get message `id`, and why.
pub(super) fn unreachable(ctx: &mut Ctx<'_>, id: &str, device: &Jid, reason: &str) {
    ctx.defer(Deferred::Event(Event::SendFailed {
        id: MessageId(id.to_owned()),
        reason: SendError::DeviceUnreachable {
            device: device.to_string(),
            reason: reason.to_owned(),
        },
    }));
}

/// Answers one retry receipt: a session (from the receipt's keys or a fresh bundle), then the
/// kept plaintext encrypted for that one device, sent once the session is durable.
pub(super) fn answer(
    ctx: &mut Ctx<'_>,
    _devices: &mut Devices,
    bundles: &mut BTreeSet<Address>,
    job: &mut RetryJob,
) -> Step {
    let Some(addr) = Address::of(&job.requester) else {
        return Step::Done(Ok(()));
    };
    if !ctx.want([
        (Table::Outbox, row_key(&job.id)),
        (Table::Sessions, addr.key()),
    ]) {
        return Step::Wait;
    }
    let Some(row) = ctx
        .get(Table::Outbox, &row_key(&job.id))
        .flatten()
        .and_then(|v| rows::decode::<OutboxRow>(&v))
    else {
        warn!(id = %job.id, from = %job.requester, "retry receipt for a message this device no longer has");
        unreachable(
            ctx,
            &job.id,
            &job.requester,
            "it could not decrypt the message, and the message is no longer kept to send again",
        );
        return Step::Done(Ok(()));
    };
    job.row_loaded = true;
    // A new session: from the receipt's keys, or a fresh bundle when the session is missing,
    // belongs to another registration, or a retry already failed with it.
    if let Some(bundle) = job.keys.take() {
        sessions::process_bundle(ctx, &addr, &bundle);
    } else {
        let registration_changed = job.registration.is_some()
            && sessions::remote_registration(ctx, &addr) != job.registration;
        let need_bundle = sessions::has_session(ctx, &addr) != Some(true)
            || registration_changed
            || job.count >= 2;
        if need_bundle && !job.bundle_asked {
            if !ctx.connected {
                return Step::Wait;
            }
            job.bundle_asked = true;
            if bundles.insert(addr.clone()) {
                let iq = bundle::bundle_query(ctx, vec![addr.jid()]);
                ctx.send(iq);
            }
            return Step::Wait;
        }
        if bundles.contains(&addr) {
            return Step::Wait;
        }
    }
    let Some(message) = row.message.as_deref().and_then(|m| Message::decode(m).ok()) else {
        warn!(id = %job.id, from = %job.requester, "retry receipt for a message whose stored text is missing or damaged");
        unreachable(
            ctx,
            &job.id,
            &job.requester,
            "it could not decrypt the message, and the stored message is damaged",
        );
        return Step::Done(Ok(()));
    };
    let media_type = crate::media::mediatype(&message);
    let to: Option<Jid> = row.to.as_deref().and_then(|t| t.parse().ok());
    let own_user = ctx
        .creds
        .device
        .as_ref()
        .map(|d| d.jid.user_str().to_owned())
        .unwrap_or_default();
    let own_lid = ctx
        .creds
        .device
        .as_ref()
        .and_then(|d| d.lid.as_ref().map(|l| l.user_str().to_owned()));
    let requester_is_own =
        addr.user.user == own_user || own_lid.as_deref() == Some(addr.user.user.as_str());
    let body = match &job.group {
        // A group resend is pairwise, with our sender key inside (whatsmeow).
        Some(group) => group_send::retry_body(ctx, group, message),
        None if requester_is_own => {
            outbox::device_sent(message, to.as_ref().map(ToString::to_string))
        }
        None => message,
    }
    .encode_to_vec();
    let [pad] = ctx.random::<1>();
    let Some((kind, ciphertext)) = sessions::encrypt(ctx, &addr, &padding::pad(body, pad)) else {
        warn!(id = %job.id, to = %addr, "no session to answer a retry receipt with");
        return Step::Done(Ok(()));
    };
    let mut node = match &job.group {
        Some(group) => Node::new("message")
            .jid_attr("to", group.clone())
            .attr("id", job.id.clone())
            .attr("type", row.kind.clone().unwrap_or_else(|| "text".into()))
            .jid_attr("participant", job.requester.clone()),
        None => Node::new("message")
            .jid_attr("to", job.requester.clone())
            .attr("id", job.id.clone())
            .attr("type", row.kind.clone().unwrap_or_else(|| "text".into()))
            .attr("device_fanout", "false"),
    };
    if let Some(t) = row.server_t {
        node = node.attr("t", t.to_string());
    }
    if job.group.is_none()
        && requester_is_own
        && let Some(to) = &to
    {
        node = node.jid_attr("recipient", to.clone());
    }
    let mut children = vec![stanza::enc(kind, ciphertext, media_type, Some(job.count))];
    if kind == EncKind::PreKey
        && let Some(d) = ctx.creds.device.as_ref()
    {
        children.push(Node::new("device-identity").bytes(d.account.clone()));
    }
    info!(id = %job.id, to = %job.requester, count = job.count, "answering a retry receipt");
    ctx.defer(Deferred::Send(node.children(children)));
    job.resent = true;
    Step::Done(Ok(()))
}
