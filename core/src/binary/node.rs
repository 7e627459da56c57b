//! The decoded form of a WABinary stanza: [`Node`], its attributes and its content.
//!
//! A node is `{ tag, attrs, content }` (`transport.md` §7.1). Attribute order is kept exactly as
//! decoded or built, so a canonical encoding re-encodes byte for byte. Strings that came from the
//! token dictionaries are borrowed `&'static str` and short strings are stored inline (see
//! [`Str`]), so decoding the common stanzas allocates little; byte content is a [`Bytes`] slice
//! of the frame it arrived in.
//!
//! `Display` renders the XML-like text form documented in [`super::text`], with one difference:
//! byte content is **redacted** to its length and a short hex prefix, so a node can be logged
//! without leaking keys or message ciphertext. [`Node::display_full`] prints everything (what
//! `tether node decode` shows) and its output parses back with [`Node::parse_text`].

use std::fmt;

use bytes::Bytes;
use smallvec::SmallVec;

use super::jid::Jid;
pub use super::string::Str;

/// Attributes kept inline in a [`Node`] before they spill to the heap.
pub const INLINE_ATTRS: usize = 2;

/// A node's attributes in wire order: up to [`INLINE_ATTRS`] stored in the node itself.
pub type Attrs = SmallVec<[Attr; INLINE_ATTRS]>;

/// One WABinary node.
#[derive(Clone, PartialEq, Eq)]
pub struct Node {
    /// The tag (`iq`, `message`, …). Never empty in a valid node.
    pub tag: Str,
    /// Attributes in wire order.
    pub attrs: Attrs,
    /// What the node holds.
    pub content: Content,
}

/// One attribute: a key and its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Attr {
    /// The attribute name.
    pub key: Str,
    /// The attribute value.
    pub value: Value,
}

/// A string-like value: an attribute value or string content.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// A plain string (token, packed nibble/hex string or raw UTF-8 on the wire).
    String(Str),
    /// A typed JID (JID_PAIR, AD_JID, FB_JID or INTEROP_JID on the wire).
    Jid(Jid),
}

/// The content of a node (`transport.md` §7.4).
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Content {
    /// No content.
    #[default]
    None,
    /// Child nodes (possibly an empty list).
    Nodes(Vec<Node>),
    /// Raw bytes (BINARY_8/20/32 on the wire).
    Bytes(Bytes),
    /// A string (token or packed string on the wire).
    String(Str),
    /// A JID written as content.
    Jid(Jid),
}

impl Node {
    /// A node with a tag and nothing else.
    pub fn new(tag: impl Into<Str>) -> Self {
        Self {
            tag: tag.into(),
            attrs: Attrs::new(),
            content: Content::None,
        }
    }

    /// Appends a string attribute (builder style).
    #[must_use]
    pub fn attr(mut self, key: impl Into<Str>, value: impl Into<Str>) -> Self {
        self.attrs.push(Attr {
            key: key.into(),
            value: Value::String(value.into()),
        });
        self
    }

    /// Appends a JID attribute (builder style).
    #[must_use]
    pub fn jid_attr(mut self, key: impl Into<Str>, jid: Jid) -> Self {
        self.attrs.push(Attr {
            key: key.into(),
            value: Value::Jid(jid),
        });
        self
    }

    /// Sets child nodes as the content (builder style).
    #[must_use]
    pub fn children(mut self, children: Vec<Self>) -> Self {
        self.content = Content::Nodes(children);
        self
    }

    /// Sets byte content (builder style).
    #[must_use]
    pub fn bytes(mut self, bytes: impl Into<Bytes>) -> Self {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// The value of attribute `key`, if present (the last one wins, as on the wire).
    pub fn get_attr(&self, key: &str) -> Option<&Value> {
        self.attrs
            .iter()
            .rev()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }

    /// The value of attribute `key` as a string, if present and a plain string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        match self.get_attr(key)? {
            Value::String(s) => Some(s),
            Value::Jid(_) => None,
        }
    }

    /// The child nodes, or an empty slice when the content is not a child list.
    pub fn child_nodes(&self) -> &[Self] {
        match &self.content {
            Content::Nodes(nodes) => nodes,
            _ => &[],
        }
    }

    /// The first child with tag `tag`.
    pub fn child(&self, tag: &str) -> Option<&Self> {
        self.child_nodes().iter().find(|n| n.tag == tag)
    }

    /// A `Display` adapter that prints byte content in full (as hex) instead of redacting it.
    ///
    /// Its output is the exact text grammar of [`super::text`]: [`Node::parse_text`] reads it
    /// back to an equal node.
    pub fn display_full(&self) -> impl fmt::Display + '_ {
        super::text::Full(self)
    }

    /// Parses the XML-like text form (see [`super::text`]).
    pub fn parse_text(input: &str) -> Result<Self, super::text::TextError> {
        super::text::parse(input)
    }
}

impl From<Jid> for Value {
    fn from(jid: Jid) -> Self {
        Self::Jid(jid)
    }
}

impl Value {
    /// The string, when this value is a plain string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            Self::Jid(_) => None,
        }
    }

    /// The JID, when this value is a typed JID.
    pub fn as_jid(&self) -> Option<&Jid> {
        match self {
            Self::Jid(j) => Some(j),
            Self::String(_) => None,
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::text::write_node(f, self, super::text::BytesStyle::Redacted, None)
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug is what ends up in logs and panic messages: keep byte content redacted.
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.key)?;
        fmt::Debug::fmt(&self.value, f)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::text::write_value(f, self)
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Nodes(nodes) => f.debug_list().entries(nodes).finish(),
            Self::Bytes(b) => super::text::write_bytes(f, b, super::text::BytesStyle::Redacted),
            Self::String(s) => super::text::write_quoted(f, s),
            Self::Jid(j) => super::text::write_value(f, &Value::Jid(j.clone())),
        }
    }
}
