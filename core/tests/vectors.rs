//! The binary node vectors of `protocol/test-vectors.md` §1 (produced by Baileys with the v3
//! tables), the worked example of `transport.md` §7.10, the packed-string examples of §7.6 and
//! the JID cases of §7.7 / §8.
//!
//! Inputs are written the way Baileys holds them (every attribute a string); the decoded side is
//! the typed Tether node: JID tags come back as typed JIDs and BINARY content as bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use tether_core::binary::{
    Content, EncodeError, Jid, Node, Server, TokenDict, Value, decode, decode_plaintext, encode,
    encode_plaintext,
};

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).expect("vector hex")
}

fn jid(text: &str) -> Jid {
    text.parse().expect("vector jid")
}

/// Encodes `input` as a plaintext, compares with `wire`, decodes `wire` and compares with
/// `decoded`, and checks that re-encoding the decoded node gives `wire` again.
fn check(input: &Node, wire: &str, decoded: &Node) {
    let wire = hex(wire);
    let dict = TokenDict::v3();
    assert_eq!(
        hex::encode(encode_plaintext(input, dict).unwrap()),
        hex::encode(&wire),
        "encode"
    );
    let got = decode_plaintext(Bytes::from(wire.clone()), dict).unwrap();
    assert_eq!(&got, decoded, "decode");
    assert_eq!(
        hex::encode(encode_plaintext(&got, dict).unwrap()),
        hex::encode(&wire),
        "re-encode"
    );
}

fn message_to(to: &str) -> Node {
    Node::new("message").attr("to", to.to_owned())
}

fn message_to_jid(to: &str) -> Node {
    Node::new("message").jid_attr("to", jid(to))
}

/// A JID vector: the Baileys string input, the typed input and the decoded node all agree.
fn check_jid_vector(to: &str, wire: &str) {
    check(&message_to(to), wire, &message_to_jid(to));
    check(&message_to_jid(to), wire, &message_to_jid(to));
}

fn ping_iq(to: Value) -> Node {
    let mut node = Node::new("iq").attr("id", "12345.6789-1");
    node.attrs.push(tether_core::binary::Attr {
        key: "to".into(),
        value: to,
    });
    node.attr("type", "get")
        .attr("xmlns", "w:p")
        .children(vec![Node::new("ping")])
}

#[test]
fn vector_ping_iq() {
    let node = ping_iq(Value::String("s.whatsapp.net".into()));
    check(
        &node,
        "00 f8 0a 19 08 ff 06 12 34 5b 67 89 a1 11 03 04 29 16 57 f8 01 f8 01 56",
        &node,
    );
}

#[test]
fn vector_ping_iq_server_jid() {
    let wire = "00 f8 0a 19 08 ff 06 12 34 5b 67 89 a1 11 fa 00 03 04 29 16 57 f8 01 f8 01 56";
    let typed = ping_iq(Value::Jid(Jid::server_jid(Server::WhatsApp)));
    check(
        &ping_iq(Value::String("@s.whatsapp.net".into())),
        wire,
        &typed,
    );
    check(&typed, wire, &typed);
}

#[test]
fn vector_jid_pair_user() {
    check_jid_vector(
        "12345678901@s.whatsapp.net",
        "00 f8 03 13 11 fa ff 86 12 34 56 78 90 1f 03",
    );
}

#[test]
fn vector_ad_jid_device() {
    check_jid_vector(
        "12345678901:3@s.whatsapp.net",
        "00 f8 03 13 11 f7 00 03 ff 86 12 34 56 78 90 1f",
    );
}

#[test]
fn vector_jid_pair_lid() {
    check_jid_vector(
        "123456789012345@lid",
        "00 f8 03 13 11 fa ff 88 12 34 56 78 90 12 34 5f 76",
    );
}

#[test]
fn vector_ad_jid_lid_device() {
    check_jid_vector(
        "123456789012345:12@lid",
        "00 f8 03 13 11 f7 01 0c ff 88 12 34 56 78 90 12 34 5f",
    );
}

#[test]
fn vector_jid_pair_group() {
    check_jid_vector(
        "120363012345678901@g.us",
        "00 f8 03 13 11 fa ff 09 12 03 63 01 23 45 67 89 01 1c",
    );
}

