//! Bytes → node (`transport.md` §7.3–§7.9), strict where the clients disagree ("Recommended"
//! column of §7.9) and lenient about non-canonical but unambiguous input.
//!
//! | Input | Result |
//! |---|---|
//! | bytes after the root node | error ([`DecodeErrorKind::TrailingBytes`]) |
//! | unassigned tag `F0`–`F4` | error |
//! | nibble 12–14, or nibble 15 anywhere but as the filler of an odd-length string | error |
//! | packed length byte `0x80` (odd and empty) | error |
//! | nesting deeper than [`MAX_DEPTH`] | error |
//! | non-UTF-8 bytes in a tag, key, value or JID part | error |
//! | list tag as an attribute value; `00`, a JID or a list as a key | error |
//! | FB_JID server other than `msgr`, INTEROP_JID server other than `interop` | error |
//! | a JID part that cannot be printed losslessly (`@` in it, empty server) | error |
//! | unknown JID_PAIR server, unknown AD_JID domain (kept as the agent) | accepted |
//! | non-minimal list headers (`F9 00 03`), BINARY_20 for short data, a raw string equal to a token | accepted |
//!
//! Content by tag: a child list → [`Content::Nodes`] (an empty one → [`Content::None`]), `00` →
//! [`Content::None`], BINARY_* → [`Content::Bytes`] (a zero-copy slice of the input, whatever the
//! sender meant), a JID → [`Content::Jid`], a token or packed string → [`Content::String`]. An
//! attribute value `00` is the empty string. Tokens decode to borrowed `&'static str`.
//!
//! Every declared length is checked against the remaining input before anything is sliced or
//! allocated; capacities are bounded by what the remaining input could possibly hold.

use bytes::Bytes;
use thiserror::Error;

use super::jid::{INLINE_USER, Jid, Server, UserRef};
use super::node::{Attr, Content, INLINE_ATTRS, Node, Str, Value};
use super::token::{TokenDict, tag};

/// Deepest node nesting accepted (the root is depth 1); the encoder refuses deeper trees too.
pub const MAX_DEPTH: usize = 128;

/// A decoding failure: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset into the node bytes (after the flags byte, and after inflating when compressed)
    /// of the item that failed.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

