//! Pair-code linking: golden values computed by an independent implementation
//! (`data/pair_code_vectors.py`: Python hashlib + OpenSSL through `cryptography`), the full
//! companion ↔ phone exchange over several seeds and through the binary codec, and the typed
//! errors of each step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use tether_core::binary::{self, Content, Jid, Node, Server, TokenDict};
use tether_core::crypto::KeyPair;
use tether_core::pairing::code::{
    CompanionFinishRandom, CompanionHelloParams, CompanionHelloRandom, PairingCode, PrimaryHello,
    RegisteredPairCode, code_key, companion_hello, phone_jid, unwrap_public_key, wrap_public_key,
};
use tether_core::pairing::phone::{
    CompanionHello, PairSuccessParams, PendingPrimary, PrimaryHelloRandom, build_pair_success,
    companion_hello_result, primary_hello,
};
use tether_core::pairing::qr::ClientType;
use tether_core::pairing::success::handle_pair_success;
use tether_core::pairing::{AdvSecret, PairingError};

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("data/pair-code-vectors.json")).unwrap()
}

fn hex_field<const N: usize>(v: &serde_json::Value, name: &str) -> [u8; N] {
    hex::decode(v[name].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn bytes_of(node: &Node) -> &[u8] {
    match &node.content {
        Content::Bytes(b) => b,
        other => panic!("expected bytes, found {other:?}"),
    }
}

fn over_the_wire(node: &Node) -> Node {
    let mut out = Vec::new();
    binary::encode(node, TokenDict::v3(), &mut out).unwrap();
    binary::decode(&Bytes::from(out), TokenDict::v3()).unwrap()
}

#[test]
fn codes_match_golden_base32() {
    for v in vectors()["codes"].as_array().unwrap() {
        let code = PairingCode::from_random(hex_field(v, "random"));
        assert_eq!(code.as_str(), v["code"].as_str().unwrap());
    }
}

#[test]
fn key_and_wrap_match_golden_values_with_a_128_bit_counter() {
    for v in vectors()["wraps"].as_array().unwrap() {
        let code = PairingCode::parse(v["code"].as_str().unwrap()).unwrap();
        let salt: [u8; 32] = hex_field(v, "salt");
        let iv: [u8; 16] = hex_field(v, "iv");
        let public: [u8; 32] = hex_field(v, "public");
        assert_eq!(*code_key(&code, &salt), hex_field::<32>(v, "key"));
        let wrapped = wrap_public_key(&code, &public, &salt, &iv);
        assert_eq!(
            wrapped,
            hex_field::<80>(v, "wrapped"),
            "iv {}",
            hex::encode(iv)
        );
        assert_eq!(unwrap_public_key(&code, &wrapped).unwrap(), public);
        // Like whatsmeow: extra bytes are ignored, fewer than 80 are refused.
        let longer = [&wrapped[..], b"extra"].concat();
        assert_eq!(unwrap_public_key(&code, &longer).unwrap(), public);
        assert_eq!(
            unwrap_public_key(&code, &wrapped[..79]),
            Err(PairingError::WrongLength {
                field: "wrapped ephemeral key",
                expected: 80,
                actual: 79
            })
        );
    }
}

/// Everything of the golden exchange, as key pairs and random inputs.
struct Golden {
    v: serde_json::Value,
    companion_ephemeral: KeyPair,
    companion_identity: KeyPair,
    primary_ephemeral: KeyPair,
    primary_identity: KeyPair,
}

impl Golden {
    fn load() -> Self {
        let v = vectors()["exchange"].clone();
        let pair = |name| KeyPair::from_private_bytes(hex_field(&v, name));
        Self {
            companion_ephemeral: pair("companion_ephemeral_private"),
            companion_identity: pair("companion_identity_private"),
            primary_ephemeral: pair("primary_ephemeral_private"),
            primary_identity: pair("primary_identity_private"),
            v,
        }
    }
}

#[test]
fn full_exchange_matches_golden_values() {
    let g = Golden::load();
    let v = &g.v;
    let noise = [0x77; 32];
    let (pending, hello_iq) = companion_hello(
        "hello-1",
        &CompanionHelloParams::new("+1 (555) 010-0123"),
        &noise,
        g.companion_ephemeral.clone(),
        &CompanionHelloRandom {
            code: hex_field(v, "code_random"),
            salt: hex_field(v, "hello_salt"),
            iv: hex_field(v, "hello_iv"),
        },
    )
    .unwrap();
    assert_eq!(pending.code.as_str(), v["code"].as_str().unwrap());
    let registration = hello_iq.child("link_code_companion_reg").unwrap();
    let wrapped = registration
        .child("link_code_pairing_wrapped_companion_ephemeral_pub")
        .unwrap();
    assert_eq!(
        bytes_of(wrapped),
        hex_field::<80>(v, "wrapped_companion_ephemeral")
    );

    // Server side: read stage 1, hand out a ref; the phone answers with primary_hello.
    let hello = CompanionHello::parse(&over_the_wire(&hello_iq)).unwrap();
    let registered = pending
        .registered(&over_the_wire(&companion_hello_result(
            &hello.iq_id,
            b"REF-1",
        )))
        .unwrap();
    let typed = PairingCode::parse(&pending.code.formatted()).unwrap();
    let (primary, notification) = primary_hello(
        &typed,
        &hello,
        b"REF-1",
        &g.primary_ephemeral,
        &g.primary_identity,
        &PrimaryHelloRandom {
            salt: hex_field(v, "primary_salt"),
            iv: hex_field(v, "primary_iv"),
        },
        "n-1",
    )
    .unwrap();
    let wrapped = notification
        .child("link_code_companion_reg")
        .unwrap()
        .child("link_code_pairing_wrapped_primary_ephemeral_pub")
        .unwrap();
    assert_eq!(
        bytes_of(wrapped),
        hex_field::<80>(v, "wrapped_primary_ephemeral")
    );

    // Companion stage 2.
    let primary_hello = PrimaryHello::parse(&over_the_wire(&notification)).unwrap();
    let finished = registered
        .finish(
            &primary_hello,
            &g.companion_identity,
            &CompanionFinishRandom {
                adv_random: hex_field(v, "adv_random"),
                bundle_salt: hex_field(v, "bundle_salt"),
                bundle_nonce: hex_field(v, "bundle_nonce"),
            },
            "finish-1",
        )
        .unwrap();
    assert_eq!(
        finished.adv_secret,
        AdvSecret::from_bytes(hex_field(v, "adv_secret"))
    );
    let registration = finished.reply.child("link_code_companion_reg").unwrap();
    assert_eq!(registration.attr_str("stage"), Some("companion_finish"));
    assert_eq!(
        bytes_of(
            registration
                .child("link_code_pairing_wrapped_key_bundle")
                .unwrap()
        ),
        hex::decode(v["wrapped_key_bundle"].as_str().unwrap()).unwrap()
    );

    // Phone stage 2 derives the same secret.
    let done = primary.finish(&over_the_wire(&finished.reply)).unwrap();
    assert_eq!(done.adv_secret, finished.adv_secret);
    assert_eq!(done.companion_identity, g.companion_identity.public_bytes());
    assert_eq!(done.iq_id, "finish-1");
}

#[test]
fn stage_one_iq_follows_whatsmeow() {
    let mut params = CompanionHelloParams::new("+44 7700 900123");
    params.show_push_notification = false;
    params.client_type = ClientType::Firefox;
    params.platform_display = "Firefox (Windows)".to_owned();
    let ephemeral = KeyPair::from_private_bytes([3; 32]);
    let (pending, iq) = companion_hello(
        "abc",
        &params,
        &[0x55; 32],
        ephemeral,
        &CompanionHelloRandom {
            code: [1, 2, 3, 4, 5],
            salt: [6; 32],
            iv: [7; 16],
        },
    )
    .unwrap();
    assert_eq!(
        pending.phone_jid,
        Jid::user("447700900123", Server::WhatsApp)
    );
    assert_eq!(iq.attr_str("type"), Some("set"));
    assert_eq!(iq.attr_str("xmlns"), Some("md"));
    assert_eq!(iq.attr_str("id"), Some("abc"));
    assert_eq!(
        iq.get_attr("to").unwrap().as_jid(),
        Some(&Jid::server_jid(Server::WhatsApp))
    );
    let reg = iq.child("link_code_companion_reg").unwrap();
    assert_eq!(
        reg.get_attr("jid").unwrap().as_jid(),
        Some(&Jid::user("447700900123", Server::WhatsApp))
    );
    assert_eq!(reg.attr_str("stage"), Some("companion_hello"));
    assert_eq!(reg.attr_str("should_show_push_notification"), Some("false"));
    let tags: Vec<&str> = reg.child_nodes().iter().map(|n| &*n.tag).collect();
    assert_eq!(
        tags,
        [
            "link_code_pairing_wrapped_companion_ephemeral_pub",
            "companion_server_auth_key_pub",
            "companion_platform_id",
            "companion_platform_display",
            "link_code_pairing_nonce"
        ]
    );
    assert_eq!(
        reg.child("companion_platform_id").unwrap().content,
        Content::String("3".into())
    );
    assert_eq!(
        reg.child("companion_platform_display").unwrap().content,
        Content::String("Firefox (Windows)".into())
    );
    assert_eq!(bytes_of(reg.child("link_code_pairing_nonce").unwrap()), [0]);
    assert_eq!(
        bytes_of(reg.child("companion_server_auth_key_pub").unwrap()),
        [0x55; 32]
    );

    let parsed = CompanionHello::parse(&over_the_wire(&iq)).unwrap();
    assert!(!parsed.show_push_notification);
    assert_eq!(parsed.client_type, ClientType::Firefox);
    assert_eq!(parsed.platform_display, "Firefox (Windows)");
    assert_eq!(parsed.noise_public, [0x55; 32]);
}

/// A seeded exchange up to the phone's primary_hello.
struct Exchange {
    rng: ChaCha20Rng,
    registered: RegisteredPairCode,
    primary: PendingPrimary,
    notification: Node,
    companion_identity: KeyPair,
    primary_identity: KeyPair,
}

fn arr<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut a = [0u8; N];
    rng.fill_bytes(&mut a);
    a
}

fn exchange(seed: u64, typed_code: Option<&str>) -> Result<Exchange, PairingError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let noise = KeyPair::generate(&mut rng);
    let companion_identity = KeyPair::generate(&mut rng);
    let primary_identity = KeyPair::generate(&mut rng);
    let ephemeral = KeyPair::generate(&mut rng);
    let random = CompanionHelloRandom {
        code: arr(&mut rng),
        salt: arr(&mut rng),
        iv: arr(&mut rng),
    };
    let (pending, iq) = companion_hello(
        "h",
        &CompanionHelloParams::new("15550100123"),
        &noise.public_bytes(),
        ephemeral,
        &random,
    )?;
    let hello = CompanionHello::parse(&over_the_wire(&iq))?;
    let pairing_ref: [u8; 16] = arr(&mut rng);
    let registered = pending.registered(&companion_hello_result("h", &pairing_ref))?;
    let code = match typed_code {
        Some(text) => PairingCode::parse(text)?,
        None => pending.code,
    };
    let primary_ephemeral = KeyPair::generate(&mut rng);
    let (primary, notification) = primary_hello(
        &code,
        &hello,
        &pairing_ref,
        &primary_ephemeral,
        &primary_identity,
        &PrimaryHelloRandom {
            salt: arr(&mut rng),
            iv: arr(&mut rng),
        },
        "n",
    )?;
    Ok(Exchange {
        rng,
        registered,
        primary,
        notification: over_the_wire(&notification),
        companion_identity,
        primary_identity,
    })
}

