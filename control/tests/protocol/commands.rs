//! Commands that reach the connection or the instance: status, stop, backup, the plain
//! words, read receipts, typing, presence, confirm, and the group queries and events.

use super::*;

#[test]
fn status_stop_backup_and_the_plain_words() {
    let path = socket("basic");
    let fake = Fake::new();
    let _server = ControlServer::serve(&path, fake.clone()).unwrap();
    let mut c = client(&path);
    let v = c.request(&Request::Status).unwrap();
    assert_eq!(v["status"]["live"]["state"], "connected");
    let v = raw(
        &mut c,
        r#"{"cmd":"backup","path":"/tmp/x.redb","req":"b1"}"#,
    );
    assert_eq!(
        (&v["ok"], &v["req"], &v["path"]),
        (&json!(true), &json!("b1"), &json!("/tmp/x.redb"))
    );
    c.request(&Request::Stop).unwrap();
    assert_eq!(fake.recorded.lock().unwrap().stops, 1);
    // The plain words of older clients, one request per connection.
    for word in ["status", "backup /tmp/y.redb", "stop"] {
        let mut s = UnixStream::connect(&path).unwrap();
        writeln!(s, "{word}").unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], true, "{word}: {line}");
    }
    assert_eq!(fake.recorded.lock().unwrap().stops, 2);
    assert_eq!(fake.recorded.lock().unwrap().backups.len(), 2);
    // Mistakes are answered with a code and the connection stays usable.
    let v = raw(&mut c, r#"{"cmd":"send","to":"alice","text":"x","req":9}"#);
    assert_eq!(
        (&v["ok"], &v["code"], &v["req"]),
        (&json!(false), &json!("invalid_recipient"), &json!(9))
    );
    c.send(&Request::Status, &Value::Null).unwrap();
    let mut s = UnixStream::connect(&path).unwrap();
    writeln!(s, r#"{{"cmd":"explode"}}"#).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(
        line.contains("bad_request") && line.contains("explode"),
        "{line}"
    );
    assert_eq!(c.next_line().unwrap().unwrap()["ok"], true);
}

#[test]
fn read_typing_presence_and_confirm_reach_the_connection() {
    let path = socket("cmds");
    let fake = Fake::new();
    let _server = ControlServer::serve(&path, fake.clone()).unwrap();
    let mut c = client(&path);
    for line in [
        r#"{"cmd":"read","chat":"15550001111","ids":["A","B"]}"#,
        r#"{"cmd":"typing","chat":"15550001111","state":"composing"}"#,
        r#"{"cmd":"typing","chat":"15550001111","state":"paused"}"#,
        r#"{"cmd":"presence","available":true}"#,
        r#"{"cmd":"confirm","positions":[3,4]}"#,
    ] {
        assert_eq!(raw(&mut c, line)["ok"], true, "{line}");
    }
    let commands = fake.commands();
    assert!(
        matches!(&commands[0], Command::MarkRead { chat, participant: None, ids }
        if chat.to_string() == "15550001111@s.whatsapp.net" && ids.len() == 2)
    );
    assert!(matches!(
        &commands[1],
        Command::ChatState {
            state: ChatState::Composing,
            ..
        }
    ));
    assert!(matches!(
        &commands[2],
        Command::ChatState {
            state: ChatState::Paused,
            ..
        }
    ));
    assert!(matches!(
        &commands[3],
        Command::Presence { available: true }
    ));
    assert!(
        matches!(&commands[4], Command::Confirm { positions } if positions == &[InboxPos(3), InboxPos(4)])
    );
    // A command the connection refuses is answered with its reason.
    let path = socket("refuse");
    let refusing = Arc::new(Fake {
        refuse_commands: true,
        ..Arc::into_inner(Fake::new()).unwrap()
    });
    let _server = ControlServer::serve(&path, refusing).unwrap();
    let v = raw(
        &mut client(&path),
        r#"{"cmd":"read","chat":"15550001111","ids":["A"]}"#,
    );
    assert_eq!((&v["ok"], &v["code"]), (&json!(false), &json!("refused")));
    assert!(v["error"].as_str().unwrap().contains("mark read"), "{v}");
}

