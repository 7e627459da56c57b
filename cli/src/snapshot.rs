//! What `tether status` shows, gathered from a running owner (over the control socket) or from
//! the store itself, as one JSON value; and its human rendering. The live status itself is
//! `tether_control::status`.

use serde_json::{Value, json};

pub(crate) use tether_control::status::{LiveStatus, ReasonJson, unix_now, unix_now_ms};

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn format_unix(secs: u64) -> String {
    let (year, month, day) = crate::logging::civil(secs / 86_400);
    let rem = secs % 86_400;
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

/// `2026-11-24 16:19:41 UTC (3s ago)` for Unix milliseconds.
fn when(v: &Value) -> Option<String> {
    let t = v.as_u64()? / 1000;
    let ago = unix_now().saturating_sub(t);
    Some(format!("{} ({} ago)", format_unix(t), format_span(ago)))
}

/// The human rendering of a status value (as built by `cmd::status`). A damaged store comes
/// first, with what to do about it.
pub(crate) fn render(v: &Value) -> String {
    let mut out = Vec::new();
    let mut row = |k: &str, val: String| out.push(format!("{k:<16}{val}"));
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for p in &problems {
        row("✘ damaged", (*p).to_owned());
    }
    if !problems.is_empty() {
        row("  fix", DAMAGED_ADVICE.to_owned());
    }
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
                when(&o["since_ms"]).unwrap_or_default()
            ),
        ),
    }
    let acc = &v["account"];
    if acc["linked"] == json!(true) {
        let mut line = acc["jid"].as_str().unwrap_or("?").to_owned();
        if let Some(p) = acc["platform"].as_str() {
            line.push_str(&format!(" (phone: {p})"));
        }
        if acc["confirmed"] == json!(false) {
            line.push_str(", not yet confirmed by a login");
        }
        row("linked", format!("yes, as {line}"));
    } else if problems.is_empty() {
        row(
            "linked",
            "no — run `tether run` and scan the QR code".into(),
        );
    } else {
        row("linked", "unknown (the store is damaged; see above)".into());
    }
    if let Some(server) = v["server"]["endpoint"].as_str() {
        row("server", format!("{server} (the one it was linked with)"));
    }
    let live = &v["live"];
    if let Some(state) = live["state"].as_str() {
        let mut s = state.to_owned();
        if let Some(since) = live["connected_since_ms"].as_u64() {
            s.push_str(&format!(
                " for {}",
                format_span(unix_now().saturating_sub(since / 1000))
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
    if let Some(t) = when(&rec["last_connected_ms"]) {
        row("last connected", t);
    } else if rec.is_object() {
        row("last connected", "never".into());
    }
    if let Some(r) = rec["last_reason"].as_object() {
        let code = ReasonJson::code_text(
            r.get("code").and_then(Value::as_u64),
            r.get("local") == Some(&json!(true)),
        );
        row(
            "last disconnect",
            format!(
                "{code} ({}) {}",
                r.get("reason").and_then(Value::as_str).unwrap_or("?"),
                r.get("at_ms")
                    .and_then(when)
                    .map(|w| format!("at {w}"))
                    .unwrap_or_default()
            ),
        );
        if let Some(d) = r.get("detail").and_then(Value::as_str) {
            row("  cause", d.to_owned());
        }
        if let Some(a) = r.get("advice").and_then(Value::as_str) {
            row("  advice", a.to_owned());
        }
    }
    if let Some(t) = when(&rec["banned_until_ms"]) {
        row(
            "banned until",
            format!("{t}; `tether run` refuses to connect before then"),
        );
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
    match rec["skew_ms"].as_i64() {
        Some(ms) => row(
            "clock skew",
            format!(
                "{:+}s (server minus local){}",
                ms / 1000,
                when(&rec["skew_at_ms"])
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

/// What to do about a damaged store (never "link again" first: the session may be recoverable).
pub(crate) const DAMAGED_ADVICE: &str = "the store was left exactly as it is; restore the last \
    good backup with `tether restore FILE` (the damaged file is kept aside); `tether doctor` shows \
    what is damaged. Only if there is no backup, move the damaged file away yourself (it may still \
    be repairable) and link again with `tether run`.";

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
