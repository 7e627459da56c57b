//! Replays the committed fuzz corpus (`fuzz/corpus/signal_parse/`, `fuzz/corpus/signal_decrypt/`)
//! through the same entry points the cargo-fuzz targets call, so every input the fuzzer kept is
//! re-checked by `cargo test` on stable Rust, deterministically.

#![allow(clippy::unwrap_used)]

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
fn signal_parse_corpus_replays() {
    let n = replay("signal_parse", tether_signal::fuzzing::parse);
    assert!(n >= 20, "the signal_parse corpus has only {n} inputs");
}

#[test]
fn signal_decrypt_corpus_replays() {
    let n = replay("signal_decrypt", tether_signal::fuzzing::decrypt);
    assert!(n >= 10, "the signal_decrypt corpus has only {n} inputs");
}
