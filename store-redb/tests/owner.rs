//! Single ownership: a second open, in this process or another, is refused and names the
//! holder; a holder killed with SIGKILL does not block the next open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use tether_store_redb::{RedbStore, RedbStoreError};

use common::TempDir;

fn hold(path: &Path) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether-store-hold"))
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

fn first_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line
}

#[test]
fn a_second_open_in_the_same_process_names_this_process() {
    let tmp = TempDir::new("same");
    let path = tmp.path().join("tether.redb");
    let _first = RedbStore::open(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    let RedbStoreError::InUse { holder, .. } = &err else {
        panic!("expected InUse, got {err:?}");
    };
    assert_eq!(holder.as_ref().unwrap().pid, std::process::id());
    let text = err.to_string();
    assert!(text.contains("440"), "{text}");
    assert!(text.contains(&format!(
        "stop the other instance (pid {}",
        std::process::id()
    )));
    assert!(text.contains("or use another --store"), "{text}");
}

#[test]
fn a_second_process_is_refused_and_told_who_holds_the_store() {
    let tmp = TempDir::new("proc");
    let path = tmp.path().join("tether.redb");
    let first = RedbStore::open(&path).unwrap();
    let (mut child, mut out) = hold(&path);
    let line = first_line(&mut out);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{line}");
    assert!(line.starts_with("refused: "), "{line}");
    assert!(
        line.contains(&format!("pid {} on host", std::process::id())),
        "{line}"
    );
    drop(first);
    // Once the holder is gone, the other process gets the store.
    let (mut child, mut out) = hold(&path);
    assert!(first_line(&mut out).starts_with("ready "));
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_holder_killed_with_sigkill_does_not_block_the_next_open() {
    let tmp = TempDir::new("kill");
    let path = tmp.path().join("tether.redb");
    let (mut child, mut out) = hold(&path);
    let line = first_line(&mut out);
    assert_eq!(line.trim(), format!("ready {}", child.id()));
    let err = RedbStore::open(&path).unwrap_err();
    let RedbStoreError::InUse { holder, .. } = &err else {
        panic!("expected InUse, got {err:?}");
    };
    assert_eq!(holder.as_ref().unwrap().pid, child.id());
    child.kill().unwrap(); // SIGKILL: no destructor runs, the sidecar stays behind
    child.wait().unwrap();
    assert!(
        path.with_extension("redb.owner").exists(),
        "the stale sidecar should remain"
    );
    let store = RedbStore::open(&path).unwrap();
    let sidecar = std::fs::read_to_string(path.with_extension("redb.owner")).unwrap();
    assert!(
        sidecar.contains(&format!("pid={}", std::process::id())),
        "{sidecar}"
    );
    drop(store);
    assert!(
        !path.with_extension("redb.owner").exists(),
        "a clean close removes the sidecar"
    );
}
