//! Streaming media encryption and verified decryption (`media.md` §2.2, §4.2).
//!
//! ```text
//! encrypt:  file ──▶ AES-256-CBC(cipherKey, iv, PKCS#7) ──▶ ct ─┬─▶ enc = ct ‖ mac   (the upload)
//!                                  HMAC-SHA256(macKey, iv ‖ ct)[..10] = mac ─┘
//!           fileSha256 = SHA-256(file), fileEncSha256 = SHA-256(enc), fileLength = len(file)
//!
//! decrypt:  enc ──▶ held back: the last 26 bytes (the MAC and the padded block) until finish
//!           finish: 1 SHA-256(enc) == fileEncSha256   2 MAC (constant time)
//!                   3 PKCS#7 padding   4 fileLength   5 SHA-256(plaintext) == fileSha256
//! ```
//!
//! A second pass over the same file ([`MediaEncryptor::again`], for an upload that streams the
//! file twice: once for the hashes the upload URL needs, once into the socket) runs the CBC
//! chain and the upload hash only: it appends the first pass's MAC and takes its plaintext
//! hash, and its upload hash differing from the first pass's says the file changed.
//!
//! The encryptor is two halves fed one after the other: [`CbcEncryptor`], the serial CBC
//! chain in place, and [`EncryptionDigests`], the plaintext hash, the MAC and the upload hash.
//! An adapter may run the halves on two threads, handing each chunk from one to the other in
//! order (the plaintext is hashed before its chunk is encrypted in place, the ciphertext
//! after); the bytes and digests are the same.
//!
//! Both work on chunks of any size with memory independent of the file's size. The decryptor
//! hands out plaintext before the checks at the end have run: a caller that streams it
//! somewhere stages it (a temporary file, a buffer) and releases it only when
//! [`MediaDecryptor::finish`] returns `Ok` — so a corrupted blob never reaches the application.

use aes::Aes256;
use aes::cipher::{
    Block, BlockCipherDecrypt, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt,
    BlockSizeUser, KeyInit,
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::keys::MediaKeys;

const BLOCK: usize = 16;

/// Bytes of the truncated HMAC after the ciphertext.
pub const MAC_LEN: usize = 10;

/// The uploaded length for a file of `file_length` bytes: PKCS#7 always adds 1–16 bytes, then
/// the 10-byte MAC.
pub fn enc_length(file_length: u64) -> u64 {
    (file_length / BLOCK as u64 + 1) * BLOCK as u64 + MAC_LEN as u64
}

/// What an encryption produced besides the ciphertext: the message's hash fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of the upload body, ciphertext ‖ MAC (`fileEncSha256`).
    pub file_enc_sha256: [u8; 32],
    /// The plaintext length (`fileLength`).
    pub file_length: u64,
}

impl Digests {
    /// The upload body's length.
    pub fn enc_length(&self) -> u64 {
        enc_length(self.file_length)
    }
}

/// Encrypts one file in chunks (see the module docs): a [`CbcEncryptor`] and an
/// [`EncryptionDigests`] fed one after the other on one thread.
pub struct MediaEncryptor {
    cbc: CbcEncryptor,
    partial: [u8; BLOCK],
    partial_len: usize,
    digests: EncryptionDigests,
}

impl std::fmt::Debug for MediaEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEncryptor")
            .field("file_length", &self.digests.file_length)
            .finish_non_exhaustive()
    }
}

impl MediaEncryptor {
    /// An encryptor for `keys`.
    pub fn new(keys: &MediaKeys) -> Self {
        Self::with_digests(keys, EncryptionDigests::new(keys))
    }

    /// A second pass over a file a first pass encrypted with `keys` into `first` and `mac`
    /// (the last [`MAC_LEN`] bytes of its output): it produces the same bytes while computing
    /// only the CBC chain and the upload hash. [`finish`](Self::finish) returns `first`'s
    /// `file_sha256` and the upload hash of this pass: `!= first` when the file changed in
    /// between.
    pub fn again(keys: &MediaKeys, first: &Digests, mac: [u8; MAC_LEN]) -> Self {
        Self::with_digests(keys, EncryptionDigests::again(first, mac))
    }