fn finish_random(rng: &mut ChaCha20Rng) -> CompanionFinishRandom {
    CompanionFinishRandom {
        adv_random: arr(rng),
        bundle_salt: arr(rng),
        bundle_nonce: arr(rng),
    }
}

#[test]
fn pair_code_round_trip_ends_in_a_verified_pair_success() {
    for seed in 0..4 {
        let mut x = exchange(seed, None).unwrap();
        let hello = PrimaryHello::parse(&x.notification).unwrap();
        assert_eq!(hello.primary_identity, x.primary_identity.public_bytes());
        let random = finish_random(&mut x.rng);
        let finished = x
            .registered
            .finish(&hello, &x.companion_identity, &random, "f")
            .unwrap();
        let done = x.primary.finish(&over_the_wire(&finished.reply)).unwrap();
        assert_eq!(done.adv_secret, finished.adv_secret);

        // The phone vouches with the pair-code ADV secret; the companion accepts.
        let params = PairSuccessParams {
            iq_id: "ps".to_owned(),
            server_time: 1_750_000_000,
            jid: Jid::device("15550100123", 3, Server::WhatsApp),
            lid: Some(Jid::device("99887766", 3, Server::Lid)),
            platform: "android".to_owned(),
            business_name: None,
            raw_id: 1,
            timestamp: 1_750_000_000,
            key_index: 4,
            hosted: false,
        };
        let (node, issued) = build_pair_success(
            &params,
            &done.companion_identity,
            &done.adv_secret,
            &x.primary_identity,
            &arr(&mut x.rng),
        );
        let paired = handle_pair_success(
            &over_the_wire(&node),
            &finished.adv_secret,
            &x.companion_identity,
            &arr(&mut x.rng),
        )
        .unwrap();
        issued.verify_reply(&over_the_wire(&paired.reply)).unwrap();
        assert_eq!(
            paired.identity.primary_identity,
            x.primary_identity.public_bytes()
        );
    }
}

