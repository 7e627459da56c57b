//! Import of the JSON formats npm libsignal and Baileys write, so a Baileys auth directory
//! (`useMultiFileAuthState`) continues in Tether without new sessions:
//!
//! | file | format | into |
//! |---|---|---|
//! | `session-<address>.json` | libsignal-node's `SessionRecord.serialize()` (`{"_sessions": {…}, "version": "v1"}`) | [`SessionRecord::from_libsignal_json`](crate::SessionRecord::from_libsignal_json) |
//! | `sender-key-<group>::<user>::<device>.json` | Baileys' `SenderKeyRecord.serialize()` (an array of states) | [`SenderKeyRecord::from_baileys_json`](crate::SenderKeyRecord::from_baileys_json) |
//!
//! Bytes may be base64 strings or Baileys' `{"type": "Buffer", "data": …}` objects (base64 or a
//! byte array). Inputs are bounded ([`MAX_IMPORT_LEN`]); every malformed value is a typed error
//! naming the field's path (never its value, which may be a secret). What a record cannot keep
//! is dropped as the record itself would drop it (oldest states, chains and skipped keys
//! beyond the limits). Importing computes each ratchet key's public half to check the pair, so
//! it costs a scalar multiplication per state; it is meant for one-time migration.

mod sender_key;
mod session;

use core::fmt;
use std::marker::PhantomData;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::keys::PublicKey;

/// Largest JSON document an import reads.
pub const MAX_IMPORT_LEN: usize = 16 * 1024 * 1024;

/// Why a JSON document could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The document is larger than [`MAX_IMPORT_LEN`].
    #[error("the document is {len} bytes, more than the {max} an import reads")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, or not of the expected shape.
    #[error("not a {format} document: {reason}")]
    Json {
        /// What was expected.
        format: &'static str,
        /// The parser's reason (positions and types, never values).
        reason: String,
    },
    /// A field is missing or holds a value the format does not allow.
    #[error("{path}: {problem}")]
    Field {
        /// Where, e.g. `_sessions[0].currentRatchet.rootKey`.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
}

pub(crate) fn field(path: impl Into<String>, problem: &'static str) -> ImportError {
    ImportError::Field {
        path: path.into(),
        problem,
    }
}

pub(crate) fn parse<'a, T: Deserialize<'a>>(
    json: &'a [u8],
    format: &'static str,
) -> Result<T, ImportError> {
    if json.len() > MAX_IMPORT_LEN {
        return Err(ImportError::TooLarge {
            len: json.len(),
            max: MAX_IMPORT_LEN,
        });
    }
    serde_json::from_slice(json).map_err(|e| ImportError::Json {
        format,
        reason: e.to_string(),
    })
}

/// Bytes as Node writes them: a base64 string, or a `{"type": "Buffer", "data": …}` object.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Bytes(pub(crate) Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Data {
            Base64(String),
            Array(Vec<u8>),
        }
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Form {
            Base64(String),
            Buffer {
                #[serde(rename = "type")]
                kind: String,
                data: Data,
            },
        }
        let decode = |s: &str| {
            BASE64
                .decode(s)
                .map(Bytes)
                .map_err(|_| de::Error::custom("a byte field is not base64"))
        };
        match Form::deserialize(d)? {
            Form::Base64(s) => decode(&s),
            Form::Buffer { kind, data } if kind == "Buffer" => match data {
                Data::Base64(s) => decode(&s),
                Data::Array(v) => Ok(Self(v)),
            },
            Form::Buffer { .. } => Err(de::Error::custom("a byte object is not a Buffer")),
        }
    }
}

impl Bytes {
    pub(crate) fn array32(&self, path: impl Into<String>) -> Result<[u8; 32], ImportError> {
        self.0
            .as_slice()
            .try_into()
            .map_err(|_| field(path, "is not 32 bytes"))
    }

    pub(crate) fn public_key(&self, path: impl Into<String>) -> Result<PublicKey, ImportError> {
        PublicKey::deserialize(&self.0).map_err(|_| field(path, "is not a 33-byte 0x05 public key"))
    }
}

/// A JSON object read in document order (libsignal-node's objects keep insertion order, and
/// the order of chains says which is oldest).
pub(crate) struct Ordered<V>(pub(crate) Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(OrderedVisitor(PhantomData))
    }
}

/// A JSON array whose entries may be of a shape we skip (Baileys writes `{}` for skipped
/// sender keys it lost): unreadable entries become `None`.
pub(crate) struct Lenient<V>(pub(crate) Vec<Option<V>>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Lenient<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LenientVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for LenientVisitor<V> {
            type Value = Lenient<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(value) = seq.next_element::<serde_json::Value>()? {
                    entries.push(V::deserialize(value).ok());
                }
                Ok(Lenient(entries))
            }
        }
        d.deserialize_seq(LenientVisitor(PhantomData))
    }
}