/// What a decoder expected and did not find.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends inside an item.
    #[error("expected {needed} more byte(s), found the end of the input")]
    UnexpectedEnd {
        /// Bytes the item still needed at `offset`.
        needed: usize,
    },
    /// A declared length is longer than the rest of the input.
    #[error("expected {declared} bytes of data, found only {available} left")]
    LengthTooLarge {
        /// The declared length.
        declared: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A node does not start with a list header.
    #[error("expected a list header (0x00, 0xf8 or 0xf9), found tag {0:#04x}")]
    ExpectedList(u8),
    /// A node's list header says 0 items.
    #[error("expected a node, found an empty list")]
    EmptyNode,
    /// A node's tag is the empty string.
    #[error("expected a tag, found an empty string")]
    EmptyTag,
    /// Something other than a string where only a string fits (a tag, a JID part).
    #[error("expected a string, found tag {0:#04x}")]
    ExpectedString(u8),
    /// An attribute key that is not a string (including `00`).
    #[error("expected an attribute key, found tag {0:#04x}")]
    NonStringKey(u8),
    /// A list where an attribute value belongs.
    #[error("expected an attribute value, found list tag {0:#04x}")]
    ListInValue(u8),
    /// An unassigned tag byte (`0xf0..=0xf4`).
    #[error("expected an item, found unassigned tag {0:#04x}")]
    InvalidTag(u8),
    /// A token missing from the dictionary.
    #[error("expected a token, found an index missing from the dictionary")]
    InvalidToken,
    /// A nibble that is not a character of the packed alphabet (or a misplaced filler).
    #[error("expected a packed character, found nibble {0:#x}")]
    InvalidNibble(u8),
    /// A packed string length byte `0x80`: odd length with no data.
    #[error("expected a packed string length, found 0x80 (odd and empty)")]
    InvalidPackedLength,
    /// Text that is not UTF-8.
    #[error("expected utf-8 text, found invalid bytes")]
    InvalidUtf8,
    /// Nodes nested deeper than [`MAX_DEPTH`].
    #[error("expected at most {limit} nested nodes, found deeper nesting")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Bytes after the root node.
    #[error("expected the end of the input, found {count} trailing byte(s)")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// An FB_JID or INTEROP_JID whose server is not the one its tag implies.
    #[error("expected jid server {expected:?}, found another")]
    UnexpectedJidServer {
        /// The server the tag requires.
        expected: &'static str,
    },
    /// A JID part that cannot be printed losslessly: an empty server, or `@` in a part.
    #[error("expected a jid part without '@' and a non-empty server")]
    InvalidJid,
    /// A transport plaintext without even the flags byte.
    #[error("expected a flags byte, found an empty plaintext")]
    EmptyPlaintext,
    /// The compressed body is not a valid zlib stream.
    #[error("expected a zlib stream: {0}")]
    Inflate(&'static str),
    /// The compressed body inflates to more than the limit.
    #[error("expected at most {limit} inflated bytes, found more")]
    InflatedTooLarge {
        /// The limit.
        limit: usize,
    },
}

/// Decodes exactly one node from `input` (no flags byte); trailing bytes are an error.
///
/// Byte content is a zero-copy slice of `input`.
pub fn decode(input: &Bytes, dict: &TokenDict) -> Result<Node, DecodeError> {
    let mut decoder = Decoder {
        input,
        buf: input.as_ref(),
        pos: 0,
        dict,
    };
    let mut node = Node::new(Str::EMPTY);
    decoder.node_into(&mut node, 1)?;
    let count = decoder.buf.len() - decoder.pos;
    if count != 0 {
        return Err(DecodeError {
            offset: decoder.pos,
            kind: DecodeErrorKind::TrailingBytes { count },
        });
    }
    Ok(node)
}

/// The two characters of each packed byte (high nibble first); 0 marks an invalid character
/// (nibbles 12–15 of NIBBLE_8; the 15 filler is allowed only where [`Decoder::packed`] says).
type PairTable = [[u8; 2]; 256];

const fn pair_table(alphabet: &[u8; 16]) -> PairTable {
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [alphabet[b >> 4], alphabet[b & 0x0F]];
        b += 1;
    }
    table
}

static NIBBLE_PAIRS: PairTable = pair_table(b"0123456789-.\0\0\0\0");
static HEX_PAIRS: PairTable = pair_table(b"0123456789ABCDEF");

