//! Test helper for the crash test (`tests/crash.rs`): applies the deterministic stream of
//! credential updates ([`stream::delta`]) to a store until it is killed.
//!
//! `tether-store-crash <store>` opens the store, continues after the last committed update
//! (`load`'s sequence number, 0 for an empty store) and prints `committed <seq>` (flushed)
//! after each `apply` returned, i.e. after the update is durable. The test kills it with
//! `SIGKILL` at a random moment and checks that the store holds exactly a prefix.
#![forbid(unsafe_code)]

mod stream;

use std::io::Write;
use std::process::ExitCode;

use tether_core::creds::{CredentialStore, PersistSeq};
use tether_store_redb::RedbStore;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: tether-store-crash <store>");
        return ExitCode::from(64);
    };
    let mut store = match RedbStore::open(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut seq = match store.load() {
        Ok(loaded) => loaded.map_or(0, |(_, s)| s.0),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    loop {
        seq += 1;
        if let Err(e) = store.apply(PersistSeq(seq), &stream::delta(seq)) {
            eprintln!("update {seq}: {e}");
            return ExitCode::from(1);
        }
        if writeln!(out, "committed {seq}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::from(1);
        }
    }
}
