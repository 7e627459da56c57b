//! The shape of a JSON document without building it: the top level's kind, and for an object
//! the kind of each member. Key-store files that Tether keeps verbatim (Signal sessions, sender
//! keys, app-state versions) are checked this way, so a multi-megabyte session costs its bytes
//! once, not a tree of values several times their size.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The kind of a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "a list",
            Self::Object => "an object",
        }
    }
}

/// A document's top level.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// An object: each member's kind.
    Object(BTreeMap<String, Kind>),
    /// A list of this many items.
    Array(usize),
    /// Anything else.
    Scalar(Kind),
}

impl Shape {
    /// The top level's kind.
    pub(super) fn kind(&self) -> Kind {
        match self {
            Self::Object(_) => Kind::Object,
            Self::Array(_) => Kind::Array,
            Self::Scalar(k) => *k,
        }
    }

    /// The kind of member `name` of an object (`None`: not an object, or no such member).
    pub(super) fn member(&self, name: &str) -> Option<Kind> {
        match self {
            Self::Object(members) => members.get(name).copied(),
            _ => None,
        }
    }
}

/// Checks that `bytes` is one valid JSON document and returns its shape.
pub(super) fn shape(bytes: &[u8]) -> Result<Shape, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let shape = (&mut de).deserialize_any(TopVisitor)?;
    de.end()?;
    Ok(shape)
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar(Kind::Bool))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar(Kind::Number))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar(Kind::Number))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar(Kind::Number))
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar(Kind::String))
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Scalar(Kind::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut n = 0usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Shape::Array(n))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut members = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let kind = map.next_value_seed(KindSeed)?;
            members.insert(key, kind);
        }
        Ok(Shape::Object(members))
    }
}

/// Deserialises any value, keeping only its kind.
struct KindSeed;

impl<'de> DeserializeSeed<'de> for KindSeed {
    type Value = Kind;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Bool)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
        Ok(Kind::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
        Ok(Kind::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
        Ok(Kind::Number)
    }
    fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
        Ok(Kind::String)
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Kind::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Kind::Object)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn reads_the_top_level_and_its_members_only() {
        let s = shape(br#"{"_sessions":{"a":{"deep":[1,2]}},"version":"v1","n":null}"#).unwrap();
        assert_eq!(s.kind(), Kind::Object);
        assert_eq!(s.member("_sessions"), Some(Kind::Object));
        assert_eq!(s.member("version"), Some(Kind::String));
        assert_eq!(s.member("n"), Some(Kind::Null));
        assert_eq!(s.member("x"), None);
        assert_eq!(shape(b"[1,{},[]]").unwrap(), Shape::Array(3));
        assert_eq!(shape(b" 12 ").unwrap(), Shape::Scalar(Kind::Number));
        assert_eq!(shape(b"null").unwrap(), Shape::Scalar(Kind::Null));
    }

    #[test]
    fn refuses_what_is_not_one_json_document() {
        for bad in [&b""[..], b"{", b"{} {}", b"[1,]", b"{\"a\":}", b"\xff"] {
            assert!(shape(bad).is_err(), "{bad:?}");
        }
    }
}
