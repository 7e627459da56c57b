//! The media messages of `Message` (`media.md` §3; field numbers from Baileys 6.17.16
//! `WAProto.proto` = whatsmeow `waE2E`): image 3, contact 4, location 5, document 7, audio 8,
//! video 9, contacts array 13, live location 18, sticker 26, PTV 66; and the two media-retry
//! payloads (`ServerErrorReceipt`, `MediaRetryNotification`).
//!
//! ```text
//! Image    { 1 url, 2 mimetype, 3 caption, 4 fileSha256, 5 fileLength, 6 height, 7 width,
//!            8 mediaKey, 9 fileEncSha256, 11 directPath, 12 mediaKeyTimestamp,
//!            16 jpegThumbnail, 17 contextInfo, 25 viewOnce }
//! Video    { 1 url, 2 mimetype, 3 fileSha256, 4 fileLength, 5 seconds, 6 mediaKey, 7 caption,
//!            8 gifPlayback, 9 height, 10 width, 11 fileEncSha256, 13 directPath,
//!            14 mediaKeyTimestamp, 16 jpegThumbnail, 17 contextInfo, 18 streamingSidecar,
//!            19 gifAttribution, 20 viewOnce }
//! Audio    { 1 url, 2 mimetype, 3 fileSha256, 4 fileLength, 5 seconds, 6 ptt, 7 mediaKey,
//!            8 fileEncSha256, 9 directPath, 10 mediaKeyTimestamp, 17 contextInfo,
//!            18 streamingSidecar, 19 waveform, 21 viewOnce }
//! Document { 1 url, 2 mimetype, 3 title, 4 fileSha256, 5 fileLength, 6 pageCount,
//!            7 mediaKey, 8 fileName, 9 fileEncSha256, 10 directPath, 11 mediaKeyTimestamp,
//!            16 jpegThumbnail, 17 contextInfo, 18 thumbnailHeight, 19 thumbnailWidth,
//!            20 caption }
//! Sticker  { 1 url, 2 fileSha256, 3 fileEncSha256, 4 mediaKey, 5 mimetype, 6 height,
//!            7 width, 8 directPath, 9 fileLength, 10 mediaKeyTimestamp, 13 isAnimated,
//!            16 pngThumbnail, 17 contextInfo }
//! Location { 1 degreesLatitude, 2 degreesLongitude, 3 name, 4 address, 5 url, 6 isLive,
//!            7 accuracyInMeters, 8 speedInMps, 9 degreesClockwiseFromMagneticNorth,
//!            11 comment, 16 jpegThumbnail, 17 contextInfo }
//! Contact  { 1 displayName, 16 vcard, 17 contextInfo }
//! ```
//!
//! Byte fields are `Bytes`; a message's secrets (`mediaKey`) are printed by nobody: the
//! `Debug` of these structs is prost's, so callers log [`crate::media`]'s summaries instead.

use bytes::Bytes;

use super::message::ContextInfo;

/// `ImageMessage` (field 3 of `Message`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageMessage {
    /// Field 1: the CDN URL the sender got from the upload.
    #[prost(string, optional, tag = "1")]
    pub url: Option<String>,
    /// Field 2: e.g. `image/jpeg`.
    #[prost(string, optional, tag = "2")]
    pub mimetype: Option<String>,
    /// Field 3: the caption.
    #[prost(string, optional, tag = "3")]
    pub caption: Option<String>,
    /// Field 4: SHA-256 of the plaintext file.
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub file_sha256: Option<Bytes>,
    /// Field 5: the plaintext length.
    #[prost(uint64, optional, tag = "5")]
    pub file_length: Option<u64>,
    /// Field 6: height in pixels.
    #[prost(uint32, optional, tag = "6")]
    pub height: Option<u32>,
    /// Field 7: width in pixels.
    #[prost(uint32, optional, tag = "7")]
    pub width: Option<u32>,
    /// Field 8: the 32-byte media key (secret).
    #[prost(bytes = "bytes", optional, tag = "8")]
    pub media_key: Option<Bytes>,
    /// Field 9: SHA-256 of the uploaded blob (ciphertext ‖ MAC).
    #[prost(bytes = "bytes", optional, tag = "9")]
    pub file_enc_sha256: Option<Bytes>,
    /// Field 11: the signed CDN path (with its query).
    #[prost(string, optional, tag = "11")]
    pub direct_path: Option<String>,
    /// Field 12: when the media key was made (Unix seconds).
    #[prost(int64, optional, tag = "12")]
    pub media_key_timestamp: Option<i64>,
    /// Field 16: a small inline JPEG preview.
    #[prost(bytes = "bytes", optional, tag = "16")]
    pub jpeg_thumbnail: Option<Bytes>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
    /// Field 25: view once.
    #[prost(bool, optional, tag = "25")]
    pub view_once: Option<bool>,
}

