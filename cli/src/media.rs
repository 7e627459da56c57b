//! `run --download-dir DIR`: the media of each received message is downloaded, verified and
//! saved as `DIR/<message id>.<ext>` (by a task beside `run`'s event loop, see
//! `crate::session`) before the message is printed, so the printed `media` object can name its
//! `path` (or the `download_error`: the message is still printed, and a corrupted file never
//! appears in `DIR`). A file that expired on the server is asked from the phone again first
//! (the media-retry flow).

use std::path::Path;

use tether_core::media::MediaRef;
use tether_core::messaging::types::IncomingMessage;

use crate::rt::Client;

/// Saves the media of `m` into `dir`: `("path", the path)` or `("download_error", why)`.
pub(crate) async fn save(
    client: &Client,
    m: &IncomingMessage,
    dir: &Path,
) -> (&'static str, String) {
    let Some(media) = MediaRef::of(&m.message) else {
        return ("download_error", "the message carries no media".into());
    };
    let path = dir.join(file_name(m.id.as_str(), &media));
    match client.download_message(m, &path).await {
        Ok(_) => ("path", path.display().to_string()),
        Err(e) => {
            tracing::warn!(target: "tether::run", id = m.id.as_str(), "media not saved: {e}");
            ("download_error", e.to_string())
        }
    }
}

/// `<id>.<ext>`: the id reduced to letters and digits (it comes from the sender), the
/// extension from the file name the sender gave, else from the mimetype.
fn file_name(id: &str, media: &MediaRef) -> String {
    let mut stem: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    if stem.is_empty() {
        stem.push_str("media");
    }
    let from_name = media
        .file_name
        .as_deref()
        .and_then(|n| Path::new(n).extension())
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_ascii_lowercase);
    let ext = from_name.unwrap_or_else(|| {
        let mimetype = media.mimetype.as_deref().unwrap_or_default();
        let essence = mimetype.split(';').next().unwrap_or_default().trim();
        match essence {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/webp" => "webp",
            "image/gif" => "gif",
            "video/mp4" => "mp4",
            "audio/ogg" => "ogg",
            "audio/mpeg" => "mp3",
            "audio/mp4" => "m4a",
            "application/pdf" => "pdf",
            "text/plain" => "txt",
            _ => "bin",
        }
        .to_owned()
    });
    format!("{stem}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(file_name: Option<&str>, mimetype: Option<&str>) -> MediaRef {
        let mut m = MediaRef::default();
        m.file_name = file_name.map(str::to_owned);
        m.mimetype = mimetype.map(str::to_owned);
        m
    }

    #[test]
    fn names_come_from_the_id_and_a_safe_extension() {
        let id = "3EB0/../FEED";
        assert_eq!(
            file_name(id, &media(Some("Report.PDF"), None)),
            "3EB0FEED.pdf"
        );
        assert_eq!(
            file_name(id, &media(None, Some("audio/ogg; codecs=opus"))),
            "3EB0FEED.ogg"
        );
        assert_eq!(
            file_name("../", &media(Some("x.tar/../../sh"), None)),
            "media.bin"
        );
        assert_eq!(
            file_name("A", &media(Some("a.verylongext"), Some("image/png"))),
            "A.png"
        );
    }
}
