//! One upload as a sans-IO exchange ([`Uploading`]), the upload's answer and what a finished
//! upload is (`media.md` §2.4).
//!
//! A media host answers `200 application/json` with `{"url", "direct_path", …}`; Baileys
//! 6.17.16 accepts `url` alone or a camelCase `directPath`, so both spellings are read. An
//! [`Upload`] is what a media message needs from it, kept durably (keyed by kind and
//! `fileSha256`) so that sending the same file again — after a crash between the upload and
//! the send, for one — does not upload it twice.

use std::fmt;

use bytes::Bytes;
use prost::Message as _;
use serde::Deserialize;

use super::cipher::Digests;
use super::conn::MediaConn;
use super::error::{MediaConnError, MediaError};
use super::http::{Request, ResponseReader};
use super::keys::MediaKey;
use super::kind::MediaKind;
use super::urls::upload_request;

/// Largest upload answer read (bytes).
pub const MAX_ANSWER: u64 = 64 * 1024;

/// What a media host said about a finished upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadAnswer {
    /// The CDN URL (`url`).
    pub url: Option<String>,
    /// The signed path (`direct_path` / `directPath`).
    pub direct_path: String,
}

#[derive(Deserialize)]
struct RawAnswer {
    url: Option<String>,
    direct_path: Option<String>,
    #[serde(rename = "directPath")]
    direct_path_camel: Option<String>,
}

/// Reads an upload answer: `status` and the body. `host` names the host in errors.
pub fn parse_answer(host: &str, status: u16, body: &[u8]) -> Result<UploadAnswer, MediaError> {
    if !(200..300).contains(&status) {
        return Err(MediaError::Status {
            host: host.to_owned(),
            status,
        });
    }
    let unusable = |reason: &str| MediaError::UploadAnswer {
        host: host.to_owned(),
        reason: reason.to_owned(),
    };
    let raw: RawAnswer = serde_json::from_slice(body)
        .map_err(|e| unusable(&format!("not the expected JSON ({e})")))?;
    let url = raw.url.filter(|u| !u.is_empty());
    let direct_path = match raw.direct_path.or(raw.direct_path_camel) {
        Some(p) if p.starts_with('/') => p,
        Some(_) => return Err(unusable("its direct path is not a path")),
        // Only a URL: its path and query are the direct path.
        None => match url.as_deref().and_then(path_of_url) {
            Some(p) => p.to_owned(),
            None => return Err(unusable("it has neither a url nor a direct_path")),
        },
    };
    Ok(UploadAnswer { url, direct_path })
}

fn path_of_url(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    rest.find('/').and_then(|i| rest.get(i..))
}

/// A finished upload: everything a media message needs from it (secret: the key).
#[derive(Clone, PartialEq, Eq)]
pub struct Upload {
    /// The kind it was encrypted and uploaded as.
    pub kind: MediaKind,
    /// The media key.
    pub media_key: MediaKey,
    /// The hashes and the plaintext length.
    pub digests: Digests,
    /// The CDN URL, when the host gave one.
    pub url: Option<String>,
    /// The signed path.
    pub direct_path: String,
    /// When it was uploaded (Unix seconds).
    pub uploaded_at: u64,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("kind", &self.kind)
            .field("file_length", &self.digests.file_length)
            .field("file_sha256", &hex::encode(self.digests.file_sha256))
            .field("uploaded_at", &self.uploaded_at)
            .finish_non_exhaustive()
    }
}

/// The stored form of an [`Upload`].
#[derive(Clone, PartialEq, prost::Message)]
struct UploadRow {
    #[prost(string, optional, tag = "1")]
    kind: Option<String>,
    #[prost(bytes = "bytes", optional, tag = "2")]
    media_key: Option<Bytes>,
    #[prost(bytes = "bytes", optional, tag = "3")]
    file_sha256: Option<Bytes>,
    #[prost(bytes = "bytes", optional, tag = "4")]
    file_enc_sha256: Option<Bytes>,
    #[prost(uint64, optional, tag = "5")]
    file_length: Option<u64>,
    #[prost(string, optional, tag = "6")]
    url: Option<String>,
    #[prost(string, optional, tag = "7")]
    direct_path: Option<String>,
    #[prost(uint64, optional, tag = "8")]
    uploaded_at: Option<u64>,
}

