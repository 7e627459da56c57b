//! # tether-tests
//!
//! Cross-crate tests for Tether. The tests live in `tests/tests/*.rs`; this library holds the
//! helpers they share (for now: the bridge to the Baileys codec harness in `interop/`).
#![forbid(unsafe_code)]
