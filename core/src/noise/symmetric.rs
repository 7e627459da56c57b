//! Noise's symmetric state over SHA-256, HKDF-SHA256 and AES-256-GCM (`transport.md` §4.2).
//!
//! ```text
//! init:               h = ck = protocol name (exactly 32 bytes, not hashed); no key; then
//!                     MixHash(prologue)
//! MixHash(x):         h = SHA-256(h || x)
//! MixKey(ikm):        ck || k = HKDF-SHA256(salt = ck, ikm, info = "", 64 bytes); n = 0
//! EncryptAndHash(p):  c = AEAD(k, N(n), aad = h, p); n += 1; MixHash(c)
//! DecryptAndHash(c):  p = AEAD-open(k, N(n), aad = h, c); n += 1; MixHash(c)
//! Split:              k1 || k2 = HKDF-SHA256(salt = ck, "", "", 64)   (initiator writes k1)
//! ```
//!
//! Before the first MixKey there is no key and EncryptAndHash is the identity (plus MixHash),
//! as in the Noise specification. WhatsApp's XX never encrypts before a MixKey.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cipher::{CipherKey, CipherSuite};
use super::{HandshakeError, HandshakeField, PROTOCOL_NAME};
use crate::crypto::KeyPair;

/// One step of the state, recorded in unit tests to compare with the transcript's trace.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TraceStep {
    /// `h` after a MixHash.
    Hash([u8; 32]),
    /// `ck` and `k` after a MixKey.
    Key { ck: [u8; 32], k: [u8; 32] },
    /// The two transport keys after Split.
    Split { k1: [u8; 32], k2: [u8; 32] },
}

/// `h`, `ck` and the current handshake cipher with its counter.
pub(crate) struct SymmetricState {
    suite: CipherSuite,
    h: [u8; 32],
    ck: Zeroizing<[u8; 32]>,
    cipher: Option<CipherKey>,
    n: u32,
    #[cfg(test)]
    pub(crate) trace: Vec<TraceStep>,
}

impl SymmetricState {
    /// InitializeSymmetric(name) followed by MixHash(prologue).
    pub(crate) fn new(suite: CipherSuite, prologue: &[u8]) -> Self {
        let mut state = Self {
            suite,
            h: PROTOCOL_NAME,
            ck: Zeroizing::new(PROTOCOL_NAME),
            cipher: None,
            n: 0,
            #[cfg(test)]
            trace: Vec::new(),
        };
        state.mix_hash(prologue);
        state
    }

    /// The handshake hash `h` so far.
    pub(crate) fn handshake_hash(&self) -> [u8; 32] {
        self.h
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h = hasher.finalize().into();
        #[cfg(test)]
        self.trace.push(TraceStep::Hash(self.h));
    }

    fn mix_key(&mut self, input_key_material: &[u8; 32]) {
        let okm = hkdf64(&self.ck, input_key_material);
        let (ck, k) = split_halves(&okm);
        *self.ck = *ck;
        self.cipher = Some(CipherKey::new(self.suite, &k));
        self.n = 0;
        #[cfg(test)]
        self.trace.push(TraceStep::Key { ck: *ck, k: *k });
    }

    /// MixKey(DH(ours, theirs)), refusing a low-order peer key (`field` names it).
    pub(crate) fn mix_dh(
        &mut self,
        ours: &KeyPair,
        theirs: &[u8; 32],
        field: HandshakeField,
    ) -> Result<(), HandshakeError> {
        let shared = ours.diffie_hellman(theirs);
        if !shared.was_contributory() {
            return Err(HandshakeError::LowOrderKey(field));
        }
        self.mix_key(shared.as_bytes());
        Ok(())
    }

    /// EncryptAndHash; the caller has bounded `plaintext` to a handshake message's size.
    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, HandshakeError> {
        let ciphertext = match &self.cipher {
            None => plaintext.to_vec(),
            Some(cipher) => {
                let mut out = Vec::new();
                cipher
                    .seal_append(self.n, &self.h, plaintext, &mut out)
                    .map_err(|_| HandshakeError::Oversized {
                        len: plaintext.len(),
                        max: super::MAX_HANDSHAKE_MESSAGE_LEN,
                    })?;
                self.n = self.n.saturating_add(1);
                out
            }
        };
        self.mix_hash(&ciphertext);
        Ok(ciphertext)
    }

    /// DecryptAndHash; `field` names the step in the error.
    pub(crate) fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        field: HandshakeField,
    ) -> Result<Vec<u8>, HandshakeError> {
        let plaintext = match &self.cipher {
            None => ciphertext.to_vec(),
            Some(cipher) => {
                let mut out = Vec::new();
                cipher
                    .open_append(self.n, &self.h, ciphertext, &mut out)
                    .map_err(|_| HandshakeError::DecryptFailed(field))?;
                self.n = self.n.saturating_add(1);
                out
            }
        };
        self.mix_hash(ciphertext);
        Ok(plaintext)
    }

    /// Split: the initiator's (write, read) cipher pair and the final handshake hash.
    pub(crate) fn split(self) -> Split {
        let okm = hkdf64(&self.ck, &[]);
        let (k1, k2) = split_halves(&okm);
        #[cfg(test)]
        let mut trace = self.trace;
        #[cfg(test)]
        trace.push(TraceStep::Split { k1: *k1, k2: *k2 });
        Split {
            initiator_write: CipherKey::new(self.suite, &k1),
            initiator_read: CipherKey::new(self.suite, &k2),
            handshake_hash: self.h,
            #[cfg(test)]
            trace,
        }
    }
}

/// The output of Split.
pub(crate) struct Split {
    /// Initiator → responder cipher (`k1`).
    pub(crate) initiator_write: CipherKey,
    /// Responder → initiator cipher (`k2`).
    pub(crate) initiator_read: CipherKey,
    /// The final `h`.
    pub(crate) handshake_hash: [u8; 32],
    /// Every step of the handshake, ending with the split keys (unit tests only).
    #[cfg(test)]
    pub(crate) trace: Vec<TraceStep>,
}

/// HKDF-SHA256(salt = ck, ikm, info = empty) → 64 bytes.
fn hkdf64(ck: &[u8; 32], ikm: &[u8]) -> Zeroizing<[u8; 64]> {
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below HKDF-SHA256's 255 × 32 output limit, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(ck), ikm).expand(&[], okm.as_mut());
    okm
}

fn split_halves(okm: &[u8; 64]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let mut first = Zeroizing::new([0u8; 32]);
    let mut second = Zeroizing::new([0u8; 32]);
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}
