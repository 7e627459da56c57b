//! Typed errors, one enum per operation.

use crate::keys::{IdentityKey, PreKeyId, SignedPreKeyId};
use crate::message::MessageError;

/// Why a bundle did not start a session ([`SessionRecord::process_bundle`]).
///
/// [`SessionRecord::process_bundle`]: crate::SessionRecord::process_bundle
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The signed pre-key's signature is not the bundle identity's.
    #[error(
        "the bundle's signed pre-key is not signed by its identity key: the bundle is forged or \
         corrupted; fetch it again and do not send to this device until it verifies"
    )]
    InvalidSignature,
    /// The bundle's identity is not the one the caller's policy requires.
    #[error(
        "the bundle's identity key {received:?} is not the trusted one: the peer re-installed, \
         or someone is in the middle; confirm the new identity before sending"
    )]
    UntrustedIdentity {
        /// The identity in the bundle.
        received: IdentityKey,
    },
}

/// Why a record could not encrypt ([`SessionRecord::encrypt`]).
///
/// [`SessionRecord::encrypt`]: crate::SessionRecord::encrypt
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The record has no open session: fetch the device's pre-key bundle and process it first.
    #[error("no open session with this device: fetch its pre-key bundle and start one")]
    NoSession,
    /// The sending chain reached 2³² messages (never in practice): start a new session.
    #[error("the session's sending chain is exhausted: start a new session from a fresh bundle")]
    ChainExhausted,
}

/// Why a message did not decrypt ([`SessionRecord::decrypt`],
/// [`SessionRecord::decrypt_pre_key`]). On every error the record is unchanged.
///
/// [`SessionRecord::decrypt`]: crate::SessionRecord::decrypt
/// [`SessionRecord::decrypt_pre_key`]: crate::SessionRecord::decrypt_pre_key
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The record holds no session state at all (libsignal: "No session record").
    #[error(
        "no session with this device: ask the sender to retry (a retry receipt), its next \
         message will start a new session"
    )]
    NoSession,
    /// The bytes are not a well-formed message.
    #[error("malformed message: {0}")]
    InvalidMessage(MessageError),
    /// The version byte names a message version other than 3.
    #[error("unsupported message version byte {version:#04x}: only version 3 exists on WhatsApp")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// The key for this counter is gone: the message was decrypted already (a redelivery), or
    /// it is older than the keys a session keeps (libsignal: "Key used already or never
    /// filled").
    #[error(
        "message {counter} of its chain was already decrypted (a duplicate) or is too old to \
         decrypt; if it is a redelivery, acknowledge it again"
    )]
    Duplicate {
        /// The message's counter.
        counter: u32,
    },
    /// The counter is 2000 or more ahead of its chain (libsignal: "Over 2000 messages into
    /// the future!").
    #[error(
        "message {counter} is too far ahead of its chain (2000 or more messages skipped): ask \
         the sender to retry"
    )]
    TooFarInFuture {
        /// The message's counter.
        counter: u32,
    },
    /// No session state's keys verify the MAC (libsignal: "Bad MAC", "No matching sessions
    /// found for message").
    #[error(
        "no session with this device verifies the message (Bad MAC): the sender's session is \
         one we do not have; ask it to retry, which starts a new session"
    )]
    BadMac,
    /// The MAC verified but the ciphertext's padding is invalid (a faulty sender).
    #[error("the message authenticated but its ciphertext padding is invalid: a faulty sender")]
    InvalidCiphertext,
    /// The sender's identity is not the one the caller's policy requires.
    #[error(
        "the sender's identity key {received:?} is not the trusted one: confirm the new \
         identity before reading its messages"
    )]
    UntrustedIdentity {
        /// The sender's identity.
        received: IdentityKey,
    },
    /// A `pkmsg` starts a new session, and no pre-keys were passed to answer it.
    #[error(
        "this pkmsg starts a new session: load signed pre-key {signed_pre_key_id} and one-time \
         pre-key {pre_key_id:?} and decrypt again with them"
    )]
    PreKeysRequired {
        /// The one-time pre-key it names.
        pre_key_id: Option<PreKeyId>,
        /// The signed pre-key it names.
        signed_pre_key_id: SignedPreKeyId,
    },
    /// The `pkmsg` names a one-time pre-key we do not have (libsignal: "Invalid PreKey ID").
    #[error(
        "one-time pre-key {id} is gone (used already or never ours): the sender used an old \
         bundle; ask it to retry"
    )]
    InvalidPreKeyId {
        /// The id it names.
        id: PreKeyId,
    },
    /// The `pkmsg` names a signed pre-key we do not have (libsignal: "Missing SignedPreKey").
    #[error(
        "signed pre-key {id} is gone: the sender used a bundle older than our kept signed \
         pre-keys; ask it to retry"
    )]
    MissingSignedPreKey {
        /// The id it names.
        id: SignedPreKeyId,
    },
}

impl From<MessageError> for DecryptError {
    fn from(error: MessageError) -> Self {
        match error {
            MessageError::UnsupportedVersion { version } => Self::UnsupportedVersion { version },
            other => Self::InvalidMessage(other),
        }
    }
}
