//! Media transfers over the adapters' own dialers (`media.md` §2): the sans-IO exchanges of
//! [`tether_core::media`] carried over whatever TCP + proxy + TLS stream the adapter dials
//! (futures-io), so uploads and downloads behave the same on tokio and smol and go through
//! the same proxies and trust settings as the WebSocket.
//!
//! ```text
//! upload_file: size ≤ limit (metadata, before reading)
//!   size ≤ memory budget: one pass: read into memory, encrypt in place (the CBC chain and
//!     the digests on two threads: media_encrypt), the blob and the digests
//!     ─▶ Uploading (hosts of media_conn) ─▶ per host: dial, head, the blob
//!   larger: pass 1: encrypt (two threads again), keep only the digests and the MAC
//!     ─▶ Uploading ─▶ per host:
//!     dial, head, pass 2: the CBC chain again straight into the socket, hashing only the
//!     ciphertext (its hash ≠ pass 1's: the file changed) ─▶ answer ─▶ Upload
//!   a failed host ─▶ the next; none left ─▶ the most telling error
//! download (media_download, re-exported here): Download (hosts + direct path, then the
//!   url) ─▶ per candidate: dial, head, read ─▶ decrypt into `<path>.part` as it streams (the ciphertext's digests on a second
//!   thread: media_verify) ─▶ every check at the end ─▶ rename;
//!   a failed candidate truncates the part file and tries the next; nothing unverified is
//!   ever left at `path`
//! ```
//!
//! Memory stays bounded by [`CHUNK`] plus the cipher's block (and, while pass 1 runs, a few
//! segments between its two threads), except for an upload of a file
//! within the caller's memory budget (`Options::media_memory_budget`), whose blob is held
//! whole so that it is encrypted and hashed once; a larger file and a download never are.
//! Every read and write on a socket is bounded by [`IO_TIMEOUT`].

use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tether_core::connection::Event;
use tether_core::driver::DialError;
use tether_core::endpoint::Endpoint;
use tether_core::media::cipher::MAC_LEN;
use tether_core::media::http::Request;
use tether_core::media::{
    Digests, MediaConn, MediaConnError, MediaEncryptor, MediaError, MediaKey, MediaKeys, MediaKind,
    Upload, Uploading,
};

pub use crate::media_download::{download_bytes, download_to_path};

/// Bytes read from a file or a socket at a time.
pub const CHUNK: usize = 64 * 1024;

/// How long one read or write on a media connection may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// How an adapter reaches a media host: TCP (through the proxy its settings select) and TLS
/// verified against its trust settings, and a timer.
pub trait MediaDial: Sync {
    /// The connected stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;

    /// Dials `target` (always `https://`: TCP, proxy, TLS).
    fn dial(
        &self,
        target: &Endpoint,
    ) -> impl Future<Output = Result<Self::Stream, DialError>> + Send;

    /// Resolves after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// `fut`, or `None` once [`IO_TIMEOUT`] passed.
pub(crate) async fn timed<D: MediaDial, F: Future>(dial: &D, fut: F) -> Option<F::Output> {
    let fut = std::pin::pin!(fut);
    let sleep = std::pin::pin!(dial.sleep(IO_TIMEOUT));
    match futures_util::future::select(fut, sleep).await {
        futures_util::future::Either::Left((out, _)) => Some(out),
        futures_util::future::Either::Right(_) => None,
    }
}

pub(crate) fn timeout(host: &str) -> MediaError {
    MediaError::Timeout {
        host: host.to_owned(),
        secs: IO_TIMEOUT.as_secs(),
    }
}

pub(crate) fn broken(host: &str, e: &std::io::Error) -> MediaError {
    MediaError::Unreachable {
        host: host.to_owned(),
        detail: e.to_string(),
    }
}

pub(crate) fn local(what: String) -> impl Fn(std::io::Error) -> MediaError {
    move |e| MediaError::Io {
        what: what.clone(),
        detail: e.to_string(),
    }
}

/// Opens `request`'s host and writes its head.
pub(crate) async fn open<D: MediaDial>(
    dial: &D,
    request: &Request,
    host: &str,
) -> Result<D::Stream, MediaError> {
    let mut stream = timed(dial, dial.dial(&request.target))
        .await
        .ok_or_else(|| timeout(host))?
        .map_err(|e| MediaError::Unreachable {
            host: host.to_owned(),
            detail: e.to_string(),
        })?;
    timed(dial, stream.write_all(&request.head()))
        .await
        .ok_or_else(|| timeout(host))?
        .map_err(|e| broken(host, &e))?;
    Ok(stream)
}

/// The plaintext of an upload (read once into memory within the memory budget, else twice:
/// once for the digests, once into the socket): a file, or bytes in memory.
#[derive(Clone, Copy, Debug)]
pub enum Plain<'a> {
    /// The file at this path, read in [`CHUNK`]s.
    File(&'a Path),
    /// These bytes.
    Bytes(&'a [u8]),
}

impl Plain<'_> {
    /// What to call it in an error.
    fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Bytes(bytes) => format!("the {} bytes given", bytes.len()),
        }
    }

    /// A reader from its start.
    fn open(&self) -> Result<Box<dyn Read + Send + '_>, MediaError> {
        match self {
            Self::File(path) => {
                let file = std::fs::File::open(path)
                    .map_err(local(format!("reading {}", path.display())))?;
                Ok(Box::new(file))
            }
            Self::Bytes(bytes) => Ok(Box::new(*bytes)),
        }
    }
}