#[test]
fn vector_jid_pair_legacy_group() {
    check_jid_vector(
        "12345678901-1600000000@g.us",
        "00 f8 03 13 11 fa ff 0b 12 34 56 78 90 1a 16 00 00 00 00 1c",
    );
}

#[test]
fn vector_jid_pair_status_broadcast() {
    check_jid_vector("status@broadcast", "00 f8 03 13 11 fa 0b 0d");
}

#[test]
fn vector_jid_pair_newsletter() {
    check_jid_vector(
        "120363123456789012@newsletter",
        "00 f8 03 13 11 fa ff 09 12 03 63 12 34 56 78 90 12 fc 0a 6e 65 77 73 6c 65 74 74 65 72",
    );
}

#[test]
fn vector_binary_content() {
    let node = Node::new("enc")
        .attr("v", "2")
        .attr("type", "msg")
        .bytes(hex("deadbeef0001"));
    check(
        &node,
        "00 f8 06 1d 51 45 04 4d fc 06 de ad be ef 00 01",
        &node,
    );
}

#[test]
fn vector_nested_children() {
    let user = |jid_value: Value| {
        let mut n = Node::new("user");
        n.attrs.push(tether_core::binary::Attr {
            key: "jid".into(),
            value: jid_value,
        });
        n
    };
    let build = |jid_value: Value| {
        Node::new("iq")
            .attr("id", "2")
            .attr("type", "get")
            .attr("xmlns", "usync")
            .children(vec![
                Node::new("usync")
                    .attr("sid", "3")
                    .attr("mode", "query")
                    .attr("context", "interactive")
                    .children(vec![
                        Node::new("query")
                            .children(vec![Node::new("devices").attr("version", "2")]),
                        Node::new("list").children(vec![user(jid_value)]),
                    ]),
            ])
    };
    let wire = "00 f8 08 19 08 45 04 29 16 79 f8 01 f8 08 79 fc 03 73 69 64 a2 6a 6d 7d e5 f8 02 f8 \
                02 6d f8 01 f8 03 0f 54 45 f8 02 71 f8 01 f8 03 0e 0c fa ff 86 12 34 56 78 90 1f 03";
    let typed = build(Value::Jid(jid("12345678901@s.whatsapp.net")));
    check(
        &build(Value::String("12345678901@s.whatsapp.net".into())),
        wire,
        &typed,
    );
}

#[test]
fn vector_empty_attrs() {
    check(&Node::new("ping"), "00 f8 01 56", &Node::new("ping"));
}

#[test]
fn vector_nibble_attr_even() {
    let node = Node::new("receipt").attr("t", "1700000000");
    check(&node, "00 f8 03 07 1a ff 05 17 00 00 00 00", &node);
}

#[test]
fn vector_nibble_attr_odd() {
    let node = Node::new("receipt").attr("count", "123");
    check(&node, "00 f8 03 07 41 ff 82 12 3f", &node);
}

#[test]
fn vector_hex_attr_even() {
    let node = Node::new("receipt").attr("id", "3EB0A1B2C3D4E5F6");
    check(&node, "00 f8 03 07 08 fb 08 3e b0 a1 b2 c3 d4 e5 f6", &node);
}

#[test]
fn vector_hex_attr_odd() {
    let node = Node::new("receipt").attr("id", "ABCDE");
    check(&node, "00 f8 03 07 08 fb 83 ab cd ef", &node);
}

#[test]
fn vector_lowercase_hex_is_raw() {
    let node = Node::new("receipt").attr("id", "deadbeef");
    check(&node, "00 f8 03 07 08 fc 08 64 65 61 64 62 65 65 66", &node);
}

#[test]
fn vector_double_byte_token() {
    let node = Node::new("receipt").attr("type", "read-self");
    check(&node, "00 f8 03 07 04 ec 00", &node);
}

#[test]
fn vector_raw_utf8_attr() {
    let node = Node::new("presence").attr("name", "Zoë 👋");
    check(
        &node,
        "00 f8 03 1f 89 fc 09 5a 6f c3 ab 20 f0 9f 91 8b",
        &node,
    );
}

