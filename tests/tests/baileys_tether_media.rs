//! Media between Tether and the real npm Baileys client (6.17.16) through one TLS `SimServer`
//! and its HTTPS media host (the test CA trusted by both: Tether through `Options::trust`,
//! Node through `NODE_EXTRA_CA_CERTS`). Baileys is a companion of phone 0's account, Tether
//! (the tokio adapter on a redb store) of phone 1's.
//!
//! - Baileys sends an image, a document and a voice note (uploading each to the hosts the
//!   sim's `media_conn` names, streamed in chunks); Tether's `download` returns bytes identical
//!   to the files Baileys read, each checked against its SHA-256.
//! - Tether sends the same three kinds; Baileys' `downloadMediaMessage` returns identical
//!   bytes (only ever from the loopback URL the message names).
//! - Baileys' media retry: one of those files expires, Baileys' re-upload request reaches its
//!   own (simulated) phone, and the phone's `mediaretry` answer gives Baileys the new path.
//!
//! Every message is counted on the receiving side (none lost, none twice) and every file is
//! uploaded exactly once. Needs `npm ci` in `interop/`; run with `--ignored` (CI does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod baileys_peers;

use std::path::Path;

use baileys_peers::{LIMIT, Peer, Tether, complaints, eventually, scratch};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tether_core::binary::{Jid, Server};
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
}

fn samples(salt: u8) -> [Sample; 3] {
    [
        Sample {
            kind: "image",
            media: MediaKind::Image,
            file: "photo.jpg",
            bytes: content(40_001, salt),
        },
        Sample {
            kind: "document",
            media: MediaKind::Document,
            file: "report.pdf",
            bytes: content(300_007, salt.wrapping_add(1)),
        },
        Sample {
            kind: "voice",
            media: MediaKind::Audio,
            file: "note.ogg",
            bytes: content(12_345, salt.wrapping_add(2)),
        },
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
    for companion in [&baileys_jid, &tether_jid] {
        eventually(&format!("{companion}'s pre-keys"), || {
            server
                .with_server(|s| s.pre_key_count(companion))
                .filter(|n| *n > 0)
        });
    }

    // Baileys → Tether: each kind arrives with its metadata, and Tether's verified download
    // is the file Baileys read.
    for sample in samples(1) {
        let path = dir.join("from-baileys").join(sample.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &sample.bytes).unwrap();
        let extra = match sample.media {
            MediaKind::Image => "a photo from Baileys",
            MediaKind::Document => sample.file,
            _ => "7",
        };
        let id = baileys.send(&format!(
            "media {tether_account} {} {} {extra}",
            sample.kind,
            path.display()
        ));
        let m = tether.message(&id);
        let media = MediaRef::of(&m.message).unwrap_or_else(|| panic!("no media in {m:?}"));
        assert_eq!(media.kind, Some(sample.media), "{media:?}");
        assert_eq!(media.file_length, Some(sample.bytes.len() as u64));
        match sample.media {
            MediaKind::Image => {
                assert_eq!(media.caption.as_deref(), Some(extra));
                assert_eq!(media.mimetype.as_deref(), Some("image/jpeg"));
            }
            MediaKind::Document => {
                assert_eq!(media.file_name.as_deref(), Some(sample.file));
                assert_eq!(media.mimetype.as_deref(), Some("application/pdf"));
            }
            _ => {
                assert!(media.voice_note, "{media:?}");
                assert_eq!(media.seconds, Some(7));
                assert_eq!(media.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
            }
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
    assert_eq!(server.media_uploads(), 3, "Baileys uploaded each file once");

    // Tether → Baileys: the same three kinds; `downloadMediaMessage` gives the same bytes.
    let mut last_sent = None;
    for sample in samples(50) {
        let path = dir.join("from-tether").join(sample.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &sample.bytes).unwrap();
        let to = baileys_account.clone();
        let pending = tether.rt.block_on(async {
            match sample.media {
                MediaKind::Image => {
                    tether
                        .client
                        .send_image(to, &path, Some("a photo from Tether"))
                        .await
                }
                MediaKind::Document => tether.client.send_document(to, &path, None).await,
                _ => tether.client.send_voice_note(to, &path, Some(5)).await,
            }
        });
        let id = tether.acked(pending.unwrap_or_else(|e| panic!("send {}: {e}", sample.kind)));
        let seen = baileys.message(&id);
        let media = &seen["media"];
        let expected_type = match sample.media {
            MediaKind::Image => "image",
            MediaKind::Document => "document",
            _ => "audio",
        };
        assert_eq!(media["type"], expected_type, "{seen}");
        assert_eq!(media["fileLength"], sample.bytes.len() as u64, "{seen}");
        match sample.media {
            MediaKind::Image => assert_eq!(media["caption"], "a photo from Tether", "{seen}"),
            MediaKind::Document => assert_eq!(media["fileName"], sample.file, "{seen}"),
            _ => {
                assert_eq!(media["ptt"], true, "{seen}");
                assert_eq!(media["seconds"], 5, "{seen}");
            }
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
        last_sent = Some((id, sample.bytes));
    }
    assert_eq!(
        server.media_uploads(),
        6,
        "each file was uploaded exactly once (a retried send reuses its upload)"
    );

    // Baileys' media retry: the last file expires; Baileys' download gets the host's 410, its
    // re-upload request (`updateMediaMessage`) reaches its own phone (phone 0, which got
    // Tether's message too), whose `mediaretry` answer Baileys decrypts to the new direct
    // path; the download from there is the file again.
    let (id, sample) = last_sent.expect("Tether sent media");
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
        (3, 3),
        "Tether got {:?}, Baileys got {:?}",
        tether.got.keys().collect::<Vec<_>>(),
        baileys.got.keys().collect::<Vec<_>>()
    );
    let complaints = complaints(&server);
    assert!(
        complaints.is_empty(),
        "the server complains: {complaints:?}"
    );
    tether.shutdown();
    baileys.app.quit().expect("quit");
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
