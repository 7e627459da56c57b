//! How `run` and `demo` print events: human lines (the field report's familiar shapes, with the
//! true typed reason and its cause) or, with `--json`, one JSON object per line with a stable
//! `"event"` field first and `ts` (Unix milliseconds, as every time in Tether's JSON).
//!
//! | event | fields |
//! |---|---|
//! | `qr` | `code` (the raw QR string) |
//! | `pairing_code` | `code` |
//! | `paired` / `connected` | `jid` |
//! | `disconnected` | `code`, `local`, `reason`, `detail`, `cause`, `advice`, `terminal`, `banned_until_ms` |
//! | `reconnecting` | `delay_ms`, `attempt`, `max` |
//! | `stopped` | `code`, `local`, `reason`, `detail`, `advice`, `exit_code` |
//! | `keepalive_timeout` | `failures` |
//! | `keepalive_restored`, `clock_skew` (`offset_ms`), `stanza` (`tag`), `info` (`message`) |

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_core::connection::Event;
use tether_core::reason::{DisconnectReason, ReasonCode, reconnecting_line};

use crate::qr;

/// Prints events to stdout, human or JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    pub(crate) json: bool,
    /// Whether to show QR codes (off while linking by pair code).
    pub(crate) qr: bool,
}

/// The code of a reason as JSON: the number (or null) and whether Tether assigned it locally.
fn code_fields(reason: &DisconnectReason) -> (Value, bool) {
    match reason.code() {
        ReasonCode::Server(n) => (json!(n), false),
        ReasonCode::Local(n) => (json!(n), true),
        _ => (Value::Null, false),
    }
}

