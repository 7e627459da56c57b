//! What a session is built from: the peer's [`PreKeyBundle`] (initiator) or our own
//! [`ResponderKeys`] (responder), and the [`IdentityPolicy`] that decides whom to accept.

use crate::keys::{
    IdentityKey, IdentityKeyPair, PreKey, PreKeyId, PublicKey, RegistrationId, SignedPreKey,
    SignedPreKeyId,
};
use crate::xeddsa::SIGNATURE_LEN;

/// A device's pre-key bundle, as the server hands it out (`messaging.md` §3): everything an
/// initiator needs for X3DH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The device's registration id.
    pub registration_id: RegistrationId,
    /// The device id (not used by the cryptography; kept so a bundle describes one device).
    pub device_id: u32,
    /// A one-time pre-key, unless the device's pool is exhausted.
    pub pre_key: Option<(PreKeyId, PublicKey)>,
    /// The signed pre-key's id.
    pub signed_pre_key_id: SignedPreKeyId,
    /// The signed pre-key.
    pub signed_pre_key: PublicKey,
    /// The identity's signature over the serialised signed pre-key (`0x05 ‖ u`).
    pub signed_pre_key_signature: [u8; SIGNATURE_LEN],
    /// The device's identity key.
    pub identity_key: IdentityKey,
}

impl PreKeyBundle {
    /// Whether the signed pre-key's signature is the identity's.
    #[must_use]
    pub fn verify_signature(&self) -> bool {
        self.identity_key.verify_signature(
            &self.signed_pre_key.serialize(),
            &self.signed_pre_key_signature,
        )
    }
}

/// Our keys for answering a `PreKeySignalMessage` that starts a new session: load exactly the
/// ones the parsed message names ([`PreKeySignalMessage::signed_pre_key_id`],
/// [`PreKeySignalMessage::pre_key_id`]) and pass `None` for what the store does not have (the
/// decryption then fails with a typed error saying which key is missing).
///
/// [`PreKeySignalMessage::signed_pre_key_id`]: crate::PreKeySignalMessage::signed_pre_key_id
/// [`PreKeySignalMessage::pre_key_id`]: crate::PreKeySignalMessage::pre_key_id
#[derive(Clone, Copy, Debug)]
pub struct ResponderKeys<'a> {
    /// Our identity.
    pub identity: &'a IdentityKeyPair,
    /// Our registration id.
    pub registration_id: RegistrationId,
    /// The signed pre-key the message names, if we still have it.
    pub signed_pre_key: Option<&'a SignedPreKey>,
    /// The one-time pre-key the message names, if it names one and we still have it.
    pub one_time_pre_key: Option<&'a PreKey>,
}

/// Which peer identities an operation accepts.
///
/// WhatsApp trusts on first use and follows identity changes (`messaging.md` §4.9): that is
/// [`IdentityPolicy::AcceptAny`], with the caller saving the identity each result reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityPolicy<'a> {
    /// Any identity.
    AcceptAny,
    /// Only this identity; another is an `UntrustedIdentity` error.
    Require(&'a IdentityKey),
}

impl IdentityPolicy<'_> {
    /// Whether `identity` is accepted.
    pub fn accepts(&self, identity: &IdentityKey) -> bool {
        match self {
            Self::AcceptAny => true,
            Self::Require(trusted) => *trusted == identity,
        }
    }
}
