//! The loopback media host: HTTPS with the server's [`TestCa`](super::TestCa) on its own port,
//! named by every `media_conn` answer (`127.0.0.1:PORT`), carrying uploads and downloads to the
//! fake server's [`MediaStore`](crate::server::MediaStore) (token checks, signed paths,
//! expiry, 401/403/404/410). One request per connection, like the real hosts with
//! `Connection: close`.
//!
//! ```text
//! accept ─▶ TLS ─▶ head (≤ 16 KiB, httparse) ─┬─ POST: Content-Length ≤ MAX_BLOB, body read
//!                                              │        exactly, or chunked (Node's streamed
//!                                              │        uploads: Baileys) ≤ MAX_BLOB in all
//!                                              │        ─▶ MediaStore::upload ─▶ JSON
//!                                              ├─ GET ─▶ MediaStore::download ─▶ the blob
//!                                              └─ else 405
//! ```
//!
//! A download can be held (a slow host, deterministically): [`MediaHold`] keeps the next `n`
//! GETs waiting before they are answered until the test releases them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::hub::Inner;
use crate::server::MAX_BLOB;

/// The largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Headers parsed at most.
const MAX_HEADERS: usize = 32;

/// Serves media until `stop` turns `true`.
pub(super) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // An answer's last bytes go out at once rather than after the client's
                // delayed acknowledgement of the head (Nagle), as the WebSocket does.
                let _ = stream.set_nodelay(true);
                let (acceptor, inner) = (acceptor.clone(), Arc::clone(&inner));
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => answer(tls, &inner).await,
                        Err(error) => tracing::info!(%error, "sim media: TLS handshake failed"),
                    }
                });
            }
            _ = stop.changed() => return,
        }
    }
}

/// Downloads held before they are answered: the next `armed` GETs wait until released.
#[derive(Debug)]
pub(super) struct MediaHold {
    /// How many of the next downloads to hold.
    armed: AtomicUsize,
    /// How many are waiting now.
    held: AtomicUsize,
    /// Bumped to let every waiting download go.
    release: watch::Sender<u64>,
}

impl Default for MediaHold {
    fn default() -> Self {
        Self {
            armed: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            release: watch::channel(0).0,
        }
    }
}

impl MediaHold {
    /// Holds the next `n` downloads.
    pub(super) fn arm(&self, n: usize) {
        self.armed.store(n, Ordering::SeqCst);
    }

    /// Downloads waiting now.
    pub(super) fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Lets every waiting download go and holds no more.
    pub(super) fn release(&self) {
        self.armed.store(0, Ordering::SeqCst);
        self.release.send_modify(|generation| *generation += 1);
    }

    /// Waits here while this download is one of the held ones.
    async fn wait_if_held(&self) {
        let took = self
            .armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if took.is_err() {
            return;
        }
        let mut released = self.release.subscribe();
        self.held.fetch_add(1, Ordering::SeqCst);
        let _ = released.changed().await;
        self.held.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A parsed request head and the body bytes read past it.
struct Head {
    method: String,
    target: String,
    content_length: Option<u64>,
    /// `Transfer-Encoding: chunked` (a body of unknown length, in chunks).
    chunked: bool,
    rest: Vec<u8>,
}

/// Reads the head: `None` when the peer closed, sent more than [`MAX_HEAD`] or no HTTP.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Head> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf).ok()? {
            httparse::Status::Complete(len) => {
                let content_length = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse().ok());
                let chunked = request.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("transfer-encoding")
                        && std::str::from_utf8(h.value)
                            .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
                });
                return Some(Head {
                    method: request.method?.to_owned(),
                    target: request.path?.to_owned(),
                    content_length,
                    chunked,
                    rest: buf.get(len..)?.to_vec(),
                });
            }
            httparse::Status::Partial if buf.len() > MAX_HEAD => return None,
            httparse::Status::Partial => {}
        }
    }
}

