//! Every core [`Event`] as the one JSON object `tether run --json` prints and the control
//! socket streams: `"event"` names it, times are Unix milliseconds (`…_ms`), a disconnect code
//! is a number with a `local` flag (`docs/JSON.md`).
//!
//! | event | fields |
//! |---|---|
//! | `qr` | `code` |
//! | `pairing_code` | `code` |
//! | `paired`, `connected` | `jid` |
//! | `disconnected` | `code`, `local`, `reason`, `detail`, `cause`, `advice`, `terminal`, `banned_until_ms` |
//! | `reconnecting` | `delay_ms`, `attempt`, `max` (printed right after its `disconnected`) |
//! | `stopped` | `code`, `local`, `reason`, `detail`, `advice` |
//! | `keepalive_timeout` | `failures` |
//! | `keepalive_restored` | — |
//! | `clock_skew` | `offset_ms` |
//! | `stanza` | `tag` |
//! | `message` | `position`, `id`, `chat`, `from`, `from_alt`, `from_me`, `timestamp_ms`, `push_name`, `offline`, `type`, `text`, `quoted` (`{id, from, text}`), `mentions`, `reaction` (`{id, emoji}`), `replayed` |
//! | `undecryptable` | `position`, `id`, `chat`, `from`, `timestamp_ms`, `reason`, `retry_count`, `replayed` |
//! | `inbox_replayed` | `from`, `next`: a catch-up read ended; newer entries arrive live |
//! | `receipt` | `kind`, `ids`, `chat`, `from`, `participant`, `timestamp_ms` |
//! | `sent` | `id`, `to`, `timestamp_ms` |
//! | `send_failed` | `id`, `to`, `error` (`nack`, `timeout`, `no_devices`, `invalid_recipient`, `invalid`, `stopped`, `device_unreachable`: after the server ack, one device could not decrypt even after resending), `code` (a nack's), `device` (a `device_unreachable`'s), `reason` |
//! | `identity_changed` | `user` |
//! | `group_info`, `groups` | `group` / `groups`: [`group_json`] objects (answers to group queries) |
//! | `group_query_failed` | `group` (`g.us` for the list), `reason` |
//! | `group_changed` | `group`, `actor`, `change` (`added`, `removed`, `promoted`, `demoted`, `subject`), `members`, `subject` |
//!
//! Message text is the application's to see: it is in these objects, never in logs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_core::binary::Jid;
use tether_core::connection::Event;
use tether_core::messaging::groups::{GroupChange, GroupInfo};
use tether_core::messaging::types::{IncomingMessage, SendError};
use tether_core::reason::{DisconnectReason, ReasonCode};

/// The code of a reason as JSON: the number (or `null`) and whether Tether assigned it.
pub fn code_fields(reason: &DisconnectReason) -> (Value, bool) {
    match reason.code() {
        ReasonCode::Server(n) => (json!(n), false),
        ReasonCode::Local(n) => (json!(n), true),
        _ => (Value::Null, false),
    }
}

/// When a temporary ban ends (Unix seconds), for a ban reason.
pub fn banned_until(reason: &DisconnectReason) -> Option<u64> {
    match reason {
        DisconnectReason::TemporaryBan { until, .. } => *until,
        _ => None,
    }
}

/// Unix seconds as milliseconds.
fn ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