/// A string item, not yet turned into an owned value.
enum Piece<'a> {
    /// `00`: absent / empty.
    Empty,
    /// A dictionary token.
    Token(&'static str),
    /// UTF-8 text from a BINARY_* item.
    Text(&'a str),
    /// A validated packed string: the first `len` characters of `data` unpacked with `pairs`.
    Packed {
        pairs: &'static PairTable,
        data: &'a [u8],
        len: usize,
    },
}

/// Unpacks validated packed data: ASCII, so the bytes are valid UTF-8.
fn unpack(pairs: &PairTable, data: &[u8], len: usize, out: &mut Vec<u8>) {
    out.reserve(2 * data.len());
    for &byte in data {
        out.extend_from_slice(&pairs[usize::from(byte)]);
    }
    out.truncate(out.len() - (2 * data.len() - len));
}

fn packed_string(pairs: &PairTable, data: &[u8], len: usize) -> String {
    let mut bytes = Vec::with_capacity(2 * data.len());
    unpack(pairs, data, len, &mut bytes);
    // ASCII by construction: the fallback is never taken.
    String::from_utf8(bytes).unwrap_or_default()
}

impl Piece<'_> {
    #[inline]
    fn into_str(self) -> Str {
        let mut s = Str::EMPTY;
        self.write_to(&mut s);
        s
    }

    /// Writes the string into `slot`, in place: short packed strings (ids, numbers,
    /// timestamps) and short text are unpacked or copied straight into its inline buffer.
    #[inline]
    fn write_to(self, slot: &mut Str) {
        match self {
            Self::Empty => *slot = Str::EMPTY,
            Self::Token(s) => *slot = Str::from_static(s),
            Self::Text(s) => {
                let bytes = s.as_bytes();
                if !Str::fill_inline(slot, bytes.len(), |buf| {
                    if let Some(dst) = buf.get_mut(..bytes.len()) {
                        dst.copy_from_slice(bytes);
                    }
                }) {
                    *slot = Str::new(s);
                }
            }
            Self::Packed { pairs, data, len } => {
                if !Str::fill_inline(slot, len, |buf| {
                    for (out, &byte) in buf.chunks_exact_mut(2).zip(data) {
                        out.copy_from_slice(&pairs[usize::from(byte)]);
                    }
                }) {
                    *slot = Str::from(packed_string(pairs, data, len));
                }
            }
        }
    }

    fn is(&self, expected: &str) -> bool {
        match *self {
            Self::Empty => expected.is_empty(),
            Self::Token(s) => s == expected,
            Self::Text(s) => s == expected,
            Self::Packed { pairs, data, len } => packed_string(pairs, data, len) == expected,
        }
    }
}

struct Decoder<'a> {
    input: &'a Bytes,
    buf: &'a [u8],
    pos: usize,
    dict: &'a TokenDict,
}

