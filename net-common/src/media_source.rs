//! Where the file of a media message comes from ([`MediaSource`]: a path, bytes or an async
//! reader), and what is learnt from it before the upload: its mimetype (from its name, else
//! its first bytes), a voice note's duration (its Ogg pages), whether a sticker is animated
//! (its WebP header) and, with the `thumbnails`
//! feature, an image's size and JPEG thumbnail (the `thumbnail` module).
//!
//! ```text
//! MediaSource ─▶ prepare(kind, limit)
//!   path   ─▶ its size checked (metadata, before reading)       ─▶ Prepared::File
//!   bytes  ─▶ their length checked                               ─▶ Prepared::Bytes
//!   reader ─▶ copied in CHUNKs into a 0600 spool file in the temp directory, refused as soon
//!             as it passes the limit                              ─▶ Prepared::File (spool,
//!             removed when the Prepared is dropped)
//! Prepared ─▶ fill_options: mimetype, file name, seconds, animated, thumbnail, width/height
//!            where unset
//!          ─▶ plain() ─▶ media::upload_plain (read once within the memory budget, else
//!             twice: digests, then the socket)
//! ```
//!
//! A reader is never held whole: it is streamed to the spool file and the upload reads that
//! file in chunks like any other.

use std::fmt;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures_util::io::{AsyncRead, AsyncReadExt};
use tether_core::media::{MediaError, MediaKind, MediaOptions};

use crate::media::{CHUNK, Plain, checked_size};

/// The file of a media message: a path, bytes in memory or an async reader (streamed to a
/// private spool file, never held whole), with the file name it is known by.
///
/// Paths (`&Path`, `PathBuf`, `&str`, `String`) and bytes (`Vec<u8>`, `Bytes`, `&'static
/// [u8]`) convert with `into()`; a reader is [`MediaSource::reader`] (on tokio,
/// `tether_runtime_tokio::media_reader` wraps a `tokio::io::AsyncRead`).
pub struct MediaSource {
    input: Input,
    name: Option<String>,
}

enum Input {
    Path(PathBuf),
    Bytes(Bytes),
    Reader(Pin<Box<dyn AsyncRead + Send>>),
}

impl MediaSource {
    /// The file at `path` (named by its file name).
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self {
            input: Input::Path(path.into()),
            name: None,
        }
    }

    /// These bytes (no name unless [`named`](Self::named)).
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Self {
            input: Input::Bytes(bytes.into()),
            name: None,
        }
    }

    /// Everything `reader` gives until its end (futures-io's `AsyncRead`, as smol's files
    /// and sockets are), copied to a spool file as it is read.
    pub fn reader(reader: impl AsyncRead + Send + 'static) -> Self {
        Self {
            input: Input::Reader(Box::pin(reader)),
            name: None,
        }
    }

    /// Known by `name` (for example `report.pdf`): the file name a document shows, and the
    /// extension the mimetype is guessed from.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The name given, else a path's file name.
    pub fn name(&self) -> Option<&str> {
        match (&self.name, &self.input) {
            (Some(name), _) => Some(name),
            (None, Input::Path(path)) => path.file_name().and_then(|n| n.to_str()),
            (None, _) => None,
        }
    }

    /// Checks the size against `limit` (a path's before it is read, a reader's as it is
    /// read) and makes the source readable twice, as an upload reads it.
    pub async fn prepare(self, kind: MediaKind, limit: u64) -> Result<Prepared, MediaError> {
        let name = self.name().map(str::to_owned);
        let data = match self.input {
            Input::Path(path) => {
                checked_size(&path, kind, limit)?;
                Data::File { path, _spool: None }
            }
            Input::Bytes(bytes) => {
                let size = bytes.len() as u64;
                if size > limit {
                    return Err(MediaError::TooLarge { kind, size, limit });
                }
                Data::Bytes(bytes)
            }
            Input::Reader(reader) => {
                let spool = spool(reader, kind, limit).await?;
                Data::File {
                    path: spool.to_path_buf(),
                    _spool: Some(spool),
                }
            }
        };
        Ok(Prepared { data, name })
    }
}

impl fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = match &self.input {
            Input::Path(path) => format!("path {}", path.display()),
            Input::Bytes(bytes) => format!("{} bytes", bytes.len()),
            Input::Reader(_) => "a reader".to_owned(),
        };
        f.debug_struct("MediaSource")
            .field("input", &input)
            .field("name", &self.name)
            .finish()
    }
}

