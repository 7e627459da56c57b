//! Group messages (`messaging.md` §7): [`SenderKeyMessage`] (`skmsg`, signed by the sender's
//! signing key) and [`SenderKeyDistributionMessage`] (hands a sender chain to a receiver).

use core::fmt;
use core::ops::Range;

use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use super::{MessageError, VERSION_BYTE, check_ciphertext, check_version, key_field, protobuf};
use crate::keys::{PublicKey, SenderKeyId};
use crate::proto::{Reader, Writer, offset_in};
use crate::xeddsa::{self, SIGNATURE_LEN};

const SKMSG: &str = "SenderKeyMessage";
const SKDM: &str = "SenderKeyDistributionMessage";

/// A `SenderKeyMessage` (`<enc type="skmsg">`):
/// `0x33 ‖ protobuf{1 id, 2 iteration, 3 ciphertext} ‖ signature(64)`, the signature by the
/// sender's signing key over everything before it.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyMessage {
    serialized: Vec<u8>,
    key_id: SenderKeyId,
    iteration: u32,
    ciphertext: Range<usize>,
}

impl SenderKeyMessage {
    /// Parses a serialised message (the signature is checked when decrypting, against the
    /// sender key's signing key).
    pub fn parse(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() < 1 + SIGNATURE_LEN {
            return Err(MessageError::TooShort {
                message: SKMSG,
                len: bytes.len(),
                min: 1 + SIGNATURE_LEN,
            });
        }
        check_version(bytes[0])?;
        let mut reader = Reader::new(&bytes[1..bytes.len() - SIGNATURE_LEN]);
        let (mut key_id, mut iteration, mut ciphertext) = (None, 0, None);
        while let Some((field, value)) = reader.next_field().map_err(protobuf(SKMSG))? {
            let p = protobuf(SKMSG);
            match field {
                1 => key_id = Some(SenderKeyId::new(value.uint32(field).map_err(p)?)),
                2 => iteration = value.uint32(field).map_err(p)?,
                3 => ciphertext = Some(value.bytes(field).map_err(p)?),
                _ => {}
            }
        }
        let missing = |field| MessageError::MissingField {
            message: SKMSG,
            field,
        };
        let key_id = key_id.ok_or_else(|| missing("id"))?;
        let ciphertext = ciphertext.ok_or_else(|| missing("ciphertext"))?;
        check_ciphertext(SKMSG, ciphertext.len())?;
        let start = offset_in(bytes, ciphertext);
        Ok(Self {
            serialized: bytes.to_vec(),
            key_id,
            iteration,
            ciphertext: start..start + ciphertext.len(),
        })
    }

    /// Builds and signs a message; draws 64 bytes from `rng` for the signature.
    pub(crate) fn new<R: CryptoRng + ?Sized>(
        key_id: SenderKeyId,
        iteration: u32,
        ciphertext: &[u8],
        signing_private: &[u8; 32],
        rng: &mut R,
    ) -> Self {
        let mut serialized = Vec::with_capacity(ciphertext.len() + 16 + SIGNATURE_LEN);
        serialized.push(VERSION_BYTE);
        Writer::new(&mut serialized)
            .uint32(1, key_id.value())
            .uint32(2, iteration)
            .bytes(3, ciphertext);
        let start = serialized.len() - ciphertext.len();
        let mut random = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(random.as_mut_slice());
        let signature = xeddsa::sign(signing_private, &serialized, &random);
        serialized.extend_from_slice(&signature);
        Self {
            serialized,
            key_id,
            iteration,
            ciphertext: start..start + ciphertext.len(),
        }
    }

    /// Which of the sender's chains encrypted it.
    pub fn key_id(&self) -> SenderKeyId {
        self.key_id
    }

    /// Its index in that chain.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The AES-256-CBC ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.serialized[self.ciphertext.clone()]
    }

    /// Whether the signature is `signing_key`'s over the rest of the message.
    #[must_use]
    pub fn verify_signature(&self, signing_key: &PublicKey) -> bool {
        let (signed, signature) = self
            .serialized
            .split_at(self.serialized.len() - SIGNATURE_LEN);
        let mut sig = [0u8; SIGNATURE_LEN];
        sig.copy_from_slice(signature);
        signing_key.verify_signature(signed, &sig)
    }

    /// The serialised message, signature included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.serialized
    }

    /// The serialised message, signature included.
    pub fn into_bytes(self) -> Vec<u8> {
        self.serialized
    }
}

