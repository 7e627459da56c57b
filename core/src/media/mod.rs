//! Media (`media.md`): images, videos, voice notes, documents and stickers — sans-IO.
//!
//! ```text
//! send:     MediaKey::generate ─▶ MediaKeys (HKDF per kind) ─▶ MediaEncryptor (streaming)
//!           ─▶ upload request (urls, http) ─▶ UploadAnswer ─▶ media message (message)
//! receive:  Message ─▶ MediaRef (message) ─▶ download requests (urls, http)
//!           ─▶ MediaDecryptor: fileEncSha256, MAC, padding, fileLength, fileSha256
//! expired:  403/404/410 ─▶ server-error receipt (retry) ─▶ mediaretry notification ─▶ new path
//! ```
//!
//! - [`kind`]: [`MediaKind`], the HKDF info strings and upload paths.
//! - [`keys`]: [`MediaKey`] and its expansion, [`MediaKeys`].
//! - [`cipher`]: streaming encryption and verified decryption.
//! - [`http`]: HTTP/1.1 request heads and a bounded response reader (httparse).
//! - [`urls`]: upload and download requests from hosts, tokens and direct paths.
//! - [`download`]: one download as a sans-IO exchange — host fallback and the verdict.
//! - [`conn`]: the `media_conn` answer and its lifetime.
//! - [`upload`]: one upload as a sans-IO exchange, its answer and the durable [`Upload`]
//!   record.
//! - [`message`]: media messages, [`MediaRef`], the stanza's `mediatype`.
//! - [`cards`]: locations and contact cards (no file), sent and read back.
//! - [`ogg`]: a voice note's duration from its Ogg/Opus pages.
//! - [`webp`]: whether a sticker's WebP file is animated.
//! - [`retry`]: the media-retry receipt and notification, both sides.
//! - [`error`]: [`MediaError`] and friends.

pub mod cards;
pub mod cipher;
pub mod conn;
pub mod download;
pub mod error;
pub mod http;
pub mod keys;
pub mod kind;
pub mod message;
pub mod ogg;
pub mod retry;
pub mod upload;
pub mod urls;
pub mod webp;

pub use cipher::{Digests, Expected, IntegrityError, MediaDecryptor, MediaEncryptor};
pub use conn::{MediaConn, MediaHost};
pub use download::{Attempt, Download, SplitAttempt};
pub use error::{MediaConnError, MediaError, RetryError};
pub use keys::{MediaKey, MediaKeys};
pub use kind::MediaKind;
pub use message::{MediaOptions, MediaRef, media_message, mediatype};
pub use retry::RetryTarget;
pub use upload::{Upload, UploadAttempt, Uploading};
