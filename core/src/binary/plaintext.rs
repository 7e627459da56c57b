//! The transport plaintext (`transport.md` §6): a flags byte, then the node — zlib-compressed
//! (RFC 1950) when bit `0x02` is set.
//!
//! ```text
//! plaintext := flags (1 byte) || body        body = node, or zlib(node) if flags & 0x02
//! ```
//!
//! Only bit `0x02` is tested; other bits are ignored, as all clients do. Tether always sends
//! flags `0x00`, uncompressed. Inflating is incremental and bounded: the output buffer grows in
//! steps and never beyond `limit + 1` bytes, so a decompression bomb fails with
//! [`DecodeErrorKind::InflatedTooLarge`] as soon as its output passes the limit, without
//! allocating what it would have expanded to. A zlib stream that is corrupt, truncated or
//! followed by extra bytes is an [`DecodeErrorKind::Inflate`] error.

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};

use super::decode::{DecodeError, DecodeErrorKind, decode};
use super::encode::{EncodeError, encode};
use super::node::Node;
use super::token::TokenDict;

/// Flags bit: the body is a zlib stream.
pub const FLAG_COMPRESSED: u8 = 0x02;

/// Default cap on the inflated size of a compressed body: 16 MiB.
pub const DEFAULT_MAX_INFLATED_LEN: usize = 16 * 1024 * 1024;

/// Decodes a transport plaintext (flags byte + node), inflating up to
/// [`DEFAULT_MAX_INFLATED_LEN`] bytes.
pub fn decode_plaintext(input: Bytes, dict: &TokenDict) -> Result<Node, DecodeError> {
    decode_plaintext_with_limit(input, dict, DEFAULT_MAX_INFLATED_LEN)
}

/// Decodes a transport plaintext, inflating at most `max_inflated_len` bytes.
///
/// Error offsets are relative to the node bytes: after the flags byte, and within the inflated
/// data when the body is compressed. Byte content of an uncompressed body is a zero-copy slice of
/// `input`.
pub fn decode_plaintext_with_limit(
    input: Bytes,
    dict: &TokenDict,
    max_inflated_len: usize,
) -> Result<Node, DecodeError> {
    let Some(&flags) = input.first() else {
        return Err(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::EmptyPlaintext,
        });
    };
    let body = input.slice(1..);
    if flags & FLAG_COMPRESSED == 0 {
        return decode(&body, dict);
    }
    let inflated = inflate(&body, max_inflated_len)?;
    decode(&Bytes::from(inflated), dict)
}

/// Encodes a transport plaintext: flags `0x00` and the node, uncompressed.
pub fn encode_plaintext(node: &Node, dict: &TokenDict) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0u8];
    encode(node, dict, &mut out)?;
    Ok(out)
}

/// Smallest output step when growing the inflate buffer.
const MIN_STEP: usize = 1024;

/// Inflates a zlib stream into a buffer that never grows beyond `limit + 1` bytes.
fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let fail = |kind| Err(DecodeError { offset: 0, kind });
    let cap_max = limit.saturating_add(1);
    let mut z = Decompress::new(true);
    let mut out = Vec::with_capacity(
        body.len()
            .saturating_mul(4)
            .clamp(MIN_STEP.min(cap_max), cap_max),
    );
    loop {
        if out.len() == out.capacity() {
            let step = out.capacity().max(MIN_STEP).min(cap_max - out.len());
            out.reserve_exact(step);
        }
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let rest = usize::try_from(in_before)
            .ok()
            .and_then(|i| body.get(i..))
            .unwrap_or_default();
        let Ok(status) = z.decompress_vec(rest, &mut out, FlushDecompress::None) else {
            return fail(DecodeErrorKind::Inflate("corrupt data"));
        };
        if out.len() > limit {
            return fail(DecodeErrorKind::InflatedTooLarge { limit });
        }
        match status {
            Status::StreamEnd if usize::try_from(z.total_in()).ok() == Some(body.len()) => {
                return Ok(out);
            }
            Status::StreamEnd => {
                return fail(DecodeErrorKind::Inflate(
                    "bytes after the end of the stream",
                ));
            }
            Status::Ok | Status::BufError => {
                let stuck = z.total_in() == in_before && z.total_out() == out_before;
                if stuck && out.len() < out.capacity() {
                    return fail(DecodeErrorKind::Inflate("truncated stream"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::ZlibEncoder;

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn inflates_exactly_to_the_limit_without_growing_past_it() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let out = inflate(&zlib(&data), data.len()).unwrap();
        assert_eq!(out, data);
        assert!(
            out.capacity() <= data.len() + 1,
            "capacity {} exceeds limit + 1",
            out.capacity()
        );
    }

    #[test]
    fn stops_one_byte_past_the_limit() {
        let data = vec![7u8; 100_000];
        let err = inflate(&zlib(&data), data.len() - 1).unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::InflatedTooLarge {
                limit: data.len() - 1
            }
        );
    }

    #[test]
    fn rejects_truncated_corrupt_and_padded_streams() {
        let good = zlib(b"hello hello hello");
        let truncated = &good[..good.len() - 3];
        assert_eq!(
            inflate(truncated, 1000).unwrap_err().kind,
            DecodeErrorKind::Inflate("truncated stream")
        );
        let mut padded = good.clone();
        padded.push(0);
        assert_eq!(
            inflate(&padded, 1000).unwrap_err().kind,
            DecodeErrorKind::Inflate("bytes after the end of the stream")
        );
        assert_eq!(
            inflate(b"\x00\x01\x02", 1000).unwrap_err().kind,
            DecodeErrorKind::Inflate("corrupt data")
        );
        assert_eq!(
            inflate(b"", 1000).unwrap_err().kind,
            DecodeErrorKind::Inflate("truncated stream")
        );
    }

    #[test]
    fn empty_plaintext_is_an_error() {
        let err = decode_plaintext(Bytes::new(), TokenDict::v3()).unwrap_err();
        assert_eq!(
            err,
            DecodeError {
                offset: 0,
                kind: DecodeErrorKind::EmptyPlaintext
            }
        );
    }

    #[test]
    fn ignores_flag_bits_other_than_compression() {
        let plain = Bytes::from_static(&[0xFD, 0xF8, 0x01, 0x56]);
        assert_eq!(
            decode_plaintext(plain, TokenDict::v3()).unwrap(),
            Node::new("ping")
        );
    }
}
