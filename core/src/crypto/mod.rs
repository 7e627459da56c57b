//! Curve25519 primitives shared by the Noise handshake, the certificate chain and pairing.
//!
//! - [`xeddsa`]: signatures with X25519 keys exactly as libsignal makes and checks them.
//! - [`keys`]: [`KeyPair`], an X25519 key pair with a redacted `Debug` and a private half that is
//!   wiped on drop, generated from the caller's seeded RNG.

pub mod keys;
pub mod xeddsa;

pub use keys::KeyPair;
