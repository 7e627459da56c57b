//! Clients: subscribers' replay from a position, and the server's bounds (line cap, line
//! deadline, a subscriber that stops reading, the client limit, peers of another user).

use super::*;

#[test]
fn subscribers_replay_from_their_position_and_get_each_message_once() {
    let path = socket("sub");
    let fake = Fake::new();
    let server = ControlServer::serve(&path, fake.clone()).unwrap();
    for p in 0..3 {
        server.publish(&message(p, &format!("OLD{p}"), "old"));
    }
    let mut from1 = client(&path);
    let v = from1
        .request(&Request::parse(r#"{"cmd":"subscribe","from":1}"#).unwrap().1)
        .unwrap();
    assert_eq!(v["subscribed"], true);
    assert!(matches!(
        fake.commands().last(),
        Some(Command::ReplayInbox { from: InboxPos(1) })
    ));
    let mut live = client(&path);
    live.request(
        &Request::parse(r#"{"cmd":"subscribe","events":["message","connected"]}"#)
            .unwrap()
            .1,
    )
    .unwrap();
    // The connection replays 1..=2 (and, from another subscriber's read, 2 again) while a
    // live message arrives; then the read ends.
    server.publish(&replayed(1, "OLD1", "old"));
    server.publish(&message(3, "NEW3", "new"));
    server.publish(&replayed(2, "OLD2", "old"));
    server.publish(&replayed(2, "OLD2", "old"));
    server.publish(&Event::InboxReplayed {
        from: InboxPos(1),
        next: InboxPos(3),
    });
    server.publish(&Event::KeepAliveRestored);
    server.publish(&Event::Connected {
        jid: "15559990000:1@s.whatsapp.net".parse().unwrap(),
    });
    let mut got = Vec::new();
    loop {
        let v = from1.next_line().unwrap().unwrap();
        if v["event"] == "connected" {
            break;
        }
        got.push((
            v["event"].as_str().unwrap().to_owned(),
            v["position"].as_u64(),
        ));
        assert!(v["ts"].as_u64().is_some());
    }
    assert_eq!(
        got,
        vec![
            ("message".to_owned(), Some(1)),
            ("message".to_owned(), Some(3)),
            ("message".to_owned(), Some(2)),
            ("inbox_replayed".to_owned(), None),
            ("keepalive_restored".to_owned(), None),
        ]
    );
    // The live subscriber got only what came after it subscribed, and only what it asked for.
    let v = live.next_line().unwrap().unwrap();
    assert_eq!(
        (&v["event"], &v["position"], &v["text"]),
        (&json!("message"), &json!(3), &json!("new"))
    );
    assert_eq!(live.next_line().unwrap().unwrap()["event"], "connected");
    // Unsubscribed: nothing more.
    live.request(&Request::Unsubscribe).unwrap();
    server.publish(&message(4, "NEW4", "x"));
    let v = live.request(&Request::Status).unwrap();
    assert_eq!(v["ok"], true, "the next line is the answer, not an event");
}

#[test]
fn bounds_long_lines_slow_lines_and_a_subscriber_that_stops_reading() {
    let path = socket("bounds");
    let fake = Fake::new();
    let mut limits = Limits::default();
    limits.max_line = 1024;
    limits.line_deadline = Duration::from_millis(600);
    limits.queue = 64;
    let server = ControlServer::serve_with(&path, fake, limits).unwrap();
    // A line over the cap: refused and closed.
    let mut s = UnixStream::connect(&path).unwrap();
    s.write_all(&vec![b'x'; 4096]).unwrap();
    let mut reader = BufReader::new(&s);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("too_long"), "{line}");
    line.clear();
    assert_eq!(reader.read_line(&mut line).unwrap_or(0), 0, "closed after");
    // A line that trickles: refused once the deadline passes; another client is served
    // meanwhile.
    let mut slow = UnixStream::connect(&path).unwrap();
    slow.write_all(br#"{"cmd":"sta"#).unwrap();
    let mut other = client(&path);
    assert_eq!(other.request(&Request::Status).unwrap()["ok"], true);
    let mut line = String::new();
    BufReader::new(&slow).read_line(&mut line).unwrap();
    assert!(line.contains("too_slow"), "{line}");
    // A subscriber that never reads is cut off; a reading one is not held up.
    let mut stuck = UnixStream::connect(&path).unwrap();
    writeln!(stuck, r#"{{"cmd":"subscribe"}}"#).unwrap();
    let mut reading = client(&path);
    reading
        .request(&Request::parse(r#"{"cmd":"subscribe"}"#).unwrap().1)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.hub().subscribers() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the two subscribers were not registered within 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let big = "y".repeat(2000);
    let mut received = 0;
    for p in 0..2000 {
        server.publish(&message(p, &format!("M{p}"), &big));
        // The reader keeps up.
        let v = reading.next_line().unwrap().unwrap();
        assert_eq!(v["position"], p);
        received += 1;
    }
    assert_eq!(received, 2000);
    assert_eq!(
        server.hub().subscribers(),
        1,
        "the stuck subscriber was cut off"
    );
    // It reads what was queued, then the end of the stream.
    stuck
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut lines = 0;
    for l in BufReader::new(&stuck).lines() {
        match l {
            Ok(_) => lines += 1,
            Err(_) => break,
        }
    }
    assert!(lines < 2000, "it got {lines} lines and then the end");
    drop(server);
    assert!(!path.exists(), "the socket file is removed with the server");
}

#[test]
fn clients_beyond_the_limit_are_told_to_retry() {
    let path = socket("busy");
    let mut limits = Limits::default();
    limits.max_clients = 1;
    let _server = ControlServer::serve_with(&path, Fake::new(), limits).unwrap();
    let mut holder = client(&path);
    // The holder is counted once its first request was answered.
    assert_eq!(holder.request(&Request::Status).unwrap()["ok"], true);
    match tether_control::ask(&path, &Request::Status, Duration::from_secs(5)) {
        Err(tether_control::AskError::Refused { code, .. }) => assert_eq!(code, "busy"),
        other => panic!("a second client was served beside the first: {other:?}"),
    }
    assert_eq!(holder.request(&Request::Status).unwrap()["ok"], true);
}

#[test]
fn only_the_same_user_is_served_and_only_its_sockets_are_asked() {
    use tether_control::socket::own_uid;
    let path = socket("uid");
    let other = own_uid().wrapping_add(1);
    // A server for another user refuses us.
    let mut limits = Limits::default();
    limits.uid = other;
    let server = ControlServer::serve_with(&path, Fake::new(), limits).unwrap();
    match tether_control::ask(&path, &Request::Status, Duration::from_secs(5)) {
        Err(tether_control::AskError::Refused { error, .. }) => {
            assert!(error.contains("serves only uid"), "{error}");
        }
        other => panic!("served another user: {other:?}"),
    }
    drop(server);
    // A client expecting another user does not trust our socket.
    let _server = ControlServer::serve(&path, Fake::new()).unwrap();
    match tether_control::ask_peer(&path, &Request::Status, Duration::from_secs(5), other) {
        Err(tether_control::AskError::Untrusted(e)) => assert!(e.contains("not uid"), "{e}"),
        other => panic!("trusted another user's socket: {other:?}"),
    }
    // A link in place of the socket is never followed.
    let link = path.with_file_name("link.sock");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    match tether_control::ask(&link, &Request::Status, Duration::from_secs(5)) {
        Err(tether_control::AskError::Untrusted(e)) => assert!(e.contains("not a socket"), "{e}"),
        other => panic!("followed a link: {other:?}"),
    }
}
