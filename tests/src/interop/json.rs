//! Interchange JSON → [`Node`].
//!
//! Baileys has no JID type: a JID is any string containing `@`. When building a Tether node
//! from interchange JSON, [`JidMode`] says what becomes of such strings — typed JIDs (what
//! Tether code builds) or plain strings (the Baileys-compatible string path of the encoder).

use std::str::FromStr;

use bytes::Bytes;
use serde_json::Value as Json;
use tether_core::binary::{Attr, Attrs, Content, Jid, Node, Str, Value};

/// What a JID-shaped string (one containing `@`) of the interchange form becomes in a [`Node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JidMode {
    /// Parsed with `Jid::from_str` (whatsmeow's `ParseJID` rules) into [`Value::Jid`] /
    /// [`Content::Jid`]; a string that does not parse is an error.
    Typed,
    /// Kept as [`Value::String`] / [`Content::String`].
    Strings,
}

/// Builds a [`Node`] from its interchange JSON.
pub fn node_from_json(json: &Json, mode: JidMode) -> Result<Node, String> {
    let obj = json.as_object().ok_or("node is not a JSON object")?;
    let tag = obj
        .get("tag")
        .and_then(Json::as_str)
        .ok_or("node has no string \"tag\"")?;
    let mut attrs = Attrs::new();
    if let Some(list) = obj.get("attrs") {
        for pair in list.as_array().ok_or("\"attrs\" is not a list")? {
            let Some([Json::String(key), Json::String(value)]) = pair.as_array().map(Vec::as_slice)
            else {
                return Err(format!(
                    "attribute is not a [key, value] string pair: {pair}"
                ));
            };
            attrs.push(Attr {
                key: Str::new(key),
                value: value_from_str(value, mode)?,
            });
        }
    }
    let content = match obj.get("content") {
        None | Some(Json::Null) => Content::None,
        Some(Json::Array(children)) => Content::Nodes(
            children
                .iter()
                .map(|c| node_from_json(c, mode))
                .collect::<Result<_, _>>()?,
        ),
        Some(Json::Object(c)) => {
            if let Some(hex) = c.get("hex").and_then(Json::as_str) {
                Content::Bytes(Bytes::from(
                    hex::decode(hex).map_err(|e| format!("bad hex: {e}"))?,
                ))
            } else if let Some(s) = c.get("str").and_then(Json::as_str) {
                match value_from_str(s, mode)? {
                    Value::String(s) => Content::String(s),
                    Value::Jid(j) => Content::Jid(j),
                }
            } else {
                return Err(format!(
                    "content object is neither {{\"hex\"}} nor {{\"str\"}}: {c:?}"
                ));
            }
        }
        Some(other) => return Err(format!("bad content: {other}")),
    };
    Ok(Node {
        tag: Str::new(tag),
        attrs,
        content,
    })
}

fn value_from_str(s: &str, mode: JidMode) -> Result<Value, String> {
    if mode == JidMode::Typed && s.contains('@') {
        let jid = Jid::from_str(s).map_err(|e| format!("{s:?} does not parse as a JID: {e}"))?;
        Ok(Value::Jid(jid))
    } else {
        Ok(Value::String(Str::new(s)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tether_core::binary::{Content, Value};

    use super::{JidMode, node_from_json};

    #[test]
    fn typed_mode_turns_jid_strings_into_jids() {
        let j = json!({"tag": "message", "attrs": [["to", "123:4@lid"], ["id", "ABC"]], "content": {"str": "9@g.us"}});
        let node = node_from_json(&j, JidMode::Typed).unwrap();
        assert!(matches!(node.attrs[0].value, Value::Jid(_)));
        assert!(matches!(node.attrs[1].value, Value::String(_)));
        assert!(matches!(node.content, Content::Jid(_)));
    }

    #[test]
    fn strings_mode_keeps_jid_strings() {
        let j =
            json!({"tag": "message", "attrs": [["to", "123:4@lid"]], "content": {"str": "9@g.us"}});
        let node = node_from_json(&j, JidMode::Strings).unwrap();
        assert_eq!(node.attrs[0].value.as_str(), Some("123:4@lid"));
        assert!(matches!(node.content, Content::String(_)));
    }

    #[test]
    fn builds_children_and_bytes_in_order() {
        let j = json!({"tag": "iq", "attrs": [], "content": [{"tag": "a", "attrs": [], "content": {"hex": "0102"}}, {"tag": "b", "attrs": []}]});
        let node = node_from_json(&j, JidMode::Typed).unwrap();
        let tags: Vec<&str> = node.child_nodes().iter().map(|n| &*n.tag).collect();
        assert_eq!(tags, ["a", "b"]);
        assert!(
            matches!(&node.child_nodes()[0].content, Content::Bytes(b) if b.as_ref() == [1, 2])
        );
    }

    #[test]
    fn rejects_non_string_attribute_values() {
        assert!(node_from_json(&json!({"tag": "x", "attrs": [["k", 1]]}), JidMode::Typed).is_err());
        assert!(node_from_json(&json!({"attrs": []}), JidMode::Typed).is_err());
    }
}
