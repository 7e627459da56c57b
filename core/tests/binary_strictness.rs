//! Decoder strictness (`transport.md` §7.9, "Recommended" column), error positions and messages,
//! the non-canonical input the decoder accepts, and the encoder's errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use tether_core::binary::{
    Attr, Content, DecodeError, DecodeErrorKind, EncodeError, Jid, MAX_DEPTH, Node, Server, Token,
    TokenDict, Value, decode, encode,
};

fn hex(text: &str) -> Bytes {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    Bytes::from(hex::decode(digits).unwrap())
}

fn decode_hex(text: &str) -> Result<Node, DecodeError> {
    decode(&hex(text), TokenDict::v3())
}

fn fails(text: &str, offset: usize, kind: DecodeErrorKind) {
    assert_eq!(
        decode_hex(text),
        Err(DecodeError { offset, kind }),
        "{text}"
    );
}

#[test]
fn rejects_trailing_bytes() {
    fails(
        "f8 01 56 00",
        3,
        DecodeErrorKind::TrailingBytes { count: 1 },
    );
    fails(
        "f8 01 56 f8 01 56",
        3,
        DecodeErrorKind::TrailingBytes { count: 3 },
    );
}

#[test]
fn rejects_unassigned_tags() {
    for t in 0xF0..=0xF4u8 {
        // as an attribute value
        fails(
            &format!("f8 03 07 08 {t:02x}"),
            4,
            DecodeErrorKind::InvalidTag(t),
        );
        // as content
        fails(
            &format!("f8 02 07 {t:02x}"),
            3,
            DecodeErrorKind::InvalidTag(t),
        );
        // as the tag
        fails(
            &format!("f8 01 {t:02x}"),
            2,
            DecodeErrorKind::ExpectedString(t),
        );
    }
}

#[test]
fn error_messages_say_where_and_what() {
    let err = decode_hex("f8 01 f2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 2: expected a string, found tag 0xf2"
    );
    let err = decode_hex("f8 03 07 08 fc 05 61").unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 6: expected 5 bytes of data, found only 1 left"
    );
    let err = decode_hex("f8").unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 1: expected 1 more byte(s), found the end of the input"
    );
}

#[test]
fn rejects_invalid_nibbles() {
    for nibble in 0xC..=0xEu8 {
        let packed = format!("ff 02 12 {:x}4", nibble);
        fails(
            &format!("f8 03 07 08 {packed}"),
            7,
            DecodeErrorKind::InvalidNibble(nibble),
        );
    }
    // The 0xF filler only as the dropped last nibble of an odd-length string.
    fails(
        "f8 03 07 08 ff 02 1f 23",
        6,
        DecodeErrorKind::InvalidNibble(0xF),
    );
    fails(
        "f8 03 07 08 ff 01 1f",
        6,
        DecodeErrorKind::InvalidNibble(0xF),
    );
    let node = decode_hex("f8 03 07 08 ff 81 1f").unwrap();
    assert_eq!(node.attr_str("id"), Some("1"));
    // In hex strings 0xF is the letter F.
    let node = decode_hex("f8 03 07 08 fb 02 ff ab").unwrap();
    assert_eq!(node.attr_str("id"), Some("FFAB"));
}

#[test]
fn rejects_odd_empty_packed_string() {
    fails("f8 03 07 08 ff 80", 5, DecodeErrorKind::InvalidPackedLength);
    fails("f8 03 07 08 fb 80", 5, DecodeErrorKind::InvalidPackedLength);
    // An even empty packed string is just "".
    assert_eq!(
        decode_hex("f8 03 07 08 ff 00").unwrap().attr_str("id"),
        Some("")
    );
}

fn nested(depth: usize) -> Node {
    let mut node = Node::new("a");
    for _ in 1..depth {
        node = Node::new("a").children(vec![node]);
    }
    node
}