impl Upload {
    /// The record key: `<kind>/<fileSha256 hex>`.
    pub fn key(kind: MediaKind, file_sha256: &[u8; 32]) -> Bytes {
        Bytes::from(format!("{}/{}", kind.name(), hex::encode(file_sha256)))
    }

    /// This upload's record key.
    pub fn record_key(&self) -> Bytes {
        Self::key(self.kind, &self.digests.file_sha256)
    }

    /// The stored bytes.
    pub fn encode(&self) -> Bytes {
        Bytes::from(
            UploadRow {
                kind: Some(self.kind.name().to_owned()),
                media_key: Some(Bytes::copy_from_slice(self.media_key.as_bytes())),
                file_sha256: Some(Bytes::copy_from_slice(&self.digests.file_sha256)),
                file_enc_sha256: Some(Bytes::copy_from_slice(&self.digests.file_enc_sha256)),
                file_length: Some(self.digests.file_length),
                url: self.url.clone(),
                direct_path: Some(self.direct_path.clone()),
                uploaded_at: Some(self.uploaded_at),
            }
            .encode_to_vec(),
        )
    }

    /// Reads stored bytes (`None` when damaged).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let row = UploadRow::decode(bytes).ok()?;
        Some(Self {
            kind: MediaKind::from_name(row.kind.as_deref()?)?,
            media_key: MediaKey::from_slice(&row.media_key?)?,
            digests: Digests {
                file_sha256: row.file_sha256?.as_ref().try_into().ok()?,
                file_enc_sha256: row.file_enc_sha256?.as_ref().try_into().ok()?,
                file_length: row.file_length?,
            },
            url: row.url,
            direct_path: row.direct_path?,
            uploaded_at: row.uploaded_at?,
        })
    }
}

/// One upload as a sans-IO exchange: the blob (already encrypted, its [`Digests`] known —
/// the token in the URL is its hash, so an adapter encrypts to a staging file first and then
/// streams that) is offered to each `media_conn` host in order until one accepts it.
///
/// ```text
/// Uploading::new ── kind uploadable, size within the limit and the hosts' maxContentLength
///   loop: next_attempt() ─▶ None: finish() = the most telling error
///         UploadAttempt: adapter writes request().head(), then the blob (enc_length bytes),
///            feeds the answer: feed(bytes) … eof() ─▶ UploadAnswer ─▶ complete() = Upload
///         Err(e) ─▶ failed(e): the next host
/// ```
#[derive(Debug)]
pub struct Uploading {
    kind: MediaKind,
    media_key: MediaKey,
    digests: Digests,
    requests: Vec<Request>,
    next: usize,
    errors: Vec<MediaError>,
}

impl Uploading {
    /// The upload of a blob of `kind` encrypted with `media_key` (its `digests`), to the
    /// hosts of `conn`; files over `limit` bytes are refused before anything is sent.
    pub fn new(
        kind: MediaKind,
        media_key: MediaKey,
        digests: Digests,
        conn: &MediaConn,
        limit: u64,
    ) -> Result<Self, MediaError> {
        if kind.mms_type().is_none() {
            return Err(MediaError::NotUploadable(kind));
        }
        let size = digests.file_length;
        if size > limit {
            return Err(MediaError::TooLarge { kind, size, limit });
        }
        let body = digests.enc_length();
        let mut requests = Vec::new();
        let mut host_limit = None;
        let mut last = None;
        for host in &conn.hosts {
            if let Some(max) = host.max_content_length
                && max < body
            {
                host_limit = Some(host_limit.map_or(max, |l: u64| l.max(max)));
                continue;
            }
            match upload_request(&host.hostname, kind, conn.auth(), &digests) {
                Ok(request) => requests.push(request),
                Err(e) => last = Some(e),
            }
        }
        if requests.is_empty() {
            return Err(match (host_limit, last) {
                (Some(limit), _) => MediaError::TooLarge { kind, size, limit },
                (None, Some(e)) => e,
                (None, None) => MediaError::MediaConn(MediaConnError::Malformed("no hosts".into())),
            });
        }
        Ok(Self {
            kind,
            media_key,
            digests,
            requests,
            next: 0,
            errors: Vec::new(),
        })
    }