/// The upload body of one upload, encrypted before the first host is tried.
enum Blob {
    /// The whole blob, the file read and encrypted once (within the memory budget).
    Whole(Vec<u8>),
    /// The file is encrypted again into each host's socket; this is the first pass's MAC.
    Streamed([u8; MAC_LEN]),
}

/// Pass 1 over `plain`, the CBC chain and the digests on two threads
/// ([`crate::media_encrypt`]): a [`Blob::Whole`] when its `size` fits `budget` (read whole,
/// then encrypted in place), else only the digests and the MAC ([`Blob::Streamed`], the file
/// read in segments, a few of them in memory at a time).
fn encrypt_plain(
    plain: &Plain<'_>,
    keys: &MediaKeys,
    size: u64,
    budget: u64,
) -> Result<(Blob, Digests), MediaError> {
    let reading = local(format!("reading {}", plain.describe()));
    if size <= budget {
        // `size` ≤ the budget: the whole blob, allocated once.
        let mut blob = Vec::with_capacity(usize::try_from(cipher_len(size)).unwrap_or(0));
        match plain {
            Plain::Bytes(bytes) => blob.extend_from_slice(bytes),
            Plain::File(_) => {
                // One byte more than measured tells a file that grew (maybe past the budget).
                plain
                    .open()?
                    .take(size.saturating_add(1))
                    .read_to_end(&mut blob)
                    .map_err(&reading)?;
                if blob.len() as u64 > size {
                    return Err(changed(plain));
                }
            }
        }
        let digests = crate::media_encrypt::encrypt_in_place(keys, &mut blob);
        return Ok((Blob::Whole(blob), digests));
    }
    let (mac, digests) =
        crate::media_encrypt::digest_reader(keys, &mut plain.open()?).map_err(&reading)?;
    Ok((Blob::Streamed(mac), digests))
}

/// The upload body's length for a file of `size` bytes.
fn cipher_len(size: u64) -> u64 {
    tether_core::media::cipher::enc_length(size)
}

fn changed(plain: &Plain<'_>) -> MediaError {
    MediaError::Io {
        what: format!("uploading {}", plain.describe()),
        detail: "the file changed while it was being uploaded; send it again".into(),
    }
}

/// The size of the file at `path`, refused over `limit` before anything is read.
pub fn checked_size(path: &Path, kind: MediaKind, limit: u64) -> Result<u64, MediaError> {
    let size = std::fs::metadata(path)
        .map_err(local(format!("reading {}", path.display())))?
        .len();
    if size > limit {
        return Err(MediaError::TooLarge { kind, size, limit });
    }
    Ok(size)
}

/// Which limits an upload works within: the largest file sent (`limit`, bytes), and the
/// largest file encrypted once into memory (`budget`, bytes; larger files stream in two
/// passes, memory bounded by [`CHUNK`]).
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    /// `Options::media_limit`.
    pub limit: u64,
    /// `Options::media_memory_budget`.
    pub budget: u64,
}

/// Encrypts and uploads the file at `path` as `kind` with a fresh `media_key` to the hosts
/// of `conn` (`unix`: now, Unix seconds): the finished [`Upload`] a media message is built
/// from.
pub async fn upload_file<D: MediaDial>(
    dial: &D,
    conn: &MediaConn,
    kind: MediaKind,
    path: &Path,
    media_key: MediaKey,
    limits: UploadLimits,
    unix: u64,
) -> Result<Upload, MediaError> {
    checked_size(path, kind, limits.limit)?;
    upload_plain(dial, conn, kind, Plain::File(path), media_key, limits, unix).await
}

