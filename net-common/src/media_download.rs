//! Downloads over the adapters' dialers (`media.md` §4): every candidate of a
//! [`tether_core::media::Download`] in turn, the answer decrypted as it streams into a sink
//! (memory, or `<path>.part`), the ciphertext's digests beside it ([`crate::media_verify`]),
//! every check at the end; nothing unverified is ever handed out or left at `path`.
//! [`crate::media`] re-exports [`download_bytes`] and [`download_to_path`].

use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};

use futures_util::io::AsyncReadExt as _;
use tether_core::media::{Download, MediaError, MediaRef, SplitAttempt};

use crate::media::{CHUNK, MediaDial, broken, local, open, timed, timeout};
use crate::media_verify::DigestRunner;

/// Where verified plaintext goes while a download streams: reset when a candidate fails.
trait Sink {
    fn write(&mut self, bytes: &[u8]) -> Result<(), MediaError>;
    fn reset(&mut self) -> Result<(), MediaError>;
}

impl Sink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), MediaError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
    fn reset(&mut self) -> Result<(), MediaError> {
        self.clear();
        Ok(())
    }
}

/// The `.part` file a download streams into before it is verified and renamed.
struct PartFile {
    file: std::fs::File,
    path: PathBuf,
}

impl Sink for PartFile {
    fn write(&mut self, bytes: &[u8]) -> Result<(), MediaError> {
        self.file
            .write_all(bytes)
            .map_err(local(format!("writing {}", self.path.display())))
    }
    fn reset(&mut self) -> Result<(), MediaError> {
        let writing = local(format!("writing {}", self.path.display()));
        self.file.set_len(0).map_err(&writing)?;
        self.file.rewind().map_err(&writing)
    }
}

/// Downloads `media` from `hosts` (the `media_conn` hosts, primary first) or its own URL,
/// verifying every check; returns the file. Sizes over `limit` are refused before reading.
pub async fn download_bytes<D: MediaDial>(
    dial: &D,
    media: &MediaRef,
    hosts: &[String],
    limit: u64,
) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    download_into(dial, media, hosts, limit, &mut out).await?;
    Ok(out)
}

/// Downloads `media` (see [`download_bytes`]) to `path`: streamed into `<path>.part`
/// (mode 0600), renamed to `path` only once every check passed. Returns the file's length.
pub async fn download_to_path<D: MediaDial>(
    dial: &D,
    media: &MediaRef,
    hosts: &[String],
    limit: u64,
    path: &Path,
) -> Result<u64, MediaError> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&part)
        .map_err(local(format!("creating {}", part.display())))?;
    let mut sink = PartFile {
        file,
        path: part.clone(),
    };
    let result = download_into(dial, media, hosts, limit, &mut sink).await;
    let result = result.and_then(|length| {
        let writing = local(format!("writing {}", path.display()));
        sink.file.sync_all().map_err(&writing)?;
        std::fs::rename(&part, path).map_err(&writing)?;
        Ok(length)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// Every candidate in turn until one gives the verified file: the decryption and the
/// plaintext hash here, the ciphertext's digests beside it ([`crate::media_verify`]).
async fn download_into<D: MediaDial>(
    dial: &D,
    media: &MediaRef,
    hosts: &[String],
    limit: u64,
    sink: &mut impl Sink,
) -> Result<u64, MediaError> {
    let mut download = Download::new(media, hosts, limit)?;
    // Unknown sizes may be large: a thread for those too.
    let threaded = media
        .file_length
        .is_none_or(|length| length >= crate::media_verify::THREAD_FROM);
    let mut out = Vec::with_capacity(CHUNK + 32);
    while let Some((mut attempt, digests)) = download.next_split_attempt() {
        let host = attempt.host().to_owned();
        let mut digests = DigestRunner::start(digests, threaded);
        let got = fetch(dial, &mut attempt, &host, sink, &mut out, &mut digests).await;
        let got = got.and_then(|()| {
            let length = attempt.eof(digests.finish()?, &mut out)?;
            sink.write(&out)?;
            Ok(length)
        });
        out.clear();
        match got {
            Ok(length) => return Ok(length),
            Err(e) => {
                tracing::info!(host, error = %e, "media download attempt failed");
                sink.reset()?;
                if !download.failed(e) {
                    break;
                }
            }
        }
    }
    Err(download.finish())
}

/// One candidate: the request, then the answer decrypted into `sink` as it streams, its body
/// handed to `digests`.
async fn fetch<D: MediaDial>(
    dial: &D,
    attempt: &mut SplitAttempt,
    host: &str,
    sink: &mut impl Sink,
    out: &mut Vec<u8>,
    digests: &mut DigestRunner,
) -> Result<(), MediaError> {
    let mut stream = open(dial, attempt.request(), host).await?;
    let mut buf = vec![0u8; CHUNK];
    let mut body = digests.buffer();
    loop {
        let n = timed(dial, stream.read(&mut buf))
            .await
            .ok_or_else(|| timeout(host))?
            .map_err(|e| broken(host, &e))?;
        if n == 0 {
            return digests.feed(body);
        }
        let done = attempt.feed(buf.get(..n).unwrap_or_default(), out, &mut body)?;
        sink.write(out)?;
        out.clear();
        if done {
            return digests.feed(body);
        }
        if body.len() + CHUNK > DIGEST_BATCH {
            // Fewer, larger hand-offs (each one wakes the digest thread), each within its
            // buffer's capacity: the next read fits no more.
            digests.feed(std::mem::replace(&mut body, digests.buffer()))?;
        }
    }
}

/// Body bytes gathered before they go to the digest thread (its buffers' capacity).
const DIGEST_BATCH: usize = crate::media_verify::BATCH;
