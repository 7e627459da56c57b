//! The media half of the adapters' `Client`, written once
//! ([`media_methods!`](crate::media_methods)): `media_conn`, `upload`,
//! `send_image`/`send_video`/`send_voice_note`/`send_document`/`send_sticker`/`send_media`, and
//! `download`/`download_bytes`.
//!
//! ```text
//! send_media: the source prepared (size checked; a reader spooled) and the options filled
//!   (mimetype, file name, seconds, thumbnail) ─▶ media_conn (cached while fresh, else asked) ─▶ upload (a host refusing the
//!   token: media_conn refreshed, upload once more) ─▶ the media message ─▶ Client::send
//!   (durable in the outbox before the stanza; a restart resends it without uploading)
//! download: media_conn hosts (none when offline: the message's url) ─▶ verified file
//! ```

use std::path::Path;

use tether_core::driver::MessagingError;
use tether_core::media::{MediaError, MediaKey, MediaKind, MediaOptions};
use thiserror::Error;

/// Why sending media failed: the upload (nothing was sent) or the message (uploaded, not
/// sent).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendMediaError {
    /// Reading, encrypting or uploading the file failed: no message was queued.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The file was uploaded but the message could not be queued.
    #[error(transparent)]
    Messaging(#[from] MessagingError),
}

/// A fresh media key from the OS.
pub fn fresh_media_key() -> Result<MediaKey, MediaError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| MediaError::Io {
        what: "drawing a media key".into(),
        detail: e.to_string(),
    })?;
    Ok(MediaKey::from_bytes(bytes))
}

/// The wall clock, Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The mimetype of a file of `kind` named `path`, by its extension.
pub fn guess_mimetype(path: &Path, kind: MediaKind) -> String {
    mimetype_by_extension(path)
        .unwrap_or_else(|| tether_core::media::message::default_mimetype(kind))
        .to_owned()
}

/// The mimetype the extension of `path` names, if it is a common one.
pub fn mimetype_by_extension(path: &Path) -> Option<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mov" => "video/quicktime",
        "ogg" | "opus" => "audio/ogg; codecs=opus",
        "mp3" => "audio/mpeg",
        "m4a" | "aac" => "audio/mp4",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "zip" => "application/zip",
        "json" => "application/json",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => return None,
    })
}

/// The options of `send_image`/`send_video`/`send_voice_note`/`send_document`/`send_sticker`
/// (a sticker is always `image/webp`).
pub fn options_for(kind: MediaKind, path: &Path, caption: Option<&str>) -> MediaOptions {
    let mut options = MediaOptions::default();
    options.caption = caption.map(str::to_owned);
    options.mimetype = Some(if kind == MediaKind::Sticker {
        tether_core::media::message::default_mimetype(kind).to_owned()
    } else {
        guess_mimetype(path, kind)
    });
    if kind == MediaKind::Document {
        options.file_name = path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    }
    options
}

/// The options of a voice note: push to talk, its duration read from the Ogg/Opus file at
/// `path` (none when it cannot be read there: the apps then show no length).
pub fn voice_note_options(path: &Path) -> MediaOptions {
    let mut options = options_for(MediaKind::Audio, path, None);
    options.voice_note = true;
    crate::media_source::fill_options_for_path(MediaKind::Audio, path, &mut options);
    options
}

