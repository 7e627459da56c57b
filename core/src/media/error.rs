//! [`MediaError`]: every way sending or receiving media fails, each saying what happened and
//! what to do. Three classes matter to a caller (`media.md` §7.1): the reference was rejected
//! (403/404/410: ask for a re-upload, [`MediaError::Expired`]), the transport failed (retry
//! later: [`MediaError::Unreachable`], [`MediaError::Status`] 5xx, [`MediaError::Http`],
//! [`MediaError::Timeout`]), or the bytes are not the file ([`MediaError::Integrity`]: never
//! handed out).

use thiserror::Error;

use super::cipher::IntegrityError;
use super::http::HttpError;
use super::kind::MediaKind;

/// Why `media_conn` (the upload token and hosts) could not be had.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MediaConnError {
    /// The server answered the iq with an error.
    #[error("the server refused the media_conn request (error {0})")]
    Refused(u16),
    /// The answer lacks something required, or is malformed.
    #[error("the server's media_conn answer is malformed: {0}")]
    Malformed(String),
    /// Not logged in, or the connection dropped before the answer.
    #[error(
        "not connected: media needs a logged-in connection to get its upload token; connect and retry"
    )]
    NotConnected,
}

/// Why a media re-upload request (the media-retry flow) failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RetryError {
    /// The phone no longer has the file (NOT_FOUND, or `<error code="2"/>`).
    #[error("the phone no longer has this file (it was deleted there)")]
    NotFound,
    /// The phone could not decrypt the request (DECRYPTION_ERROR).
    #[error("the phone could not decrypt the re-upload request")]
    DecryptionError,
    /// GENERAL_ERROR, or another `<error code>`.
    #[error("the phone refused the re-upload (code {0})")]
    Refused(u32),
    /// No answer in time.
    #[error("no answer from the phone within {0} s: is it online with WhatsApp running?")]
    Timeout(u64),
    /// The answer could not be read (wrong key, malformed, another message's).
    #[error("the re-upload answer is malformed: {0}")]
    Malformed(String),
    /// Not connected when asked, or the connection dropped while waiting.
    #[error("not connected: the re-upload request needs a logged-in connection")]
    NotConnected,
}

/// Why sending or downloading media failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The message carries no image, video, audio, document or sticker.
    #[error("this message has no media to download")]
    NotMedia,
    /// The media message lacks a field a download or a check needs.
    #[error("the media message has no {0}: it cannot be downloaded and verified")]
    MissingField(&'static str),
    /// This kind of blob is never uploaded.
    #[error("{0} blobs cannot be uploaded")]
    NotUploadable(MediaKind),
    /// A host, path or URL (from the server or the message) cannot be used.
    #[error("the {what} cannot be used: {reason}")]
    BadUrl {
        /// Which one.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Larger than the configured limit (checked before anything is read).
    #[error(
        "the {kind} is {size} bytes, more than the {limit} bytes allowed; raise the media \
         size limit or send it as a document"
    )]
    TooLarge {
        /// The kind.
        kind: MediaKind,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// No upload token and hosts.
    #[error(transparent)]
    MediaConn(#[from] MediaConnError),
    /// The media host could not be reached (DNS, TCP, proxy, TLS).
    #[error("cannot reach the media host {host}: {detail}")]
    Unreachable {
        /// `host:port`.
        host: String,
        /// What failed.
        detail: String,
    },
    /// The media host answered with an error status.
    #[error("the media host {host} answered HTTP {status}{}", status_advice(*status))]
    Status {
        /// `host:port`.
        host: String,
        /// The status.
        status: u16,
    },
    /// The media host's answer was not readable HTTP, or was cut short.
    #[error("the media host {host} sent a bad answer: {error}")]
    Http {
        /// `host:port`.
        host: String,
        /// What was wrong.
        error: HttpError,
    },
    /// The media host stopped answering.
    #[error("the media host {host} did not answer within {secs} s; try again later")]
    Timeout {
        /// `host:port`.
        host: String,
        /// The limit that passed.
        secs: u64,
    },
    /// The upload answer has no direct path.
    #[error("the media host {host} accepted the upload but its answer is unusable: {reason}")]
    UploadAnswer {
        /// `host:port`.
        host: String,
        /// Why.
        reason: String,
    },
    /// The downloaded bytes are not the file: refused, nothing was handed out.
    #[error("the downloaded media was refused: {0}")]
    Integrity(#[from] IntegrityError),
    /// The server no longer has the file (403/404/410) and the re-upload did not help.
    #[error(
        "the media has expired on the server (HTTP {status}) and could not be re-uploaded: {retry}"
    )]
    Expired {
        /// The last download status.
        status: u16,
        /// Why the re-upload failed.
        retry: RetryError,
    },
    /// A local file or stream failed.
    #[error("{what}: {detail}")]
    Io {
        /// What was being done (`reading photo.jpg`, …).
        what: String,
        /// The error.
        detail: String,
    },
    /// The connection refused the request (not linked, stopped).
    #[error("the connection refused: {0}")]
    Client(String),
}

fn status_advice(status: u16) -> &'static str {
    match status {
        401 | 403 => " (the upload token or signed path was refused)",
        404 | 410 => " (the file is no longer there)",
        413 => " (the file is too large for the server)",
        500..=599 => " (a server error; try again later)",
        _ => "",
    }
}

impl MediaError {
    /// Whether this says the server no longer accepts the reference (403/404/410): the case
    /// the media-retry flow exists for.
    pub fn is_reference_rejected(&self) -> bool {
        matches!(
            self,
            Self::Status {
                status: 403 | 404 | 410,
                ..
            }
        )
    }

    /// Whether trying again (another host, later) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Http { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
