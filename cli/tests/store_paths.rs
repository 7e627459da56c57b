//! Store paths that are not plain files, file modes under any umask, reading commands that never
//! change the store, and restores from files that are not backups — run through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::{NO_PROXY_ENV, Tmp};
use tether_core::creds::{
    CredentialChange, CredentialStore, Credentials, CredentialsDelta, PersistSeq,
};
use tether_store_redb::RedbStore;

const NOWHERE: &str = "ws://127.0.0.1:9/ws/chat";

/// Runs `tether ARGS` under `umask` with a 30 s guard; exit code, stdout, stderr.
fn tether_umask(home: &Path, umask: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = StdCommand::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("tether"))
        .args(args);
    for k in NO_PROXY_ENV {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .env("HOME", home)
        .env_remove("TETHER_STORE")
        .env_remove("TETHER_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "`tether {}` hung",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tether(home: &Path, args: &[&str]) -> (i32, String, String) {
    tether_umask(home, "077", args)
}

/// A short stand-in for file content in assertion messages.
fn digest(bytes: &[u8]) -> String {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{} bytes #{:016x}", bytes.len(), h.finish())
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A store with an unpaired identity, closed.
fn store_at(path: &Path) {
    let mut store = RedbStore::open(path).unwrap();
    store
        .apply(
            PersistSeq(1),
            &CredentialsDelta::one(CredentialChange::Created(Box::new(Credentials::generate(
                &mut rand::rng(),
            )))),
        )
        .unwrap();
}

/// What a path and whatever it points at look like, to prove nothing changed.
fn fingerprint(p: &Path) -> String {
    let meta = std::fs::symlink_metadata(p).map(|m| (m.file_type(), m.permissions().mode()));
    let link = std::fs::read_link(p).ok();
    let target = std::fs::metadata(p).map(|m| m.permissions().mode()).ok();
    // Never read a FIFO (it would block): only what the path resolves to as a regular file.
    let content = std::fs::metadata(p)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .and_then(|_| std::fs::read(p).ok())
        .map(|c| digest(&c));
    format!("{meta:?} {link:?} {target:?} {content:?}")
}

#[test]
fn a_store_path_that_is_not_a_plain_file_is_refused_and_nothing_is_touched() {
    let t = Tmp::new("paths");
    let other = t.0.join("notes.txt");
    std::fs::write(&other, b"someone else's file").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
    let real_store = t.0.join("real.redb");
    store_at(&real_store);
    std::fs::set_permissions(&real_store, std::fs::Permissions::from_mode(0o640)).unwrap();
    let backup = t.0.join("backup.redb");
    RedbStore::open(&real_store)
        .unwrap()
        .backup_to(&backup)
        .unwrap();
    std::fs::set_permissions(&real_store, std::fs::Permissions::from_mode(0o640)).unwrap();
    let auth = t.0.join("auth");
    {
        let src = t.0.join("src.redb");
        store_at(&src);
        RedbStore::open(&src)
            .unwrap()
            .export_baileys(&auth)
            .unwrap();
    }
    type Make<'a> = Box<dyn Fn(&Path) + 'a>;
    let kinds: Vec<(&str, Make<'_>)> = vec![
        (
            "a directory",
            Box::new(|p: &Path| {
                std::fs::create_dir(p).unwrap();
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }),
        ),
        (
            "a link to another file",
            Box::new(|p: &Path| std::os::unix::fs::symlink(&other, p).unwrap()),
        ),
        (
            "a link to a store",
            Box::new(|p: &Path| std::os::unix::fs::symlink(&real_store, p).unwrap()),
        ),
        (
            "a dangling link",
            Box::new(|p: &Path| std::os::unix::fs::symlink(p.with_extension("gone"), p).unwrap()),
        ),
        (
            "a FIFO",
            Box::new(|p: &Path| {
                rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o644))
                    .unwrap();
            }),
        ),
    ];
    for (i, (kind, make)) in kinds.iter().enumerate() {
        let dir = t.0.join(format!("k{i}"));
        std::fs::create_dir(&dir).unwrap();
        let store = dir.join("s.redb");
        make(&store);
        let before = (
            fingerprint(&store),
            fingerprint(&other),
            fingerprint(&real_store),
        );
        let out: PathBuf = dir.join("out");
        let commands: Vec<Vec<&str>> = vec![
            vec!["run", "--server", NOWHERE],
            vec!["relink", "--server", NOWHERE],
            vec!["logout", "--server", NOWHERE, "--timeout", "1"],
            vec!["status"],
            vec!["doctor", "--server", NOWHERE, "--timeout", "1"],
            vec!["backup", s(&out)],
            vec!["restore", s(&backup)],
            vec!["export", "baileys", s(&out)],
            vec!["quarantine", "list"],
            vec!["quarantine", "restore", "1"],
            vec!["import", "baileys", s(&auth)],
        ];
        for args in commands {
            let mut full = args.clone();
            full.extend(["--store", s(&store)]);
            let (code, stdout, stderr) = tether(&t.0, &full);
            let shown = format!("{kind}: `tether {}`", args.join(" "));
            assert!(
                code == 1 || code == 2,
                "{shown} exited {code}:\n{stdout}\n{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{shown}: {stderr}");
            assert_eq!(
                (
                    fingerprint(&store),
                    fingerprint(&other),
                    fingerprint(&real_store)
                ),
                before,
                "{shown} changed something"
            );
            assert!(!out.exists(), "{shown} wrote {}", out.display());
            assert!(
                !store.with_extension("gone").exists(),
                "{shown} created a file through a link"
            );
        }
    }
}

