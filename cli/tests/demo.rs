//! `tether demo` run as a user runs it: exit 0, and the connected/408/515/440 lines (human and
//! JSON).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Tmp, output, tether};
use serde_json::Value;

#[test]
fn demo_links_survives_408_and_515_and_stops_on_440() {
    let t = Tmp::new("demo");
    let (code, out, err) = output(tether(&t.0).arg("demo"));
    assert_eq!(code, 0, "{out}\n{err}");
    for needle in [
        "Scan this QR code",
        "Connected as ",
        "Connection closed. Reason: [408] (Connection timed out)",
        "Reconnecting in ",
        "Connection closed. Reason: 515 (Restart required)",
        "Connection closed. Reason: 440 (Connection replaced)",
        "advice: Another Tether",
        "Demo finished",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn demo_json_prints_one_event_object_per_line() {
    let t = Tmp::new("demo-json");
    let (code, out, err) = output(tether(&t.0).args(["demo", "--json"]));
    assert_eq!(code, 0, "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for n in [
        "qr",
        "paired",
        "connected",
        "disconnected",
        "reconnecting",
        "stopped",
        "demo_finished",
    ] {
        assert!(names.contains(&n), "no {n} in {names:?}");
    }
    let d440 = events
        .iter()
        .find(|e| e["event"] == "disconnected" && e["code"] == 440)
        .unwrap();
    assert_eq!(d440["terminal"], true);
    assert!(
        d440["advice"]
            .as_str()
            .unwrap()
            .contains("Stop the other one")
    );
}