/// Answers one request.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, inner: &Inner) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let upload = |body: Bytes| {
        inner
            .with_hub(|hub, now| {
                let unix = hub.server.unix_at(now);
                hub.server.media().upload(&head.target, body, unix)
            })
            .map(|json| (Bytes::from(json), "application/json"))
            .map_err(|refused| refused.0)
    };
    let reply = match head.method.as_str() {
        "POST" if head.chunked => read_chunked(&mut stream, head.rest).await.and_then(upload),
        "POST" => match head.content_length {
            None => Err(411),
            Some(length) if length > MAX_BLOB => Err(413),
            Some(length) => match read_body(&mut stream, head.rest, length).await {
                None => return,
                Some(body) => upload(body),
            },
        },
        "GET" => {
            inner.media_hold.wait_if_held().await;
            inner
                .with_hub(|hub, now| {
                    let unix = hub.server.unix_at(now);
                    hub.server.media().download(&head.target, unix)
                })
                .map(|blob| (blob, "application/octet-stream"))
                .map_err(|refused| refused.0)
        }
        _ => Err(405),
    };
    let (status, body, kind) = match reply {
        Ok((body, kind)) => (200, body, kind),
        Err(status) => (status, Bytes::new(), "text/plain"),
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// The body: `length` bytes, `rest` of them already read. `None` if the peer stops short.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    rest: Vec<u8>,
    length: u64,
) -> Option<Bytes> {
    let length = usize::try_from(length).ok()?;
    let mut body = rest;
    if body.len() > length {
        body.truncate(length);
    }
    body.reserve(length - body.len());
    let mut chunk = vec![0u8; 64 * 1024];
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        let n = stream.read(chunk.get_mut(..want)?).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(chunk.get(..n)?);
    }
    Some(Bytes::from(body))
}

/// A chunked body (RFC 9112 §7.1), `rest` of it already read: at most [`MAX_BLOB`] bytes of
/// data (413 past that), 400 for a malformed chunk line or framing or a peer that stops short.
/// Trailer fields are read and ignored.
async fn read_chunked<S: AsyncRead + Unpin>(stream: &mut S, rest: Vec<u8>) -> Result<Bytes, u16> {
    let mut input = rest;
    let mut body = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        let (consumed, size) = loop {
            match httparse::parse_chunk_size(&input) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) if input.len() <= MAX_HEAD => {
                    read_more(stream, &mut input, &mut scratch).await?;
                }
                Ok(httparse::Status::Partial) | Err(_) => return Err(400),
            }
        };
        input.drain(..consumed);
        if size == 0 {
            // The last chunk: optional trailer fields, then an empty line.
            while !(input.starts_with(b"\r\n") || input.windows(4).any(|w| w == b"\r\n\r\n")) {
                if input.len() > MAX_HEAD {
                    return Err(400);
                }
                read_more(stream, &mut input, &mut scratch).await?;
            }
            return Ok(Bytes::from(body));
        }
        if (body.len() as u64).saturating_add(size) > MAX_BLOB {
            return Err(413);
        }
        let size = usize::try_from(size).map_err(|_| 413u16)?;
        while input.len() < size + 2 {
            read_more(stream, &mut input, &mut scratch).await?;
        }
        if input.get(size..size + 2) != Some(b"\r\n".as_slice()) {
            return Err(400);
        }
        body.extend_from_slice(input.get(..size).ok_or(400u16)?);
        input.drain(..size + 2);
    }
}

/// Appends what the peer sends next to `input`; 400 when it closed or failed.
async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    input: &mut Vec<u8>,
    scratch: &mut [u8],
) -> Result<(), u16> {
    match stream.read(scratch).await {
        Ok(n) if n > 0 => {
            input.extend_from_slice(scratch.get(..n).ok_or(400u16)?);
            Ok(())
        }
        _ => Err(400),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn chunked(rest: &[u8], stream: &[u8]) -> Result<Bytes, u16> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut stream = stream;
        runtime.block_on(read_chunked(&mut stream, rest.to_vec()))
    }

    #[test]
    fn chunked_bodies_are_joined_split_anywhere_and_bad_framing_is_refused() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for split in 0..wire.len() {
            let (rest, stream) = wire.split_at(split);
            assert_eq!(
                chunked(rest, stream).unwrap(),
                &b"hello, world"[..],
                "split at {split}"
            );
        }
        assert_eq!(chunked(b"0\r\n\r\n", b"").unwrap(), &b""[..]);
        // Stops short, a bad size line, data longer than its size, more than MAX_BLOB.
        assert_eq!(chunked(b"5\r\nhel", b""), Err(400));
        assert_eq!(chunked(b"zz\r\n", b""), Err(400));
        assert_eq!(chunked(b"2\r\nhello\r\n0\r\n\r\n", b""), Err(400));
        let huge = format!("{:x}\r\n", MAX_BLOB + 1);
        assert_eq!(chunked(huge.as_bytes(), b""), Err(413));
    }
}
