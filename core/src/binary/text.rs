//! The XML-like text form of a [`Node`], for logs and for `tether node decode|encode`.
//!
//! Grammar (whitespace is allowed between any two items and ignored):
//!
//! ```text
//! node    := '<' name attr* ( '/>' | '>' content '</' name '>' )
//! attr    := name '=' value
//! value   := string | jid
//! content := node*                       child list (`<a></a>` is an empty child list)
//!          | string                      string content
//!          | jid                         JID content
//!          | 'hex' '"' HEXDIGITS '"'     byte content, in full
//! string  := '"' ( char | '\"' | '\\' | '\n' | '\r' | '\t' | '\u{' HEX+ '}' )* '"'
//! jid     := 'jid' string                a typed JID, e.g. jid"123@s.whatsapp.net"
//! name    := [A-Za-z0-9_:.@-]+ | string  tags and keys that are not plain names are quoted
//! ```
//!
//! `<a/>` has no content, `<a></a>` an empty child list. A JID written `jid"..."` is a typed
//! [`Jid`]; the same text in a plain string stays a string (the encoder still puts
//! JID-shaped strings on the wire as JIDs, like Baileys).
//!
//! Two renderings exist. [`Node::display_full`] prints byte content in full and is what the
//! parser reads back: `parse(display_full(n)) == n` for every node. `Display` (and `Debug`)
//! **redact** byte content to its length and a short hex prefix — `[300 bytes 00010203…]` — so
//! that keys and ciphertexts never reach a log; that form is for reading, not for parsing.
//! Both print children on indented lines with `{:#}`, on one line otherwise; `display_full` is
//! always indented.

use std::fmt::{self, Write as _};

use bytes::Bytes;
use thiserror::Error;

use super::jid::Jid;
use super::node::{Attr, Attrs, Content, Node, Str, Value};

/// How byte content is rendered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BytesStyle {
    /// Length and a 4-byte hex prefix: safe for logs.
    Redacted,
    /// Every byte as hex: the parseable form.
    Full,
}

/// Number of bytes shown by the redacted form.
const REDACTED_PREFIX: usize = 4;

/// `Display` adapter behind [`Node::display_full`].
pub(crate) struct Full<'a>(pub(crate) &'a Node);

impl fmt::Display for Full<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(f, self.0, BytesStyle::Full, Some(0))
    }
}

/// Writes `node`; `indent` is `Some(depth)` for one child per line, `None` for one line.
/// Callers pass `None` and the alternate flag (`{:#}`) switches to indented output.
pub(crate) fn write_node(
    f: &mut fmt::Formatter<'_>,
    node: &Node,
    style: BytesStyle,
    indent: Option<usize>,
) -> fmt::Result {
    let indent = indent.or_else(|| f.alternate().then_some(0));
    f.write_char('<')?;
    write_name(f, &node.tag)?;
    for Attr { key, value } in &node.attrs {
        f.write_char(' ')?;
        write_name(f, key)?;
        f.write_char('=')?;
        write_value(f, value)?;
    }
    match &node.content {
        Content::None => return f.write_str("/>"),
        Content::Nodes(children) => {
            f.write_char('>')?;
            for child in children {
                if let Some(depth) = indent {
                    f.write_char('\n')?;
                    write_indent(f, depth + 1)?;
                }
                write_node(f, child, style, indent.map(|d| d + 1))?;
            }
            if let (Some(depth), false) = (indent, children.is_empty()) {
                f.write_char('\n')?;
                write_indent(f, depth)?;
            }
        }
        Content::Bytes(bytes) => {
            f.write_char('>')?;
            write_bytes(f, bytes, style)?;
        }
        Content::String(s) => {
            f.write_char('>')?;
            write_quoted(f, s)?;
        }
        Content::Jid(jid) => {
            f.write_char('>')?;
            write_jid(f, jid)?;
        }
    }
    f.write_str("</")?;
    write_name(f, &node.tag)?;
    f.write_char('>')
}

fn write_indent(f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    for _ in 0..depth {
        f.write_str("  ")?;
    }
    Ok(())
}

/// Writes an attribute value: a quoted string or `jid"..."`.
pub(crate) fn write_value(f: &mut fmt::Formatter<'_>, value: &Value) -> fmt::Result {
    match value {
        Value::String(s) => write_quoted(f, s),
        Value::Jid(jid) => write_jid(f, jid),
    }
}

fn write_jid(f: &mut fmt::Formatter<'_>, jid: &Jid) -> fmt::Result {
    f.write_str("jid")?;
    write_quoted(f, &jid.to_string())
}

