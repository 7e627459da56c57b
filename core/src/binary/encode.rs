//! Node → bytes (`transport.md` §7.3–§7.7, DESIGN §3.1), byte-identical to Baileys for
//! dictionary v3 on the domain where the clients agree.
//!
//! ```text
//! node := list_header(1 + 2·attrs + has_content) || tag || (key || value)* || [content]
//! ```
//!
//! List headers take the shortest form (`00`, `F8 n`, `F9 hi lo`). Every tag, key, value and
//! string content goes through the string encoder, first rule that matches:
//!
//! 1. empty → `FC 00`;
//! 2. single-byte token; 3. double-byte token (tokens win over packing);
//! 4. 1..=127 chars of `0-9 - .` → NIBBLE_8; 5. 1..=127 chars of `0-9 A-F` → HEX_8;
//! 6. values and string content only (never tags or keys): a string containing `@` that parses
//!    as a JID ([`Jid`] grammar) and can be put on the wire is written as that JID, as Baileys
//!    does — so `"@s.whatsapp.net"` is `FA 00 03` and `"123:0@s.whatsapp.net"` an AD_JID with
//!    device 0;
//! 7. raw UTF-8 with a BINARY_8/20/32 length.
//!
//! JIDs (typed, or JID-shaped strings):
//!
//! | JID | form |
//! |---|---|
//! | `s.whatsapp.net`, `lid`, `hosted`, `hosted.lid` with device ≥ 1, an agent, or an explicit device 0 | AD_JID (domain 0/1/128/129, or the agent on `s.whatsapp.net`) |
//! | the same servers otherwise | JID_PAIR |
//! | `msgr` | FB_JID (whatsmeow's layout: user, u16 device, server) |
//! | `interop` | INTEROP_JID, whatsmeow's layout **with** the trailing server (user, u16 device, u16 integrator, server) |
//! | any other server | JID_PAIR (empty user → `00`) |
//!
//! The INTEROP_JID choice follows whatsmeow; whatsapp-rust omits the trailing server, and which
//! form the real server expects is unknown (`transport.md` §7.7). A JID the wire cannot carry
//! without loss — a device on a server without devices (`g.us`, …), an agent anywhere but on
//! `s.whatsapp.net` or equal to a domain byte, an AD_JID device above 255, an `@` in a part or
//! an empty server — is an error for a typed JID and stays a raw string for a JID-shaped string.
//!
//! Byte content is BINARY_8/20/32; an empty child list is `00` (counted in the list header, as
//! Baileys does; the decoder reads it back as no content).

use thiserror::Error;

use super::decode::MAX_DEPTH;
use super::jid::{JidParts, ServerClass, WireJid};
use super::node::{Content, Node, Value};
use super::string::Str;
use super::token::{Token, TokenDict, tag};

/// Longest string or byte content BINARY_32 can carry.
pub const MAX_BINARY_LEN: usize = u32::MAX as usize;

/// Longest list (`1 + 2·attrs + content`, or a child count) a list header can carry.
pub const MAX_LIST_LEN: usize = u16::MAX as usize;

