//! Property tests of the pairing parsers: no input — arbitrary strings, arbitrary node trees,
//! arbitrary protobuf bytes, arbitrary wire bytes — makes any of them panic, and the QR string
//! and pairing code round-trip for every value.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use prost::Message;
use sha2::Sha256;
use tether_core::binary::{self, Content, Jid, Node, Server, TokenDict};
use tether_core::crypto::KeyPair;
use tether_core::pairing::code::{
    CODE_ALPHABET, CompanionHelloParams, CompanionHelloRandom, PairingCode, PrimaryHello,
    companion_hello,
};
use tether_core::pairing::phone::{
    CompanionHello, IssuedPairSuccess, PairSuccessParams, PendingPrimary, PrimaryHelloRandom,
    build_pair_success, primary_hello,
};
use tether_core::pairing::qr::{ClientType, QR_PREFIX, QrPayload, parse_pair_device};
use tether_core::pairing::success::handle_pair_success;
use tether_core::pairing::{AdvSecret, pair_error_reply};
use tether_core::proto::adv::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};

const TAGS: &[&str] = &[
    "iq",
    "notification",
    "pair-device",
    "ref",
    "pair-success",
    "device-identity",
    "device",
    "platform",
    "biz",
    "client-props",
    "pair-device-sign",
    "error",
    "link_code_companion_reg",
    "link_code_pairing_ref",
    "link_code_pairing_wrapped_primary_ephemeral_pub",
    "link_code_pairing_wrapped_companion_ephemeral_pub",
    "link_code_pairing_wrapped_key_bundle",
    "primary_identity_pub",
    "companion_identity_public",
    "companion_server_auth_key_pub",
    "companion_platform_id",
    "companion_platform_display",
];

const KEYS: &[&str] = &[
    "id",
    "type",
    "stage",
    "jid",
    "lid",
    "name",
    "t",
    "key-index",
    "code",
    "text",
    "should_show_push_notification",
];

fn attr_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,24}",
        Just("result".to_owned()),
        Just("primary_hello".to_owned()),
        Just("companion_hello".to_owned()),
        Just("companion_finish".to_owned()),
        Just("15550100:3@s.whatsapp.net".to_owned()),
        Just("123:3@lid".to_owned()),
        Just("1".to_owned()),
    ]
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        Just(Content::None),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| Content::Bytes(b.into())),
        prop::collection::vec(any::<u8>(), 31..34).prop_map(|b| Content::Bytes(b.into())),
        prop::collection::vec(any::<u8>(), 79..82).prop_map(|b| Content::Bytes(b.into())),
        "[ -~]{0,12}".prop_map(|s| Content::String(s.into())),
    ]
}

fn node_with(content: impl Strategy<Value = Content>) -> impl Strategy<Value = Node> {
    (
        prop::sample::select(TAGS),
        prop::collection::vec((prop::sample::select(KEYS), attr_value()), 0..4),
        content,
    )
        .prop_map(|(tag, attrs, content)| {
            let mut node = Node::new(tag);
            for (key, value) in attrs {
                node = node.attr(key, value);
            }
            node.content = content;
            node
        })
}

fn tree() -> impl Strategy<Value = Node> {
    node_with(content()).prop_recursive(3, 40, 6, |inner| {
        node_with(prop::collection::vec(inner, 0..6).prop_map(Content::Nodes))
    })
}

fn identity() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::from_private_bytes([0x42; 32]))
}

fn adv() -> AdvSecret {
    AdvSecret::from_bytes([0x24; 32])
}

fn issued() -> &'static IssuedPairSuccess {
    static ISSUED: OnceLock<IssuedPairSuccess> = OnceLock::new();
    ISSUED.get_or_init(|| {
        let params = PairSuccessParams {
            iq_id: "1".to_owned(),
            server_time: 1,
            jid: Jid::device("15550100", 3, Server::WhatsApp),
            lid: None,
            platform: "android".to_owned(),
            business_name: None,
            raw_id: 1,
            timestamp: 1,
            key_index: 1,
            hosted: false,
        };
        let account = KeyPair::from_private_bytes([0x11; 32]);
        build_pair_success(
            &params,
            &identity().public_bytes(),
            &adv(),
            &account,
            &[0; 64],
        )
        .1
    })
}

fn pending_primary() -> &'static PendingPrimary {
    static PENDING: OnceLock<PendingPrimary> = OnceLock::new();
    PENDING.get_or_init(|| {
        let (_, iq) = companion_hello(
            "h",
            &CompanionHelloParams::new("15550100123"),
            &[1; 32],
            KeyPair::from_private_bytes([2; 32]),
            &CompanionHelloRandom {
                code: [3; 5],
                salt: [4; 32],
                iv: [5; 16],
            },
        )
        .unwrap();
        let hello = CompanionHello::parse(&iq).unwrap();
        primary_hello(
            &PairingCode::from_random([3; 5]),
            &hello,
            b"1",
            &KeyPair::from_private_bytes([6; 32]),
            &KeyPair::from_private_bytes([7; 32]),
            &PrimaryHelloRandom {
                salt: [8; 32],
                iv: [9; 16],
            },
            "n",
        )
        .unwrap()
        .0
    })
}

