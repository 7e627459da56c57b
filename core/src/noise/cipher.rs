//! The AEAD under both phases: AES-256-GCM with the nonce `8 zero bytes || u32 BE counter`
//! (`transport.md` §4.2, §4.7), plus — only with the private `__fuzzing` feature — a null
//! cipher that does not authenticate, so fuzz input can get past every AEAD check.
//!
//! Both operations append to a caller-owned `Vec` and encrypt or decrypt in place there, so
//! the transport can reuse its buffers. On failure the `Vec` is restored to its old length:
//! unauthenticated plaintext is never left behind.

use std::fmt;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};

/// Length of the AES-GCM authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Which AEAD a handshake (and the transport it produces) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CipherSuite {
    /// AES-256-GCM: the only suite of a real connection.
    AesGcm,
    /// Sealing appends 16 zero bytes; opening strips 16 bytes without checking them.
    #[cfg(feature = "__fuzzing")]
    Null,
}

/// The AEAD open failed (or the input was shorter than a tag); or a seal input exceeded the
/// AES-GCM limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailed;

/// A keyed AEAD instance.
pub(crate) enum CipherKey {
    AesGcm(Aes256Gcm),
    #[cfg(feature = "__fuzzing")]
    Null,
}

impl CipherKey {
    pub(crate) fn new(suite: CipherSuite, key: &[u8; 32]) -> Self {
        match suite {
            CipherSuite::AesGcm => Self::AesGcm(Aes256Gcm::new(&(*key).into())),
            #[cfg(feature = "__fuzzing")]
            CipherSuite::Null => Self::Null,
        }
    }

    /// Appends `seal(plaintext) || tag` to `out`; `out` is unchanged on error.
    pub(crate) fn seal_append(
        &self,
        counter: u32,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AeadFailed> {
        let start = out.len();
        out.reserve(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let sealed = out
            .get_mut(start..)
            .ok_or(AeadFailed)
            .and_then(|body| self.seal_in_place(counter, aad, body));
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(())
            }
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
    }

    /// Encrypts `body` in place and returns the tag.
    fn seal_in_place(
        &self,
        counter: u32,
        aad: &[u8],
        body: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailed> {
        match self {
            Self::AesGcm(cipher) => cipher
                .encrypt_inout_detached(&nonce(counter), aad, body.into())
                .map(Into::into)
                .map_err(|_| AeadFailed),
            #[cfg(feature = "__fuzzing")]
            Self::Null => Ok([0; TAG_LEN]),
        }
    }

    /// Opens `ciphertext || tag` and appends the plaintext to `out`; `out` is unchanged on
    /// error.
    pub(crate) fn open_append(
        &self,
        counter: u32,
        aad: &[u8],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AeadFailed> {
        let body_len = ciphertext.len().checked_sub(TAG_LEN).ok_or(AeadFailed)?;
        let (body, tag) = ciphertext.split_at(body_len);
        let start = out.len();
        out.extend_from_slice(body);
        let opened = out
            .get_mut(start..)
            .ok_or(AeadFailed)
            .and_then(|buffer| self.open_in_place(counter, aad, buffer, tag));
        if opened.is_err() {
            out.truncate(start);
        }
        opened
    }

    /// Decrypts `body` in place after checking `tag`; `body` is untouched on failure.
    pub(crate) fn open_in_place(
        &self,
        counter: u32,
        aad: &[u8],
        body: &mut [u8],
        tag: &[u8],
    ) -> Result<(), AeadFailed> {
        match self {
            Self::AesGcm(cipher) => {
                let tag = Tag::try_from(tag).map_err(|_| AeadFailed)?;
                cipher
                    .decrypt_inout_detached(&nonce(counter), aad, body.into(), &tag)
                    .map_err(|_| AeadFailed)
            }
            #[cfg(feature = "__fuzzing")]
            Self::Null => {
                if tag.len() == TAG_LEN {
                    Ok(())
                } else {
                    Err(AeadFailed)
                }
            }
        }
    }
}

impl fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AesGcm(_) => f.write_str("AesGcm(<redacted>)"),
            #[cfg(feature = "__fuzzing")]
            Self::Null => f.write_str("Null"),
        }
    }
}

/// `N(n)`: 8 zero bytes followed by the counter as u32 big-endian.
fn nonce(counter: u32) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut nonce = [0u8; 12];
    nonce[8..].copy_from_slice(&counter.to_be_bytes());
    nonce.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_eight_zero_bytes_then_big_endian_counter() {
        assert_eq!(
            nonce(0x0102_0304).as_slice(),
            &[0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn seal_then_open_round_trips_and_appends() {
        let key = CipherKey::new(CipherSuite::AesGcm, &[7; 32]);
        let mut sealed = b"prefix".to_vec();
        key.seal_append(3, b"aad", b"hello", &mut sealed).unwrap();
        assert_eq!(sealed.len(), 6 + 5 + TAG_LEN);
        let mut opened = b"x".to_vec();
        key.open_append(3, b"aad", &sealed[6..], &mut opened)
            .unwrap();
        assert_eq!(opened, b"xhello");
    }

    #[test]
    fn failed_open_leaves_output_unchanged() {
        let key = CipherKey::new(CipherSuite::AesGcm, &[7; 32]);
        let mut sealed = Vec::new();
        key.seal_append(0, b"", b"secret", &mut sealed).unwrap();
        let mut out = b"keep".to_vec();
        assert_eq!(key.open_append(1, b"", &sealed, &mut out), Err(AeadFailed));
        assert_eq!(key.open_append(0, b"x", &sealed, &mut out), Err(AeadFailed));
        assert_eq!(
            key.open_append(0, b"", &sealed[..15], &mut out),
            Err(AeadFailed)
        );
        assert_eq!(out, b"keep");
    }
}