/// [`upload_file`] for any [`Plain`] source (its size already checked against the limit):
/// [`Encrypted::new`], then [`Encrypted::send`].
pub async fn upload_plain<D: MediaDial>(
    dial: &D,
    conn: &MediaConn,
    kind: MediaKind,
    plain: Plain<'_>,
    media_key: MediaKey,
    limits: UploadLimits,
    unix: u64,
) -> Result<Upload, MediaError> {
    Encrypted::new(kind, plain, media_key, limits)?
        .send(dial, conn, unix)
        .await
}

/// An upload after its first pass: the digests, and within the memory budget the blob. It
/// can be sent more than once — to the hosts of a refreshed `media_conn` after a 401/403 —
/// without encrypting the file again (a streamed file is, by necessity, read again).
pub struct Encrypted<'a> {
    kind: MediaKind,
    plain: Plain<'a>,
    media_key: MediaKey,
    keys: MediaKeys,
    limit: u64,
    blob: Blob,
    digests: Digests,
}

impl std::fmt::Debug for Encrypted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("kind", &self.kind)
            .field("file_length", &self.digests.file_length)
            .finish_non_exhaustive()
    }
}

impl<'a> Encrypted<'a> {
    /// Pass 1 over `plain` with a fresh `media_key`: the digests (the upload URL carries the
    /// encrypted file's hash), and within the budget the blob itself.
    pub fn new(
        kind: MediaKind,
        plain: Plain<'a>,
        media_key: MediaKey,
        limits: UploadLimits,
    ) -> Result<Self, MediaError> {
        let keys = media_key.expand(kind);
        let size = match plain {
            Plain::File(path) => checked_size(path, kind, limits.limit)?,
            Plain::Bytes(bytes) => bytes.len() as u64,
        };
        let (blob, digests) = encrypt_plain(&plain, &keys, size, limits.budget)?;
        Ok(Self {
            kind,
            plain,
            media_key,
            keys,
            limit: limits.limit,
            blob,
            digests,
        })
    }

    /// Uploads it to the hosts of `conn` (`unix`: now, Unix seconds), the next host after a
    /// failed one: the finished [`Upload`] a media message is built from.
    pub async fn send<D: MediaDial>(
        &self,
        dial: &D,
        conn: &MediaConn,
        unix: u64,
    ) -> Result<Upload, MediaError> {
        let (keys, digests) = (&self.keys, &self.digests);
        let mut uploading = Uploading::new(
            self.kind,
            self.media_key.clone(),
            *digests,
            conn,
            self.limit,
        )?;
        while let Some(mut attempt) = uploading.next_attempt() {
            let host = attempt.host().to_owned();
            let request = attempt.request();
            let sent = match &self.blob {
                Blob::Whole(bytes) => send_whole(dial, request, &host, bytes).await,
                Blob::Streamed(mac) => {
                    send_again(dial, request, &host, &self.plain, keys, digests, *mac).await
                }
            };
            let answer = match sent {
                Ok(stream) => read_answer(dial, stream, &host, &mut attempt).await,
                Err(e) => Err(e),
            };
            match answer.and_then(|()| attempt.eof()) {
                Ok(answer) => return Ok(uploading.complete(answer, unix)),
                Err(e) => {
                    tracing::info!(host, error = %e, "media upload attempt failed");
                    if !uploading.failed(e) {
                        break;
                    }
                }
            }
        }
        Err(uploading.finish())
    }
}

/// The head, then the blob held in memory, in [`CHUNK`]s: each within [`IO_TIMEOUT`], as
/// on the streamed path, so a slow link is not held to one timeout for the whole file.
async fn send_whole<D: MediaDial>(
    dial: &D,
    request: &Request,
    host: &str,
    blob: &[u8],
) -> Result<D::Stream, MediaError> {
    let mut stream = open(dial, request, host).await?;
    for piece in blob.chunks(CHUNK) {
        timed(dial, stream.write_all(piece))
            .await
            .ok_or_else(|| timeout(host))?
            .map_err(|e| broken(host, &e))?;
    }
    timed(dial, stream.flush())
        .await
        .ok_or_else(|| timeout(host))?
        .map_err(|e| broken(host, &e))?;
    Ok(stream)
}

