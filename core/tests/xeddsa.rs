//! libsignal-compatible Curve25519 signatures against `xeddsa-vectors.json` (200 key pairs ×
//! 3 signatures from curve25519-js with and without randomness and from Signal's libsignal) and
//! the certificate signatures of `protocol/test-vectors.md` §3.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::crypto::KeyPair;
use tether_core::crypto::xeddsa::{sign, sign_deterministic, verify};

struct Vector {
    seed: [u8; 32],
    private: [u8; 32],
    public: [u8; 32],
    message: Vec<u8>,
    signatures: [[u8; 64]; 3],
}

fn vectors() -> Vec<Vector> {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("data/xeddsa-vectors.json")).unwrap();
    let field = |v: &serde_json::Value, name: &str| hex::decode(v[name].as_str().unwrap()).unwrap();
    let vectors: Vec<Vector> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            seed: field(v, "seed").try_into().unwrap(),
            private: field(v, "priv").try_into().unwrap(),
            public: field(v, "pub").try_into().unwrap(),
            message: field(v, "msg"),
            signatures: [
                field(v, "sig_cjs").try_into().unwrap(),
                field(v, "sig_cjs_rand").try_into().unwrap(),
                field(v, "sig_libsignal").try_into().unwrap(),
            ],
        })
        .collect();
    assert_eq!(vectors.len(), 200);
    vectors
}

fn flip(bytes: &mut [u8], bit: usize) {
    bytes[bit / 8] ^= 1 << (bit % 8);
}

/// Vectors whose signatures and messages get every single bit flipped; the rest get a
/// deterministic subset (see `sampled_bits`), which keeps the test-profile run to a few seconds
/// instead of about 20. Set `TETHER_XEDDSA_ALL_BITS=1` to flip every bit of all 200 vectors.
const FULLY_FLIPPED_VECTORS: usize = 50;

fn all_bits_requested() -> bool {
    std::env::var_os("TETHER_XEDDSA_ALL_BITS").is_some()
}

fn fully_flipped_vectors() -> usize {
    if all_bits_requested() {
        usize::MAX
    } else {
        FULLY_FLIPPED_VECTORS
    }
}

/// For vector `index` beyond the fully flipped ones: every 16th bit (offset by the index so
/// all positions are covered across vectors), plus the first and last bit and, for
/// signatures, the stored sign bit (511).
fn sampled_bits(index: usize, bit_count: usize) -> Vec<usize> {
    if index < fully_flipped_vectors() {
        return (0..bit_count).collect();
    }
    let mut bits: Vec<usize> = (index % 16..bit_count).step_by(16).collect();
    bits.extend([0, bit_count - 1]);
    bits.sort_unstable();
    bits.dedup();
    bits
}

#[test]
fn all_600_vector_signatures_verify() {
    let mut sign_bit_set = 0;
    for (i, v) in vectors().iter().enumerate() {
        for (j, signature) in v.signatures.iter().enumerate() {
            assert!(
                verify(&v.public, &v.message, signature),
                "vector {i} signature {j}"
            );
        }
        sign_bit_set += usize::from(v.signatures[2][63] >> 7);
    }
    // The set exercises the stored sign bit: 93 of the libsignal signatures carry it.
    assert_eq!(sign_bit_set, 93);
}

#[test]
fn rejects_one_bit_corruptions_of_signatures() {
    for (i, v) in vectors().iter().enumerate() {
        for (j, signature) in v.signatures.iter().enumerate() {
            for bit in sampled_bits(i, 512) {
                let mut corrupted = *signature;
                flip(&mut corrupted, bit);
                assert!(
                    !verify(&v.public, &v.message, &corrupted),
                    "vector {i} signature {j} bit {bit} still verifies"
                );
            }
        }
    }
}

#[test]
fn rejects_one_bit_corruptions_of_messages() {
    // A flipped message bit changes `h` whichever signer made the signature, so by default each
    // flipped bit is checked against one of the three signatures in rotation (all three kinds
    // meet every vector); `TETHER_XEDDSA_ALL_BITS=1` checks all three for every bit.
    let all = all_bits_requested();
    for (i, v) in vectors().iter().enumerate() {
        for bit in sampled_bits(i, v.message.len() * 8) {
            let mut corrupted = v.message.clone();
            flip(&mut corrupted, bit);
            for (j, signature) in v.signatures.iter().enumerate() {
                if all || j == (i + bit) % 3 {
                    assert!(
                        !verify(&v.public, &corrupted, signature),
                        "vector {i} signature {j} verifies a message with bit {bit} flipped"
                    );
                }
            }
        }
    }
}

#[test]
fn ignores_bit_255_of_the_public_key_as_libsignal_does() {
    for v in vectors().iter().take(20) {
        let mut public = v.public;
        public[31] ^= 0x80;
        assert!(verify(&public, &v.message, &v.signatures[2]));
    }
}

#[test]
fn own_signatures_verify_under_vector_public_keys() {
    let mut rng_bytes = [0u8; 64];
    for (i, v) in vectors().iter().enumerate() {
        rng_bytes[..32].copy_from_slice(&v.seed);
        rng_bytes[32..].copy_from_slice(&v.public);
        let ours = sign(&v.private, &v.message, &rng_bytes);
        assert!(verify(&v.public, &v.message, &ours), "vector {i}");
        // Same key and randomness give the same signature; other randomness another one.
        assert_eq!(
            ours,
            sign(&v.seed, &v.message, &rng_bytes),
            "vector {i}: clamping"
        );
        assert_ne!(ours, sign(&v.private, &v.message, &[0; 64]), "vector {i}");
        // The stored sign bit is the one of the Edwards public key: other verifiers agree.
        let mut without_sign_bit = ours;
        without_sign_bit[63] ^= 0x80;
        assert!(
            !verify(&v.public, &v.message, &without_sign_bit),
            "vector {i}"
        );
    }
}

