//! What `tether status` shows, gathered from a running owner (over the control socket) or from
//! the store itself, as one JSON value; and its human rendering.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};
use tether_core::reason::{DisconnectReason, ReasonCode};

/// The connection's life as the running owner sees it (served by the control socket and
/// recorded in the store as it changes).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct LiveStatus {
    /// `connecting`, `pairing`, `connected`, `waiting to reconnect`, `stopped`, …
    pub(crate) state: String,
    /// Own JID once known.
    pub(crate) jid: Option<String>,
    /// When this process started (Unix seconds).
    pub(crate) started_at: u64,
    /// When the current connection came up (Unix seconds), while connected.
    pub(crate) connected_since: Option<u64>,
    /// When the last connection came up (Unix seconds).
    pub(crate) last_connected: Option<u64>,
    /// The last disconnect.
    pub(crate) last_reason: Option<ReasonJson>,
    /// Successful logins since start.
    pub(crate) connects: u64,
    /// Disconnects since start.
    pub(crate) disconnects: u64,
    /// Reconnects since start (all kinds).
    pub(crate) reconnects: u64,
    /// The current counted retry (0 when none is pending).
    pub(crate) attempt: u32,
    /// When the next attempt starts (Unix milliseconds), while waiting.
    pub(crate) next_retry_at_ms: Option<u64>,
    /// Last measured clock skew (server minus local, seconds) and when.
    pub(crate) skew_secs: Option<i64>,
    pub(crate) skew_at: Option<u64>,
}

/// A disconnect reason as stored and served.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub(crate) struct ReasonJson {
    /// `408`, `[408]` or `-`.
    pub(crate) code: String,
    /// The number alone, when there is one.
    pub(crate) number: Option<u16>,
    pub(crate) description: String,
    pub(crate) advice: String,
    pub(crate) terminal: bool,
    /// When (Unix seconds).
    pub(crate) at: u64,
}

impl ReasonJson {
    pub(crate) fn new(reason: &DisconnectReason) -> Self {
        Self {
            code: reason.code().to_string(),
            number: Self::number(reason),
            description: reason.description().to_owned(),
            advice: reason.advice().to_owned(),
            terminal: reason.is_terminal(),
            at: unix_now(),
        }
    }

    /// The numeric code, when there is one.
    pub(crate) fn number(reason: &DisconnectReason) -> Option<u16> {
        match reason.code() {
            ReasonCode::Server(n) | ReasonCode::Local(n) => Some(n),
            _ => None,
        }
    }
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now, in Unix milliseconds.
pub(crate) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `YYYY-MM-DD HH:MM:SS UTC` (days-to-civil conversion on the proleptic Gregorian calendar).
pub(crate) fn format_unix(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `3s`, `4m 10s`, `2h 5m`, `3d 4h`.
pub(crate) fn format_span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

fn when(v: &Value) -> Option<String> {
    let t = v.as_u64()?;
    let ago = unix_now().saturating_sub(t);
    Some(format!("{} ({} ago)", format_unix(t), format_span(ago)))
}

/// What to do about a store that cannot be read safely.
pub(crate) const DAMAGED_ADVICE: &str = "the store was left exactly as it is; `tether doctor` \
    shows what is wrong, and `tether restore BACKUP` replaces it with a backup (the damaged file \
    is kept aside); do not relink over it";

/// The human rendering of a status value (as built by `cmd::status`).
pub(crate) fn render(v: &Value) -> String {
    let mut out = Vec::new();
    let mut row = |k: &str, val: String| out.push(format!("{k:<16}{val}"));
    let missing = if v["exists"] == json!(false) {
        " (does not exist yet)"
    } else {
        ""
    };
    row(
        "store",
        format!("{}{missing}", v["store"].as_str().unwrap_or("?")),
    );
    match &v["owner"] {
        Value::Null => row(
            "owner",
            "none (no instance is running on this store)".into(),
        ),
        o => row(
            "owner",
            format!(
                "pid {} on {}, since {}",
                o["pid"],
                o["host"].as_str().unwrap_or("?"),
                when(&o["since"]).unwrap_or_default()
            ),
        ),
    }
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !problems.is_empty() {
        for p in &problems {
            row("✘ damaged", (*p).to_owned());
        }
        row("  advice", DAMAGED_ADVICE.to_owned());
    }
    let acc = &v["account"];
    if !problems.is_empty() && acc["linked"] != json!(true) {
        row("linked", "unknown (the store cannot be read)".into());
    } else if acc["linked"] == json!(true) {
        let mut line = acc["jid"].as_str().unwrap_or("?").to_owned();
        if let Some(p) = acc["platform"].as_str() {
            line.push_str(&format!(" (phone: {p})"));
        }
        if acc["confirmed"] == json!(false) {
            line.push_str(", not yet confirmed by a login");
        }
        row("linked", format!("yes, as {line}"));
    } else {
        row(
            "linked",
            "no — run `tether run` and scan the QR code".into(),
        );
    }
    let live = &v["live"];
    if let Some(state) = live["state"].as_str() {
        let mut s = state.to_owned();
        if let Some(since) = live["connected_since"].as_u64() {
            s.push_str(&format!(
                " for {}",
                format_span(unix_now().saturating_sub(since))
            ));
        }
        if let Some(at) = live["next_retry_at_ms"].as_u64() {
            let left = at.saturating_sub(unix_now_ms()) / 1000;
            s.push_str(&format!(
                ", next attempt in {left}s (retry {})",
                live["attempt"]
            ));
        }
        row("state", s);
    }
    let rec = if live.is_object() { live } else { &v["record"] };
    if let Some(t) = when(&rec["last_connected"]) {
        row("last connected", t);
    } else if rec.is_object() {
        row("last connected", "never".into());
    }
    if let Some(r) = rec["last_reason"].as_object() {
        row(
            "last disconnect",
            format!(
                "{} ({}) {}",
                r.get("code").and_then(Value::as_str).unwrap_or("-"),
                r.get("description").and_then(Value::as_str).unwrap_or("?"),
                r.get("at")
                    .and_then(when)
                    .map(|w| format!("at {w}"))
                    .unwrap_or_default()
            ),
        );
        if let Some(a) = r.get("advice").and_then(Value::as_str) {
            row("  advice", a.to_owned());
        }
    }
    if rec.is_object() {
        let disconnects = rec["disconnects"]
            .as_u64()
            .map(|d| format!("{d} disconnects, "))
            .unwrap_or_default();
        let scope = if live.is_object() {
            "since this instance started"
        } else {
            "since the store was created"
        };
        row(
            "counters",
            format!(
                "{} connects, {disconnects}{} reconnects ({scope})",
                rec["connects"].as_u64().unwrap_or(0),
                rec["reconnects"].as_u64().unwrap_or(0)
            ),
        );
    }
    match rec["skew_secs"].as_i64() {
        Some(s) => row(
            "clock skew",
            format!(
                "{s:+}s (server minus local){}",
                when(&rec["skew_at"])
                    .map(|w| format!(", measured {w}"))
                    .unwrap_or_default()
            ),
        ),
        None => row(
            "clock skew",
            "not measured beyond the 30 s threshold".into(),
        ),
    }
    if let Some(q) = v["quarantined"].as_u64().filter(|q| *q > 0) {
        row(
            "quarantined",
            format!("{q} old identities kept (restorable: `tether quarantine list`)"),
        );
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_and_spans() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_span(59), "59s");
        assert_eq!(format_span(61), "1m 1s");
        assert_eq!(format_span(7200), "2h 0m");
    }
}
