//! Baileys' JSON conventions: `BufferJSON` binary values and key-store file names.
//!
//! Baileys writes binary values as `{"type":"Buffer","data":"<base64>"}` (older files: `data`
//! as an array of numbers); protobuf objects it stored through their `toJSON` carry bytes as
//! plain base64 strings. [`bytes`] reads all three; [`buffer`] writes the first.
//!
//! Key-store items live in `<type>-<id>.json`, with `/` in the name written as `__` and `:` as
//! `-` ([`file_name`]).

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value, json};

/// Node's `Buffer.from(s, 'base64')` accepts padded and unpadded text alike.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64 as Node's `toString('base64')` writes it (padded).
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64 leniently.
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    LENIENT.decode(text.trim()).ok()
}

/// The bytes of a `BufferJSON` value, a base64 string, or a number array.
pub(crate) fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => unb64(s),
        Value::Object(o)
            if o.get("type").and_then(Value::as_str) == Some("Buffer")
                || o.get("buffer") == Some(&Value::Bool(true)) =>
        {
            bytes(o.get("data").or_else(|| o.get("value"))?)
        }
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

/// `{"type":"Buffer","data":"<base64>"}`.
pub(crate) fn buffer(bytes: &[u8]) -> Value {
    json!({ "type": "Buffer", "data": b64(bytes) })
}

/// A key pair object `{private, public}`.
pub(crate) fn key_pair_value(private: &[u8], public: &[u8]) -> Value {
    let mut m = Map::new();
    m.insert("private".into(), buffer(private));
    m.insert("public".into(), buffer(public));
    Value::Object(m)
}

/// The file name Baileys uses for `name`.
pub(crate) fn file_name(name: &str) -> String {
    name.replace('/', "__").replace(':', "-")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn reads_every_binary_form_baileys_writes() {
        assert_eq!(
            bytes(&json!({"type":"Buffer","data":"AQID"})),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            bytes(&json!({"type":"Buffer","data":[1,2,3]})),
            Some(vec![1, 2, 3])
        );
        assert_eq!(bytes(&json!("AQID")), Some(vec![1, 2, 3]));
        assert_eq!(bytes(&json!("AQI")), Some(vec![1, 2]));
        assert_eq!(bytes(&json!({"type":"Buffer","data":[1,300]})), None);
        assert_eq!(bytes(&json!(5)), None);
        assert_eq!(buffer(&[1, 2, 3]), json!({"type":"Buffer","data":"AQID"}));
    }

    #[test]
    fn file_names_follow_baileys() {
        assert_eq!(
            file_name("session-1555:2@s.whatsapp.net.0"),
            "session-1555-2@s.whatsapp.net.0"
        );
        assert_eq!(
            file_name("app-state-sync-key-ab/c="),
            "app-state-sync-key-ab__c="
        );
    }
}
