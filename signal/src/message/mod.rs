//! Wire formats (`messaging.md` §4.7 and §7), parsed with bounded lengths and typed errors.
//!
//! | type | `<enc type>` | layout |
//! |---|---|---|
//! | [`SignalMessage`] | `msg` | `0x33 ‖ protobuf{1 ratchetKey, 2 counter, 3 previousCounter, 4 ciphertext} ‖ MAC(8)` |
//! | [`PreKeySignalMessage`] | `pkmsg` | `0x33 ‖ protobuf{1 preKeyId?, 2 baseKey, 3 identityKey, 4 message, 5 registrationId, 6 signedPreKeyId}` |
//! | [`SenderKeyMessage`] | `skmsg` | `0x33 ‖ protobuf{1 id, 2 iteration, 3 ciphertext} ‖ signature(64)` |
//! | [`SenderKeyDistributionMessage`] | — (inside a `Message`) | `0x33 ‖ protobuf{1 id, 2 iteration, 3 chainKey, 4 signingKey}` |
//!
//! Encoders write fields in number order and write zero-valued integers explicitly, as
//! libsignal-node and Baileys do, so the bytes match theirs exactly. Decoders accept any field
//! order, omitted zeros, repeated fields (the last wins) and unknown fields, as protobufjs does.
//!
//! **Version byte.** The high nibble is the message version and must be 3; the low nibble (the
//! sender's highest supported version) is not checked. libsignal-node also accepts higher
//! message versions, which WhatsApp never sends; Java and Rust libsignal refuse them, as we do.

mod pre_key;
mod sender_key;
mod signal;

pub use pre_key::PreKeySignalMessage;
pub use sender_key::{SenderKeyDistributionMessage, SenderKeyMessage};
pub use signal::SignalMessage;

use crate::keys::KeyError;
pub use crate::proto::ProtobufError;

/// The version byte every message Tether writes: message version 3, current version 3.
pub const VERSION_BYTE: u8 = 0x33;

/// Why bytes are not a well-formed Signal message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Shorter than the fixed parts (version byte, MAC or signature).
    #[error("{message} is {len} bytes, shorter than its minimum of {min}")]
    TooShort {
        /// Which message.
        message: &'static str,
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The version byte names a message version other than 3.
    #[error("unsupported message version byte {version:#04x} (only version 3 exists on WhatsApp)")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
    /// The protobuf body does not decode.
    #[error("{message}: {source}")]
    Protobuf {
        /// Which message.
        message: &'static str,
        /// The decoding error.
        source: ProtobufError,
    },
    /// A required field is absent.
    #[error("{message} has no {field}")]
    MissingField {
        /// Which message.
        message: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A key field is not a serialised public key.
    #[error("{message}: {field}: {source}")]
    InvalidKey {
        /// Which message.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// Why.
        source: KeyError,
    },
    /// A fixed-length field has another length.
    #[error("{message}: {field} is {len} bytes, expected {expected}")]
    FieldLength {
        /// Which message.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The length required.
        expected: usize,
    },
    /// The ciphertext is empty or not a multiple of the AES block size.
    #[error("{message}: the ciphertext is {len} bytes, not a positive multiple of 16")]
    CiphertextLength {
        /// Which message.
        message: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Checks the version byte (high nibble 3).
pub(crate) fn check_version(version: u8) -> Result<(), MessageError> {
    if version >> 4 == 3 {
        Ok(())
    } else {
        Err(MessageError::UnsupportedVersion { version })
    }
}

/// Maps a protobuf error into a [`MessageError`] for `message`.
pub(crate) fn protobuf(message: &'static str) -> impl Fn(ProtobufError) -> MessageError {
    move |source| MessageError::Protobuf { message, source }
}

/// Parses a 33-byte key field.
pub(crate) fn key_field(
    message: &'static str,
    field: &'static str,
    bytes: Option<&[u8]>,
) -> Result<crate::keys::PublicKey, MessageError> {
    let bytes = bytes.ok_or(MessageError::MissingField { message, field })?;
    crate::keys::PublicKey::deserialize(bytes).map_err(|source| MessageError::InvalidKey {
        message,
        field,
        source,
    })
}

/// Checks a ciphertext length (a positive multiple of 16).
pub(crate) fn check_ciphertext(message: &'static str, len: usize) -> Result<(), MessageError> {
    if len == 0 || !len.is_multiple_of(16) {
        Err(MessageError::CiphertextLength { message, len })
    } else {
        Ok(())
    }
}
