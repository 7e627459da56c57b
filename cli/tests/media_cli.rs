//! Media as a user runs it, over `tether sim --tls` (its media host serves HTTPS with the
//! sim's CA, trusted with `--ca-file`): a contact's phone sends a document and `tether run
//! --json --download-dir D` prints the message with its `media` object naming the verified
//! file it saved; `tether send --document` (through the running instance's control socket)
//! uploads a file and the phone's verified download has the same SHA-256 (and a WebP goes as an
//! animated sticker with `--sticker`; another format is refused; `--location` reaches the phone
//! with its exact fields); with no instance running, `tether send --contact` connects itself and
//! the phone gets the vCard as written, and `--voice` a voice note whose length was read from
//! the Ogg pages.
//! A download the media host holds (a slow host) does not hold back `run`: a document and a
//! text sent after it are printed first, and the held one follows with its path once released.
//! Deadlines in the helpers only guard against hangs; nothing asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Proc, Sim, Tmp, http_get, output, post, post_body, run_json_with, sim_with, tether};
use serde_json::Value;
use sha2::Digest as _;

/// `tether run --json --download-dir downloads` on `store` against the TLS `sim`, connected.
fn run_saving_media(home: &Path, sim: &Sim, store: &Path, downloads: &Path) -> Proc {
    let more = [
        "--ca-file",
        sim.ca.as_deref().unwrap(),
        "--download-dir",
        downloads.to_str().unwrap(),
    ];
    let mut run = run_json_with(home, sim, store, "run", &more);
    run.event("connected");
    run
}

/// `tether send …` that must succeed: its `--json` answer.
fn sent(command: &mut assert_cmd::Command) -> Value {
    let (code, out, err) = output(command.arg("--json"));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.trim()).unwrap()
}

