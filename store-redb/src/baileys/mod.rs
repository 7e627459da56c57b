//! Import from and export to a Baileys multi-file auth directory (`useMultiFileAuthState`,
//! `session.md` §7.3), so an existing Baileys/OpenClaw session continues without a new QR scan,
//! and a Tether identity can go back.
//!
//! ```text
//!  BaileysImport::read(dir, options)            (nothing is written until all is read)
//!      creds.json ── strict parse (a truncated/corrupt file is an error naming it, never a
//!                    fresh identity) ── Credentials + extras
//!      every entry ── listed without following links; not a regular file, a name that is not
//!                     UTF-8 or not *.json: skipped and reported
//!      pre-key-*.json, app-state-sync-key-*.json, app-state-sync-version-*.json,
//!      session-*.json, sender-key-*.json, any other *.json ── bounded read (no link followed,
//!                     a FIFO never blocks) ── shape check (`{}` is no key) ── keyed records
//!                     a bad file: an error naming it, or with `skip_corrupt` skipped and reported
//!  install_into(store) / RedbStore::install_baileys ── one durable transaction into an empty
//!                     store (seq #1); a store file the import created is removed if it fails
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
//! | `session-<address>.json`, `sender-key-<name>.json` | the messaging layer's session, identity and sender-key records, converted (see `signal.rs`); not exported back: Baileys starts new sessions after an export, because Tether's copies have moved on |
//! | `lid-mapping-<pn>.json`, `lid-mapping-<lid>_reverse.json` | the messaging layer's LID map, and `extra_keys` as written |
//! | any other `*.json` (`sender-key-memory-…`, …) | `extra_keys` (`baileys-file`, file stem) |
//! | — (Baileys keeps none) | `version` (not exported; fetched again when the server asks) |
//!
//! An identity Tether created itself exports with Baileys' defaults for the fields it has no
//! value for (`processedHistoryMessages: []`, `accountSyncCounter: 0`, …, a fresh
//! `pairingEphemeralKeyPair`), and a `signalIdentities` entry for the primary derived from the
//! account's signature key, as Baileys writes it at pairing.

mod creds;
mod json;
mod keys;
mod shape;
mod signal;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use bytes::Bytes;
use tether_core::creds::{Credentials, PersistSeq};
use tether_core::records::{RecordData, RecordRead, RecordWrite, Table};

use crate::error::RedbStoreError;
use crate::files::{ReadProblem, human_size};
use crate::foreign::Foreign;
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
    /// `creds.json` cannot be read safely (a link, not a regular file, too large, I/O).
    #[error(
        "{file} {reason}; nothing was imported; copy the real creds.json into the directory \
         (Tether reads only regular files there)"
    )]
    CredsUnreadable {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: SkipReason,
    },
    /// A key-store file is unusable (and skipping was not asked for).
    #[error(
        "{file} {reason}; nothing was imported; restore the file from a backup or move it \
         away, or import everything else and list what is skipped (`tether import baileys \
         --skip-corrupt`)"
    )]
    KeyFile {
        /// The file.
        file: PathBuf,
        /// Why it is unusable.
        reason: SkipReason,
    },
    /// The directory holds more key-store data than an import takes.
    #[error(
        "{dir} holds more than {} of key-store files; nothing was imported; a Baileys auth \
         directory is far smaller: point the import at the right folder",
        human_size(*.limit)
    )]
    TooMuch {
        /// The directory.
        dir: PathBuf,
        /// The bound on the total.
        limit: u64,
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

    /// Whether the input (the directory, its files, the export target) is at fault rather than
    /// the store or the system: what a command reports as a usage or input error.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Self::NoCreds { .. }
                | Self::Corrupt { .. }
                | Self::BadField { .. }
                | Self::CredsUnreadable { .. }
                | Self::KeyFile { .. }
                | Self::TooMuch { .. }
                | Self::TargetNotEmpty { .. }
        )
    }
}

