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
use super::jid::{JidParts, ad_domain};
use super::node::{Content, Node, Value};
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

/// Character classes for the packing rules: bit 0 = nibble-packable, bit 1 = hex-packable.
const NIBBLE_OK: u8 = 1;
const HEX_OK: u8 = 2;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'0'..=b'9' => NIBBLE_OK | HEX_OK,
            b'-' | b'.' => NIBBLE_OK,
            b'A'..=b'F' => HEX_OK,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// Nibble value of a packable character (the two alphabets do not overlap).
static NIBBLE_VALUE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            c @ b'0'..=b'9' => c - b'0',
            b'-' => 10,
            b'.' => 11,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// The wire form chosen for a JID.
enum JidForm {
    Pair,
    Ad { domain: u8, device: u8 },
    Fb,
    Interop,
}

/// Picks the wire form of a JID, or says why it has none.
fn jid_form(p: &JidParts<'_>) -> Result<JidForm, EncodeError> {
    let fail = |reason| Err(EncodeError::UnencodableJid { reason });
    if p.user.contains('@') {
        return fail("'@' in the user part");
    }
    match p.server {
        "msgr" | "interop" if p.agent != 0 => fail("an agent on a msgr or interop jid"),
        "msgr" => Ok(JidForm::Fb),
        "interop" => Ok(JidForm::Interop),
        server => match ad_domain(server) {
            Some(_) if p.agent != 0 && (server != "s.whatsapp.net" || ad_domain_agent(p.agent)) => {
                fail("an agent that an ad jid cannot carry")
            }
            Some(domain) if p.device > 0 || p.agent != 0 || p.explicit_device => {
                let device = u8::try_from(p.device)
                    .map_err(|_| EncodeError::DeviceTooLarge { device: p.device })?;
                let domain = if p.agent != 0 { p.agent } else { domain };
                Ok(JidForm::Ad { domain, device })
            }
            Some(_) => Ok(JidForm::Pair),
            None if server.is_empty() || server.contains('@') => {
                fail("an empty server or '@' in it")
            }
            None if p.device != 0 || p.agent != 0 => fail("a device on a server without devices"),
            None => Ok(JidForm::Pair),
        },
    }
}

/// Agents equal to a domain byte would decode as another server.
fn ad_domain_agent(agent: u8) -> bool {
    matches!(agent, 1 | 128 | 129)
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
                Value::Jid(jid) => self.jid(&jid.parts())?,
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
            Content::Jid(jid) => self.jid(&jid.parts()),
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
    fn string(&mut self, s: &str, jid_shaped: bool) -> Result<(), EncodeError> {
        if s.is_empty() {
            self.out.extend_from_slice(&[tag::BINARY_8, 0]);
            return Ok(());
        }
        match self.dict.lookup(s) {
            Some(Token::Single(byte)) => {
                self.out.push(byte);
                return Ok(());
            }
            Some(Token::Double { dict, index }) => {
                self.out
                    .extend_from_slice(&[tag::DICTIONARY_0 + dict, index]);
                return Ok(());
            }
            None => {}
        }
        if s.len() <= tag::PACKED_MAX {
            let class = s
                .bytes()
                .fold(NIBBLE_OK | HEX_OK, |c, b| c & CLASS[usize::from(b)]);
            if class & NIBBLE_OK != 0 {
                self.packed(tag::NIBBLE_8, s);
                return Ok(());
            }
            if class & HEX_OK != 0 {
                self.packed(tag::HEX_8, s);
                return Ok(());
            }
        }
        if jid_shaped
            && s.as_bytes().contains(&b'@')
            && let Ok(parts) = JidParts::parse(s)
            && let Ok(form) = jid_form(&parts)
        {
            return self.jid_as(&parts, form);
        }
        self.binary(s.as_bytes())
    }

    /// NIBBLE_8 / HEX_8 of a string already checked to be packable and at most 127 bytes.
    fn packed(&mut self, packed_tag: u8, s: &str) {
        let bytes = s.as_bytes();
        let odd = bytes.len() % 2;
        let b0 = (bytes.len().div_ceil(2) as u8) | ((odd as u8) << 7);
        self.out.reserve(2 + bytes.len().div_ceil(2));
        self.out.push(packed_tag);
        self.out.push(b0);
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            let (hi, lo) = (
                NIBBLE_VALUE[usize::from(pair[0])],
                NIBBLE_VALUE[usize::from(pair[1])],
            );
            self.out.push((hi << 4) | lo);
        }
        if let [last] = pairs.remainder() {
            self.out
                .push((NIBBLE_VALUE[usize::from(*last)] << 4) | 0x0F);
        }
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

    fn jid(&mut self, parts: &JidParts<'_>) -> Result<(), EncodeError> {
        let form = jid_form(parts)?;
        self.jid_as(parts, form)
    }

    fn jid_as(&mut self, p: &JidParts<'_>, form: JidForm) -> Result<(), EncodeError> {
        match form {
            JidForm::Pair => {
                self.out.push(tag::JID_PAIR);
                if p.user.is_empty() {
                    self.out.push(tag::LIST_EMPTY);
                } else {
                    self.string(p.user, false)?;
                }
                self.string(p.server, false)
            }
            JidForm::Ad { domain, device } => {
                self.out.extend_from_slice(&[tag::AD_JID, domain, device]);
                self.string(p.user, false)
            }
            JidForm::Fb => {
                self.out.push(tag::FB_JID);
                self.string(p.user, false)?;
                self.out.extend_from_slice(&p.device.to_be_bytes());
                self.string(p.server, false)
            }
            JidForm::Interop => {
                self.out.push(tag::INTEROP_JID);
                self.string(p.user, false)?;
                self.out.extend_from_slice(&p.device.to_be_bytes());
                self.out.extend_from_slice(&p.integrator.to_be_bytes());
                self.string(p.server, false)
            }
        }
    }
}
