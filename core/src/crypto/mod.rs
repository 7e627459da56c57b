//! Curve25519 primitives shared by the Noise handshake, the certificate chain and pairing.
//!
//! They live in `tether-signal` (the Signal protocol needs them too) and are re-exported here
//! unchanged:
//!
//! - [`xeddsa`]: signatures with X25519 keys exactly as libsignal makes and checks them.
//! - [`keys`]: [`KeyPair`], an X25519 key pair with a redacted `Debug` and a private half that is
//!   wiped on drop, generated from the caller's seeded RNG (plus Signal's key roles).

pub use tether_signal::KeyPair;
pub use tether_signal::keys;
pub use tether_signal::xeddsa;
