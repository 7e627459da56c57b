//! # tether-store-redb
//!
//! Tether's credential store on redb (`DESIGN.md` §5): every credential change in one durable
//! transaction, one owner per store, quarantine instead of deletion, Baileys import/export.
//!
//! **Status:** not built yet. This crate is reserved by the workspace layout; the store is
//! tracked by its own issue and this crate exports nothing until then.
#![forbid(unsafe_code)]
