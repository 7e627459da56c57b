//! Media messages (`media.md` §3): building one from an [`Upload`] and the sender's
//! [`MediaOptions`], reading one back as a [`MediaRef`] (what a download needs and checks), and
//! the stanza's `mediatype` (§3.7).
//!
//! ```text
//! Upload + MediaOptions ──media_message──▶ Message{image|video|audio|document|sticker}
//! Message ──unwrap (ephemeral, view once, documentWithCaption, …)──▶ MediaRef::of
//! ```

use std::fmt;

use bytes::Bytes;

use super::cipher::Expected;
use super::error::MediaError;
use super::keys::{MediaKey, MediaKeys};
use super::kind::MediaKind;
use super::upload::Upload;
use crate::proto::media::{
    AudioMessage, DocumentMessage, ImageMessage, StickerMessage, VideoMessage,
};
use crate::proto::message::Message;

/// The voice-note mimetype the official apps require (`media.md` §3.6).
pub const VOICE_NOTE_MIMETYPE: &str = "audio/ogg; codecs=opus";

/// The mimetype used when the sender gives none.
pub fn default_mimetype(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Video => "video/mp4",
        MediaKind::Audio => VOICE_NOTE_MIMETYPE,
        MediaKind::Sticker => "image/webp",
        MediaKind::Image => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// How the sender presents a media message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaOptions {
    /// The caption (images, videos, documents).
    pub caption: Option<String>,
    /// The mimetype ([`default_mimetype`] when `None`; a voice note is always
    /// [`VOICE_NOTE_MIMETYPE`]).
    pub mimetype: Option<String>,
    /// The file name a document shows (`file` when `None`).
    pub file_name: Option<String>,
    /// A video that loops silently, as a GIF.
    pub gif: bool,
    /// A sticker that moves (an animated WebP).
    pub animated: bool,
    /// An audio message that is a voice note (push to talk).
    pub voice_note: bool,
    /// Duration in seconds (audio, video).
    pub seconds: Option<u32>,
    /// A voice note's waveform (64 samples of 0–100).
    pub waveform: Option<Bytes>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// A small JPEG preview (images, videos, documents).
    pub thumbnail: Option<Bytes>,
}

/// The media message for `upload`, presented as `options` say (`unix`: now, for
/// `mediaKeyTimestamp`).
pub fn media_message(upload: &Upload, options: &MediaOptions, unix: u64) -> Message {
    let kind = upload.kind;
    let mimetype = if kind == MediaKind::Audio && options.voice_note {
        VOICE_NOTE_MIMETYPE.to_owned()
    } else {
        options
            .mimetype
            .clone()
            .unwrap_or_else(|| default_mimetype(kind).to_owned())
    };
    let d = &upload.digests;
    let key = Some(Bytes::copy_from_slice(upload.media_key.as_bytes()));
    let file_sha256 = Some(Bytes::copy_from_slice(&d.file_sha256));
    let file_enc_sha256 = Some(Bytes::copy_from_slice(&d.file_enc_sha256));
    let url = upload.url.clone();
    let direct_path = Some(upload.direct_path.clone());
    let timestamp = i64::try_from(unix).ok();
    let mut message = Message::default();
    match kind {
        MediaKind::Video => {
            message.video_message = Some(Box::new(VideoMessage {
                url,
                mimetype: Some(mimetype),
                file_sha256,
                file_length: Some(d.file_length),
                seconds: options.seconds,
                media_key: key,
                caption: options.caption.clone(),
                gif_playback: options.gif.then_some(true),
                height: options.height,
                width: options.width,
                file_enc_sha256,
                direct_path,
                media_key_timestamp: timestamp,
                jpeg_thumbnail: options.thumbnail.clone(),
                ..VideoMessage::default()
            }));
        }
        MediaKind::Audio => {
            message.audio_message = Some(Box::new(AudioMessage {
                url,
                mimetype: Some(mimetype),
                file_sha256,
                file_length: Some(d.file_length),
                seconds: options.seconds,
                ptt: options.voice_note.then_some(true),
                media_key: key,
                file_enc_sha256,
                direct_path,
                media_key_timestamp: timestamp,
                waveform: options.waveform.clone(),
                ..AudioMessage::default()
            }));
        }
        MediaKind::Sticker => {
            message.sticker_message = Some(Box::new(StickerMessage {
                url,
                file_sha256,
                file_enc_sha256,
                media_key: key,
                mimetype: Some(mimetype),
                height: options.height,
                width: options.width,
                direct_path,
                file_length: Some(d.file_length),
                media_key_timestamp: timestamp,
                is_animated: options.animated.then_some(true),
                ..StickerMessage::default()
            }));
        }
        MediaKind::Image => {
            message.image_message = Some(Box::new(ImageMessage {
                url,
                mimetype: Some(mimetype),
                caption: options.caption.clone(),
                file_sha256,
                file_length: Some(d.file_length),
                height: options.height,
                width: options.width,
                media_key: key,
                file_enc_sha256,
                direct_path,
                media_key_timestamp: timestamp,
                jpeg_thumbnail: options.thumbnail.clone(),
                ..ImageMessage::default()
            }));
        }
        _ => {
            message.document_message = Some(Box::new(DocumentMessage {
                url,
                mimetype: Some(mimetype),
                title: options.file_name.clone(),
                file_sha256,
                file_length: Some(d.file_length),
                media_key: key,
                file_name: Some(options.file_name.clone().unwrap_or_else(|| "file".into())),
                file_enc_sha256,
                direct_path,
                media_key_timestamp: timestamp,
                jpeg_thumbnail: options.thumbnail.clone(),
                caption: options.caption.clone(),
                ..DocumentMessage::default()
            }));
        }
    }
    message
}

