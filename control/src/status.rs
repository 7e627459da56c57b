//! The live status of a running instance ([`LiveStatus`]: state, counters, last disconnect,
//! skew, a ban's end), kept up to date from its events ([`LiveStatus::observe`]), served by the
//! control socket's `status` and recorded in the store ([`record`]) so that `tether status`,
//! `doctor` and the next start can read it after the instance exits. Every time is Unix
//! milliseconds (`*_ms`).
//!
//! ```text
//!  connecting ─QrCode/PairingCode─▶ pairing ─Paired─▶ … ─Connected─▶ connected
//!      ▲                                                                │ Disconnected
//!      └──────────── waiting to reconnect ◀── (reconnect scheduled) ◀───┤
//!                                     stopping ◀── (terminal, none) ◀───┘ ─Stopped─▶ stopped
//! ```

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tether_core::connection::Event;
use tether_core::reason::DisconnectReason;

/// The connection's life as the running instance sees it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LiveStatus {
    /// `connecting`, `pairing`, `connected`, `waiting to reconnect`, `stopping`, `stopped`.
    pub state: String,
    /// Own JID once known.
    pub jid: Option<String>,
    /// The endpoint this instance connects to.
    pub endpoint: String,
    /// The proxy it connects through (`null`: direct; no credentials).
    pub proxy: Option<String>,
    /// When this process started.
    pub started_at_ms: u64,
    /// When the current connection came up, while connected.
    pub connected_since_ms: Option<u64>,
    /// When the last connection came up.
    pub last_connected_ms: Option<u64>,
    /// The last disconnect.
    pub last_reason: Option<ReasonJson>,
    /// Successful logins since start.
    pub connects: u64,
    /// Disconnects since start.
    pub disconnects: u64,
    /// Reconnects since start (all kinds).
    pub reconnects: u64,
    /// The current counted retry (0 when none is pending).
    pub attempt: u32,
    /// When the next attempt starts, while waiting.
    pub next_retry_at_ms: Option<u64>,
    /// Last measured clock skew (server minus local).
    pub skew_ms: Option<i64>,
    /// When the skew was measured.
    pub skew_at_ms: Option<u64>,
    /// When a temporary ban ends (the instance stops; `run` refuses until then).
    pub banned_until_ms: Option<u64>,
    /// Messages the server accepted since start.
    pub messages_sent: u64,
    /// Messages that could not be sent since start.
    pub send_failures: u64,
}

/// What an event changed ([`LiveStatus::observe`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The state name changed (systemd's `STATUS=` line is due).
    pub state_changed: bool,
    /// A lifecycle fact changed that belongs in the store's status record.
    pub record: bool,
    /// The first login of this instance (systemd's `READY=1` is due).
    pub first_connect: bool,
}

/// A disconnect reason as stored and served: the fields of the `disconnected` event.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ReasonJson {
    /// The numeric code (`null` when the reason has none).
    pub code: Option<u16>,
    /// Whether Tether assigned the code locally (printed in brackets: `[408]`).
    pub local: bool,
    /// The short description.
    pub reason: String,
    /// The specifics, when there are any.
    pub detail: Option<String>,
    /// The transport failure kind (`dns`, `refused`, `tls`, …), when there was one.
    pub cause: Option<String>,
    /// What to do about it.
    pub advice: String,
    /// Whether the connection stops for good.
    pub terminal: bool,
    /// When.
    pub at_ms: u64,
}

impl ReasonJson {
    /// The reason, now.
    pub fn new(reason: &DisconnectReason) -> Self {
        let code = reason.code();
        Self {
            code: code.number(),
            local: code.is_local(),
            reason: reason.description().to_owned(),
            detail: reason.detail(),
            cause: reason.transport_failure().map(|f| f.kind().to_owned()),
            advice: reason.advice().to_owned(),
            terminal: reason.is_terminal(),
            at_ms: unix_now_ms(),
        }
    }

    /// `515`, `[408]` or `-`.
    pub fn code_text(code: Option<u64>, local: bool) -> String {
        match (code, local) {
            (Some(c), true) => format!("[{c}]"),
            (Some(c), false) => c.to_string(),
            (None, _) => "-".to_owned(),
        }
    }
}

impl LiveStatus {
    /// A fresh status for an instance connecting to `endpoint` (through `proxy`), started now.
    pub fn starting(endpoint: impl Into<String>, proxy: Option<String>) -> Self {
        Self {
            state: "connecting".into(),
            endpoint: endpoint.into(),
            proxy,
            started_at_ms: unix_now_ms(),
            ..Self::default()
        }
    }