#[test]
fn caps_nesting_at_max_depth_both_ways() {
    let dict = TokenDict::v3();
    let mut bytes = Vec::new();
    encode(&nested(MAX_DEPTH), dict, &mut bytes).unwrap();
    assert_eq!(
        decode(&Bytes::from(bytes.clone()), dict).unwrap(),
        nested(MAX_DEPTH)
    );
    assert_eq!(
        encode(&nested(MAX_DEPTH + 1), dict, &mut Vec::new()),
        Err(EncodeError::TooDeep { limit: MAX_DEPTH })
    );
    // One level deeper by hand: every level is `f8 02 fc 01 61 f8 01`, the innermost `f8 02 fc 01 61`
    // → build depth 129 from the 128-deep encoding by wrapping it once more.
    let mut deeper = vec![0xF8, 0x02, 0xFC, 0x01, b'a', 0xF8, 0x01];
    deeper.extend_from_slice(&bytes);
    let err = decode(&Bytes::from(deeper), dict).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::TooDeep { limit: MAX_DEPTH });
}

#[test]
fn rejects_non_utf8_strings_but_not_bytes() {
    fails("f8 03 07 08 fc 02 61 ff", 7, DecodeErrorKind::InvalidUtf8);
    fails("f8 01 fc 01 c3", 4, DecodeErrorKind::InvalidUtf8);
    let node = decode_hex("f8 02 07 fc 02 61 ff").unwrap();
    assert_eq!(
        node.content,
        Content::Bytes(Bytes::from_static(&[0x61, 0xFF]))
    );
}

#[test]
fn empty_content_forms_mean_no_content() {
    for content in ["00", "f8 00", "f9 00 00"] {
        let node = decode_hex(&format!("f8 02 07 {content}")).unwrap();
        assert_eq!(node, Node::new("receipt"), "{content}");
    }
}

#[test]
fn empty_attribute_value_is_the_empty_string() {
    let node = decode_hex("f8 03 07 08 00").unwrap();
    assert_eq!(node.get_attr("id"), Some(&Value::String("".into())));
}

#[test]
fn rejects_lists_as_values_and_non_string_keys() {
    fails(
        "f8 03 07 08 f8 01 56",
        4,
        DecodeErrorKind::ListInValue(0xF8),
    );
    fails(
        "f8 03 07 08 f9 00 01 56",
        4,
        DecodeErrorKind::ListInValue(0xF9),
    );
    fails("f8 03 07 00 08", 3, DecodeErrorKind::NonStringKey(0x00));
    fails(
        "f8 03 07 fa 00 03 08",
        3,
        DecodeErrorKind::NonStringKey(0xFA),
    );
    fails(
        "f8 03 07 f8 01 56 08",
        3,
        DecodeErrorKind::NonStringKey(0xF8),
    );
}

#[test]
fn rejects_malformed_node_headers() {
    fails("00", 0, DecodeErrorKind::EmptyNode);
    fails("f8 00", 0, DecodeErrorKind::EmptyNode);
    fails("fc 01 61", 0, DecodeErrorKind::ExpectedList(0xFC));
    fails("f8 01 fc 00", 2, DecodeErrorKind::EmptyTag);
    fails("f8 01 00", 2, DecodeErrorKind::EmptyTag);
    fails("f8 01 fa 00 03", 2, DecodeErrorKind::ExpectedString(0xFA));
    fails("", 0, DecodeErrorKind::UnexpectedEnd { needed: 1 });
}

#[test]
fn rejects_truncation_everywhere() {
    let full = "f8 0a 19 08 ff 06 12 34 5b 67 89 a1 11 fa 00 03 04 29 16 57 f8 01 f8 01 56";
    let bytes = hex(full);
    for cut in 0..bytes.len() {
        assert!(
            decode(&bytes.slice(..cut), TokenDict::v3()).is_err(),
            "cut at {cut}"
        );
    }
    assert!(decode(&bytes, TokenDict::v3()).is_ok());
}

#[test]
fn huge_declared_lengths_fail_before_allocating() {
    fails(
        "f8 02 07 fe ff ff ff ff",
        8,
        DecodeErrorKind::LengthTooLarge {
            declared: 0xFFFF_FFFF,
            available: 0,
        },
    );
    fails(
        "f8 02 07 fd ff ff ff",
        7,
        DecodeErrorKind::LengthTooLarge {
            declared: 0xF_FFFF,
            available: 0,
        },
    );
    // 65535 children announced, none present.
    fails(
        "f8 02 07 f9 ff ff",
        6,
        DecodeErrorKind::UnexpectedEnd { needed: 1 },
    );
    // 65535 list items announced for one node.
    fails(
        "f9 ff ff 07",
        4,
        DecodeErrorKind::UnexpectedEnd { needed: 1 },
    );
}

