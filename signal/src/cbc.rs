//! AES-256-CBC with PKCS#7 padding (always 1–16 bytes added), the cipher of Signal messages and
//! sender-key messages (`messaging.md` §4.1).

use aes::Aes256;
use aes::cipher::consts::U16;
use aes::cipher::{
    Block, BlockCipherDecrypt, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt,
    BlockSizeUser, InOut, KeyInit,
};

const BLOCK: usize = 16;

/// The ciphertext length for a plaintext of `len` bytes: rounded up to the next multiple of 16
/// (a full block of padding when it already is one).
pub(crate) const fn ciphertext_len(len: usize) -> usize {
    len + (BLOCK - len % BLOCK)
}

/// Encrypts `plaintext` under `key` and `iv` (see [`ciphertext_len`]).
pub(crate) fn encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ciphertext_len(plaintext.len()));
    encrypt_into(key, iv, plaintext, &mut out);
    out
}

/// Appends the encryption of `plaintext` to `out`.
pub(crate) fn encrypt_into(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8], out: &mut Vec<u8>) {
    let cipher = Aes256::new(&(*key).into());
    let start = out.len();
    let pad = BLOCK - plaintext.len() % BLOCK;
    out.extend_from_slice(plaintext);
    out.resize(start + plaintext.len() + pad, pad as u8);
    let (blocks, rest) = Block::<Aes256>::slice_as_chunks_mut(&mut out[start..]);
    debug_assert!(rest.is_empty());
    // One backend call for the whole chain, so the round keys are loaded once.
    cipher.encrypt_with_backend(Chain { iv: *iv, blocks });
}

/// CBC encryption of `blocks` in place, run inside the cipher's backend.
struct Chain<'a> {
    iv: [u8; 16],
    blocks: &'a mut [Block<Aes256>],
}

impl BlockSizeUser for Chain<'_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for Chain<'_> {
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        let mut previous = self.iv;
        for block in self.blocks {
            for (byte, prev) in block.iter_mut().zip(previous) {
                *byte ^= prev;
            }
            backend.encrypt_block(InOut::from(&mut *block));
            previous.copy_from_slice(block);
        }
    }
}

/// Why a ciphertext did not decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CbcError {
    /// Empty, or not a multiple of the block size.
    Length,
    /// The padding is not valid PKCS#7.
    Padding,
}

/// Decrypts `ciphertext` under `key` and `iv` and strips the PKCS#7 padding.
pub(crate) fn decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CbcError> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(CbcError::Length);
    }
    let cipher = Aes256::new(&(*key).into());
    let mut out = ciphertext.to_vec();
    {
        let (blocks, rest) = Block::<Aes256>::slice_as_chunks_mut(&mut out);
        debug_assert!(rest.is_empty());
        cipher.decrypt_blocks(blocks);
    }
    for (i, chunk) in out.chunks_exact_mut(BLOCK).enumerate() {
        let previous = if i == 0 {
            &iv[..]
        } else {
            &ciphertext[(i - 1) * BLOCK..i * BLOCK]
        };
        for (byte, prev) in chunk.iter_mut().zip(previous) {
            *byte ^= prev;
        }
    }
    let pad = usize::from(*out.last().ok_or(CbcError::Length)?);
    if pad == 0
        || pad > BLOCK
        || out[out.len() - pad..]
            .iter()
            .any(|&b| usize::from(b) != pad)
    {
        return Err(CbcError::Padding);
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length_around_the_block_size() {
        let key = [3u8; 32];
        let iv = [9u8; 16];
        for len in 0..50 {
            let plaintext: Vec<u8> = (0..len as u8).collect();
            let ciphertext = encrypt(&key, &iv, &plaintext);
            assert_eq!(ciphertext.len(), (len / 16 + 1) * 16);
            assert_eq!(decrypt(&key, &iv, &ciphertext), Ok(plaintext));
        }
    }

    #[test]
    fn matches_nist_sp800_38a_cbc_aes256_first_block() {
        // F.2.5 CBC-AES256.Encrypt, block #1 (padding appends a second block we ignore).
        let key: [u8; 32] =
            hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
                .unwrap()
                .try_into()
                .unwrap();
        let iv: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f")
            .unwrap()
            .try_into()
            .unwrap();
        let plaintext = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let ciphertext = encrypt(&key, &iv, &plaintext);
        assert_eq!(
            hex::encode(&ciphertext[..16]),
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6"
        );
    }

    #[test]
    fn rejects_bad_lengths_and_padding() {
        let key = [1u8; 32];
        let iv = [2u8; 16];
        assert_eq!(decrypt(&key, &iv, &[]), Err(CbcError::Length));
        assert_eq!(decrypt(&key, &iv, &[0; 15]), Err(CbcError::Length));
        let mut ciphertext = encrypt(&key, &iv, b"sixteen bytes!!!");
        let last = ciphertext.len() - 1;
        ciphertext[last] ^= 0x55;
        assert_eq!(decrypt(&key, &iv, &ciphertext), Err(CbcError::Padding));
    }
}