/// The JSON objects for one event, in print order (a `disconnected` with a reconnect
/// scheduled is followed by its `reconnecting`). `now` turns a reconnect instant into a delay.
/// Each object has its `event` field; `ts` is added when it is printed or streamed.
pub fn event_json(event: &Event, now: Instant) -> Vec<Value> {
    let one = |v: Value| vec![v];
    match event {
        Event::QrCode { code, .. } => one(json!({"event": "qr", "code": code})),
        Event::PairingCode { code } => one(json!({"event": "pairing_code", "code": code})),
        Event::Paired { jid } => one(json!({"event": "paired", "jid": jid.to_string()})),
        Event::Connected { jid } => one(json!({"event": "connected", "jid": jid.to_string()})),
        Event::Disconnected {
            reason,
            reconnect_at,
            attempt,
            max_attempts,
        } => {
            let mut out = vec![disconnected_json(reason)];
            // A terminal reason never reconnects by itself.
            if let Some(at) = reconnect_at.filter(|_| !reason.is_terminal()) {
                out.push(reconnecting_json(
                    at.saturating_duration_since(now),
                    *attempt,
                    *max_attempts,
                ));
            }
            out
        }
        Event::Stopped { reason } => one(stopped_json(reason)),
        Event::KeepAliveTimeout { failures } => {
            one(json!({"event": "keepalive_timeout", "failures": failures}))
        }
        Event::KeepAliveRestored => one(json!({"event": "keepalive_restored"})),
        Event::ClockSkew { offset_secs } => one(json!({
            "event": "clock_skew",
            "offset_ms": offset_secs.saturating_mul(1000),
        })),
        Event::Stanza(node) => one(json!({"event": "stanza", "tag": node.tag.to_string()})),
        Event::Message(m) => one(message_json(m)),
        Event::Undecryptable(u) => one(json!({
            "event": "undecryptable",
            "position": u.inbox.0,
            "id": u.id.as_str(),
            "chat": u.chat.to_string(),
            "from": u.sender.to_string(),
            "timestamp_ms": ms(u.timestamp),
            "reason": u.reason,
            "retry_count": u.retry_count,
            "replayed": u.replayed,
        })),
        Event::Receipt(r) => one(json!({
            "event": "receipt",
            "kind": r.kind.name(),
            "ids": r.ids.iter().map(|i| i.as_str()).collect::<Vec<_>>(),
            "chat": r.chat.to_string(),
            "from": r.from.to_string(),
            "participant": r.participant.as_ref().map(ToString::to_string),
            "timestamp_ms": r.timestamp.map(ms),
        })),
        Event::Sent { id, to, t } => one(json!({
            "event": "sent",
            "id": id.as_str(),
            "to": to.to_string(),
            "timestamp_ms": ms(*t),
        })),
        Event::InboxReplayed { from, next } => one(json!({
            "event": "inbox_replayed",
            "from": from.0,
            "next": next.0,
        })),
        Event::SendFailed { id, reason } => one(send_failed_json(id.as_str(), reason)),
        Event::IdentityChanged { user } => {
            one(json!({"event": "identity_changed", "user": user.to_string()}))
        }
        Event::GroupInfo(info) => one(json!({"event": "group_info", "group": group_json(info)})),
        Event::Groups(list) => one(json!({
            "event": "groups",
            "groups": list.iter().map(group_json).collect::<Vec<_>>(),
        })),
        Event::GroupQueryFailed { group, reason } => one(json!({
            "event": "group_query_failed",
            "group": group.to_string(),
            "reason": reason,
        })),
        Event::GroupChanged {
            group,
            actor,
            change,
        } => one(group_changed_json(group, actor.as_ref(), change)),
        other => one(json!({"event": "other", "debug": format!("{other:?}")})),
    }
}

/// A group's metadata: `jid`, `subject`, `addressing` (`lid` or `pn`), `creator`, and
/// `participants` (`jid`, `lid`, `phone_number`, `admin`, `super_admin`).
pub fn group_json(info: &GroupInfo) -> Value {
    json!({
        "jid": info.jid.to_string(),
        "subject": info.subject,
        "addressing": info.addressing_mode,
        "creator": info.creator.as_ref().map(ToString::to_string),
        "participants": info.participants.iter().map(|p| json!({
            "jid": p.jid.to_string(),
            "lid": p.lid.as_ref().map(ToString::to_string),
            "phone_number": p.phone_number.as_ref().map(ToString::to_string),
            "admin": p.is_admin,
            "super_admin": p.is_super_admin,
        })).collect::<Vec<_>>(),
    })
}

