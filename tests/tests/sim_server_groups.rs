//! Groups on the loopback `SimServer` through its HTTP control interface (issue 15): a
//! contact phone creates a group with phone 0 and another contact, every member phone reads
//! what a member sends to it (chat = the group), a member removed gets nothing sent after the
//! removal, and refused changes answer 400 with the reason. Scripts (`tether sim`, the Baileys
//! interop) drive the same routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};

use serde_json::Value;
use tether_core::binary::Jid;
use tether_sim::MemberChange;
use tether_sim::net::{SimServer, SimServerConfig};

/// One HTTP/1.1 request to the control interface: status code and JSON body.
fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let authority = base.strip_prefix("http://").expect("http url");
    let mut stream = std::net::TcpStream::connect(authority).expect("connect control");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("http answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, serde_json::from_str(body).expect("json body"))
}

/// The texts phone `phone` received in `group`, oldest first.
fn texts(base: &str, phone: usize, group: &str) -> Vec<(String, String)> {
    let (status, got) = http(
        base,
        "GET",
        &format!("/received?phone={phone}&chat={group}"),
        "",
    );
    assert_eq!(status, 200, "{got}");
    got.as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            assert_eq!(r["chat"], group, "{r}");
            (
                r["text"].as_str().unwrap_or_default().to_owned(),
                r["sender"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn phones_make_a_group_talk_in_it_and_a_removed_member_hears_nothing_more() {
    let server = SimServer::start(SimServerConfig {
        control: true,
        contacts: 2,
        ..SimServerConfig::default()
    })
    .expect("start");
    let base = server.control_url().expect("control url");
    let (_, phones) = http(&base, "GET", "/phones", "");
    let lid = |i: usize| format!("{}@lid", phones[i]["lid_user"].as_str().unwrap());

    // Phone 1 creates the group with phone 0 (by index) and phone 2 (by JID).
    let (status, created) = http(
        &base,
        "POST",
        "/groups?phone=1&subject=Team%20Tether",
        &format!("0, {}", lid(2)),
    );
    assert_eq!(status, 200, "{created}");
    let group = created["group"].as_str().unwrap().to_owned();
    assert!(group.ends_with("@g.us"), "{group}");
    let (_, groups) = http(&base, "GET", "/groups", "");
    assert_eq!(groups[0]["jid"], group.as_str());
    assert_eq!(groups[0]["subject"], "Team Tether");
    assert_eq!(groups[0]["addressing"], "lid");
    let members = groups[0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{groups}");
    let creator = members
        .iter()
        .find(|m| m["lid"] == lid(1).as_str())
        .unwrap();
    assert_eq!(creator["role"], "superadmin");

    // Phone 1 writes to the group: phones 0 and 2 read it once, sent by phone 1.
    let (status, sent) = http(
        &base,
        "POST",
        &format!("/send?phone=1&to={}", group.replace('@', "%40")),
        "hello team",
    );
    assert_eq!(status, 200, "{sent}");
    for phone in [0, 2] {
        assert_eq!(
            texts(&base, phone, &group),
            vec![("hello team".to_owned(), lid(1))],
            "phone {phone}"
        );
    }
    assert!(texts(&base, 1, &group).is_empty(), "not to itself");
    // Phone 2 answers through the Rust API; phone 1 reads it with phone 2's sender key.
    let group_jid: Jid = group.parse().unwrap();
    server.send_text(2, &group_jid, "hi").unwrap();
    assert_eq!(texts(&base, 1, &group), vec![("hi".to_owned(), lid(2))]);

    // Phone 2 may not remove anyone (not an admin); phone 1 removes phone 2.
    let remove = format!("/groups/remove?phone=2&group={group}");
    let (status, refused) = http(&base, "POST", &remove, "0");
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("admins"),
        "{refused}"
    );
    let (status, removed) = http(
        &base,
        "POST",
        &format!("/groups/remove?phone=1&group={group}"),
        "2",
    );
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["changed"].as_array().unwrap().len(), 1, "{removed}");
    server.send_text(1, &group_jid, "after").unwrap();
    assert_eq!(texts(&base, 0, &group).len(), 3, "phone 0 still reads");
    assert_eq!(texts(&base, 2, &group).len(), 1, "phone 2 got nothing more");
    // And phone 2, no longer a member, cannot write to it.
    server.send_text(2, &group_jid, "still here?").unwrap();
    assert_eq!(texts(&base, 1, &group).len(), 1);

    // Added back through the Rust API, phone 2 reads the next message (a new sender key).
    server
        .change_group(1, &group_jid, MemberChange::Add, &[lid(2).parse().unwrap()])
        .unwrap();
    server.send_text(1, &group_jid, "welcome back").unwrap();
    assert_eq!(
        texts(&base, 2, &group).last().unwrap().0,
        "welcome back".to_owned()
    );

    // Bad requests say what is wrong.
    let (status, bad) = http(&base, "POST", "/groups?phone=1", "bob");
    assert_eq!(status, 400);
    assert!(
        bad["error"].as_str().unwrap().contains("phone index"),
        "{bad}"
    );
    let (status, bad) = http(&base, "POST", "/groups/add?phone=1&group=nope", "2");
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("@g.us"), "{bad}");
    let (status, _) = http(&base, "POST", "/groups/kick?phone=1", "");
    assert_eq!(status, 404);
    assert!(server.with_server(|s| s.complaints().is_empty()));
}