    fn with_digests(keys: &MediaKeys, digests: EncryptionDigests) -> Self {
        Self {
            cbc: CbcEncryptor::new(keys),
            partial: [0; BLOCK],
            partial_len: 0,
            digests,
        }
    }

    /// Encrypts the next plaintext bytes, appending whole ciphertext blocks to `out` (up to 15
    /// bytes wait in the encryptor for the next call).
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        self.digests.plaintext(input);
        let start = out.len();
        out.reserve(input.len() + BLOCK);
        if self.partial_len > 0 {
            let take = (BLOCK - self.partial_len).min(input.len());
            let (head, rest) = input.split_at(take);
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(head);
            self.partial_len += take;
            input = rest;
            if self.partial_len < BLOCK {
                return;
            }
            self.partial_len = 0;
            let block = self.partial;
            out.extend_from_slice(&block);
        }
        let whole = input.len() / BLOCK * BLOCK;
        let (blocks, rest) = input.split_at(whole);
        out.extend_from_slice(blocks);
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
        if let Some(fresh) = out.get_mut(start..) {
            self.cbc.encrypt_in_place(fresh);
            self.digests.ciphertext(fresh);
        }
    }

    /// Pads, encrypts the last block and appends it and the MAC to `out`; returns the hashes.
    pub fn finish(self, out: &mut Vec<u8>) -> Digests {
        let last = self.cbc.finish(&self.partial[..self.partial_len]);
        let mut digests = self.digests;
        digests.ciphertext(&last);
        out.extend_from_slice(&last);
        let (mac, digests) = digests.finish();
        out.extend_from_slice(&mac);
        digests
    }
}

/// The CBC chain of an encryption alone, in place: the serial half of the work, which an
/// adapter may run on one thread while [`EncryptionDigests`] runs on another.
pub struct CbcEncryptor {
    cipher: Aes256,
    previous: [u8; BLOCK],
}

impl std::fmt::Debug for CbcEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CbcEncryptor").finish_non_exhaustive()
    }
}

impl CbcEncryptor {
    /// The chain for `keys`, starting from its IV.
    pub fn new(keys: &MediaKeys) -> Self {
        Self {
            cipher: Aes256::new(&(*keys.cipher_key()).into()),
            previous: *keys.iv(),
        }
    }

    /// Encrypts the whole blocks at the start of `data` in place, chained on from the last
    /// call; returns how many bytes that was (the rest, fewer than 16, is left as it is).
    pub fn encrypt_in_place(&mut self, data: &mut [u8]) -> usize {
        let (blocks, _) = Block::<Aes256>::slice_as_chunks_mut(data);
        let done = blocks.len() * BLOCK;
        self.cipher.encrypt_with_backend(CbcChain {
            blocks,
            previous: &mut self.previous,
        });
        done
    }

    /// Pads the file's last `tail` bytes (fewer than 16: what
    /// [`encrypt_in_place`](Self::encrypt_in_place) left) with PKCS#7 and encrypts them: the
    /// last ciphertext block.
    pub fn finish(mut self, tail: &[u8]) -> [u8; BLOCK] {
        debug_assert!(tail.len() < BLOCK, "the tail is what encrypt_in_place left");
        let len = tail.len().min(BLOCK - 1);
        let mut block = [(BLOCK - len) as u8; BLOCK];
        block[..len].copy_from_slice(&tail[..len]);
        self.encrypt_in_place(&mut block);
        block
    }
}

/// The hashes and the MAC of an encryption, fed with the plaintext and with the ciphertext
/// (each in order, independently of each other): the half of the work that can run beside a
/// [`CbcEncryptor`] on another thread.
pub struct EncryptionDigests {
    enc_hash: Sha256,
    file_length: u64,
    pass: Pass,
}