/// The `group_changed` object: `group`, `actor`, `change` (`added`, `removed`, `promoted`,
/// `demoted` with `members`, or `subject` with `subject`).
fn group_changed_json(group: &Jid, actor: Option<&Jid>, change: &GroupChange) -> Value {
    let members = |list: &[Jid]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    let (kind, members, subject) = match change {
        GroupChange::Added(l) => ("added", Some(members(l)), None),
        GroupChange::Removed(l) => ("removed", Some(members(l)), None),
        GroupChange::Promoted(l) => ("promoted", Some(members(l)), None),
        GroupChange::Demoted(l) => ("demoted", Some(members(l)), None),
        GroupChange::Subject(s) => ("subject", None, Some(s.clone())),
        _ => ("other", None, None),
    };
    json!({
        "event": "group_changed",
        "group": group.to_string(),
        "actor": actor.map(ToString::to_string),
        "change": kind,
        "members": members,
        "subject": subject,
    })
}

/// The `disconnected` object.
pub fn disconnected_json(reason: &DisconnectReason) -> Value {
    let (code, local) = code_fields(reason);
    json!({
        "event": "disconnected",
        "code": code,
        "local": local,
        "reason": reason.description(),
        "detail": reason.detail(),
        "cause": reason.transport_failure().map(|f| f.kind()),
        "advice": reason.advice(),
        "terminal": reason.is_terminal(),
        "banned_until_ms": banned_until(reason).map(ms),
    })
}

/// The `reconnecting` object.
pub fn reconnecting_json(delay: Duration, attempt: u32, max: Option<u32>) -> Value {
    json!({
        "event": "reconnecting",
        "delay_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "attempt": attempt,
        "max": max,
    })
}

/// The `stopped` object (the CLI adds its `exit_code`).
pub fn stopped_json(reason: &DisconnectReason) -> Value {
    let (code, local) = code_fields(reason);
    json!({
        "event": "stopped",
        "code": code,
        "local": local,
        "reason": reason.description(),
        "detail": reason.detail(),
        "advice": reason.advice(),
    })
}

/// The `message` object.
pub fn message_json(m: &IncomingMessage) -> Value {
    json!({
        "event": "message",
        "position": m.inbox.0,
        "id": m.id.as_str(),
        "chat": m.chat.to_string(),
        "from": m.sender.to_string(),
        "from_alt": m.sender_alt.as_ref().map(ToString::to_string),
        "from_me": m.from_me,
        "timestamp_ms": ms(m.timestamp),
        "push_name": m.push_name,
        "offline": m.offline,
        "type": m.message_type,
        "text": m.text(),
        "quoted": m.quoted().map(|q| json!({
            "id": q.id.as_str(),
            "from": q.participant.as_ref().map(ToString::to_string),
            "text": q.text,
        })),
        "mentions": m.mentions().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "reaction": m.reaction().map(|(id, emoji)| json!({"id": id.as_str(), "emoji": emoji})),
        "media": media_json(&m.message),
        "location": location_json(&m.message),
        "contact": contact_json(&m.message),
        "replayed": m.replayed,
    })
}

/// The `location` object of a message that carries a location (else `null`): `latitude`,
/// `longitude` (decimal degrees), `name`, `address`, `live`.
pub fn location_json(message: &tether_core::proto::message::Message) -> Value {
    let Some(place) = tether_core::media::cards::Location::of(message) else {
        return Value::Null;
    };
    json!({
        "latitude": place.latitude,
        "longitude": place.longitude,
        "name": place.name,
        "address": place.address,
        "live": place.live,
    })
}

/// The `contact` object of a message that carries a contact card (else `null`):
/// `display_name` (the card's, or the list's), `vcard` (the first card's text), `count` (cards
/// in the message) and `cards` (each card's `display_name` and `vcard`, in order).
pub fn contact_json(message: &tether_core::proto::message::Message) -> Value {
    let Some(card) = tether_core::media::cards::ContactCard::of(message) else {
        return Value::Null;
    };
    json!({
        "display_name": card.display_name,
        "vcard": card.vcard,
        "count": card.count,
        "cards": card.cards.iter().map(|c| json!({
            "display_name": c.display_name,
            "vcard": c.vcard,
        })).collect::<Vec<_>>(),
    })
}