impl From<&Path> for MediaSource {
    fn from(path: &Path) -> Self {
        Self::path(path)
    }
}

impl From<PathBuf> for MediaSource {
    fn from(path: PathBuf) -> Self {
        Self::path(path)
    }
}

impl From<&PathBuf> for MediaSource {
    fn from(path: &PathBuf) -> Self {
        Self::path(path.as_path())
    }
}

impl From<&str> for MediaSource {
    fn from(path: &str) -> Self {
        Self::path(path)
    }
}

impl From<String> for MediaSource {
    fn from(path: String) -> Self {
        Self::path(path)
    }
}

impl From<Vec<u8>> for MediaSource {
    fn from(bytes: Vec<u8>) -> Self {
        Self::bytes(bytes)
    }
}

impl From<Bytes> for MediaSource {
    fn from(bytes: Bytes) -> Self {
        Self::bytes(bytes)
    }
}

impl From<&'static [u8]> for MediaSource {
    fn from(bytes: &'static [u8]) -> Self {
        Self::bytes(Bytes::from_static(bytes))
    }
}

/// Copies `reader` into a new 0600 file in the temp directory, refusing it once it passes
/// `limit`.
async fn spool(
    mut reader: Pin<Box<dyn AsyncRead + Send>>,
    kind: MediaKind,
    limit: u64,
) -> Result<tempfile::TempPath, MediaError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |e: std::io::Error| MediaError::Io {
            what: what.clone(),
            detail: e.to_string(),
        }
    };
    let file = tempfile::Builder::new()
        .prefix("tether-media-")
        .tempfile()
        .map_err(io("creating a spool file in the temp directory"))?;
    let (mut file, path) = file.into_parts();
    let writing = io(&format!("writing the spool file {}", path.display()));
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(io("reading the media reader"))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > limit {
            return Err(MediaError::TooLarge { kind, size, limit });
        }
        std::io::Write::write_all(&mut file, buf.get(..n).unwrap_or_default()).map_err(&writing)?;
    }
    std::io::Write::flush(&mut file).map_err(&writing)?;
    Ok(path)
}

/// A source ready to upload: its size checked, readable twice.
#[derive(Debug)]
pub struct Prepared {
    data: Data,
    name: Option<String>,
}

#[derive(Debug)]
enum Data {
    /// A file; `_spool`: ours, kept until the upload is done and removed on drop.
    File {
        path: PathBuf,
        _spool: Option<tempfile::TempPath>,
    },
    Bytes(Bytes),
}

