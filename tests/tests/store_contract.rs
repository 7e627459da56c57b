//! The credential-store contract run against both stores: `MemStore` and `RedbStore`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use tether_core::creds::CredentialStore;
use tether_sim::store::MemStore;
use tether_store_redb::RedbStore;
use tether_tests::store_contract::{ContractStore, run_all};

struct Mem(MemStore);

impl ContractStore for Mem {
    fn store(&mut self) -> &mut dyn CredentialStore {
        &mut self.0
    }
    fn quarantined(&mut self) -> Vec<String> {
        self.0.quarantined().iter().map(|q| q.why.clone()).collect()
    }
    fn restore(&mut self, index: usize) -> Result<(), String> {
        self.0.restore_quarantined(index).map_err(|e| e.to_string())
    }
    fn reopen(&mut self) {}
}

struct Redb {
    dir: PathBuf,
    store: Option<RedbStore>,
}

impl Redb {
    fn new(n: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("tether-contract-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = RedbStore::open(dir.join("tether.redb")).unwrap();
        Self {
            dir,
            store: Some(store),
        }
    }

    fn get(&mut self) -> &mut RedbStore {
        self.store.as_mut().unwrap()
    }
}

impl Drop for Redb {
    fn drop(&mut self) {
        self.store = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ContractStore for Redb {
    fn store(&mut self) -> &mut dyn CredentialStore {
        self.get()
    }
    fn quarantined(&mut self) -> Vec<String> {
        let list = self.get().list_quarantined().unwrap();
        list.into_iter().map(|q| q.why).collect()
    }
    fn restore(&mut self, index: usize) -> Result<(), String> {
        let list = self.get().list_quarantined().map_err(|e| e.to_string())?;
        let id = list.get(index).map_or(u64::MAX, |q| q.id);
        self.get()
            .restore_quarantined(id)
            .map_err(|e| e.to_string())
    }
    fn reopen(&mut self) {
        self.store = None; // releases the lock and removes the owner file
        self.store = Some(RedbStore::open(self.dir.join("tether.redb")).unwrap());
    }
}

#[test]
fn mem_store_keeps_the_contract() {
    run_all(|| Mem(MemStore::new()));
}

#[test]
fn redb_store_keeps_the_contract() {
    let mut n = 0;
    run_all(|| {
        n += 1;
        Redb::new(n)
    });
}
