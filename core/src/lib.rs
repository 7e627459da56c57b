//! # tether-core
//!
//! The sans-IO heart of Tether, a WhatsApp Web (multi-device) client core built to stay
//! connected. This crate owns **no sockets, clocks, threads, files, OS randomness or async**:
//! it turns bytes, transport events, timer ticks (`now` passed in), store results and commands
//! into frames, deadlines, events and actions.
//!
//! What is here today:
//!
//! - [`noise`]: WhatsApp's variant of the Noise XX handshake (client and responder, sans-IO)
//!   and the AES-256-GCM transport phase that follows it.
//! - [`proto`]: hand-written protobuf messages of the handshake.
//!
//! Every parser returns a typed error and never panics on hostile input; the fuzz targets in
//! `fuzz/` and the proptest round-trips in `tests/` hold it to that.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod noise;
pub mod proto;
