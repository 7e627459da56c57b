//! [`PreKeySignalMessage`] (`pkmsg`): a [`SignalMessage`] wrapped with what the responder needs
//! to run X3DH. It has no MAC of its own: the embedded message's MAC covers both identities.

use core::fmt;

use super::{MessageError, SignalMessage, VERSION_BYTE, check_version, key_field, protobuf};
use crate::keys::{IdentityKey, PreKeyId, PublicKey, RegistrationId, SignedPreKeyId};
use crate::proto::{Reader, Writer};

const NAME: &str = "PreKeySignalMessage";

/// A `PreKeySignalMessage` (`<enc type="pkmsg">`).
///
/// Parse it first ([`PreKeySignalMessage::parse`]) to learn which keys it needs — the one-time
/// pre-key id, the signed pre-key id, the base key — then decrypt it with
/// [`SessionRecord::decrypt_pre_key`](crate::SessionRecord::decrypt_pre_key).
#[derive(Clone, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    serialized: Vec<u8>,
    pre_key_id: Option<PreKeyId>,
    signed_pre_key_id: SignedPreKeyId,
    base_key: PublicKey,
    identity_key: IdentityKey,
    registration_id: RegistrationId,
    message: SignalMessage,
}

impl PreKeySignalMessage {
    /// Parses a serialised message, including the embedded [`SignalMessage`].
    ///
    /// `registrationId` and `signedPreKeyId` are required (every WhatsApp client writes them);
    /// `preKeyId` is absent when the sender's bundle had no one-time pre-key.
    pub fn parse(bytes: &[u8]) -> Result<Self, MessageError> {
        let (&version, body) = bytes.split_first().ok_or(MessageError::TooShort {
            message: NAME,
            len: 0,
            min: 1,
        })?;
        check_version(version)?;
        let mut reader = Reader::new(body);
        let mut pre_key_id = None;
        let (mut base_key, mut identity_key, mut message) = (None, None, None);
        let (mut registration_id, mut signed_pre_key_id) = (None, None);
        while let Some((field, value)) = reader.next_field().map_err(protobuf(NAME))? {
            let p = protobuf(NAME);
            match field {
                1 => pre_key_id = Some(PreKeyId::new(value.uint32(field).map_err(p)?)),
                2 => base_key = Some(value.bytes(field).map_err(p)?),
                3 => identity_key = Some(value.bytes(field).map_err(p)?),
                4 => message = Some(value.bytes(field).map_err(p)?),
                5 => registration_id = Some(RegistrationId::new(value.uint32(field).map_err(p)?)),
                6 => signed_pre_key_id = Some(SignedPreKeyId::new(value.uint32(field).map_err(p)?)),
                _ => {}
            }
        }
        let missing = |field| MessageError::MissingField {
            message: NAME,
            field,
        };
        let base_key = key_field(NAME, "baseKey", base_key)?;
        let identity_key = IdentityKey::new(key_field(NAME, "identityKey", identity_key)?);
        let message = SignalMessage::parse(message.ok_or_else(|| missing("message"))?)?;
        Ok(Self {
            serialized: bytes.to_vec(),
            pre_key_id,
            signed_pre_key_id: signed_pre_key_id.ok_or_else(|| missing("signedPreKeyId"))?,
            base_key,
            identity_key,
            registration_id: registration_id.ok_or_else(|| missing("registrationId"))?,
            message,
        })
    }

    /// Wraps `message` (`messaging.md` §4.7): fields in number order, `preKeyId` only when a
    /// one-time pre-key was used.
    pub(crate) fn new(
        pre_key_id: Option<PreKeyId>,
        signed_pre_key_id: SignedPreKeyId,
        base_key: PublicKey,
        identity_key: IdentityKey,
        registration_id: RegistrationId,
        message: SignalMessage,
    ) -> Self {
        let mut serialized = Vec::with_capacity(message.as_bytes().len() + 96);
        serialized.push(VERSION_BYTE);
        let mut writer = Writer::new(&mut serialized);
        if let Some(id) = pre_key_id {
            writer.uint32(1, id.value());
        }
        writer
            .bytes(2, &base_key.serialize())
            .bytes(3, &identity_key.serialize())
            .bytes(4, message.as_bytes())
            .uint32(5, registration_id.value())
            .uint32(6, signed_pre_key_id.value());
        Self {
            serialized,
            pre_key_id,
            signed_pre_key_id,
            base_key,
            identity_key,
            registration_id,
            message,
        }
    }

    /// The sender's one-time pre-key id, if its bundle had one.
    pub fn pre_key_id(&self) -> Option<PreKeyId> {
        self.pre_key_id
    }

    /// The id of our signed pre-key the sender used.
    pub fn signed_pre_key_id(&self) -> SignedPreKeyId {
        self.signed_pre_key_id
    }

    /// The sender's base key (`EK_A`): the session's name in a record.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// The sender's identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }

    /// The sender's registration id.
    pub fn registration_id(&self) -> RegistrationId {
        self.registration_id
    }

    /// The embedded message.
    pub fn message(&self) -> &SignalMessage {
        &self.message
    }

    /// The version byte.
    pub fn version(&self) -> u8 {
        self.serialized[0]
    }

    /// The serialised message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.serialized
    }

    /// The serialised message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.serialized
    }
}

impl fmt::Debug for PreKeySignalMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreKeySignalMessage")
            .field("pre_key_id", &self.pre_key_id)
            .field("signed_pre_key_id", &self.signed_pre_key_id)
            .field("base_key", &self.base_key)
            .field("identity_key", &self.identity_key)
            .field("registration_id", &self.registration_id)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}