#[test]
fn every_file_tether_creates_is_private_under_any_umask() {
    let t = Tmp::new("umask");
    let auth = t.0.join("auth");
    {
        let src = t.0.join("src.redb");
        store_at(&src);
        RedbStore::open(&src)
            .unwrap()
            .export_baileys(&auth)
            .unwrap();
    }
    let store = t.0.join("new/dir/s.redb");
    let (code, out, err) = tether_umask(
        &t.0,
        "000",
        &["import", "baileys", s(&auth), "--store", s(&store)],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(&t.0.join("new")), 0o700);
    assert_eq!(mode(&t.0.join("new/dir")), 0o700);
    let backup = t.0.join("b.redb");
    let (code, _, err) = tether_umask(&t.0, "000", &["backup", s(&backup), "--store", s(&store)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&backup), 0o600);
    let exported = t.0.join("exported");
    let (code, _, err) = tether_umask(
        &t.0,
        "000",
        &["export", "baileys", s(&exported), "--store", s(&store)],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&exported), 0o700);
    for entry in std::fs::read_dir(&exported).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    let restored = t.0.join("restored.redb");
    let (code, _, err) = tether_umask(
        &t.0,
        "000",
        &["restore", s(&backup), "--store", s(&restored)],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&restored), 0o600);
}

#[test]
fn reading_commands_never_change_the_store_and_a_0_byte_store_is_no_store() {
    let t = Tmp::new("readers");
    let store = t.0.join("s.redb");
    store_at(&store);
    // A copy taken while an owner holds the store: redb must recover it before reading.
    let crashed = t.0.join("crashed.redb");
    {
        let owner = RedbStore::open(&store).unwrap();
        std::fs::copy(&store, &crashed).unwrap();
        drop(owner);
    }
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o640)).unwrap();
    let empty = t.0.join("empty.redb");
    std::fs::write(&empty, b"").unwrap();
    for (path, n) in [(&store, 0), (&crashed, 1)] {
        let before = (digest(&std::fs::read(path).unwrap()), mode(path));
        let readers: Vec<Vec<String>> = vec![
            vec!["backup".into(), s(&t.0.join(format!("b{n}.redb"))).into()],
            vec![
                "export".into(),
                "baileys".into(),
                s(&t.0.join(format!("e{n}"))).into(),
            ],
            vec!["quarantine".into(), "list".into()],
            vec!["status".into()],
        ];
        for args in readers {
            let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
            full.extend(["--store", s(path)]);
            let (code, out, err) = tether(&t.0, &full);
            assert_eq!(code, 0, "`tether {}`: {out}{err}", args.join(" "));
            assert_eq!(
                (digest(&std::fs::read(path).unwrap()), mode(path)),
                before,
                "`tether {}` changed {}",
                args.join(" "),
                path.display()
            );
        }
    }
    for args in [
        vec!["backup", s(&t.0.join("b-empty.redb"))],
        vec!["export", "baileys", s(&t.0.join("e-empty"))],
        vec!["quarantine", "list"],
        vec!["quarantine", "restore", "1"],
        vec!["logout", "--server", NOWHERE],
    ] {
        let mut full = args.clone();
        full.extend(["--store", s(&empty)]);
        let (code, _, err) = tether(&t.0, &full);
        assert_eq!(code, 1, "`tether {}`: {err}", args.join(" "));
        assert!(
            err.contains("no store at"),
            "`tether {}`: {err}",
            args.join(" ")
        );
        assert_eq!(
            std::fs::read(&empty).unwrap(),
            b"",
            "`tether {}`",
            args.join(" ")
        );
    }
}

#[test]
fn restore_refuses_anything_that_is_not_a_backup_and_leaves_the_store_alone() {
    let t = Tmp::new("restore-not");
    let store = t.0.join("s.redb");
    store_at(&store);
    let before = digest(&std::fs::read(&store).unwrap());
    let empty = t.0.join("empty.redb");
    std::fs::write(&empty, b"").unwrap();
    let text = t.0.join("text.redb");
    std::fs::write(&text, b"not a database").unwrap();
    let dir = t.0.join("dir.redb");
    std::fs::create_dir(&dir).unwrap();
    let fifo = t.0.join("fifo.redb");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let never_initialised = t.0.join("fresh.redb");
    drop(RedbStore::open(&never_initialised).unwrap());
    for bad in [&empty, &text, &dir, &fifo, Path::new("/dev/null")] {
        let (code, _, err) = tether(&t.0, &["restore", s(bad), "--store", s(&store)]);
        assert_eq!(code, 2, "{}: {err}", bad.display());
        assert!(
            err.contains("nothing was changed"),
            "{}: {err}",
            bad.display()
        );
        assert_eq!(
            digest(&std::fs::read(&store).unwrap()),
            before,
            "{}",
            bad.display()
        );
        let aside = std::fs::read_dir(&t.0)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains("before-restore"));
        assert!(!aside, "{}: the store was moved aside", bad.display());
    }
    // An initialised store without an identity is a real (if empty) backup: it restores.
    let (code, _, err) = tether(
        &t.0,
        &["restore", s(&never_initialised), "--store", s(&store)],
    );
    assert_eq!(code, 0, "{err}");
}
