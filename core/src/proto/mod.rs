//! Hand-written protobuf messages (prost derives, no build script).
//!
//! Field numbers are protocol facts transcribed from `transport.md`; every message is proto2
//! with all fields optional, so each field is an `Option` and unknown fields are skipped.

pub mod handshake;
