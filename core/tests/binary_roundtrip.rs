//! Property tests of the WABinary codec.
//!
//! **Canonical form.** Encoding loses exactly the distinctions the wire cannot carry, so
//! `decode(encode(n)) == canonical(n)` where `canonical` (written out in [`canonical`] below):
//!
//! - leaves tags and keys alone (they are always plain strings on the wire);
//! - turns a string attribute value or string content that contains `@`, parses as a [`Jid`]
//!   and can be encoded as one into that typed JID (the Baileys rule: JID-shaped strings go on
//!   the wire as JIDs);
//! - turns string content that is neither a token, nor packable (1..=127 chars of `0-9 - .` or
//!   `0-9 A-F`), nor such a JID into byte content — raw strings and bytes are both BINARY_* on
//!   the wire and the decoder reads BINARY content as bytes (this includes the empty string);
//! - turns an empty child list into no content (it is `00` on the wire, read as "no content").
//!
//! JID equality ignores whether a device 0 was written explicitly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use tether_core::binary::{
    Attr, Content, DecodeErrorKind, Jid, Node, Server, TokenDict, Value, decode, decode_plaintext,
    decode_plaintext_with_limit, encode, encode_plaintext,
};

// ---------------------------------------------------------------------------------------------
// Canonicaliser

fn is_packable(s: &str) -> bool {
    let nibble = s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.');
    let hex = s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    !s.is_empty() && s.len() <= 127 && (nibble || hex)
}

/// The typed JID a JID-shaped string goes on the wire as, if it does.
fn wire_jid(s: &str, dict: &TokenDict) -> Option<Jid> {
    if !s.contains('@') {
        return None;
    }
    let jid: Jid = s.parse().ok()?;
    let probe = Node::new("x").jid_attr("k", jid.clone());
    encode(&probe, dict, &mut Vec::new()).ok().map(|()| jid)
}

fn canonical(node: &Node, dict: &TokenDict) -> Node {
    let attrs = node
        .attrs
        .iter()
        .map(|Attr { key, value }| {
            let value = match value {
                Value::String(s) => wire_jid(s, dict).map_or_else(|| value.clone(), Value::Jid),
                Value::Jid(_) => value.clone(),
            };
            Attr {
                key: key.clone(),
                value,
            }
        })
        .collect();
    let content = match &node.content {
        Content::Nodes(children) if children.is_empty() => Content::None,
        Content::Nodes(children) => {
            Content::Nodes(children.iter().map(|c| canonical(c, dict)).collect())
        }
        Content::String(s) if dict.lookup(s).is_some() || is_packable(s) => node.content.clone(),
        Content::String(s) => match wire_jid(s, dict) {
            Some(jid) => Content::Jid(jid),
            None => Content::Bytes(Bytes::copy_from_slice(s.as_bytes())),
        },
        other => other.clone(),
    };
    Node {
        tag: node.tag.clone(),
        attrs,
        content,
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

fn token(dict: &'static TokenDict) -> impl Strategy<Value = String> {
    prop_oneof![
        (1u8..=235).prop_map(move |b| dict.single(b).unwrap().to_owned()),
        (0u8..4, any::<u8>()).prop_map(move |(d, i)| dict.double(d, i).unwrap().to_owned()),
    ]
}

fn user() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,20}",
        1 => "[0-9]{11}-[0-9]{10}",
        1 => Just("status".to_owned()),
        1 => Just(String::new()),
        2 => "[a-zA-Z0-9._:-]{1,30}",
        1 => "[0-9A-F]{1,16}",
    ]
}

fn pair_server() -> impl Strategy<Value = Server> {
    prop_oneof![
        Just(Server::WhatsApp),
        Just(Server::Lid),
        Just(Server::Hosted),
        Just(Server::HostedLid),
        Just(Server::Group),
        Just(Server::Broadcast),
        Just(Server::Newsletter),
        Just(Server::Bot),
        Just(Server::LegacyUser),
        Just(Server::Call),
        "[a-z]{1,8}(\\.[a-z]{1,5})?".prop_map(|s| Server::from_name(&s)),
    ]
}

/// Every kind of JID the decoder can produce.
fn any_jid() -> impl Strategy<Value = Jid> {
    prop_oneof![
        (user(), pair_server()).prop_map(|(u, s)| Jid::user(&u, s)),
        pair_server().prop_map(Jid::server_jid),
        (user(), any::<u8>(), any::<u8>())
            .prop_map(|(u, domain, device)| Jid::ad(&u, domain, device)),
        (
            user(),
            1u16..=255,
            prop::sample::select(vec![
                Server::WhatsApp,
                Server::Lid,
                Server::Hosted,
                Server::HostedLid
            ])
        )
            .prop_map(|(u, d, s)| Jid::device(&u, d, s)),
        (user(), any::<u16>()).prop_map(|(u, d)| Jid::device(&u, d, Server::Messenger)),
        (user(), any::<u16>(), any::<u16>()).prop_map(|(u, d, i)| Jid::interop(&u, d, i)),
    ]
}