#[test]
fn wrong_code_on_the_phone_fails_the_key_bundle() {
    let x = exchange(20, None).unwrap();
    let mut wrong = x.registered.code.as_str().as_bytes().to_vec();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let mut x = exchange(20, Some(core::str::from_utf8(&wrong).unwrap())).unwrap();
    let hello = PrimaryHello::parse(&x.notification).unwrap();
    let random = finish_random(&mut x.rng);
    // The companion cannot tell (CTR has no integrity) ...
    let finished = x
        .registered
        .finish(&hello, &x.companion_identity, &random, "f")
        .unwrap();
    // ... but the phone's bundle key differs, so the GCM tag fails.
    assert_eq!(
        x.primary.finish(&finished.reply).unwrap_err(),
        PairingError::KeyBundleDecrypt
    );
}

#[test]
fn stage_two_errors_are_typed() {
    let mut x = exchange(30, None).unwrap();
    let random = finish_random(&mut x.rng);
    let mut hello = PrimaryHello::parse(&x.notification).unwrap();

    let mut other_ref = hello.clone();
    other_ref.pairing_ref = Bytes::from_static(b"other");
    assert_eq!(
        x.registered
            .finish(&other_ref, &x.companion_identity, &random, "f")
            .unwrap_err(),
        PairingError::RefMismatch
    );
    let mut low_order = hello.clone();
    low_order.primary_identity = [0; 32];
    assert_eq!(
        x.registered
            .finish(&low_order, &x.companion_identity, &random, "f")
            .unwrap_err(),
        PairingError::LowOrderPoint {
            key: "primary identity key"
        }
    );

    // Stage and missing parts of the notification.
    let with_stage = |stage: &str| {
        let mut n = x.notification.clone();
        let Content::Nodes(children) = &mut n.content else {
            panic!()
        };
        children[0].attrs.retain(|a| a.key != "stage");
        children[0] = children[0].clone().attr("stage", stage.to_owned());
        n
    };
    assert_eq!(
        PrimaryHello::parse(&with_stage("refresh_code")).unwrap_err(),
        PairingError::UnexpectedStage("refresh_code".to_owned())
    );
    let drop_child = |tag: &str| {
        let mut n = x.notification.clone();
        let Content::Nodes(children) = &mut n.content else {
            panic!()
        };
        let Content::Nodes(inner) = &mut children[0].content else {
            panic!()
        };
        inner.retain(|c| c.tag != tag);
        n
    };
    for tag in [
        "link_code_pairing_ref",
        "link_code_pairing_wrapped_primary_ephemeral_pub",
        "primary_identity_pub",
    ] {
        assert!(matches!(
            PrimaryHello::parse(&drop_child(tag)).unwrap_err(),
            PairingError::MissingChild { tag: t, .. } if t == tag
        ));
    }
    let shorten = |tag: &str, len: usize| {
        let mut n = x.notification.clone();
        let Content::Nodes(children) = &mut n.content else {
            panic!()
        };
        let Content::Nodes(inner) = &mut children[0].content else {
            panic!()
        };
        let c = inner.iter_mut().find(|c| c.tag == tag).unwrap();
        let Content::Bytes(b) = &c.content else {
            panic!()
        };
        c.content = Content::Bytes(b.slice(..len));
        n
    };
    assert_eq!(
        PrimaryHello::parse(&shorten(
            "link_code_pairing_wrapped_primary_ephemeral_pub",
            79
        ))
        .unwrap_err(),
        PairingError::WrongLength {
            field: "link_code_pairing_wrapped_primary_ephemeral_pub",
            expected: 80,
            actual: 79
        }
    );
    assert_eq!(
        PrimaryHello::parse(&shorten("primary_identity_pub", 31)).unwrap_err(),
        PairingError::WrongLength {
            field: "primary_identity_pub",
            expected: 32,
            actual: 31
        }
    );
    // Longer wrapped keys are cut to 80 bytes, as whatsmeow does.
    let longer = {
        let mut n = x.notification.clone();
        let Content::Nodes(children) = &mut n.content else {
            panic!()
        };
        let Content::Nodes(inner) = &mut children[0].content else {
            panic!()
        };
        let c = inner
            .iter_mut()
            .find(|c| c.tag == "link_code_pairing_wrapped_primary_ephemeral_pub")
            .unwrap();
        let Content::Bytes(b) = &c.content else {
            panic!()
        };
        c.content = Content::Bytes([&b[..], b"tail"].concat().into());
        n
    };
    assert_eq!(PrimaryHello::parse(&longer).unwrap(), hello);

    // Phone side: a finish naming another ref, a wrong stage, a forged companion identity.
    hello = PrimaryHello::parse(&x.notification).unwrap();
    let finished = x
        .registered
        .finish(&hello, &x.companion_identity, &random, "f")
        .unwrap();
    let edit_finish = |edit: &dyn Fn(&mut Node)| {
        let mut n = finished.reply.clone();
        let Content::Nodes(children) = &mut n.content else {
            panic!()
        };
        edit(&mut children[0]);
        n
    };
    let other_identity = edit_finish(&|reg| {
        let Content::Nodes(inner) = &mut reg.content else {
            panic!()
        };
        let c = inner
            .iter_mut()
            .find(|c| c.tag == "companion_identity_public")
            .unwrap();
        c.content = Content::Bytes(vec![9; 32].into());
    });
    assert_eq!(
        x.primary.finish(&other_identity).unwrap_err(),
        PairingError::KeyBundleMismatch("companion identity")
    );
    let bad_stage = edit_finish(&|reg| {
        reg.attrs.retain(|a| a.key != "stage");
        *reg = reg.clone().attr("stage", "companion_hello");
    });
    assert_eq!(
        x.primary.finish(&bad_stage).unwrap_err(),
        PairingError::UnexpectedStage("companion_hello".to_owned())
    );
    let flipped_bundle = edit_finish(&|reg| {
        let Content::Nodes(inner) = &mut reg.content else {
            panic!()
        };
        let c = inner
            .iter_mut()
            .find(|c| c.tag == "link_code_pairing_wrapped_key_bundle")
            .unwrap();
        let Content::Bytes(b) = &c.content else {
            panic!()
        };
        let mut v = b.to_vec();
        v[100] ^= 1;
        c.content = Content::Bytes(v.into());
    });
    assert_eq!(
        x.primary.finish(&flipped_bundle).unwrap_err(),
        PairingError::KeyBundleDecrypt
    );
}

