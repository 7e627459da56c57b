//! # tether-tests
//!
//! Cross-crate tests for Tether. The tests live in `tests/tests/*.rs` and the benches in
//! `tests/benches/*.rs`; this library holds the helpers they share: the bridge to the Baileys
//! harnesses in `interop/` ([`interop`]), the credential-store contract ([`store_contract`])
//! that every store must pass, linked identities that log in without a QR code
//! ([`identities`]), the seeded sweeps' harness ([`sweep`]), linking a runtime adapter's
//! client through a QR scan ([`qr_link`]) and what the benchmarks share ([`mod@bench`]).
#![forbid(unsafe_code)]

pub mod bench;
pub mod identities;
pub mod interop;
pub mod qr_link;
pub mod store_contract;
pub mod sweep;
pub mod ws_client;