/// Strings for values and content: tokens, packable strings around the 127 limit, JID-shaped
/// text (well- and ill-formed), arbitrary text.
fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => token(TokenDict::v3()),
        2 => "[0-9.-]{1,130}",
        2 => "[0-9A-F]{1,130}",
        2 => any_jid().prop_map(|j| j.to_string()),
        1 => "[0-9]{1,15}:0@(s\\.whatsapp\\.net|lid|hosted|hosted\\.lid)",
        2 => "[a-z0-9@:._-]{0,16}",
        2 => "\\PC{0,24}",
        1 => Just(String::new()),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![3 => token(TokenDict::v3()), 1 => "[a-z:_-]{1,12}", 1 => "[0-9]{1,4}", 1 => "\\PC{1,8}"]
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![3 => any_string().prop_map(|s| Value::String(s.into())), 1 => any_jid().prop_map(Value::Jid)]
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(any::<u8>(), 250..=260),
    ]
}

fn leaf_content() -> impl Strategy<Value = Content> {
    prop_oneof![
        3 => Just(Content::None),
        2 => any_bytes().prop_map(|b| Content::Bytes(b.into())),
        2 => any_string().prop_map(|s| Content::String(s.into())),
        1 => any_jid().prop_map(Content::Jid),
        1 => Just(Content::Nodes(Vec::new())),
    ]
}

fn node_with(content: impl Strategy<Value = Content>) -> impl Strategy<Value = Node> {
    (
        name(),
        prop::collection::vec((name(), any_value()), 0..5),
        content,
    )
        .prop_map(|(tag, attrs, content)| Node {
            tag: tag.into(),
            attrs: attrs
                .into_iter()
                .map(|(k, value)| Attr {
                    key: k.into(),
                    value,
                })
                .collect(),
            content,
        })
}

fn any_node() -> impl Strategy<Value = Node> {
    node_with(leaf_content()).prop_recursive(3, 24, 4, |inner| {
        node_with(prop_oneof![
            1 => leaf_content(),
            2 => prop::collection::vec(inner, 0..4).prop_map(Content::Nodes),
        ])
    })
}

fn dicts() -> impl Strategy<Value = &'static TokenDict> {
    prop_oneof![3 => Just(TokenDict::v3()), 1 => Just(TokenDict::v2())]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn encoded(node: &Node, dict: &TokenDict) -> Bytes {
    let mut out = Vec::new();
    encode(node, dict, &mut out).unwrap_or_else(|e| panic!("{e}: {node:?}"));
    Bytes::from(out)
}

