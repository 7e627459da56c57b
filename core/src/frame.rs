//! Byte-stream framing under the WebSocket (`transport.md` §3).
//!
//! ```text
//! client → server, once:  intro                      "WA" 06 <dict version>
//!                     or  "ED" 00 01 <len:3 BE> <routing info> "WA" 06 <dict version>
//! then, both directions:  frame := <len:3 BE> <payload>      (len ≤ 0xFFFFFF)
//! ```
//!
//! WebSocket message boundaries mean nothing: receivers treat all inbound binary messages as
//! one byte stream. [`FrameDecoder`] accepts input split or coalesced at any byte boundary —
//! even inside the 3-byte length or the intro — and yields whole payloads as zero-copy
//! [`Bytes`]. Its state machine:
//!
//! ```text
//!            push(bytes)                       push(bytes)
//!   ┌───────────────────────┐        ┌──────────────────────────────┐
//!   ▼                       │        ▼                              │
//! AwaitingIntro ──intro complete──▶ Frames ──next_frame()──▶ Some(payload) / None (need more)
//!   (server side only)                 │
//!                                      └── declared length > max ──▶ Err(FrameTooLarge): the
//!                                          stream is unusable, close the transport
//! ```
//!
//! The maximum payload length is checked as soon as the 3-byte prefix is complete, before any
//! buffer grows for that frame; buffers grow only with bytes that actually arrived.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Largest payload a 3-byte length can express (16 MiB − 1).
pub const MAX_FRAME_LEN: usize = 0x00FF_FFFF;

/// Size of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 3;

/// The magic byte after `"WA"` in the intro header.
pub const INTRO_MAGIC: u8 = 0x06;

/// The token-dictionary version Tether speaks (the intro's fourth byte).
pub const DICT_VERSION: u8 = 3;

/// The plain intro header for dictionary version 3: `57 41 06 03`. Also the Noise prologue.
pub const INTRO_HEADER: [u8; 4] = [b'W', b'A', INTRO_MAGIC, DICT_VERSION];

/// The prefix of the edge-routing intro variant: `"ED" 00 01`.
pub const EDGE_ROUTING_PREFIX: [u8; 4] = [b'E', b'D', 0x00, 0x01];

/// Framing errors. Any of them means the byte stream can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame declared more bytes than this decoder accepts.
    #[error("frame declares {len} bytes, more than the {max}-byte limit")]
    FrameTooLarge {
        /// The declared payload length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A payload to send does not fit a 3-byte length.
    #[error("payload of {len} bytes does not fit a frame (maximum {MAX_FRAME_LEN})")]
    PayloadTooLarge {
        /// The payload length.
        len: usize,
    },
    /// The stream did not start with a valid intro header.
    #[error("at byte {offset}: expected {expected}, found {found:#04x}")]
    InvalidIntro {
        /// Offset into the stream.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
        /// The byte found.
        found: u8,
    },
    /// Routing info to send is longer than a 3-byte length allows.
    #[error("routing info of {len} bytes does not fit the edge-routing intro")]
    RoutingInfoTooLarge {
        /// The routing info length.
        len: usize,
    },
}

/// The intro header a client sent, as read by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intro {
    /// The token-dictionary version (the fourth byte of `WA..`).
    pub dict_version: u8,
    /// The edge-routing blob, when the `ED` variant was used.
    pub routing_info: Option<Bytes>,
}

/// Appends the intro header: plain, or the edge-routing variant when `routing_info` is given.
pub fn write_intro(
    out: &mut Vec<u8>,
    routing_info: Option<&[u8]>,
    dict_version: u8,
) -> Result<(), FrameError> {
    if let Some(info) = routing_info {
        if info.len() > MAX_FRAME_LEN {
            return Err(FrameError::RoutingInfoTooLarge { len: info.len() });
        }
        out.extend_from_slice(&EDGE_ROUTING_PREFIX);
        out.extend_from_slice(&length_prefix(info.len()));
        out.extend_from_slice(info);
    }
    out.extend_from_slice(&[b'W', b'A', INTRO_MAGIC, dict_version]);
    Ok(())
}

/// Appends one frame (`<len:3 BE> <payload>`).
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(FrameError::PayloadTooLarge { len: payload.len() });
    }
    out.reserve(LENGTH_PREFIX_LEN + payload.len());
    out.extend_from_slice(&length_prefix(payload.len()));
    out.extend_from_slice(payload);
    Ok(())
}

/// The 3-byte big-endian length prefix of `len` (callers check `len ≤ MAX_FRAME_LEN`).
fn length_prefix(len: usize) -> [u8; 3] {
    let [_, a, b, c] = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [a, b, c]
}

