//! A download's ciphertext digests (the upload hash and the MAC, [`BlobDigests`]) on a thread
//! of their own, beside the decryption and the plaintext hash on the caller's thread.
//!
//! ```text
//! caller (the download loop)                 the digest thread
//!   read ─▶ SplitAttempt::feed ─▶ body ──▶ channel (≤ IN_FLIGHT waiting) ──▶ update
//!                       spare buffers  ◀── channel ◀──────────────────────────┘
//!   eof ─▶ finish: close the channel, join ─▶ BlobCheck ─▶ SplitAttempt::eof (every check)
//! ```
//!
//! Small files (and a thread that cannot be started) hash on the caller's thread instead:
//! the same calls, in the same order.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use tether_core::media::MediaError;
use tether_core::media::cipher::{BlobCheck, BlobDigests};

/// The capacity of a piece of body handed to the digest thread (gathered from several reads).
pub(crate) const BATCH: usize = 128 * 1024;

/// Pieces waiting for the digest thread at most. With the one it hashes, the spare ones
/// coming back and the one being filled, a download holds at most 6 × [`BATCH`] beside the
/// decryption.
const IN_FLIGHT: usize = 2;

/// Files smaller than this are hashed on the caller's thread.
pub(crate) const THREAD_FROM: u64 = 512 * 1024;

/// Where the [`BlobDigests`] of one attempt run.
pub(crate) enum DigestRunner {
    /// On the caller's thread.
    Inline(BlobDigests),
    /// On a thread of their own.
    Thread {
        to: SyncSender<Vec<u8>>,
        spare: Receiver<Vec<u8>>,
        handle: JoinHandle<BlobCheck>,
    },
}

impl DigestRunner {
    /// Runs `digests` on a thread when `threaded`, else (or if the thread cannot start) here.
    pub(crate) fn start(digests: BlobDigests, threaded: bool) -> Self {
        if !threaded {
            return Self::Inline(digests);
        }
        let (to, inbox) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (give_back, spare) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        // Kept for the case the thread cannot start (the closure, and what it owns, would be
        // gone with the error).
        let fallback = digests.clone();
        let mut digests = digests;
        let spawned = std::thread::Builder::new()
            .name("tether-media-verify".into())
            .spawn(move || {
                for mut body in inbox {
                    digests.update(&body);
                    body.clear();
                    // A full spare queue just drops the buffer.
                    let _ = give_back.try_send(body);
                }
                digests.finish()
            });
        match spawned {
            Ok(handle) => Self::Thread { to, spare, handle },
            Err(e) => {
                tracing::debug!(error = %e, "no thread for the download's digests: hashing inline");
                Self::Inline(fallback)
            }
        }
    }

    /// An empty buffer for the next body bytes (a returned one when there is one).
    pub(crate) fn buffer(&self) -> Vec<u8> {
        match self {
            Self::Inline(_) => Vec::new(),
            Self::Thread { spare, .. } => spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH)),
        }
    }

    /// The next body bytes, in order (blocks while `IN_FLIGHT` pieces wait for the thread).
    pub(crate) fn feed(&mut self, body: Vec<u8>) -> Result<(), MediaError> {
        if body.is_empty() {
            return Ok(());
        }
        match self {
            Self::Inline(digests) => {
                digests.update(&body);
                Ok(())
            }
            Self::Thread { to, .. } => to.send(body).map_err(|_| stopped()),
        }
    }

    /// Every body byte was fed: what the digests computed.
    pub(crate) fn finish(self) -> Result<BlobCheck, MediaError> {
        match self {
            Self::Inline(digests) => Ok(digests.finish()),
            Self::Thread { to, handle, .. } => {
                drop(to);
                handle.join().map_err(|_| stopped())
            }
        }
    }
}

fn stopped() -> MediaError {
    MediaError::Io {
        what: "verifying the download".into(),
        detail: "the thread hashing it stopped; download it again".into(),
    }
}
