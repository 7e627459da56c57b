//! Every command and event of the control protocol through a real socket, against a backend
//! that records what it is asked (the messaging API it calls is tested end to end through the
//! simulator in `tests/tests/api_messaging.rs`), plus the server's bounds: line cap, line
//! deadline, independent clients, a subscriber that stops reading, peers of another user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use serde_json::{Value, json};
use tether_control::server::Limits;
use tether_control::{Backend, ControlClient, ControlServer, Request};
use tether_core::binary::Jid;
use tether_core::connection::{Command, Event};
use tether_core::driver::{ClientError, MessagingError};
use tether_core::media::{Digests, MediaError, MediaKey, MediaKind, MediaRef, Upload};
use tether_core::messaging::chatstate::ChatState;
use tether_core::messaging::groups::{GroupInfo, GroupParticipant};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::types::{InboxPos, IncomingMessage, SendError};
use tether_core::proto::message::Message;
use tether_net_common::groups::{GroupQueryError, PendingGroupInfo, PendingGroupList};
use tether_net_common::sends::{PendingSend, SendTracker};

#[derive(Default)]
struct Recorded {
    commands: Vec<Command>,
    sends: Vec<(Jid, Message)>,
    stops: u32,
    backups: Vec<PathBuf>,
    uploads: Vec<(MediaKind, PathBuf)>,
}

struct Fake {
    recorded: Mutex<Recorded>,
    tracker: Arc<SendTracker>,
    refuse_commands: bool,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            recorded: Mutex::new(Recorded::default()),
            tracker: SendTracker::new(),
            refuse_commands: false,
        })
    }

    fn commands(&self) -> Vec<Command> {
        self.recorded.lock().unwrap().commands.clone()
    }
}

impl Backend for Fake {
    fn status(&self) -> Value {
        json!({"live": {"state": "connected"}})
    }

    fn send(&self, to: Jid, message: Message) -> Result<PendingSend, MessagingError> {
        let mut r = self.recorded.lock().unwrap();
        r.sends.push((to, message));
        Ok(self
            .tracker
            .watch(MessageId(format!("ID{}", r.sends.len()))))
    }

    fn command(&self, command: Command) -> Result<(), ClientError> {
        if self.refuse_commands {
            return Err(tether_core::connection::CommandError::InvalidState {
                command: "mark read",
                state: "connecting",
            }
            .into());
        }
        self.recorded.lock().unwrap().commands.push(command);
        Ok(())
    }

    fn upload(&self, kind: MediaKind, path: &Path) -> Result<Upload, MediaError> {
        let length = std::fs::metadata(path)
            .map_err(|e| MediaError::Client(format!("cannot read {}: {e}", path.display())))?
            .len();
        self.recorded
            .lock()
            .unwrap()
            .uploads
            .push((kind, path.to_owned()));
        Ok(Upload {
            kind,
            media_key: MediaKey::from_bytes([7; 32]),
            digests: Digests {
                file_sha256: [1; 32],
                file_enc_sha256: [2; 32],
                file_length: length,
            },
            url: None,
            direct_path: "/v/t62.7119-24/fake".into(),
            uploaded_at: 1_800_000_000,
        })
    }

    fn group_info(&self, group: Jid) -> Result<PendingGroupInfo, GroupQueryError> {
        let pending = self.tracker.groups().watch_info(&group);
        self.command(Command::QueryGroup { group })?;
        Ok(pending)
    }

    fn joined_groups(&self) -> Result<PendingGroupList, GroupQueryError> {
        let pending = self.tracker.groups().watch_list();
        self.command(Command::ListGroups)?;
        Ok(pending)
    }

    fn backup(&self, path: &Path) -> Result<Value, String> {
        self.recorded.lock().unwrap().backups.push(path.to_owned());
        Ok(json!({"path": path}))
    }

    fn stop(&self) {
        self.recorded.lock().unwrap().stops += 1;
    }
}

fn socket(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-ctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("s.sock")
}

/// A client whose reads give up after 30 s: a guard against a hang, long enough for a
/// machine under heavy load (10 s once ran out there with nothing wrong).
fn client(path: &Path) -> ControlClient {
    ControlClient::connect(path, Some(Duration::from_secs(30))).unwrap()
}

/// Sends a raw line and reads the next answer (skipping events).
fn raw(c: &mut ControlClient, line: &str) -> Value {
    let (tag, request) = Request::parse(line).unwrap();
    c.send(&request, &tag).unwrap();
    loop {
        let v = c.next_line().unwrap().unwrap();
        if v.get("ok").is_some() {
            return v;
        }
    }
}

