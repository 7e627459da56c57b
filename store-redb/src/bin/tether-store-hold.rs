//! Test helper: opens a Tether store and holds it until standard input closes.
//!
//! `tether-store-hold <store>` prints `ready <pid>` once it owns the store, or `refused: <why>`
//! and exits with status 2 when it cannot open it. The single-owner tests use it as the
//! "other process"; it is also handy to check by hand that a second instance is refused.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::process::ExitCode;

use tether_store_redb::RedbStore;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: tether-store-hold <store>");
        return ExitCode::from(64);
    };
    let mut out = std::io::stdout();
    match RedbStore::open(&path) {
        Ok(store) => {
            let _ = writeln!(out, "ready {}", std::process::id());
            let _ = out.flush();
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            drop(store);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(out, "refused: {e}");
            let _ = out.flush();
            ExitCode::from(2)
        }
    }
}
