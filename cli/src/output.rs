//! How `run`, `demo` and friends print events: human lines (the field report's familiar shapes,
//! with the true typed reason and its cause; one readable line per message) or, with `--json`,
//! one JSON object per line with a stable `"event"` field first and `ts` (Unix milliseconds,
//! as every time in Tether's JSON). The objects are `tether_control::events`' (the control
//! socket streams the same), plus `exit_code` on `stopped`; `docs/JSON.md` lists them all.

use std::io;
use std::time::Duration;

use serde_json::{Value, json};
use tether_control::events as ev;
use tether_core::binary::{Jid, Server};
use tether_core::connection::Event;
use tether_core::messaging::types::{IncomingMessage, SendError, Undecryptable};
use tether_core::reason::{DisconnectReason, reconnecting_line};

use crate::qr;

/// Prints events to stdout, human or JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    pub(crate) json: bool,
    /// Whether to show QR codes (off while linking by pair code).
    pub(crate) qr: bool,
}

impl Printer {
    /// Prints one object with its `event` field first (then the others, sorted), stamped with
    /// `ts`.
    fn emit_json(&self, value: &Value) -> io::Result<()> {
        crate::logging::try_stdout_line(&ev::line(value, crate::logging::unix_ms()))
    }

    fn emit_line(&self, line: &str) -> io::Result<()> {
        crate::logging::try_stdout_line(line)
    }

    /// A free-form line (JSON: `{"event":"info","message":…}`).
    pub(crate) fn info(&self, message: &str) {
        let _ = if self.json {
            self.emit_json(&json!({"event": "info", "message": message}))
        } else {
            self.emit_line(message)
        };
    }

    /// Any JSON object with its own `event` name (human: the given line).
    pub(crate) fn custom(&self, event: &str, mut fields: Value, human: &str) {
        let _ = if self.json {
            if let Some(map) = fields.as_object_mut() {
                map.insert("event".into(), json!(event));
            }
            self.emit_json(&fields)
        } else {
            self.emit_line(human)
        };
    }

    /// Prints one core event; `values` are its JSON objects (`tether_control::events`).
    /// `Ok` once everything is written and flushed (a message printed is then safe to
    /// confirm).
    pub(crate) fn event(&self, event: &Event, values: &[Value]) -> io::Result<()> {
        if matches!(event, Event::QrCode { .. }) && !self.qr {
            return Ok(());
        }
        if self.json {
            for v in values {
                let mut v = v.clone();
                if let Event::Stopped { reason } = event {
                    v["exit_code"] = json!(crate::exit::for_reason(reason));
                }
                if v["event"] != "other" {
                    self.emit_json(&v)?;
                }
            }
            return Ok(());
        }
        self.human(event, values)
    }