#[test]
fn group_queries_answer_when_the_server_did_and_group_events_stream() {
    let path = socket("groups");
    let fake = Fake::new();
    let server = ControlServer::serve(&path, fake.clone()).unwrap();
    let mut c = client(&path);
    let group: Jid = "120363000000000001@g.us".parse().unwrap();
    let info = GroupInfo {
        jid: group.clone(),
        subject: "Team".into(),
        addressing_mode: "lid".into(),
        creator: Some("15550001111@s.whatsapp.net".parse().unwrap()),
        participants: vec![GroupParticipant {
            jid: "100000000000001@lid".parse().unwrap(),
            lid: Some("100000000000001@lid".parse().unwrap()),
            phone_number: Some("15550001111@s.whatsapp.net".parse().unwrap()),
            is_admin: true,
            is_super_admin: true,
        }],
    };

    // group_info: the query reaches the connection; the answer comes when the server's does.
    let (tag, request) =
        Request::parse(r#"{"cmd":"group_info","group":"120363000000000001@g.us","req":"g1"}"#)
            .unwrap();
    c.send(&request, &tag).unwrap();
    while fake.tracker.groups().watched() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(
        fake.commands().last(),
        Some(Command::QueryGroup { group: g }) if *g == group
    ));
    fake.tracker
        .observe(&Event::GroupInfo(Box::new(info.clone())));
    let v = c.next_line().unwrap().unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["req"], "g1");
    assert_eq!(v["group"]["jid"], "120363000000000001@g.us");
    assert_eq!(v["group"]["subject"], "Team");
    assert_eq!(v["group"]["addressing"], "lid");
    assert_eq!(
        v["group"]["participants"][0]["phone_number"],
        "15550001111@s.whatsapp.net"
    );
    assert_eq!(v["group"]["participants"][0]["super_admin"], true);

    // A refusal carries the group; a non-group JID is refused at once.
    let (tag, request) =
        Request::parse(r#"{"cmd":"group_info","group":"120363000000000002@g.us"}"#).unwrap();
    c.send(&request, &tag).unwrap();
    while fake.tracker.groups().watched() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    fake.tracker.observe(&Event::GroupQueryFailed {
        group: "120363000000000002@g.us".parse().unwrap(),
        reason: "this account is not a member of the group".into(),
    });
    let v = c.next_line().unwrap().unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "group_refused");
    assert_eq!(v["group"], "120363000000000002@g.us");
    let v = raw(&mut c, r#"{"cmd":"group_info","group":"+15551234567"}"#);
    assert_eq!(v["code"], "invalid_recipient", "{v}");

    // groups: the list of joined groups.
    let (tag, request) = Request::parse(r#"{"cmd":"groups","req":2}"#).unwrap();
    c.send(&request, &tag).unwrap();
    while fake.tracker.groups().watched() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(fake.commands().last(), Some(Command::ListGroups)));
    fake.tracker.observe(&Event::Groups(vec![info]));
    let v = c.next_line().unwrap().unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["req"], 2);
    assert_eq!(v["groups"][0]["subject"], "Team");

    // A query the connection drops is answered as unanswered, not left hanging.
    let (tag, request) = Request::parse(r#"{"cmd":"groups"}"#).unwrap();
    c.send(&request, &tag).unwrap();
    while fake.tracker.groups().watched() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    fake.tracker.close();
    let v = c.next_line().unwrap().unwrap();
    assert_eq!(v["code"], "unanswered", "{v}");

    // Subscribers see membership changes.
    let v = raw(&mut c, r#"{"cmd":"subscribe","events":["group_changed"]}"#);
    assert_eq!(v["ok"], true);
    server.publish(&Event::GroupChanged {
        group,
        actor: Some("15550001111@s.whatsapp.net".parse().unwrap()),
        change: tether_core::messaging::groups::GroupChange::Removed(vec![
            "15550002222@s.whatsapp.net".parse().unwrap(),
        ]),
    });
    let e = event(&mut c, "group_changed");
    assert_eq!(e["group"], "120363000000000001@g.us");
    assert_eq!(e["change"], "removed");
    assert_eq!(e["members"][0], "15550002222@s.whatsapp.net");
    assert_eq!(e["actor"], "15550001111@s.whatsapp.net");
}
