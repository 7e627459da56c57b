//! # tether-signal
//!
//! The Signal protocol exactly as WhatsApp speaks it (version 3, X3DH without Kyber), pure and
//! sans-IO: records in, records and bytes out, randomness passed in; no clock, no files, no
//! async, and nothing about WhatsApp stanzas.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod keys;
pub mod xeddsa;

pub use keys::{
    IdentityKey, IdentityKeyPair, KeyError, KeyPair, PreKey, PreKeyId, PublicKey, RegistrationId,
    SignedPreKey, SignedPreKeyId,
};
