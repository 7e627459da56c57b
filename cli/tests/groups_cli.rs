//! Groups as a user runs them, against `tether sim --contacts 2`: contact phone 1 creates a
//! group with the linked account and phone 2 and writes to it; `tether run --json` prints the
//! message with `chat` = the group and `from` = the member; the control socket answers `groups`
//! and `group_info`; `tether send GROUP` reaches both phones; phone 1 removes phone 2 (run
//! prints `group_changed`), and the next `tether send` reaches phone 1 only.
//! Deadlines in the helpers only guard against hangs; nothing asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Sim, Tmp, http_get, output, post_body, run_json, sim_with, tether};
use serde_json::{Value, json};

/// One request on the control socket; returns its answer.
fn ask(store: &Path, request: &Value) -> Value {
    let s = UnixStream::connect(format!("{}.sock", store.display())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    writeln!(&s, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

/// What phone `phone` received in chat `group`: (id, text).
fn received(sim: &Sim, phone: usize, group: &str) -> Vec<(String, String)> {
    let got: Value = serde_json::from_str(&http_get(&format!(
        "{}/received?phone={phone}",
        sim.control
    )))
    .unwrap();
    got.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["chat"] == group)
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until phone `phone` received `id` in `group`; returns its text.
fn wait_received(sim: &Sim, phone: usize, group: &str, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, text)) = received(sim, phone, group)
            .into_iter()
            .find(|(i, _)| i == id)
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "phone {phone} never got {id} in {group}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `tether send GROUP TEXT --json` through the running instance; the message id.
fn send(home: &Path, store: &Path, group: &str, text: &str) -> String {
    let (code, out, err) = output(
        tether(home)
            .args(["send", group, text, "--json", "--store"])
            .arg(store),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["to"], group, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_group_conversation_through_run_the_socket_and_send_with_a_member_removed() {
    let t = Tmp::new("groups");
    let store = t.0.join("s.redb");
    let sim = sim_with(&t.0, &["--contacts", "2"]);
    let mut run = run_json(&t.0, &sim, &store, "run");
    run.event("connected");
    let phones: Value =
        serde_json::from_str(&http_get(&format!("{}/phones", sim.control))).unwrap();
    let phone1 = phones[1]["phone_number"].as_str().unwrap().to_owned();
    let lid1 = phones[1]["lid_user"].as_str().unwrap().to_owned();

    // Phone 1 creates a group with the account (phone 0) and phone 2.
    let created = post_body(&sim, "/groups?phone=1&subject=Team", "0,2");
    let group = created["group"].as_str().unwrap().to_owned();
    assert!(group.ends_with("@g.us"), "{created}");

    // Phone 1 writes to it; run prints it with the group as chat and phone 1 as sender. (The
    // phone reaches the companion once its pre-keys are up, shortly after connecting: until
    // then it writes again.)
    let mut attempts = 0;
    let (id, m) = loop {
        attempts += 1;
        assert!(
            attempts <= 20,
            "run printed none of phone 1's {attempts} group messages"
        );
        let sent = post_body(&sim, &format!("/send?phone=1&to={group}"), "hello team");
        let id = sent["id"].as_str().unwrap().to_owned();
        if let Some(m) = run.try_event_where("message", Duration::from_secs(3), |m| {
            m["id"] == id.as_str()
        }) {
            break (id, m);
        }
    };
    assert_eq!(m["text"], "hello team", "{m}");
    assert_eq!(m["chat"], group.as_str(), "{m}");
    assert_eq!(m["from_me"], false, "{m}");
    let from_user = |v: &Value| {
        v.as_str()
            .and_then(|j| j.split(['@', ':']).next())
            .map(str::to_owned)
    };
    let senders = [from_user(&m["from"]), from_user(&m["from_alt"])];
    assert!(
        senders.contains(&Some(phone1.clone())) || senders.contains(&Some(lid1.clone())),
        "the sender is not phone 1 ({phone1} / {lid1}): {m}"
    );

    // The control socket: the groups the account is in, and one group's metadata.
    let list = ask(&store, &json!({"cmd": "groups", "req": 1}));
    assert_eq!(list["ok"], true, "{list}");
    let team = list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["jid"] == group.as_str())
        .unwrap_or_else(|| panic!("{group} is not listed: {list}"))
        .clone();
    assert_eq!(team["subject"], "Team");
    assert_eq!(team["participants"].as_array().unwrap().len(), 3, "{team}");
    let info = ask(&store, &json!({"cmd": "group_info", "group": group}));
    assert_eq!(info["ok"], true, "{info}");
    assert_eq!(info["group"]["subject"], "Team");
    let admins: Vec<&Value> = info["group"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["super_admin"] == true)
        .collect();
    assert_eq!(
        admins.len(),
        1,
        "the creator is the one super admin: {info}"
    );
    let missing = ask(
        &store,
        &json!({"cmd": "group_info", "group": "120363999999999999@g.us"}),
    );
    assert_eq!(missing["ok"], false, "{missing}");
    assert_eq!(missing["code"], "group_refused", "{missing}");

    // `tether send` to the group (quoting nothing): both members get it.
    let hi = send(&t.0, &store, &group, "hi team, from Tether");
    for phone in [1, 2] {
        assert_eq!(
            wait_received(&sim, phone, &group, &hi),
            "hi team, from Tether"
        );
    }

    // Phone 1 removes phone 2: run prints the change; Tether's next message reaches phone 1
    // only (a new sender key that phone 2 never gets).
    let removed = post_body(&sim, &format!("/groups/remove?phone=1&group={group}"), "2");
    assert_eq!(removed["changed"].as_array().unwrap().len(), 1, "{removed}");
    let change = run.event_where("group_changed", |e| e["group"] == group.as_str());
    assert_eq!(change["change"], "removed", "{change}");
    let after = send(&t.0, &store, &group, "only the two of us now");
    assert_eq!(
        wait_received(&sim, 1, &group, &after),
        "only the two of us now"
    );
    assert!(
        !received(&sim, 2, &group).iter().any(|(i, _)| *i == after),
        "phone 2 got a message sent after it was removed"
    );

    let (code, _, err) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0, "{err}");
    run.event("stopped");
    assert_eq!(run.exit_code(), 0);
    let printed = run
        .seen
        .iter()
        .filter(|l| l.contains("\"event\":\"message\"") && l.contains(&id))
        .count();
    assert_eq!(printed, 1, "run printed the group message {printed} times");
}