/// `VideoMessage` (field 9 of `Message`; also `ptvMessage`, field 66).
#[derive(Clone, PartialEq, prost::Message)]
pub struct VideoMessage {
    /// Field 1: the CDN URL.
    #[prost(string, optional, tag = "1")]
    pub url: Option<String>,
    /// Field 2: e.g. `video/mp4`.
    #[prost(string, optional, tag = "2")]
    pub mimetype: Option<String>,
    /// Field 3: SHA-256 of the plaintext file.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub file_sha256: Option<Bytes>,
    /// Field 4: the plaintext length.
    #[prost(uint64, optional, tag = "4")]
    pub file_length: Option<u64>,
    /// Field 5: duration in seconds.
    #[prost(uint32, optional, tag = "5")]
    pub seconds: Option<u32>,
    /// Field 6: the 32-byte media key (secret).
    #[prost(bytes = "bytes", optional, tag = "6")]
    pub media_key: Option<Bytes>,
    /// Field 7: the caption.
    #[prost(string, optional, tag = "7")]
    pub caption: Option<String>,
    /// Field 8: loop silently, as a GIF.
    #[prost(bool, optional, tag = "8")]
    pub gif_playback: Option<bool>,
    /// Field 9: height in pixels.
    #[prost(uint32, optional, tag = "9")]
    pub height: Option<u32>,
    /// Field 10: width in pixels.
    #[prost(uint32, optional, tag = "10")]
    pub width: Option<u32>,
    /// Field 11: SHA-256 of the uploaded blob.
    #[prost(bytes = "bytes", optional, tag = "11")]
    pub file_enc_sha256: Option<Bytes>,
    /// Field 13: the signed CDN path.
    #[prost(string, optional, tag = "13")]
    pub direct_path: Option<String>,
    /// Field 14: when the media key was made (Unix seconds).
    #[prost(int64, optional, tag = "14")]
    pub media_key_timestamp: Option<i64>,
    /// Field 16: a small inline JPEG preview.
    #[prost(bytes = "bytes", optional, tag = "16")]
    pub jpeg_thumbnail: Option<Bytes>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
    /// Field 18: per-64-KiB MACs for partial playback (optional; Tether does not send it).
    #[prost(bytes = "bytes", optional, tag = "18")]
    pub streaming_sidecar: Option<Bytes>,
    /// Field 19: where a GIF came from (NONE 0, GIPHY 1, TENOR 2, KLIPY 3).
    #[prost(int32, optional, tag = "19")]
    pub gif_attribution: Option<i32>,
    /// Field 20: view once.
    #[prost(bool, optional, tag = "20")]
    pub view_once: Option<bool>,
}

/// `AudioMessage` (field 8 of `Message`): music, or a voice note when `ptt`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AudioMessage {
    /// Field 1: the CDN URL.
    #[prost(string, optional, tag = "1")]
    pub url: Option<String>,
    /// Field 2: a voice note is exactly `audio/ogg; codecs=opus`.
    #[prost(string, optional, tag = "2")]
    pub mimetype: Option<String>,
    /// Field 3: SHA-256 of the plaintext file.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub file_sha256: Option<Bytes>,
    /// Field 4: the plaintext length.
    #[prost(uint64, optional, tag = "4")]
    pub file_length: Option<u64>,
    /// Field 5: duration in seconds.
    #[prost(uint32, optional, tag = "5")]
    pub seconds: Option<u32>,
    /// Field 6: push-to-talk: a voice note.
    #[prost(bool, optional, tag = "6")]
    pub ptt: Option<bool>,
    /// Field 7: the 32-byte media key (secret).
    #[prost(bytes = "bytes", optional, tag = "7")]
    pub media_key: Option<Bytes>,
    /// Field 8: SHA-256 of the uploaded blob.
    #[prost(bytes = "bytes", optional, tag = "8")]
    pub file_enc_sha256: Option<Bytes>,
    /// Field 9: the signed CDN path.
    #[prost(string, optional, tag = "9")]
    pub direct_path: Option<String>,
    /// Field 10: when the media key was made (Unix seconds).
    #[prost(int64, optional, tag = "10")]
    pub media_key_timestamp: Option<i64>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
    /// Field 18: per-64-KiB MACs for partial playback.
    #[prost(bytes = "bytes", optional, tag = "18")]
    pub streaming_sidecar: Option<Bytes>,
    /// Field 19: the voice note's waveform (64 samples of 0–100).
    #[prost(bytes = "bytes", optional, tag = "19")]
    pub waveform: Option<Bytes>,
    /// Field 21: view once.
    #[prost(bool, optional, tag = "21")]
    pub view_once: Option<bool>,
}

