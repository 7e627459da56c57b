//! One media download as a sans-IO exchange (`media.md` §4): the candidates in order, each
//! request's answer read and decrypted as it streams, the next host on a failure that another
//! host may not have, and one typed verdict at the end.
//!
//! ```text
//! Download::new(media, hosts, limit) ── size checked against the limit before anything is read
//!   loop: next_attempt() ─▶ None: finish() = the most telling error
//!         Attempt: adapter writes request().head(), then feeds what it reads:
//!            feed(bytes, out) ─▶ head: 2xx, else Err(Status) │ body ─▶ MediaDecryptor ─▶ out
//!            eof(out) ─▶ Ok(len): every check passed │ Err(e)
//!         or next_split_attempt(): SplitAttempt + BlobDigests (the upload hash and the MAC,
//!            fed the body bytes feed hands out, maybe on another thread) ─▶ eof(check, out)
//!         Err(e) ─▶ failed(e): next candidate (e kept for the verdict)
//! ```
//!
//! Redirects are not followed (a 3xx is a failed attempt): the hosts and paths come from
//! `media_conn` and the message, never from another server's answer.
//!
//! `out` receives plaintext before the checks at the end have run: the adapter stages it and
//! releases it only when [`Attempt::eof`] returns `Ok`; after an `Err` it drops what it staged
//! for that attempt. A 403/404/410 from every candidate ends in a [`MediaError::Status`] for
//! which [`MediaError::is_reference_rejected`] holds: the caller then asks for a re-upload
//! (the media-retry flow of [`super::retry`]) and downloads again with the new direct path.

use super::cipher::{BlobCheck, BlobDigests, CbcDecryptor, MediaDecryptor, enc_length};
use super::error::MediaError;
use super::http::{Request, ResponseReader};
use super::keys::MediaKeys;
use super::message::MediaRef;
use super::urls::download_requests;
use crate::media::cipher::Expected;

/// A download of one message's media (see the module docs).
#[derive(Debug)]
pub struct Download {
    requests: Vec<Request>,
    next: usize,
    keys: MediaKeys,
    expected: Expected,
    max_body: u64,
    errors: Vec<MediaError>,
}

impl Download {
    /// The download of `media` from `hosts` (from `media_conn`, primary first; may be empty
    /// when the message has a URL), refusing files larger than `limit` bytes before anything
    /// is read: by the message's `fileLength`, and by the body while it streams.
    pub fn new(media: &MediaRef, hosts: &[String], limit: u64) -> Result<Self, MediaError> {
        let kind = media.kind()?;
        let keys = media.keys()?;
        let expected = media.expected()?;
        if let Some(size) = expected.file_length
            && size > limit
        {
            return Err(MediaError::TooLarge { kind, size, limit });
        }
        let requests = download_requests(
            hosts,
            media.direct_path.as_deref(),
            media.url.as_deref(),
            kind,
            &expected.file_enc_sha256,
        )?;
        Ok(Self {
            requests,
            next: 0,
            keys,
            expected,
            max_body: enc_length(expected.file_length.unwrap_or(limit).min(limit)),
            errors: Vec::new(),
        })
    }

    /// The candidates, in the order they are tried.
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    /// The next candidate to try, or `None` when every one was tried (then [`finish`]).
    ///
    /// [`finish`]: Self::finish
    pub fn next_attempt(&mut self) -> Option<Attempt> {
        Some(Attempt {
            exchange: self.next_exchange()?,
            decryptor: MediaDecryptor::new(&self.keys, self.expected),
        })
    }

    /// [`next_attempt`](Self::next_attempt) with the blob's digests (the upload hash and
    /// the MAC) split off, for the adapter to run beside the decryption (on another thread),
    /// fed the body bytes [`SplitAttempt::feed`] hands out.
    pub fn next_split_attempt(&mut self) -> Option<(SplitAttempt, BlobDigests)> {
        let attempt = SplitAttempt {
            exchange: self.next_exchange()?,
            decryptor: CbcDecryptor::new(&self.keys, self.expected),
        };
        Some((attempt, BlobDigests::new(&self.keys)))
    }

