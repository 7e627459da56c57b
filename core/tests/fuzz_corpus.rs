//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same entry points
#![allow(clippy::unwrap_used)]
//! the cargo-fuzz targets call, so every input the fuzzer kept is re-checked by `cargo test` on
//! stable Rust, deterministically.

use std::fs;
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs `check` on every file of the target's corpus and returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in &entries {
        let data = fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(
            result.is_ok(),
            "corpus input {} fails; replay: cargo fuzz run -s none {target} {}",
            path.display(),
            path.display()
        );
    }
    entries.len()
}

#[test]
fn frame_corpus_replays() {
    let n = replay("frame", tether_core::fuzzing::frame);
    assert!(n >= 10, "the frame corpus has only {n} inputs");
}

#[test]
fn binary_node_corpus_replays() {
    let n = replay("binary_node", tether_core::fuzzing::binary_node);
    assert!(n >= 10, "the binary_node corpus has only {n} inputs");
}

#[test]
fn noise_handshake_corpus_replays() {
    let n = replay("noise_handshake", tether_core::fuzzing::noise_handshake);
    assert!(n >= 4, "the noise_handshake corpus has only {n} inputs");
}

#[test]
fn handshake_message_corpus_replays() {
    let n = replay("handshake_message", tether_core::fuzzing::handshake_message);
    assert!(n >= 4, "the handshake_message corpus has only {n} inputs");
}

#[test]
#[allow(clippy::disallowed_methods)] // the test, not the core, owns the clock origin
fn connection_corpus_replays() {
    let n = replay("connection", |data| {
        tether_core::fuzzing::connection(data, std::time::Instant::now())
    });
    assert!(n >= 4, "the connection corpus has only {n} inputs");
}

#[test]
#[allow(clippy::disallowed_methods)] // the test, not the core, owns the clock origin
fn media_corpus_replays() {
    let n = replay("media", |data| {
        tether_core::fuzzing::media(data, std::time::Instant::now())
    });
    assert!(n >= 10, "the media corpus has only {n} inputs");
}
