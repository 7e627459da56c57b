//! Encrypting an upload on two threads: the CBC chain on one, the three digests on the
//! other, the bytes handed between them in segments.
//!
//! ```text
//! this thread (digests)                          the CBC thread
//!   segment k: plaintext hash ──▶ channel ──▶   encrypt segment k in place
//!   ciphertext hash + MAC of k  ◀── channel ◀───┘
//!   (the plaintext of k + 1, k + 2 … is hashed while k is encrypted; at most IN_FLIGHT
//!    segments wait for the CBC thread)
//! then, on this thread: the padded last block, the MAC, the upload hash
//! ```
//!
//! Each segment is owned by one thread at a time, so its plaintext is hashed before it is
//! encrypted in place and its ciphertext after. Two sources: a blob held whole in memory
//! ([`encrypt_in_place`], segments borrowed from it) and a file streamed for its digests only
//! ([`digest_reader`], owned segments recycled, memory bounded by `IN_FLIGHT` segments). The
//! bytes and digests are those of [`tether_core::media::cipher::encrypt`] (tested below); the
//! wall time is about half of one thread's, as the CBC chain (serial) and the SHA-256 passes
//! cost about the same (`docs/PERFORMANCE.md`).

use std::cell::RefCell;
use std::io::Read;
use std::sync::mpsc;

use tether_core::media::cipher::{CbcEncryptor, EncryptionDigests, MAC_LEN};
use tether_core::media::{Digests, MediaKeys};

/// Bytes handed from one thread to the other at a time: a multiple of the cipher's block,
/// small enough to stay in a core's cache between the two.
const SEGMENT: usize = 64 * 1024;

/// Segments waiting for the CBC thread at most (what a streamed file holds in memory).
const IN_FLIGHT: usize = 4;

/// Below this, one thread does it all (starting a thread costs more than it saves).
const PARALLEL_FROM: usize = 8 * SEGMENT;

/// Encrypts `blob` (the whole plaintext) in place into the upload body — ciphertext, padded
/// last block, MAC — and returns the message's digests.
pub(crate) fn encrypt_in_place(keys: &MediaKeys, blob: &mut Vec<u8>) -> Digests {
    let mut halves = Halves::new(keys);
    let whole = blob.len() / 16 * 16;
    let (blocks, tail) = blob.split_at_mut(whole);
    if whole < PARALLEL_FROM {
        halves.one_thread(blocks);
    } else {
        halves.two_threads(blocks.chunks_mut(SEGMENT), drop);
    }
    let (last, mac, digests) = halves.finish(tail);
    blob.truncate(whole);
    blob.extend_from_slice(&last);
    blob.extend_from_slice(&mac);
    digests
}

/// Reads `file` to its end and returns what encrypting it gives besides the ciphertext,
/// which is dropped: the MAC and the digests. Memory: `IN_FLIGHT` + 2 segments.
pub(crate) fn digest_reader(
    keys: &MediaKeys,
    file: &mut dyn Read,
) -> std::io::Result<([u8; MAC_LEN], Digests)> {
    let mut halves = Halves::new(keys);
    let spare: RefCell<Vec<Vec<u8>>> = RefCell::new(Vec::new());
    let (mut failed, mut ended, mut tail) = (None, false, Vec::new());
    let segments = std::iter::from_fn(|| {
        if ended {
            return None;
        }
        let mut segment = spare.borrow_mut().pop().unwrap_or_default();
        segment.resize(SEGMENT, 0);
        match fill(file, &mut segment) {
            Ok(n) if n < SEGMENT => {
                // The file's end: its bytes past the last whole block are the tail, which
                // the padding finishes.
                ended = true;
                let whole = n / 16 * 16;
                tail.extend_from_slice(segment.get(whole..n).unwrap_or_default());
                segment.truncate(whole);
            }
            Ok(_) => {}
            Err(e) => {
                (ended, failed) = (true, Some(e));
                return None;
            }
        }
        (!segment.is_empty()).then_some(segment)
    });
    halves.two_threads(segments, |segment| spare.borrow_mut().push(segment));
    if let Some(e) = failed {
        return Err(e);
    }
    let (_, mac, digests) = halves.finish(&tail);
    Ok((mac, digests))
}

