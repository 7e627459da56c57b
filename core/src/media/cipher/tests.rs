use aes::Aes256;
use aes::cipher::{Block, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::*;
use crate::media::keys::MediaKeys;
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
        let (mut cbc, mut hashes) = (CbcEncryptor::new(&keys()), EncryptionDigests::new(&keys()));
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