    fn next_exchange(&mut self) -> Option<Exchange> {
        let request = self.requests.get(self.next)?.clone();
        self.next += 1;
        Some(Exchange {
            host: request.target.authority(),
            request,
            reader: ResponseReader::new(self.max_body),
            body: Vec::new(),
        })
    }

    /// Records why the last attempt failed; `true` when another candidate is left (the
    /// caller then takes [`next_attempt`](Self::next_attempt)), `false` when the download
    /// ends with [`finish`](Self::finish). Every failure moves on: a status, a cut or
    /// malformed answer and corrupted bytes may all be one host's fault.
    pub fn failed(&mut self, error: MediaError) -> bool {
        self.errors.push(error);
        self.next < self.requests.len()
    }

    /// The verdict once no candidate is left: a rejected reference (403/404/410) first (it
    /// has a remedy, the media-retry flow), then corrupted bytes, then the last failure.
    pub fn finish(self) -> MediaError {
        let mut errors = self.errors;
        if let Some(i) = errors.iter().position(MediaError::is_reference_rejected) {
            return errors.swap_remove(i);
        }
        if let Some(i) = errors
            .iter()
            .position(|e| matches!(e, MediaError::Integrity(_)))
        {
            return errors.swap_remove(i);
        }
        errors
            .pop()
            .unwrap_or(MediaError::MissingField("directPath or url"))
    }
}

/// One request of a [`Download`]: the adapter writes [`Attempt::request`]'s head over TLS to
/// its host, feeds back every byte it reads, and calls [`Attempt::eof`] when the server closes.
/// [`Download::next_split_attempt`] gives a [`SplitAttempt`] instead, whose ciphertext
/// digests run elsewhere.
#[derive(Debug)]
pub struct Attempt {
    exchange: Exchange,
    decryptor: MediaDecryptor,
}

impl Attempt {
    /// The request to send.
    pub fn request(&self) -> &Request {
        &self.exchange.request
    }

    /// `host:port`, for errors and logs.
    pub fn host(&self) -> &str {
        &self.exchange.host
    }

    /// Feeds bytes read from the connection; decrypted (not yet verified) plaintext is
    /// appended to `out`. `Ok(true)` once the whole response was read (then [`eof`] without
    /// waiting for the close).
    ///
    /// [`eof`]: Self::eof
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<bool, MediaError> {
        let done = self.exchange.read(bytes)?;
        if !self.exchange.body.is_empty() {
            self.decryptor.update(&self.exchange.body, out)?;
            self.exchange.body.clear();
        }
        Ok(done)
    }

    /// The server closed the connection (or [`feed`](Self::feed) said the response is
    /// complete): every check runs, the last plaintext bytes go to `out`; the file's length.
    pub fn eof(self, out: &mut Vec<u8>) -> Result<u64, MediaError> {
        self.exchange.end()?;
        Ok(self.decryptor.finish(out)?)
    }
}

/// An [`Attempt`] whose ciphertext digests run elsewhere ([`Download::next_split_attempt`]): it decrypts
/// and hashes the plaintext, hands out the body bytes for the [`BlobDigests`], and runs every
/// check at [`eof`](Self::eof) with what the digests computed.
#[derive(Debug)]
pub struct SplitAttempt {
    exchange: Exchange,
    decryptor: CbcDecryptor,
}

impl SplitAttempt {
    /// The request to send.
    pub fn request(&self) -> &Request {
        &self.exchange.request
    }

    /// `host:port`, for errors and logs.
    pub fn host(&self) -> &str {
        &self.exchange.host
    }

    /// [`Attempt::feed`], appending the body bytes read to `body` too (in order: every one
    /// goes to the [`BlobDigests`]).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        body: &mut Vec<u8>,
    ) -> Result<bool, MediaError> {
        let done = self.exchange.read(bytes)?;
        if !self.exchange.body.is_empty() {
            self.decryptor.update(&self.exchange.body, out)?;
            body.extend_from_slice(&self.exchange.body);
            self.exchange.body.clear();
        }
        Ok(done)
    }

    /// [`Attempt::eof`], the ciphertext's checks from `blob`: the [`BlobDigests`] fed every
    /// body byte.
    pub fn eof(self, blob: BlobCheck, out: &mut Vec<u8>) -> Result<u64, MediaError> {
        self.exchange.end()?;
        Ok(self.decryptor.finish(blob, out)?)
    }
}