impl Printer {
    /// Prints one object with its `event` field first (then the others, sorted), stamped with
    /// `ts`.
    fn emit_json(&self, value: &Value) {
        let line = match value.as_object() {
            Some(map) if map.contains_key("event") => {
                let mut rest = map.clone();
                rest.insert("ts".into(), json!(crate::logging::unix_ms()));
                let event = rest.remove("event").unwrap_or(Value::Null);
                let rest = Value::Object(rest).to_string();
                match rest.strip_prefix('{').filter(|r| *r != "}") {
                    Some(tail) => format!("{{\"event\":{event},{tail}"),
                    None => format!("{{\"event\":{event}}}"),
                }
            }
            _ => value.to_string(),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn emit_line(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A free-form line (JSON: `{"event":"info","message":…}`).
    pub(crate) fn info(&self, message: &str) {
        if self.json {
            self.emit_json(&json!({"event": "info", "message": message}));
        } else {
            self.emit_line(message);
        }
    }

    /// Any JSON object with its own `event` name (human: the given line).
    pub(crate) fn custom(&self, event: &str, mut fields: Value, human: &str) {
        if self.json {
            if let Some(map) = fields.as_object_mut() {
                map.insert("event".into(), json!(event));
            }
            self.emit_json(&fields);
        } else {
            self.emit_line(human);
        }
    }

    /// Prints one core event. `now` turns `reconnect_at` into a delay.
    pub(crate) fn event(&self, event: &Event, now: Instant) {
        match event {
            Event::QrCode { .. } if !self.qr => {}
            Event::QrCode { code, .. } => {
                if self.json {
                    self.emit_json(&json!({"event": "qr", "code": code}));
                } else {
                    self.emit_line(
                        "Scan this QR code with WhatsApp on your phone \
                         (Settings → Linked devices → Link a device):",
                    );
                    self.emit_line(&qr::render(code));
                }
            }
            Event::PairingCode { code } => self.custom(
                "pairing_code",
                json!({"code": code}),
                &format!(
                    "Pair code: {code}\nOn your phone: Linked devices → Link a device → \
                     Link with phone number instead, then type the code."
                ),
            ),
            Event::Paired { jid } => self.custom(
                "paired",
                json!({"jid": jid.to_string()}),
                &format!("Linked as {jid}; the server restarts the stream (515), then we log in."),
            ),
            Event::Connected { jid } => self.custom(
                "connected",
                json!({"jid": jid.to_string()}),
                &format!("Connected as {jid}"),
            ),
            Event::Disconnected {
                reason,
                reconnect_at,
                attempt,
                max_attempts,
            } => {
                self.disconnected(reason);
                // A terminal reason never reconnects by itself (a ban's end is when `run` may
                // be started again, not a retry).
                if let Some(at) = reconnect_at.filter(|_| !reason.is_terminal()) {
                    self.reconnecting(at.saturating_duration_since(now), *attempt, *max_attempts);
                }
            }
            Event::Stopped { reason } => self.stopped(reason),
            Event::KeepAliveTimeout { failures } => self.custom(
                "keepalive_timeout",
                json!({"failures": failures}),
                &format!("Keepalive ping unanswered ({failures} in a row); watching the socket"),
            ),
            Event::KeepAliveRestored => {
                self.custom("keepalive_restored", json!({}), "Keepalive answered again")
            }
            Event::ClockSkew { offset_secs } => self.custom(
                "clock_skew",
                json!({"offset_ms": offset_secs.saturating_mul(1000)}),
                &format!(
                    "Warning: this computer's clock is {}s {} the server's; keep it synchronised \
                     (NTP), skew causes authentication failures",
                    offset_secs.unsigned_abs(),
                    if *offset_secs > 0 {
                        "behind"
                    } else {
                        "ahead of"
                    }
                ),
            ),
            Event::Stanza(node) => {
                if self.json {
                    self.emit_json(&json!({"event": "stanza", "tag": node.tag.to_string()}));
                } else {
                    tracing::debug!(target: "tether::events", "stanza <{}>", node.tag);
                }
            }
            other => tracing::debug!(target: "tether::events", "{other:?}"),
        }
    }

    fn disconnected(&self, reason: &DisconnectReason) {
        if self.json {
            let (code, local) = code_fields(reason);
            self.emit_json(&json!({
                "event": "disconnected",
                "code": code,
                "local": local,
                "reason": reason.description(),
                "detail": reason.detail(),
                "cause": reason.transport_failure().map(|f| f.kind()),
                "advice": reason.advice(),
                "terminal": reason.is_terminal(),
                "banned_until_ms": banned_until(reason).map(|s| s.saturating_mul(1000)),
            }));
        } else {
            self.emit_line(&reason.closed_line());
            if let Some(line) = reason.invalidated_line() {
                self.emit_line(line);
            }
            if let Some(until) = banned_until(reason) {
                self.emit_line(&format!(
                    "Banned until {}: the end is recorded in the store, and `tether run` refuses \
                     to connect before it.",
                    crate::snapshot::format_unix(until)
                ));
            }
        }
    }

    /// `Reconnecting in 5s... (attempt 3/10)`.
    pub(crate) fn reconnecting(&self, delay: Duration, attempt: u32, max: Option<u32>) {
        self.custom(
            "reconnecting",
            json!({
                "delay_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "attempt": attempt,
                "max": max,
            }),
            &reconnecting_line(delay, attempt, max),
        );
    }

    /// A terminal stop, with its advice.
    pub(crate) fn stopped(&self, reason: &DisconnectReason) {
        if self.json {
            let (code, local) = code_fields(reason);
            self.emit_json(&json!({
                "event": "stopped",
                "code": code,
                "local": local,
                "reason": reason.description(),
                "detail": reason.detail(),
                "advice": reason.advice(),
                "exit_code": crate::exit::for_reason(reason),
            }));
        } else {
            self.emit_line(&format!("Stopped: {reason}"));
            self.emit_line(&format!("  advice: {}", reason.advice()));
        }
    }
}

/// When a temporary ban ends (Unix seconds), for a ban reason.
fn banned_until(reason: &DisconnectReason) -> Option<u64> {
    match reason {
        DisconnectReason::TemporaryBan { until, .. } => *until,
        _ => None,
    }
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