/// `media_conn`, uploads, media sends and downloads for an adapter's `Client` (which has
/// `shared`, `media_conns: Arc<MediaConnTracker>`, `net: Arc<impl MediaDial>`, `media_limit`,
/// `media_memory_budget`, `media_retry_timeout`,
/// `command` and `send`).
#[macro_export]
macro_rules! media_methods {
    () => {
        /// The media upload token and hosts: the cached answer while it is good (unless
        /// `refresh`), else asked from the server (needs a logged-in connection).
        pub async fn media_conn(
            &self,
            refresh: bool,
        ) -> Result<$crate::__core::media::MediaConn, $crate::__core::media::MediaError> {
            if !refresh {
                let driver = $crate::__core::driver::lock(&self.shared);
                if let Some(conn) = driver.connection().media_conn(std::time::Instant::now()) {
                    return Ok(conn.clone());
                }
            }
            let wait = self.media_conns.wait();
            self.command($crate::__core::connection::Command::MediaConn { refresh })
                .map_err(|e| $crate::__core::media::MediaError::Client(e.to_string()))?;
            Ok(wait.await?)
        }

        /// Encrypts and uploads `source` (a path, bytes or a reader: see
        /// `MediaSource`) as `kind`: a file within `Options::media_memory_budget` is
        /// encrypted once into memory, a larger one streamed (never held whole). A host
        /// refusing the token gets one more try with a fresh `media_conn`.
        pub async fn upload(
            &self,
            kind: $crate::__core::media::MediaKind,
            source: impl Into<$crate::media_source::MediaSource>,
        ) -> Result<$crate::__core::media::Upload, $crate::__core::media::MediaError> {
            let prepared = source.into().prepare(kind, self.media_limit).await?;
            self.upload_prepared(kind, &prepared).await
        }

        async fn upload_prepared(
            &self,
            kind: $crate::__core::media::MediaKind,
            prepared: &$crate::media_source::Prepared,
        ) -> Result<$crate::__core::media::Upload, $crate::__core::media::MediaError> {
            let key = $crate::media_client::fresh_media_key()?;
            let conn = self.media_conn(false).await?;
            let unix = $crate::media_client::unix_now();
            let net = &*self.net;
            let plain = prepared.plain();
            let limits = $crate::media::UploadLimits {
                limit: self.media_limit,
                budget: self.media_memory_budget,
            };
            // Encrypted once: a retry after a refused token sends the same blob again.
            let encrypted = $crate::media::Encrypted::new(kind, plain, key, limits)?;
            match encrypted.send(net, &conn, unix).await {
                Err($crate::__core::media::MediaError::Status {
                    status: 401 | 403, ..
                }) => {
                    let conn = self.media_conn(true).await?;
                    encrypted.send(net, &conn, unix).await
                }
                other => other,
            }
        }

        /// Uploads `source` (a path, bytes or a reader: see
        /// `MediaSource`) as `kind` and sends it to `to`
        /// presented as `options` say; what they leave unset is filled in from the source
        /// where it tells: the mimetype (by name, else by the first bytes), a document's
        /// file name, a voice note's duration and, with the `thumbnails` feature, an
        /// image's size and JPEG thumbnail (give `options.thumbnail` yourself for a video).
        /// The upload comes first; the message is then durable in the outbox before it
        /// goes out (a restart resends it without uploading again). Await the
        /// `PendingSend` for the server's answer.
        pub async fn send_media(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            kind: $crate::__core::media::MediaKind,
            source: impl Into<$crate::media_source::MediaSource>,
            options: &$crate::__core::media::MediaOptions,
        ) -> Result<$crate::sends::PendingSend, $crate::media_client::SendMediaError> {
            let to = to
                .into_recipient()
                .map_err($crate::__core::driver::MessagingError::from)?;
            let prepared = source.into().prepare(kind, self.media_limit).await?;
            let mut options = options.clone();
            prepared.fill_options(kind, &mut options);
            let upload = self.upload_prepared(kind, &prepared).await?;
            drop(prepared);
            let message = $crate::__core::media::media_message(
                &upload,
                &options,
                $crate::media_client::unix_now(),
            );
            Ok(self.send(to, message)?)
        }

        /// Sends an image (JPEG, PNG, WebP; a path, bytes or a reader) with an optional
        /// caption; with the `thumbnails` feature its JPEG thumbnail and size go along.
        pub async fn send_image(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            source: impl Into<$crate::media_source::MediaSource>,
            caption: Option<&str>,
        ) -> Result<$crate::sends::PendingSend, $crate::media_client::SendMediaError> {
            let mut options = $crate::__core::media::MediaOptions::default();
            options.caption = caption.map(str::to_owned);
            let kind = $crate::__core::media::MediaKind::Image;
            self.send_media(to, kind, source, &options).await
        }

        /// Sends a video (MP4; a path, bytes or a reader) with an optional caption; `gif`:
        /// plays silently in a loop. A thumbnail is the caller's to give
        /// (`options.thumbnail` of `send_media`).
        pub async fn send_video(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            source: impl Into<$crate::media_source::MediaSource>,
            caption: Option<&str>,
            gif: bool,
        ) -> Result<$crate::sends::PendingSend, $crate::media_client::SendMediaError> {
            let mut options = $crate::__core::media::MediaOptions::default();
            options.caption = caption.map(str::to_owned);
            options.gif = gif;
            let kind = $crate::__core::media::MediaKind::Video;
            self.send_media(to, kind, source, &options).await
        }

        /// Sends an Ogg/Opus file (a path, bytes or a reader) as a voice note (push to
        /// talk) lasting `seconds` (when `None`, read from its Ogg pages).
        pub async fn send_voice_note(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            source: impl Into<$crate::media_source::MediaSource>,
            seconds: Option<u32>,
        ) -> Result<$crate::sends::PendingSend, $crate::media_client::SendMediaError> {
            let mut options = $crate::__core::media::MediaOptions::default();
            options.voice_note = true;
            options.seconds = seconds;
            let kind = $crate::__core::media::MediaKind::Audio;
            self.send_media(to, kind, source, &options).await
        }

        /// Sends a WebP image (a path, bytes or a reader) as a sticker: always `image/webp`,
        /// animated when the WebP header says the file is.
        pub async fn send_sticker(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            source: impl Into<$crate::media_source::MediaSource>,
        ) -> Result<$crate::sends::PendingSend, $crate::media_client::SendMediaError> {
            let kind = $crate::__core::media::MediaKind::Sticker;
            let mut options = $crate::__core::media::MediaOptions::default();
            let webp = $crate::__core::media::message::default_mimetype(kind);
            options.mimetype = Some(webp.to_owned());
            self.send_media(to, kind, source, &options).await
        }

        /// Sends a document (a path, bytes or a reader; its name shown: a path's file name
        /// or `MediaSource::named`), with an
        /// optional caption.
        pub async fn send_document(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            source: impl Into<$crate::media_source::MediaSource>,
            caption: Option<&str>,
        ) -> Result<$crate::sends::PendingSend, $crate::media_client::SendMediaError> {
            let mut options = $crate::__core::media::MediaOptions::default();
            options.caption = caption.map(str::to_owned);
            let kind = $crate::__core::media::MediaKind::Document;
            self.send_media(to, kind, source, &options).await
        }

        /// Downloads the media of `message` to `path`: streamed into `<path>.part` and
        /// renamed once every check passed (a corrupted or truncated blob is refused with
        /// `MediaError::Integrity` and never
        /// appears at `path`). Returns the file's length.
        pub async fn download(
            &self,
            message: &$crate::__core::proto::message::Message,
            path: impl AsRef<std::path::Path>,
        ) -> Result<u64, $crate::__core::media::MediaError> {
            let media = $crate::__core::media::MediaRef::of(message)
                .ok_or($crate::__core::media::MediaError::NotMedia)?;
            let hosts = self.media_hosts().await;
            $crate::media::download_to_path(
                &*self.net,
                &media,
                &hosts,
                self.media_limit,
                path.as_ref(),
            )
            .await
        }

        /// Downloads the media of a received message to `path` as
        /// [`download`](Self::download) does; when the server no longer has the file
        /// (403/404/410, expired) it asks this account's phone to upload it again (the
        /// media-retry flow: an encrypted `server-error` receipt, answered by a `mediaretry`
        /// notification with a new path) and downloads from there. A phone that cannot
        /// re-upload, or does not answer within `Options::media_retry_timeout`, ends in `MediaError::Expired` with the
        /// reason.
        pub async fn download_message(
            &self,
            message: &$crate::__core::messaging::types::IncomingMessage,
            path: impl AsRef<std::path::Path>,
        ) -> Result<u64, $crate::__core::media::MediaError> {
            use $crate::__core::media::MediaError;
            let path = path.as_ref();
            let status = match self.download(&message.message, path).await {
                Err(MediaError::Status {
                    status: status @ (403 | 404 | 410),
                    ..
                }) => status,
                other => return other,
            };
            let own = {
                let driver = $crate::__core::driver::lock(&self.shared);
                driver
                    .connection()
                    .credentials()
                    .and_then(|c| c.device.as_ref())
                    .map(|d| d.jid.clone())
            };
            let Some(own) = own else {
                return Err(MediaError::Expired {
                    status,
                    retry: $crate::__core::media::RetryError::NotConnected,
                });
            };
            let media = $crate::media_retry::reuploaded(
                &*self.net,
                self.media_conns.retries(),
                &own,
                message,
                status,
                self.media_retry_timeout,
                |node| {
                    self.command($crate::__core::connection::Command::SendNode(node))
                        .map_err(|e| e.to_string())
                },
            )
            .await?;
            let hosts = self.media_hosts().await;
            $crate::media::download_to_path(&*self.net, &media, &hosts, self.media_limit, path)
                .await
        }

        /// Downloads the media of `message` into memory (bounded by the media limit),
        /// verified (see [`download`](Self::download)).
        pub async fn download_bytes(
            &self,
            message: &$crate::__core::proto::message::Message,
        ) -> Result<Vec<u8>, $crate::__core::media::MediaError> {
            let media = $crate::__core::media::MediaRef::of(message)
                .ok_or($crate::__core::media::MediaError::NotMedia)?;
            let hosts = self.media_hosts().await;
            $crate::media::download_bytes(&*self.net, &media, &hosts, self.media_limit).await
        }

        /// The media hosts to download from: `media_conn`'s, or none while offline (the
        /// message's own url is used then).
        async fn media_hosts(&self) -> Vec<String> {
            self.media_conn(false)
                .await
                .map(|conn| conn.host_names())
                .unwrap_or_default()
        }
    };
}
