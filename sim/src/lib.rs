//! # tether-sim
//!
//! Deterministic simulation for Tether (`DESIGN.md` §7): a sans-IO fake WhatsApp server, a fake
//! phone, a seeded fault network and the `World` stepper that runs them in virtual time.
//!
//! **Status:** not built yet. This crate is reserved by the workspace layout; the simulator is
//! tracked by its own issue and this crate exports nothing until then.
#![forbid(unsafe_code)]