/// The `media` object of a message that carries media (else `null`): what it is, not how to
/// fetch it (the key and paths stay in the inbox; `download` fetches it).
pub fn media_json(message: &tether_core::proto::message::Message) -> Value {
    let Some(media) = tether_core::media::MediaRef::of(message) else {
        return Value::Null;
    };
    json!({
        "type": media.kind.map(|k| k.name()),
        "mimetype": media.mimetype,
        "size": media.file_length,
        "caption": media.caption,
        "file_name": media.file_name,
        "seconds": media.seconds,
        "voice_note": media.voice_note,
        "gif": media.gif,
        "width": media.width,
        "height": media.height,
    })
}

/// The `send_failed` object (`to` filled in by who knows it).
pub fn send_failed_json(id: &str, reason: &SendError) -> Value {
    let (error, code) = send_error_kind(reason);
    let device = match reason {
        SendError::DeviceUnreachable { device, .. } => Some(device.as_str()),
        _ => None,
    };
    json!({
        "event": "send_failed",
        "id": id,
        "to": null,
        "error": error,
        "code": code,
        "device": device,
        "reason": reason.to_string(),
    })
}

/// A send error's stable name and, for a nack, its code.
pub fn send_error_kind(reason: &SendError) -> (&'static str, Option<u16>) {
    match reason {
        SendError::Nack { code, .. } => ("nack", Some(*code)),
        SendError::Timeout { .. } => ("timeout", None),
        SendError::NoDevices(_) => ("no_devices", None),
        SendError::InvalidRecipient(_) => ("invalid_recipient", None),
        SendError::Invalid(_) => ("invalid", None),
        SendError::Stopped(_) => ("stopped", None),
        SendError::DeviceUnreachable { .. } => ("device_unreachable", None),
        _ => ("other", None),
    }
}

/// Whether an entry was emitted by a catch-up read (`Command::ReplayInbox`), not as new.
pub fn replayed(event: &Event) -> bool {
    match event {
        Event::Message(m) => m.replayed,
        Event::Undecryptable(u) => u.replayed,
        _ => false,
    }
}

/// The inbox position of a message or undecryptable event.
pub fn position(event: &Event) -> Option<u64> {
    match event {
        Event::Message(m) => Some(m.inbox.0),
        Event::Undecryptable(u) => Some(u.inbox.0),
        _ => None,
    }
}