    /// Applies one event. `now` is the instant the event was taken (to turn a reconnect
    /// instant into wall time).
    pub fn observe(&mut self, event: &Event, now: Instant) -> Observed {
        let at = unix_now_ms();
        let before = self.state.clone();
        let mut out = Observed::default();
        match event {
            Event::QrCode { .. } | Event::PairingCode { .. } => self.state = "pairing".into(),
            Event::Paired { jid } => {
                self.jid = Some(jid.to_string());
                out.record = true;
            }
            Event::Connected { jid } => {
                out.first_connect = self.connects == 0;
                self.state = "connected".into();
                self.jid = Some(jid.to_string());
                self.connected_since_ms = Some(at);
                self.last_connected_ms = Some(at);
                self.connects += 1;
                self.attempt = 0;
                self.next_retry_at_ms = None;
                out.record = true;
            }
            Event::Disconnected {
                reason,
                reconnect_at,
                attempt,
                ..
            } => {
                self.connected_since_ms = None;
                self.disconnects += 1;
                self.last_reason = Some(ReasonJson::new(reason));
                self.banned_until_ms = match reason {
                    DisconnectReason::TemporaryBan {
                        until: Some(until), ..
                    } => Some(until.saturating_mul(1000)),
                    _ => None,
                };
                if let Some(when) = reconnect_at.filter(|_| !reason.is_terminal()) {
                    self.state = "waiting to reconnect".into();
                    self.reconnects += 1;
                    self.attempt = *attempt;
                    let wait = when.saturating_duration_since(now).as_millis();
                    self.next_retry_at_ms =
                        Some(at.saturating_add(u64::try_from(wait).unwrap_or(0)));
                } else {
                    self.state = "stopping".into();
                    self.next_retry_at_ms = None;
                }
                out.record = true;
            }
            Event::Stopped { reason } => {
                self.state = "stopped".into();
                self.connected_since_ms = None;
                self.next_retry_at_ms = None;
                let ban = self.banned_until_ms;
                self.last_reason = Some(ReasonJson::new(reason));
                self.banned_until_ms =
                    ban.filter(|_| matches!(reason, DisconnectReason::TemporaryBan { .. }));
                out.record = true;
            }
            Event::ClockSkew { offset_secs } => {
                self.skew_ms = Some(offset_secs.saturating_mul(1000));
                self.skew_at_ms = Some(at);
                out.record = true;
            }
            Event::Sent { .. } => self.messages_sent += 1,
            Event::SendFailed { .. } => self.send_failures += 1,
            _ => {}
        }
        out.state_changed = self.state != before;
        out
    }

