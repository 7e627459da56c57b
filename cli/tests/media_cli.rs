//! Media as a user runs it, over `tether sim --tls` (its media host serves HTTPS with the
//! sim's CA, trusted with `--ca-file`): a contact's phone sends a document and `tether run
//! --json --download-dir D` prints the message with its `media` object naming the verified
//! file it saved; `tether send --document` (through the running instance's control socket)
//! uploads a file and the phone's verified download has the same SHA-256; with no instance
//! running, `tether send --voice` connects itself and the phone gets a voice note whose length
//! was read from the Ogg pages.
//! Deadlines in the helpers only guard against hangs; nothing asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use common::{Proc, Sim, Tmp, http_get, output, sim_with, tether};
use serde_json::Value;
use sha2::Digest as _;

/// Posts `body` to the sim's control interface; returns the JSON answer.
fn post_body(sim: &Sim, path: &str, body: &str) -> Value {
    let addr = sim.control.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap()
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
    let mut run = Proc::spawn(
        &t.0,
        &[
            "run",
            "--json",
            "--server",
            &sim.ws,
            "--trust-root",
            &sim.root,
            "--sim-phone",
            &sim.control,
            "--ca-file",
            &ca,
            "--download-dir",
            downloads.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
    );
    run.event("connected");

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
    let (code, out, err) = output(
        tether(&t.0)
            .args(["send", &chat, "--document"])
            .arg(&file)
            .args(["--caption", "the report", "--json", "--store"])
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["via"], "socket");
    let id = answer["id"].as_str().unwrap().to_owned();
    let want = hex::encode(sha2::Sha256::digest(&report));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Value =
            serde_json::from_str(&http_get(&format!("{}/received?phone=1", sim.control))).unwrap();
        let found = got
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .cloned();
        if let Some(r) = found {
            assert_eq!(r["media"]["file_name"], "report.pdf", "{r}");
            assert_eq!(r["media"]["caption"], "the report");
            assert_eq!(r["media"]["sha256"], want.as_str(), "{r}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phone 1 never got the document; it has {got}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _, _) = output(tether(&t.0).args(["stop", "--store"]).arg(&store));
    assert_eq!(code, 0);
    assert_eq!(run.exit_code(), 0);

    // With no instance running, `tether send --voice` connects itself, uploads and sends.
    let note = ogg_opus(3 * 48_000 + 312);
    let file = t.0.join("note.ogg");
    std::fs::write(&file, &note).unwrap();
    let (code, out, err) = output(
        tether(&t.0)
            .args(["send", &chat, "--voice"])
            .arg(&file)
            .args([
                "--json",
                "--ca-file",
                &ca,
                "--server",
                &sim.ws,
                "--trust-root",
                &sim.root,
            ])
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["via"], "own connection", "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let want = hex::encode(sha2::Sha256::digest(&note));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Value =
            serde_json::from_str(&http_get(&format!("{}/received?phone=1", sim.control))).unwrap();
        let found = got
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .cloned();
        if let Some(r) = found {
            assert_eq!(r["media"]["type"], "audio", "{r}");
            assert_eq!(r["media"]["voice_note"], true, "{r}");
            assert_eq!(r["media"]["mimetype"], "audio/ogg; codecs=opus", "{r}");
            assert_eq!(r["media"]["seconds"], 3, "read from the Ogg pages: {r}");
            assert_eq!(r["media"]["sha256"], want.as_str(), "{r}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phone 1 never got the voice note; it has {got}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