/// One line of output: `{"event": …, then the other fields sorted, "ts": now}` — the event's
/// name first so that a reader (or `grep`) sees it at once.
pub fn line(value: &Value, ts_ms: u64) -> String {
    match value.as_object() {
        Some(map) if map.contains_key("event") => {
            let mut rest = map.clone();
            rest.insert("ts".into(), json!(ts_ms));
            let event = rest.remove("event").unwrap_or(Value::Null);
            let rest = Value::Object(rest).to_string();
            match rest.strip_prefix('{').filter(|r| *r != "}") {
                Some(tail) => format!("{{\"event\":{event},{tail}"),
                None => format!("{{\"event\":{event}}}"),
            }
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;
    use prost::Message as _;
    use tether_core::messaging::compose::{ReactionTarget, Text, reaction};
    use tether_core::messaging::ids::MessageId;
    use tether_core::messaging::types::{InboxPos, Receipt, ReceiptKind};
    use tether_core::proto::message::Message;

    use super::*;

    fn incoming(message: Message) -> IncomingMessage {
        IncomingMessage {
            inbox: InboxPos(41),
            id: MessageId("3EB0FEED".into()),
            chat: "15550001111@s.whatsapp.net".parse().unwrap(),
            sender: "15550001111:2@s.whatsapp.net".parse().unwrap(),
            sender_alt: Some("99887766@lid".parse().unwrap()),
            from_me: false,
            timestamp: 1_800_000_000,
            push_name: Some("Ann".into()),
            offline: true,
            message_type: "text".into(),
            raw: Bytes::from(message.encode_to_vec()),
            message,
            replayed: false,
        }
    }

    #[test]
    fn a_message_carries_every_field_of_the_schema() {
        let quoted = incoming(Message::text("lunch?"));
        let reply = Text::new("yes @15552223333")
            .reply_to(&quoted)
            .mention("15552223333@s.whatsapp.net".parse().unwrap())
            .build();
        let v = &event_json(&Event::Message(Box::new(incoming(reply))), Instant::now())[0];
        assert_eq!(v["event"], "message");
        assert_eq!(v["position"], 41);
        assert_eq!(v["id"], "3EB0FEED");
        assert_eq!(v["chat"], "15550001111@s.whatsapp.net");
        assert_eq!(v["from"], "15550001111:2@s.whatsapp.net");
        assert_eq!(v["from_alt"], "99887766@lid");
        assert_eq!(v["from_me"], false);
        assert_eq!(v["timestamp_ms"], 1_800_000_000_000u64);
        assert_eq!(v["push_name"], "Ann");
        assert_eq!(v["offline"], true);
        assert_eq!(v["type"], "text");
        assert_eq!(v["text"], "yes @15552223333");
        assert_eq!(v["quoted"]["id"], "3EB0FEED");
        assert_eq!(v["quoted"]["from"], "15550001111@s.whatsapp.net");
        assert_eq!(v["quoted"]["text"], "lunch?");
        assert_eq!(v["mentions"], json!(["15552223333@s.whatsapp.net"]));
        assert_eq!(v["reaction"], Value::Null);
        let r = reaction(&ReactionTarget::of(&quoted), "❤️", 1);
        let v = &event_json(&Event::Message(Box::new(incoming(r))), Instant::now())[0];
        assert_eq!(v["reaction"], json!({"id": "3EB0FEED", "emoji": "❤️"}));
        assert_eq!(v["text"], Value::Null);
        assert_eq!(v["media"], Value::Null);
    }

    #[test]
    fn locations_and_contact_cards_carry_their_fields() {
        use tether_core::media::cards::{contact_message, location_message};
        let pin = location_message(48.8584, 2.2945, Some("Tour Eiffel"), None).unwrap();
        let v = &event_json(&Event::Message(Box::new(incoming(pin))), Instant::now())[0];
        assert_eq!(
            v["location"],
            json!({"latitude": 48.8584, "longitude": 2.2945, "name": "Tour Eiffel",
                   "address": null, "live": false})
        );
        assert_eq!((&v["contact"], &v["media"]), (&Value::Null, &Value::Null));
        let vcard = "BEGIN:VCARD\nFN:Ada\nEND:VCARD";
        let card = contact_message(None, vcard).unwrap();
        let v = &event_json(&Event::Message(Box::new(incoming(card))), Instant::now())[0];
        assert_eq!(
            v["contact"],
            json!({"display_name": "Ada", "vcard": vcard, "count": 1,
                   "cards": [{"display_name": "Ada", "vcard": vcard}]})
        );
        assert_eq!(v["location"], Value::Null);
        let alan = "BEGIN:VCARD\nFN:Alan\nEND:VCARD";
        let list = contact_message(None, &format!("{vcard}\n{alan}\n")).unwrap();
        let v = &event_json(&Event::Message(Box::new(incoming(list))), Instant::now())[0];
        assert_eq!(
            v["contact"],
            json!({"display_name": "2 contacts", "vcard": vcard, "count": 2,
                   "cards": [{"display_name": "Ada", "vcard": vcard},
                             {"display_name": "Alan", "vcard": alan}]})
        );
    }

    #[test]
    fn a_media_message_carries_its_media_object_without_secrets() {
        use tether_core::media::{Digests, MediaKey, MediaKind, MediaOptions, Upload};
        let upload = Upload {
            kind: MediaKind::Document,
            media_key: MediaKey::from_bytes([3; 32]),
            digests: Digests {
                file_sha256: [1; 32],
                file_enc_sha256: [2; 32],
                file_length: 70_000,
            },
            url: None,
            direct_path: "/v/t62.7119-24/x.enc?oh=1".into(),
            uploaded_at: 1,
        };
        let mut options = MediaOptions::default();
        options.caption = Some("the report".into());
        options.file_name = Some("report.pdf".into());
        options.mimetype = Some("application/pdf".into());
        let message = tether_core::media::media_message(&upload, &options, 1);
        let v = &event_json(&Event::Message(Box::new(incoming(message))), Instant::now())[0];
        let media = &v["media"];
        assert_eq!(media["type"], "document");
        assert_eq!(media["mimetype"], "application/pdf");
        assert_eq!(media["size"], 70_000);
        assert_eq!(media["caption"], "the report");
        assert_eq!(media["file_name"], "report.pdf");
        let text = v.to_string();
        assert!(
            !text.contains("oh=1") && !text.contains("media_key"),
            "{text}"
        );
    }

    #[test]
    fn receipts_sends_and_failures() {
        let now = Instant::now();
        let receipt = Event::Receipt(Box::new(Receipt {
            kind: ReceiptKind::Read,
            ids: vec![MessageId("A".into()), MessageId("B".into())],
            chat: "15550001111@s.whatsapp.net".parse().unwrap(),
            from: "15550001111:2@s.whatsapp.net".parse().unwrap(),
            participant: None,
            timestamp: Some(5),
        }));
        let v = &event_json(&receipt, now)[0];
        assert_eq!(
            (&v["event"], &v["kind"], &v["ids"], &v["timestamp_ms"]),
            (
                &json!("receipt"),
                &json!("read"),
                &json!(["A", "B"]),
                &json!(5000)
            )
        );
        let sent = &event_json(
            &Event::Sent {
                id: MessageId("S".into()),
                to: "15550001111@s.whatsapp.net".parse().unwrap(),
                t: 7,
            },
            now,
        )[0];
        assert_eq!(
            (&sent["event"], &sent["to"], &sent["timestamp_ms"]),
            (
                &json!("sent"),
                &json!("15550001111@s.whatsapp.net"),
                &json!(7000)
            )
        );
        let failed = &event_json(
            &Event::SendFailed {
                id: MessageId("F".into()),
                reason: SendError::nack(463),
            },
            now,
        )[0];
        assert_eq!(failed["error"], "nack");
        assert_eq!(failed["code"], 463);
        assert!(failed["reason"].as_str().unwrap().contains("463"));
        let unreachable = &event_json(
            &Event::SendFailed {
                id: MessageId("U".into()),
                reason: SendError::DeviceUnreachable {
                    device: "15550001111:3@s.whatsapp.net".into(),
                    reason: "it still could not decrypt after every resend".into(),
                },
            },
            now,
        )[0];
        assert_eq!(
            (&unreachable["error"], &unreachable["device"]),
            (
                &json!("device_unreachable"),
                &json!("15550001111:3@s.whatsapp.net")
            )
        );
    }

    #[test]
    fn a_disconnect_with_a_reconnect_prints_both() {
        let now = Instant::now();
        let out = event_json(
            &Event::Disconnected {
                reason: DisconnectReason::ConnectionLost {
                    cause: tether_core::reason::LostCause::DeadSocket,
                },
                reconnect_at: Some(now + Duration::from_millis(1500)),
                attempt: 2,
                max_attempts: None,
            },
            now,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1]["event"], "reconnecting");
        assert_eq!(out[1]["delay_ms"], 1500);
    }

    #[test]
    fn lines_start_with_the_event_and_carry_ts() {
        let l = line(&json!({"zeta": 1, "event": "sent", "alpha": 2}), 99);
        assert_eq!(l, r#"{"event":"sent","alpha":2,"ts":99,"zeta":1}"#);
        assert_eq!(line(&json!({"event": "x"}), 1), r#"{"event":"x","ts":1}"#);
    }
}