/// `DocumentMessage` (field 7 of `Message`; inside `documentWithCaptionMessage`, 53, too).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DocumentMessage {
    /// Field 1: the CDN URL.
    #[prost(string, optional, tag = "1")]
    pub url: Option<String>,
    /// Field 2: e.g. `application/pdf`.
    #[prost(string, optional, tag = "2")]
    pub mimetype: Option<String>,
    /// Field 3: the title.
    #[prost(string, optional, tag = "3")]
    pub title: Option<String>,
    /// Field 4: SHA-256 of the plaintext file.
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub file_sha256: Option<Bytes>,
    /// Field 5: the plaintext length.
    #[prost(uint64, optional, tag = "5")]
    pub file_length: Option<u64>,
    /// Field 6: pages (PDFs).
    #[prost(uint32, optional, tag = "6")]
    pub page_count: Option<u32>,
    /// Field 7: the 32-byte media key (secret).
    #[prost(bytes = "bytes", optional, tag = "7")]
    pub media_key: Option<Bytes>,
    /// Field 8: the file name the recipient sees.
    #[prost(string, optional, tag = "8")]
    pub file_name: Option<String>,
    /// Field 9: SHA-256 of the uploaded blob.
    #[prost(bytes = "bytes", optional, tag = "9")]
    pub file_enc_sha256: Option<Bytes>,
    /// Field 10: the signed CDN path.
    #[prost(string, optional, tag = "10")]
    pub direct_path: Option<String>,
    /// Field 11: when the media key was made (Unix seconds).
    #[prost(int64, optional, tag = "11")]
    pub media_key_timestamp: Option<i64>,
    /// Field 16: a small inline JPEG preview.
    #[prost(bytes = "bytes", optional, tag = "16")]
    pub jpeg_thumbnail: Option<Bytes>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
    /// Field 18: the thumbnail's height.
    #[prost(uint32, optional, tag = "18")]
    pub thumbnail_height: Option<u32>,
    /// Field 19: the thumbnail's width.
    #[prost(uint32, optional, tag = "19")]
    pub thumbnail_width: Option<u32>,
    /// Field 20: the caption.
    #[prost(string, optional, tag = "20")]
    pub caption: Option<String>,
}

/// `StickerMessage` (field 26 of `Message`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StickerMessage {
    /// Field 1: the CDN URL.
    #[prost(string, optional, tag = "1")]
    pub url: Option<String>,
    /// Field 2: SHA-256 of the plaintext file.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub file_sha256: Option<Bytes>,
    /// Field 3: SHA-256 of the uploaded blob.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub file_enc_sha256: Option<Bytes>,
    /// Field 4: the 32-byte media key (secret).
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub media_key: Option<Bytes>,
    /// Field 5: `image/webp`.
    #[prost(string, optional, tag = "5")]
    pub mimetype: Option<String>,
    /// Field 6: height in pixels.
    #[prost(uint32, optional, tag = "6")]
    pub height: Option<u32>,
    /// Field 7: width in pixels.
    #[prost(uint32, optional, tag = "7")]
    pub width: Option<u32>,
    /// Field 8: the signed CDN path.
    #[prost(string, optional, tag = "8")]
    pub direct_path: Option<String>,
    /// Field 9: the plaintext length.
    #[prost(uint64, optional, tag = "9")]
    pub file_length: Option<u64>,
    /// Field 10: when the media key was made (Unix seconds).
    #[prost(int64, optional, tag = "10")]
    pub media_key_timestamp: Option<i64>,
    /// Field 13: an animated WebP.
    #[prost(bool, optional, tag = "13")]
    pub is_animated: Option<bool>,
    /// Field 16: a small inline PNG preview.
    #[prost(bytes = "bytes", optional, tag = "16")]
    pub png_thumbnail: Option<Bytes>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
}

