//! JPEG thumbnails of images (the `thumbnails` feature, on the `image` crate with only its
//! JPEG and PNG decoders): the inline `jpegThumbnail` a recipient shows until the download
//! finishes, at most [`EDGE`] pixels on its longer side, with the original's width and
//! height.
//!
//! Decoding needs the picture's pixels in memory: images whose decoded size passes
//! [`MAX_DECODED`] are refused ([`ThumbnailError`]) rather than decoded, and the message is
//! then sent without a thumbnail.

use std::io::{BufRead, Seek};

use bytes::Bytes;
use image::ImageReader;
use image::codecs::jpeg::JpegEncoder;
use thiserror::Error;

/// The longer side of a thumbnail, in pixels (mautrix-whatsapp's 72; Baileys makes 32).
pub const EDGE: u32 = 72;

/// The JPEG quality of a thumbnail.
pub const QUALITY: u8 = 60;

/// The most memory a decoded image may take (about 16 megapixels of RGBA).
pub const MAX_DECODED: u64 = 64 * 1024 * 1024;

/// A thumbnail and the size of the image it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// The JPEG.
    pub jpeg: Bytes,
    /// The original's width in pixels.
    pub width: u32,
    /// The original's height in pixels.
    pub height: u32,
}

/// Why no thumbnail could be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ThumbnailError {
    /// Reading the image failed.
    #[error("cannot read the image: {0}")]
    Io(#[from] std::io::Error),
    /// Not a JPEG or PNG this build decodes, a damaged one, or one too large to decode.
    #[error("cannot make a thumbnail of it: {0}")]
    Image(#[from] image::ImageError),
}

/// A JPEG thumbnail of the JPEG or PNG image `reader` holds.
pub fn jpeg_thumbnail(reader: impl BufRead + Seek) -> Result<Thumbnail, ThumbnailError> {
    let mut reader = ImageReader::new(reader).with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED);
    reader.limits(limits);
    let image = reader.decode()?;
    let (width, height) = (image.width(), image.height());
    let small = if width <= EDGE && height <= EDGE {
        image.into_rgb8()
    } else {
        image.thumbnail(EDGE, EDGE).into_rgb8()
    };
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, QUALITY).encode_image(&small)?;
    Ok(Thumbnail {
        jpeg: jpeg.into(),
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Cursor;

    use super::*;

    /// A `width`×`height` PNG with a gradient.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_thumbnail_is_a_small_jpeg_with_the_originals_size() {
        let thumbnail = jpeg_thumbnail(Cursor::new(png(640, 480))).unwrap();
        assert_eq!((thumbnail.width, thumbnail.height), (640, 480));
        assert!(thumbnail.jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        let small = image::load_from_memory(&thumbnail.jpeg).unwrap();
        assert_eq!((small.width(), small.height()), (EDGE, 54));
        // And of a JPEG, taller than wide.
        let jpeg = jpeg_thumbnail(Cursor::new(png(100, 300))).unwrap().jpeg;
        let again = jpeg_thumbnail(Cursor::new(jpeg.to_vec())).unwrap();
        assert_eq!((again.width, again.height), (24, EDGE));
    }

    #[test]
    fn what_is_not_an_image_gets_no_thumbnail() {
        assert!(jpeg_thumbnail(Cursor::new(b"%PDF-1.7 not a picture".to_vec())).is_err());
        let mut damaged = png(64, 64);
        damaged.truncate(60);
        assert!(jpeg_thumbnail(Cursor::new(damaged)).is_err());
    }
}