/// What phone 1 received as message `id`, once it has it (its `media` fetched and verified
/// by the phone).
fn phone_received(sim: &Sim, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Value =
            serde_json::from_str(&http_get(&format!("{}/received?phone=1", sim.control))).unwrap();
        if let Some(r) = got.as_array().unwrap().iter().find(|r| r["id"] == id) {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "phone 1 never got {id}; it has {got}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An Ogg page with `granule` carrying `packet` (under 255 bytes).
fn ogg_page(granule: u64, packet: &[u8]) -> Vec<u8> {
    let mut p = b"OggS\0\0".to_vec();
    p.extend_from_slice(&granule.to_le_bytes());
    p.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.push(u8::try_from(packet.len()).unwrap());
    p.extend_from_slice(packet);
    p
}

/// An Ogg/Opus file (pre-skip 312) whose last granule is `granule`.
fn ogg_opus(granule: u64) -> Vec<u8> {
    let mut head = b"OpusHead\x01\x01".to_vec();
    head.extend_from_slice(&312u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut file = ogg_page(0, &head);
    file.extend(ogg_page(0, b"OpusTags\0\0\0\0\0\0\0\0"));
    for i in 1..=20u64 {
        file.extend(ogg_page(granule * i / 20, &[u8::try_from(i).unwrap(); 200]));
    }
    file
}

#[test]
fn run_saves_received_media_and_send_uploads_a_document_the_phone_verifies() {
    let t = Tmp::new("media");
    let sim = sim_with(&t.0, &["--tls"]);
    let ca = sim.ca.clone().unwrap();
    let store = t.0.join("s.redb");
    let downloads = t.0.join("downloads");
    let mut run = run_saving_media(&t.0, &sim, &store, &downloads);

    // The contact's phone sends a document (it reaches the companion once its pre-keys are
    // up: until then the phone sends again).
    let content = "line one\nline two\n".repeat(500);
    let mut attempts = 0;
    let m = loop {
        attempts += 1;
        assert!(
            attempts <= 20,
            "run printed none of the phone's {attempts} documents"
        );
        let sent = post_body(&sim, "/send?phone=1&document=notes.txt", &content);
        let id = sent["id"].as_str().unwrap().to_owned();
        if let Some(m) = run.try_event_where("message", Duration::from_secs(3), |m| {
            m["id"] == id.as_str()
        }) {
            break m;
        }
    };
    let media = &m["media"];
    assert_eq!(media["type"], "document", "{m}");
    assert_eq!(media["file_name"], "notes.txt");
    assert_eq!(media["size"], content.len());
    let saved = media["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no path: {m}"));
    assert!(saved.starts_with(downloads.to_str().unwrap()), "{saved}");
    assert_eq!(std::fs::read_to_string(saved).unwrap(), content);
    let chat = m["chat"].as_str().unwrap().to_owned();

    // Tether sends a document through the running instance's socket.
    let report: Vec<u8> = (0..90_001u32).map(|i| (i % 251) as u8).collect();
    let file = t.0.join("report.pdf");
    std::fs::write(&file, &report).unwrap();
    let answer = sent(
        tether(&t.0)
            .args(["send", &chat, "--document"])
            .arg(&file)
            .args(["--caption", "the report", "--store"])
            .arg(&store),
    );
    assert_eq!(answer["via"], "socket");
    let id = answer["id"].as_str().unwrap().to_owned();
    let want = hex::encode(sha2::Sha256::digest(&report));
    let r = phone_received(&sim, &id);
    assert_eq!(r["media"]["file_name"], "report.pdf", "{r}");
    assert_eq!(r["media"]["caption"], "the report");
    assert_eq!(r["media"]["sha256"], want.as_str(), "{r}");
    // A sticker through the socket: WebP, animated as its header says.
    let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x12\0\0\0".to_vec();
    webp.extend((0..3_000u32).map(|i| (i % 13) as u8));
    let file = t.0.join("party.webp");
    std::fs::write(&file, &webp).unwrap();
    let answer = sent(
        tether(&t.0)
            .args(["send", &chat, "--sticker"])
            .arg(&file)
            .args(["--store"])
            .arg(&store),
    );
    assert_eq!(answer["via"], "socket");
    let r = phone_received(&sim, answer["id"].as_str().unwrap());
    assert_eq!(r["media"]["type"], "sticker", "{r}");
    assert_eq!(r["media"]["mimetype"], "image/webp", "{r}");
    assert_eq!(r["media"]["animated"], true, "{r}");
    assert_eq!(r["media"]["caption"], Value::Null, "{r}");
    let want = hex::encode(sha2::Sha256::digest(&webp));
    assert_eq!(r["media"]["sha256"], want.as_str(), "{r}");
    // A file that is not WebP is refused before anything is uploaded (exit 2).
    let png = t.0.join("photo.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n not a webp").unwrap();
    let (code, _, err) = output(
        tether(&t.0)
            .args(["send", &chat, "--sticker"])
            .arg(&png)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a WebP image"), "{err}");

    // A location through the socket: the phone gets the exact fields.
    let answer = sent(
        tether(&t.0)
            .args(["send", &chat, "--location", "-33.856784,151.215297"])
            .args(["--name", "Opera House", "--address", "Bennelong Point"])
            .args(["--store"])
            .arg(&store),
    );
    assert_eq!(answer["via"], "socket");
    let r = phone_received(&sim, answer["id"].as_str().unwrap());
    let place = &r["location"];
    assert_eq!(place["latitude"], -33.856784, "{r}");
    assert_eq!(place["longitude"], 151.215297, "{r}");
    assert_eq!(place["name"], "Opera House", "{r}");
    assert_eq!(place["address"], "Bennelong Point", "{r}");
    assert_eq!(r["media"], Value::Null, "{r}");
    let (code, _, err) = output(
        tether(&t.0)
            .args(["send", &chat, "--location", "91,0", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a place"), "{err}");

    // A .vcf holding three cards through the socket: one contacts message, each card under its
    // FN. With their notes the request line is about 90 KiB, more than a line could hold
    // before several cards were sent at once.
    let cards: Vec<String> = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
        .iter()
        .map(|name| {
            format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nNOTE:{}\r\nEND:VCARD",
                "n".repeat(30_000)
            )
        })
        .collect();
    let file = t.0.join("team.vcf");
    std::fs::write(&file, cards.join("\r\n")).unwrap();
    let answer = sent(
        tether(&t.0)
            .args(["send", &chat, "--contact"])
            .arg(&file)
            .args(["--name", "The team", "--store"])
            .arg(&store),
    );
    assert_eq!(answer["via"], "socket");
    let r = phone_received(&sim, answer["id"].as_str().unwrap());
    let contact = &r["contact"];
    assert_eq!(contact["display_name"], "The team");
    assert_eq!(contact["count"], 3);
    assert_eq!(contact["cards"][1]["display_name"], "Alan Turing");
    assert_eq!(contact["cards"][2]["vcard"], cards[2].as_str());

    let (code, _, _) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0);
    assert_eq!(run.exit_code(), 0);

    // With no instance running, `tether send --contact` connects itself and sends the vCard
    // as written, shown by its FN.
    let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\n\
                 TEL;type=CELL;waid=4915112345678:+4915112345678\nEND:VCARD";
    let file = t.0.join("ada.vcf");
    std::fs::write(&file, format!("{vcard}\n")).unwrap();
    let own = [
        "--ca-file",
        &ca,
        "--server",
        &sim.ws,
        "--trust-root",
        &sim.root,
    ];
    let answer = sent(
        tether(&t.0)
            .args(["send", &chat, "--contact"])
            .arg(&file)
            .args(own)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(answer["via"], "own connection", "{answer}");
    let r = phone_received(&sim, answer["id"].as_str().unwrap());
    assert_eq!(r["contact"]["display_name"], "Ada Lovelace", "{r}");
    assert_eq!(r["contact"]["vcard"], vcard, "{r}");
    assert_eq!(r["contact"]["count"], 1, "{r}");

    // With no instance running, `tether send --voice` connects itself, uploads and sends.
    let note = ogg_opus(3 * 48_000 + 312);
    let file = t.0.join("note.ogg");
    std::fs::write(&file, &note).unwrap();
    let answer = sent(
        tether(&t.0)
            .args(["send", &chat, "--voice"])
            .arg(&file)
            .args(own)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(answer["via"], "own connection", "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let want = hex::encode(sha2::Sha256::digest(&note));
    let r = phone_received(&sim, &id);
    assert_eq!(r["media"]["type"], "audio", "{r}");
    assert_eq!(r["media"]["voice_note"], true, "{r}");
    assert_eq!(r["media"]["mimetype"], "audio/ogg; codecs=opus", "{r}");
    assert_eq!(r["media"]["seconds"], 3, "read from the Ogg pages: {r}");
    assert_eq!(r["media"]["sha256"], want.as_str(), "{r}");
}

#[test]
fn a_slow_download_does_not_hold_back_the_messages_after_it() {
    let t = Tmp::new("media-slow");
    let sim = sim_with(&t.0, &["--tls"]);
    let store = t.0.join("s.redb");
    let downloads = t.0.join("downloads");
    let mut run = run_saving_media(&t.0, &sim, &store, &downloads);
    // A first text reaches run once the companion's pre-keys are up (the phone sends again
    // until then); texts, so that no download is under way when the host starts holding.
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts <= 20, "run printed none of {attempts} texts");
        let id = post_body(&sim, "/send?phone=1", "hello")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if run
            .try_event_where("message", Duration::from_secs(3), |m| {
                m["id"] == id.as_str()
            })
            .is_some()
        {
            break;
        }
    }

    // The media host holds the next download: the first of two documents waits there.
    post(&sim, "/media/hold?n=1");
    let slow_content = "slow\n".repeat(700);
    let slow = post_body(&sim, "/send?phone=1&document=slow.txt", &slow_content)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let held = || -> u64 {
        let v: Value =
            serde_json::from_str(&http_get(&format!("{}/media/held", sim.control))).unwrap();
        v["held"].as_u64().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while held() == 0 {
        assert!(
            Instant::now() < deadline,
            "run never asked the media host for the document"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let quick = post_body(&sim, "/send?phone=1&document=quick.txt", "quick")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = post_body(&sim, "/send?phone=1", "after the media")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Both are printed while the first download is still held; the held one is not.
    let mut printed = Vec::new();
    while !([&quick, &text].iter().all(|id| printed.contains(*id))) {
        let m = run.event("message");
        let id = m["id"].as_str().unwrap().to_owned();
        assert_ne!(id, slow, "printed before its download ended: {m}");
        if id == quick {
            let path = m["media"]["path"].as_str().unwrap_or_else(|| panic!("{m}"));
            assert_eq!(std::fs::read_to_string(path).unwrap(), "quick");
        }
        printed.push(id);
    }
    assert_eq!(held(), 1, "the first download is still held");

    // Released, it is saved and its message printed with the path.
    post(&sim, "/media/release");
    let m = run.event_where("message", |m| m["id"] == slow.as_str());
    let path = m["media"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no path: {m}"));
    assert!(path.starts_with(downloads.to_str().unwrap()), "{path}");
    assert_eq!(std::fs::read_to_string(path).unwrap(), slow_content);
    let (code, _, _) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0);
    assert_eq!(run.exit_code(), 0);
}
