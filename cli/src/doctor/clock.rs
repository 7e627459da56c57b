//! Clock checks: the skew last measured against the server, and the local NTP state when
//! `timedatectl` can tell (its absence is never a failure).

use std::process::Command;

use serde_json::Value;

use super::Check;

/// The last measured skew, from the status (live or recorded).
pub(crate) fn skew(status: &Value) -> Check {
    let rec = if status["live"].is_object() {
        &status["live"]
    } else {
        &status["record"]
    };
    match rec["skew_ms"].as_i64().map(|ms| ms / 1000) {
        Some(s) if s.unsigned_abs() > 30 => Check::fail(
            "clock skew",
            format!(
                "this computer's clock was {}s off the server's at the last login",
                s.unsigned_abs()
            ),
            "synchronise the clock (e.g. `timedatectl set-ntp true`, or install chrony/ntpd); skew breaks authentication",
        ),
        Some(s) => Check::pass("clock skew", format!("{s:+}s at the last measurement")),
        None => Check::pass(
            "clock skew",
            "none measured (the server's time agreed within 30 s, or no login yet)",
        ),
    }
}

/// `timedatectl show`'s NTP state, when available.
pub(crate) fn ntp() -> Check {
    let out = Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--property=NTP"])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return Check::note(
            "local NTP",
            "cannot tell here (no timedatectl); make sure an NTP client keeps the clock synchronised",
        );
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let synced = text.lines().any(|l| l.trim() == "NTPSynchronized=yes");
    let enabled = text.lines().any(|l| l.trim() == "NTP=yes");
    match (synced, enabled) {
        (true, _) => Check::pass("local NTP", "synchronised (timedatectl)"),
        (false, true) => Check::note(
            "local NTP",
            "NTP is on but not synchronised yet (timedatectl)",
        ),
        (false, false) => Check::fail(
            "local NTP",
            "NTP is off (timedatectl)",
            "turn it on: `sudo timedatectl set-ntp true`",
        ),
    }
}
