//! The page-zeroing battery through the binary: a linked store has one 4 KiB page zeroed at a
//! time, and every command that touches a store runs on it, as an operator would.
//!
//! For every page whose damage the store's check sees (the library battery in
//! `store-redb/tests/damaged.rs` covers the harmless ones), no command panics (exit 101), every
//! command but `stop` and `restore` fails with exit 1 and the store file stays byte for byte
//! as it was, `status` and `doctor` report the damage (never "scan the QR code"), and
//! `restore BACKUP` replaces the store while keeping the damaged file aside unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Tmp;
use tether_core::binary::{Jid, Server};
use tether_core::creds::{
    CredentialChange, CredentialStore, Credentials, CredentialsDelta, DeviceIdentity, PersistSeq,
};
use tether_core::crypto::KeyPair;
use tether_core::records::RecordWrite;
use tether_store_redb::{RedbStore, check};

const PAGE: usize = 4096;
/// A closed loopback port: nothing here ever reaches a server.
const NOWHERE: &str = "ws://127.0.0.1:9/ws/chat";

fn linked(path: &Path) {
    let mut s = RedbStore::open(path).unwrap();
    let mut rng = rand::rng();
    s.apply(
        PersistSeq(1),
        &CredentialsDelta::one(CredentialChange::Created(Box::new(Credentials::generate(
            &mut rng,
        )))),
    )
    .unwrap();
    s.quarantine(PersistSeq(2), "test: an old identity")
        .unwrap();
    let keys: Vec<RecordWrite> = (1..=30)
        .map(|id| {
            tether_core::records::pre_key_record(id, &KeyPair::from_private_bytes([id as u8; 32]))
        })
        .collect();
    s.apply(
        PersistSeq(1),
        &CredentialsDelta {
            changes: vec![
                CredentialChange::Created(Box::new(Credentials::generate(&mut rng))),
                CredentialChange::PreKeysGenerated {
                    next_pre_key_id: 31,
                },
            ],
            records: keys,
        },
    )
    .unwrap();
    s.apply(
        PersistSeq(2),
        &CredentialsDelta {
            changes: vec![
                CredentialChange::Paired(DeviceIdentity {
                    jid: Jid::device("15551234567", 3, Server::WhatsApp),
                    lid: None,
                    account: Bytes::from(vec![9u8; 210]),
                    platform: Some("android".into()),
                    business_name: None,
                }),
                CredentialChange::Confirmed,
            ],
            records: Vec::new(),
        },
    )
    .unwrap();
    s.record_status(&tether_store_redb::StoreStatus::default())
        .unwrap();
}

/// Runs the command with a 30 s guard (a command that does not refuse a damaged store must
/// not hang the suite); returns exit code, stdout and stderr.
fn run(home: &Path, args: &[&str], store: &Path) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tether"));
    for k in common::NO_PROXY_ENV {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .env("HOME", home)
        .env_remove("TETHER_STORE")
        .env_remove("TETHER_CONFIG")
        .args(args)
        .arg("--store")
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "`tether {}` did not finish on a damaged store:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_refuses_a_damaged_store_without_panicking_or_changing_it() {
    let t = Tmp::new("zero-cli");
    let good = t.0.join("good.redb");
    linked(&good);
    let backup = t.0.join("backup.redb");
    RedbStore::open(&good).unwrap().backup_to(&backup).unwrap();
    let auth = t.0.join("auth");
    {
        let source = t.0.join("source.redb");
        let mut s = RedbStore::open(&source).unwrap();
        s.apply(
            PersistSeq(1),
            &CredentialsDelta::one(CredentialChange::Created(Box::new(Credentials::generate(
                &mut rand::rng(),
            )))),
        )
        .unwrap();
        s.export_baileys(&auth).unwrap();
    }
    let original = std::fs::read(&good).unwrap();
    let pages = original.len() / PAGE;
    let mut tried = 0;
    for page in 0..pages {
        let mut zeroed = original.clone();
        zeroed[page * PAGE..(page + 1) * PAGE].fill(0);
        let dir = t.0.join(format!("p{page}"));
        std::fs::create_dir(&dir).unwrap();
        let store = dir.join("s.redb");
        std::fs::write(&store, &zeroed).unwrap();
        if check(&store).is_healthy() {
            continue; // harmless here: the library battery reads it back in full
        }
        tried += 1;
        let out_dir = |name: &str| -> PathBuf { dir.join(name) };
        let b = out_dir("b.redb");
        let e = out_dir("exported");
        let commands: Vec<Vec<&str>> = vec![
            vec!["status"],
            vec!["status", "--json"],
            vec!["doctor", "--server", NOWHERE, "--timeout", "1"],
            vec!["backup", b.to_str().unwrap()],
            vec!["export", "baileys", e.to_str().unwrap()],
            vec!["quarantine", "list"],
            vec!["quarantine", "restore", "1"],
            vec!["import", "baileys", auth.to_str().unwrap()],
            vec!["logout", "--server", NOWHERE, "--timeout", "2"],
            vec!["run", "--server", NOWHERE],
            vec!["relink", "--server", NOWHERE],
        ];
        for args in &commands {
            let (code, out, err) = run(&t.0, args, &store);
            let shown = format!("page {page}: `tether {}`", args.join(" "));
            assert_ne!(code, 101, "{shown} panicked:\n{err}");
            assert!(!err.contains("panicked"), "{shown}:\n{err}");
            assert_eq!(code, 1, "{shown} did not fail:\n{out}\n{err}");
            assert!(
                std::fs::read(&store).unwrap() == zeroed,
                "{shown} changed the damaged store"
            );
            if args[0] == "status" || args[0] == "doctor" {
                assert!(out.contains("damaged"), "{shown}:\n{out}");
                assert!(!out.contains("scan the QR"), "{shown}:\n{out}");
            } else {
                assert!(err.contains("cannot be opened safely"), "{shown}:\n{err}");
            }
        }
        assert!(!b.exists() && !e.exists(), "page {page}: output written");
        let (code, out, err) = run(&t.0, &["stop"], &store);
        assert_eq!(code, 0, "page {page}: stop: {err}");
        assert!(out.contains("nothing to stop"), "page {page}: {out}");
        let (code, out, err) = run(&t.0, &["restore", backup.to_str().unwrap()], &store);
        assert_eq!(code, 0, "page {page}: restore: {out}{err}");
        let aside = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().contains(".before-restore-"))
            .expect("the damaged store kept aside");
        assert!(
            std::fs::read(aside.path()).unwrap() == zeroed,
            "page {page}: the store kept aside is not the damaged one"
        );
        let (code, out, _) = run(&t.0, &["status"], &store);
        assert_eq!(code, 0, "page {page}: status after restore: {out}");
        assert!(out.contains("15551234567"), "{out}");
    }
    assert!(
        tried * 3 >= pages,
        "only {tried} of {pages} pages were damaging"
    );
}