#[test]
fn vector_string_content_decodes_as_bytes() {
    let mut input = Node::new("body");
    input.content = Content::String("hello".into());
    check(
        &input,
        "00 f8 02 ed 75 fc 05 68 65 6c 6c 6f",
        &Node::new("body").bytes(&b"hello"[..]),
    );
}

#[test]
fn vector_long_binary_300() {
    let data: Vec<u8> = (0..300u32).map(|i| (i % 256) as u8).collect();
    let node = Node::new("enc")
        .attr("v", "2")
        .attr("type", "skmsg")
        .bytes(data.clone());
    let wire = format!("00 f8 06 1d 51 45 04 32 fd 00 01 2c {}", hex::encode(&data));
    check(&node, &wire, &node);
}

#[test]
fn vector_compressed_payload_decodes_to_ping_iq_server_jid() {
    let wire = hex(
        "02 78 da fb c1 25 c9 f1 9f 4d c8 24 3a bd 73 a1 e0 2f 06 66 16 4d b1 f0 1f 8c 3f 18 c3 00 \
         6c c0 08 4b",
    );
    let node = decode_plaintext(Bytes::from(wire), TokenDict::v3()).unwrap();
    assert_eq!(node, ping_iq(Value::Jid(Jid::server_jid(Server::WhatsApp))));
    let mut body = Vec::new();
    encode(&node, TokenDict::v3(), &mut body).unwrap();
    assert_eq!(
        hex::encode(body),
        "f80a1908ff0612345b6789a111fa000304291657f801f80156"
    );
}

#[test]
fn worked_example_ping_iq_byte_by_byte() {
    let node = ping_iq(Value::String("s.whatsapp.net".into()));
    let wire = encode_plaintext(&node, TokenDict::v3()).unwrap();
    assert_eq!(wire.len(), 24);
    assert_eq!(wire[0], 0x00, "flags: not compressed");
    assert_eq!(wire[1..3], [0xF8, 0x0A], "LIST_8, L = 1 + 2·4 + 1");
    assert_eq!(wire[3], 0x19, "tag iq");
    assert_eq!(wire[4], 0x08, "key id");
    assert_eq!(
        wire[5..13],
        [0xFF, 0x06, 0x12, 0x34, 0x5B, 0x67, 0x89, 0xA1],
        "12345.6789-1 packed"
    );
    assert_eq!(
        wire[13..19],
        [0x11, 0x03, 0x04, 0x29, 0x16, 0x57],
        "to, type, xmlns"
    );
    assert_eq!(
        wire[19..],
        [0xF8, 0x01, 0xF8, 0x01, 0x56],
        "one child: <ping/>"
    );
}

/// The value bytes of `<receipt id=VALUE/>` (after `f8 03 07 08`).
fn value_bytes(value: Value) -> String {
    let mut node = Node::new("receipt");
    node.attrs.push(tether_core::binary::Attr {
        key: "id".into(),
        value,
    });
    let mut out = Vec::new();
    encode(&node, TokenDict::v3(), &mut out).unwrap();
    assert_eq!(out[..4], [0xF8, 0x03, 0x07, 0x08]);
    hex::encode(&out[4..])
}

fn string_bytes(s: &str) -> String {
    value_bytes(Value::String(s.to_owned().into()))
}

fn jid_bytes(j: Jid) -> String {
    value_bytes(Value::Jid(j))
}

/// Decodes the value of `<receipt id=…/>` from its value bytes.
fn decode_value(value_hex: &str) -> Value {
    let bytes = Bytes::from([hex("f8 03 07 08"), hex(value_hex)].concat());
    let node = decode(&bytes, TokenDict::v3()).unwrap();
    node.attrs[0].value.clone()
}

