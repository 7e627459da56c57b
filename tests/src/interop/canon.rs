//! The comparable form of a node — the single place where Baileys' and Tether's views of a node
//! are normalised (DESIGN §3.1).
//!
//! Rules, applied identically to both sides:
//!
//! 1. Tags and attribute keys compare as strings, attribute order included.
//! 2. Attribute values compare as strings. A typed JID is rendered with `Display` (whatsmeow's
//!    rendering); a plain string containing `@` is parsed as a JID (`Jid::from_str`, whatsmeow's
//!    `ParseJID` rules) and re-rendered, so Baileys' `"@s.whatsapp.net"` and Tether's typed
//!    server JID (rendered `"s.whatsapp.net"`) compare equal. Strings that do not parse stay as
//!    they are.
//! 3. Content: none, a child list (order kept), or bytes. String content and JID content compare
//!    as the UTF-8 bytes of their rendering (rule 2), because every decoder returns raw-string
//!    content (BINARY_*) as bytes.
//!
//! The rules only equate *renderings*; the byte-equality checks of the differential test are
//! what pin down the wire form.

use std::fmt;
use std::str::FromStr;

use serde_json::Value as Json;
use tether_core::binary::{Content, Jid, Node, Value};

/// A node in comparable form.
#[derive(Clone, PartialEq, Eq)]
pub struct Canon {
    /// The tag.
    pub tag: String,
    /// Attributes in order, values rendered.
    pub attrs: Vec<(String, String)>,
    /// The content.
    pub content: CanonContent,
}

/// The content of a [`Canon`] node.
#[derive(Clone, PartialEq, Eq)]
pub enum CanonContent {
    /// No content.
    None,
    /// Child nodes.
    Nodes(Vec<Canon>),
    /// Bytes, string content or JID content (as the bytes of its rendering).
    Bytes(Vec<u8>),
}

/// Renders a string value: JID-shaped strings go through `Jid` and back.
fn render_str(s: &str) -> String {
    if s.contains('@')
        && let Ok(jid) = Jid::from_str(s)
    {
        return jid.to_string();
    }
    s.to_owned()
}

fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => render_str(s),
        Value::Jid(j) => render_str(&j.to_string()),
    }
}

impl Canon {
    /// The comparable form of a Tether node.
    pub fn from_node(node: &Node) -> Self {
        let content = match &node.content {
            Content::None => CanonContent::None,
            Content::Nodes(children) => {
                CanonContent::Nodes(children.iter().map(Self::from_node).collect())
            }
            Content::Bytes(b) => CanonContent::Bytes(b.to_vec()),
            Content::String(s) => CanonContent::Bytes(render_str(s).into_bytes()),
            Content::Jid(j) => CanonContent::Bytes(render_str(&j.to_string()).into_bytes()),
        };
        Self {
            tag: node.tag.to_string(),
            attrs: node
                .attrs
                .iter()
                .map(|a| (a.key.to_string(), render_value(&a.value)))
                .collect(),
            content,
        }
    }

    /// The comparable form of an interchange node (as printed by `interop/codec.mjs`).
    pub fn from_json(json: &Json) -> Result<Self, String> {
        let obj = json.as_object().ok_or("node is not a JSON object")?;
        let tag = obj
            .get("tag")
            .and_then(Json::as_str)
            .ok_or("node has no string \"tag\"")?;
        let mut attrs = Vec::new();
        for pair in obj
            .get("attrs")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            match pair.as_array().map(Vec::as_slice) {
                Some([Json::String(k), Json::String(v)]) => attrs.push((k.clone(), render_str(v))),
                _ => {
                    return Err(format!(
                        "attribute is not a [key, value] string pair: {pair}"
                    ));
                }
            }
        }
        let content = match obj.get("content") {
            None | Some(Json::Null) => CanonContent::None,
            Some(Json::Array(children)) => CanonContent::Nodes(
                children
                    .iter()
                    .map(Self::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            Some(Json::Object(c)) => {
                if let Some(hex) = c.get("hex").and_then(Json::as_str) {
                    CanonContent::Bytes(hex::decode(hex).map_err(|e| format!("bad hex: {e}"))?)
                } else if let Some(s) = c.get("str").and_then(Json::as_str) {
                    CanonContent::Bytes(render_str(s).into_bytes())
                } else {
                    return Err(format!(
                        "content object is neither {{\"hex\"}} nor {{\"str\"}}: {c:?}"
                    ));
                }
            }
            Some(other) => return Err(format!("bad content: {other}")),
        };
        Ok(Self {
            tag: tag.to_owned(),
            attrs,
            content,
        })
    }
}

/// Where two comparable nodes first differ (a path such as `iq/usync[0]/list[1]` and both
/// sides), or `None` if they are equal.
pub fn first_difference(a: &Canon, b: &Canon) -> Option<String> {
    diff_at(a, b, &a.tag)
}

fn diff_at(a: &Canon, b: &Canon, path: &str) -> Option<String> {
    if a.tag != b.tag {
        return Some(format!("{path}: tag {:?} vs {:?}", a.tag, b.tag));
    }
    if a.attrs != b.attrs {
        return Some(format!("{path}: attrs {:?} vs {:?}", a.attrs, b.attrs));
    }
    match (&a.content, &b.content) {
        (CanonContent::Nodes(x), CanonContent::Nodes(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} children vs {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (cx, cy))| diff_at(cx, cy, &format!("{path}[{i}]/{}", cx.tag)))
        }
        (x, y) if x == y => None,
        (x, y) => Some(format!("{path}: content {x:?} vs {y:?}")),
    }
}