#[test]
fn rejects_jids_that_cannot_be_printed() {
    // JID_PAIR user "a@b" (raw) → error at the user.
    fails(
        "f8 03 07 08 fa fc 03 61 40 62 03",
        5,
        DecodeErrorKind::InvalidJid,
    );
    // Empty server (`00` or an empty string).
    fails("f8 03 07 08 fa ff 81 1f 00", 8, DecodeErrorKind::InvalidJid);
    fails(
        "f8 03 07 08 fa ff 81 1f fc 00",
        8,
        DecodeErrorKind::InvalidJid,
    );
    // A JID inside a JID.
    fails(
        "f8 03 07 08 fa fa 00 03 03",
        5,
        DecodeErrorKind::ExpectedString(0xFA),
    );
}

#[test]
fn accepts_non_canonical_input() {
    let dict = TokenDict::v3();
    // Non-minimal list header, raw string equal to a token ("iq"), BINARY_20 for short data with
    // the top nibble of its length set (masked off, as all clients do).
    let node = decode_hex("f9 00 03 fc 02 69 71 08 fd f0 00 03 61 62 63").unwrap();
    assert_eq!(node, Node::new("iq").attr("id", "abc"));
    let mut canonical = Vec::new();
    encode(&node, dict, &mut canonical).unwrap();
    assert_eq!(hex::encode(canonical), "f8031908fc03616263");
    // A packed string equal to a token ("1") re-encodes as the token.
    let node = decode_hex("f8 03 07 08 ff 81 1f").unwrap();
    let Some(Token::Single(one)) = dict.lookup("1") else {
        panic!("\"1\" is a single-byte token")
    };
    let mut out = Vec::new();
    encode(&node, dict, &mut out).unwrap();
    assert_eq!(out, [0xF8, 0x03, 0x07, 0x08, one]);
}

#[test]
fn token_tables_are_a_codec_parameter() {
    let node = Node::new("iq")
        .attr("type", "get")
        .children(vec![Node::new("ping")]);
    let (mut v3, mut v2) = (Vec::new(), Vec::new());
    encode(&node, TokenDict::v3(), &mut v3).unwrap();
    encode(&node, TokenDict::v2(), &mut v2).unwrap();
    assert_ne!(v3, v2, "the two dictionaries differ");
    assert_eq!(
        decode(&Bytes::from(v2.clone()), TokenDict::v2()).unwrap(),
        node
    );
    assert_ne!(decode(&Bytes::from(v2), TokenDict::v3()).ok(), Some(node));
}

#[test]
fn encoder_errors() {
    let dict = TokenDict::v3();
    let mut out = vec![0xAA];
    assert_eq!(
        encode(&Node::new(""), dict, &mut out),
        Err(EncodeError::EmptyTag)
    );
    assert_eq!(out, [0xAA], "output untouched on error");
    let wide = Node::new("list").children(vec![Node::new("i"); 65536]);
    assert_eq!(
        encode(&wide, dict, &mut out),
        Err(EncodeError::ListTooLong { len: 65536 })
    );
    let mut many = Node::new("x");
    many.attrs = (0..32768)
        .map(|i| Attr {
            key: format!("k{i}").into(),
            value: Value::String("v".into()),
        })
        .collect();
    assert_eq!(
        encode(&many, dict, &mut out),
        Err(EncodeError::ListTooLong { len: 65537 })
    );
    let jid = |j: Jid| Node::new("x").jid_attr("to", j);
    assert_eq!(
        encode(&jid(Jid::device("1", 300, Server::Lid)), dict, &mut out),
        Err(EncodeError::DeviceTooLarge { device: 300 })
    );
    for bad in [
        Jid::device("1", 2, Server::Newsletter),
        Jid::user("a@b", Server::WhatsApp),
        Jid::user("1", Server::Other(String::new())),
        "1.5:2@lid".parse().unwrap(),
        "1.1:2@s.whatsapp.net".parse().unwrap(),
    ] {
        assert!(
            matches!(
                encode(&jid(bad.clone()), dict, &mut out),
                Err(EncodeError::UnencodableJid { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(out, [0xAA]);
}
