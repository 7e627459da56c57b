//! Hostile Baileys auth directories: every key file without its key is corrupt (`{}` is no
//! key), no record is counted twice, entries that are not regular files are reported and never
//! followed or blocked on, nothing is read beyond a bound, and `skip_corrupt` imports the rest
//! while listing every file it left out and why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use tether_core::creds::{CredentialStore, CredentialsDelta, PersistSeq};
use tether_core::crypto::KeyPair;
use tether_store_redb::{
    BaileysError, BaileysImport, ImportOptions, RedbStore, SkipReason, Skipped,
};

use common::{TempDir, created};

/// An auth directory exported from a fresh identity with 8 pre-keys.
fn exported(tmp: &TempDir) -> PathBuf {
    let mut store = RedbStore::open(tmp.path().join("source.redb")).unwrap();
    store.apply(PersistSeq(1), &created(8)).unwrap();
    let keys: Vec<(u32, KeyPair)> = (1..=8)
        .map(|id| (id, KeyPair::from_private_bytes([id as u8 + 1; 32])))
        .collect();
    store
        .apply(
            PersistSeq(2),
            &CredentialsDelta::pre_keys_generated(&keys, 9),
        )
        .unwrap();
    let dir = tmp.path().join("auth");
    let summary = store.export_baileys(&dir).unwrap();
    assert_eq!(summary.pre_keys, 8, "the fixture needs pre-keys");
    dir
}

fn skipping() -> ImportOptions {
    ImportOptions {
        skip_corrupt: true,
        ..ImportOptions::default()
    }
}

fn read(dir: &Path, options: &ImportOptions) -> Result<BaileysImport, BaileysError> {
    BaileysImport::read(dir, options)
}

fn skipped_named<'a>(skipped: &'a [Skipped], name: &str) -> &'a SkipReason {
    &skipped
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not listed as skipped: {skipped:?}"))
        .reason
}

/// A well-formed file of each typed family, and the family's count in a summary.
const FAMILIES: [(&str, &str); 5] = [
    ("pre-key-1.json", "pre-keys"),
    ("app-state-sync-key-AAAAAHVo.json", "sync keys"),
    ("app-state-sync-version-regular_high.json", "versions"),
    ("session-15550001111.0.json", "sessions"),
    ("sender-key-120363@g.us--15550001111--0.json", "sender keys"),
];

fn count(s: &tether_store_redb::BaileysSummary, family: &str) -> usize {
    match family {
        "pre-keys" => s.pre_keys,
        "sync keys" => s.app_state_sync_keys,
        "versions" => s.app_state_versions,
        "sessions" => s.sessions,
        "sender keys" => s.sender_keys,
        _ => unreachable!(),
    }
}