    /// The hosts' requests, in the order they are tried.
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    /// The next host to try, or `None` when every one was tried (then [`finish`]).
    ///
    /// [`finish`]: Self::finish
    pub fn next_attempt(&mut self) -> Option<UploadAttempt> {
        let request = self.requests.get(self.next)?.clone();
        self.next += 1;
        Some(UploadAttempt {
            host: request.target.authority(),
            request,
            reader: ResponseReader::new(MAX_ANSWER),
            body: Vec::new(),
        })
    }

    /// Records why the last attempt failed; `true` when another host is left.
    pub fn failed(&mut self, error: MediaError) -> bool {
        self.errors.push(error);
        self.next < self.requests.len()
    }

    /// The verdict once no host is left: the last failure.
    pub fn finish(mut self) -> MediaError {
        self.errors
            .pop()
            .unwrap_or_else(|| MediaError::MediaConn(MediaConnError::Malformed("no hosts".into())))
    }

    /// The finished upload from an accepted answer (`unix`: now, Unix seconds): what the
    /// message is built from and what is kept durably before it is sent.
    pub fn complete(self, answer: UploadAnswer, unix: u64) -> Upload {
        Upload {
            kind: self.kind,
            media_key: self.media_key,
            digests: self.digests,
            url: answer.url,
            direct_path: answer.direct_path,
            uploaded_at: unix,
        }
    }
}

/// One host's upload: the adapter writes [`UploadAttempt::request`]'s head and then the blob,
/// feeds back what it reads and calls [`UploadAttempt::eof`] when the answer is complete or
/// the server closes.
#[derive(Debug)]
pub struct UploadAttempt {
    request: Request,
    host: String,
    reader: ResponseReader,
    body: Vec<u8>,
}