/// Why an entry of an auth directory was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Its name is not valid UTF-8 (Baileys writes only UTF-8 names).
    NameNotUtf8,
    /// Not a `*.json` file, so not part of a Baileys auth directory.
    NotJson,
    /// A symbolic link: links are never followed.
    Symlink,
    /// Not a regular file (the phrase says what it is: "a directory", "a FIFO (named pipe)").
    NotAFile(&'static str),
    /// Larger than a file of its kind may be.
    TooLarge {
        /// Its size in bytes.
        size: u64,
        /// The bound for its kind.
        limit: u64,
    },
    /// A name Baileys does not write (e.g. a pre-key id with a leading zero).
    BadName(String),
    /// Not valid JSON, or valid JSON without the shape of its kind (a `{}` pre-key).
    Corrupt(String),
    /// Cannot be read (permissions, I/O error).
    Unreadable(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NameNotUtf8 => f.write_str("has a name that is not UTF-8"),
            Self::NotJson => f.write_str("is not a .json file"),
            Self::Symlink => f.write_str("is a symbolic link (links are never followed)"),
            Self::NotAFile(kind) => write!(f, "is {kind}, not a regular file"),
            Self::TooLarge { size, limit } => write!(
                f,
                "is {} ({size} bytes), more than the {} a file of its kind may hold",
                human_size(*size),
                human_size(*limit)
            ),
            Self::BadName(why) => write!(f, "has a name Baileys does not write ({why})"),
            Self::Corrupt(why) => write!(f, "is corrupt ({why})"),
            Self::Unreadable(why) => write!(f, "cannot be read ({why})"),
        }
    }
}

impl From<ReadProblem> for SkipReason {
    fn from(p: ReadProblem) -> Self {
        match p {
            ReadProblem::Symlink => Self::Symlink,
            ReadProblem::NotAFile(kind) => Self::NotAFile(kind),
            ReadProblem::TooLarge { size, limit } => Self::TooLarge { size, limit },
            ReadProblem::Io(e) => Self::Unreadable(e.to_string()),
        }
    }
}

/// An entry of the auth directory that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its name in the directory (lossily decoded when it is not UTF-8).
    pub name: String,
    /// Why it was left out.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.reason)
    }
}

/// How an import treats what it cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Import `creds.json` and every usable key-store file, skipping (and listing) the corrupt,
    /// oversized or unreadable ones, instead of refusing the whole import. `creds.json` itself
    /// is never skipped: without it there is no identity.
    pub skip_corrupt: bool,
    /// The largest key-store file read (Signal sessions and sender keys; pre-keys and app-state
    /// sync keys are bounded at [`ImportOptions::SMALL_FILE_BYTES`], `creds.json` at
    /// [`ImportOptions::CREDS_BYTES`]).
    pub max_file_bytes: u64,
    /// The most key-store bytes one import reads in total.
    pub max_total_bytes: u64,
}

impl ImportOptions {
    /// The bound on `creds.json` (Baileys writes a few KiB).
    pub const CREDS_BYTES: u64 = 1024 * 1024;
    /// The bound on a pre-key or app-state sync key file (Baileys writes ~200 bytes).
    pub const SMALL_FILE_BYTES: u64 = 64 * 1024;
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            skip_corrupt: false,
            // libsignal keeps at most 40 states of 5 chains of 2,000 message keys per session.
            max_file_bytes: 32 * 1024 * 1024,
            max_total_bytes: 512 * 1024 * 1024,
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
    /// Import: entries of the directory that were not imported, each with its reason, by name.
    /// Export: stored records that could not be written (damaged), each with its reason.
    pub skipped: Vec<Skipped>,
    /// Export only: imported sessions and sender keys not written back because Tether has used
    /// them since (Baileys starts new ones; a stale copy would reuse spent keys).
    pub left_out: usize,
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
        if self.left_out > 0 {
            write!(
                f,
                "; {} sessions and sender keys left out (Tether has used them since the import; \
                 Baileys starts new ones)",
                self.left_out
            )?;
        }
        if !self.skipped.is_empty() {
            let list: Vec<String> = self.skipped.iter().map(ToString::to_string).collect();
            write!(f, "; skipped: {}", list.join("; "))?;
        }
        Ok(())
    }
}