/// Upper bound on how much buffer space is reserved ahead of bytes actually arriving.
const MAX_EAGER_RESERVE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingIntro,
    Frames,
}

/// Incremental decoder of the inbound byte stream.
///
/// Feed it every inbound WebSocket message with [`push`](Self::push), then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame_len: usize,
    phase: Phase,
    intro: Option<Intro>,
    consumed: usize,
}

impl FrameDecoder {
    /// A client-side decoder: the server's stream starts directly with frames.
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN),
            phase: Phase::Frames,
            intro: None,
            consumed: 0,
        }
    }

    /// A server-side decoder: the client's stream starts with an intro header, read first and
    /// then available from [`intro`](Self::intro).
    pub fn expecting_intro(max_frame_len: usize) -> Self {
        Self {
            phase: Phase::AwaitingIntro,
            ..Self::new(max_frame_len)
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The intro header, once a server-side decoder has read it.
    pub fn intro(&self) -> Option<&Intro> {
        self.intro.as_ref()
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Total stream bytes consumed so far (intro and frames, prefixes included).
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The next complete payload, `Ok(None)` when more bytes are needed.
    ///
    /// After an `Err` the stream is out of sync; close the transport.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.phase == Phase::AwaitingIntro && !self.read_intro()? {
            return Ok(None);
        }
        let Some(prefix) = self.buf.get(..LENGTH_PREFIX_LEN) else {
            return Ok(None);
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len > self.max_frame_len {
            return Err(FrameError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        let total = LENGTH_PREFIX_LEN + len;
        if self.buf.len() < total {
            // Make room for the rest of this frame, but never trust the declared length for
            // more than a bounded eager reservation.
            let missing = total - self.buf.len();
            self.buf.reserve(missing.min(MAX_EAGER_RESERVE));
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total);
        frame.advance(LENGTH_PREFIX_LEN);
        self.consumed += total;
        Ok(Some(frame.freeze()))
    }

    /// Tries to read the intro header; `Ok(false)` when more bytes are needed.
    fn read_intro(&mut self) -> Result<bool, FrameError> {
        let Some(&first) = self.buf.first() else {
            return Ok(false);
        };
        let (routing_len, wa_at) = match first {
            b'W' => (None, 0),
            b'E' => {
                let Some(head) = self
                    .buf
                    .get(..EDGE_ROUTING_PREFIX.len() + LENGTH_PREFIX_LEN)
                else {
                    self.check_prefix(&EDGE_ROUTING_PREFIX, 0, "the edge-routing intro")?;
                    return Ok(false);
                };
                self.check_prefix(&EDGE_ROUTING_PREFIX, 0, "the edge-routing intro")?;
                let len = head[4..]
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                if len > self.max_frame_len {
                    return Err(FrameError::FrameTooLarge {
                        len,
                        max: self.max_frame_len,
                    });
                }
                (
                    Some(len),
                    EDGE_ROUTING_PREFIX.len() + LENGTH_PREFIX_LEN + len,
                )
            }
            found => {
                return Err(FrameError::InvalidIntro {
                    offset: 0,
                    expected: "'W' or 'E' starting the intro header",
                    found,
                });
            }
        };
        let intro_len = wa_at + 4;
        if self.buf.len() < intro_len {
            let available = self.buf.len().saturating_sub(wa_at).min(3);
            self.check_prefix(&[b'W', b'A', INTRO_MAGIC][..available], wa_at, "\"WA\" 06")?;
            return Ok(false);
        }
        self.check_prefix(&[b'W', b'A', INTRO_MAGIC], wa_at, "\"WA\" 06")?;
        let mut intro = self.buf.split_to(intro_len);
        let dict_version = intro.get(wa_at + 3).copied().unwrap_or_default();
        let routing_info = routing_len.map(|len| {
            intro.advance(EDGE_ROUTING_PREFIX.len() + LENGTH_PREFIX_LEN);
            intro.split_to(len).freeze()
        });
        self.consumed += intro_len;
        self.intro = Some(Intro {
            dict_version,
            routing_info,
        });
        self.phase = Phase::Frames;
        Ok(true)
    }

    /// Checks that the buffered bytes at `at` match `expected` as far as they have arrived.
    fn check_prefix(
        &self,
        expected: &[u8],
        at: usize,
        what: &'static str,
    ) -> Result<(), FrameError> {
        for (i, &want) in expected.iter().enumerate() {
            match self.buf.get(at + i) {
                Some(&found) if found != want => {
                    return Err(FrameError::InvalidIntro {
                        offset: at + i,
                        expected: what,
                        found,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut FrameDecoder) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(f) = dec.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn plain_intro_then_frame_matches_vector_2_1() {
        let ephemeral =
            hex::decode("f01e3feed2953d4221feddad1b6baa06ee321666eb0e170d33428905b0057d4e")
                .unwrap();
        let mut hello = vec![0x12, 0x22, 0x0a, 0x20];
        hello.extend_from_slice(&ephemeral);
        let mut out = Vec::new();
        write_intro(&mut out, None, DICT_VERSION).unwrap();
        write_frame(&mut out, &hello).unwrap();
        let expected = "574106030000241222 0a20f01e3feed2953d4221feddad1b6baa06ee321666eb0e170d33428905b0057d4e"
            .replace(' ', "");
        assert_eq!(hex::encode(&out), expected);
    }

    #[test]
    fn edge_routing_intro_matches_vector_2_2() {
        let mut hello = vec![0x12, 0x22, 0x0a, 0x20];
        hello.extend_from_slice(&[0x02; 32]);
        let mut out = Vec::new();
        write_intro(&mut out, Some(&[0x08, 0x01, 0x08, 0x0a]), DICT_VERSION).unwrap();
        write_frame(&mut out, &hello).unwrap();
        let expected = format!(
            "4544000100000408010 80a57410603000024 12220a20{}",
            "02".repeat(32)
        )
        .replace(' ', "");
        assert_eq!(hex::encode(&out), expected);

        let mut dec = FrameDecoder::expecting_intro(MAX_FRAME_LEN);
        dec.push(&out);
        assert_eq!(decode_all(&mut dec), vec![Bytes::from(hello)]);
        let intro = dec.intro().unwrap();
        assert_eq!(intro.dict_version, 3);
        assert_eq!(
            intro.routing_info.as_deref(),
            Some(&[0x08, 0x01, 0x08, 0x0a][..])
        );
        assert_eq!(dec.consumed(), out.len());
    }

    #[test]
    fn accepts_a_length_prefix_split_across_pushes() {
        let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
        dec.push(&[0x00]);
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.push(&[0x00]);
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.push(&[0x02, 0xaa]);
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.push(&[0xbb, 0x00, 0x00, 0x01, 0xcc]);
        assert_eq!(
            decode_all(&mut dec),
            vec![
                Bytes::from_static(&[0xaa, 0xbb]),
                Bytes::from_static(&[0xcc])
            ]
        );
        assert_eq!(dec.buffered_len(), 0);
    }

    #[test]
    fn refuses_an_oversized_frame_before_buffering_it() {
        let mut dec = FrameDecoder::new(1024);
        dec.push(&[0x00, 0x04, 0x01]);
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::FrameTooLarge {
                len: 1025,
                max: 1024
            })
        );
        assert!(
            dec.buf.capacity() < 1024,
            "nothing was reserved for the refused frame"
        );
    }

    #[test]
    fn does_not_reserve_the_declared_length_up_front() {
        let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
        dec.push(&[0xff, 0xff, 0xff, 0x00]);
        assert_eq!(dec.next_frame().unwrap(), None);
        assert!(dec.buf.capacity() <= MAX_EAGER_RESERVE + 16);
    }

    #[test]
    fn zero_length_frames_are_passed_up() {
        let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
        dec.push(&[0, 0, 0]);
        assert_eq!(decode_all(&mut dec), vec![Bytes::new()]);
    }

    #[test]
    fn bad_intro_byte_is_reported_with_its_offset() {
        let mut dec = FrameDecoder::expecting_intro(MAX_FRAME_LEN);
        dec.push(b"WB");
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::InvalidIntro {
                offset: 1,
                expected: "\"WA\" 06",
                found: b'B'
            })
        );
        let mut dec = FrameDecoder::expecting_intro(MAX_FRAME_LEN);
        dec.push(b"X");
        assert!(matches!(
            dec.next_frame(),
            Err(FrameError::InvalidIntro { offset: 0, .. })
        ));
    }

    #[test]
    fn intro_split_byte_by_byte_is_read() {
        let mut stream = Vec::new();
        write_intro(&mut stream, Some(b"route"), 2).unwrap();
        write_frame(&mut stream, b"payload").unwrap();
        let mut dec = FrameDecoder::expecting_intro(MAX_FRAME_LEN);
        let mut frames = Vec::new();
        for b in &stream {
            dec.push(std::slice::from_ref(b));
            frames.extend(decode_all(&mut dec));
        }
        assert_eq!(frames, vec![Bytes::from_static(b"payload")]);
        assert_eq!(dec.intro().unwrap().dict_version, 2);
    }

    #[test]
    fn write_frame_refuses_payloads_over_the_limit() {
        let big = vec![0u8; MAX_FRAME_LEN + 1];
        assert_eq!(
            write_frame(&mut Vec::new(), &big),
            Err(FrameError::PayloadTooLarge {
                len: MAX_FRAME_LEN + 1
            })
        );
    }
}
