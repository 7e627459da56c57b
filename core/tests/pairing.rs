//! QR linking end to end: the companion builds its QR string, the fake phone reads it and
//! issues `<pair-success>`, the companion verifies, signs and replies, the phone checks the
//! device signature — over many seeds and through the binary codec. Tampering is in
//! `pairing_tamper.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/pairing_setup.rs"]
mod support;

use prost::Message;
use tether_core::binary::{self, Content, Jid, Node, Server, TokenDict};
use tether_core::crypto::xeddsa;
use tether_core::pairing::PairingError;
use tether_core::pairing::phone::{build_pair_success, build_pair_success_for_qr};
use tether_core::pairing::qr::{QrPayload, pair_device_ack, parse_pair_device};
use tether_core::proto::adv::{
    AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

use support::{
    Setup, device_identity_bytes, device_identity_bytes_of, hmac, over_the_wire,
    with_device_identity,
};

#[test]
fn qr_round_trip_over_many_seeds() {
    for seed in 0..48 {
        let mut s = Setup::new(seed);

        // Server -> companion: pair-device with 6 refs; the companion acks at once.
        let refs: Vec<String> = (0..6)
            .map(|i| format!("2@seed{seed}ref{i}+/AB=="))
            .collect();
        let pair_device = Node::new("iq")
            .jid_attr("from", Jid::server_jid(Server::WhatsApp))
            .attr("type", "set")
            .attr("xmlns", "md")
            .attr("id", format!("pd-{seed}"))
            .children(vec![
                Node::new("pair-device").children(
                    refs.iter()
                        .map(|r| Node::new("ref").bytes(r.clone().into_bytes()))
                        .collect(),
                ),
            ]);
        let parsed = parse_pair_device(&over_the_wire(&pair_device)).unwrap();
        assert_eq!(parsed.refs, refs);
        assert_eq!(parsed.skipped, 0);
        let ack = over_the_wire(&pair_device_ack(&parsed.id));
        assert_eq!(ack.attr_str("id"), Some(format!("pd-{seed}").as_str()));

        // Companion shows ref 3; the phone scans it.
        let shown = s.qr(&parsed.refs[3]).encode();
        assert!(shown.starts_with("https://wa.me/settings/linked_devices#2@seed"));
        let scanned = QrPayload::parse(&shown).unwrap();
        assert_eq!(scanned, s.qr(&refs[3]));

        // Phone -> server -> companion: pair-success.
        let params = s.params(false);
        let random = s.random64();
        let (node, issued) = build_pair_success_for_qr(&params, &scanned, &s.account, &random);
        let paired = s.companion_handles(&over_the_wire(&node)).unwrap();

        let id = &paired.identity;
        assert_eq!(id.jid, params.jid);
        assert_eq!(id.lid, params.lid);
        assert_eq!(id.platform.as_deref(), Some(params.platform.as_str()));
        assert_eq!(id.business_name, params.business_name);
        assert_eq!(id.key_index, params.key_index);
        assert_eq!(id.server_time, Some(params.server_time));
        assert_eq!(id.primary_identity, s.account.public_bytes());
        assert_eq!(id.device_identity.raw_id, Some(params.raw_id));
        assert_eq!(id.device_identity.timestamp, Some(params.timestamp));

        // The persisted account keeps the account key and carries a valid device signature.
        let account = AdvSignedDeviceIdentity::decode(id.account.clone()).unwrap();
        assert_eq!(account.details.as_ref(), Some(&issued.details));
        assert_eq!(
            account.account_signature_key.as_deref(),
            Some(&s.account.public_bytes()[..])
        );
        let device_signature: [u8; 64] = account
            .device_signature
            .as_deref()
            .unwrap()
            .try_into()
            .unwrap();
        let message = [
            &[6u8, 1][..],
            &issued.details,
            &s.identity.public_bytes(),
            &s.account.public_bytes(),
        ]
        .concat();
        assert!(xeddsa::verify(
            &s.identity.public_bytes(),
            &message,
            &device_signature
        ));

        // The reply drops the account key, as whatsmeow does, and the phone accepts it.
        let reply = over_the_wire(&paired.reply);
        assert_eq!(reply.attr_str("type"), Some("result"));
        assert_eq!(reply.attr_str("id"), Some(params.iq_id.as_str()));
        assert_eq!(
            reply.get_attr("to").unwrap().as_jid(),
            Some(&Jid::server_jid(Server::WhatsApp))
        );
        let sign = reply.child("pair-device-sign").unwrap();
        let identity_node = sign.child("device-identity").unwrap();
        assert_eq!(
            identity_node.attr_str("key-index"),
            Some(params.key_index.to_string().as_str())
        );
        let sent =
            AdvSignedDeviceIdentity::decode(device_identity_bytes_of(identity_node)).unwrap();
        assert_eq!(sent.account_signature_key, None);
        assert_eq!(
            sent,
            AdvSignedDeviceIdentity {
                account_signature_key: None,
                ..account.clone()
            }
        );
        let confirmed = issued.verify_reply(&reply).unwrap();
        assert_eq!(confirmed.key_index, params.key_index);
        assert_eq!(confirmed.device_signature, device_signature);
    }
}

#[test]
fn hosted_accounts_follow_whatsmeow_prefixes() {
    let mut s = Setup::new(7);
    let (node, issued, _) = s.pair_success(true);
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity_bytes(&node)).unwrap();
    assert_eq!(
        container.account_type,
        Some(AdvEncryptionType::Hosted as i32)
    );
    // HMAC input is 06 05 ‖ details.
    let details = container.details.clone().unwrap();
    assert_eq!(
        container.hmac.as_deref(),
        Some(&hmac(&s.adv_secret, true, &details)[..])
    );
    // Account signature prefix 06 05; device signature keeps 06 01.
    let signed = AdvSignedDeviceIdentity::decode(details).unwrap();
    let account_message = [&[6u8, 5][..], &issued.details, &s.identity.public_bytes()].concat();
    let signature: [u8; 64] = signed
        .account_signature
        .as_deref()
        .unwrap()
        .try_into()
        .unwrap();
    assert!(xeddsa::verify(
        &s.account.public_bytes(),
        &account_message,
        &signature
    ));
    let paired = s.companion_handles(&node).unwrap();
    issued.verify_reply(&paired.reply).unwrap();

    // The same container marked E2EE no longer matches its HMAC.
    let as_e2ee = AdvSignedDeviceIdentityHmac {
        account_type: None,
        ..container
    };
    let node = with_device_identity(&node, as_e2ee.encode_to_vec());
    assert_eq!(
        s.companion_handles(&node).unwrap_err(),
        PairingError::HmacMismatch
    );
}