/// Every parser that takes a node; none may panic.
fn parse_everything(node: &Node) {
    let _ = parse_pair_device(node);
    if let Err(error) = handle_pair_success(node, &adv(), identity(), &[0; 64]) {
        let _ = pair_error_reply("x", &error);
    }
    let _ = PrimaryHello::parse(node);
    let _ = CompanionHello::parse(node);
    let _ = issued().verify_reply(node);
    let _ = pending_primary().finish(node);
}

/// A `<pair-success>` iq around `device_identity`.
fn pair_success(device_identity: Vec<u8>) -> Node {
    Node::new("iq")
        .attr("id", "1")
        .children(vec![Node::new("pair-success").children(vec![
            Node::new("device-identity").bytes(device_identity),
            Node::new("device").jid_attr("jid", Jid::device("15550100", 3, Server::WhatsApp)),
        ])])
}

fn hmac(data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(adv().as_bytes()).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn opt_bytes(lens: std::ops::Range<usize>) -> impl Strategy<Value = Option<Bytes>> {
    prop::option::of(prop::collection::vec(any::<u8>(), lens).prop_map(Bytes::from))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn node_parsers_never_panic(node in tree()) {
        parse_everything(&node);
        let wrapped = Node::new("iq").attr("id", "1").attr("type", "result").children(vec![node]);
        parse_everything(&wrapped);
    }

    #[test]
    fn parsers_never_panic_on_decoded_wire_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(node) = binary::decode(&Bytes::from(bytes), TokenDict::v3()) {
            parse_everything(&node);
        }
    }

    #[test]
    fn pair_success_never_panics_on_arbitrary_device_identity(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(handle_pair_success(&pair_success(bytes), &adv(), identity(), &[0; 64]).is_err());
    }

    /// Structured containers with a valid HMAC reach the inner decoders and the signature check.
    #[test]
    fn pair_success_never_panics_on_authenticated_garbage(
        details in opt_bytes(0..80),
        key in opt_bytes(30..34),
        signature in opt_bytes(62..66),
        device_signature in opt_bytes(0..70),
        account_type in prop::option::of(-2i32..4),
        raw_inner in prop::option::of(prop::collection::vec(any::<u8>(), 0..80)),
    ) {
        let signed = match raw_inner {
            Some(raw) => raw,
            None => AdvSignedDeviceIdentity {
                details,
                account_signature_key: key,
                account_signature: signature,
                device_signature,
            }
            .encode_to_vec(),
        };
        let container = AdvSignedDeviceIdentityHmac {
            hmac: Some(hmac(&signed).into()),
            details: Some(signed.into()),
            account_type,
        };
        let result = handle_pair_success(
            &pair_success(container.encode_to_vec()),
            &adv(),
            identity(),
            &[0; 64],
        );
        // Nothing random carries a valid account signature.
        prop_assert!(result.is_err());
    }

    #[test]
    fn qr_parser_never_panics(text in "\\PC{0,200}") {
        let _ = QrPayload::parse(&text);
        let _ = QrPayload::parse(&format!("{QR_PREFIX}{text}"));
    }

    #[test]
    fn qr_parser_never_panics_on_qr_shaped_strings(
        fields in prop::collection::vec("[A-Za-z0-9+/=@,]{0,50}", 0..7),
    ) {
        let _ = QrPayload::parse(&fields.join(","));
    }

    #[test]
    fn qr_string_round_trips(
        reference in "[!-+\\--~]{1,60}",
        noise in any::<[u8; 32]>(),
        identity_public in any::<[u8; 32]>(),
        secret in any::<[u8; 32]>(),
        client in prop::option::of(prop::sample::select(vec!['0', '1', '7', '9', 'c', 'e'])),
    ) {
        let payload = QrPayload {
            reference,
            noise_public: noise,
            identity_public,
            adv_secret: AdvSecret::from_bytes(secret),
            client_type: client.and_then(ClientType::from_char),
        };
        prop_assert_eq!(QrPayload::parse(&payload.encode()).unwrap(), payload);
    }

    #[test]
    fn code_parser_never_panics(text in "\\PC{0,20}") {
        let _ = PairingCode::parse(&text);
    }

    #[test]
    fn codes_round_trip(random in any::<[u8; 5]>()) {
        let code = PairingCode::from_random(random);
        prop_assert_eq!(code.as_str().len(), 8);
        prop_assert!(code.as_str().bytes().all(|b| CODE_ALPHABET.contains(&b)));
        prop_assert!(PairingCode::parse(code.as_str()).unwrap() == code);
        prop_assert!(PairingCode::parse(&code.formatted()).unwrap() == code);
    }
}