impl Prepared {
    /// What the upload reads.
    pub fn plain(&self) -> Plain<'_> {
        match &self.data {
            Data::File { path, .. } => Plain::File(path),
            Data::Bytes(bytes) => Plain::Bytes(bytes),
        }
    }

    /// The source's name (see [`MediaSource::name`]).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Up to `n` bytes from the start (`at_end`: from the end).
    fn peek(&self, n: usize, at_end: bool) -> Option<Vec<u8>> {
        match &self.data {
            Data::Bytes(bytes) => {
                let start = if at_end {
                    bytes.len().saturating_sub(n)
                } else {
                    0
                };
                let end = start.saturating_add(n).min(bytes.len());
                bytes.get(start..end).map(<[u8]>::to_vec)
            }
            Data::File { path, .. } => {
                let mut file = std::fs::File::open(path).ok()?;
                if at_end {
                    let length = file.metadata().ok()?.len();
                    file.seek(SeekFrom::Start(length.saturating_sub(n as u64)))
                        .ok()?;
                }
                let mut out = Vec::with_capacity(n);
                file.take(n as u64).read_to_end(&mut out).ok()?;
                Some(out)
            }
        }
    }

    /// The mimetype: by the name's extension, else by the first bytes, else the kind's
    /// default.
    pub fn mimetype(&self, kind: MediaKind) -> String {
        if let Some(name) = self.name()
            && let Some(known) = crate::media_client::mimetype_by_extension(Path::new(name))
        {
            return known.to_owned();
        }
        self.peek(16, false)
            .as_deref()
            .and_then(sniff_mimetype)
            .unwrap_or_else(|| tether_core::media::message::default_mimetype(kind))
            .to_owned()
    }

    /// The duration of an Ogg/Opus file, from its first and last pages.
    pub fn ogg_seconds(&self) -> Option<u32> {
        use tether_core::media::ogg::{HEAD_BYTES, TAIL_BYTES, opus_seconds};
        let head = self.peek(HEAD_BYTES, false)?;
        let tail = self.peek(TAIL_BYTES, true)?;
        opus_seconds(&head, &tail)
    }

    /// Whether the file is an animated WebP, from its first bytes.
    pub fn webp_animated(&self) -> bool {
        use tether_core::media::webp::{HEAD_BYTES, webp_animated};
        self.peek(HEAD_BYTES, false)
            .is_some_and(|head| webp_animated(&head))
    }

    /// Fills in what `options` leave unset and the source tells: the mimetype, a document's
    /// file name, a voice note's duration, whether a sticker is animated, and (with the `thumbnails` feature) an image's
    /// width, height and JPEG thumbnail. A thumbnail that cannot be made (not an image this
    /// build decodes, or too large to decode) is left out with a warning: the message goes
    /// without one.
    pub fn fill_options(&self, kind: MediaKind, options: &mut MediaOptions) {
        if options.mimetype.is_none() {
            options.mimetype = Some(self.mimetype(kind));
        }
        if kind == MediaKind::Document && options.file_name.is_none() {
            options.file_name = self.name().map(str::to_owned);
        }
        if kind == MediaKind::Audio && options.voice_note && options.seconds.is_none() {
            options.seconds = self.ogg_seconds();
        }
        if kind == MediaKind::Sticker && !options.animated {
            options.animated = self.webp_animated();
        }
        #[cfg(feature = "thumbnails")]
        if kind == MediaKind::Image && options.thumbnail.is_none() {
            match self.thumbnail() {
                Ok(thumbnail) => {
                    options.thumbnail = Some(thumbnail.jpeg);
                    options.width = options.width.or(Some(thumbnail.width));
                    options.height = options.height.or(Some(thumbnail.height));
                }
                Err(e) => tracing::warn!(error = %e, "sending the image without a thumbnail"),
            }
        }
    }

    /// A JPEG thumbnail of the image (see [`crate::thumbnail::jpeg_thumbnail`]).
    #[cfg(feature = "thumbnails")]
    pub fn thumbnail(
        &self,
    ) -> Result<crate::thumbnail::Thumbnail, crate::thumbnail::ThumbnailError> {
        match &self.data {
            Data::Bytes(bytes) => {
                crate::thumbnail::jpeg_thumbnail(std::io::Cursor::new(bytes.as_ref()))
            }
            Data::File { path, .. } => {
                let file =
                    std::fs::File::open(path).map_err(crate::thumbnail::ThumbnailError::from)?;
                crate::thumbnail::jpeg_thumbnail(std::io::BufReader::new(file))
            }
        }
    }
}

/// [`Prepared::fill_options`] for the file at `path` (its size is not checked here).
pub fn fill_options_for_path(kind: MediaKind, path: &Path, options: &mut MediaOptions) {
    let prepared = Prepared {
        data: Data::File {
            path: path.to_path_buf(),
            _spool: None,
        },
        name: path.file_name().and_then(|n| n.to_str()).map(str::to_owned),
    };
    prepared.fill_options(kind, options);
}

/// Whether the file at `path` is a WebP image, by its first bytes (what a sticker must be:
/// the apps show nothing for another format sent as a sticker).
pub fn is_webp_file(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 12];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| sniff_mimetype(&head) == Some("image/webp"))
}

