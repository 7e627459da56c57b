//! Messaging as a user runs it: `tether run --json` against `tether sim`, a contact's phone
//! writes to the linked account (run prints the `message`), `tether send --reply-to` answers
//! through the running instance's control socket (exit 0 after the server ack; the phone gets
//! the quoted reply; run prints `sent` naming the chat), `tether read` marks it read, and the
//! control socket streams the same message to a subscriber that catches up from position 0.
//! Deadlines in the helpers only guard against hangs; nothing asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{Tmp, connecting, http_get, output, post_body, run_json, sim, tether};
use serde_json::{Value, json};

#[test]
fn a_contact_writes_run_prints_it_send_replies_through_the_socket_and_the_phone_gets_it() {
    let t = Tmp::new("msg");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");

    // Contact phone 1 writes to the account; run prints the message. (The phone reaches the
    // companion once it has uploaded its pre-keys, shortly after connecting: until then the
    // phone's message goes to the account's other devices only, so it writes again.)
    let mut attempts = 0;
    let (id, m) = loop {
        attempts += 1;
        assert!(
            attempts <= 20,
            "run printed none of the phone's {attempts} messages"
        );
        let sent = post_body(&sim, "/send?phone=1", "hello tether");
        let id = sent["id"].as_str().unwrap().to_owned();
        if let Some(m) = run.try_event_where("message", Duration::from_secs(3), |m| {
            m["id"] == id.as_str()
        }) {
            break (id, m);
        }
    };
    assert_eq!(m["text"], "hello tether");
    assert_eq!(m["from_me"], false);
    assert_eq!(m["replayed"], false);
    let chat = m["chat"].as_str().unwrap().to_owned();
    let position = m["position"].as_u64().unwrap();

    // A reply through the running instance: exit 0 once the server acknowledged it.
    let (code, out, err) = output(
        tether(&t.0)
            .args([
                "send",
                &chat,
                "hi back",
                "--reply-to",
                &id,
                "--json",
                "--store",
            ])
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    let reply_id = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(answer["to"], chat.as_str());
    let s = run.event_where("sent", |s| s["id"] == reply_id.as_str());
    assert_eq!(s["to"], chat.as_str());

    // The phone's application got the reply.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Value =
            serde_json::from_str(&http_get(&format!("{}/received?phone=1", sim.control))).unwrap();
        if got
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == reply_id.as_str() && r["text"] == "hi back")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phone 1 never got the reply; it has {got}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Marking it read goes through the socket too.
    let (code, _, err) = output(
        tether(&t.0)
            .args(["read", &chat, &id, "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");

    // A socket subscriber catching up from 0 gets the message (replayed), then the end of
    // its read; run's stdout does not print it again.
    let sock = format!("{}.sock", store.display());
    let s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    writeln!(
        &s,
        "{}",
        json!({"cmd": "subscribe", "from": 0, "events": ["message", "inbox_replayed"], "req": 1})
    )
    .unwrap();
    let mut lines = BufReader::new(&s).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    let first = next();
    assert_eq!((&first["ok"], &first["req"]), (&json!(true), &json!(1)));
    let mut replayed = Vec::new();
    loop {
        let v = next();
        if v["event"] == "inbox_replayed" {
            break;
        }
        replayed.push((v["position"].as_u64().unwrap(), v["replayed"].clone()));
    }
    assert!(
        replayed.contains(&(position, json!(true))),
        "the catch-up read did not give position {position}: {replayed:?}"
    );
    drop(s);

    let (code, _, err) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0, "{err}");
    run.event("stopped"); // every line before it is in `seen` now
    assert_eq!(run.exit_code(), 0);
    let printed = run
        .seen
        .iter()
        .filter(|l| l.contains("\"event\":\"message\"") && l.contains(&id))
        .count();
    assert_eq!(printed, 1, "run printed the message {printed} times");
}

#[test]
fn send_with_no_running_instance_connects_itself_and_exits_after_the_ack() {
    let t = Tmp::new("send-own");
    let store = t.0.join("s.redb");
    let sim = sim(&t.0);
    // Link the store, then stop the instance: nothing serves the store any more.
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    let (code, _, err) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0, "{err}");
    assert_eq!(run.exit_code(), 0);
    let sock = format!("{}.sock", store.display());
    assert!(
        UnixStream::connect(&sock).is_err(),
        "something still serves {sock}"
    );

    // `send` connects with the store itself and exits 0 only once the server acknowledged.
    let phones: Value =
        serde_json::from_str(&http_get(&format!("{}/phones", sim.control))).unwrap();
    let contact = format!("+{}", phones[1]["phone_number"].as_str().unwrap());
    let (code, out, err) = output(&mut connecting(
        &t.0,
        &sim,
        &store,
        &[
            "send",
            &contact,
            "sent without a running instance",
            "--json",
        ],
    ));
    assert_eq!(code, 0, "{out}\n{err}");
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["via"], "own connection", "{answer}");
    assert!(answer["timestamp_ms"].as_u64().unwrap() > 0, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();

    // The contact's phone got it, once.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Value =
            serde_json::from_str(&http_get(&format!("{}/received?phone=1", sim.control))).unwrap();
        let copies: Vec<&Value> = got
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["id"] == id.as_str())
            .collect();
        if !copies.is_empty() {
            assert_eq!(copies.len(), 1, "{got}");
            assert_eq!(copies[0]["text"], "sent without a running instance");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phone 1 never got {id}; it has {got}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And the command left nothing running behind it.
    assert!(
        UnixStream::connect(&sock).is_err(),
        "send left {sock} served"
    );
}
