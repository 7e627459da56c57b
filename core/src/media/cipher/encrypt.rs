//! Encryption: the serial CBC chain and the digests, fed one after the other or on two
//! threads (see the parent module).

use aes::Aes256;
use aes::cipher::{
    Block, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, KeyInit,
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{BLOCK, Digests, MAC_LEN};
use crate::media::keys::MediaKeys;

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
