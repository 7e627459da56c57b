//! Sends: the answer on the server's ack or a typed failure, media (uploaded, then sent),
//! locations and contact cards, replies and reactions.

use super::*;

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
