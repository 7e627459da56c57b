//! `tether import baileys` on damaged auth directories, as an operator meets them: input errors
//! exit 2 and name the file, a failed import leaves no store file behind, and `--skip-corrupt`
//! imports the rest and lists every entry it left out and why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Tmp, output, tether};
use tether_core::creds::{CredentialChange, CredentialStore, CredentialsDelta, PersistSeq};
use tether_core::crypto::KeyPair;
use tether_store_redb::RedbStore;

/// An auth directory of a fresh identity with 4 pre-keys, exported by the library.
fn auth_dir(root: &Path) -> PathBuf {
    let source = root.join("source.redb");
    let mut store = RedbStore::open(&source).unwrap();
    let creds = tether_core::creds::Credentials::generate(&mut rand::rng());
    store
        .apply(
            PersistSeq(1),
            &CredentialsDelta {
                changes: vec![
                    CredentialChange::Created(Box::new(creds)),
                    CredentialChange::PreKeysGenerated { next_pre_key_id: 5 },
                ],
                records: (1..=4)
                    .map(|id| {
                        tether_core::records::pre_key_record(
                            id,
                            &KeyPair::from_private_bytes([id as u8; 32]),
                        )
                    })
                    .collect(),
            },
        )
        .unwrap();
    let dir = root.join("auth");
    store.export_baileys(&dir).unwrap();
    dir
}

/// Everything in `root` whose name starts with `stem` (the store, its sidecars).
fn files_of(root: &Path, stem: &str) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(stem))
        .collect()
}

#[test]
fn a_damaged_directory_is_an_input_error_and_leaves_no_store_behind() {
    let t = Tmp::new("import-bad");
    let dir = auth_dir(&t.0);
    let store = t.0.join("new.redb");
    // Each of these is the directory's fault: exit 2, the file named, nothing created.
    let cases: [(&str, &[u8]); 4] = [
        ("pre-key-2.json", b"{}"),
        ("app-state-sync-key-AAAAAHVo.json", b"{}"),
        ("session-15550001111.0.json", b"[]"),
        ("creds.json", b"{\"noiseKey\":"),
    ];
    for (name, content) in cases {
        let file = dir.join(name);
        let original = std::fs::read(&file).ok();
        std::fs::write(&file, content).unwrap();
        let (code, out, err) = output(
            tether(&t.0)
                .args(["import", "baileys"])
                .arg(&dir)
                .arg("--store")
                .arg(&store),
        );
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(
            files_of(&t.0, "new.redb").is_empty(),
            "{name}: a failed import left {:?}",
            files_of(&t.0, "new.redb")
        );
        match original {
            Some(o) => std::fs::write(&file, o).unwrap(),
            None => std::fs::remove_file(&file).unwrap(),
        }
    }
    let (code, _, err) = output(
        tether(&t.0)
            .args(["import", "baileys"])
            .arg(t.0.join("no-such-dir"))
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 2, "{err}");
    assert!(files_of(&t.0, "new.redb").is_empty());
}

#[test]
fn skip_corrupt_imports_the_rest_and_lists_what_it_skipped() {
    let t = Tmp::new("import-salvage");
    let dir = auth_dir(&t.0);
    std::fs::write(dir.join("pre-key-3.json"), b"{}").unwrap();
    std::fs::write(dir.join("pre-key-03.json"), b"{}").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("session-9.0.json")).unwrap();
    std::fs::create_dir(dir.join("old-backup")).unwrap();
    let store = t.0.join("salvaged.redb");
    let (code, out, err) = output(
        tether(&t.0)
            .args(["import", "baileys", "--skip-corrupt"])
            .arg(&dir)
            .arg("--store")
            .arg(&store),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 pre-keys"), "{out}");
    assert!(out.contains("Skipped 4 entries"), "{out}");
    for line in [
        "pre-key-3.json is corrupt",
        "pre-key-03.json has a name Baileys does not write",
        "session-9.0.json is a symbolic link",
        "old-backup is a directory",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let opened = RedbStore::open(&store).unwrap();
    assert_eq!(
        opened
            .count_records(tether_core::records::Table::PreKeys)
            .unwrap(),
        3
    );
}