/// A stored one-time pre-key an export cannot write (not a 4-byte id and a 32-byte key: a
/// damaged store, which `tether store check` also names), listed in the export's summary.
fn unreadable_pre_key(key: &[u8]) -> Skipped {
    let name = match <[u8; 4]>::try_from(key) {
        Ok(id) => format!("pre-key-{}.json", u32::from_be_bytes(id)),
        Err(_) => format!("the pre-key record keyed {}", hex(key)),
    };
    Skipped {
        name,
        reason: SkipReason::Corrupt(
            "the stored record is not a 4-byte id and a 32-byte key; not written".into(),
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A Baileys auth directory, read and checked, ready to be installed into a store.
///
/// Reading writes nothing anywhere, so a directory that cannot be imported never leaves a
/// store file behind.
pub struct BaileysImport {
    creds: Credentials,
    foreign: Foreign,
    /// Signal sessions, identities, sender keys and LID mappings as messaging records.
    records: Vec<RecordWrite>,
    summary: BaileysSummary,
}

impl fmt::Debug for BaileysImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaileysImport")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl BaileysImport {
    /// Reads and checks the auth directory `dir` (see the module docs).
    pub fn read(dir: &Path, options: &ImportOptions) -> Result<Self, BaileysError> {
        let (creds, foreign, mut summary) = creds::read(dir)?;
        let (creds, foreign, records) = keys::read(dir, creds, foreign, options, &mut summary)?;
        Ok(Self {
            creds,
            foreign,
            records,
            summary,
        })
    }

    /// What the import holds, and what it skipped.
    pub fn summary(&self) -> &BaileysSummary {
        &self.summary
    }

    /// Installs the identity into the store at `store`, creating the store when there is
    /// none; a store file this call created is removed again when the install fails.
    pub fn install_into(self, store: &Path) -> Result<BaileysSummary, BaileysError> {
        let existed = std::fs::symlink_metadata(store).is_ok_and(|m| m.len() > 0);
        let opened = RedbStore::open(store)?;
        match opened.install_baileys(self) {
            Ok(summary) => Ok(summary),
            Err(e) => {
                if !existed {
                    // Still holding the lock: nobody can have started on it meanwhile.
                    let _ = std::fs::remove_file(store);
                }
                drop(opened);
                Err(e)
            }
        }
    }
}

impl RedbStore {
    /// Imports the Baileys auth directory `dir` into this store, which must hold no identity
    /// ([`BaileysImport::read`] with the default options, then
    /// [`RedbStore::install_baileys`]).
    ///
    /// Everything is read and checked before anything is written; the identity then lands in
    /// one durable transaction as change #1. A missing, truncated or corrupt `creds.json` (or
    /// any other file) is an error naming the file.
    pub fn import_baileys(&self, dir: &Path) -> Result<BaileysSummary, BaileysError> {
        self.install_baileys(BaileysImport::read(dir, &ImportOptions::default())?)
    }

    /// Installs an identity read by [`BaileysImport::read`] in one durable transaction as
    /// change #1. The store must hold no identity.
    pub fn install_baileys(&self, import: BaileysImport) -> Result<BaileysSummary, BaileysError> {
        self.install_identity(
            &import.creds,
            &import.foreign,
            &import.records,
            PersistSeq(1),
        )?;
        Ok(import.summary)
    }

    /// Exports the live identity into `dir` in Baileys' multi-file layout. `dir` must be
    /// missing or empty; it is created with mode 0700 and every file with mode 0600.
    pub fn export_baileys(&self, dir: &Path) -> Result<BaileysSummary, BaileysError> {
        let Some((creds, mut foreign)) = self.read_identity()? else {
            return Err(BaileysError::NothingToExport {
                path: self.path().to_owned(),
            });
        };
        let mut failed = None;
        let left_out = signal::still_current(&creds, &mut foreign, |table, key| {
            match self.read_records(&[RecordRead::get(table, key.clone())]) {
                Ok(mut data) => match data.pop() {
                    Some(RecordData::Value(v)) => v,
                    _ => None,
                },
                Err(e) => {
                    failed.get_or_insert(e);
                    None
                }
            }
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        let stored = self.read_records(&[RecordRead::Range {
            table: Table::PreKeys,
            start: Bytes::new(),
            end: Bytes::new(),
            limit: u32::MAX,
        }])?;
        let (mut pre_keys, mut unreadable) = (Vec::new(), Vec::new());
        if let Some(RecordData::Rows(rows)) = stored.first() {
            for (key, value) in rows {
                match tether_core::records::pre_key_from_row(key, value) {
                    Some(pre_key) => pre_keys.push(pre_key),
                    None => unreadable.push(unreadable_pre_key(key)),
                }
            }
        }
        keys::prepare_target(dir)?;
        let mut summary = keys::write(dir, &creds, &pre_keys, &foreign)?;
        summary.left_out = left_out;
        summary.skipped = unreadable;
        creds::write(dir, &creds, &foreign, &mut summary)?;
        Ok(summary)
    }
}
