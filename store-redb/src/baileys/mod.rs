//! Import from and export to a Baileys multi-file auth directory (`useMultiFileAuthState`,
//! `session.md` §7.3), so an existing Baileys/OpenClaw session continues without a new QR scan,
//! and a Tether identity can go back.
//!
//! ```text
//!  import_baileys(dir)  creds.json ── strict parse (a truncated/corrupt file is an error naming it,
//!                         │           never a fresh identity) ── Credentials + extras
//!                       pre-key-*.json, app-state-sync-key-*.json, app-state-sync-version-*.json,
//!                       session-*.json, sender-key-*.json, any other *.json ── keyed records
//!                         └── one durable transaction into an empty store (seq #1)
//!  export_baileys(dir)  live identity + its records ── <type>-<id>.json files (0600) in a new
//!                       or empty directory (0700), creds.json written last
//! ```
//!
//! | Baileys | Tether |
//! |---|---|
//! | `noiseKey`, `signedIdentityKey` | `noise_key`, `identity_key` (public halves checked) |
//! | `signedPreKey {keyPair, signature, keyId}` | `signed_pre_key` |
//! | `registrationId`, `advSecretKey` (base64) | `registration_id`, `adv_secret` |
//! | `me.id`, `me.lid`, `account`, `platform`, `me.verifiedName` | `device` (jid, lid, account as `ADVSignedDeviceIdentity` protobuf, platform, business name); paired = confirmed |
//! | `me.name` | `push_name` |
//! | `routingInfo`, `nextPreKeyId`, `firstUnuploadedPreKeyId` | same fields |
//! | `signalIdentities[]` | table `signal_identities`, key `name.deviceId` → 33-byte key |
//! | every other field (`pairingEphemeralKeyPair`, `processedHistoryMessages`, `accountSyncCounter`, `accountSettings`, `registered`, `pairingCode`, `lastPropHash`, `myAppStateKeyId`, `lastAccountSyncTimestamp`, …) and the whole `me` object | table `extra`, `baileys.creds.<field>` → its JSON, written back on export |
//! | `pre-key-<id>.json` | `pre_keys` |
//! | `app-state-sync-key-<base64 id>.json` | `app_state_sync_keys` (key id → `AppStateSyncKeyData` protobuf) |
//! | `app-state-sync-version-<name>.json` | `app_state_versions` (name → the JSON document) |
//! | `session-<address>.json`, `sender-key-<name>.json` | `signal_sessions`, `sender_keys` (the JSON document) |
//! | any other `*.json` (`sender-key-memory-…`, `lid-mapping-…`, …) | `extra_keys` (`baileys-file`, file stem) |
//! | — (Baileys keeps none) | `version` (not exported; fetched again when the server asks) |
//!
//! An identity Tether created itself exports with Baileys' defaults for the fields it has no
//! value for (`processedHistoryMessages: []`, `accountSyncCounter: 0`, …, a fresh
//! `pairingEphemeralKeyPair`), and a `signalIdentities` entry for the primary derived from the
//! account's signature key, as Baileys writes it at pairing.

mod creds;
mod json;
mod keys;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use tether_core::creds::PersistSeq;

use crate::error::RedbStoreError;
use crate::store::RedbStore;

/// A failure to import or export a Baileys auth directory.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BaileysError {
    /// The directory has no `creds.json`.
    #[error(
        "{dir} has no creds.json, so it is not a Baileys auth directory (useMultiFileAuthState); \
         point the import at the folder that holds creds.json"
    )]
    NoCreds {
        /// The directory.
        dir: PathBuf,
    },
    /// A file is not valid JSON (truncated or corrupt).
    #[error(
        "{file} is not valid JSON ({reason}): it is truncated or corrupt; nothing was imported \
         (Baileys itself would silently start a fresh identity here and lose the pairing); \
         restore the file from a backup, or link anew with `tether run`"
    )]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// A required field is missing or has the wrong form.
    #[error(
        "{file}: field `{field}` {problem}; nothing was imported; restore the file from a \
         backup, or link anew with `tether run`"
    )]
    BadField {
        /// The file.
        file: PathBuf,
        /// The field (dotted path).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The export target already holds files.
    #[error(
        "the export directory {dir} is not empty; nothing was written; export into a new or \
         empty directory"
    )]
    TargetNotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// The store holds no identity to export.
    #[error("the store {path} holds no identity to export; link one first with `tether run`")]
    NothingToExport {
        /// The store file.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] RedbStoreError),
}

impl BaileysError {
    fn io(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.to_owned(),
            source,
        }
    }

    fn field(file: &Path, field: &str, problem: impl Into<String>) -> Self {
        Self::BadField {
            file: file.to_owned(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// What an import or export moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaileysSummary {
    /// The identity's phone-number JID, when paired.
    pub jid: Option<String>,
    /// One-time pre-keys.
    pub pre_keys: usize,
    /// App-state sync keys.
    pub app_state_sync_keys: usize,
    /// App-state collection versions.
    pub app_state_versions: usize,
    /// Signal sessions.
    pub sessions: usize,
    /// Sender keys.
    pub sender_keys: usize,
    /// Other key-store files kept verbatim.
    pub other_files: usize,
    /// `creds.json` fields kept verbatim.
    pub extra_fields: usize,
    /// Entries of the directory that were not Baileys files and were left alone.
    pub ignored: Vec<String>,
}

impl fmt::Display for BaileysSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.jid {
            Some(jid) => write!(f, "identity {jid}")?,
            None => f.write_str("unpaired identity")?,
        }
        write!(
            f,
            ": {} pre-keys, {} app-state sync keys, {} app-state versions, {} sessions, {} \
             sender keys, {} other key files, {} other creds fields",
            self.pre_keys,
            self.app_state_sync_keys,
            self.app_state_versions,
            self.sessions,
            self.sender_keys,
            self.other_files,
            self.extra_fields
        )?;
        if !self.ignored.is_empty() {
            write!(f, "; ignored: {}", self.ignored.join(", "))?;
        }
        Ok(())
    }
}

impl RedbStore {
    /// Imports the Baileys auth directory `dir` into this store, which must hold no identity.
    ///
    /// Everything is read and checked before anything is written; the identity then lands in
    /// one durable transaction as change #1. A missing, truncated or corrupt `creds.json` (or
    /// any other file) is an error naming the file.
    pub fn import_baileys(&self, dir: &Path) -> Result<BaileysSummary, BaileysError> {
        let (creds, foreign, mut summary) = creds::read(dir)?;
        let (creds, foreign) = keys::read(dir, creds, foreign, &mut summary)?;
        self.install_identity(&creds, &foreign, PersistSeq(1))?;
        Ok(summary)
    }

    /// Exports the live identity into `dir` in Baileys' multi-file layout. `dir` must be
    /// missing or empty; it is created with mode 0700 and every file with mode 0600.
    pub fn export_baileys(&self, dir: &Path) -> Result<BaileysSummary, BaileysError> {
        let Some((creds, foreign)) = self.read_identity()? else {
            return Err(BaileysError::NothingToExport {
                path: self.path().to_owned(),
            });
        };
        keys::prepare_target(dir)?;
        let mut summary = keys::write(dir, &creds, &foreign)?;
        creds::write(dir, &creds, &foreign, &mut summary)?;
        Ok(summary)
    }
}