    /// systemd's one-line `STATUS=`: `connected as JID`, `waiting to reconnect (retry 3) after
    /// [428] Connection refused: …`.
    pub fn status_line(&self) -> String {
        let mut line = self.state.clone();
        if self.state == "connected"
            && let Some(jid) = &self.jid
        {
            line.push_str(&format!(" as {jid}"));
        }
        if self.attempt > 0 {
            line.push_str(&format!(" (retry {})", self.attempt));
        }
        if self.state != "connected"
            && let Some(r) = &self.last_reason
        {
            line.push_str(&format!(
                " after {} {}",
                ReasonJson::code_text(r.code.map(u64::from), r.local),
                r.reason
            ));
            if let Some(d) = &r.detail {
                line.push_str(&format!(": {d}"));
            }
        }
        line
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now, in Unix milliseconds.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub mod record {
    //! The status record the instance keeps in the store
    //! ([`tether_store_redb::StoreStatus`]: last connected, last disconnect with
    //! its cause, counters, skew, the end of a ban). Counters in the store count since the
    //! store was created; the live ones since start.

    use serde_json::{Value, json};
    use tether_store_redb::{LastDisconnect, RedbStore, StoreStatus};

    use super::LiveStatus;

    /// The separator between a recorded reason's description and its advice.
    const ADVICE: &str = " — advice: ";

    /// Marks a reason whose code Tether assigned locally (`[408]`, `[428]`).
    const LOCAL: &str = " (local code)";

    /// Marks a terminal reason.
    const TERMINAL: &str = " (terminal)";

    /// The recorded status as JSON in the live status's shape (`null` when never recorded).
    pub fn to_json(status: Option<&StoreStatus>) -> Value {
        let Some(s) = status else { return Value::Null };
        let last_reason = s.last_disconnect.as_ref().map(|d| {
            let (head, advice) = d
                .reason
                .split_once(ADVICE)
                .map_or((d.reason.as_str(), None), |(a, b)| (a, Some(b)));
            let (head, terminal) = head
                .strip_suffix(TERMINAL)
                .map_or((head, false), |h| (h, true));
            let (description, local) = head
                .strip_suffix(LOCAL)
                .map_or((head, false), |h| (h, true));
            json!({
                "code": d.code,
                "local": local,
                "reason": description,
                "detail": d.detail,
                "advice": advice,
                "terminal": terminal,
                "at_ms": d.at_unix.saturating_mul(1000),
            })
        });
        json!({
            "last_connected_ms": s.last_connected_unix.map(|t| t.saturating_mul(1000)),
            "last_reason": last_reason,
            "connects": s.connects,
            "reconnects": s.reconnects,
            "skew_ms": s.clock_skew_ms,
            "banned_until_ms": s.banned_until_unix.map(|t| t.saturating_mul(1000)),
        })
    }

    /// The record to write: the store's counters at start plus this run's.
    pub fn merge(base: &StoreStatus, live: &LiveStatus) -> StoreStatus {
        StoreStatus {
            last_connected_unix: live
                .last_connected_ms
                .map(|ms| ms / 1000)
                .or(base.last_connected_unix),
            last_disconnect: live
                .last_reason
                .as_ref()
                .map(|r| LastDisconnect {
                    at_unix: r.at_ms / 1000,
                    code: r.code.map(u32::from),
                    reason: format!(
                        "{}{}{}{ADVICE}{}",
                        r.reason,
                        if r.local { LOCAL } else { "" },
                        if r.terminal { TERMINAL } else { "" },
                        r.advice
                    ),
                    detail: r.detail.clone(),
                })
                .or_else(|| base.last_disconnect.clone()),
            connects: base.connects.saturating_add(live.connects),
            reconnects: base.reconnects.saturating_add(live.reconnects),
            clock_skew_ms: live.skew_ms.or(base.clock_skew_ms),
            banned_until_unix: match &live.last_reason {
                // A newer disconnect decides: a ban sets the end, anything else after it
                // clears it.
                Some(_) => live.banned_until_ms.map(|ms| ms / 1000),
                None => base.banned_until_unix,
            },
        }
    }

    /// Records `live` (on top of `base`, the record at start) in the store.
    pub fn write(store: &RedbStore, base: &StoreStatus, live: &LiveStatus) -> Result<(), String> {
        store
            .record_status(&merge(base, live))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use tether_core::reason::{LostCause, TransportFailure};
    use tether_store_redb::StoreStatus;

    use super::record::{merge, to_json};
    use super::*;

    #[test]
    fn the_state_follows_the_lifecycle() {
        let now = Instant::now();
        let mut live = LiveStatus::starting("ws://x", None);
        let jid: tether_core::binary::Jid = "1555:1@s.whatsapp.net".parse().unwrap();
        let o = live.observe(&Event::Connected { jid: jid.clone() }, now);
        assert!(o.state_changed && o.record && o.first_connect);
        assert_eq!(live.status_line(), "connected as 1555:1@s.whatsapp.net");
        let o = live.observe(
            &Event::Disconnected {
                reason: DisconnectReason::ConnectionLost {
                    cause: LostCause::DeadSocket,
                },
                reconnect_at: Some(now + Duration::from_secs(3)),
                attempt: 2,
                max_attempts: None,
            },
            now,
        );
        assert!(o.state_changed);
        assert_eq!(live.state, "waiting to reconnect");
        assert!(
            live.status_line()
                .starts_with("waiting to reconnect (retry 2) after [408]")
        );
        let o = live.observe(&Event::Connected { jid }, now);
        assert!(!o.first_connect);
        assert_eq!(
            (live.connects, live.disconnects, live.reconnects),
            (2, 1, 1)
        );
        let o = live.observe(&Event::KeepAliveRestored, now);
        assert_eq!(o, Observed::default());
    }

    #[test]
    fn a_recorded_reason_reads_back_as_the_live_one() {
        let reason = DisconnectReason::ConnectionLost {
            cause: LostCause::TransportFailed {
                failure: TransportFailure::Dns {
                    host: "web.whatsapp.com".into(),
                    detail: "no such host".into(),
                },
            },
        };
        let live = LiveStatus {
            last_reason: Some(ReasonJson::new(&reason)),
            connects: 2,
            reconnects: 1,
            skew_ms: Some(-45_000),
            ..LiveStatus::default()
        };
        let base = StoreStatus {
            connects: 5,
            ..StoreStatus::default()
        };
        let merged = merge(&base, &live);
        assert_eq!(merged.connects, 7);
        let v = to_json(Some(&merged));
        let served = serde_json::to_value(live.last_reason.as_ref().unwrap()).unwrap();
        for key in ["code", "local", "reason", "detail", "advice", "terminal"] {
            assert_eq!(v["last_reason"][key], served[key], "{key}");
        }
        assert_eq!(v["last_reason"]["code"], 428);
        assert_eq!(v["last_reason"]["local"], true);
        assert_eq!(v["skew_ms"], -45_000);
    }

    #[test]
    fn a_ban_is_recorded_until_a_later_disconnect() {
        let ban = DisconnectReason::TemporaryBan {
            until: Some(2_000_000_000),
            expire: None,
            code: None,
            raw: None,
        };
        let live = LiveStatus {
            last_reason: Some(ReasonJson::new(&ban)),
            banned_until_ms: Some(2_000_000_000_000),
            ..LiveStatus::default()
        };
        let merged = merge(&StoreStatus::default(), &live);
        assert_eq!(merged.banned_until_unix, Some(2_000_000_000));
        assert_eq!(
            merge(&merged, &LiveStatus::default()).banned_until_unix,
            Some(2_000_000_000)
        );
        let closed = LiveStatus {
            last_reason: Some(ReasonJson::new(&DisconnectReason::LocalShutdown)),
            ..LiveStatus::default()
        };
        assert_eq!(merge(&merged, &closed).banned_until_unix, None);
    }
}