/// `LocationMessage` (field 5 of `Message`): nothing to download.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LocationMessage {
    /// Field 1: latitude.
    #[prost(double, optional, tag = "1")]
    pub degrees_latitude: Option<f64>,
    /// Field 2: longitude.
    #[prost(double, optional, tag = "2")]
    pub degrees_longitude: Option<f64>,
    /// Field 3: the place's name.
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// Field 4: its address.
    #[prost(string, optional, tag = "4")]
    pub address: Option<String>,
    /// Field 5: a link for the place.
    #[prost(string, optional, tag = "5")]
    pub url: Option<String>,
    /// Field 6: a live location.
    #[prost(bool, optional, tag = "6")]
    pub is_live: Option<bool>,
    /// Field 7: accuracy in meters.
    #[prost(uint32, optional, tag = "7")]
    pub accuracy_in_meters: Option<u32>,
    /// Field 8: speed in m/s.
    #[prost(float, optional, tag = "8")]
    pub speed_in_mps: Option<f32>,
    /// Field 9: heading.
    #[prost(uint32, optional, tag = "9")]
    pub degrees_clockwise_from_magnetic_north: Option<u32>,
    /// Field 11: a comment.
    #[prost(string, optional, tag = "11")]
    pub comment: Option<String>,
    /// Field 16: an inline map preview.
    #[prost(bytes = "bytes", optional, tag = "16")]
    pub jpeg_thumbnail: Option<Bytes>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
}

/// `LiveLocationMessage` (field 18 of `Message`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LiveLocationMessage {
    /// Field 1: latitude.
    #[prost(double, optional, tag = "1")]
    pub degrees_latitude: Option<f64>,
    /// Field 2: longitude.
    #[prost(double, optional, tag = "2")]
    pub degrees_longitude: Option<f64>,
    /// Field 3: accuracy in meters.
    #[prost(uint32, optional, tag = "3")]
    pub accuracy_in_meters: Option<u32>,
    /// Field 6: a caption.
    #[prost(string, optional, tag = "6")]
    pub caption: Option<String>,
    /// Field 7: which update this is.
    #[prost(int64, optional, tag = "7")]
    pub sequence_number: Option<i64>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
}

/// `ContactMessage` (field 4 of `Message`): one vCard.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContactMessage {
    /// Field 1: the name shown.
    #[prost(string, optional, tag = "1")]
    pub display_name: Option<String>,
    /// Field 16: the vCard text.
    #[prost(string, optional, tag = "16")]
    pub vcard: Option<String>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
}

/// `ContactsArrayMessage` (field 13 of `Message`): several vCards.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContactsArrayMessage {
    /// Field 1: the name shown for the list.
    #[prost(string, optional, tag = "1")]
    pub display_name: Option<String>,
    /// Field 2: the contacts.
    #[prost(message, repeated, tag = "2")]
    pub contacts: Vec<ContactMessage>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
}

/// `ServerErrorReceipt`: what a media-retry receipt encrypts (`media.md` §4.4).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ServerErrorReceipt {
    /// Field 1: the message id.
    #[prost(string, optional, tag = "1")]
    pub stanza_id: Option<String>,
}

/// `MediaRetryNotification.ResultType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MediaRetryResult {
    /// Unspecified failure.
    GeneralError = 0,
    /// Re-uploaded: the notification carries the new direct path.
    Success = 1,
    /// The phone no longer has the file.
    NotFound = 2,
    /// The phone could not decrypt the request.
    DecryptionError = 3,
}

/// `MediaRetryNotification`: what a `mediaretry` notification encrypts.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MediaRetryNotification {
    /// Field 1: the message id.
    #[prost(string, optional, tag = "1")]
    pub stanza_id: Option<String>,
    /// Field 2: the new direct path.
    #[prost(string, optional, tag = "2")]
    pub direct_path: Option<String>,
    /// Field 3: the [`MediaRetryResult`] (raw value kept).
    #[prost(enumeration = "MediaRetryResult", optional, tag = "3")]
    pub result: Option<i32>,
}