/// Writes byte content in the given style.
pub(crate) fn write_bytes(
    f: &mut fmt::Formatter<'_>,
    bytes: &Bytes,
    style: BytesStyle,
) -> fmt::Result {
    match style {
        BytesStyle::Full => {
            f.write_str("hex\"")?;
            for b in bytes.iter() {
                write!(f, "{b:02x}")?;
            }
            f.write_char('"')
        }
        BytesStyle::Redacted => {
            write!(f, "[{} bytes ", bytes.len())?;
            for b in bytes.iter().take(REDACTED_PREFIX) {
                write!(f, "{b:02x}")?;
            }
            if bytes.len() > REDACTED_PREFIX {
                f.write_char('…')?;
            }
            f.write_char(']')
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '@' | '-')
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if !name.is_empty() && name.chars().all(is_name_char) {
        f.write_str(name)
    } else {
        write_quoted(f, name)
    }
}

/// Writes `s` as a quoted string with the escapes of the grammar.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A syntax error in the text form, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at byte {offset}: expected {expected}, found {found}")]
#[non_exhaustive]
pub struct TextError {
    /// Byte offset into the input.
    pub offset: usize,
    /// What the parser expected there.
    pub expected: &'static str,
    /// What it found instead (a short quote of the input, or "end of input").
    pub found: String,
}

/// Deepest nesting the text parser accepts (the binary decoder's cap is the same order).
const MAX_DEPTH: usize = 128;

/// Parses one node from its text form; surrounding whitespace is allowed, anything else after
/// the node is an error.
pub fn parse(input: &str) -> Result<Node, TextError> {
    let mut p = Parser { src: input, pos: 0 };
    let node = p.node(0)?;
    p.skip_ws();
    if p.pos < p.src.len() {
        return Err(p.error("end of input"));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error(&self, expected: &'static str) -> TextError {
        let found = match self.peek() {
            None => "end of input".to_owned(),
            Some(_) => {
                let snippet: String = self.rest().chars().take(12).collect();
                format!("{snippet:?}")
            }
        };
        TextError {
            offset: self.pos,
            expected,
            found,
        }
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str, expected: &'static str) -> Result<(), TextError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node, TextError> {
        if depth > MAX_DEPTH {
            return Err(self.error("less deeply nested nodes"));
        }
        self.skip_ws();
        self.expect("<", "'<' starting a node")?;
        let tag = self.name("a tag name", false)?;
        let mut attrs = Attrs::new();
        loop {
            self.skip_ws();
            if self.eat("/>") {
                return Ok(Node {
                    tag,
                    attrs,
                    content: Content::None,
                });
            }
            if self.eat(">") {
                break;
            }
            let key = self.name("an attribute name, '>' or '/>'", true)?;
            self.skip_ws();
            self.expect("=", "'=' after the attribute name")?;
            self.skip_ws();
            let value = self.value()?;
            attrs.push(Attr { key, value });
        }
        let content = self.content(depth)?;
        self.skip_ws();
        self.expect("</", "a closing tag")?;
        let close_at = self.pos;
        let close = self.name("the closing tag's name", false)?;
        if close != tag {
            return Err(TextError {
                offset: close_at,
                expected: "a closing tag matching the open tag",
                found: format!("</{close}> for <{tag}>"),
            });
        }
        self.skip_ws();
        self.expect(">", "'>' ending the closing tag")?;
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content, TextError> {
        self.skip_ws();
        // A short copy of what comes next, so the parser can move on while deciding.
        let rest: String = self.rest().chars().take(4).collect();
        if rest.starts_with("</") {
            return Ok(Content::Nodes(Vec::new()));
        }
        if rest.starts_with('<') {
            let mut children = Vec::new();
            loop {
                self.skip_ws();
                if self.rest().starts_with("</") || !self.rest().starts_with('<') {
                    return Ok(Content::Nodes(children));
                }
                children.push(self.node(depth + 1)?);
            }
        }
        if rest.starts_with('"') {
            return Ok(Content::String(Str::from(self.quoted()?)));
        }
        if self.eat("hex") {
            return self.hex().map(Content::Bytes);
        }
        if rest.starts_with("jid\"") {
            return match self.value()? {
                Value::Jid(jid) => Ok(Content::Jid(jid)),
                Value::String(s) => Ok(Content::String(s)),
            };
        }
        Err(self.error("child nodes, a \"string\", hex\"…\" bytes or jid\"…\""))
    }

    fn value(&mut self) -> Result<Value, TextError> {
        if self.rest().starts_with('"') {
            return Ok(Value::String(Str::from(self.quoted()?)));
        }
        if self.eat("jid") {
            let at = self.pos;
            let text = self.quoted()?;
            return text.parse::<Jid>().map(Value::Jid).map_err(|e| TextError {
                offset: at,
                expected: "a valid JID",
                found: format!("{text:?} ({e})"),
            });
        }
        Err(self.error("a \"string\" or jid\"…\" value"))
    }

    /// A plain or quoted name; `allow_empty` admits `""` (the wire allows an empty attribute
    /// key, never an empty tag).
    fn name(&mut self, expected: &'static str, allow_empty: bool) -> Result<Str, TextError> {
        if self.rest().starts_with('"') {
            let at = self.pos;
            let name = self.quoted()?;
            if name.is_empty() && !allow_empty {
                return Err(TextError {
                    offset: at,
                    expected,
                    found: "\"\"".to_owned(),
                });
            }
            return Ok(Str::from(name));
        }
        let len = self
            .rest()
            .find(|c: char| !is_name_char(c))
            .unwrap_or_else(|| self.rest().len());
        if len == 0 {
            return Err(self.error(expected));
        }
        let name = Str::new(self.rest().get(..len).unwrap_or(""));
        self.pos += len;
        Ok(name)
    }

    fn quoted(&mut self) -> Result<String, TextError> {
        self.expect("\"", "'\"'")?;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("'\"' closing the string"));
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("an escape after '\\'"));
                    };
                    self.pos += e.len_utf8();
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.unicode_escape(at)?),
                        _ => {
                            return Err(TextError {
                                offset: at,
                                expected: "one of \\\" \\\\ \\n \\r \\t \\u{…}",
                                found: format!("\\{e}"),
                            });
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self, at: usize) -> Result<char, TextError> {
        self.expect("{", "'{' after \\u")?;
        let len = self
            .rest()
            .find('}')
            .ok_or_else(|| self.error("'}' closing \\u{…}"))?;
        let digits = self.rest().get(..len).unwrap_or("");
        let c = u32::from_str_radix(digits, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| TextError {
                offset: at,
                expected: "a Unicode scalar value in \\u{…}",
                found: format!("\\u{{{digits}}}"),
            })?;
        self.pos += len + 1;
        Ok(c)
    }

    fn hex(&mut self) -> Result<Bytes, TextError> {
        let at = self.pos;
        let text = self.quoted()?;
        hex::decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(|e| TextError {
                offset: at,
                expected: "an even number of hex digits",
                found: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        Node::new("iq")
            .attr("id", "12345.6789-1")
            .jid_attr("to", "s.whatsapp.net".parse().unwrap())
            .attr("xmlns", "w:p")
            .children(vec![
                Node::new("ping"),
                Node::new("enc")
                    .attr("note", "quote \" and \\ and\nnewline")
                    .bytes(vec![1u8, 2, 3, 4, 5]),
                Node::new("body").children(vec![]),
                Node {
                    tag: "t".into(),
                    attrs: Attrs::new(),
                    content: Content::String("héllo".into()),
                },
            ])
    }

    #[test]
    fn full_form_parses_back_to_the_same_node() {
        let node = sample();
        let text = node.display_full().to_string();
        assert_eq!(parse(&text).unwrap(), node, "text was:\n{text}");
    }

    #[test]
    fn display_redacts_bytes_to_length_and_prefix() {
        let node = Node::new("enc").bytes(vec![0xde, 0xad, 0xbe, 0xef, 0x01, 0x02]);
        let shown = node.to_string();
        assert_eq!(shown, "<enc>[6 bytes deadbeef…]</enc>");
        assert!(!shown.contains("0102"));
    }

    #[test]
    fn empty_child_list_and_no_content_differ() {
        assert_eq!(parse("<a/>").unwrap().content, Content::None);
        assert_eq!(parse("<a></a>").unwrap().content, Content::Nodes(vec![]));
    }

    #[test]
    fn mismatched_closing_tag_names_the_offset() {
        let err = parse("<a><b/></c>").unwrap_err();
        assert_eq!(err.offset, 9);
        assert!(err.to_string().contains("</c> for <a>"), "{err}");
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let err = parse("<a/> x").unwrap_err();
        assert_eq!(err.offset, 5);
        assert_eq!(err.expected, "end of input");
    }

    #[test]
    fn odd_hex_is_an_error() {
        let err = parse("<a>hex\"abc\"</a>").unwrap_err();
        assert_eq!(err.offset, 6);
    }

    #[test]
    fn quoted_names_and_unicode_escapes() {
        let node = parse(r#"<"odd tag" "a key"="\u{1f44b}"/>"#).unwrap();
        assert_eq!(node.tag, "odd tag");
        assert_eq!(node.attr_str("a key"), Some("👋"));
    }

    #[test]
    fn empty_attribute_keys_survive_but_empty_tags_do_not() {
        let node = parse(r#"<a ""="v"/>"#).unwrap();
        assert_eq!(node.attrs[0].key, "");
        assert_eq!(parse(&node.display_full().to_string()).unwrap(), node);
        assert!(parse(r#"<""/>"#).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let depth = MAX_DEPTH + 5;
        let text = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert!(parse(&text).is_err());
    }
}