/// Writes a valid file of each family (the pre-key one already exists in the export).
fn add_valid_families(dir: &Path) {
    std::fs::write(
        dir.join(FAMILIES[1].0),
        br#"{"keyData":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","timestamp":"1764000000123"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join(FAMILIES[2].0),
        br#"{"version":3,"hash":{"type":"Buffer","data":"AAAA"},"indexValueMap":{}}"#,
    )
    .unwrap();
    // Captured from npm libsignal 6.0.0 as Baileys 6.17.16 writes them.
    std::fs::write(
        dir.join(FAMILIES[3].0),
        include_bytes!("data/libsignal-session.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join(FAMILIES[4].0),
        include_bytes!("data/baileys-sender-key.json"),
    )
    .unwrap();
}

#[test]
fn a_key_file_without_its_key_is_corrupt_in_every_family() {
    let tmp = TempDir::new("bh-empty");
    let dir = exported(&tmp);
    add_valid_families(&dir);
    let whole = read(&dir, &ImportOptions::default()).unwrap();
    for (_, family) in FAMILIES {
        assert!(count(whole.summary(), family) >= 1, "{family} not imported");
    }
    let before: Vec<usize> = FAMILIES
        .iter()
        .map(|(_, f)| count(whole.summary(), f))
        .collect();
    let shapes: [&[u8]; 8] = [
        b"{}",
        b"null",
        b"[]",
        b"\"text\"",
        b"12",
        b"{\"private\":null,\"_sessions\":[],\"version\":\"3\",\"keyData\":\"\"}",
        b"[{}",
        b"",
    ];
    for (i, (file, family)) in FAMILIES.iter().enumerate() {
        let path = dir.join(file);
        let good = std::fs::read(&path).unwrap();
        for bad in shapes {
            std::fs::write(&path, bad).unwrap();
            let shown = String::from_utf8_lossy(bad);
            match read(&dir, &ImportOptions::default()) {
                Err(BaileysError::KeyFile {
                    file: at,
                    reason: SkipReason::Corrupt(_),
                }) => assert_eq!(at, path),
                other => panic!("{file} holding {shown:?} was taken: {other:?}"),
            }
            let salvaged = read(&dir, &skipping()).unwrap();
            let s = salvaged.summary();
            assert!(
                matches!(skipped_named(&s.skipped, file), SkipReason::Corrupt(_)),
                "{file} {shown:?}: {:?}",
                s.skipped
            );
            assert_eq!(count(s, family), before[i] - 1, "{file} holding {shown:?}");
            let message = BaileysError::KeyFile {
                file: path.clone(),
                reason: SkipReason::Corrupt("x".into()),
            }
            .to_string();
            assert!(message.contains("--skip-corrupt"), "{message}");
        }
        std::fs::write(&path, good).unwrap();
    }
}

#[test]
fn no_record_is_counted_twice_and_odd_names_are_refused() {
    let tmp = TempDir::new("bh-dup");
    let dir = exported(&tmp);
    let one = std::fs::read(dir.join("pre-key-1.json")).unwrap();
    add_valid_families(&dir);
    let sync = std::fs::read(dir.join(FAMILIES[1].0)).unwrap();
    // Other spellings of records that exist already: Rust's number parser and a lenient
    // base64 decoder would map each of these onto an existing record.
    let twins = [
        ("pre-key-01.json", &one),
        ("pre-key-+1.json", &one),
        ("pre-key-.json", &one),
        ("pre-key-4294967296.json", &one),
        ("app-state-sync-key-AAAAAHVo==.json", &sync),
        ("app-state-sync-key-AAAAAHV.json", &sync),
        ("app-state-sync-key-.json", &sync),
    ];
    for (name, content) in twins {
        std::fs::write(dir.join(name), content).unwrap();
        let err = read(&dir, &ImportOptions::default()).unwrap_err();
        assert!(
            matches!(&err, BaileysError::KeyFile { reason: SkipReason::BadName(_), file } if file.ends_with(name)),
            "{name}: {err:?}"
        );
        assert!(err.is_input(), "{name}");
        let s = read(&dir, &skipping()).unwrap().summary().clone();
        assert_eq!(s.pre_keys, 8, "{name}: {s}");
        assert_eq!(s.app_state_sync_keys, 1, "{name}: {s}");
        assert!(matches!(
            skipped_named(&s.skipped, name),
            SkipReason::BadName(_)
        ));
        std::fs::remove_file(dir.join(name)).unwrap();
    }
}

#[test]
fn entries_that_are_not_regular_files_are_never_followed_and_always_reported() {
    use std::os::unix::ffi::OsStrExt as _;
    let tmp = TempDir::new("bh-kinds");
    let dir = exported(&tmp);
    let outside = tmp.path().join("outside.json");
    std::fs::write(&outside, br#"{"_sessions":{},"version":"v1"}"#).unwrap();
    // Not named like key files: reported, never an error.
    std::fs::create_dir(dir.join("old")).unwrap();
    std::fs::write(dir.join("README.txt"), b"notes").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("link-to-notes")).unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(dir.join(odd), b"x").unwrap();
    let s = read(&dir, &ImportOptions::default())
        .unwrap()
        .summary()
        .clone();
    assert_eq!(
        *skipped_named(&s.skipped, "old"),
        SkipReason::NotAFile("a directory")
    );
    assert_eq!(
        *skipped_named(&s.skipped, "README.txt"),
        SkipReason::NotJson
    );
    assert_eq!(
        *skipped_named(&s.skipped, "link-to-notes"),
        SkipReason::Symlink
    );
    assert_eq!(
        *skipped_named(&s.skipped, "caf\u{fffd}.txt"),
        SkipReason::NameNotUtf8
    );
    assert!(s.to_string().contains("skipped: "), "{s}");

    // Named like key files: an error naming them, or skipped and listed with --skip-corrupt.
    std::os::unix::fs::symlink(&outside, dir.join("session-1.0.json")).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        dir.join("session-2.0.json"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    std::fs::create_dir(dir.join("session-3.0.json")).unwrap();
    std::fs::write(
        dir.join(std::ffi::OsStr::from_bytes(b"session-\xff.json")),
        br#"{"_sessions":{}}"#,
    )
    .unwrap();
    let err = read(&dir, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, BaileysError::KeyFile { .. }), "{err:?}");
    // The FIFO never blocks the import (nothing writes to it).
    let s = read(&dir, &skipping()).unwrap().summary().clone();
    assert_eq!(s.sessions, 0, "{s}");
    assert_eq!(
        *skipped_named(&s.skipped, "session-1.0.json"),
        SkipReason::Symlink
    );
    assert_eq!(
        *skipped_named(&s.skipped, "session-2.0.json"),
        SkipReason::NotAFile("a FIFO (named pipe)")
    );
    assert_eq!(
        *skipped_named(&s.skipped, "session-3.0.json"),
        SkipReason::NotAFile("a directory")
    );
    assert_eq!(
        *skipped_named(&s.skipped, "session-\u{fffd}.json"),
        SkipReason::NameNotUtf8
    );
    assert_eq!(s.pre_keys, 8);
}

#[test]
fn nothing_is_read_beyond_a_bound() {
    let tmp = TempDir::new("bh-size");
    let dir = exported(&tmp);
    // 200 MB, sparse: refused from its size, never read into memory.
    let big = std::fs::File::create(dir.join("session-big.0.json")).unwrap();
    big.set_len(200 * 1024 * 1024).unwrap();
    drop(big);
    let err = read(&dir, &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(&err, BaileysError::KeyFile { reason: SkipReason::TooLarge { size, .. }, .. } if *size == 200 * 1024 * 1024),
        "{err:?}"
    );
    assert!(err.to_string().contains("200.0 MiB"), "{err}");
    let s = read(&dir, &skipping()).unwrap().summary().clone();
    assert!(matches!(
        skipped_named(&s.skipped, "session-big.0.json"),
        SkipReason::TooLarge { .. }
    ));
    std::fs::remove_file(dir.join("session-big.0.json")).unwrap();

    // A pre-key is ~200 bytes: a pre-key file of 100 KiB is refused at its own, smaller bound.
    let mut padded = std::fs::read(dir.join("pre-key-2.json")).unwrap();
    padded.extend(std::iter::repeat_n(b' ', 100 * 1024));
    std::fs::write(dir.join("pre-key-2.json"), &padded).unwrap();
    let err = read(&dir, &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(&err, BaileysError::KeyFile { reason: SkipReason::TooLarge { limit, .. }, .. } if *limit == ImportOptions::SMALL_FILE_BYTES),
        "{err:?}"
    );
    std::fs::remove_file(dir.join("pre-key-2.json")).unwrap();

    // The whole directory is bounded too, with or without skipping.
    let tight = ImportOptions {
        skip_corrupt: true,
        max_total_bytes: 500,
        ..ImportOptions::default()
    };
    let err = read(&dir, &tight).unwrap_err();
    assert!(matches!(err, BaileysError::TooMuch { .. }), "{err:?}");
    assert!(err.is_input());

    // creds.json: never through a link, never beyond its bound.
    let creds = dir.join("creds.json");
    let real = tmp.path().join("real-creds.json");
    std::fs::rename(&creds, &real).unwrap();
    std::os::unix::fs::symlink(&real, &creds).unwrap();
    let err = read(&dir, &skipping()).unwrap_err();
    assert!(
        matches!(
            err,
            BaileysError::CredsUnreadable {
                reason: SkipReason::Symlink,
                ..
            }
        ),
        "{err:?}"
    );
    std::fs::remove_file(&creds).unwrap();
    let big = std::fs::File::create(&creds).unwrap();
    big.set_len(ImportOptions::CREDS_BYTES + 1).unwrap();
    let err = read(&dir, &skipping()).unwrap_err();
    assert!(
        matches!(
            err,
            BaileysError::CredsUnreadable {
                reason: SkipReason::TooLarge { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_salvaged_import_installs_what_it_read_and_never_replaces_a_live_identity() {
    let tmp = TempDir::new("bh-install");
    let dir = exported(&tmp);
    std::fs::write(dir.join("pre-key-3.json"), b"{}").unwrap();
    let import = read(&dir, &skipping()).unwrap();
    let target = tmp.path().join("new.redb");
    let summary = import.install_into(&target).unwrap();
    assert_eq!(summary.pre_keys, 7);
    assert_eq!(summary.skipped.len(), 1);
    let mut store = RedbStore::open(&target).unwrap();
    assert!(store.load().unwrap().is_some());
    let ids = common::pre_key_ids(&store);
    assert_eq!(ids.len(), 7);
    assert!(!ids.contains(&3));
    drop(store);
    // A second install into that store fails, and the store (which existed) stays as it was.
    let before = std::fs::read(&target).unwrap();
    let again = read(&dir, &skipping()).unwrap().install_into(&target);
    assert!(again.is_err());
    assert!(!again.unwrap_err().is_input());
    assert!(target.exists());
    let store = RedbStore::open(&target).unwrap();
    assert_eq!(common::pre_key_ids(&store).len(), 7);
    drop(store);
    assert!(!before.is_empty());
}

#[test]
fn an_export_lists_a_stored_pre_key_it_cannot_write() {
    let tmp = TempDir::new("export-damaged-pre-key");
    let mut store = RedbStore::open(tmp.path().join("s.redb")).unwrap();
    store.apply(PersistSeq(1), &created(8)).unwrap();
    let keys: Vec<(u32, KeyPair)> = (1..=2)
        .map(|id| (id, KeyPair::from_private_bytes([id as u8 + 1; 32])))
        .collect();
    let mut delta = CredentialsDelta::pre_keys_generated(&keys, 4);
    // Id 3's key is cut short: a damaged row.
    delta.records.push(tether_core::records::RecordWrite::put(
        tether_core::records::Table::PreKeys,
        3u32.to_be_bytes().to_vec(),
        vec![7u8; 31],
    ));
    store.apply(PersistSeq(2), &delta).unwrap();
    let dir = tmp.path().join("auth");
    let summary = store.export_baileys(&dir).unwrap();
    assert_eq!(summary.pre_keys, 2, "{summary}");
    assert_eq!(summary.skipped.len(), 1, "{summary}");
    assert_eq!(summary.skipped[0].name, "pre-key-3.json");
    assert!(matches!(summary.skipped[0].reason, SkipReason::Corrupt(_)));
    assert!(
        summary
            .to_string()
            .contains("skipped: pre-key-3.json is corrupt"),
        "{summary}"
    );
    assert!(dir.join("pre-key-1.json").exists());
    assert!(!dir.join("pre-key-3.json").exists());
}