#[test]
fn deterministic_signatures_equal_curve25519_js_without_randomness() {
    for (i, v) in vectors().iter().enumerate() {
        assert_eq!(
            sign_deterministic(&v.private, &v.message),
            v.signatures[0],
            "vector {i}"
        );
    }
}

#[test]
fn key_pairs_from_vector_seeds_match_vector_keys() {
    for (i, v) in vectors().iter().enumerate() {
        let pair = KeyPair::from_private_bytes(v.seed);
        assert_eq!(pair.public_bytes(), v.public, "vector {i}");
        assert_eq!(
            *pair.private_bytes(),
            v.private,
            "vector {i}: clamped private key"
        );
        assert!(pair.verify(&v.message, &v.signatures[1]), "vector {i}");
    }
}

const TEST_ROOT_PUB: &str = "d35255c864a538f77ecbcb0b68e1f418cedc7eb0bbcb180df9b3517f1c17e121";
const TEST_INTERMEDIATE_PUB: &str =
    "92044e96eb6ecffa1fe2662e5506ed743a833d86ff79d7b07265d2567543e973";
const INTERMEDIATE_DETAILS: &str = "080710001a2092044e96eb6ecffa1fe2662e5506ed743a833d86ff79d7b07265d2567543e9732080e2cfaa062880a8d6b907";
const INTERMEDIATE_SIGNATURE: &str = "e5955df63647de53eb96aca17ef1aa888bfdfb8f900f34f463918cf14ae16739fbb66c909de1173163e7baa2434c2ccd0ae976777dafbac818ca80b7d6ca2780";
const LEAF_DETAILS: &str = "082a10071a20427265d836c915925b7db24ebb0e6be96b23a96d50dcfd9f9866aba150a5a50c2080e2cfaa062880e6fe8907";
const LEAF_SIGNATURE: &str = "90d8d9bfb1daf5ab7e0d223d5263200ebe73409c8ba4d25a8e4927edd3e19aa19cb63b01bdcb6f2f9e503e05fdefd1648484a5a23e53498aa74c7798ece79403";

fn arr<const N: usize>(hex_str: &str) -> [u8; N] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

#[test]
fn certificate_vector_signatures_verify() {
    let intermediate_sig: [u8; 64] = arr(INTERMEDIATE_SIGNATURE);
    assert_eq!(
        intermediate_sig[63] >> 7,
        1,
        "this vector carries the stored sign bit"
    );
    assert!(verify(
        &arr(TEST_ROOT_PUB),
        &hex::decode(INTERMEDIATE_DETAILS).unwrap(),
        &intermediate_sig
    ));
    assert!(verify(
        &arr(TEST_INTERMEDIATE_PUB),
        &hex::decode(LEAF_DETAILS).unwrap(),
        &arr(LEAF_SIGNATURE)
    ));
}

#[test]
fn certificate_vector_leaf_signature_with_bit_0_flipped_fails() {
    let mut leaf_sig: [u8; 64] = arr(LEAF_SIGNATURE);
    leaf_sig[0] ^= 0x01;
    assert!(!verify(
        &arr(TEST_INTERMEDIATE_PUB),
        &hex::decode(LEAF_DETAILS).unwrap(),
        &leaf_sig
    ));
}

#[test]
fn key_pair_generation_is_reproducible_from_a_seed() {
    let a = KeyPair::generate(&mut ChaCha20Rng::from_seed([7; 32]));
    let b = KeyPair::generate(&mut ChaCha20Rng::from_seed([7; 32]));
    let c = KeyPair::generate(&mut ChaCha20Rng::from_seed([8; 32]));
    assert_eq!(a.public_bytes(), b.public_bytes());
    assert_eq!(*a.private_bytes(), *b.private_bytes());
    assert_ne!(a.public_bytes(), c.public_bytes());
    // The private key is stored clamped.
    let private = *a.private_bytes();
    assert_eq!(private[0] & 7, 0);
    assert_eq!(private[31] & 0xC0, 0x40);
}

#[test]
fn key_pair_diffie_hellman_agrees_and_signs() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let alice = KeyPair::generate(&mut rng);
    let bob = KeyPair::generate(&mut rng);
    assert_ne!(alice, bob);
    assert_eq!(
        alice.diffie_hellman(&bob.public_bytes()).to_bytes(),
        bob.diffie_hellman(&alice.public_bytes()).to_bytes()
    );
    let signature = alice.sign(b"hello", &[3; 64]);
    assert!(alice.verify(b"hello", &signature));
    assert!(!bob.verify(b"hello", &signature));
}

#[test]
fn key_pair_debug_redacts_the_private_key() {
    let pair = KeyPair::from_private_bytes([0xAB; 32]);
    let debug = format!("{pair:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(debug.contains(&hex::encode(pair.public_bytes())), "{debug}");
    let private_hex = hex::encode(*pair.private_bytes());
    assert!(!debug.contains(&private_hex), "{debug}");
    assert!(!debug.contains("abab"), "{debug}");
}