fn message(pos: u64, id: &str, text: &str) -> Event {
    let m = Message::text(text);
    Event::Message(Box::new(IncomingMessage {
        inbox: InboxPos(pos),
        id: MessageId(id.into()),
        chat: "15550001111@s.whatsapp.net".parse().unwrap(),
        sender: "15550001111:1@s.whatsapp.net".parse().unwrap(),
        sender_alt: None,
        from_me: false,
        timestamp: 1_800_000_000,
        push_name: None,
        offline: false,
        message_type: "text".into(),
        raw: Bytes::from(m.encode_to_vec()),
        message: m,
        replayed: false,
    }))
}

/// The same entry as a catch-up read emits it.
fn replayed(pos: u64, id: &str, text: &str) -> Event {
    match message(pos, id, text) {
        Event::Message(mut m) => {
            m.replayed = true;
            Event::Message(m)
        }
        other => other,
    }
}

/// Reads events until one named `name`.
fn event(c: &mut ControlClient, name: &str) -> Value {
    loop {
        let v = c.next_line().unwrap().expect("the stream ended");
        if v["event"] == name {
            return v;
        }
    }
}

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
fn send_answers_on_the_server_ack_or_with_the_typed_failure() {
    let path = socket("send");
    let fake = Fake::new();
    let server = ControlServer::serve(&path, fake.clone()).unwrap();
    let mut c = client(&path);
    c.send(
        &Request::parse(r#"{"cmd":"send","to":"+1 555 123 4567","text":"hello","req":"s1"}"#)
            .unwrap()
            .1,
        &json!("s1"),
    )
    .unwrap();
    // Nothing is answered before the ack.
    while fake.tracker.watched() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    fake.tracker.observe(&Event::Sent {
        id: MessageId("ID1".into()),
        to: "15551234567@s.whatsapp.net".parse().unwrap(),
        t: 1_800_000_001,
    });
    let v = c.next_line().unwrap().unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["req"], "s1");
    assert_eq!(v["id"], "ID1");
    assert_eq!(v["to"], "15551234567@s.whatsapp.net");
    assert_eq!(v["timestamp_ms"], 1_800_000_001_000u64);
    {
        let r = fake.recorded.lock().unwrap();
        assert_eq!(r.sends[0].0.to_string(), "15551234567@s.whatsapp.net");
        assert_eq!(r.sends[0].1.text_content(), Some("hello"));
    }
    // A failure carries the id, the kind and the nack code.
    c.send(
        &Request::parse(r#"{"cmd":"send","to":"15551234567","text":"again"}"#)
            .unwrap()
            .1,
        &Value::Null,
    )
    .unwrap();
    while fake.tracker.watched() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    fake.tracker.observe(&Event::SendFailed {
        id: MessageId("ID2".into()),
        reason: SendError::nack(463),
    });
    let v = c.next_line().unwrap().unwrap();
    assert_eq!(
        (&v["ok"], &v["code"], &v["id"], &v["nack"]),
        (
            &json!(false),
            &json!("send_failed"),
            &json!("ID2"),
            &json!(463)
        )
    );
    // wait:false answers at once with the id; subscribers see the sent event with `to`.
    let mut sub = client(&path);
    sub.request(
        &Request::parse(r#"{"cmd":"subscribe","events":["sent"]}"#)
            .unwrap()
            .1,
    )
    .unwrap();
    let v = raw(
        &mut c,
        r#"{"cmd":"send","to":"15551234567","text":"fire","wait":false}"#,
    );
    assert_eq!((&v["ok"], &v["id"]), (&json!(true), &json!("ID3")));
    server.publish(&Event::Sent {
        id: MessageId("ID3".into()),
        to: "15551234567@s.whatsapp.net".parse().unwrap(),
        t: 5,
    });
    let e = event(&mut sub, "sent");
    assert_eq!(
        (&e["id"], &e["to"]),
        (&json!("ID3"), &json!("15551234567@s.whatsapp.net"))
    );
    // The client ended before the ack: unanswered, with the id.
    c.send(
        &Request::parse(r#"{"cmd":"send","to":"15551234567","text":"late"}"#)
            .unwrap()
            .1,
        &Value::Null,
    )
    .unwrap();
    while fake.tracker.watched() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    fake.tracker.close();
    let v = c.next_line().unwrap().unwrap();
    assert_eq!(
        (&v["code"], &v["id"]),
        (&json!("unanswered"), &json!("ID4"))
    );
}

#[test]
fn send_media_uploads_then_sends_the_media_message() {
    let path = socket("media");
    let fake = Fake::new();
    let _server = ControlServer::serve(&path, fake.clone()).unwrap();
    let file = path.with_file_name("report.pdf");
    std::fs::write(&file, b"%PDF-1.4 twelve").unwrap();
    let mut c = client(&path);
    let line = json!({
        "cmd": "send_media", "to": "15551234567", "kind": "document", "path": file,
        "caption": "the report", "wait": false,
    });
    let v = raw(&mut c, &line.to_string());
    assert_eq!((&v["ok"], &v["id"]), (&json!(true), &json!("ID1")), "{v}");
    {
        let r = fake.recorded.lock().unwrap();
        assert_eq!(r.uploads, vec![(MediaKind::Document, file.clone())]);
        let media = MediaRef::of(&r.sends[0].1).expect("a media message");
        assert_eq!(media.kind, Some(MediaKind::Document));
        assert_eq!(media.file_name.as_deref(), Some("report.pdf"));
        assert_eq!(media.caption.as_deref(), Some("the report"));
        assert_eq!(media.mimetype.as_deref(), Some("application/pdf"));
        assert_eq!(media.file_length, Some(15));
        assert_eq!(media.direct_path.as_deref(), Some("/v/t62.7119-24/fake"));
    }
    // The file name and mimetype given, and a video that plays as a GIF.
    let line = json!({
        "cmd": "send_media", "to": "15551234567", "kind": "document", "path": file,
        "file_name": "Q3 report.pdf", "mimetype": "application/x-report", "wait": false,
    });
    assert_eq!(raw(&mut c, &line.to_string())["ok"], true);
    let clip = path.with_file_name("clip.mp4");
    std::fs::write(&clip, b"\0\0\0\x20ftypisom").unwrap();
    let line = json!({
        "cmd": "send_media", "to": "15551234567", "kind": "video", "path": clip, "gif": true,
        "wait": false,
    });
    assert_eq!(raw(&mut c, &line.to_string())["ok"], true);
    {
        let mut r = fake.recorded.lock().unwrap();
        let named = MediaRef::of(&r.sends[1].1).expect("a media message");
        assert_eq!(named.file_name.as_deref(), Some("Q3 report.pdf"));
        assert_eq!(named.mimetype.as_deref(), Some("application/x-report"));
        let gif = MediaRef::of(&r.sends[2].1).expect("a media message");
        assert_eq!(gif.kind, Some(MediaKind::Video));
        assert!(gif.gif);
        r.sends.truncate(1);
        r.uploads.truncate(1);
    }
    // A voice note is push to talk.
    let ogg = path.with_file_name("note.ogg");
    std::fs::write(&ogg, b"OggS").unwrap();
    let line = json!({"cmd": "send_media", "to": "15551234567", "kind": "voice", "path": ogg, "wait": false});
    let v = raw(&mut c, &line.to_string());
    assert_eq!(v["ok"], true, "{v}");
    {
        let r = fake.recorded.lock().unwrap();
        let media = MediaRef::of(&r.sends[1].1).expect("a media message");
        assert_eq!(media.kind, Some(MediaKind::Audio));
        assert!(media.voice_note);
    }
    // A file that cannot be uploaded is refused and nothing is sent.
    let line = json!({
        "cmd": "send_media", "to": "15551234567", "kind": "image",
        "path": path.with_file_name("missing.jpg"),
    });
    let v = raw(&mut c, &line.to_string());
    assert_eq!(
        (&v["ok"], &v["code"]),
        (&json!(false), &json!("media_failed")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("missing.jpg"), "{v}");
    assert_eq!(fake.recorded.lock().unwrap().sends.len(), 2);
    // A sticker: a WebP file, always image/webp, animated as its VP8X header says.
    let webp = path.with_file_name("party.webp");
    std::fs::write(&webp, b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x12\0\0\0 frames").unwrap();
    let line = json!({"cmd": "send_media", "to": "15551234567", "kind": "sticker", "path": webp, "wait": false});
    let v = raw(&mut c, &line.to_string());
    assert_eq!(v["ok"], true, "{v}");
    {
        let r = fake.recorded.lock().unwrap();
        assert_eq!(r.uploads.last(), Some(&(MediaKind::Sticker, webp)));
        let media = MediaRef::of(&r.sends[2].1).expect("a media message");
        assert_eq!(media.kind, Some(MediaKind::Sticker));
        assert_eq!(media.mimetype.as_deref(), Some("image/webp"));
        assert!(media.animated, "{media:?}");
        assert!(r.sends[2].1.sticker_message.is_some());
    }
    // A file that is not WebP is refused as a sticker before anything is uploaded.
    let png = path.with_file_name("photo.webp");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n not a webp").unwrap();
    let line = json!({"cmd": "send_media", "to": "15551234567", "kind": "sticker", "path": png});
    let v = raw(&mut c, &line.to_string());
    assert_eq!(
        (&v["ok"], &v["code"]),
        (&json!(false), &json!("bad_request")),
        "{v}"
    );
    assert!(
        v["error"].as_str().unwrap().contains("not a WebP image"),
        "{v}"
    );
    let r = fake.recorded.lock().unwrap();
    assert_eq!((r.uploads.len(), r.sends.len()), (3, 3));
}

#[test]
fn locations_and_contact_cards_are_sent_with_their_fields_or_refused() {
    let path = socket("cards");
    let fake = Fake::new();
    let _server = ControlServer::serve(&path, fake.clone()).unwrap();
    let mut c = client(&path);
    let line = json!({
        "cmd": "send_location", "to": "+1 555 123 4567", "latitude": -33.856784,
        "longitude": 151.215297, "name": "Opera House", "address": "Bennelong Point",
        "wait": false,
    });
    let v = raw(&mut c, &line.to_string());
    assert_eq!((&v["ok"], &v["id"]), (&json!(true), &json!("ID1")), "{v}");
    let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nTEL;waid=4915112345678:+4915112345678\nEND:VCARD";
    let line = json!({"cmd": "send_contact", "to": "15551234567", "vcard": vcard, "wait": false});
    assert_eq!(raw(&mut c, &line.to_string())["ok"], true);
    {
        let r = fake.recorded.lock().unwrap();
        let to: Jid = "15551234567@s.whatsapp.net".parse().unwrap();
        assert_eq!(r.sends[0].0, to);
        let pin = r.sends[0]
            .1
            .location_message
            .as_deref()
            .expect("a location");
        assert_eq!(pin.degrees_latitude, Some(-33.856784));
        assert_eq!(pin.degrees_longitude, Some(151.215297));
        assert_eq!(pin.name.as_deref(), Some("Opera House"));
        assert_eq!(pin.address.as_deref(), Some("Bennelong Point"));
        let card = r.sends[1].1.contact_message.as_deref().expect("a contact");
        assert_eq!(card.display_name.as_deref(), Some("Ada Lovelace"), "the FN");
        assert_eq!(card.vcard.as_deref(), Some(vcard));
    }
    // What cannot be sent is refused by name, and nothing is queued.
    let refused = [
        (
            json!({"cmd": "send_location", "to": "15551234567", "latitude": 91.0, "longitude": 0.0}),
            "not a place",
        ),
        (
            json!({"cmd": "send_contact", "to": "15551234567", "vcard": "Ada, +4915112345678"}),
            "not a vCard",
        ),
        (
            json!({"cmd": "send_contact", "to": "15551234567", "vcard": "BEGIN:VCARD\nTEL:+1\nEND:VCARD"}),
            "no name",
        ),
    ];
    for (line, needle) in refused {
        let v = raw(&mut c, &line.to_string());
        assert_eq!(
            (&v["ok"], &v["code"]),
            (&json!(false), &json!("bad_request")),
            "{v}"
        );
        assert!(v["error"].as_str().unwrap().contains(needle), "{v}");
    }
    let line = json!({"cmd": "send_location", "to": "bob", "latitude": 1.0, "longitude": 2.0});
    assert_eq!(raw(&mut c, &line.to_string())["code"], "invalid_recipient");
    assert_eq!(fake.recorded.lock().unwrap().sends.len(), 2);
}

#[test]
fn replies_by_id_quote_the_message_seen_and_reactions_name_it() {
    let path = socket("reply");
    let fake = Fake::new();
    let server = ControlServer::serve(&path, fake.clone()).unwrap();
    server.publish(&message(0, "3EB0SEEN", "lunch?"));
    let mut c = client(&path);
    let v = raw(
        &mut c,
        r#"{"cmd":"send","to":"15550001111","text":"yes","reply_to":"3EB0SEEN","wait":false}"#,
    );
    assert_eq!(v["ok"], true);
    let v = raw(
        &mut c,
        r#"{"cmd":"react","chat":"15550001111@s.whatsapp.net","id":"3EB0SEEN","emoji":"👍","wait":false}"#,
    );
    assert_eq!(v["ok"], true, "{v}");
    let r = fake.recorded.lock().unwrap();
    let ctx = r.sends[0].1.context_info().unwrap();
    assert_eq!(ctx.stanza_id.as_deref(), Some("3EB0SEEN"));
    assert_eq!(
        ctx.participant.as_deref(),
        Some("15550001111@s.whatsapp.net")
    );
    assert_eq!(
        ctx.quoted_message
            .as_deref()
            .and_then(Message::text_content),
        Some("lunch?")
    );
    let reaction = r.sends[1].1.reaction_message.as_ref().unwrap();
    assert_eq!(reaction.text.as_deref(), Some("👍"));
    assert_eq!(
        reaction.key.as_ref().unwrap().id.as_deref(),
        Some("3EB0SEEN")
    );
    assert_eq!(r.sends[1].0.to_string(), "15550001111@s.whatsapp.net");
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
