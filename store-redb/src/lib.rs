//! # tether-store-redb
//!
//! Tether's credential store on redb (`DESIGN.md` §5): every credential change in one durable
//! transaction, one owner per store, quarantine instead of deletion.
//!
//! * [`RedbStore`] implements [`tether_core::creds::CredentialStore`]: `apply(seq, delta)` runs
//!   [`tether_core::creds::Credentials::apply`] inside one write transaction committed with
//!   `Durability::Immediate`; a replayed `seq` is a no-op.
//! * Single owner: redb's OS lock plus the `<store>.owner` sidecar ([`Owner`]), so a refused
//!   second instance learns who holds the store ([`RedbStoreError::InUse`]).
//! * Files are created 0600 and the parent directory 0700; the schema is versioned
//!   ([`SCHEMA_VERSION`]) and a newer store is refused untouched.
//! * Quarantine keeps the identity aside, listed ([`RedbStore::list_quarantined`]) and
//!   restorable ([`RedbStore::restore_quarantined`]).
//!
//! * [`RedbStore::record_status`] keeps the owner's connection status ([`StoreStatus`]).
//! * [`RedbStore::backup_to`] writes a consistent online snapshot; [`restore`] puts one back
//!   (keeping the replaced store aside); [`check`] reports, read-only and without ownership,
//!   what is present and what is damaged ([`IntegrityReport`]).
//!
//! * [`RedbStore::import_baileys`] / [`RedbStore::export_baileys`] move an identity from and
//!   to a Baileys multi-file auth directory ([`BaileysError`] names the file at fault).
//!
//! The control socket is the CLI's (it calls this API inside the owner).
#![forbid(unsafe_code)]

mod backup;
mod baileys;
mod binding;
mod check;
mod error;
mod files;
mod foreign;
mod guard;
mod handle;
mod opening;
mod owner;
mod place;
mod record;
mod records;
mod schema;
mod status;
mod store;
mod tables;
mod verify;

pub use backup::{RestoreOutcome, restore};
pub use baileys::{
    BaileysError, BaileysImport, BaileysSummary, ImportOptions, SkipReason, Skipped,
};
pub use binding::ServerBinding;
pub use check::{CheckItem, IntegrityReport, KeyCounts, check};
pub use error::RedbStoreError;
pub use owner::{Owner, lock_held};
pub use record::RecordError;
pub use schema::SCHEMA_VERSION;
pub use status::{LastDisconnect, StoreStatus};
pub use store::{QuarantineEntry, RedbStore};
