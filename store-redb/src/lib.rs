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
//! Not built yet: online backup/restore, integrity check, Baileys import/export, the control
//! socket.
#![forbid(unsafe_code)]

mod error;
mod owner;
mod record;
mod schema;
mod store;
mod tables;

pub use error::RedbStoreError;
pub use owner::Owner;
pub use record::RecordError;
pub use schema::SCHEMA_VERSION;
pub use store::{QuarantineEntry, RedbStore};