#[test]
fn packed_string_examples() {
    assert_eq!(string_bytes("123"), "ff82123f");
    assert_eq!(string_bytes("ABCDE"), "fb83abcdef");
    assert_eq!(string_bytes("1700000000"), "ff051700000000");
    assert_eq!(string_bytes("-."), "ff01ab");
    // Tokens win over packing: "1" and "00" are single-byte tokens, "4" a double-byte one.
    let dict = TokenDict::v3();
    for s in ["1", "0", "00", "3", "4", "5", "6", "8"] {
        assert!(dict.lookup(s).is_some(), "{s} is a token");
        assert!(!string_bytes(s).starts_with("ff"), "{s} must not be packed");
    }
    // 127 characters pack, 128 go raw.
    let d127 = "1".repeat(127);
    assert!(string_bytes(&d127).starts_with("ffc0"));
    let d128 = "1".repeat(128);
    assert!(string_bytes(&d128).starts_with("fc80"));
    assert_eq!(string_bytes(""), "fc00");
}

#[test]
fn ad_jid_hosted_servers_with_devices() {
    assert_eq!(jid_bytes(jid("123:2@hosted")), "f78002ff82123f");
    assert_eq!(jid_bytes(jid("123:2@hosted.lid")), "f78102ff82123f");
    assert_eq!(
        decode_value("f78002ff82123f"),
        Value::Jid(jid("123:2@hosted"))
    );
    assert_eq!(
        decode_value("f78102ff82123f"),
        Value::Jid(jid("123:2@hosted.lid"))
    );
}

#[test]
fn hosted_device_zero_is_a_jid_pair() {
    let hosted = hex::encode(b"hosted");
    assert_eq!(
        jid_bytes(Jid::user("123", Server::Hosted)),
        format!("faff82123ffc06{hosted}")
    );
    assert_eq!(
        string_bytes("123@hosted"),
        format!("faff82123ffc06{hosted}")
    );
}

#[test]
fn explicit_device_zero_string_is_an_ad_jid_like_baileys() {
    assert_eq!(
        string_bytes("12345678901:0@s.whatsapp.net"),
        "f70000ff8612345678901f"
    );
    assert_eq!(string_bytes("123:0@lid"), "f70100ff82123f");
    assert_eq!(string_bytes("123:0@hosted"), "f78000ff82123f");
    // Typed device 0 is a JID_PAIR …
    assert_eq!(
        jid_bytes(Jid::device("123", 0, Server::WhatsApp)),
        "faff82123f03"
    );
    // … but a decoded AD_JID with device 0 re-encodes as it came.
    let decoded = decode_value("f70000ff82123f");
    assert_eq!(decoded, Value::Jid(Jid::user("123", Server::WhatsApp)));
    assert_eq!(
        decoded.as_jid().unwrap().to_string(),
        "123:0@s.whatsapp.net"
    );
    assert_eq!(value_bytes(decoded), "f70000ff82123f");
}

