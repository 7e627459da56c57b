//! Verified decryption: the blob's digests and the CBC decryption, fed the same bytes (see
//! the parent module); nothing is released before every check passed.

use aes::Aes256;
use aes::cipher::{Block, BlockCipherDecrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::{BLOCK, MAC_LEN, enc_length};
use crate::media::keys::MediaKeys;

/// What a download must match: the message's hash fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// `fileEncSha256`.
    pub file_enc_sha256: [u8; 32],
    /// `fileSha256`.
    pub file_sha256: [u8; 32],
    /// `fileLength`, when the message has it.
    pub file_length: Option<u64>,
}

/// Why a downloaded blob was refused. Every variant means the bytes are not the file the
/// sender encrypted: nothing of it may reach the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// Shorter than one block and a MAC, or not whole blocks.
    #[error("the downloaded blob is {0} bytes: not a whole number of cipher blocks plus a MAC")]
    Truncated(u64),
    /// Longer than the message's `fileLength` allows.
    #[error("the download is longer than the {0} bytes the message announced")]
    TooLong(u64),
    /// `SHA-256(blob) != fileEncSha256`.
    #[error("the downloaded blob does not match the message's fileEncSha256")]
    EncHash,
    /// The MAC does not match (wrong key, or corrupted bytes).
    #[error(
        "the downloaded blob's MAC does not match (corrupted, or not encrypted with this message's key)"
    )]
    Mac,
    /// The PKCS#7 padding is invalid.
    #[error("the decrypted file has invalid padding")]
    Padding,
    /// The plaintext length is not `fileLength`.
    #[error("the decrypted file is {got} bytes, the message announced {expected}")]
    Length {
        /// From the message.
        expected: u64,
        /// Decrypted.
        got: u64,
    },
    /// `SHA-256(plaintext) != fileSha256`.
    #[error("the decrypted file does not match the message's fileSha256")]
    FileHash,
}

/// Decrypts and verifies one download in chunks (see the module docs): a [`BlobDigests`]
/// and a [`CbcDecryptor`] fed the same bytes one after the other on one thread.
pub struct MediaDecryptor {
    blob: BlobDigests,
    cbc: CbcDecryptor,
}

impl std::fmt::Debug for MediaDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaDecryptor")
            .field("received", &self.cbc.received)
            .field("produced", &self.cbc.produced)
            .finish_non_exhaustive()
    }
}

/// Bytes held back until [`CbcDecryptor::finish`]: the MAC and the padded last block.
const HELD: usize = MAC_LEN + BLOCK;

impl MediaDecryptor {
    /// A decryptor for `keys` that checks the download against `expected`.
    pub fn new(keys: &MediaKeys, expected: Expected) -> Self {
        Self {
            blob: BlobDigests::new(keys),
            cbc: CbcDecryptor::new(keys, expected),
        }
    }

    /// Bytes of the blob received so far.
    pub fn received(&self) -> u64 {
        self.cbc.received
    }

    /// Decrypts the next downloaded bytes, appending plaintext to `out` (unverified until
    /// [`finish`](Self::finish); see the module docs). Fails as soon as the blob is longer
    /// than the message's `fileLength` allows.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), IntegrityError> {
        self.cbc.update(input, out)?;
        self.blob.update(input);
        Ok(())
    }

    /// Runs every check in order (module docs) and appends the last plaintext bytes to `out`
    /// when they pass; returns the plaintext length.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<u64, IntegrityError> {
        self.cbc.finish(self.blob.finish(), out)
    }
}

/// The upload hash and the MAC of a downloaded blob, fed every byte of it in order: the
/// half of a download's checks that needs only the ciphertext, which an adapter may run on
/// another thread beside a [`CbcDecryptor`]. Its [`finish`](Self::finish) goes to
/// [`CbcDecryptor::finish`], which runs every check.
#[derive(Clone)]
pub struct BlobDigests {
    enc_hash: Sha256,
    mac: Hmac<Sha256>,
    /// The last bytes seen (at most [`MAC_LEN`]): the MAC, if the blob ends here.
    tail: [u8; MAC_LEN],
    tail_len: usize,
    received: u64,
}

