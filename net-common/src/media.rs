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
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Cursor;
    use std::time::Instant;

    use tether_core::media::{MediaHost, MediaRef, cipher};

    use super::*;

    /// What a fake host's connections were sent, one entry per dial.
    type Sent = Arc<Mutex<Vec<Vec<u8>>>>;

    /// A media host in memory: records what each connection writes and answers `200` with a
    /// path; `on_dial` runs at each dial (for an upload: between its two passes).
    struct FakeHost<F> {
        sent: Sent,
        on_dial: F,
    }

    struct FakeStream {
        sent: Sent,
        index: usize,
        answer: Cursor<Vec<u8>>,
    }

    impl AsyncRead for FakeStream {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(self.answer.read(buf))
        }
    }

    impl AsyncWrite for FakeStream {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.sent.lock().unwrap()[self.index].extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl<F: Fn() + Sync> MediaDial for FakeHost<F> {
        type Stream = FakeStream;

        fn dial(&self, _: &Endpoint) -> impl Future<Output = Result<FakeStream, DialError>> + Send {
            (self.on_dial)();
            let mut sent = self.sent.lock().unwrap();
            sent.push(Vec::new());
            let body = br#"{"url":"https://host.test/m/1","direct_path":"/m/1"}"#;
            let mut answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            answer.extend_from_slice(body);
            let stream = FakeStream {
                sent: Arc::clone(&self.sent),
                index: sent.len() - 1,
                answer: Cursor::new(answer),
            };
            async move { Ok(stream) }
        }

        fn sleep(&self, _: Duration) -> impl Future<Output = ()> + Send {
            futures_util::future::pending()
        }
    }

    fn conn() -> MediaConn {
        let host = MediaHost {
            hostname: "host.test".into(),
            fallback: false,
            max_content_length: None,
        };
        MediaConn::new("token", Duration::from_secs(60), vec![host], Instant::now())
    }

    /// Runs `fut` on this thread (nothing here waits on I/O).
    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// The body of the request a connection was sent (after the head).
    fn body(sent: &[u8]) -> &[u8] {
        let at = sent.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        &sent[at + 4..]
    }

    fn upload(
        host: &FakeHost<impl Fn() + Sync>,
        path: &Path,
        key: &MediaKey,
        budget: u64,
    ) -> Result<Upload, MediaError> {
        let limits = UploadLimits {
            limit: 1 << 20,
            budget,
        };
        block_on(upload_file(
            host,
            &conn(),
            MediaKind::Document,
            path,
            key.clone(),
            limits,
            0,
        ))
    }

    #[test]
    fn both_upload_paths_send_the_blob_and_digests_of_one_encryption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.bin");
        let plain: Vec<u8> = (0..200_003u32).map(|i| (i * 31 + 7) as u8).collect();
        std::fs::write(&path, &plain).unwrap();
        let key = MediaKey::from_bytes([8; 32]);
        let (blob, digests) = cipher::encrypt(&key.expand(MediaKind::Document), &plain);
        // Within the budget (one pass into memory), and streamed (two passes).
        for budget in [u64::MAX, 200_003, 200_002, 0] {
            let host = FakeHost {
                sent: Sent::default(),
                on_dial: || {},
            };
            let done = upload(&host, &path, &key, budget).unwrap();
            assert_eq!(done.digests, digests, "budget {budget}");
            assert_eq!(done.direct_path, "/m/1");
            let sent = host.sent.lock().unwrap();
            assert_eq!(sent.len(), 1, "one connection, budget {budget}");
            assert_eq!(body(&sent[0]), blob, "budget {budget}");
        }
    }

    /// A media host in memory that answers every GET with `blob`.
    struct BlobHost(Vec<u8>);

    impl MediaDial for BlobHost {
        type Stream = FakeStream;

        fn dial(&self, _: &Endpoint) -> impl Future<Output = Result<FakeStream, DialError>> + Send {
            let mut answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                self.0.len()
            )
            .into_bytes();
            answer.extend_from_slice(&self.0);
            let stream = FakeStream {
                sent: Arc::new(Mutex::new(vec![Vec::new()])),
                index: 0,
                answer: Cursor::new(answer),
            };
            async move { Ok(stream) }
        }

        fn sleep(&self, _: Duration) -> impl Future<Output = ()> + Send {
            futures_util::future::pending()
        }
    }

    #[test]
    fn downloads_verify_with_the_digests_inline_or_on_their_thread() {
        let dir = tempfile::tempdir().unwrap();
        // Below and above the size from which the ciphertext's digests get a thread.
        for size in [
            70_001usize,
            3 * crate::media_verify::THREAD_FROM as usize + 5,
        ] {
            let plain: Vec<u8> = (0..size).map(|i| (i * 11 % 249) as u8).collect();
            let key = MediaKey::from_bytes([4; 32]);
            let (blob, digests) = cipher::encrypt(&key.expand(MediaKind::Document), &plain);
            let upload = Upload {
                kind: MediaKind::Document,
                media_key: key,
                digests,
                url: None,
                direct_path: "/m/1".into(),
                uploaded_at: 1,
            };
            let message = tether_core::media::media_message(&upload, &Default::default(), 1);
            let media = MediaRef::of(&message).unwrap();
            let hosts = ["host.test:443".to_owned()];
            let got = block_on(download_bytes(
                &BlobHost(blob.clone()),
                &media,
                &hosts,
                1 << 30,
            ));
            assert!(got.unwrap() == plain, "size {size}");
            // One flipped byte anywhere: refused, and no file is left at the path.
            for at in [5, blob.len() / 2, blob.len() - 1] {
                let mut corrupted = blob.clone();
                corrupted[at] ^= 1;
                let path = dir.path().join("file.bin");
                let got = block_on(download_to_path(
                    &BlobHost(corrupted),
                    &media,
                    &hosts,
                    1 << 30,
                    &path,
                ));
                assert!(
                    matches!(got, Err(MediaError::Integrity(_))),
                    "size {size}, byte {at}: {got:?}"
                );
                assert!(!path.exists() && !dir.path().join("file.bin.part").exists());
            }
        }
    }

    #[test]
    fn an_encrypted_upload_sends_the_same_blob_again_without_reading_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.bin");
        let plain = vec![3u8; 40_000];
        std::fs::write(&path, &plain).unwrap();
        let key = MediaKey::from_bytes([8; 32]);
        let limits = UploadLimits {
            limit: 1 << 20,
            budget: 1 << 20,
        };
        let encrypted =
            Encrypted::new(MediaKind::Image, Plain::File(&path), key.clone(), limits).unwrap();
        // The file changes after the encryption: a second send must not read it again.
        std::fs::write(&path, vec![4u8; 40_000]).unwrap();
        // Sent twice, as after a 401/403 with a refreshed media_conn.
        let host = FakeHost {
            sent: Sent::default(),
            on_dial: || {},
        };
        let (blob, _) = cipher::encrypt(&key.expand(MediaKind::Image), &plain);
        block_on(encrypted.send(&host, &conn(), 0)).unwrap();
        block_on(encrypted.send(&host, &conn(), 0)).unwrap();
        let sent = host.sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        assert!(body(&sent[0]) == blob.as_slice() && body(&sent[1]) == blob.as_slice());
    }

    #[test]
    fn a_file_that_grew_past_its_measured_size_is_not_read_into_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.bin");
        std::fs::write(&path, vec![5u8; 10_001]).unwrap();
        let keys = MediaKey::from_bytes([9; 32]).expand(MediaKind::Document);
        // Measured at 10,000 bytes (the budget), 10,001 by the time it is read.
        match encrypt_plain(&Plain::File(&path), &keys, 10_000, 10_000) {
            Err(MediaError::Io { detail, .. }) => assert!(detail.contains("changed"), "{detail}"),
            Err(other) => panic!("a grown file must fail, got {other:?}"),
            Ok(_) => panic!("a grown file must fail"),
        }
        // As measured, it is encrypted whole.
        let (blob, digests) = encrypt_plain(&Plain::File(&path), &keys, 10_001, 10_001).unwrap();
        let expected = cipher::encrypt(&keys, &[5u8; 10_001]);
        assert!(matches!(blob, Blob::Whole(bytes) if bytes == expected.0));
        assert_eq!(digests, expected.1);
    }

    #[test]
    fn a_file_changed_between_the_passes_fails_the_upload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.bin");
        let plain = vec![5u8; 150_000];
        let key = MediaKey::from_bytes([9; 32]);
        let (blob, _) = cipher::encrypt(&key.expand(MediaKind::Document), &plain);
        let change = || {
            let mut changed = plain.clone();
            changed[100_000] ^= 1;
            std::fs::write(&path, changed).unwrap();
        };
        // Streamed: the second pass reads the changed file, and the upload fails.
        std::fs::write(&path, &plain).unwrap();
        let host = FakeHost {
            sent: Sent::default(),
            on_dial: change,
        };
        match upload(&host, &path, &key, 0) {
            Err(MediaError::Io { detail, .. }) => assert!(detail.contains("changed"), "{detail}"),
            other => panic!("a changed file must fail the upload, got {other:?}"),
        }
        // Within the budget the file was read once, before the dial: what was read is sent.
        std::fs::write(&path, &plain).unwrap();
        let host = FakeHost {
            sent: Sent::default(),
            on_dial: change,
        };
        upload(&host, &path, &key, u64::MAX).unwrap();
        assert_eq!(body(&host.sent.lock().unwrap()[0]), blob);
    }
}