#[test]
fn messenger_jids_are_fb_jids() {
    let user = "ff0410012345";
    assert_eq!(
        jid_bytes(Jid::device("10012345", 3, Server::Messenger)),
        format!("f6{user}0003cc")
    );
    assert_eq!(jid_bytes(jid("10012345@msgr")), format!("f6{user}0000cc"));
    let decoded = decode_value(&format!("f6{user}0003cc"));
    assert_eq!(
        decoded,
        Value::Jid(Jid::device("10012345", 3, Server::Messenger))
    );
    assert_eq!(decoded.as_jid().unwrap().to_string(), "10012345:3@msgr");
    // whatsmeow requires the server to be msgr.
    let err = decode(
        &Bytes::from(hex(&format!("f80307 08 f6{user}0003 03"))),
        TokenDict::v3(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 13: expected jid server \"msgr\", found another"
    );
}

#[test]
fn interop_jids_use_whatsmeows_layout_with_trailing_server() {
    let user = "ff0410012345";
    let interop = hex::encode(b"interop");
    let wire = format!("f5{user}00010007fc07{interop}");
    let j = Jid::interop("10012345", 1, 7);
    assert_eq!(jid_bytes(j.clone()), wire);
    assert_eq!(decode_value(&wire), Value::Jid(j.clone()));
    assert_eq!(j.to_string(), "7-10012345:1@interop");
    assert_eq!(string_bytes("7-10012345:1@interop"), wire);
    let bad = format!("f80307 08 f5{user}00010007 03");
    let err = decode(&Bytes::from(hex(&bad)), TokenDict::v3()).unwrap_err();
    assert_eq!(
        err.kind,
        tether_core::binary::DecodeErrorKind::UnexpectedJidServer {
            expected: "interop"
        }
    );
}

#[test]
fn unknown_ad_domain_is_kept_as_agent() {
    let decoded = decode_value("f70704ff82123f");
    let j = decoded.as_jid().unwrap();
    assert_eq!(
        (j.user_str(), j.agent(), j.device_id(), j.server()),
        ("123", 7, 4, &Server::WhatsApp)
    );
    assert_eq!(j.to_string(), "123.7:4@s.whatsapp.net");
    assert_eq!(jid(&j.to_string()), *j);
    assert_eq!(value_bytes(decoded.clone()), "f70704ff82123f");
    // Device 0 with an agent keeps the AD_JID form too.
    let zero = decode_value("f70700ff82123f");
    assert_eq!(zero.as_jid().unwrap().to_string(), "123.7:0@s.whatsapp.net");
    assert_eq!(value_bytes(zero), "f70700ff82123f");
}

#[test]
fn unknown_jid_pair_server_is_accepted() {
    let decoded = decode_value(&format!("faff82123ffc05{}", hex::encode(b"z.new")));
    let j = decoded.as_jid().unwrap();
    assert_eq!(j.server(), &Server::Other("z.new".to_owned()));
    assert_eq!(j.to_string(), "123@z.new");
}

#[test]
fn server_jids_and_other_servers() {
    assert_eq!(jid_bytes(Jid::server_jid(Server::WhatsApp)), "fa0003");
    assert_eq!(jid_bytes(Jid::server_jid(Server::Group)), "fa001c");
    assert_eq!(
        jid_bytes(jid("123@c.us")),
        format!("faff82123ffc04{}", hex::encode(b"c.us"))
    );
    assert_eq!(
        jid_bytes(jid("123@bot")),
        format!("faff82123ffc03{}", hex::encode(b"bot"))
    );
    assert_eq!(jid_bytes(jid("ABC@call")), "fafb82abcf64");
    assert_eq!(
        decode_value("fa0003"),
        Value::Jid(Jid::server_jid(Server::WhatsApp))
    );
    // A JID_PAIR user written as an empty BINARY_8 is the same server JID.
    assert_eq!(
        decode_value("fafc0003"),
        Value::Jid(Jid::server_jid(Server::WhatsApp))
    );
}

#[test]
fn devices_on_servers_without_devices_are_refused_or_stay_strings() {
    let mut out = Vec::new();
    let typed = Node::new("message").jid_attr("to", Jid::device("123", 3, Server::Group));
    assert!(matches!(
        encode(&typed, TokenDict::v3(), &mut out),
        Err(EncodeError::UnencodableJid { .. })
    ));
    assert!(out.is_empty(), "nothing written on error");
    // Baileys would write an AD_JID on s.whatsapp.net here (a different JID); Tether keeps the
    // string.
    assert_eq!(
        string_bytes("123:3@g.us"),
        format!("fc0a{}", hex::encode(b"123:3@g.us"))
    );
    let big = Node::new("message").jid_attr("to", Jid::device("123", 256, Server::WhatsApp));
    assert_eq!(
        encode(&big, TokenDict::v3(), &mut out),
        Err(EncodeError::DeviceTooLarge { device: 256 })
    );
    assert_eq!(
        string_bytes("123:256@s.whatsapp.net"),
        format!("fc16{}", hex::encode(b"123:256@s.whatsapp.net"))
    );
}

#[test]
fn jid_content_round_trips() {
    let mut node = Node::new("participant");
    node.content = Content::Jid(jid("123:4@lid"));
    let mut out = Vec::new();
    encode(&node, TokenDict::v3(), &mut out).unwrap();
    assert_eq!(hex::encode(&out), "f80205f70104ff82123f");
    assert_eq!(decode(&Bytes::from(out), TokenDict::v3()).unwrap(), node);
    // A JID-shaped string content is written as the JID, as Baileys does.
    let mut as_string = Node::new("participant");
    as_string.content = Content::String("123:4@lid".into());
    let mut out2 = Vec::new();
    encode(&as_string, TokenDict::v3(), &mut out2).unwrap();
    assert_eq!(hex::encode(&out2), "f80205f70104ff82123f");
}
