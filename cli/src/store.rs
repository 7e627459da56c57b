//! Opening the store from the CLI: clear refusals, the owner sidecar, and a shared handle so the
//! running connection, the status recorder and the control socket use one open store.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::{Value, json};
use tether_core::creds::{CredentialStore, Credentials, CredentialsDelta, PersistSeq, StoreError};
use tether_store_redb::{RedbStore, RedbStoreError, ServerBinding};

use crate::Failure;
use crate::metrics::Metrics;

/// Opens (or creates) the store and becomes its owner; an in-use store is a runtime failure whose
/// message names the holder once and `tether stop`.
pub(crate) fn open(path: &Path) -> Result<RedbStore, Failure> {
    RedbStore::open(path).map_err(failure)
}

/// "The store is in use by …; stop it with `tether stop`": the holder named once.
pub(crate) fn in_use(path: &Path, holder: Option<&tether_store_redb::Owner>) -> String {
    let who = holder.map_or_else(
        || "another Tether instance".to_owned(),
        |h| format!("another Tether instance ({h})"),
    );
    format!(
        "the store {} is in use by {who}; two instances on one account make the server replace \
         each other's connection (440) in an endless loop. Stop it first with `tether stop \
         --store {}`, or use another --store",
        path.display(),
        path.display()
    )
}

/// The server binding as JSON.
pub(crate) fn binding_json(b: &ServerBinding) -> Value {
    json!({
        "endpoint": b.endpoint,
        "trusted_roots": b.trusted_roots.iter().map(hex::encode).collect::<Vec<_>>(),
    })
}

/// Opens an existing store as its owner (never creates one: commands that change a store must
/// not leave empty stores behind a typo; a 0-byte file is no store either).
pub(crate) fn open_existing(path: &Path) -> Result<RedbStore, Failure> {
    if std::fs::symlink_metadata(path).map_or(true, |m| m.is_file() && m.len() == 0) {
        return Err(failure(RedbStoreError::NoStore {
            path: path.to_owned(),
        }));
    }
    open(path)
}

/// Opens an existing store for reading only: the file is never written, not even its
/// permissions or redb's crash recovery (reading commands: backup, export, quarantine list).
pub(crate) fn open_reader(path: &Path) -> Result<RedbStore, Failure> {
    RedbStore::open_read_only(path).map_err(failure)
}

/// A store error as a failure: a store path that names no store file (a link, a directory) is
/// the user's input (exit 2); everything else is a runtime failure (exit 1).
pub(crate) fn failure(e: RedbStoreError) -> Failure {
    match e {
        RedbStoreError::InUse { path, holder } => Failure::runtime(in_use(&path, holder.as_ref())),
        RedbStoreError::NotAStoreFile { .. } => Failure::input(e.to_string()),
        _ => Failure::runtime(e.to_string()),
    }
}

/// The process recorded in `<store>.owner` (pid, host, start), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sidecar {
    pub(crate) pid: u32,
    pub(crate) host: String,
    pub(crate) since: u64,
}

impl Sidecar {
    /// Reads the sidecar beside `store` (bounded, never through a link).
    pub(crate) fn read(store: &Path) -> Option<Self> {
        let owner = tether_store_redb::Owner::recorded(store)?;
        Some(Self {
            pid: owner.pid,
            host: owner.host,
            since: owner.since,
        })
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({"pid": self.pid, "host": self.host, "since_ms": self.since.saturating_mul(1000)})
    }
}

/// This machine's host name, as the store's sidecar records it.
pub(crate) fn local_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// One open store shared by the connection driver, the status recorder and the control socket.
#[derive(Clone, Debug)]
pub(crate) struct SharedStore {
    inner: Arc<Mutex<RedbStore>>,
    path: PathBuf,
    metrics: Option<Arc<Metrics>>,
}

impl SharedStore {
    pub(crate) fn new(store: RedbStore) -> Self {
        let path = store.path().to_owned();
        Self {
            inner: Arc::new(Mutex::new(store)),
            path,
            metrics: None,
        }
    }

    /// Times every durable credential write into `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The metrics it feeds, if any.
    pub(crate) fn metrics(&self) -> Option<Arc<Metrics>> {
        self.metrics.clone()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The store, for a short read or write.
    pub(crate) fn lock(&self) -> MutexGuard<'_, RedbStore> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CredentialStore for SharedStore {
    fn load(&mut self) -> Result<Option<(Credentials, PersistSeq)>, StoreError> {
        self.lock().load_credentials().map_err(StoreError::from)
    }

    fn apply(&mut self, seq: PersistSeq, delta: &CredentialsDelta) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self
            .lock()
            .apply_delta(seq, delta)
            .map_err(StoreError::from);
        if let Some(m) = &self.metrics {
            m.persisted(started.elapsed());
        }
        result
    }

    fn quarantine(&mut self, seq: PersistSeq, why: &str) -> Result<(), StoreError> {
        self.lock()
            .quarantine_identity(seq, why)
            .map(drop)
            .map_err(StoreError::from)
    }

    fn read(
        &mut self,
        reads: &[tether_core::records::RecordRead],
    ) -> Result<Vec<tether_core::records::RecordData>, StoreError> {
        self.lock().read_records(reads).map_err(StoreError::from)
    }
}

/// What the credentials say about the account (addresses and counts, never key material);
/// `pre_keys`: how many one-time pre-keys the store holds.
pub(crate) fn account_json(creds: Option<&Credentials>, pre_keys: Option<u64>) -> Value {
    let Some(c) = creds else {
        return json!({"linked": false});
    };
    match &c.device {
        None => json!({"linked": false, "keys_generated": true}),
        Some(d) => json!({
            "linked": true,
            "jid": d.jid.to_string(),
            "lid": d.lid.as_ref().map(ToString::to_string),
            "platform": d.platform,
            "business_name": d.business_name,
            "confirmed": c.confirmed,
            "push_name": c.push_name,
            "pre_keys": pre_keys,
            "app_state_sync_keys": c.app_state_sync_keys.len(),
            "version": c.version.map(|v| v.to_string()),
        }),
    }
}