    fn human(&self, event: &Event, values: &[Value]) -> io::Result<()> {
        match event {
            Event::QrCode { code, .. } => {
                self.emit_line(
                    "Scan this QR code with WhatsApp on your phone \
                     (Settings → Linked devices → Link a device):",
                )?;
                self.emit_line(&qr::render(code))
            }
            Event::PairingCode { code } => self.emit_line(&format!(
                "Pair code: {code}\nOn your phone: Linked devices → Link a device → \
                 Link with phone number instead, then type the code."
            )),
            Event::Paired { jid } => self.emit_line(&format!(
                "Linked as {jid}; the server restarts the stream (515), then we log in."
            )),
            Event::Connected { jid } => self.emit_line(&format!("Connected as {jid}")),
            Event::Disconnected {
                reason,
                attempt,
                max_attempts,
                ..
            } => {
                self.disconnected(reason)?;
                // The `reconnecting` object (when one follows) has the delay.
                if let Some(delay) = values
                    .iter()
                    .find(|v| v["event"] == "reconnecting")
                    .and_then(|v| v["delay_ms"].as_u64())
                {
                    self.emit_line(&reconnecting_line(
                        Duration::from_millis(delay),
                        *attempt,
                        *max_attempts,
                    ))?;
                }
                Ok(())
            }
            Event::Stopped { reason } => self.stopped_human(reason),
            Event::KeepAliveTimeout { failures } => self.emit_line(&format!(
                "Keepalive ping unanswered ({failures} in a row); watching the socket"
            )),
            Event::KeepAliveRestored => self.emit_line("Keepalive answered again"),
            Event::ClockSkew { offset_secs } => self.emit_line(&format!(
                "Warning: this computer's clock is {}s {} the server's; keep it synchronised \
                 (NTP), skew causes authentication failures",
                offset_secs.unsigned_abs(),
                if *offset_secs > 0 {
                    "behind"
                } else {
                    "ahead of"
                }
            )),
            Event::Message(m) => {
                let media = values.first().map(|v| &v["media"]);
                let saved = match media.map(|m| (&m["path"], &m["download_error"])) {
                    Some((Value::String(path), _)) => format!("\n   saved to {path}"),
                    Some((_, Value::String(error))) => format!("\n   not saved: {error}"),
                    _ => String::new(),
                };
                self.emit_line(&format!("{}{saved}", message_line(m)))
            }
            Event::Undecryptable(u) => self.emit_line(&undecryptable_line(u)),
            Event::Sent { id, .. } => {
                let to = values.first().and_then(|v| v["to"].as_str());
                self.emit_line(&format!(
                    "✔ Sent {id}{}",
                    to.map(|t| format!(" to {}", who(t))).unwrap_or_default()
                ))
            }
            Event::SendFailed { id, reason } => {
                let to = values.first().and_then(|v| v["to"].as_str());
                self.emit_line(&send_failed_line(id.as_str(), to, reason))
            }
            Event::IdentityChanged { user } => self.emit_line(&format!(
                "🔑 {} reinstalled WhatsApp or changed phones: its security code changed",
                who(&user.to_string())
            )),
            Event::Receipt(r) => {
                tracing::debug!(target: "tether::events", "receipt {} for {} message(s) from {}", r.kind.name(), r.ids.len(), r.from);
                Ok(())
            }
            Event::Stanza(node) => {
                tracing::debug!(target: "tether::events", "stanza <{}>", node.tag);
                Ok(())
            }
            other => {
                tracing::debug!(target: "tether::events", "{other:?}");
                Ok(())
            }
        }
    }

    fn disconnected(&self, reason: &DisconnectReason) -> io::Result<()> {
        self.emit_line(&reason.closed_line())?;
        if let Some(line) = reason.invalidated_line() {
            self.emit_line(line)?;
        }
        if let Some(until) = ev::banned_until(reason) {
            self.emit_line(&format!(
                "Banned until {}: the end is recorded in the store, and `tether run` refuses \
                 to connect before it.",
                crate::snapshot::format_unix(until)
            ))?;
        }
        Ok(())
    }

    /// A terminal stop, with its advice.
    pub(crate) fn stopped(&self, reason: &DisconnectReason) {
        let _ = if self.json {
            let mut v = ev::stopped_json(reason);
            v["exit_code"] = json!(crate::exit::for_reason(reason));
            self.emit_json(&v)
        } else {
            self.stopped_human(reason)
        };
    }

    fn stopped_human(&self, reason: &DisconnectReason) -> io::Result<()> {
        self.emit_line(&format!("Stopped: {reason}"))?;
        self.emit_line(&format!("  advice: {}", reason.advice()))
    }
}

/// A user as people read it: `+15551234567` for a phone-number JID (devices dropped), the JID
/// otherwise.
pub(crate) fn who(jid: &str) -> String {
    match jid.parse::<Jid>() {
        Ok(j) if *j.server() == Server::WhatsApp && !j.user_str().is_empty() => {
            format!("+{}", j.user_str())
        }
        Ok(j) => j.to_non_ad().to_string(),
        Err(_) => jid.to_owned(),
    }
}

/// `💬 Ann (+15550001111): hello  (reply to 3EB0…)  [id 3EB0…, #12]`.
pub(crate) fn message_line(m: &IncomingMessage) -> String {
    let sender = who(&m.sender.to_string());
    let from = match (&m.push_name, m.from_me) {
        (_, true) => "you".to_owned(),
        (Some(name), false) => format!("{name} ({sender})"),
        (None, false) => sender,
    };
    let chat = who(&m.chat.to_string());
    let place = if *m.chat.server() == Server::Group {
        format!(" in {chat}")
    } else if m.from_me {
        format!(" → {chat}")
    } else {
        String::new()
    };
    let body = if let Some((id, emoji)) = m.reaction() {
        if emoji.is_empty() {
            format!(" removed a reaction to {id}")
        } else {
            format!(" reacted {emoji} to {id}")
        }
    } else {
        use tether_core::media::cards::{ContactCard, Location};
        match (
            m.text(),
            Location::of(&m.message),
            ContactCard::of(&m.message),
        ) {
            (Some(text), ..) => format!(": {text}"),
            (None, Some(place), _) => format!(
                ": 📍 {}({}, {})",
                place.name.map(|n| format!("{n} ")).unwrap_or_default(),
                place.latitude,
                place.longitude
            ),
            (None, None, Some(card)) if card.count > 1 => {
                let names: Vec<_> = card
                    .cards
                    .iter()
                    .map(|c| c.display_name.as_deref().unwrap_or("(no name)"))
                    .collect();
                format!(": 👤 {} contact cards: {}", card.count, names.join(", "))
            }
            (None, None, Some(card)) => format!(
                ": 👤 contact card {}",
                card.display_name.as_deref().unwrap_or("(no name)")
            ),
            (None, None, None) => format!(": [{} message]", m.message_type),
        }
    };
    let reply = m
        .quoted()
        .map(|q| format!("  (reply to {})", q.id))
        .unwrap_or_default();
    format!(
        "💬 {from}{place}{body}{reply}  [id {}, #{}]",
        m.id, m.inbox.0
    )
}