/// What the fuzz target checks on every decodable input: the decoded node encodes, decodes to
/// its canonical form (a raw JID-shaped string comes back as a JID, …), and its encoding is a
/// fixed point.
fn assert_stable(node: &Node, dict: &TokenDict) {
    let first = encoded(node, dict);
    let again = decode(&first, dict).unwrap_or_else(|e| panic!("{e}: {node:?}"));
    assert_eq!(again, canonical(node, dict));
    assert_eq!(encoded(&again, dict), first);
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #[test]
    fn encode_then_decode_gives_the_canonical_node(node in any_node(), dict in dicts()) {
        let bytes = encoded(&node, dict);
        let decoded = decode(&bytes, dict).unwrap_or_else(|e| panic!("{e}: {node:?}"));
        prop_assert_eq!(&decoded, &canonical(&node, dict));
        assert_stable(&decoded, dict);
    }

    #[test]
    fn canonical_nodes_round_trip_exactly(node in any_node()) {
        let dict = TokenDict::v3();
        let canon = canonical(&node, dict);
        prop_assert_eq!(decode(&encoded(&canon, dict), dict).unwrap(), canon);
    }

    /// Decoding and re-encoding canonical bytes gives the same bytes (DESIGN §8: 100 % of
    /// Baileys' canonical encodings re-encode byte for byte), including AD_JIDs with device 0.
    #[test]
    fn reencoding_decoded_bytes_is_byte_identical(node in any_node(), dict in dicts()) {
        let bytes = encoded(&canonical(&node, dict), dict);
        let decoded = decode(&bytes, dict).unwrap();
        prop_assert_eq!(hex(&encoded(&decoded, dict)), hex(&bytes));
    }

    #[test]
    fn plaintext_round_trips(node in any_node()) {
        let dict = TokenDict::v3();
        let wire = encode_plaintext(&node, dict).unwrap();
        prop_assert_eq!(wire[0], 0);
        prop_assert_eq!(decode_plaintext(Bytes::from(wire), dict).unwrap(), canonical(&node, dict));
    }

    #[test]
    fn jid_text_round_trips(jid in any_jid()) {
        let text = jid.to_string();
        let back: Jid = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
        prop_assert_eq!(&back, &jid);
        prop_assert_eq!(back.has_explicit_device(), jid.has_explicit_device());
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn jid_wire_round_trips(jid in any_jid(), dict in dicts()) {
        let node = Node::new("x").jid_attr("jid", jid.clone());
        let decoded = decode(&encoded(&node, dict), dict).unwrap();
        let got = decoded.attrs[0].value.as_jid().unwrap();
        prop_assert_eq!(got, &jid);
        prop_assert_eq!(got.to_string(), jid.to_string());
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256), dict in dicts()) {
        let input = Bytes::from(bytes);
        if let Ok(node) = decode(&input, dict) {
            assert_stable(&node, dict);
        }
        let _ = decode_plaintext_with_limit(input, dict, 1 << 16);
    }

    #[test]
    fn decoder_never_panics_on_mutated_encodings(
        node in any_node(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..4),
        dict in dicts(),
    ) {
        let mut bytes = encoded(&node, dict).to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        if let Ok(node) = decode(&Bytes::from(bytes), dict) {
            assert_stable(&node, dict);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Boundaries and bombs

#[test]
fn binary_length_boundaries_pick_the_shortest_header() {
    let dict = TokenDict::v3();
    for (len, header) in [
        (255usize, vec![0xFC, 0xFF]),
        (256, vec![0xFD, 0x00, 0x01, 0x00]),
        ((1 << 20) - 1, vec![0xFD, 0x0F, 0xFF, 0xFF]),
        (1 << 20, vec![0xFE, 0x00, 0x10, 0x00, 0x00]),
    ] {
        let node = Node::new("enc").bytes(vec![0x5A; len]);
        let bytes = encoded(&node, dict);
        // f8 02, tag enc (0x1d), then the content header.
        assert_eq!(bytes[..3], [0xF8, 0x02, 0x1D]);
        assert_eq!(bytes[3..3 + header.len()], header[..], "len {len}");
        assert_eq!(bytes.len(), 3 + header.len() + len);
        assert_eq!(decode(&bytes, dict).unwrap(), node);
    }
}

#[test]
fn lists_pick_the_shortest_header() {
    let dict = TokenDict::v3();
    let wide = Node::new("list").children(vec![Node::new("item"); 256]);
    let bytes = encoded(&wide, dict);
    assert_eq!(bytes[3..6], [0xF9, 0x01, 0x00], "256 children need LIST_16");
    assert_eq!(decode(&bytes, dict).unwrap(), wide);
    let attrs = (0..200).map(|i| Attr {
        key: format!("k{i}").into(),
        value: Value::String("v".into()),
    });
    let mut many = Node::new("x");
    many.attrs.extend(attrs);
    let bytes = encoded(&many, dict);
    assert_eq!(bytes[..3], [0xF9, 0x01, 0x91], "L = 1 + 2·200 = 401");
    assert_eq!(decode(&bytes, dict).unwrap(), many);
}

#[test]
fn zlib_bomb_fails_at_the_limit() {
    use std::io::Write as _;
    let mut z =
        flate2::write::ZlibEncoder::new(vec![FLAG_COMPRESSED_BYTE], flate2::Compression::best());
    let zeros = vec![0u8; 1 << 16];
    for _ in 0..(32 << 20) / zeros.len() {
        z.write_all(&zeros).unwrap();
    }
    let bomb = z.finish().unwrap();
    assert!(
        bomb.len() < 64 * 1024,
        "32 MiB of zeros compress to {} bytes",
        bomb.len()
    );
    let err = decode_plaintext(Bytes::from(bomb.clone()), TokenDict::v3()).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::InflatedTooLarge { limit: 16 << 20 }
    );
    let err = decode_plaintext_with_limit(Bytes::from(bomb), TokenDict::v3(), 4096).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::InflatedTooLarge { limit: 4096 });
}

const FLAG_COMPRESSED_BYTE: u8 = tether_core::binary::FLAG_COMPRESSED;

#[test]
fn compressed_plaintext_round_trips() {
    use std::io::Write as _;
    let dict = TokenDict::v3();
    let node = Node::new("enc").attr("v", "2").bytes(vec![1u8; 5000]);
    let body = encoded(&node, dict);
    let mut z = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::default());
    z.write_all(&body).unwrap();
    let wire = z.finish().unwrap();
    assert_eq!(decode_plaintext(Bytes::from(wire), dict).unwrap(), node);
}
