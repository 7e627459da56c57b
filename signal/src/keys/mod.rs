//! Keys, one role per type.
//!
//! | type | role |
//! |---|---|
//! | [`KeyPair`] | any X25519 pair (private half wiped on drop, redacted in `Debug`) |
//! | [`PublicKey`] | a public key in Signal's `0x05 ‖ u` serialisation (base, ratchet, signing keys) |
//! | [`IdentityKey`] / [`IdentityKeyPair`] | a peer's long-term identity / ours |
//! | [`PreKey`] + [`PreKeyId`] | a one-time pre-key |
//! | [`SignedPreKey`] + [`SignedPreKeyId`] | the signed pre-key (signature by the identity) |
//! | [`RegistrationId`] | a device's registration id |
//! | [`SenderKeyId`] | the id of a group sender's chain |

mod identity;
mod ids;
mod pair;
mod pre_key;
mod public;

pub use identity::{IdentityKey, IdentityKeyPair};
pub use ids::{PreKeyId, RegistrationId, SenderKeyId, SignedPreKeyId};
pub use pair::KeyPair;
pub(crate) use pair::PreparedPublic;
pub use pre_key::{PreKey, SignedPreKey};
pub use public::{KEY_TYPE_DJB, KeyError, PublicKey};