impl fmt::Debug for Canon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{:?}", self.tag)?;
        for (k, v) in &self.attrs {
            write!(f, " {k:?}={v:?}")?;
        }
        write!(f, ">{:?}", self.content)
    }
}

impl fmt::Debug for CanonContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("(none)"),
            Self::Nodes(n) => f.debug_list().entries(n).finish(),
            Self::Bytes(b) if b.len() > 48 => {
                write!(f, "[{} bytes {}…]", b.len(), hex::encode(&b[..48]))
            }
            Self::Bytes(b) => write!(f, "[{} bytes {}]", b.len(), hex::encode(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;
    use tether_core::binary::{Content, Jid, Node};

    use super::{Canon, first_difference};

    fn canon(j: serde_json::Value) -> Canon {
        Canon::from_json(&j).unwrap()
    }

    #[test]
    fn baileys_server_jid_string_equals_typed_server_jid() {
        let jid: Jid = "@s.whatsapp.net".parse().unwrap();
        let node = Node::new("iq").jid_attr("to", jid);
        assert_eq!(
            canon(json!({"tag": "iq", "attrs": [["to", "@s.whatsapp.net"]], "content": null})),
            Canon::from_node(&node)
        );
    }

    #[test]
    fn device_jid_string_equals_typed_device_jid() {
        let jid: Jid = "12345678901:3@s.whatsapp.net".parse().unwrap();
        let node = Node::new("message").jid_attr("to", jid);
        let from_json =
            canon(json!({"tag": "message", "attrs": [["to", "12345678901:3@s.whatsapp.net"]]}));
        assert_eq!(from_json, Canon::from_node(&node));
        assert_ne!(
            from_json,
            canon(json!({"tag": "message", "attrs": [["to", "12345678901:4@s.whatsapp.net"]]}))
        );
    }

    #[test]
    fn string_content_compares_as_bytes() {
        let node = Node::new("body").bytes(Bytes::from_static(b"hello"));
        assert_eq!(
            canon(json!({"tag": "body", "attrs": [], "content": {"str": "hello"}})),
            Canon::from_node(&node)
        );
        let node = Node {
            content: Content::String("hello".into()),
            ..Node::new("body")
        };
        assert_eq!(
            canon(json!({"tag": "body", "attrs": [], "content": {"hex": "68656c6c6f"}})),
            Canon::from_node(&node)
        );
    }

    #[test]
    fn attribute_order_is_significant() {
        let a = canon(json!({"tag": "x", "attrs": [["a", "1"], ["b", "2"]]}));
        let b = canon(json!({"tag": "x", "attrs": [["b", "2"], ["a", "1"]]}));
        assert_ne!(a, b);
    }

    #[test]
    fn no_content_differs_from_an_empty_child_list() {
        assert_ne!(
            canon(json!({"tag": "x", "attrs": [], "content": null})),
            canon(json!({"tag": "x", "attrs": [], "content": []}))
        );
    }

    #[test]
    fn first_difference_names_the_child_path() {
        let a = canon(
            json!({"tag": "iq", "attrs": [], "content": [{"tag": "a", "attrs": []}, {"tag": "b", "attrs": [["k", "1"]]}]}),
        );
        let b = canon(
            json!({"tag": "iq", "attrs": [], "content": [{"tag": "a", "attrs": []}, {"tag": "b", "attrs": [["k", "2"]]}]}),
        );
        let diff = first_difference(&a, &b).unwrap();
        assert!(diff.starts_with("iq[1]/b: attrs"), "{diff}");
        assert_eq!(first_difference(&a, &a), None);
    }

    #[test]
    fn rejects_malformed_attributes() {
        assert!(Canon::from_json(&json!({"tag": "x", "attrs": [["only-key"]]})).is_err());
        assert!(
            Canon::from_json(&json!({"tag": "x", "attrs": [], "content": {"hex": "zz"}})).is_err()
        );
    }
}
