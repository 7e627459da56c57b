//! `tether demo` run as a user runs it: exit 0, the conversation (the phone's hello, Tether's
//! acknowledged answer, the phone's inbox showing it), the connected/408/515/440 lines, and the
//! backlog across a real SIGKILL of a child `tether run` (human and JSON).
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
        "A conversation: Sim Contact 1",
        "Tether answered “Hello back from Tether! 🤝”",
        "The phone's inbox shows Tether's answer: “Hello back from Tether! 🤝”",
        "Connection closed. Reason: [408] (Connection timed out)",
        "Reconnecting in ",
        "Connection closed. Reason: 515 (Restart required)",
        "Connection closed. Reason: 440 (Connection replaced)",
        "advice: Another Tether",
        "kill -9 tether run #1 (pid ",
        "All 6 arrived, each stored once",
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
        "conversation",
        "killed",
        "backlog_done",
        "demo_finished",
    ] {
        assert!(names.contains(&n), "no {n} in {names:?}");
    }
    // The conversation, in order: the phone wrote, Tether answered, the phone shows the answer.
    let talk: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "conversation")
        .collect();
    let steps: Vec<&str> = talk.iter().filter_map(|e| e["step"].as_str()).collect();
    assert_eq!(
        steps,
        ["phone_wrote", "answered", "phone_inbox"],
        "{talk:?}"
    );
    assert_eq!(
        talk[1]["id"], talk[2]["id"],
        "the phone shows the answer Tether sent"
    );
    assert_eq!(talk[2]["text"], talk[1]["text"]);
    // Tether printed the phone's hello as a message event before answering it.
    let hello = talk[0]["id"].as_str().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "message" && e["id"] == hello && e["text"] == talk[0]["text"]),
        "the hello was not printed as a message"
    );
    // The backlog: run #1 was SIGKILLed after printing some, every message arrived once.
    let killed = events.iter().find(|e| e["event"] == "killed").unwrap();
    assert_eq!(killed["signal"], "SIGKILL");
    assert!(killed["printed"].as_u64().unwrap() >= 2, "{killed}");
    let arrived: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "backlog_message")
        .collect();
    assert_eq!(arrived.len(), 6, "{arrived:?}");
    let mut positions: Vec<u64> = arrived
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        6,
        "six messages, six inbox positions: {arrived:?}"
    );
    assert!(arrived.iter().any(|e| e["run"] == 1), "{arrived:?}");
    let done = events
        .iter()
        .find(|e| e["event"] == "backlog_done")
        .unwrap();
    assert_eq!(done["messages"], 6);
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