impl UploadAttempt {
    /// The request to send (its `body_length` is the blob's length).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// `host:port`, for errors and logs.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Feeds bytes read from the connection; `Ok(true)` once the whole answer was read. A
    /// server may answer before the blob is fully written (an early refusal): the adapter
    /// keeps reading while it writes.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, MediaError> {
        self.reader
            .feed(bytes, &mut self.body)
            .map_err(|error| MediaError::Http {
                host: self.host.clone(),
                error,
            })
    }

    /// The answer, once read (or the server closed): the direct path and URL, or why not.
    pub fn eof(mut self) -> Result<UploadAnswer, MediaError> {
        if !self.reader.is_done() {
            self.reader.eof().map_err(|error| MediaError::Http {
                host: self.host.clone(),
                error,
            })?;
        }
        let status = self.reader.head().map_or(0, |h| h.status);
        parse_answer(&self.host, status, &self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_both_spellings_and_url_only() {
        let a = parse_answer(
            "h",
            200,
            br#"{"url":"https://h/x.enc","direct_path":"/v/x.enc?oh=1"}"#,
        )
        .unwrap();
        assert_eq!(a.direct_path, "/v/x.enc?oh=1");
        let b = parse_answer("h", 200, br#"{"directPath":"/v/y"}"#).unwrap();
        assert_eq!(b.direct_path, "/v/y");
        assert_eq!(b.url, None);
        let c = parse_answer("h", 200, br#"{"url":"https://h:1/d/f/z.enc?a=b"}"#).unwrap();
        assert_eq!(c.direct_path, "/d/f/z.enc?a=b");
        assert!(matches!(
            parse_answer("h", 200, b"{}"),
            Err(MediaError::UploadAnswer { .. })
        ));
        assert!(matches!(
            parse_answer("h", 200, b"<html>"),
            Err(MediaError::UploadAnswer { .. })
        ));
        assert!(matches!(
            parse_answer("h", 403, b""),
            Err(MediaError::Status { status: 403, .. })
        ));
    }

    #[test]
    fn records_round_trip_and_hide_the_key() {
        let upload = Upload {
            kind: MediaKind::Document,
            media_key: MediaKey::from_bytes([9; 32]),
            digests: Digests {
                file_sha256: [1; 32],
                file_enc_sha256: [2; 32],
                file_length: 3,
            },
            url: Some("https://h/x".into()),
            direct_path: "/x".into(),
            uploaded_at: 1_800_000_000,
        };
        assert_eq!(Upload::decode(&upload.encode()), Some(upload.clone()));
        assert!(!format!("{upload:?}").contains("0909"));
        assert_eq!(
            upload.record_key(),
            Upload::key(MediaKind::Document, &[1; 32])
        );
        assert_eq!(Upload::decode(b"\x0a\x03bad"), None);
    }

    fn conn(hosts: &[(&str, Option<u64>)]) -> MediaConn {
        let hosts = hosts
            .iter()
            .map(|(name, max)| crate::media::MediaHost {
                hostname: (*name).into(),
                fallback: false,
                max_content_length: *max,
            })
            .collect();
        // Tests may read the clock; only lifetimes relative to it matter here.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::Instant::now();
        MediaConn::new("AUTH", std::time::Duration::from_secs(60), hosts, now)
    }

    fn digests(len: u64) -> Digests {
        Digests {
            file_sha256: [1; 32],
            file_enc_sha256: [2; 32],
            file_length: len,
        }
    }

    fn attempt(u: &mut Uploading, raw: &[u8]) -> Result<UploadAnswer, MediaError> {
        let mut a = u.next_attempt().unwrap();
        for chunk in raw.chunks(5) {
            if a.feed(chunk)? {
                break;
            }
        }
        a.eof()
    }

    #[test]
    fn the_next_host_takes_over_and_the_upload_is_complete() {
        let key = MediaKey::from_bytes([4; 32]);
        let mut u = Uploading::new(
            MediaKind::Image,
            key.clone(),
            digests(100),
            &conn(&[("a:1", None), ("b:2", None)]),
            1000,
        )
        .unwrap();
        assert_eq!(u.requests()[0].body_length, Some(digests(100).enc_length()));
        let e = attempt(&mut u, b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n").unwrap_err();
        assert!(e.is_transient());
        assert!(u.failed(e));
        let body = br#"{"url":"https://b/x.enc","direct_path":"/v/x.enc"}"#;
        let raw = [
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            body,
        ]
        .concat();
        let answer = attempt(&mut u, &raw).unwrap();
        let upload = u.complete(answer, 7);
        assert_eq!(upload.direct_path, "/v/x.enc");
        assert_eq!(upload.media_key, key);
        assert_eq!(upload.uploaded_at, 7);
    }

    #[test]
    fn limits_and_hosts_are_checked_before_sending() {
        let key = MediaKey::from_bytes([4; 32]);
        let one = conn(&[("a", None)]);
        assert!(matches!(
            Uploading::new(MediaKind::Video, key.clone(), digests(2000), &one, 1000),
            Err(MediaError::TooLarge {
                size: 2000,
                limit: 1000,
                ..
            })
        ));
        assert!(matches!(
            Uploading::new(
                MediaKind::ImageThumbnail,
                key.clone(),
                digests(1),
                &one,
                1000
            ),
            Err(MediaError::NotUploadable(_))
        ));
        // A host whose maxContentLength is too small is skipped; if none is left, TooLarge.
        let small = conn(&[("a", Some(50)), ("b", None)]);
        let u = Uploading::new(MediaKind::Image, key.clone(), digests(100), &small, 1000).unwrap();
        assert_eq!(u.requests().len(), 1);
        assert_eq!(u.requests()[0].target.host, "b");
        let tiny = conn(&[("a", Some(50))]);
        assert!(matches!(
            Uploading::new(MediaKind::Image, key, digests(100), &tiny, 1000),
            Err(MediaError::TooLarge { limit: 50, .. })
        ));
    }
}
