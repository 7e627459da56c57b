//! Media between Tether and the real npm Baileys client (6.17.16) through one TLS `SimServer`
//! and its HTTPS media host (the test CA trusted by both: Tether through `Options::trust`,
//! Node through `NODE_EXTRA_CA_CERTS`). Baileys is a companion of phone 0's account, Tether
//! (the tokio adapter on a redb store) of phone 1's.
//!
//! - Baileys sends an image, a document, a voice note, a video, a GIF (a video with
//!   `gifPlayback`) and a WebP sticker (uploading each to the hosts the sim's `media_conn`
//!   names, streamed in chunks); Tether sees each kind with its mimetype and flags, and its
//!   `download` returns bytes identical to the files Baileys read, each checked against its
//!   SHA-256.
//! - Tether sends the same six (its sticker animated, which `send_sticker` reads from the
//!   WebP header); Baileys sees the same kinds and flags, and its `downloadMediaMessage`
//!   returns identical bytes (only ever from the loopback URL the message names).
//! - Baileys sends a location, a contact card and two cards in one message: Tether sees their
//!   typed fields; Tether sends the same (`send_location`, `send_contact` with one card and with
//!   a two-card vCard text) and Baileys sees the fields Tether set.
//! - Baileys' media retry: one of those files expires, Baileys' re-upload request reaches its
//!   own (simulated) phone, and the phone's `mediaretry` answer gives Baileys the new path.
//!
//! Every message is counted on the receiving side (none lost, none twice) and every file is
//! uploaded exactly once. Needs `npm ci` in `interop/`; run with `--ignored` (CI does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod baileys_peers;

use std::path::Path;

use baileys_peers::{
    LIMIT, Peer, Tether, assert_no_complaints, finish, scratch, wait_for_pre_keys,
};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tether_core::binary::{Jid, Server};
use tether_core::media::cards::ContactCard;
use tether_core::media::{MediaKind, MediaRef};
use tether_sim::net::{SimServer, SimServerConfig, TestCa};
use tether_tests::interop::fidelity::link_baileys_session_with;

/// `len` bytes of a fixed pattern (not a multiple of the AES block), different per `salt`.
fn content(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(salt) ^ ((i >> 9) as u8))
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One file of each kind the issue names, as both sides send them.
struct Sample {
    /// `media` command's kind word.
    kind: &'static str,
    media: MediaKind,
    file: &'static str,
    bytes: Vec<u8>,
    /// The `media` command's last word (caption, file name, seconds or `animated`).
    extra: &'static str,
    /// A video that plays as a GIF.
    gif: bool,
    /// An animated sticker.
    animated: bool,
    mimetype: &'static str,
}

/// The start of an extended WebP file whose flags say `animated` (or not), then content.
fn webp(len: usize, salt: u8, animated: bool) -> Vec<u8> {
    let mut file = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
    file.push(if animated { 0x12 } else { 0x10 });
    file.extend(content(len, salt));
    file
}

fn samples(salt: u8, from: &'static str) -> [Sample; 6] {
    let sample = |kind, media, file, bytes, extra, mimetype| Sample {
        kind,
        media,
        file,
        bytes,
        extra,
        gif: kind == "gif",
        animated: extra == "animated",
        mimetype,
    };
    let (image, video, gif, animated) = match from {
        "Baileys" => (
            "a photo from Baileys",
            "a video from Baileys",
            "a loop from Baileys",
            "still",
        ),
        _ => (
            "a photo from Tether",
            "a video from Tether",
            "a loop from Tether",
            "animated",
        ),
    };
    [
        sample(
            "image",
            MediaKind::Image,
            "photo.jpg",
            content(40_001, salt),
            image,
            "image/jpeg",
        ),
        sample(
            "document",
            MediaKind::Document,
            "report.pdf",
            content(300_007, salt.wrapping_add(1)),
            "report.pdf",
            "application/pdf",
        ),
        sample(
            "voice",
            MediaKind::Audio,
            "note.ogg",
            content(12_345, salt.wrapping_add(2)),
            "7",
            "audio/ogg; codecs=opus",
        ),
        sample(
            "video",
            MediaKind::Video,
            "clip.mp4",
            content(150_011, salt.wrapping_add(3)),
            video,
            "video/mp4",
        ),
        sample(
            "gif",
            MediaKind::Video,
            "loop.mp4",
            content(20_003, salt.wrapping_add(4)),
            gif,
            "video/mp4",
        ),
        sample(
            "sticker",
            MediaKind::Sticker,
            "sticker.webp",
            webp(9_001, salt.wrapping_add(5), animated == "animated"),
            animated,
            "image/webp",
        ),
    ]
}