/// A message's media: what the application sees of it and what a download needs (the key is
/// secret: `Debug` leaves it out).
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MediaRef {
    /// The kind (decides the keys): image, video, audio, document or sticker.
    pub kind: Option<MediaKind>,
    /// The mimetype.
    pub mimetype: Option<String>,
    /// The caption.
    pub caption: Option<String>,
    /// A document's file name.
    pub file_name: Option<String>,
    /// The file's length.
    pub file_length: Option<u64>,
    /// Duration in seconds (audio, video).
    pub seconds: Option<u32>,
    /// A voice note.
    pub voice_note: bool,
    /// A video that plays as a GIF.
    pub gif: bool,
    /// An animated sticker.
    pub animated: bool,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// The CDN URL.
    pub url: Option<String>,
    /// The signed path.
    pub direct_path: Option<String>,
    /// `fileSha256`.
    pub file_sha256: Option<[u8; 32]>,
    /// `fileEncSha256`.
    pub file_enc_sha256: Option<[u8; 32]>,
    media_key: Option<MediaKey>,
}

impl fmt::Debug for MediaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaRef")
            .field("kind", &self.kind)
            .field("mimetype", &self.mimetype)
            .field("file_length", &self.file_length)
            .field("voice_note", &self.voice_note)
            .field("gif", &self.gif)
            .finish_non_exhaustive()
    }
}

fn hash(b: Option<&Bytes>) -> Option<[u8; 32]> {
    b.and_then(|b| b.as_ref().try_into().ok())
}