/// What an encryption computes besides the ciphertext and its hash.
enum Pass {
    /// The first (or only) pass: the MAC and the plaintext hash.
    First {
        mac: Hmac<Sha256>,
        file_hash: Sha256,
    },
    /// A second pass over the same file: the first pass's MAC and plaintext hash, taken as
    /// they are (the ciphertext's hash tells whether the file is still the same).
    Again {
        mac: [u8; MAC_LEN],
        file_sha256: [u8; 32],
    },
}

impl std::fmt::Debug for EncryptionDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionDigests")
            .field("file_length", &self.file_length)
            .finish_non_exhaustive()
    }
}

impl EncryptionDigests {
    /// The digests of a first pass with `keys`.
    pub fn new(keys: &MediaKeys) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(keys.mac_key())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(keys.iv());
        Self::with_pass(Pass::First {
            mac,
            file_hash: Sha256::new(),
        })
    }

    /// The digests of a second pass (see [`MediaEncryptor::again`]).
    pub fn again(first: &Digests, mac: [u8; MAC_LEN]) -> Self {
        Self::with_pass(Pass::Again {
            mac,
            file_sha256: first.file_sha256,
        })
    }

    fn with_pass(pass: Pass) -> Self {
        Self {
            enc_hash: Sha256::new(),
            file_length: 0,
            pass,
        }
    }

    /// The next plaintext bytes.
    pub fn plaintext(&mut self, bytes: &[u8]) {
        if let Pass::First { file_hash, .. } = &mut self.pass {
            file_hash.update(bytes);
        }
        self.file_length += bytes.len() as u64;
    }

    /// The next ciphertext bytes (the last block included, the MAC not).
    pub fn ciphertext(&mut self, bytes: &[u8]) {
        if let Pass::First { mac, .. } = &mut self.pass {
            mac.update(bytes);
        }
        self.enc_hash.update(bytes);
    }

    /// The MAC, to append after the ciphertext, and the message's hash fields.
    pub fn finish(mut self) -> ([u8; MAC_LEN], Digests) {
        let (mac, file_sha256) = match self.pass {
            Pass::First { mac, file_hash } => {
                let mac = mac.finalize().into_bytes();
                let mut truncated = [0; MAC_LEN];
                truncated.copy_from_slice(&mac[..MAC_LEN]);
                (truncated, file_hash.finalize().into())
            }
            Pass::Again { mac, file_sha256 } => (mac, file_sha256),
        };
        self.enc_hash.update(mac);
        let digests = Digests {
            file_sha256,
            file_enc_sha256: self.enc_hash.finalize().into(),
            file_length: self.file_length,
        };
        (mac, digests)
    }
}

/// CBC encryption of whole blocks in place, chained from `previous` (left at the last
/// ciphertext block), on one AES backend: the implementation (AES-NI or software) is picked
/// once per call rather than once per block, which made per-block calls 3–4× slower. The
/// chain value stays in a local (a register) between blocks instead of going through memory
/// twice per block: 1.5× faster again (`docs/PERFORMANCE.md`).
struct CbcChain<'a> {
    blocks: &'a mut [Block<Aes256>],
    previous: &'a mut [u8; BLOCK],
}

impl BlockSizeUser for CbcChain<'_> {
    type BlockSize = <Aes256 as BlockSizeUser>::BlockSize;
}

impl BlockCipherEncClosure for CbcChain<'_> {
    fn call<B: BlockCipherEncBackend<BlockSize = Self::BlockSize>>(self, backend: &B) {
        let mut chain = u128::from_ne_bytes(*self.previous);
        for block in self.blocks.iter_mut() {
            let plain = u128::from_ne_bytes((*block).into());
            let mut next = Block::<Aes256>::from((chain ^ plain).to_ne_bytes());
            backend.encrypt_block_inplace(&mut next);
            chain = u128::from_ne_bytes(next.into());
            *block = next;
        }
        *self.previous = chain.to_ne_bytes();
    }
}

