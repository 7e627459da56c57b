//! The transport phase (`transport.md` §4.7): two independent AES-256-GCM cipher states, one
//! per direction, with u32 counters and empty associated data.
//!
//! ```text
//! send:    ct = AES-256-GCM(write_key, N(write_counter), aad = "", plaintext); write_counter += 1
//! receive: pt = AES-256-GCM-open(read_key, N(read_counter), aad = "", ct);    read_counter += 1
//!          N(n) = 8 zero bytes || n as u32 BE
//! ```
//!
//! Counters never wrap: after 2^32 frames in one direction every further call in that
//! direction fails with [`TransportError::CounterExhausted`] and the connection must close.
//! A frame that fails to authenticate does not advance the receive counter; the caller must
//! treat [`TransportError::DecryptFailed`] as fatal too.
//!
//! Buffers are the caller's: [`TransportState::encrypt`] and [`TransportState::decrypt_into`]
//! append to a `Vec` the caller reuses, and [`TransportState::decrypt_in_place`] decrypts a
//! received frame where it lies.

use std::fmt;

use super::TransportError;
use super::cipher::{CipherKey, TAG_LEN};
use super::symmetric::Split;

/// Largest payload a 3-byte frame length can express.
const MAX_FRAME_PAYLOAD_LEN: usize = 0x00FF_FFFF;

/// Largest plaintext [`TransportState::encrypt`] accepts: its ciphertext still fits a frame.
pub const MAX_TRANSPORT_PLAINTEXT_LEN: usize = MAX_FRAME_PAYLOAD_LEN - TAG_LEN;

/// One direction: its cipher and how many frames it has processed.
struct Direction {
    cipher: CipherKey,
    /// Frames processed so far; the next nonce, while it is below 2^32.
    count: u64,
}

impl Direction {
    fn next_nonce(&self) -> Result<u32, TransportError> {
        u32::try_from(self.count).map_err(|_| TransportError::CounterExhausted)
    }
}

/// The post-handshake cipher states of one side of a connection.
pub struct TransportState {
    write: Direction,
    read: Direction,
    handshake_hash: [u8; 32],
    /// The handshake's symmetric-state trace, kept for unit tests.
    #[cfg(test)]
    pub(crate) trace: Vec<super::symmetric::TraceStep>,
}

/// Which side of the handshake a transport belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Initiator,
    Responder,
}

impl TransportState {
    pub(crate) fn from_split(split: Split, role: Role) -> Self {
        let (write, read) = match role {
            Role::Initiator => (split.initiator_write, split.initiator_read),
            Role::Responder => (split.initiator_read, split.initiator_write),
        };
        Self {
            write: Direction {
                cipher: write,
                count: 0,
            },
            read: Direction {
                cipher: read,
                count: 0,
            },
            handshake_hash: split.handshake_hash,
            #[cfg(test)]
            trace: split.trace,
        }
    }

    /// The final handshake hash `h` (identical on both sides; usable for channel binding).
    #[must_use]
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }

    /// Encrypts one frame payload and **appends** `ciphertext || tag` (`plaintext.len() + 16`
    /// bytes) to `out`; `out` is left as it was on error.
    ///
    /// # Errors
    /// [`TransportError::PlaintextTooLarge`] if the result would not fit a frame,
    /// [`TransportError::CounterExhausted`] after 2^32 frames. Neither consumes a nonce.
    pub fn encrypt(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        if plaintext.len() > MAX_TRANSPORT_PLAINTEXT_LEN {
            return Err(TransportError::PlaintextTooLarge {
                len: plaintext.len(),
            });
        }
        let nonce = self.write.next_nonce()?;
        self.write
            .cipher
            .seal_append(nonce, &[], plaintext, out)
            .map_err(|_| TransportError::PlaintextTooLarge {
                len: plaintext.len(),
            })?;
        self.write.count += 1;
        Ok(())
    }

    /// Decrypts one received frame payload into a new `Vec`.
    ///
    /// # Errors
    /// See [`TransportState::decrypt_into`].
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut out = Vec::with_capacity(ciphertext.len().saturating_sub(TAG_LEN));
        self.decrypt_into(ciphertext, &mut out)?;
        Ok(out)
    }

    /// Decrypts one received frame payload and **appends** the plaintext to `out`; `out` is
    /// left as it was on error.
    ///
    /// # Errors
    /// [`TransportError::EmptyFrame`] for a zero-length frame,
    /// [`TransportError::DecryptFailed`] if it does not authenticate (including frames shorter
    /// than the 16-byte tag), [`TransportError::CounterExhausted`] after 2^32 frames. None of
    /// them advances the receive counter.
    pub fn decrypt_into(
        &mut self,
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        if ciphertext.is_empty() {
            return Err(TransportError::EmptyFrame);
        }
        let nonce = self.read.next_nonce()?;
        self.read
            .cipher
            .open_append(nonce, &[], ciphertext, out)
            .map_err(|_| TransportError::DecryptFailed)?;
        self.read.count += 1;
        Ok(())
    }

    /// Decrypts one received frame payload where it lies and returns the plaintext: the first
    /// `frame.len() - 16` bytes of `frame`. On error `frame` is unchanged.
    ///
    /// # Errors
    /// As [`TransportState::decrypt_into`].
    pub fn decrypt_in_place<'a>(
        &mut self,
        frame: &'a mut [u8],
    ) -> Result<&'a mut [u8], TransportError> {
        if frame.is_empty() {
            return Err(TransportError::EmptyFrame);
        }
        let nonce = self.read.next_nonce()?;
        let body_len = frame
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(TransportError::DecryptFailed)?;
        let (body, tag) = frame.split_at_mut(body_len);
        self.read
            .cipher
            .open_in_place(nonce, &[], body, tag)
            .map_err(|_| TransportError::DecryptFailed)?;
        self.read.count += 1;
        Ok(body)
    }
}

