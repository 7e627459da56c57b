//! HTTP/1.1 for media, sans-IO: [`Request`] builds the bytes of a request head (the adapter
//! writes them and then streams the body), [`ResponseReader`] turns the bytes the adapter reads
//! back into a [`ResponseHead`] and the decoded body. Heads and chunk sizes are parsed with
//! `httparse`; every length is bounded before anything is buffered.
//!
//! ```text
//!  Request::head() ──▶ adapter writes head, then the body (Content-Length bytes)
//!  bytes read ──▶ ResponseReader::feed ─┬─ Head: httparse (1xx answers skipped)
//!                                        ├─ Body: Content-Length │ chunked │ until close
//!                                        └─ Done (complete) ── or eof(): Truncated / Done
//! ```
//!
//! One request per connection (`Connection: close`): no pipelining, no keep-alive state.

use std::fmt;

use thiserror::Error;

use crate::endpoint::{Endpoint, WEB_ORIGIN};

/// Largest response head accepted (bytes, the empty line included).
pub const MAX_HEAD: usize = 16 * 1024;

/// Headers read from a response at most.
const MAX_HEADERS: usize = 64;

/// Largest chunk-size line or trailer section accepted (bytes).
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// A desktop browser's user agent, as WhatsApp Web sends.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// The request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A download.
    Get,
    /// An upload.
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// One request: where to, and its head; a `POST` body of `body_length` bytes follows the head.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// Scheme, host, port, path and query.
    pub target: Endpoint,
    /// The body's length (`POST`).
    pub body_length: Option<u64>,
    /// A `Range` to ask for (`bytes=<from>-`), to resume a download.
    pub range_from: Option<u64>,
}

impl Request {
    /// A `GET` of `target`.
    pub fn get(target: Endpoint) -> Self {
        Self {
            method: Method::Get,
            target,
            body_length: None,
            range_from: None,
        }
    }

    /// A `POST` of `body_length` bytes to `target`.
    pub fn post(target: Endpoint, body_length: u64) -> Self {
        Self {
            method: Method::Post,
            target,
            body_length: Some(body_length),
            range_from: None,
        }
    }

    /// The request line and headers, ending with the empty line: WhatsApp Web's `Origin` and
    /// `Referer`, no compression, one request per connection.
    pub fn head(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nOrigin: {WEB_ORIGIN}\r\nReferer: {WEB_ORIGIN}/\r\n\
             User-Agent: {USER_AGENT}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n",
            self.method.as_str(),
            self.target.path,
            self.target.host_header(),
        );
        if let Some(length) = self.body_length {
            head.push_str(&format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n"
            ));
        }
        if let Some(from) = self.range_from {
            head.push_str(&format!("Range: bytes={from}-\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        head.into_bytes()
    }
}

impl fmt::Debug for Request {
    /// The path's query carries tokens: only the method, host and path are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.target.path.split('?').next().unwrap_or_default();
        write!(
            f,
            "{} https://{}{path}",
            self.method.as_str(),
            self.target.authority()
        )
    }
}

/// Why a response could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The head is longer than [`MAX_HEAD`].
    #[error("the response head is longer than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// Not an HTTP/1.x response, or a malformed header.
    #[error("the answer is not a well-formed HTTP/1.1 response: {0}")]
    Malformed(String),
    /// The body is longer than the limit.
    #[error("the response body is longer than the {0} bytes allowed")]
    BodyTooLarge(u64),
    /// The connection ended before the body was complete.
    #[error("the connection closed after {got} bytes of the response body{}", expected.map(|e| format!(" of {e}")).unwrap_or_default())]
    Truncated {
        /// The announced length, when known.
        expected: Option<u64>,
        /// Body bytes received.
        got: u64,
    },
}

/// A response's status line and headers.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for ResponseHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.reason)
    }
}

