//! # tether-tests
//!
//! Cross-crate tests for Tether. The tests live in `tests/tests/*.rs` and the benches in
//! `tests/benches/*.rs`; this library holds the helpers they share: for now the bridge to the
//! Baileys codec harness in `interop/` ([`interop`]) and the credential-store contract
//! ([`store_contract`]) that every store must pass.
#![forbid(unsafe_code)]

pub mod interop;
pub mod store_contract;
pub mod ws_client;