/// Why a node cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A node's tag is the empty string.
    #[error("node tag is empty")]
    EmptyTag,
    /// A node has too many attributes, or too many children, for a 16-bit list size.
    #[error("list of {len} items does not fit a list header (max 65535)")]
    ListTooLong {
        /// The list size that was needed.
        len: usize,
    },
    /// An AD_JID device above 255.
    #[error("device {device} does not fit an ad jid (max 255)")]
    DeviceTooLarge {
        /// The device number.
        device: u16,
    },
    /// A string or byte content longer than BINARY_32 allows.
    #[error("{len} bytes do not fit a binary length (max 4294967295)")]
    TooLong {
        /// The length.
        len: usize,
    },
    /// Nodes nested deeper than the decoder accepts.
    #[error("nodes nested deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit ([`MAX_DEPTH`]).
        limit: usize,
    },
    /// A typed JID that the wire cannot carry without loss.
    #[error("jid cannot be encoded: {reason}")]
    UnencodableJid {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Appends the encoding of `node` (no flags byte) to `out`.
///
/// On error `out` is left as it was.
pub fn encode(node: &Node, dict: &TokenDict, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.reserve(64);
    let result = Encoder { out, dict }.node(node, 1);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Packing table: the low nibble is a character's packed value, bit 4 says it is in the
/// NIBBLE_8 alphabet (`0-9 - .`), bit 5 that it is in the HEX_8 alphabet (`0-9 A-F`). The two
/// alphabets share only the digits, so one table serves both.
const NIBBLE_OK: u8 = 0x10;
const HEX_OK: u8 = 0x20;

static PACK: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            c @ b'0'..=b'9' => (c - b'0') | NIBBLE_OK | HEX_OK,
            b'-' => 10 | NIBBLE_OK,
            b'.' => 11 | NIBBLE_OK,
            c @ b'A'..=b'F' => (c - b'A' + 10) | HEX_OK,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// The wire form chosen for a JID.
#[derive(Clone, Copy)]
enum JidForm {
    Pair,
    Ad { domain: u8, device: u8 },
    Fb,
    Interop,
}

/// Picks the wire form of a JID, or says why it has none. (An `@` in the user is caught when
/// the user is written.)
fn jid_form(j: &WireJid<'_>) -> Result<JidForm, EncodeError> {
    let fail = |reason| Err(EncodeError::UnencodableJid { reason });
    match j.class {
        ServerClass::Messenger | ServerClass::Interop if j.agent != 0 => {
            fail("an agent on a msgr or interop jid")
        }
        ServerClass::Messenger => Ok(JidForm::Fb),
        ServerClass::Interop => Ok(JidForm::Interop),
        // Agents equal to a domain byte would decode as another server.
        ServerClass::Ad(domain)
            if j.agent != 0 && (domain != 0 || matches!(j.agent, 1 | 128 | 129)) =>
        {
            fail("an agent that an ad jid cannot carry")
        }
        ServerClass::Ad(domain) if j.device > 0 || j.agent != 0 || j.explicit_device => {
            let device = u8::try_from(j.device)
                .map_err(|_| EncodeError::DeviceTooLarge { device: j.device })?;
            let domain = if j.agent != 0 { j.agent } else { domain };
            Ok(JidForm::Ad { domain, device })
        }
        ServerClass::Ad(_) => Ok(JidForm::Pair),
        _ if j.device != 0 || j.agent != 0 => fail("a device on a server without devices"),
        ServerClass::Unknown if j.server.is_empty() || j.server.contains('@') => {
            fail("an empty server or '@' in it")
        }
        ServerClass::Pair | ServerClass::Unknown => Ok(JidForm::Pair),
    }
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    dict: &'a TokenDict,
}

impl Encoder<'_> {
    fn node(&mut self, node: &Node, depth: usize) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::TooDeep { limit: MAX_DEPTH });
        }
        if node.tag.is_empty() {
            return Err(EncodeError::EmptyTag);
        }
        let has_content = usize::from(!matches!(node.content, Content::None));
        let len = node
            .attrs
            .len()
            .checked_mul(2)
            .and_then(|n| n.checked_add(1 + has_content))
            .unwrap_or(usize::MAX);
        self.list_header(len)?;
        self.string(&node.tag, false)?;
        for attr in &node.attrs {
            self.string(&attr.key, false)?;
            match &attr.value {
                Value::String(s) => self.string(s, true)?,
                Value::Jid(jid) => self.jid(&jid.wire())?,
            }
        }
        match &node.content {
            Content::None => Ok(()),
            Content::Nodes(children) => {
                self.list_header(children.len())?;
                children
                    .iter()
                    .try_for_each(|child| self.node(child, depth + 1))
            }
            Content::Bytes(bytes) => self.binary(bytes),
            Content::String(s) => self.string(s, true),
            Content::Jid(jid) => self.jid(&jid.wire()),
        }
    }

    fn list_header(&mut self, len: usize) -> Result<(), EncodeError> {
        match len {
            0 => self.out.push(tag::LIST_EMPTY),
            1..=255 => self.out.extend_from_slice(&[tag::LIST_8, len as u8]),
            256..=MAX_LIST_LEN => {
                let [hi, lo] = (len as u16).to_be_bytes();
                self.out.extend_from_slice(&[tag::LIST_16, hi, lo]);
            }
            _ => return Err(EncodeError::ListTooLong { len }),
        }
        Ok(())
    }

    /// The string encoder; `jid_shaped` enables rule 6 (values and content only).
    fn string(&mut self, s: &Str, jid_shaped: bool) -> Result<(), EncodeError> {
        // Bytes, not `&str`: an inline `Str` would re-check its UTF-8 for nothing.
        let bytes = s.as_bytes();
        if self.compact(bytes) {
            return Ok(());
        }
        if jid_shaped
            && bytes.contains(&b'@')
            && let Ok(parts) = JidParts::parse(s.as_str())
        {
            let jid = parts.wire();
            if let Ok(form) = jid_form(&jid) {
                return self.jid_as(&jid, form);
            }
        }
        self.binary(bytes)
    }

    /// A JID's user or server: the string encoder without the JID rule; an `@` is an error.
    fn jid_part(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        if self.compact(bytes) {
            return Ok(());
        }
        if bytes.contains(&b'@') {
            return Err(EncodeError::UnencodableJid {
                reason: "'@' in a jid part",
            });
        }
        self.binary(bytes)
    }

    /// Rules 1–5: the empty string, tokens, packed strings. False if none applies.
    #[inline]
    fn compact(&mut self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            self.out.extend_from_slice(&[tag::BINARY_8, 0]);
            return true;
        }
        match self.dict.lookup_bytes(bytes) {
            Some(Token::Single(byte)) => self.out.push(byte),
            Some(Token::Double { dict, index }) => {
                self.out
                    .extend_from_slice(&[tag::DICTIONARY_0 + dict, index]);
            }
            None => return self.packed(bytes),
        }
        true
    }

    /// NIBBLE_8 (preferred) or HEX_8 if every character of `bytes` (at most 127) is in the
    /// alphabet; packs while checking and writes nothing if the string is not packable.
    #[inline(never)]
    fn packed(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > tag::PACKED_MAX {
            return false;
        }
        let mut buf = [0u8; 2 + tag::PACKED_MAX.div_ceil(2)];
        let mut class = NIBBLE_OK | HEX_OK;
        let mut n = 2;
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            let (hi, lo) = (PACK[usize::from(pair[0])], PACK[usize::from(pair[1])]);
            class &= hi & lo;
            if class == 0 {
                return false;
            }
            buf[n] = (hi << 4) | (lo & 0x0F);
            n += 1;
        }
        let odd = pairs.remainder();
        if let [last] = odd {
            let hi = PACK[usize::from(*last)];
            class &= hi;
            if class == 0 {
                return false;
            }
            buf[n] = (hi << 4) | 0x0F;
            n += 1;
        }
        buf[0] = if class & NIBBLE_OK != 0 {
            tag::NIBBLE_8
        } else {
            tag::HEX_8
        };
        buf[1] = (n - 2) as u8 | ((odd.len() as u8) << 7);
        self.out.extend_from_slice(&buf[..n]);
        true
    }

    /// BINARY_8/20/32 length and the bytes.
    fn binary(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = bytes.len();
        self.out.reserve(5 + len);
        if len < 256 {
            self.out.extend_from_slice(&[tag::BINARY_8, len as u8]);
        } else if len < 1 << 20 {
            let [_, a, b, c] = (len as u32).to_be_bytes();
            self.out
                .extend_from_slice(&[tag::BINARY_20, a & 0x0F, b, c]);
        } else {
            if len > MAX_BINARY_LEN {
                return Err(EncodeError::TooLong { len });
            }
            self.out.push(tag::BINARY_32);
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn jid(&mut self, jid: &WireJid<'_>) -> Result<(), EncodeError> {
        let form = jid_form(jid)?;
        self.jid_as(jid, form)
    }

    fn jid_as(&mut self, j: &WireJid<'_>, form: JidForm) -> Result<(), EncodeError> {
        match form {
            JidForm::Pair => {
                self.out.push(tag::JID_PAIR);
                if j.user.is_empty() {
                    self.out.push(tag::LIST_EMPTY);
                } else {
                    self.jid_part(j.user)?;
                }
            }
            JidForm::Ad { domain, device } => {
                self.out.extend_from_slice(&[tag::AD_JID, domain, device]);
                return self.jid_part(j.user);
            }
            JidForm::Fb => {
                self.out.push(tag::FB_JID);
                self.jid_part(j.user)?;
                self.out.extend_from_slice(&j.device.to_be_bytes());
            }
            JidForm::Interop => {
                self.out.push(tag::INTEROP_JID);
                self.jid_part(j.user)?;
                self.out.extend_from_slice(&j.device.to_be_bytes());
                self.out.extend_from_slice(&j.integrator.to_be_bytes());
            }
        }
        self.jid_part(j.server.as_bytes())
    }
}