impl MediaRef {
    /// The media of `message` (after unwrapping), or `None` when it carries none.
    pub fn of(message: &Message) -> Option<Self> {
        let m = message.unwrapped();
        let key = |k: Option<&Bytes>| k.and_then(|k| MediaKey::from_slice(k));
        if let Some(i) = &m.image_message {
            return Some(Self {
                kind: Some(MediaKind::Image),
                mimetype: i.mimetype.clone(),
                caption: i.caption.clone(),
                file_length: i.file_length,
                width: i.width,
                height: i.height,
                url: i.url.clone(),
                direct_path: i.direct_path.clone(),
                file_sha256: hash(i.file_sha256.as_ref()),
                file_enc_sha256: hash(i.file_enc_sha256.as_ref()),
                media_key: key(i.media_key.as_ref()),
                ..Self::default()
            });
        }
        if let Some(v) = m.video_message.as_ref().or(m.ptv_message.as_ref()) {
            return Some(Self {
                kind: Some(MediaKind::Video),
                mimetype: v.mimetype.clone(),
                caption: v.caption.clone(),
                file_length: v.file_length,
                seconds: v.seconds,
                gif: v.gif_playback == Some(true),
                width: v.width,
                height: v.height,
                url: v.url.clone(),
                direct_path: v.direct_path.clone(),
                file_sha256: hash(v.file_sha256.as_ref()),
                file_enc_sha256: hash(v.file_enc_sha256.as_ref()),
                media_key: key(v.media_key.as_ref()),
                ..Self::default()
            });
        }
        if let Some(a) = &m.audio_message {
            return Some(Self {
                kind: Some(MediaKind::Audio),
                mimetype: a.mimetype.clone(),
                file_length: a.file_length,
                seconds: a.seconds,
                voice_note: a.ptt == Some(true),
                url: a.url.clone(),
                direct_path: a.direct_path.clone(),
                file_sha256: hash(a.file_sha256.as_ref()),
                file_enc_sha256: hash(a.file_enc_sha256.as_ref()),
                media_key: key(a.media_key.as_ref()),
                ..Self::default()
            });
        }
        if let Some(d) = &m.document_message {
            return Some(Self {
                kind: Some(MediaKind::Document),
                mimetype: d.mimetype.clone(),
                caption: d.caption.clone(),
                file_name: d.file_name.clone().or_else(|| d.title.clone()),
                file_length: d.file_length,
                url: d.url.clone(),
                direct_path: d.direct_path.clone(),
                file_sha256: hash(d.file_sha256.as_ref()),
                file_enc_sha256: hash(d.file_enc_sha256.as_ref()),
                media_key: key(d.media_key.as_ref()),
                ..Self::default()
            });
        }
        if let Some(s) = &m.sticker_message {
            return Some(Self {
                kind: Some(MediaKind::Sticker),
                mimetype: s.mimetype.clone(),
                file_length: s.file_length,
                animated: s.is_animated == Some(true),
                width: s.width,
                height: s.height,
                url: s.url.clone(),
                direct_path: s.direct_path.clone(),
                file_sha256: hash(s.file_sha256.as_ref()),
                file_enc_sha256: hash(s.file_enc_sha256.as_ref()),
                media_key: key(s.media_key.as_ref()),
                ..Self::default()
            });
        }
        None
    }

    /// The kind, or an error naming what is missing.
    pub fn kind(&self) -> Result<MediaKind, MediaError> {
        self.kind.ok_or(MediaError::NotMedia)
    }

    /// The media key (a 32-byte `mediaKey`).
    pub fn media_key(&self) -> Result<&MediaKey, MediaError> {
        self.media_key
            .as_ref()
            .ok_or(MediaError::MissingField("mediaKey"))
    }

    /// The expanded keys.
    pub fn keys(&self) -> Result<MediaKeys, MediaError> {
        Ok(self.media_key()?.expand(self.kind()?))
    }

    /// What the download must match. Both hashes are required: a message without them
    /// cannot be verified, so it is not downloaded.
    pub fn expected(&self) -> Result<Expected, MediaError> {
        Ok(Expected {
            file_enc_sha256: self
                .file_enc_sha256
                .ok_or(MediaError::MissingField("fileEncSha256"))?,
            file_sha256: self
                .file_sha256
                .ok_or(MediaError::MissingField("fileSha256"))?,
            file_length: self.file_length,
        })
    }

    /// The same media at a new direct path (after a re-upload; key and hashes are unchanged).
    pub fn with_direct_path(&self, direct_path: impl Into<String>) -> Self {
        Self {
            direct_path: Some(direct_path.into()),
            url: None,
            ..self.clone()
        }
    }
}