impl fmt::Debug for SenderKeyMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyMessage")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// A `SenderKeyDistributionMessage` (the `axolotlSenderKeyDistributionMessage` bytes of a
/// WhatsApp `Message`): `0x33 ‖ protobuf{1 id, 2 iteration, 3 chainKey, 4 signingKey}`.
///
/// It carries a chain key, so it is secret: wiped on drop, redacted in `Debug`, and sent only
/// inside pairwise-encrypted messages.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    serialized: Vec<u8>,
    key_id: SenderKeyId,
    iteration: u32,
    chain_key: [u8; 32],
    signing_key: PublicKey,
}

impl SenderKeyDistributionMessage {
    /// Parses a serialised distribution message.
    pub fn parse(bytes: &[u8]) -> Result<Self, MessageError> {
        let (&version, body) = bytes.split_first().ok_or(MessageError::TooShort {
            message: SKDM,
            len: 0,
            min: 1,
        })?;
        check_version(version)?;
        let mut reader = Reader::new(body);
        let (mut key_id, mut iteration, mut chain_key, mut signing_key) = (None, 0, None, None);
        while let Some((field, value)) = reader.next_field().map_err(protobuf(SKDM))? {
            let p = protobuf(SKDM);
            match field {
                1 => key_id = Some(SenderKeyId::new(value.uint32(field).map_err(p)?)),
                2 => iteration = value.uint32(field).map_err(p)?,
                3 => chain_key = Some(value.bytes(field).map_err(p)?),
                4 => signing_key = Some(value.bytes(field).map_err(p)?),
                _ => {}
            }
        }
        let key_id = key_id.ok_or(MessageError::MissingField {
            message: SKDM,
            field: "id",
        })?;
        let chain_key = chain_key.ok_or(MessageError::MissingField {
            message: SKDM,
            field: "chainKey",
        })?;
        let chain_key: [u8; 32] = chain_key
            .try_into()
            .map_err(|_| MessageError::FieldLength {
                message: SKDM,
                field: "chainKey",
                len: chain_key.len(),
                expected: 32,
            })?;
        let signing_key = key_field(SKDM, "signingKey", signing_key)?;
        Ok(Self {
            serialized: bytes.to_vec(),
            key_id,
            iteration,
            chain_key,
            signing_key,
        })
    }

    /// A distribution message for a chain at `iteration` with `chain_key`.
    pub(crate) fn new(
        key_id: SenderKeyId,
        iteration: u32,
        chain_key: &[u8; 32],
        signing_key: PublicKey,
    ) -> Self {
        let mut serialized = Vec::with_capacity(80);
        serialized.push(VERSION_BYTE);
        Writer::new(&mut serialized)
            .uint32(1, key_id.value())
            .uint32(2, iteration)
            .bytes(3, chain_key)
            .bytes(4, &signing_key.serialize());
        Self {
            serialized,
            key_id,
            iteration,
            chain_key: *chain_key,
            signing_key,
        }
    }

    /// The sender's chain id.
    pub fn key_id(&self) -> SenderKeyId {
        self.key_id
    }

    /// The iteration of [`SenderKeyDistributionMessage::chain_key`].
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The chain key at that iteration (secret).
    pub fn chain_key(&self) -> &[u8; 32] {
        &self.chain_key
    }

    /// The key that signs the chain's messages.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_key
    }

    /// The serialised message (secret: it holds the chain key).
    pub fn as_bytes(&self) -> &[u8] {
        &self.serialized
    }
}

impl Drop for SenderKeyDistributionMessage {
    fn drop(&mut self) {
        self.chain_key.zeroize();
        self.serialized.zeroize();
    }
}

impl fmt::Debug for SenderKeyDistributionMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistributionMessage")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("signing_key", &self.signing_key)
            .field("chain_key", &"<redacted>")
            .finish()
    }
}
