//! # tether-tests
//!
//! Cross-crate tests for Tether. The tests live in `tests/tests/*.rs` and the benches in
//! `tests/benches/*.rs`; this library holds the helpers they share: the bridge to the Baileys
//! harnesses in `interop/` ([`interop`]), the credential-store contract ([`store_contract`])
//! that every store must pass, linked identities that log in without a QR code
//! ([`identities`]), and the seeded sweeps' harness ([`sweep`]).
#![forbid(unsafe_code)]

pub mod identities;
pub mod interop;
pub mod store_contract;
pub mod sweep;
pub mod ws_client;