fn err<T>(offset: usize, kind: DecodeErrorKind) -> Result<T, DecodeError> {
    Err(DecodeError { offset, kind })
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let buf: &'a [u8] = self.buf;
        match buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => err(self.pos, DecodeErrorKind::UnexpectedEnd { needed: n }),
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => err(self.pos, DecodeErrorKind::UnexpectedEnd { needed: 1 }),
        }
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A declared data length, checked against the rest of the input.
    fn data(&mut self, declared: usize) -> Result<(usize, &'a [u8]), DecodeError> {
        let available = self.remaining();
        if declared > available {
            return err(
                self.pos,
                DecodeErrorKind::LengthTooLarge {
                    declared,
                    available,
                },
            );
        }
        let start = self.pos;
        Ok((start, self.take(declared)?))
    }

    /// The length of a BINARY_* item whose tag was just read.
    fn binary_len(&mut self, binary_tag: u8) -> Result<usize, DecodeError> {
        Ok(match binary_tag {
            tag::BINARY_8 => usize::from(self.byte()?),
            tag::BINARY_20 => {
                let b = self.take(3)?;
                (usize::from(b[0] & 0x0F) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
            }
            _ => {
                let b = self.take(4)?;
                usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(usize::MAX)
            }
        })
    }

    /// Reads the string item whose tag byte (at `at`) was just read; `None` if `t` is not a
    /// string tag (a list, a JID, or unassigned).
    fn piece(&mut self, t: u8, at: usize) -> Result<Option<Piece<'a>>, DecodeError> {
        let piece = match t {
            tag::LIST_EMPTY => Piece::Empty,
            1..=0xEB => match self.dict.single(t) {
                Some(s) => Piece::Token(s),
                None => return err(at, DecodeErrorKind::InvalidToken),
            },
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let index = self.byte()?;
                match self.dict.double(t - tag::DICTIONARY_0, index) {
                    Some(s) => Piece::Token(s),
                    None => return err(at, DecodeErrorKind::InvalidToken),
                }
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let declared = self.binary_len(t)?;
                let (start, bytes) = self.data(declared)?;
                match std::str::from_utf8(bytes) {
                    Ok(s) => Piece::Text(s),
                    Err(e) => return err(start + e.valid_up_to(), DecodeErrorKind::InvalidUtf8),
                }
            }
            tag::NIBBLE_8 | tag::HEX_8 => self.packed(t)?,
            _ => return Ok(None),
        };
        Ok(Some(piece))
    }

    fn packed(&mut self, t: u8) -> Result<Piece<'a>, DecodeError> {
        let at = self.pos;
        let b0 = self.byte()?;
        if b0 == 0x80 {
            return err(at, DecodeErrorKind::InvalidPackedLength);
        }
        let (start, data) = self.data(usize::from(b0 & 0x7F))?;
        let odd = b0 & 0x80 != 0;
        let len = data.len() * 2 - usize::from(odd);
        if t == tag::HEX_8 {
            // Every nibble is a hex character.
            return Ok(Piece::Packed {
                pairs: &HEX_PAIRS,
                data,
                len,
            });
        }
        let pairs = &NIBBLE_PAIRS;
        let invalid = |i: usize, byte: u8| {
            let nibble = if pairs[usize::from(byte)][0] == 0 {
                byte >> 4
            } else {
                byte & 0x0F
            };
            err(start + i, DecodeErrorKind::InvalidNibble(nibble))
        };
        if let Some((&last, body)) = data.split_last() {
            if let Some(i) = body
                .iter()
                .position(|&b| pairs[usize::from(b)].contains(&0))
            {
                return invalid(i, body[i]);
            }
            // The last character of an odd-length string is the dropped 0xF filler.
            let [hi, lo] = pairs[usize::from(last)];
            if hi == 0 || (lo == 0 && !(odd && last & 0x0F == 0x0F)) {
                return invalid(body.len(), last);
            }
        }
        Ok(Piece::Packed { pairs, data, len })
    }

    /// A string where only a string fits (tags, JID parts); `00` reads as empty.
    fn string_only(&mut self) -> Result<Piece<'a>, DecodeError> {
        let at = self.pos;
        let t = self.byte()?;
        match self.piece(t, at)? {
            Some(piece) => Ok(piece),
            None => err(at, DecodeErrorKind::ExpectedString(t)),
        }
    }

    /// Decodes a node into `node` (a fresh `Node::new`), in place: a node is a few hundred
    /// bytes with its inline attributes, and building it where it will live saves moving it.
    fn node_into(&mut self, node: &mut Node, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        if depth > MAX_DEPTH {
            return err(at, DecodeErrorKind::TooDeep { limit: MAX_DEPTH });
        }
        let header = self.byte()?;
        let len = match self.list_size(header)? {
            Some(0) => return err(at, DecodeErrorKind::EmptyNode),
            Some(len) => len,
            None => return err(at, DecodeErrorKind::ExpectedList(header)),
        };
        let tag_at = self.pos;
        // Strings are written straight into the node and never read back from it here: copying
        // a freshly built `Str` through the stack, or reading one right after storing it, stalls
        // on store-to-load forwarding (its parts are stored separately, then loaded together).
        match self.single_token() {
            Some(token) if !token.is_empty() => node.tag = Str::from_static(token),
            Some(_) => return err(tag_at, DecodeErrorKind::EmptyTag),
            None => {
                let tag = self.string_only()?.into_str();
                if tag.is_empty() {
                    return err(tag_at, DecodeErrorKind::EmptyTag);
                }
                node.tag = tag;
            }
        }
        let attr_count = (len - 1) / 2;
        if attr_count > INLINE_ATTRS {
            node.attrs
                .reserve_exact(attr_count.min(self.remaining() / 2));
        }
        for _ in 0..attr_count {
            // Pushed whole when key and value are tokens (built from registers); otherwise the
            // rest is filled in place, for the same reason as the tag.
            let key = self.single_token();
            let value = key.and_then(|_| self.single_token());
            let (key, slow_key) = match (key, value) {
                (Some(key), Some(value)) => {
                    node.attrs.push(Attr {
                        key: Str::from_static(key),
                        value: Value::String(Str::from_static(value)),
                    });
                    continue;
                }
                (Some(key), None) => (Str::from_static(key), false),
                (None, _) => (Str::EMPTY, true),
            };
            node.attrs.push(Attr {
                key,
                value: Value::String(Str::EMPTY),
            });
            let Some(attr) = node.attrs.last_mut() else {
                break;
            };
            if slow_key {
                attr.key = self.key()?;
                match self.single_token() {
                    Some(token) => attr.value = Value::String(Str::from_static(token)),
                    None => self.value_into(&mut attr.value)?,
                }
            } else {
                self.value_into(&mut attr.value)?;
            }
        }
        if len % 2 == 0 {
            self.content_into(&mut node.content, depth)?;
        }
        Ok(())
    }

    /// Fast path for the commonest item: a single- or double-byte token at the current
    /// position. `None` (nothing consumed) for anything else, including an invalid token,
    /// which the slow path then reports.
    #[inline(always)]
    fn single_token(&mut self) -> Option<&'static str> {
        let t = *self.buf.get(self.pos)?;
        let (token, width) = match t {
            1..=0xEB => (self.dict.single(t)?, 1),
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let index = *self.buf.get(self.pos + 1)?;
                (self.dict.double(t - tag::DICTIONARY_0, index)?, 2)
            }
            _ => return None,
        };
        self.pos += width;
        Some(token)
    }

    fn key(&mut self) -> Result<Str, DecodeError> {
        let at = self.pos;
        let t = self.byte()?;
        match self.piece(t, at)? {
            Some(Piece::Empty) | None => err(at, DecodeErrorKind::NonStringKey(t)),
            Some(piece) => Ok(piece.into_str()),
        }
    }

    /// The size of a list whose header byte `t` was just read; `None` if `t` is not a list
    /// header.
    fn list_size(&mut self, t: u8) -> Result<Option<usize>, DecodeError> {
        Ok(match t {
            tag::LIST_EMPTY => Some(0),
            tag::LIST_8 => Some(usize::from(self.byte()?)),
            tag::LIST_16 => Some(usize::from(self.u16()?)),
            _ => None,
        })
    }

    /// An attribute value, written into `slot` in place (see [`Decoder::node_into`]).
    fn value_into(&mut self, slot: &mut Value) -> Result<(), DecodeError> {
        let at = self.pos;
        let t = self.byte()?;
        match t {
            tag::LIST_8 | tag::LIST_16 => err(at, DecodeErrorKind::ListInValue(t)),
            tag::INTEROP_JID | tag::FB_JID | tag::AD_JID | tag::JID_PAIR => {
                *slot = Value::Jid(self.jid(t)?);
                Ok(())
            }
            _ => match self.piece(t, at)? {
                Some(piece) => {
                    if let Value::String(s) = slot {
                        piece.write_to(s);
                    } else {
                        *slot = Value::String(piece.into_str());
                    }
                    Ok(())
                }
                None => err(at, DecodeErrorKind::InvalidTag(t)),
            },
        }
    }

    /// The content of a node, written into `slot` (a `Content::None`) in place: child nodes
    /// are decoded straight into their list.
    fn content_into(&mut self, slot: &mut Content, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        let t = self.byte()?;
        match t {
            tag::LIST_EMPTY => {}
            tag::LIST_8 | tag::LIST_16 => {
                let count = self.list_size(t)?.unwrap_or(0);
                if count == 0 {
                    return Ok(());
                }
                // Every node takes at least 3 bytes (`F8 01` and a one-byte tag).
                let room = count.min(self.remaining() / 3);
                *slot = Content::Nodes(Vec::with_capacity(room));
                let Content::Nodes(children) = slot else {
                    return Ok(());
                };
                children.resize_with(room, || Node::new(Str::EMPTY));
                for child in children.iter_mut() {
                    self.node_into(child, depth + 1)?;
                }
                // More children declared than bytes left for them: decode on to the error.
                for _ in room..count {
                    let mut child = Node::new(Str::EMPTY);
                    self.node_into(&mut child, depth + 1)?;
                    children.push(child);
                }
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let declared = self.binary_len(t)?;
                let (start, _) = self.data(declared)?;
                *slot = Content::Bytes(self.input.slice(start..start + declared));
            }
            tag::INTEROP_JID | tag::FB_JID | tag::AD_JID | tag::JID_PAIR => {
                *slot = Content::Jid(self.jid(t)?);
            }
            _ => match self.piece(t, at)? {
                Some(piece) => {
                    *slot = Content::String(Str::EMPTY);
                    if let Content::String(s) = slot {
                        piece.write_to(s);
                    }
                }
                None => return err(at, DecodeErrorKind::InvalidTag(t)),
            },
        }
        Ok(())
    }

    /// A JID whose tag `t` was just read.
    fn jid(&mut self, t: u8) -> Result<Jid, DecodeError> {
        match t {
            tag::JID_PAIR => {
                let user_at = self.pos;
                let user = self.string_only()?;
                let server_at = self.pos;
                let server = self.string_only()?;
                let server = match server {
                    Piece::Empty => None,
                    Piece::Token(s) => Some(Server::from_name(s)),
                    Piece::Text(s) => {
                        (!s.is_empty() && !s.contains('@')).then(|| Server::from_name(s))
                    }
                    Piece::Packed { pairs, data, len } => {
                        Some(Server::from_name(&packed_string(pairs, data, len)))
                            .filter(|_| len > 0)
                    }
                };
                let Some(server) = server else {
                    return err(server_at, DecodeErrorKind::InvalidJid);
                };
                self.with_user(user, user_at, |u| Jid::from_wire(u, server, 0, 0))
            }
            tag::AD_JID => {
                let [domain, device] = {
                    let b = self.take(2)?;
                    [b[0], b[1]]
                };
                let user_at = self.pos;
                let user = self.string_only()?;
                self.with_user(user, user_at, |u| Jid::from_wire_ad(u, domain, device))
            }
            tag::FB_JID => {
                let user_at = self.pos;
                let user = self.string_only()?;
                let device = self.u16()?;
                self.expect_server("msgr")?;
                self.with_user(user, user_at, |u| {
                    Jid::from_wire(u, Server::Messenger, device, 0)
                })
            }
            _ => {
                let user_at = self.pos;
                let user = self.string_only()?;
                let device = self.u16()?;
                let integrator = self.u16()?;
                self.expect_server("interop")?;
                self.with_user(user, user_at, |u| {
                    Jid::from_wire(u, Server::Interop, device, integrator)
                })
            }
        }
    }

    fn expect_server(&mut self, expected: &'static str) -> Result<(), DecodeError> {
        let at = self.pos;
        if self.string_only()?.is(expected) {
            Ok(())
        } else {
            err(at, DecodeErrorKind::UnexpectedJidServer { expected })
        }
    }

    /// Builds a JID from its user piece, rejecting a user with `@` (it could not be printed).
    fn with_user(
        &self,
        user: Piece<'_>,
        at: usize,
        build: impl FnOnce(UserRef<'_>) -> Jid,
    ) -> Result<Jid, DecodeError> {
        match user {
            Piece::Empty => Ok(build(UserRef::Token(""))),
            Piece::Token(s) => Ok(build(UserRef::Token(s))),
            Piece::Text(s) if s.contains('@') => err(at, DecodeErrorKind::InvalidJid),
            Piece::Text(s) => Ok(build(UserRef::Text(s))),
            Piece::Packed { pairs, data, len } if len <= INLINE_USER => {
                // Unpacked straight into the JID's inline user.
                let mut inline = [0u8; INLINE_USER];
                for (out, &byte) in inline.chunks_exact_mut(2).zip(data) {
                    out.copy_from_slice(&pairs[usize::from(byte)]);
                }
                Ok(build(UserRef::Inline {
                    bytes: inline,
                    len: len as u8,
                }))
            }
            Piece::Packed { pairs, data, len } => {
                Ok(build(UserRef::Text(&packed_string(pairs, data, len))))
            }
        }
    }
}