/// `⚠ A message from … could not be decrypted …`.
fn undecryptable_line(u: &Undecryptable) -> String {
    format!(
        "⚠ A message from {} (id {}, #{}) could not be decrypted after {} retry receipt(s): {}",
        who(&u.sender.to_string()),
        u.id,
        u.inbox.0,
        u.retry_count,
        u.reason
    )
}

/// `✘ Message … to … was not sent: …`.
fn send_failed_line(id: &str, to: Option<&str>, reason: &SendError) -> String {
    format!(
        "✘ Message {id}{} was not sent: {reason}",
        to.map(|t| format!(" to {}", who(t))).unwrap_or_default()
    )
}

/// Prints a command's result: one JSON object (with `ok: true` and `ts`) with `--json`, else
/// the human lines.
pub(crate) fn result(json: bool, mut value: Value, human: &[String]) {
    if json {
        if let Some(map) = value.as_object_mut() {
            map.insert("ok".into(), json!(true));
            map.insert("ts".into(), json!(crate::logging::unix_ms()));
        }
        crate::logging::stdout_line(&value.to_string());
    } else {
        for line in human {
            crate::logging::stdout_line(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message as _;
    use tether_core::messaging::compose::Text;
    use tether_core::messaging::ids::MessageId;
    use tether_core::messaging::types::InboxPos;

    use super::*;

    #[test]
    fn a_readable_line_per_message() {
        let content = Text::new("sure")
            .reply_to(MessageId("3EB0Q".into()))
            .build();
        let m = IncomingMessage {
            inbox: InboxPos(12),
            id: MessageId("3EB0AA".into()),
            chat: "15550001111@s.whatsapp.net".parse().unwrap(),
            sender: "15550001111:2@s.whatsapp.net".parse().unwrap(),
            sender_alt: None,
            from_me: false,
            timestamp: 1,
            push_name: Some("Ann".into()),
            offline: false,
            message_type: "text".into(),
            raw: Bytes::from(content.encode_to_vec()),
            message: content,
            replayed: false,
        };
        assert_eq!(
            message_line(&m),
            "💬 Ann (+15550001111): sure  (reply to 3EB0Q)  [id 3EB0AA, #12]"
        );
        let pin =
            tether_core::media::cards::location_message(52.52, 13.405, Some("Gate"), None).unwrap();
        let m = IncomingMessage {
            message: pin,
            message_type: "media".into(),
            ..m
        };
        assert_eq!(
            message_line(&m),
            "💬 Ann (+15550001111): 📍 Gate (52.52, 13.405)  [id 3EB0AA, #12]"
        );
        let cards = "BEGIN:VCARD\nFN:Ada\nEND:VCARD\nBEGIN:VCARD\nFN:Alan\nEND:VCARD";
        let one = tether_core::media::cards::contact_message(None, &cards[..29]).unwrap();
        let two = tether_core::media::cards::contact_message(None, cards).unwrap();
        let line = |message| {
            message_line(&IncomingMessage {
                message,
                ..m.clone()
            })
        };
        assert_eq!(
            line(one),
            "💬 Ann (+15550001111): 👤 contact card Ada  [id 3EB0AA, #12]"
        );
        assert_eq!(
            line(two),
            "💬 Ann (+15550001111): 👤 2 contact cards: Ada, Alan  [id 3EB0AA, #12]"
        );
        assert_eq!(who("123456@lid"), "123456@lid");
        assert_eq!(who("15550001111:3@s.whatsapp.net"), "+15550001111");
    }
}
