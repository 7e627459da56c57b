//! # tether-core
//!
//! The sans-IO heart of Tether, a WhatsApp Web (multi-device) client core built to stay
//! connected. This crate owns **no sockets, clocks, threads, files, OS randomness or async**:
//! it turns bytes, transport events, timer ticks (`now` passed in), store results and commands
//! into frames, deadlines, events and actions.
//!
//! What is here today:
//!
//! - [`frame`]: the byte-stream framing under the WebSocket — the intro header (plain and the
//!   edge-routing variant) and 3-byte big-endian length frames, with an incremental decoder that
//!   accepts input split or coalesced at any byte boundary and bounds every frame before
//!   allocating.
//! - [`binary`]: the WABinary node codec (`Node`, `Jid`, token dictionaries v2 and v3), the
//!   transport plaintext (flags byte, bounded zlib inflate) and a readable XML-like text form.
//!
//! Every parser returns a typed error and never panics on hostile input; the fuzz targets in
//! `fuzz/` and the proptest round-trips in `tests/` hold it to that.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod binary;
pub mod frame;

#[cfg(feature = "__fuzzing")]
pub mod fuzzing;