impl ResponseHead {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Location` of a redirect.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// `Retry-After` in seconds, when given as a number.
    pub fn retry_after(&self) -> Option<u64> {
        self.header("retry-after")?.trim().parse().ok()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the status is a redirect that names a new location.
    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308) && self.location().is_some()
    }
}

/// How the body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// `Content-Length`: this many bytes remain.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunk),
    /// Until the server closes.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Head,
    Body(Body),
    Done,
}

/// Reads one response (see the module docs).
#[derive(Debug)]
pub struct ResponseReader {
    phase: Phase,
    buf: Vec<u8>,
    head: Option<ResponseHead>,
    max_body: u64,
    body_read: u64,
    no_body: bool,
}

impl ResponseReader {
    /// A reader whose body may be at most `max_body` bytes (`HEAD`-like answers: none).
    pub fn new(max_body: u64) -> Self {
        Self {
            phase: Phase::Head,
            buf: Vec::new(),
            head: None,
            max_body,
            body_read: 0,
            no_body: false,
        }
    }

    /// The head, once read.
    pub fn head(&self) -> Option<&ResponseHead> {
        self.head.as_ref()
    }

    /// Whether the whole response was read.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Body bytes decoded so far.
    pub fn body_read(&self) -> u64 {
        self.body_read
    }

    /// The body's announced length (`Content-Length`), once the head is read.
    pub fn content_length(&self) -> Option<u64> {
        match &self.phase {
            Phase::Body(Body::Length(left)) => Some(self.body_read + left),
            Phase::Done if !self.no_body => Some(self.body_read),
            _ => None,
        }
    }

    /// Feeds bytes read from the connection; decoded body bytes are appended to `body`.
    /// Returns `true` once the response is complete (bytes after it are ignored).
    pub fn feed(&mut self, mut data: &[u8], body: &mut Vec<u8>) -> Result<bool, HttpError> {
        loop {
            match self.phase.clone() {
                Phase::Done => return Ok(true),
                Phase::Head => {
                    // The head must end within its first MAX_HEAD bytes: never buffer more,
                    // so the verdict does not depend on how the bytes were cut.
                    let room = MAX_HEAD.saturating_sub(self.buf.len()).min(data.len());
                    let (now, later) = data.split_at(room);
                    self.buf.extend_from_slice(now);
                    data = later;
                    match self.parse_head()? {
                        Some(used) => {
                            let rest = self.buf.split_off(used);
                            self.buf.clear();
                            if self.phase == Phase::Head {
                                // A 1xx answer: the real one follows.
                                self.buf = rest;
                                continue;
                            }
                            // The bytes after the head go through the body decoder first.
                            let done = self.feed_body(&rest, body)?;
                            if done || data.is_empty() {
                                return Ok(self.phase == Phase::Done);
                            }
                        }
                        None if self.buf.len() >= MAX_HEAD => return Err(HttpError::HeadTooLarge),
                        None if data.is_empty() => return Ok(false),
                        None => {}
                    }
                }
                Phase::Body(_) => {
                    self.feed_body(data, body)?;
                    return Ok(self.phase == Phase::Done);
                }
            }
        }
    }

    /// The server closed the connection: fine for a body delimited by the close, or after a
    /// complete response; otherwise the response was cut short.
    pub fn eof(&mut self) -> Result<(), HttpError> {
        match &self.phase {
            Phase::Done => Ok(()),
            Phase::Body(Body::Close) => {
                self.phase = Phase::Done;
                Ok(())
            }
            Phase::Body(Body::Length(left)) => Err(HttpError::Truncated {
                expected: Some(self.body_read + left),
                got: self.body_read,
            }),
            Phase::Body(Body::Chunked(_)) => Err(HttpError::Truncated {
                expected: None,
                got: self.body_read,
            }),
            Phase::Head => Err(HttpError::Malformed(if self.buf.is_empty() {
                "the server closed the connection without answering".to_owned()
            } else {
                "the server closed the connection in the middle of the response head".to_owned()
            })),
        }
    }

    /// Parses the head in `buf`: `Some(bytes used)` when complete.
    fn parse_head(&mut self) -> Result<Option<usize>, HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(&self.buf) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        };
        let status = response.code.unwrap_or(0);
        if (100..200).contains(&status) {
            return Ok(Some(used));
        }
        let head = ResponseHead {
            status,
            reason: response.reason.unwrap_or_default().to_owned(),
            headers: response
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).trim().to_owned(),
                    )
                })
                .collect(),
        };
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = match head.header("content-length") {
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| HttpError::Malformed(format!("content-length {v:?}")))?,
            ),
            None => None,
        };
        self.no_body = matches!(status, 204 | 304);
        self.phase = if self.no_body {
            Phase::Done
        } else if chunked {
            Phase::Body(Body::Chunked(Chunk::Size))
        } else if let Some(length) = length {
            if length > self.max_body {
                return Err(HttpError::BodyTooLarge(self.max_body));
            }
            if length == 0 {
                Phase::Done
            } else {
                Phase::Body(Body::Length(length))
            }
        } else {
            Phase::Body(Body::Close)
        };
        self.head = Some(head);
        Ok(Some(used))
    }

    fn take_body(&mut self, bytes: &[u8], body: &mut Vec<u8>) -> Result<(), HttpError> {
        self.body_read += bytes.len() as u64;
        if self.body_read > self.max_body {
            return Err(HttpError::BodyTooLarge(self.max_body));
        }
        body.extend_from_slice(bytes);
        Ok(())
    }

    /// Decodes body bytes; `true` once the body is complete.
    fn feed_body(&mut self, data: &[u8], body: &mut Vec<u8>) -> Result<bool, HttpError> {
        let Phase::Body(kind) = self.phase.clone() else {
            return Ok(true);
        };
        match kind {
            Body::Close => self.take_body(data, body)?,
            Body::Length(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                self.take_body(data.get(..take).unwrap_or_default(), body)?;
                let left = left - take as u64;
                self.phase = if left == 0 {
                    Phase::Done
                } else {
                    Phase::Body(Body::Length(left))
                };
            }
            Body::Chunked(state) => self.feed_chunked(state, data, body)?,
        }
        Ok(self.phase == Phase::Done)
    }

    /// The chunked decoder: incomplete line-oriented parts (sizes, the CRLF after a chunk,
    /// trailers) wait in `buf`, bounded by [`MAX_CHUNK_LINE`]; chunk data is copied out as it
    /// comes.
    fn feed_chunked(
        &mut self,
        mut state: Chunk,
        data: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<(), HttpError> {
        self.buf.extend_from_slice(data);
        let buf = std::mem::take(&mut self.buf);
        let mut pos = 0;
        let mut done = false;
        while !done {
            let rest = buf.get(pos..).unwrap_or_default();
            match state {
                Chunk::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, _))) if used > MAX_CHUNK_LINE => {
                        return Err(HttpError::Malformed("a chunk-size line is too long".into()));
                    }
                    Ok(httparse::Status::Complete((used, 0))) => {
                        pos += used;
                        state = Chunk::Trailer;
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        if self.body_read.saturating_add(size) > self.max_body {
                            return Err(HttpError::BodyTooLarge(self.max_body));
                        }
                        pos += used;
                        state = Chunk::Data(size);
                    }
                    Ok(httparse::Status::Partial) if rest.len() > MAX_CHUNK_LINE => {
                        return Err(HttpError::Malformed("a chunk-size line is too long".into()));
                    }
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => return Err(HttpError::Malformed("bad chunk size".into())),
                },
                Chunk::Data(left) => {
                    if rest.is_empty() {
                        break;
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    self.take_body(rest.get(..take).unwrap_or_default(), body)?;
                    pos += take;
                    let left = left - take as u64;
                    state = if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    };
                }
                Chunk::DataEnd => {
                    if rest.len() < 2 {
                        break;
                    }
                    if !rest.starts_with(b"\r\n") {
                        return Err(HttpError::Malformed(
                            "a chunk is longer than its size".into(),
                        ));
                    }
                    pos += 2;
                    state = Chunk::Size;
                }
                Chunk::Trailer => {
                    if rest.starts_with(b"\r\n") {
                        pos += 2;
                        done = true;
                    } else if let Some(end) = find(rest, b"\r\n\r\n")
                        && end + 4 <= MAX_CHUNK_LINE
                    {
                        pos += end + 4;
                        done = true;
                    } else if rest.len() > MAX_CHUNK_LINE {
                        return Err(HttpError::Malformed("the trailer is too long".into()));
                    } else {
                        break;
                    }
                }
            }
        }
        if done {
            self.phase = Phase::Done;
        } else {
            self.phase = Phase::Body(Body::Chunked(state));
            self.buf = buf.get(pos..).unwrap_or_default().to_vec();
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(raw: &[u8], step: usize) -> Result<(ResponseHead, Vec<u8>, bool), HttpError> {
        let mut reader = ResponseReader::new(1 << 20);
        let mut body = Vec::new();
        let mut done = false;
        for chunk in raw.chunks(step.max(1)) {
            done = reader.feed(chunk, &mut body)?;
        }
        if !done {
            reader.eof()?;
        }
        Ok((reader.head().cloned().unwrap(), body, done))
    }

    #[test]
    fn request_heads_carry_origin_length_and_no_token_in_debug() {
        let target =
            Endpoint::parse("https://127.0.0.1:8443/mms/image/TOKEN?auth=SECRET&token=TOKEN")
                .unwrap();
        let request = Request::post(target, 58);
        let head = String::from_utf8(request.head()).unwrap();
        assert!(head.starts_with("POST /mms/image/TOKEN?auth=SECRET&token=TOKEN HTTP/1.1\r\n"));
        assert!(head.contains("\r\nHost: 127.0.0.1:8443\r\n"));
        assert!(head.contains("\r\nOrigin: https://web.whatsapp.com\r\n"));
        assert!(head.contains("\r\nContent-Length: 58\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
        let shown = format!("{request:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn length_chunked_and_close_bodies_at_any_split() {
        let cases: [(&[u8], &[u8]); 4] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", b"hello"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nX-T: 1\r\n\r\n",
                b"hello",
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nhello", b"hello"),
            (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        ];
        for (raw, want) in cases {
            for step in [1, 2, 3, 7, 1000] {
                let (head, body, _) = read_all(raw, step).unwrap();
                assert!(head.is_success());
                assert_eq!(body, want, "{} step {step}", String::from_utf8_lossy(raw));
            }
        }
    }

    #[test]
    fn bad_answers_are_typed_errors() {
        assert!(matches!(
            read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 4),
            Err(HttpError::Truncated {
                expected: Some(9),
                got: 5
            })
        ));
        assert!(matches!(
            read_all(b"SSH-2.0-OpenSSH\r\n\r\n", 4),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            read_all(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 4),
            Err(HttpError::Malformed(_))
        ));
        let mut reader = ResponseReader::new(4);
        assert_eq!(
            reader.feed(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                &mut Vec::new()
            ),
            Err(HttpError::BodyTooLarge(4))
        );
        let mut reader = ResponseReader::new(4);
        assert_eq!(
            reader.feed(b"HTTP/1.1 200 OK\r\n\r\nhello", &mut Vec::new()),
            Err(HttpError::BodyTooLarge(4))
        );
        let mut reader = ResponseReader::new(1 << 20);
        // A head that never ends: a well-formed header line that goes on and on.
        let mut endless = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
        endless.resize(MAX_HEAD * 2, b'a');
        assert_eq!(
            reader.feed(&endless, &mut Vec::new()),
            Err(HttpError::HeadTooLarge)
        );
        // Bytes that are not HTTP at all are refused at once.
        let mut reader = ResponseReader::new(1 << 20);
        assert!(matches!(
            reader.feed(&[b'a'; 64], &mut Vec::new()),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            read_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhelXX",
                3
            ),
            Err(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn the_head_limit_is_exact_however_the_bytes_are_cut() {
        let head = |len: usize| {
            let mut h = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
            h.resize(len - 4, b'a');
            h.extend_from_slice(b"\r\n\r\nbody");
            h
        };
        for step in [1, 7, 4096, MAX_HEAD * 2] {
            let (_, body, _) = read_all(&head(MAX_HEAD), step).unwrap();
            assert_eq!(body, b"body", "step {step}");
            assert_eq!(
                read_all(&head(MAX_HEAD + 1), step).map(|_| ()),
                Err(HttpError::HeadTooLarge),
                "step {step}"
            );
        }
    }

    #[test]
    fn redirects_and_retry_after_are_read() {
        let (head, _, _) =
            read_all(b"HTTP/1.1 302 Found\r\nLocation: https://x/y\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n", 5)
                .unwrap();
        assert!(head.is_redirect());
        assert_eq!(head.location(), Some("https://x/y"));
        assert_eq!(head.retry_after(), Some(3));
    }
}