/// Encrypts a whole file at once: the upload body and the hashes.
pub fn encrypt(keys: &MediaKeys, plaintext: &[u8]) -> (Vec<u8>, Digests) {
    let mut encryptor = MediaEncryptor::new(keys);
    let mut out = Vec::with_capacity(plaintext.len() + BLOCK + MAC_LEN);
    encryptor.update(plaintext, &mut out);
    let digests = encryptor.finish(&mut out);
    (out, digests)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaKey, MediaKind};

    fn keys() -> MediaKeys {
        MediaKey::from_bytes([3; 32]).expand(MediaKind::Document)
    }

    fn expected(d: &Digests) -> Expected {
        Expected {
            file_enc_sha256: d.file_enc_sha256,
            file_sha256: d.file_sha256,
            file_length: Some(d.file_length),
        }
    }

    #[test]
    fn the_two_halves_fed_apart_make_the_same_blob_and_digests() {
        for len in [0usize, 1, 15, 16, 17, 4096, 70_001] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let (blob, digests) = encrypt(&keys(), &plain);
            let (mut cbc, mut hashes) =
                (CbcEncryptor::new(&keys()), EncryptionDigests::new(&keys()));
            let mut out = plain.clone();
            // Unequal pieces: all whole blocks but the last.
            let whole = len / BLOCK * BLOCK;
            for piece in out[..whole].chunks_mut(48) {
                hashes.plaintext(piece);
                assert_eq!(cbc.encrypt_in_place(piece), piece.len());
                hashes.ciphertext(piece);
            }
            let tail = out.split_off(whole);
            hashes.plaintext(&tail);
            let last = cbc.finish(&tail);
            hashes.ciphertext(&last);
            out.extend_from_slice(&last);
            let (mac, split) = hashes.finish();
            out.extend_from_slice(&mac);
            assert_eq!((out, split), (blob, digests), "length {len}");
        }
    }

    #[test]
    fn the_decryption_halves_fed_apart_check_like_one_decryptor() {
        let plain: Vec<u8> = (0..70_001usize).map(|i| (i * 13 % 241) as u8).collect();
        let (blob, digests) = encrypt(&keys(), &plain);
        let split = |cbc_input: &[u8], digest_input: &[u8], step: usize| {
            let mut cbc = CbcDecryptor::new(&keys(), expected(&digests));
            let mut hashes = BlobDigests::new(&keys());
            let mut out = Vec::new();
            for piece in cbc_input.chunks(step) {
                cbc.update(piece, &mut out)?;
            }
            // The digests see their bytes in other pieces: only the order counts.
            for piece in digest_input.chunks(step / 3 + 1) {
                hashes.update(piece);
            }
            cbc.finish(hashes.finish(), &mut out).map(|_| out)
        };
        for step in [1, 9, 10, 11, 26, 4096, blob.len()] {
            assert_eq!(split(&blob, &blob, step).unwrap(), plain, "step {step}");
        }
        // Digests of other bytes than the decrypted ones vouch for nothing.
        let mut flipped = blob.clone();
        flipped[100] ^= 1;
        assert_eq!(split(&flipped, &blob, 4096), Err(IntegrityError::FileHash));
        assert_eq!(split(&blob, &flipped, 4096), Err(IntegrityError::EncHash));
        assert_eq!(
            split(&blob, &blob[..blob.len() - 1], 4096),
            Err(IntegrityError::EncHash)
        );
        let mut mac_flipped = blob.clone();
        *mac_flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            split(&blob, &mac_flipped, 4096),
            Err(IntegrityError::EncHash)
        );
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let (whole, digests) = encrypt(&keys(), &plain);
        assert_eq!(whole.len() as u64, enc_length(1000));
        for step in [1, 5, 15, 16, 17, 100, 999] {
            let mut e = MediaEncryptor::new(&keys());
            let mut out = Vec::new();
            for chunk in plain.chunks(step) {
                e.update(chunk, &mut out);
            }
            assert_eq!(e.finish(&mut out), digests, "step {step}");
            assert_eq!(out, whole, "step {step}");
            let mut d = MediaDecryptor::new(&keys(), expected(&digests));
            let mut back = Vec::new();
            for chunk in whole.chunks(step) {
                d.update(chunk, &mut back).unwrap();
            }
            assert_eq!(d.finish(&mut back), Ok(1000));
            assert_eq!(back, plain, "step {step}");
        }
    }

    #[test]
    fn a_second_pass_makes_the_same_bytes_and_notices_a_changed_file() {
        let plain: Vec<u8> = (0..5000u32).map(|i| (i * 13 + 1) as u8).collect();
        let (whole, digests) = encrypt(&keys(), &plain);
        let mac: [u8; MAC_LEN] = whole[whole.len() - MAC_LEN..].try_into().unwrap();
        for step in [1, 16, 17, 4096, 5000] {
            let mut again = MediaEncryptor::again(&keys(), &digests, mac);
            let mut out = Vec::new();
            for chunk in plain.chunks(step) {
                again.update(chunk, &mut out);
            }
            assert_eq!(again.finish(&mut out), digests, "step {step}");
            assert_eq!(out, whole, "step {step}");
        }
        let mut changed = plain;
        changed[4000] ^= 1;
        let mut again = MediaEncryptor::again(&keys(), &digests, mac);
        let mut out = Vec::new();
        again.update(&changed, &mut out);
        let second = again.finish(&mut out);
        assert_ne!(second.file_enc_sha256, digests.file_enc_sha256);
        assert_ne!(second, digests);
    }

    #[test]
    fn every_check_has_its_error() {
        let plain = b"a file of some length, more than a block".to_vec();
        let (blob, digests) = encrypt(&keys(), &plain);
        let exp = expected(&digests);
        let mut flipped = blob.clone();
        flipped[3] ^= 1;
        assert_eq!(
            decrypt(&keys(), exp, &flipped),
            Err(IntegrityError::EncHash)
        );
        // With the hash of the corrupted blob the MAC still catches it.
        let forged = Expected {
            file_enc_sha256: Sha256::digest(&flipped).into(),
            ..exp
        };
        assert_eq!(decrypt(&keys(), forged, &flipped), Err(IntegrityError::Mac));
        let other = MediaKey::from_bytes([4; 32]).expand(MediaKind::Document);
        assert_eq!(decrypt(&other, exp, &blob), Err(IntegrityError::Mac));
        assert_eq!(
            decrypt(&keys(), exp, &blob[..blob.len() - 1]),
            Err(IntegrityError::Truncated(blob.len() as u64 - 1))
        );
        assert_eq!(
            decrypt(&keys(), exp, &[]),
            Err(IntegrityError::Truncated(0))
        );
        let mut longer = blob.clone();
        longer.push(0);
        assert!(matches!(
            decrypt(&keys(), exp, &longer),
            Err(IntegrityError::TooLong(_))
        ));
        let wrong_length = Expected {
            file_length: Some(plain.len() as u64 - 1),
            ..exp
        };
        assert!(matches!(
            decrypt(&keys(), wrong_length, &blob),
            Err(IntegrityError::TooLong(_) | IntegrityError::Length { .. })
        ));
        let wrong_file = Expected {
            file_sha256: [0; 32],
            ..exp
        };
        assert_eq!(
            decrypt(&keys(), wrong_file, &blob),
            Err(IntegrityError::FileHash)
        );
        assert_eq!(decrypt(&keys(), exp, &blob).unwrap(), plain);
    }

    #[test]
    fn bad_padding_is_refused_even_with_a_valid_mac() {
        // Encrypt a last block that is not PKCS#7 by hand, MAC it properly.
        let k = keys();
        let cipher = Aes256::new(&(*k.cipher_key()).into());
        let mut block = Block::<Aes256>::from([0u8; 16]);
        for (b, iv) in block.iter_mut().zip(k.iv()) {
            *b ^= iv;
        }
        cipher.encrypt_block(&mut block);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(k.mac_key()).unwrap();
        mac.update(k.iv());
        mac.update(&block);
        let mut blob = block.to_vec();
        blob.extend_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        let exp = Expected {
            file_enc_sha256: Sha256::digest(&blob).into(),
            file_sha256: [0; 32],
            file_length: None,
        };
        assert_eq!(decrypt(&k, exp, &blob), Err(IntegrityError::Padding));
    }
}