/// The mimetype the first bytes of a file announce (JPEG, PNG, GIF, WebP, Ogg, MP4, PDF).
pub fn sniff_mimetype(head: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if starts(b"OggS") {
        Some("audio/ogg; codecs=opus")
    } else if head.get(4..8) == Some(b"ftyp") {
        Some("video/mp4")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::future::Future;

    use super::*;

    #[test]
    fn the_first_bytes_name_the_common_formats() {
        assert_eq!(
            sniff_mimetype(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(sniff_mimetype(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_mimetype(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_mimetype(b"\0\0\0\x20ftypisom"), Some("video/mp4"));
        assert_eq!(
            sniff_mimetype(b"OggS\0\x02"),
            Some("audio/ogg; codecs=opus")
        );
        assert_eq!(sniff_mimetype(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff_mimetype(b"hello"), None);
        assert_eq!(sniff_mimetype(b""), None);
    }

    #[test]
    fn a_reader_is_spooled_and_removed_with_what_it_prepared() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let source =
            MediaSource::reader(futures_util::io::Cursor::new(data.clone())).named("a.pdf");
        let prepared =
            futures_executor_block_on(source.prepare(MediaKind::Document, 1 << 20)).unwrap();
        let Plain::File(path) = prepared.plain() else {
            panic!("a reader is spooled to a file");
        };
        let path = path.to_path_buf();
        assert_eq!(std::fs::read(&path).unwrap(), data);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(prepared.mimetype(MediaKind::Document), "application/pdf");
        let mut options = MediaOptions::default();
        prepared.fill_options(MediaKind::Document, &mut options);
        assert_eq!(options.file_name.as_deref(), Some("a.pdf"));
        drop(prepared);
        assert!(!path.exists(), "the spool file outlived its upload");
    }

    #[test]
    fn a_source_over_the_limit_is_refused_and_leaves_no_spool() {
        let data = vec![7u8; 300_000];
        let refused = futures_executor_block_on(
            MediaSource::reader(futures_util::io::Cursor::new(data.clone()))
                .prepare(MediaKind::Image, 100_000),
        );
        assert!(
            matches!(refused, Err(MediaError::TooLarge { limit: 100_000, .. })),
            "{refused:?}"
        );
        let refused =
            futures_executor_block_on(MediaSource::bytes(data).prepare(MediaKind::Image, 100_000));
        assert!(
            matches!(refused, Err(MediaError::TooLarge { size: 300_000, .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn a_sticker_is_animated_when_its_webp_header_says_so() {
        let webp = |flags: u8| {
            let mut file = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
            file.extend_from_slice(&[flags, 0, 0, 0, 7, 7]);
            file
        };
        for (flags, animated) in [(0x12, true), (0x10, false)] {
            let prepared = futures_executor_block_on(
                MediaSource::bytes(webp(flags)).prepare(MediaKind::Sticker, 1 << 20),
            )
            .unwrap();
            let mut options = MediaOptions::default();
            prepared.fill_options(MediaKind::Sticker, &mut options);
            assert_eq!(options.animated, animated, "flags {flags:#x}");
            assert_eq!(options.mimetype.as_deref(), Some("image/webp"));
        }
    }

    #[test]
    fn bytes_are_named_by_their_first_bytes_unless_named() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let prepared = futures_executor_block_on(
            MediaSource::bytes(jpeg.to_vec()).prepare(MediaKind::Image, 1 << 20),
        )
        .unwrap();
        assert_eq!(prepared.mimetype(MediaKind::Image), "image/jpeg");
        let prepared = futures_executor_block_on(
            MediaSource::bytes(b"just text".to_vec())
                .named("notes.txt")
                .prepare(MediaKind::Document, 1 << 20),
        )
        .unwrap();
        assert_eq!(prepared.mimetype(MediaKind::Document), "text/plain");
        let prepared = futures_executor_block_on(
            MediaSource::bytes(b"just text".to_vec()).prepare(MediaKind::Document, 1 << 20),
        )
        .unwrap();
        assert_eq!(
            prepared.mimetype(MediaKind::Document),
            tether_core::media::message::default_mimetype(MediaKind::Document)
        );
    }

    #[cfg(feature = "thumbnails")]
    #[test]
    fn an_image_gets_a_thumbnail_and_its_size_unless_the_caller_gave_one() {
        let image = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut png = std::io::Cursor::new(Vec::new());
        image.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let prepared = futures_executor_block_on(
            MediaSource::bytes(png.into_inner()).prepare(MediaKind::Image, 1 << 20),
        )
        .unwrap();
        let mut options = MediaOptions::default();
        prepared.fill_options(MediaKind::Image, &mut options);
        assert_eq!(options.mimetype.as_deref(), Some("image/png"));
        assert_eq!((options.width, options.height), (Some(300), Some(200)));
        let thumbnail = options.thumbnail.clone().unwrap();
        assert!(thumbnail.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG");
        // The caller's thumbnail stays.
        let mut options = MediaOptions::default();
        options.thumbnail = Some(Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xD9]));
        prepared.fill_options(MediaKind::Image, &mut options);
        assert_eq!(
            options.thumbnail.as_deref(),
            Some(&[0xFF, 0xD8, 0xFF, 0xD9][..])
        );
        // Not an image: sent without one.
        let prepared = futures_executor_block_on(
            MediaSource::bytes(b"not a picture".to_vec()).prepare(MediaKind::Image, 1 << 20),
        )
        .unwrap();
        let mut options = MediaOptions::default();
        prepared.fill_options(MediaKind::Image, &mut options);
        assert!(options.thumbnail.is_none() && options.width.is_none());
    }

    /// Runs `fut` to completion on this thread (the futures here never wait on I/O).
    fn futures_executor_block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }
}
