//! HMAC-SHA256 and HKDF as Signal uses them (`messaging.md` §4.1): a chain step is an HMAC with
//! a one-byte message, every derivation an RFC 5869 HKDF whose "no salt" is 32 zero bytes.
//!
//! Built directly on SHA-256's compression function (`sha2::block_api::compress256`, which uses
//! the CPU's SHA extensions when it has them): every input here is a few blocks long and every
//! key is used for one to three messages, so a keyed HMAC is just the two compression states
//! after the padded key, and messages are hashed without intermediate buffers. The unit tests
//! hold it to RFC 4231 / RFC 5869 and to the `hmac` and `hkdf` crates on random inputs.

use std::sync::LazyLock;

use sha2::block_api::compress256;
use zeroize::{Zeroize, Zeroizing};

/// SHA-256's initial state.
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
const BLOCK: usize = 64;

/// An HMAC-SHA256 key, prepared: the compression states after `key ⊕ ipad` and `key ⊕ opad`.
/// Wiped on drop.
#[derive(Clone)]
pub(crate) struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

/// HMAC keyed with HKDF's "no salt" (32 zero bytes): a constant, prepared once.
static NO_SALT: LazyLock<HmacKey> = LazyLock::new(|| HmacKey::new(&[0; 32]));

impl HmacKey {
    /// Prepares `key` (two compressions; a key longer than a block is hashed first, as HMAC
    /// specifies).
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut padded = [0u8; BLOCK];
        if key.len() > BLOCK {
            padded[..32].copy_from_slice(&sha256(&[key]));
        } else {
            padded[..key.len()].copy_from_slice(key);
        }
        let derive = |byte: u8| {
            let mut pad = [[0u8; BLOCK]];
            for (p, k) in pad[0].iter_mut().zip(padded) {
                *p = k ^ byte;
            }
            let mut state = IV;
            compress256(&mut state, &pad);
            state
        };
        Self {
            inner: derive(0x36),
            outer: derive(0x5c),
        }
    }

    /// `HMAC(key, parts[0] ‖ parts[1] ‖ …)`. The caller wipes the result if it keeps it.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let inner = finish(self.inner, BLOCK, parts);
        finish_hash(self.outer, &inner)
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// The outer hash of HMAC: `state` (after `key ⊕ opad`) over one 32-byte inner hash, a single
/// block with fixed offsets.
fn finish_hash(mut state: [u32; 8], inner: &[u8; 32]) -> [u8; 32] {
    let mut block = [[0u8; BLOCK]];
    block[0][..32].copy_from_slice(inner);
    block[0][32] = 0x80;
    block[0][BLOCK - 8..].copy_from_slice(&(((BLOCK + 32) as u64) * 8).to_be_bytes());
    compress256(&mut state, &block);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-256 of `parts` concatenated.
fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    finish(IV, 0, parts)
}

/// Hashes `parts` into `state`, which has already absorbed `done` bytes (a multiple of the
/// block size), and pads and finishes it.
///
/// Like RustCrypto's hashes (without their `zeroize` feature), the transient block buffer and
/// state on the stack are not wiped: wiping them with volatile writes doubled the cost of a
/// message. What callers keep (keys, key states) is wiped on drop.
fn finish(mut state: [u32; 8], done: usize, parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [[0u8; BLOCK]];
    let mut filled = 0;
    let mut total = done;
    for part in parts {
        total += part.len();
        let mut rest = *part;
        while !rest.is_empty() {
            let n = rest.len().min(BLOCK - filled);
            block[0][filled..filled + n].copy_from_slice(&rest[..n]);
            filled += n;
            rest = &rest[n..];
            if filled == BLOCK {
                compress256(&mut state, &block);
                filled = 0;
            }
        }
    }
    block[0][filled] = 0x80;
    block[0][filled + 1..].fill(0);
    if filled + 1 > BLOCK - 8 {
        compress256(&mut state, &block);
        block[0].fill(0);
    }
    block[0][BLOCK - 8..].copy_from_slice(&((total as u64) * 8).to_be_bytes());
    compress256(&mut state, &block);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// `HKDF-SHA256(ikm, salt, info)` with `N` output bytes (at most 255 × 32); `salt = None` is
/// 32 zero bytes.
pub(crate) fn hkdf<const N: usize>(
    ikm: &[u8],
    salt: Option<&[u8; 32]>,
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    let mut prk = match salt {
        Some(salt) => HmacKey::new(salt).mac(&[ikm]),
        None => NO_SALT.mac(&[ikm]),
    };
    let key = HmacKey::new(&prk);
    prk.zeroize();
    let mut okm = Zeroizing::new([0u8; N]);
    let mut at = 0;
    while at < N {
        // Counters run 1..=255; N is a compile-time constant far below that bound.
        let counter = [(at / 32 + 1) as u8];
        let t = if at == 0 {
            key.mac(&[info, &counter])
        } else {
            // T(i) = HMAC(PRK, T(i−1) ‖ info ‖ i); T(i−1) is the full chunk just written.
            key.mac(&[&okm[at - 32..at], info, &counter])
        };
        let n = (N - at).min(32);
        okm[at..at + n].copy_from_slice(&t[..n]);
        at += n;
    }
    okm
}

#[cfg(test)]
mod tests {
    use hkdf::Hkdf;
    use hmac::{Hmac, KeyInit, Mac};
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2 and 6 (a key longer than a block).
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, message, expected) in cases {
            assert_eq!(hex::encode(HmacKey::new(key).mac(&[message])), expected);
        }
    }

    #[test]
    fn hkdf_matches_rfc_5869_case_1() {
        let ikm = [0x0b; 22];
        let salt: [u8; 13] = core::array::from_fn(|i| i as u8);
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        // Our salts are 32 bytes; run the RFC case through the same steps with its salt.
        let prk = HmacKey::new(&salt).mac(&[&ikm]);
        let prk = HmacKey::new(prk.as_slice());
        let t1 = prk.mac(&[&info, &[1]]);
        let t2 = prk.mac(&[&t1, &info, &[2]]);
        let okm = [&t1[..], &t2[..10]].concat();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn matches_the_hmac_sha2_and_hkdf_crates_on_random_inputs() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for len in 0..300 {
            let mut key = vec![0u8; (len * 7) % 150];
            let mut message = vec![0u8; len];
            rng.fill_bytes(&mut key);
            rng.fill_bytes(&mut message);
            let split = len / 3;
            let ours = HmacKey::new(&key).mac(&[&message[..split], &message[split..]]);
            let mut theirs = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            theirs.update(&message);
            assert_eq!(
                &ours[..],
                theirs.finalize().into_bytes().as_slice(),
                "{len}"
            );
            assert_eq!(
                sha256(&[&message]).as_slice(),
                Sha256::digest(&message).as_slice()
            );
            let mut salt = [0u8; 32];
            rng.fill_bytes(&mut salt);
            let mut expected = [0u8; 80];
            Hkdf::<Sha256>::new(Some(&salt), &message)
                .expand(&key, &mut expected)
                .unwrap();
            assert_eq!(*hkdf::<80>(&message, Some(&salt), &key), expected);
            Hkdf::<Sha256>::new(None, &message)
                .expand(&key, &mut expected)
                .unwrap();
            assert_eq!(*hkdf::<80>(&message, None, &key), expected);
        }
    }
}