impl std::fmt::Debug for BlobDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobDigests")
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// What [`BlobDigests`] computed over a whole blob (opaque: it goes to
/// [`CbcDecryptor::finish`]).
pub struct BlobCheck {
    enc_sha256: [u8; 32],
    computed_mac: [u8; MAC_LEN],
    sent_mac: [u8; MAC_LEN],
    received: u64,
}

impl std::fmt::Debug for BlobCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobCheck")
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl BlobDigests {
    /// The digests of a blob encrypted with `keys`.
    pub fn new(keys: &MediaKeys) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(keys.mac_key())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(keys.iv());
        Self {
            enc_hash: Sha256::new(),
            mac,
            tail: [0; MAC_LEN],
            tail_len: 0,
            received: 0,
        }
    }

    /// The next bytes of the blob (the MAC at its end included).
    pub fn update(&mut self, bytes: &[u8]) {
        self.enc_hash.update(bytes);
        self.received += bytes.len() as u64;
        // The MAC covers everything but the last MAC_LEN bytes: hold those back.
        if let Some(mac_part) = bytes.len().checked_sub(MAC_LEN) {
            self.mac.update(&self.tail[..self.tail_len]);
            self.mac.update(&bytes[..mac_part]);
            self.tail.copy_from_slice(&bytes[mac_part..]);
            self.tail_len = MAC_LEN;
        } else {
            let mut joined = [0; 2 * MAC_LEN];
            joined[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
            let total = self.tail_len + bytes.len();
            joined[self.tail_len..total].copy_from_slice(bytes);
            let spill = total.saturating_sub(MAC_LEN);
            self.mac.update(&joined[..spill]);
            self.tail_len = total - spill;
            self.tail[..self.tail_len].copy_from_slice(&joined[spill..total]);
        }
    }

    /// The upload hash, the MAC computed and the MAC the blob ends with.
    pub fn finish(self) -> BlobCheck {
        let computed = self.mac.finalize().into_bytes();
        let mut computed_mac = [0; MAC_LEN];
        computed_mac.copy_from_slice(&computed[..MAC_LEN]);
        // A blob shorter than a MAC fails CbcDecryptor's length check first.
        let mut sent_mac = [0; MAC_LEN];
        sent_mac[MAC_LEN - self.tail_len..].copy_from_slice(&self.tail[..self.tail_len]);
        BlobCheck {
            enc_sha256: self.enc_hash.finalize().into(),
            computed_mac,
            sent_mac,
            received: self.received,
        }
    }
}

/// The decryption of a download and the checks on its plaintext (padding, length,
/// `fileSha256`), the ciphertext's checks taken from a [`BlobDigests`] fed the same bytes:
/// the other half, which an adapter may run on another thread.
pub struct CbcDecryptor {
    cipher: Aes256,
    previous: [u8; BLOCK],
    held: Vec<u8>,
    file_hash: Sha256,
    expected: Expected,
    received: u64,
    produced: u64,
    max_enc: Option<u64>,
}

impl std::fmt::Debug for CbcDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CbcDecryptor")
            .field("received", &self.received)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

impl CbcDecryptor {
    /// A decryptor for `keys` that checks the download against `expected`.
    pub fn new(keys: &MediaKeys, expected: Expected) -> Self {
        Self {
            cipher: Aes256::new(&(*keys.cipher_key()).into()),
            previous: *keys.iv(),
            held: Vec::new(),
            file_hash: Sha256::new(),
            expected,
            received: 0,
            produced: 0,
            max_enc: expected.file_length.map(enc_length),
        }
    }

