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
//!
//! ```text
//! mod.rs      the sizes, Digests
//! encrypt.rs  MediaEncryptor = CbcEncryptor + EncryptionDigests; encrypt (whole file)
//! decrypt.rs  MediaDecryptor = BlobDigests + CbcDecryptor; decrypt (whole blob)
//! ```

mod decrypt;
mod encrypt;
#[cfg(test)]
mod tests;

pub use decrypt::{
    BlobCheck, BlobDigests, CbcDecryptor, Expected, IntegrityError, MediaDecryptor, decrypt,
};
pub use encrypt::{CbcEncryptor, EncryptionDigests, MediaEncryptor, encrypt};

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
