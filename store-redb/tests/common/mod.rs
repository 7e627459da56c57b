//! Shared helpers for the store tests: a self-removing temporary directory and credentials.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::creds::{CredentialChange, Credentials, CredentialsDelta};

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tether-store-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn credentials(seed: u64) -> Credentials {
    Credentials::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

pub(crate) fn created(seed: u64) -> CredentialsDelta {
    CredentialsDelta::one(CredentialChange::Created(Box::new(credentials(seed))))
}

/// The ids of the one-time pre-keys `store` holds (records of the `pre_keys` family).
#[allow(dead_code)]
pub(crate) fn pre_key_ids(store: &tether_store_redb::RedbStore) -> Vec<u32> {
    use tether_core::records::{RecordData, RecordRead, Table, pre_key_from_row};
    let read = RecordRead::Range {
        table: Table::PreKeys,
        start: bytes::Bytes::new(),
        end: bytes::Bytes::new(),
        limit: u32::MAX,
    };
    match store.read_records(&[read]).unwrap().pop() {
        Some(RecordData::Rows(rows)) => rows
            .iter()
            .filter_map(|(k, v)| pre_key_from_row(k, v).map(|(id, _)| id))
            .collect(),
        _ => Vec::new(),
    }
}