/// The HTTP side of an attempt: the request, and the answer's head and body as they arrive.
#[derive(Debug)]
struct Exchange {
    request: Request,
    host: String,
    reader: ResponseReader,
    /// Body bytes of the last read, not yet decrypted.
    body: Vec<u8>,
}

impl Exchange {
    /// Reads `bytes` of the answer into `body`; a status other than 2xx fails the attempt.
    fn read(&mut self, bytes: &[u8]) -> Result<bool, MediaError> {
        let done = self
            .reader
            .feed(bytes, &mut self.body)
            .map_err(|error| MediaError::Http {
                host: self.host.clone(),
                error,
            })?;
        if let Some(head) = self.reader.head()
            && !head.is_success()
        {
            return Err(MediaError::Status {
                host: self.host.clone(),
                status: head.status,
            });
        }
        Ok(done)
    }

    /// The answer ended: it must be whole and a 2xx.
    fn end(mut self) -> Result<(), MediaError> {
        if !self.reader.is_done() {
            self.reader.eof().map_err(|error| MediaError::Http {
                host: self.host.clone(),
                error,
            })?;
        }
        match self.reader.head() {
            Some(head) if head.is_success() => Ok(()),
            Some(head) => Err(MediaError::Status {
                host: self.host.clone(),
                status: head.status,
            }),
            None => Err(MediaError::Http {
                host: self.host,
                error: super::http::HttpError::Malformed("no response".into()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::cipher::IntegrityError;
    use crate::media::upload::Upload;
    use crate::media::{MediaKey, MediaKind, MediaOptions, cipher, media_message};

    const FILE: &[u8] = b"a voice note, or any file at all, of some length";

    fn media() -> (MediaRef, Vec<u8>) {
        let key = MediaKey::from_bytes([6; 32]);
        let (blob, digests) = cipher::encrypt(&key.expand(MediaKind::Audio), FILE);
        let upload = Upload {
            kind: MediaKind::Audio,
            media_key: key,
            digests,
            url: None,
            direct_path: "/v/t62/x.enc?oh=1".into(),
            uploaded_at: 1,
        };
        let message = media_message(&upload, &MediaOptions::default(), 1);
        (MediaRef::of(&message).unwrap(), blob)
    }

    fn answer(status: u16, body: &[u8]) -> Vec<u8> {
        let mut raw = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw
    }

    /// Runs one attempt against `raw` fed in `step`-byte reads.
    fn run(attempt: Attempt, raw: &[u8], step: usize) -> Result<Vec<u8>, MediaError> {
        let mut attempt = attempt;
        let mut out = Vec::new();
        for chunk in raw.chunks(step) {
            if attempt.feed(chunk, &mut out)? {
                break;
            }
        }
        attempt.eof(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_good_answer_gives_the_file_at_any_read_size() {
        let (media, blob) = media();
        for step in [1, 5, 16, 1000] {
            let mut download = Download::new(&media, &["a:1".into()], 1 << 20).unwrap();
            let attempt = download.next_attempt().unwrap();
            assert!(
                attempt
                    .request()
                    .target
                    .path
                    .starts_with("/v/t62/x.enc?oh=1&hash=")
            );
            assert_eq!(run(attempt, &answer(200, &blob), step).unwrap(), FILE);
        }
    }

    /// [`run`] for a split attempt, the body bytes it hands out hashed apart.
    fn run_split(
        (mut attempt, mut digests): (SplitAttempt, BlobDigests),
        raw: &[u8],
        step: usize,
    ) -> Result<Vec<u8>, MediaError> {
        let (mut out, mut body) = (Vec::new(), Vec::new());
        for chunk in raw.chunks(step) {
            let done = attempt.feed(chunk, &mut out, &mut body)?;
            digests.update(&body);
            body.clear();
            if done {
                break;
            }
        }
        attempt.eof(digests.finish(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_split_attempt_gives_the_same_file_and_refuses_the_same_corruption() {
        let (media, blob) = media();
        for step in [1, 5, 16, 1000] {
            let mut download = Download::new(&media, &["a:1".into()], 1 << 20).unwrap();
            let split = download.next_split_attempt().unwrap();
            assert!(
                split
                    .0
                    .request()
                    .target
                    .path
                    .starts_with("/v/t62/x.enc?oh=1&hash=")
            );
            assert_eq!(run_split(split, &answer(200, &blob), step).unwrap(), FILE);
        }
        let mut corrupted = blob;
        corrupted[3] ^= 1;
        let mut download = Download::new(&media, &["a:1".into()], 1 << 20).unwrap();
        let split = download.next_split_attempt().unwrap();
        assert!(matches!(
            run_split(split, &answer(200, &corrupted), 7),
            Err(MediaError::Integrity(IntegrityError::EncHash))
        ));
        let split = download.next_split_attempt();
        assert!(split.is_none(), "one host, one attempt");
    }

    #[test]
    fn failures_move_to_the_next_host_and_the_verdict_names_the_remedy() {
        let (media, blob) = media();
        let mut download =
            Download::new(&media, &["a:1".into(), "b:2".into(), "c:3".into()], 1 << 20).unwrap();
        // a: a server error; b: the file is gone; c: corrupted bytes.
        let e = run(download.next_attempt().unwrap(), &answer(503, b""), 7).unwrap_err();
        assert!(e.is_transient());
        assert!(download.failed(e));
        let e = run(download.next_attempt().unwrap(), &answer(404, b"gone"), 7).unwrap_err();
        assert!(download.failed(e));
        let mut bad = blob;
        bad[3] ^= 1;
        let e = run(download.next_attempt().unwrap(), &answer(200, &bad), 7).unwrap_err();
        assert!(matches!(e, MediaError::Integrity(IntegrityError::EncHash)));
        assert!(!download.failed(e));
        assert!(download.next_attempt().is_none());
        let verdict = download.finish();
        assert!(verdict.is_reference_rejected(), "{verdict}");
        // Without the 404 the corrupted bytes are the verdict.
        let mut download = Download::new(&media, &["a:1".into()], 1 << 20).unwrap();
        let e = run(download.next_attempt().unwrap(), &answer(200, &bad), 3).unwrap_err();
        download.failed(e);
        assert!(matches!(download.finish(), MediaError::Integrity(_)));
    }

    #[test]
    fn sizes_are_bounded_before_and_while_reading() {
        let (media, blob) = media();
        assert!(matches!(
            Download::new(&media, &["a".into()], 10),
            Err(MediaError::TooLarge { size, limit: 10, .. }) if size == FILE.len() as u64
        ));
        let mut download = Download::new(&media, &["a".into(), "b".into()], 1 << 20).unwrap();
        // A server announcing more than the file can be is refused at the head.
        let mut longer = blob.clone();
        longer.extend_from_slice(&[0; 64]);
        let e = run(
            download.next_attempt().unwrap(),
            &answer(200, &longer),
            1000,
        )
        .unwrap_err();
        assert!(matches!(e, MediaError::Http { .. }), "{e}");
        // Cut short: a transient failure.
        let e = run(
            download.next_attempt().unwrap(),
            &answer(200, &blob)[..60],
            9,
        )
        .unwrap_err();
        assert!(e.is_transient(), "{e}");
    }

    #[test]
    fn a_message_without_what_a_download_needs_is_refused_up_front() {
        let (media, _) = media();
        let mut no_hash = media.clone();
        no_hash.file_enc_sha256 = None;
        assert!(matches!(
            Download::new(&no_hash, &["a".into()], 1 << 20),
            Err(MediaError::MissingField("fileEncSha256"))
        ));
        let mut nowhere = media;
        nowhere.direct_path = None;
        assert!(Download::new(&nowhere, &["a".into()], 1 << 20).is_err());
    }
}
