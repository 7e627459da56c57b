//! Media keys (`media.md` §2.1): a 32-byte [`MediaKey`] per upload, expanded with
//! HKDF-SHA256 (no salt, the kind's info string, 112 bytes) into [`MediaKeys`]:
//!
//! ```text
//! HKDF(mediaKey, info = kind.hkdf_info(), 112) = iv[0..16] ‖ cipherKey[16..48] ‖ macKey[48..80] ‖ refKey[80..112]
//! retry key = HKDF(mediaKey, "WhatsApp Media Retry Notification", 32)    (AES-256-GCM, §4.4)
//! ```
//!
//! The IV is a function of the key: one key encrypts one file (of one kind). Keys are wiped
//! when dropped and print as `<redacted>`.

use std::fmt;

use hkdf::Hkdf;
use rand_core::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::MediaKind;

/// The HKDF info of the media-retry key.
pub const RETRY_INFO: &str = "WhatsApp Media Retry Notification";

/// A message's 32-byte media key (secret: `Debug` prints `<redacted>`, wiped on drop).
#[derive(Clone)]
pub struct MediaKey([u8; 32]);

impl Drop for MediaKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for MediaKey {}

impl MediaKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key in a message's `mediaKey` field: exactly 32 bytes, else `None`.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// A fresh key from `rng`.
    pub fn generate(rng: &mut impl Rng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key expanded for `kind`.
    pub fn expand(&self, kind: MediaKind) -> MediaKeys {
        MediaKeys::derive(self, kind)
    }

    /// The AES-256-GCM key of the media-retry receipt and notification.
    pub fn retry_key(&self) -> [u8; 32] {
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, &self.0).expand(RETRY_INFO.as_bytes(), &mut okm);
        okm
    }
}

impl PartialEq for MediaKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for MediaKey {}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKey(<redacted>)")
    }
}

/// The expanded keys of one file (secret: `Debug` prints `<redacted>`, wiped on drop).
#[derive(Clone)]
pub struct MediaKeys {
    iv: [u8; 16],
    cipher_key: [u8; 32],
    mac_key: [u8; 32],
    ref_key: [u8; 32],
}

impl Drop for MediaKeys {
    fn drop(&mut self) {
        self.iv.zeroize();
        self.cipher_key.zeroize();
        self.mac_key.zeroize();
        self.ref_key.zeroize();
    }
}

impl ZeroizeOnDrop for MediaKeys {}

impl MediaKeys {
    /// `HKDF-SHA256(key, salt none, kind.hkdf_info(), 112)`, split.
    pub fn derive(key: &MediaKey, kind: MediaKind) -> Self {
        let mut okm = [0u8; 112];
        // 112 bytes is far below HKDF-SHA256's limit: expand cannot fail.
        let _ =
            Hkdf::<Sha256>::new(None, key.as_bytes()).expand(kind.hkdf_info().as_bytes(), &mut okm);
        let mut keys = Self {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
            ref_key: [0; 32],
        };
        let (iv, rest) = okm.split_at(16);
        let (cipher, rest) = rest.split_at(32);
        let (mac, reference) = rest.split_at(32);
        keys.iv.copy_from_slice(iv);
        keys.cipher_key.copy_from_slice(cipher);
        keys.mac_key.copy_from_slice(mac);
        keys.ref_key.copy_from_slice(reference);
        okm.zeroize();
        keys
    }

    /// The CBC IV (the first 16 bytes).
    pub fn iv(&self) -> &[u8; 16] {
        &self.iv
    }

    /// The AES-256 key.
    pub fn cipher_key(&self) -> &[u8; 32] {
        &self.cipher_key
    }

    /// The HMAC-SHA256 key.
    pub fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }

    /// The reference key (derived, unused by the protocol).
    pub fn ref_key(&self) -> &[u8; 32] {
        &self.ref_key
    }
}

impl fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKeys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_material() {
        let key = MediaKey::from_bytes([0xab; 32]);
        let keys = key.expand(MediaKind::Image);
        for shown in [format!("{key:?}"), format!("{keys:?}")] {
            assert!(shown.contains("redacted"), "{shown}");
            assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
        }
    }

    #[test]
    fn kinds_sharing_an_info_string_share_keys() {
        let key = MediaKey::from_bytes([7; 32]);
        assert_eq!(
            key.expand(MediaKind::Sticker).iv(),
            key.expand(MediaKind::Image).iv()
        );
        assert_ne!(
            key.expand(MediaKind::Video).iv(),
            key.expand(MediaKind::Image).iv()
        );
        assert!(MediaKey::from_slice(&[0; 31]).is_none());
    }
}
