//! Hand-written protobuf messages (prost derives, no build script) for the handshake-level
//! schemas. Field numbers and enum values are facts from WhatsApp's schema as whatsmeow
//! publishes it (`proto/waCert`, `proto/waWa6`, `proto/waCompanionReg`).
//!
//! proto2 `optional` fields map to `Option<T>`, so presence survives a round trip: the server
//! sees a field that is set to its default value, exactly as the reference clients send it.

pub mod cert;
pub mod client_payload;