/// Pass 2: the head, then the file encrypted again straight into the socket (the CBC chain
/// and the upload hash only, [`MediaEncryptor::again`]); a file whose upload hash differs
/// from pass 1's changed in between, and the upload fails.
async fn send_again<D: MediaDial>(
    dial: &D,
    request: &Request,
    host: &str,
    plain: &Plain<'_>,
    keys: &MediaKeys,
    expected: &Digests,
    mac: [u8; MAC_LEN],
) -> Result<D::Stream, MediaError> {
    let mut stream = open(dial, request, host).await?;
    let reading = local(format!("reading {}", plain.describe()));
    let mut file = plain.open()?;
    let mut encryptor = Some(MediaEncryptor::again(keys, expected, mac));
    let (mut buf, mut out) = (vec![0u8; CHUNK], Vec::with_capacity(CHUNK + 32));
    while let Some(mut running) = encryptor.take() {
        let n = file.read(&mut buf).map_err(&reading)?;
        if n == 0 {
            if &running.finish(&mut out) != expected {
                return Err(changed(plain));
            }
        } else {
            running.update(buf.get(..n).unwrap_or_default(), &mut out);
            encryptor = Some(running);
        }
        timed(dial, stream.write_all(&out))
            .await
            .ok_or_else(|| timeout(host))?
            .map_err(|e| broken(host, &e))?;
        out.clear();
    }
    timed(dial, stream.flush())
        .await
        .ok_or_else(|| timeout(host))?
        .map_err(|e| broken(host, &e))?;
    Ok(stream)
}

/// Reads the upload answer into `attempt` until it is complete or the server closes.
async fn read_answer<D: MediaDial>(
    dial: &D,
    mut stream: D::Stream,
    host: &str,
    attempt: &mut tether_core::media::UploadAttempt,
) -> Result<(), MediaError> {
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        let n = timed(dial, stream.read(&mut buf))
            .await
            .ok_or_else(|| timeout(host))?
            .map_err(|e| broken(host, &e))?;
        if n == 0 || attempt.feed(buf.get(..n).unwrap_or_default())? {
            return Ok(());
        }
    }
}

/// Waiting for `Event::MediaConn` on any executor: every waiter resolves with the next
/// answer (or failure) the driver task sees after it started waiting. It also carries the
/// `mediaretry` notifications to the downloads waiting for them ([`retries`](Self::retries)).
#[derive(Debug, Default)]
pub struct MediaConnTracker {
    inner: Mutex<Tracked>,
    retries: Arc<crate::media_retry::MediaRetryTracker>,
}

#[derive(Debug, Default)]
struct Tracked {
    generation: u64,
    last: Option<Result<MediaConn, MediaConnError>>,
    wakers: Vec<Waker>,
    closed: bool,
}

impl MediaConnTracker {
    /// A tracker nobody waits on.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Tracked> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A future for the next answer: create it before sending `Command::MediaConn`.
    pub fn wait(self: &Arc<Self>) -> MediaConnWait {
        MediaConnWait {
            tracker: Arc::clone(self),
            after: self.lock().generation,
        }
    }

    /// The `mediaretry` notifications the driver task saw.
    pub fn retries(&self) -> &Arc<crate::media_retry::MediaRetryTracker> {
        &self.retries
    }

    /// The driver task saw `event`.
    pub fn observe(&self, event: &Event) {
        self.retries.observe(event);
        let answer = match event {
            Event::MediaConn(conn) => Ok((**conn).clone()),
            Event::MediaConnFailed { reason } => Err(reason.clone()),
            _ => return,
        };
        let mut tracked = self.lock();
        tracked.generation += 1;
        tracked.last = Some(answer);
        for waker in tracked.wakers.drain(..) {
            waker.wake();
        }
    }

    /// A guard that [`close`](Self::close)s the tracker when dropped (held by the driver
    /// task, so waiters resolve even when it is dropped or aborted).
    pub fn close_on_drop(self: &Arc<Self>) -> MediaConnCloser {
        MediaConnCloser(Arc::clone(self))
    }

    /// The driver ended: every waiter resolves with [`MediaConnError::NotConnected`] (and
    /// every media-retry waiter with its `NotConnected`).
    pub fn close(&self) {
        self.retries.close();
        let mut tracked = self.lock();
        tracked.closed = true;
        for waker in tracked.wakers.drain(..) {
            waker.wake();
        }
    }
}

/// Closes its [`MediaConnTracker`] when dropped.
#[derive(Debug)]
pub struct MediaConnCloser(Arc<MediaConnTracker>);

impl Drop for MediaConnCloser {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The next `media_conn` answer ([`MediaConnTracker::wait`]).
#[derive(Debug)]
#[must_use = "await it for the answer"]
pub struct MediaConnWait {
    tracker: Arc<MediaConnTracker>,
    after: u64,
}

impl Future for MediaConnWait {
    type Output = Result<MediaConn, MediaConnError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut tracked = self.tracker.lock();
        if tracked.generation > self.after
            && let Some(answer) = &tracked.last
        {
            return Poll::Ready(answer.clone());
        }
        if tracked.closed {
            return Poll::Ready(Err(MediaConnError::NotConnected));
        }
        if !tracked.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            tracked.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests;
