//! [`MediaKind`]: what a blob is, which decides its HKDF info string, its upload path and the
//! `mms-type` of a download (`media.md` §2.1), and the `mediatype` attribute of the stanza that
//! carries it (§3.7).

use std::fmt;

/// What a blob is (`media.md` §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MediaKind {
    /// An image (`imageMessage`).
    Image,
    /// A video, a GIF (`gifPlayback`) or a round video note (`ptvMessage`).
    Video,
    /// Audio, voice notes included (`audioMessage`).
    Audio,
    /// A document (`documentMessage`).
    Document,
    /// A sticker (`stickerMessage`): image keys, uploaded as an image.
    Sticker,
    /// A history-sync blob.
    History,
    /// An app-state blob.
    AppState,
    /// A link preview's thumbnail.
    LinkThumbnail,
    /// An image's HQ thumbnail.
    ImageThumbnail,
    /// A video's HQ thumbnail.
    VideoThumbnail,
    /// A document's HQ thumbnail.
    DocumentThumbnail,
    /// A sticker pack (ZIP).
    StickerPack,
    /// A sticker pack's thumbnail.
    StickerPackThumbnail,
    /// A payment background.
    PaymentBackground,
}

impl MediaKind {
    /// Every kind.
    pub const ALL: [Self; 14] = [
        Self::Image,
        Self::Video,
        Self::Audio,
        Self::Document,
        Self::Sticker,
        Self::History,
        Self::AppState,
        Self::LinkThumbnail,
        Self::ImageThumbnail,
        Self::VideoThumbnail,
        Self::DocumentThumbnail,
        Self::StickerPack,
        Self::StickerPackThumbnail,
        Self::PaymentBackground,
    ];

    /// The HKDF info string its keys are expanded with.
    pub fn hkdf_info(self) -> &'static str {
        match self {
            Self::Image | Self::Sticker => "WhatsApp Image Keys",
            Self::Video => "WhatsApp Video Keys",
            Self::Audio => "WhatsApp Audio Keys",
            Self::Document => "WhatsApp Document Keys",
            Self::History => "WhatsApp History Keys",
            Self::AppState => "WhatsApp App State Keys",
            Self::LinkThumbnail => "WhatsApp Link Thumbnail Keys",
            Self::ImageThumbnail => "WhatsApp Image Thumbnail Keys",
            Self::VideoThumbnail => "WhatsApp Video Thumbnail Keys",
            Self::DocumentThumbnail => "WhatsApp Document Thumbnail Keys",
            Self::StickerPack => "WhatsApp Sticker Pack Keys",
            Self::StickerPackThumbnail => "WhatsApp Sticker Pack Thumbnail Keys",
            Self::PaymentBackground => "WhatsApp Payment Background Keys",
        }
    }

    /// The `mms` type: the upload path is `/mms/<type>/…` and a download names it in
    /// `mms-type` (whatsmeow). `None` for kinds no client uploads.
    pub fn mms_type(self) -> Option<&'static str> {
        Some(match self {
            Self::Image | Self::Sticker => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::History => "md-msg-hist",
            Self::AppState => "md-app-state",
            Self::LinkThumbnail => "thumbnail-link",
            Self::StickerPack => "sticker-pack",
            Self::StickerPackThumbnail => "thumbnail-sticker-pack",
            Self::ImageThumbnail
            | Self::VideoThumbnail
            | Self::DocumentThumbnail
            | Self::PaymentBackground => return None,
        })
    }

    /// A short stable name (`image`, `video`, …), used in records, JSON and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::History => "history",
            Self::AppState => "app-state",
            Self::LinkThumbnail => "link-thumbnail",
            Self::ImageThumbnail => "image-thumbnail",
            Self::VideoThumbnail => "video-thumbnail",
            Self::DocumentThumbnail => "document-thumbnail",
            Self::StickerPack => "sticker-pack",
            Self::StickerPackThumbnail => "sticker-pack-thumbnail",
            Self::PaymentBackground => "payment-background",
        }
    }

    /// The kind with this [`MediaKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind an `mms` upload path names (`/mms/<type>`), for servers; stickers arrive as
    /// images.
    pub fn from_mms_type(mms: &str) -> Option<Self> {
        match mms {
            // Baileys 6.17.16 uploads history blobs under md-app-state (media.md §8 item 9).
            "md-app-state" => Some(Self::AppState),
            _ => Self::ALL.into_iter().find(|k| k.mms_type() == Some(mms)),
        }
    }

    /// Whether this kind is sent in a chat message (image, video, audio, document, sticker).
    pub fn is_message_media(self) -> bool {
        matches!(
            self,
            Self::Image | Self::Video | Self::Audio | Self::Document | Self::Sticker
        )
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_stickers_upload_as_images() {
        for kind in MediaKind::ALL {
            assert_eq!(MediaKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(MediaKind::Sticker.mms_type(), Some("image"));
        assert_eq!(MediaKind::Sticker.hkdf_info(), "WhatsApp Image Keys");
        assert_eq!(MediaKind::from_mms_type("image"), Some(MediaKind::Image));
        assert_eq!(
            MediaKind::from_mms_type("md-app-state"),
            Some(MediaKind::AppState)
        );
        assert_eq!(MediaKind::from_mms_type("nope"), None);
    }
}