#[test]
fn stage_one_result_errors_are_typed() {
    let mut rng = ChaCha20Rng::seed_from_u64(41);
    let (pending, _) = companion_hello(
        "h",
        &CompanionHelloParams::new("15550100123"),
        &[1; 32],
        KeyPair::generate(&mut rng),
        &CompanionHelloRandom {
            code: [0; 5],
            salt: [0; 32],
            iv: [0; 16],
        },
    )
    .unwrap();
    let error = Node::new("iq")
        .attr("type", "error")
        .attr("id", "h")
        .children(vec![
            Node::new("error")
                .attr("code", "400")
                .attr("text", "bad-request"),
        ]);
    assert_eq!(
        pending.registered(&error).unwrap_err(),
        PairingError::Rejected {
            kind: "error".to_owned(),
            code: Some("400".to_owned()),
            text: Some("bad-request".to_owned())
        }
    );
    let empty = Node::new("iq").attr("type", "result").attr("id", "h");
    assert_eq!(
        pending.registered(&empty).unwrap_err(),
        PairingError::MissingChild {
            parent: "iq",
            tag: "link_code_companion_reg"
        }
    );
}

#[test]
fn phone_numbers_are_normalised_like_whatsmeow() {
    assert_eq!(
        phone_jid("+1 (555) 010-0123").unwrap(),
        Jid::user("15550100123", Server::WhatsApp)
    );
    assert_eq!(
        phone_jid("+12 345"),
        Err(PairingError::PhoneNumberTooShort(5))
    );
    assert_eq!(
        phone_jid("123456"),
        Err(PairingError::PhoneNumberTooShort(6))
    );
    assert_eq!(
        phone_jid("0044 7700 900123"),
        Err(PairingError::PhoneNumberNotInternational)
    );
    let mut params = CompanionHelloParams::new("15550100123");
    params.platform_display.clear();
    let result = companion_hello(
        "h",
        &params,
        &[0; 32],
        KeyPair::from_private_bytes([1; 32]),
        &CompanionHelloRandom {
            code: [0; 5],
            salt: [0; 32],
            iv: [0; 16],
        },
    );
    assert_eq!(result.unwrap_err(), PairingError::EmptyPlatformDisplay);
}

#[test]
fn codes_parse_as_typed_and_stay_redacted() {
    let code = PairingCode::from_random([0xA5, 0xC3, 0xE1, 0xF0, 0x0F]);
    assert_eq!(code.formatted(), "MQ2Y-4W1G");
    assert_eq!(PairingCode::parse("MQ2Y-4W1G").unwrap(), code);
    assert_eq!(PairingCode::parse("MQ2Y4W1G").unwrap(), code);
    for bad in [
        "MQ2Y4W1",
        "MQ2Y4W1GX",
        "MQ2Y_4W1G",
        "mq2y4w1g",
        "MQ2Y4W0G",
        "MQ2Y4WIG",
        "MQ2-Y4W1G",
    ] {
        assert_eq!(
            PairingCode::parse(bad),
            Err(PairingError::InvalidCode),
            "{bad}"
        );
    }
    let shown = format!("{code:?}");
    assert!(!shown.contains("MQ2Y"), "{shown}");
}