/// Runs `command` for message `id` and returns its outcome: the first event about `id`
/// named `done` or `failed`.
fn baileys_outcome(baileys: &mut Peer, command: &str, id: &str, done: &str, failed: &str) -> Json {
    baileys.app.command(command).expect("command");
    loop {
        let event = baileys.next();
        if event["id"] == id && (event["event"] == done || event["event"] == failed) {
            return event;
        }
    }
}

/// Asks Baileys to download message `id` into `to`; the `downloaded` event.
fn baileys_download(baileys: &mut Peer, id: &str, to: &Path) -> Json {
    let command = format!("download {id} {}", to.display());
    let event = baileys_outcome(baileys, &command, id, "downloaded", "download-failed");
    assert_eq!(
        event["event"], "downloaded",
        "Baileys could not download {id}: {event}"
    );
    event
}

#[test]
#[ignore = "needs node and npm ci in interop/; CI runs it"]
fn media_round_trips_between_tether_and_baileys_byte_for_byte() {
    let dir = scratch("baileys-tether-media");
    let ca = TestCa::generate().expect("a test CA");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: std::time::Duration::from_millis(100),
        contacts: 1,
        tls: Some(ca),
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    assert!(server.media_host().is_some(), "the TLS sim serves media");
    let auth = dir.join("baileys-auth");
    let store = dir.join("tether.redb");
    let phones = server.phones();
    let baileys_account = Jid::user(&phones[0].phone_number, Server::WhatsApp);
    let tether_account = Jid::user(&phones[1].phone_number, Server::WhatsApp);
    let ca_path = ca_file.to_str().expect("a UTF-8 temp path");
    // Baileys 6.17.16 waits for the phone's app-state key unless it has one (see
    // `fidelity.mjs`); Node trusts the sim's CA for wss:// and the media host.
    let env = [
        ("FIDELITY_APP_STATE_KEY_ID", "AAAAAAAA"),
        ("NODE_EXTRA_CA_CERTS", ca_path),
    ];
    let (app, baileys_jid) =
        link_baileys_session_with(&server, &auth, LIMIT, &env).unwrap_or_else(|e| panic!("{e}"));
    let mut baileys = Peer::new(app);
    let mut tether = Tether::start_trusting(&server, &store, Some(&ca_file));
    let tether_jid = tether.wait_connected(&server, 1);
    wait_for_pre_keys(&server, &[&baileys_jid, &tether_jid]);

    // Baileys → Tether: each kind arrives with its metadata, and Tether's verified download
    // is the file Baileys read.
    for sample in samples(1, "Baileys") {
        let path = dir.join("from-baileys").join(sample.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &sample.bytes).unwrap();
        let id = baileys.send(&format!(
            "media {tether_account} {} {} {}",
            sample.kind,
            path.display(),
            sample.extra
        ));
        let m = tether.message(&id);
        let media = MediaRef::of(&m.message).unwrap_or_else(|| panic!("no media in {m:?}"));
        assert_eq!(media.kind, Some(sample.media), "{media:?}");
        assert_eq!(media.file_length, Some(sample.bytes.len() as u64));
        assert_eq!(
            media.mimetype.as_deref(),
            Some(sample.mimetype),
            "{media:?}"
        );
        assert_eq!(media.gif, sample.gif, "{media:?}");
        assert_eq!(media.animated, sample.animated, "{media:?}");
        match sample.media {
            MediaKind::Image | MediaKind::Video => {
                assert_eq!(media.caption.as_deref(), Some(sample.extra));
            }
            MediaKind::Document => {
                assert_eq!(media.file_name.as_deref(), Some(sample.file));
            }
            MediaKind::Audio => {
                assert!(media.voice_note, "{media:?}");
                assert_eq!(media.seconds, Some(7));
            }
            _ => assert_eq!(media.caption, None, "{media:?}"),
        }
        let got = tether
            .rt
            .block_on(tether.client.download_bytes(&m.message))
            .unwrap_or_else(|e| panic!("Tether could not download Baileys' {}: {e}", sample.kind));
        assert_eq!(
            sha256(&got),
            sha256(&sample.bytes),
            "Tether's download of Baileys' {} differs",
            sample.kind
        );
        // And to a path, as an application saves it.
        let saved = dir.join(format!("saved-by-tether-{}", sample.file));
        let length = tether
            .rt
            .block_on(tether.client.download(&m.message, &saved))
            .unwrap();
        assert_eq!(length, sample.bytes.len() as u64);
        assert_eq!(std::fs::read(&saved).unwrap(), sample.bytes);
    }
    assert_eq!(server.media_uploads(), 6, "Baileys uploaded each file once");

    // A location and a contact card (no media): their typed fields arrive as Baileys set them.
    let id = baileys.send(&format!(
        "location {tether_account} 52.520008 13.404954 Brandenburg Gate"
    ));
    let m = tether.message(&id);
    let location = m.message.location_message.as_deref().expect("a location");
    assert_eq!(location.degrees_latitude, Some(52.520008), "{location:?}");
    assert_eq!(location.degrees_longitude, Some(13.404954), "{location:?}");
    assert_eq!(location.name.as_deref(), Some("Brandenburg Gate"));
    assert!(MediaRef::of(&m.message).is_none());
    let id = baileys.send(&format!(
        "contact {tether_account} 4915112345678 Ada Lovelace"
    ));
    let m = tether.message(&id);
    let contact = m.message.contact_message.as_deref().expect("a contact");
    assert_eq!(contact.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        contact.vcard.as_deref(),
        Some(
            "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\n\
             TEL;type=CELL;waid=4915112345678:+4915112345678\nEND:VCARD"
        )
    );
    let id = baileys.send(&format!(
        "contacts {tether_account} 4915112345678 15551230000"
    ));
    let m = tether.message(&id);
    let list = ContactCard::of(&m.message).expect("a contacts list");
    assert_eq!(list.display_name.as_deref(), Some("2 contacts"));
    let names: Vec<_> = list
        .cards
        .iter()
        .map(|c| c.display_name.as_deref())
        .collect();
    assert_eq!(
        names,
        [Some("Contact 4915112345678"), Some("Contact 15551230000")]
    );
    assert!(
        list.cards[1]
            .vcard
            .as_deref()
            .is_some_and(|v| v.contains("waid=15551230000")),
        "{list:?}"
    );

    // Tether → Baileys: the same six; `downloadMediaMessage` gives the same bytes.
    let mut voice_note = None;
    for sample in samples(50, "Tether") {
        let path = dir.join("from-tether").join(sample.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &sample.bytes).unwrap();
        let to = baileys_account.clone();
        let client = &tether.client;
        let pending = tether.rt.block_on(async {
            match sample.media {
                MediaKind::Image => client.send_image(to, &path, Some(sample.extra)).await,
                MediaKind::Video => {
                    let caption = Some(sample.extra);
                    client.send_video(to, &path, caption, sample.gif).await
                }
                MediaKind::Document => client.send_document(to, &path, None).await,
                MediaKind::Sticker => client.send_sticker(to, &path).await,
                _ => client.send_voice_note(to, &path, Some(5)).await,
            }
        });
        let id = tether.acked(pending.unwrap_or_else(|e| panic!("send {}: {e}", sample.kind)));
        let seen = baileys.message(&id);
        let media = &seen["media"];
        let expected_type = match sample.media {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
            _ => "audio",
        };
        assert_eq!(media["type"], expected_type, "{seen}");
        assert_eq!(media["fileLength"], sample.bytes.len() as u64, "{seen}");
        assert_eq!(media["mimetype"], sample.mimetype, "{seen}");
        assert_eq!(media["gifPlayback"], sample.gif, "{seen}");
        assert_eq!(media["isAnimated"], sample.animated, "{seen}");
        match sample.media {
            MediaKind::Image | MediaKind::Video => {
                assert_eq!(media["caption"], sample.extra, "{seen}");
            }
            MediaKind::Document => assert_eq!(media["fileName"], sample.file, "{seen}"),
            MediaKind::Audio => {
                assert_eq!(media["ptt"], true, "{seen}");
                assert_eq!(media["seconds"], 5, "{seen}");
            }
            _ => assert_eq!(media["caption"], Json::Null, "{seen}"),
        }
        let out = dir.join(format!("saved-by-baileys-{}", sample.file));
        let done = baileys_download(&mut baileys, &id, &out);
        assert_eq!(
            done["sha256"],
            sha256(&sample.bytes),
            "Baileys' download of Tether's {} differs: {done}",
            sample.kind
        );
        assert_eq!(std::fs::read(&out).unwrap(), sample.bytes);
        if sample.media == MediaKind::Audio {
            voice_note = Some((id, sample.bytes));
        }
    }
    assert_eq!(
        server.media_uploads(),
        12,
        "each file was uploaded exactly once (a retried send reuses its upload)"
    );

    // Tether → Baileys: a location and a contact card arrive with the fields Tether set.
    let place = tether.client.send_location(
        baileys_account.clone(),
        -33.856784,
        151.215297,
        Some("Opera House"),
        Some("Bennelong Point"),
    );
    let id = tether.acked(place.expect("send_location"));
    let seen = baileys.message(&id);
    let location = &seen["location"];
    assert_eq!(location["degreesLatitude"], -33.856784, "{seen}");
    assert_eq!(location["degreesLongitude"], 151.215297, "{seen}");
    assert_eq!(location["name"], "Opera House", "{seen}");
    assert_eq!(location["address"], "Bennelong Point", "{seen}");
    let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Grace Hopper\n\
                 TEL;type=CELL;waid=15551230000:+15551230000\nEND:VCARD";
    let card = tether
        .client
        .send_contact(baileys_account.clone(), None, vcard);
    let id = tether.acked(card.expect("send_contact"));
    let seen = baileys.message(&id);
    assert_eq!(seen["contact"]["displayName"], "Grace Hopper", "{seen}");
    assert_eq!(seen["contact"]["vcard"], vcard, "{seen}");
    let alan = "BEGIN:VCARD\nVERSION:3.0\nFN:Alan Turing\nEND:VCARD";
    let cards = tether.client.send_contact(
        baileys_account,
        Some("Pioneers"),
        &format!("{vcard}\n{alan}\n"),
    );
    let id = tether.acked(cards.expect("send_contact with two cards"));
    let seen = baileys.message(&id);
    let list = &seen["contacts"];
    assert_eq!(list["displayName"], "Pioneers", "{seen}");
    assert_eq!(list["contacts"][0]["displayName"], "Grace Hopper", "{seen}");
    assert_eq!(list["contacts"][0]["vcard"], vcard, "{seen}");
    assert_eq!(list["contacts"][1]["displayName"], "Alan Turing", "{seen}");
    assert_eq!(list["contacts"][1]["vcard"], alan, "{seen}");

    // Baileys' media retry: the voice note expires; Baileys' download gets the host's 410, its
    // re-upload request (`updateMediaMessage`) reaches its own phone (phone 0, which got
    // Tether's message too), whose `mediaretry` answer Baileys decrypts to the new direct
    // path; the download from there is the file again.
    let (id, sample) = voice_note.expect("Tether sent a voice note");
    let old_path = baileys.got[&id].1["media"]["directPath"]
        .as_str()
        .expect("a direct path")
        .to_owned();
    assert!(server.expire_media(&old_path));
    let out = dir.join("expired-by-baileys");
    let command = format!("download {id} {}", out.display());
    let refused = baileys_outcome(&mut baileys, &command, &id, "downloaded", "download-failed");
    assert_eq!(refused["status"], 410, "{refused}");
    let command = format!("reupload {id}");
    let reuploaded = baileys_outcome(&mut baileys, &command, &id, "reuploaded", "reupload-failed");
    assert_eq!(reuploaded["event"], "reuploaded", "{reuploaded}");
    assert_ne!(reuploaded["directPath"], old_path.as_str(), "{reuploaded}");
    assert_eq!(
        server.media_retries_answered(0),
        Some(1),
        "phone 0 answered"
    );
    let done = baileys_download(&mut baileys, &id, &out);
    assert_eq!(done["sha256"], sha256(&sample), "{done}");

    // Exactly once on both sides.
    let twice: Vec<_> = tether
        .counts()
        .into_iter()
        .chain(baileys.counts())
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(
        (tether.got.len(), baileys.got.len()),
        (9, 9),
        "Tether got {:?}, Baileys got {:?}",
        tether.got.keys().collect::<Vec<_>>(),
        baileys.got.keys().collect::<Vec<_>>()
    );
    assert_no_complaints(&server);
    finish(tether, baileys, server, &dir);
}