impl fmt::Debug for TransportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportState")
            .field("frames_sent", &self.write.count)
            .field("frames_received", &self.read.count)
            .field("keys", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::cipher::CipherSuite;

    /// Number of nonces available per direction (u32 counters, never wrapped).
    const NONCES_PER_DIRECTION: u64 = 1 << 32;

    fn pair() -> (TransportState, TransportState) {
        let make = |role| {
            let split = Split {
                initiator_write: CipherKey::new(CipherSuite::AesGcm, &[1; 32]),
                initiator_read: CipherKey::new(CipherSuite::AesGcm, &[2; 32]),
                handshake_hash: [9; 32],
                trace: Vec::new(),
            };
            TransportState::from_split(split, role)
        };
        (make(Role::Initiator), make(Role::Responder))
    }

    #[test]
    fn frames_flow_both_ways_with_independent_counters() {
        let (mut client, mut server) = pair();
        let mut wire = Vec::new();
        for i in 0..3u8 {
            wire.clear();
            client.encrypt(&[i; 5], &mut wire).unwrap();
            assert_eq!(server.decrypt(&wire).unwrap(), [i; 5]);
        }
        wire.clear();
        server.encrypt(b"back", &mut wire).unwrap();
        assert_eq!(client.decrypt(&wire).unwrap(), b"back");
        assert_eq!((client.write.count, client.read.count), (3, 1));
        assert_eq!((server.write.count, server.read.count), (1, 3));
    }

    #[test]
    fn encrypt_appends_and_in_place_decrypt_returns_the_plaintext() {
        let (mut client, mut server) = pair();
        let mut wire = vec![0xee; 3];
        client.encrypt(b"payload", &mut wire).unwrap();
        assert_eq!(wire.len(), 3 + 7 + TAG_LEN);
        assert_eq!(&wire[..3], &[0xee; 3]);
        let plaintext = server.decrypt_in_place(&mut wire[3..]).unwrap();
        assert_eq!(plaintext, b"payload");
    }

    #[test]
    fn write_counter_exhausts_instead_of_wrapping() {
        let (mut client, _) = pair();
        client.write.count = NONCES_PER_DIRECTION - 1;
        let mut out = Vec::new();
        client.encrypt(b"last", &mut out).unwrap();
        let len = out.len();
        assert_eq!(
            client.encrypt(b"one more", &mut out),
            Err(TransportError::CounterExhausted)
        );
        assert_eq!(out.len(), len);
        assert_eq!(client.write.count, NONCES_PER_DIRECTION);
    }

    #[test]
    fn read_counter_exhausts_instead_of_wrapping() {
        let (mut client, mut server) = pair();
        client.write.count = u64::from(u32::MAX);
        server.read.count = u64::from(u32::MAX);
        let mut wire = Vec::new();
        client.encrypt(b"last", &mut wire).unwrap();
        assert_eq!(server.decrypt(&wire).unwrap(), b"last");
        assert_eq!(server.decrypt(&wire), Err(TransportError::CounterExhausted));
        assert_eq!(
            server.decrypt_in_place(&mut wire),
            Err(TransportError::CounterExhausted)
        );
    }

    #[test]
    fn rejects_empty_short_and_tampered_frames_without_advancing() {
        let (mut client, mut server) = pair();
        let mut wire = Vec::new();
        client.encrypt(b"hello", &mut wire).unwrap();
        assert_eq!(server.decrypt(&[]), Err(TransportError::EmptyFrame));
        assert_eq!(
            server.decrypt_in_place(&mut []),
            Err(TransportError::EmptyFrame)
        );
        assert_eq!(
            server.decrypt(&wire[..15]),
            Err(TransportError::DecryptFailed)
        );
        let mut tampered = wire.clone();
        tampered[0] ^= 1;
        assert_eq!(
            server.decrypt(&tampered),
            Err(TransportError::DecryptFailed)
        );
        let before = tampered.clone();
        assert_eq!(
            server.decrypt_in_place(&mut tampered),
            Err(TransportError::DecryptFailed)
        );
        assert_eq!(
            tampered, before,
            "a failed in-place decrypt leaves the frame as it was"
        );
        assert_eq!(server.read.count, 0);
        assert_eq!(server.decrypt(&wire).unwrap(), b"hello");
    }

    #[test]
    fn rejects_plaintext_that_cannot_be_framed() {
        let (mut client, _) = pair();
        let big = vec![0u8; MAX_TRANSPORT_PLAINTEXT_LEN + 1];
        let mut out = Vec::new();
        assert_eq!(
            client.encrypt(&big, &mut out),
            Err(TransportError::PlaintextTooLarge { len: big.len() })
        );
        assert!(out.is_empty());
        assert_eq!(client.write.count, 0);
    }

    #[test]
    fn debug_shows_counters_not_keys() {
        let (client, _) = pair();
        let debug = format!("{client:?}");
        assert!(debug.contains("<redacted>") && debug.contains("frames_sent: 0"));
    }
}