#[test]
fn string_jids_and_missing_lid_are_accepted() {
    let mut s = Setup::new(11);
    let mut params = s.params(false);
    params.lid = None;
    let random = s.random64();
    let (node, _) = build_pair_success(
        &params,
        &s.identity.public_bytes(),
        &s.adv_secret,
        &s.account,
        &random,
    );
    let paired = s.companion_handles(&node).unwrap();
    assert_eq!(paired.identity.lid, None);

    // A JID given as a plain string (the text form) parses too.
    let mut iq = node.clone();
    let Content::Nodes(children) = &mut iq.content else {
        panic!()
    };
    let Content::Nodes(success) = &mut children[0].content else {
        panic!()
    };
    let device = success.iter_mut().find(|n| n.tag == "device").unwrap();
    *device = Node::new("device")
        .attr("jid", "15550100:7@s.whatsapp.net")
        .attr("lid", "123456:7@lid");
    let paired = s.companion_handles(&iq).unwrap();
    assert_eq!(
        paired.identity.jid,
        Jid::device("15550100", 7, Server::WhatsApp)
    );
    assert_eq!(
        paired.identity.lid,
        Some(Jid::device("123456", 7, Server::Lid))
    );
}

#[test]
fn same_seed_gives_the_same_reply() {
    let run = || {
        let mut s = Setup::new(99);
        let (node, _, _) = s.pair_success(false);
        s.companion_handles(&node).unwrap().reply
    };
    let first = run();
    assert_eq!(first, run());
    let mut out = Vec::new();
    binary::encode(&first, TokenDict::v3(), &mut out).unwrap();
    assert!(!out.is_empty());
}