/// Reads into `buf` until it is full or the file ends; how many bytes it holds.
fn fill(file: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|rest| !rest.is_empty()) {
        match file.read(rest) {
            Ok(0) => break,
            Ok(read) => n += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The two halves of one encryption.
struct Halves {
    cbc: CbcEncryptor,
    digests: EncryptionDigests,
}

impl Halves {
    fn new(keys: &MediaKeys) -> Self {
        Self {
            cbc: CbcEncryptor::new(keys),
            digests: EncryptionDigests::new(keys),
        }
    }

    /// Whole blocks, on this thread.
    fn one_thread(&mut self, blocks: &mut [u8]) {
        self.digests.plaintext(blocks);
        self.cbc.encrypt_in_place(blocks);
        self.digests.ciphertext(blocks);
    }

    /// `segments` (whole blocks each), in order: the CBC chain on a second thread while this
    /// one hashes; each segment goes to `done` once its ciphertext is hashed.
    fn two_threads<S: AsMut<[u8]> + Send>(
        &mut self,
        segments: impl Iterator<Item = S>,
        mut done: impl FnMut(S),
    ) {
        let Self { cbc, digests } = self;
        std::thread::scope(|scope| {
            let (to_cbc, cbc_inbox) = mpsc::sync_channel::<S>(IN_FLIGHT);
            let (to_digests, encrypted) = mpsc::channel::<S>();
            scope.spawn(move || {
                for mut segment in cbc_inbox {
                    cbc.encrypt_in_place(segment.as_mut());
                    if to_digests.send(segment).is_err() {
                        break;
                    }
                }
            });
            let mut back = |digests: &mut EncryptionDigests, mut segment: S| {
                digests.ciphertext(segment.as_mut());
                done(segment);
            };
            for mut segment in segments {
                digests.plaintext(segment.as_mut());
                if to_cbc.send(segment).is_err() {
                    break;
                }
                while let Ok(segment) = encrypted.try_recv() {
                    back(digests, segment);
                }
            }
            drop(to_cbc);
            // Every segment comes back: the CBC thread ends only when its inbox closes (a
            // panic there is the scope's panic).
            for segment in encrypted {
                back(digests, segment);
            }
        });
    }

    /// The file's last bytes (fewer than a block) padded and encrypted; the MAC; the digests.
    fn finish(self, tail: &[u8]) -> ([u8; 16], [u8; MAC_LEN], Digests) {
        let Self { cbc, mut digests } = self;
        digests.plaintext(tail);
        let last = cbc.finish(tail);
        digests.ciphertext(&last);
        let (mac, digests) = digests.finish();
        (last, mac, digests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_core::media::cipher::encrypt;
    use tether_core::media::{MediaKey, MediaKind};

    #[test]
    fn same_blob_and_digests_as_one_thread_at_every_size() {
        let keys = MediaKey::from_bytes([9; 32]).expand(MediaKind::Video);
        for len in [
            0,
            15,
            16,
            PARALLEL_FROM - 1,
            PARALLEL_FROM,
            PARALLEL_FROM + 17,
            3 * PARALLEL_FROM + SEGMENT / 2 + 5,
            4 * SEGMENT,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
            let (blob, digests) = encrypt(&keys, &plain);
            let mut in_place = plain.clone();
            let got = encrypt_in_place(&keys, &mut in_place);
            assert_eq!(got, digests, "length {len}");
            assert!(in_place == blob, "length {len}: the blobs differ");
            let mac: [u8; MAC_LEN] = blob[blob.len() - MAC_LEN..].try_into().unwrap();
            let mut reader = Trickle(&plain);
            assert_eq!(
                digest_reader(&keys, &mut reader).unwrap(),
                (mac, digests),
                "length {len}"
            );
        }
    }

    #[test]
    fn a_read_error_fails_the_digests() {
        let keys = MediaKey::from_bytes([9; 32]).expand(MediaKind::Document);
        let plain = vec![7u8; 5 * SEGMENT];
        let mut failing = Trickle(&plain).chain(Failing);
        let error = digest_reader(&keys, &mut failing).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    }

    /// Hands out at most 1,000 bytes per read (segments are filled across reads).
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(1000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }
}
