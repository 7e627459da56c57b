//! The upload's answer and what a finished upload is (`media.md` §2.4).
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
use super::error::MediaError;
use super::keys::MediaKey;
use super::kind::MediaKind;

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
}