    /// Decrypts the next downloaded bytes, appending plaintext to `out` (unverified until
    /// [`finish`](Self::finish)). Fails as soon as the blob is longer than the message's
    /// `fileLength` allows.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), IntegrityError> {
        self.received += input.len() as u64;
        if let Some(max) = self.max_enc
            && self.received > max
        {
            return Err(IntegrityError::TooLong(
                self.expected.file_length.unwrap_or(0),
            ));
        }
        // The held bytes first, topped up from `input` to whole blocks; then `input` itself,
        // read in place: only the last bytes (fewer than HELD + BLOCK) are copied to be held.
        let top = (BLOCK - self.held.len() % BLOCK) % BLOCK;
        let (head, input) = input.split_at(top.min(input.len()));
        self.held.extend_from_slice(head);
        let ready = (self.held.len() + input.len()).saturating_sub(HELD) / BLOCK * BLOCK;
        let from_held = ready.min(self.held.len());
        let (now, rest) = input.split_at(ready - from_held);
        let held = std::mem::take(&mut self.held);
        self.decrypt_ready(held.get(..from_held).unwrap_or_default(), out);
        self.decrypt_ready(now, out);
        self.held = held;
        self.held.drain(..from_held);
        self.held.extend_from_slice(rest);
        Ok(())
    }

    /// Decrypts `chunk` (whole blocks, none of the held-back tail) into `out` and hashes it.
    fn decrypt_ready(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        let start = out.len();
        out.extend_from_slice(chunk);
        let previous = decrypt_blocks(&self.cipher, self.previous, chunk, &mut out[start..]);
        self.previous = previous;
        self.file_hash.update(&out[start..]);
        self.produced += chunk.len() as u64;
    }

    /// Runs every check in order (module docs), the ciphertext's from `blob` (a
    /// [`BlobDigests`] fed the same bytes), and appends the last plaintext bytes to `out`
    /// when they pass; returns the plaintext length.
    pub fn finish(mut self, blob: BlobCheck, out: &mut Vec<u8>) -> Result<u64, IntegrityError> {
        let held = std::mem::take(&mut self.held);
        if held.len() < HELD || !(held.len() - MAC_LEN).is_multiple_of(BLOCK) {
            return Err(IntegrityError::Truncated(self.received));
        }
        // Digests of other bytes than these would vouch for nothing.
        if blob.received != self.received
            || !bool::from(blob.enc_sha256.ct_eq(&self.expected.file_enc_sha256))
        {
            return Err(IntegrityError::EncHash);
        }
        let (ct, mac) = held.split_at(held.len() - MAC_LEN);
        if mac != blob.sent_mac || !bool::from(blob.computed_mac.ct_eq(&blob.sent_mac)) {
            return Err(IntegrityError::Mac);
        }
        let mut plain = ct.to_vec();
        decrypt_blocks(&self.cipher, self.previous, ct, &mut plain);
        let pad = usize::from(*plain.last().ok_or(IntegrityError::Padding)?);
        if pad == 0
            || pad > BLOCK
            || plain[plain.len() - pad..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(IntegrityError::Padding);
        }
        plain.truncate(plain.len() - pad);
        let total = self.produced + plain.len() as u64;
        if let Some(expected) = self.expected.file_length
            && expected != total
        {
            return Err(IntegrityError::Length {
                expected,
                got: total,
            });
        }
        self.file_hash.update(&plain);
        let file_hash: [u8; 32] = self.file_hash.finalize().into();
        if !bool::from(file_hash.ct_eq(&self.expected.file_sha256)) {
            return Err(IntegrityError::FileHash);
        }
        out.extend_from_slice(&plain);
        Ok(total)
    }
}

/// CBC-decrypts `ct` (whole blocks) into `out` (a copy of `ct`), chained from `previous`;
/// returns the last ciphertext block (the next chain value).
fn decrypt_blocks(
    cipher: &Aes256,
    previous: [u8; BLOCK],
    ct: &[u8],
    out: &mut [u8],
) -> [u8; BLOCK] {
    let (blocks, _) = Block::<Aes256>::slice_as_chunks_mut(out);
    cipher.decrypt_blocks(blocks);
    let (cipher_blocks, _) = ct.as_chunks::<BLOCK>();
    let mut chain = previous;
    for (block, cipher_block) in blocks.iter_mut().zip(cipher_blocks) {
        let plain = u128::from_ne_bytes((*block).into()) ^ u128::from_ne_bytes(chain);
        *block = plain.to_ne_bytes().into();
        chain = *cipher_block;
    }
    chain
}

/// Decrypts and verifies a whole blob at once.
pub fn decrypt(
    keys: &MediaKeys,
    expected: Expected,
    blob: &[u8],
) -> Result<Vec<u8>, IntegrityError> {
    let mut decryptor = MediaDecryptor::new(keys, expected);
    let mut out = Vec::with_capacity(blob.len());
    decryptor.update(blob, &mut out)?;
    decryptor.finish(&mut out)?;
    Ok(out)
}
