//! [`SignalMessage`] (`msg`): one Double Ratchet message, MAC-ed but not signed.

use core::fmt;
use core::ops::Range;

use subtle::ConstantTimeEq;

use super::{MessageError, VERSION_BYTE, check_ciphertext, check_version, key_field, protobuf};
use crate::cbc;
use crate::kdf;
use crate::keys::{IdentityKey, PublicKey};
use crate::proto::{Reader, Writer, offset_in};
use crate::session::MessageKeys;

const NAME: &str = "SignalMessage";

/// A `SignalMessage` (`<enc type="msg">`, also the payload of every `pkmsg`):
/// `0x33 ‖ protobuf{ratchetKey, counter, previousCounter, ciphertext} ‖ MAC(8)`.
#[derive(Clone, PartialEq, Eq)]
pub struct SignalMessage {
    serialized: Vec<u8>,
    ratchet_key: PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: Range<usize>,
}

impl SignalMessage {
    /// Length of the truncated MAC at the end.
    pub const MAC_LEN: usize = 8;

    /// Parses a serialised message (version byte, body and MAC; the MAC is checked only when
    /// decrypting, against the session's keys).
    pub fn parse(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() < 1 + Self::MAC_LEN {
            return Err(MessageError::TooShort {
                message: NAME,
                len: bytes.len(),
                min: 1 + Self::MAC_LEN,
            });
        }
        check_version(bytes[0])?;
        let body_end = bytes.len() - Self::MAC_LEN;
        let mut reader = Reader::new(&bytes[1..body_end]);
        let (mut ratchet_key, mut counter, mut previous_counter, mut ciphertext) =
            (None, 0, 0, None);
        while let Some((field, value)) = reader.next_field().map_err(protobuf(NAME))? {
            let p = protobuf(NAME);
            match field {
                1 => ratchet_key = Some(value.bytes(field).map_err(p)?),
                2 => counter = value.uint32(field).map_err(p)?,
                3 => previous_counter = value.uint32(field).map_err(p)?,
                4 => ciphertext = Some(value.bytes(field).map_err(p)?),
                _ => {}
            }
        }
        let ratchet_key = key_field(NAME, "ratchetKey", ratchet_key)?;
        let ciphertext = ciphertext.ok_or(MessageError::MissingField {
            message: NAME,
            field: "ciphertext",
        })?;
        check_ciphertext(NAME, ciphertext.len())?;
        let start = offset_in(bytes, ciphertext);
        Ok(Self {
            serialized: bytes.to_vec(),
            ratchet_key,
            counter,
            previous_counter,
            ciphertext: start..start + ciphertext.len(),
        })
    }

    /// Encrypts `plaintext` and builds and MACs the message around it (`messaging.md` §4.6
    /// steps 2–4), in one buffer.
    pub(crate) fn seal(
        ratchet_key: PublicKey,
        counter: u32,
        previous_counter: u32,
        plaintext: &[u8],
        keys: &MessageKeys,
        sender_identity: &IdentityKey,
        receiver_identity: &IdentityKey,
    ) -> Self {
        let ciphertext_len = cbc::ciphertext_len(plaintext.len());
        let mut serialized = Vec::with_capacity(ciphertext_len + 64);
        serialized.push(VERSION_BYTE);
        Writer::new(&mut serialized)
            .bytes(1, &ratchet_key.serialize())
            .uint32(2, counter)
            .uint32(3, previous_counter)
            .bytes_header(4, ciphertext_len);
        let start = serialized.len();
        cbc::encrypt_into(&keys.cipher, &keys.iv, plaintext, &mut serialized);
        debug_assert_eq!(serialized.len() - start, ciphertext_len);
        let mac = mac(&keys.mac, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        Self {
            serialized,
            ratchet_key,
            counter,
            previous_counter,
            ciphertext: start..start + ciphertext_len,
        }
    }

    /// The sender's ratchet public key.
    pub fn ratchet_key(&self) -> &PublicKey {
        &self.ratchet_key
    }

    /// The message's index in its sending chain.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The index of the last message the sender sent on its previous sending chain
    /// (libsignal-node writes `0xFFFFFFFF` when it sent none there).
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }

    /// The AES-256-CBC ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.serialized[self.ciphertext.clone()]
    }

    /// The version byte.
    pub fn version(&self) -> u8 {
        self.serialized[0]
    }

    /// The serialised message, MAC included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.serialized
    }

    /// The serialised message, MAC included.
    pub fn into_bytes(self) -> Vec<u8> {
        self.serialized
    }

    /// Whether the MAC is `mac_key`'s over `sender ‖ receiver ‖ version ‖ body`, in constant
    /// time.
    pub(crate) fn verify_mac(
        &self,
        mac_key: &[u8; 32],
        sender_identity: &IdentityKey,
        receiver_identity: &IdentityKey,
    ) -> bool {
        let (body, theirs) = self
            .serialized
            .split_at(self.serialized.len() - Self::MAC_LEN);
        let ours = mac(mac_key, sender_identity, receiver_identity, body);
        ours.ct_eq(theirs).into()
    }
}

fn mac(
    mac_key: &[u8; 32],
    sender_identity: &IdentityKey,
    receiver_identity: &IdentityKey,
    body: &[u8],
) -> [u8; SignalMessage::MAC_LEN] {
    let tag = kdf::HmacKey::new(mac_key).mac(&[
        &sender_identity.serialize(),
        &receiver_identity.serialize(),
        body,
    ]);
    let mut out = [0u8; SignalMessage::MAC_LEN];
    out.copy_from_slice(&tag[..SignalMessage::MAC_LEN]);
    out
}

impl fmt::Debug for SignalMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalMessage")
            .field("ratchet_key", &self.ratchet_key)
            .field("counter", &self.counter)
            .field("previous_counter", &self.previous_counter)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}
