//! # tether-core
//!
//! The sans-IO heart of Tether, a WhatsApp Web (multi-device) client core built to stay
//! connected. This crate owns **no sockets, clocks, threads, files, OS randomness or async**:
//! it turns bytes, transport events, timer ticks (`now` passed in), store results and commands
//! into frames, deadlines, events and actions.
//!
//! What is here today:
//!
//! - [`crypto`]: Curve25519 signatures exactly as libsignal makes them ([`crypto::xeddsa`]) and
//!   the X25519 [`crypto::KeyPair`] with redacted `Debug` and wipe-on-drop.
//! - [`proto`]: hand-written prost messages for the server certificate chain and the
//!   `ClientPayload` (with `DeviceProps`).
//! - [`cert`]: verification of the server's certificate chain (whatsmeow's checks, typed errors)
//!   and a chain builder for test servers.
//! - [`payload`]: the login and registration `ClientPayload` bytes from explicit parameters,
//!   with whatsmeow's values as defaults.
//!
//! Every parser returns a typed error and never panics on hostile input; the fuzz targets in
//! `fuzz/` and the proptest round-trips in `tests/` hold it to that.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cert;
pub mod crypto;
pub mod payload;
pub mod proto;
