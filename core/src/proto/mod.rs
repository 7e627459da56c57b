//! Hand-written protobuf messages (prost derives, no build script, no `protoc`).
//!
//! Field numbers and enum values are facts from WhatsApp's schema as whatsmeow publishes it
//! (`proto/waWa6`, `proto/waCert`, `proto/waCompanionReg`, `proto/waAdv`, `proto/waE2E`) and `transport.md`.
//! Every message is proto2 with all fields optional, so each field is an `Option`: presence
//! survives a round trip (the server sees a field set to its default value exactly as the
//! reference clients send it), and unknown fields are skipped.

pub mod adv;
pub mod cert;
pub mod client_payload;
pub mod handshake;
pub mod media;
pub mod message;