/// The `<enc mediatype>` for a message (`media.md` §3.7), `None` for text.
pub fn mediatype(message: &Message) -> Option<&'static str> {
    let m = message.unwrapped();
    if m.image_message.is_some() {
        Some("image")
    } else if let Some(v) = &m.video_message {
        Some(if v.gif_playback == Some(true) {
            "gif"
        } else {
            "video"
        })
    } else if m.ptv_message.is_some() {
        Some("ptv")
    } else if let Some(a) = &m.audio_message {
        Some(if a.ptt == Some(true) { "ptt" } else { "audio" })
    } else if m.document_message.is_some() {
        Some("document")
    } else if m.sticker_message.is_some() {
        Some("sticker")
    } else if let Some(l) = &m.location_message {
        Some(if l.is_live == Some(true) {
            "livelocation"
        } else {
            "location"
        })
    } else if m.live_location_message.is_some() {
        Some("livelocation")
    } else if m.contact_message.is_some() {
        Some("vcard")
    } else if m.contacts_array_message.is_some() {
        Some("contact_array")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Digests;
    use crate::proto::message::FutureProofMessage;
    use prost::Message as _;

    fn upload(kind: MediaKind) -> Upload {
        Upload {
            kind,
            media_key: MediaKey::from_bytes([5; 32]),
            digests: Digests {
                file_sha256: [1; 32],
                file_enc_sha256: [2; 32],
                file_length: 1234,
            },
            url: Some("https://h/x".into()),
            direct_path: "/v/x?oh=1".into(),
            uploaded_at: 1,
        }
    }

    #[test]
    fn every_kind_round_trips_through_the_protobuf() {
        let voice = MediaOptions {
            voice_note: true,
            seconds: Some(7),
            mimetype: Some("audio/ogg".into()),
            ..MediaOptions::default()
        };
        let gif = MediaOptions {
            gif: true,
            caption: Some("loop".into()),
            ..MediaOptions::default()
        };
        let doc = MediaOptions {
            file_name: Some("report.pdf".into()),
            caption: Some("see".into()),
            mimetype: Some("application/pdf".into()),
            ..MediaOptions::default()
        };
        let cases = [
            (MediaKind::Image, MediaOptions::default(), Some("image")),
            (MediaKind::Video, gif, Some("gif")),
            (MediaKind::Audio, voice, Some("ptt")),
            (MediaKind::Document, doc, Some("document")),
            (MediaKind::Sticker, MediaOptions::default(), Some("sticker")),
        ];
        for (kind, options, mediatype_attr) in cases {
            let message = media_message(&upload(kind), &options, 1_800_000_000);
            let decoded = Message::decode(message.encode_to_vec().as_slice()).unwrap();
            assert_eq!(mediatype(&decoded), mediatype_attr);
            let media = MediaRef::of(&decoded).unwrap();
            assert_eq!(media.kind, Some(kind));
            assert_eq!(media.file_length, Some(1234));
            assert_eq!(media.direct_path.as_deref(), Some("/v/x?oh=1"));
            assert_eq!(media.media_key().unwrap(), &MediaKey::from_bytes([5; 32]));
            assert_eq!(media.expected().unwrap().file_enc_sha256, [2; 32]);
            assert!(!format!("{media:?}").contains("0505"));
        }
        let voice = MediaRef::of(&media_message(
            &upload(MediaKind::Audio),
            &MediaOptions {
                voice_note: true,
                mimetype: Some("audio/ogg".into()),
                ..MediaOptions::default()
            },
            0,
        ))
        .unwrap();
        assert!(voice.voice_note);
        assert_eq!(voice.mimetype.as_deref(), Some(VOICE_NOTE_MIMETYPE));
        let doc = MediaRef::of(&media_message(
            &upload(MediaKind::Document),
            &MediaOptions::default(),
            0,
        ))
        .unwrap();
        assert_eq!(doc.file_name.as_deref(), Some("file"));
        let animated = MediaOptions {
            animated: true,
            ..MediaOptions::default()
        };
        let sticker = media_message(&upload(MediaKind::Sticker), &animated, 0);
        let sticker = Message::decode(sticker.encode_to_vec().as_slice()).unwrap();
        let sticker = MediaRef::of(&sticker).unwrap();
        assert!(sticker.animated);
        assert_eq!(sticker.mimetype.as_deref(), Some("image/webp"));
        let still = media_message(&upload(MediaKind::Sticker), &MediaOptions::default(), 0);
        assert!(!MediaRef::of(&still).unwrap().animated);
    }

    #[test]
    fn wrapped_media_is_found_and_incomplete_media_says_what_is_missing() {
        let inner = media_message(&upload(MediaKind::Document), &MediaOptions::default(), 0);
        let wrapped = Message {
            document_with_caption_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(inner)),
            })),
            ..Message::default()
        };
        assert_eq!(
            MediaRef::of(&wrapped).unwrap().kind,
            Some(MediaKind::Document)
        );
        assert!(MediaRef::of(&Message::text("hi")).is_none());
        let bare = Message {
            image_message: Some(Box::default()),
            ..Message::default()
        };
        let media = MediaRef::of(&bare).unwrap();
        assert_eq!(media.media_key(), Err(MediaError::MissingField("mediaKey")));
        assert_eq!(
            media.expected(),
            Err(MediaError::MissingField("fileEncSha256"))
        );
    }
}
