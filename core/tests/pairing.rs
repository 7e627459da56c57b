//! QR linking end to end: the companion builds its QR string, the fake phone reads it and
//! issues `<pair-success>`, the companion verifies, signs and replies, the phone checks the
//! device signature — over many seeds, through the binary codec, plus every tamper and its
//! typed error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::Sha256;
use tether_core::binary::{self, Content, Jid, Node, Server, TokenDict};
use tether_core::crypto::{KeyPair, xeddsa};
use tether_core::pairing::phone::{
    IssuedPairSuccess, PairSuccessParams, build_pair_success, build_pair_success_for_qr,
};
use tether_core::pairing::qr::{ClientType, QrPayload, pair_device_ack, parse_pair_device};
use tether_core::pairing::success::{Paired, handle_pair_success};
use tether_core::pairing::{AdvSecret, PairingError, pair_error_reply};
use tether_core::proto::adv::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

/// One companion and one phone, all keys from a seed.
struct Setup {
    rng: ChaCha20Rng,
    noise: KeyPair,
    identity: KeyPair,
    adv_secret: AdvSecret,
    account: KeyPair,
}

impl Setup {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let noise = KeyPair::generate(&mut rng);
        let identity = KeyPair::generate(&mut rng);
        let mut adv = [0u8; 32];
        rng.fill_bytes(&mut adv);
        let account = KeyPair::generate(&mut rng);
        Self {
            rng,
            noise,
            identity,
            adv_secret: AdvSecret::from_bytes(adv),
            account,
        }
    }

    fn random64(&mut self) -> [u8; 64] {
        let mut r = [0u8; 64];
        self.rng.fill_bytes(&mut r);
        r
    }

    fn qr(&self, reference: &str) -> QrPayload {
        QrPayload {
            reference: reference.to_owned(),
            noise_public: self.noise.public_bytes(),
            identity_public: self.identity.public_bytes(),
            adv_secret: self.adv_secret.clone(),
            client_type: Some(ClientType::OtherWebClient),
        }
    }

    fn params(&mut self, hosted: bool) -> PairSuccessParams {
        let phone = 10_000_000_000 + self.rng.next_u64() % 89_999_999_999;
        let lid = 100_000_000_000_000 + self.rng.next_u64() % 899_999_999_999_999;
        let device = 1 + (self.rng.next_u32() % 90) as u16;
        PairSuccessParams {
            iq_id: format!("{}.{}-1", self.rng.next_u32(), self.rng.next_u32() % 1000),
            server_time: 1_700_000_000 + u64::from(self.rng.next_u32() % 100_000_000),
            jid: Jid::device(&phone.to_string(), device, Server::WhatsApp),
            lid: Some(Jid::device(&lid.to_string(), device, Server::Lid)),
            platform: ["android", "iphone", "smba", "smbi"][(self.rng.next_u32() % 4) as usize]
                .to_owned(),
            business_name: self
                .rng
                .next_u32()
                .is_multiple_of(2)
                .then(|| "Acme Bakery".to_owned()),
            raw_id: self.rng.next_u32(),
            timestamp: 1_700_000_000 + u64::from(self.rng.next_u32() % 100_000_000),
            key_index: self.rng.next_u32() % 50,
            hosted,
        }
    }

    /// The phone's pair-success for the companion's current QR.
    fn pair_success(&mut self, hosted: bool) -> (Node, IssuedPairSuccess, PairSuccessParams) {
        let params = self.params(hosted);
        let random = self.random64();
        let qr = self.qr("2@ref");
        let (node, issued) = build_pair_success_for_qr(&params, &qr, &self.account, &random);
        (node, issued, params)
    }

    fn companion_handles(&mut self, node: &Node) -> Result<Paired, PairingError> {
        let random = self.random64();
        handle_pair_success(node, &self.adv_secret, &self.identity, &random)
    }
}

/// Encodes and decodes a node with the v3 dictionary, as it crosses the wire.
fn over_the_wire(node: &Node) -> Node {
    let mut out = Vec::new();
    binary::encode(node, TokenDict::v3(), &mut out).unwrap();
    binary::decode(&Bytes::from(out), TokenDict::v3()).unwrap()
}

fn device_identity_bytes(iq: &Node) -> Bytes {
    match &iq
        .child("pair-success")
        .unwrap()
        .child("device-identity")
        .unwrap()
        .content
    {
        Content::Bytes(b) => b.clone(),
        other => panic!("unexpected content {other:?}"),
    }
}

/// Replaces the `<device-identity>` content of a pair-success iq.
fn with_device_identity(iq: &Node, bytes: Vec<u8>) -> Node {
    let mut iq = iq.clone();
    let Content::Nodes(children) = &mut iq.content else {
        panic!()
    };
    let Content::Nodes(success) = &mut children[0].content else {
        panic!()
    };
    let slot = success
        .iter_mut()
        .find(|n| n.tag == "device-identity")
        .unwrap();
    slot.content = Content::Bytes(bytes.into());
    iq
}

fn hmac(adv: &AdvSecret, hosted: bool, data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(adv.as_bytes()).unwrap();
    if hosted {
        mac.update(&[6, 5]);
    }
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Decodes the container and its signed identity, lets `edit` change the signed identity, and
/// re-encodes it with a correct HMAC (what an attacker knowing the ADV secret could do).
fn tamper_signed(
    iq: &Node,
    adv: &AdvSecret,
    edit: impl FnOnce(&mut AdvSignedDeviceIdentity),
) -> Node {
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity_bytes(iq)).unwrap();
    let mut signed = AdvSignedDeviceIdentity::decode(container.details.unwrap()).unwrap();
    edit(&mut signed);
    let signed = signed.encode_to_vec();
    let container = AdvSignedDeviceIdentityHmac {
        hmac: Some(hmac(adv, false, &signed).into()),
        details: Some(signed.into()),
        account_type: container.account_type,
    };
    with_device_identity(iq, container.encode_to_vec())
}

fn flip(bytes: &Bytes, index: usize, mask: u8) -> Bytes {
    let mut v = bytes.to_vec();
    v[index] ^= mask;
    v.into()
}

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

fn device_identity_bytes_of(node: &Node) -> Bytes {
    match &node.content {
        Content::Bytes(b) => b.clone(),
        other => panic!("unexpected content {other:?}"),
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
fn tampered_hmac_byte_is_hmac_mismatch() {
    let mut s = Setup::new(1);
    let (node, _, _) = s.pair_success(false);
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity_bytes(&node)).unwrap();
    for index in [0, 13, 31] {
        let tampered = AdvSignedDeviceIdentityHmac {
            hmac: Some(flip(container.hmac.as_ref().unwrap(), index, 0x01)),
            ..container.clone()
        };
        let node = with_device_identity(&node, tampered.encode_to_vec());
        let err = s.companion_handles(&node).unwrap_err();
        assert_eq!(err, PairingError::HmacMismatch);
        assert_eq!(err.pair_error_code(), (401, "hmac-mismatch"));
    }
}

#[test]
fn tampered_details_byte_without_new_hmac_is_hmac_mismatch() {
    let mut s = Setup::new(2);
    let (node, _, _) = s.pair_success(false);
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity_bytes(&node)).unwrap();
    let details = container.details.clone().unwrap();
    for index in 0..details.len() {
        let tampered = AdvSignedDeviceIdentityHmac {
            details: Some(flip(&details, index, 0x20)),
            ..container.clone()
        };
        let node = with_device_identity(&node, tampered.encode_to_vec());
        assert_eq!(
            s.companion_handles(&node).unwrap_err(),
            PairingError::HmacMismatch
        );
    }
}

#[test]
fn tampered_account_signature_bit_is_signature_mismatch() {
    let mut s = Setup::new(3);
    let (node, _, _) = s.pair_success(false);
    for (index, mask) in [(0, 0x01), (17, 0x80), (40, 0x04), (63, 0x80)] {
        let adv = s.adv_secret.clone();
        let tampered = tamper_signed(&node, &adv, |signed| {
            signed.account_signature = Some(flip(
                signed.account_signature.as_ref().unwrap(),
                index,
                mask,
            ));
        });
        let err = s.companion_handles(&tampered).unwrap_err();
        assert_eq!(err, PairingError::AccountSignatureMismatch, "byte {index}");
        assert_eq!(err.pair_error_code(), (401, "signature-mismatch"));
    }
}

#[test]
fn tampered_signed_details_with_new_hmac_is_signature_mismatch() {
    let mut s = Setup::new(4);
    let (node, _, _) = s.pair_success(false);
    let adv = s.adv_secret.clone();
    // Another key index, encoded validly: only the account signature can notice.
    let tampered = tamper_signed(&node, &adv, |signed| {
        let mut identity = AdvDeviceIdentity::decode(signed.details.clone().unwrap()).unwrap();
        identity.key_index = Some(identity.key_index.unwrap() + 1);
        signed.details = Some(identity.encode_to_vec().into());
    });
    assert_eq!(
        s.companion_handles(&tampered).unwrap_err(),
        PairingError::AccountSignatureMismatch
    );
    // A raw byte flip inside the details: a signature mismatch, or a protobuf error when the
    // flip breaks the encoding — never success.
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity_bytes(&node)).unwrap();
    let details = AdvSignedDeviceIdentity::decode(container.details.unwrap())
        .unwrap()
        .details
        .unwrap();
    for index in 0..details.len() {
        let tampered = tamper_signed(&node, &adv, |signed| {
            signed.details = Some(flip(&details, index, 0x01));
        });
        let err = s.companion_handles(&tampered).unwrap_err();
        assert!(
            matches!(
                err,
                PairingError::AccountSignatureMismatch
                    | PairingError::MalformedProtobuf {
                        message: "ADVDeviceIdentity"
                    }
                    | PairingError::UnknownEncryptionType { .. }
            ),
            "byte {index}: {err:?}"
        );
    }
}

#[test]
fn wrong_adv_secret_is_hmac_mismatch() {
    let mut s = Setup::new(5);
    let (node, _, _) = s.pair_success(false);
    let mut other = *s.adv_secret.as_bytes();
    other[5] ^= 0x10;
    let random = s.random64();
    let err = handle_pair_success(&node, &AdvSecret::from_bytes(other), &s.identity, &random)
        .unwrap_err();
    assert_eq!(err, PairingError::HmacMismatch);
}

#[test]
fn wrong_identity_is_signature_mismatch() {
    let mut s = Setup::new(6);
    let (node, _, _) = s.pair_success(false);
    let stranger = KeyPair::generate(&mut s.rng);
    let random = s.random64();
    let err = handle_pair_success(&node, &s.adv_secret, &stranger, &random).unwrap_err();
    assert_eq!(err, PairingError::AccountSignatureMismatch);
}

#[test]
fn wrong_lengths_and_missing_fields_have_their_own_errors() {
    let mut s = Setup::new(8);
    let (node, _, _) = s.pair_success(false);
    let adv = s.adv_secret.clone();

    let short_key = tamper_signed(&node, &adv, |signed| {
        signed.account_signature_key = Some(Bytes::from_static(&[5; 33]));
    });
    let err = s.companion_handles(&short_key).unwrap_err();
    assert_eq!(
        err,
        PairingError::WrongLength {
            field: "ADVSignedDeviceIdentity.accountSignatureKey",
            expected: 32,
            actual: 33
        }
    );
    assert_eq!(err.pair_error_code(), (401, "signature-mismatch"));

    let short_signature = tamper_signed(&node, &adv, |signed| {
        signed.account_signature = Some(Bytes::from_static(&[5; 63]));
    });
    assert!(matches!(
        s.companion_handles(&short_signature).unwrap_err(),
        PairingError::WrongLength {
            expected: 64,
            actual: 63,
            ..
        }
    ));

    let no_key = tamper_signed(&node, &adv, |signed| signed.account_signature_key = None);
    assert_eq!(
        s.companion_handles(&no_key).unwrap_err(),
        PairingError::MissingField {
            field: "ADVSignedDeviceIdentity.accountSignatureKey"
        }
    );
    let no_details = tamper_signed(&node, &adv, |signed| signed.details = None);
    assert_eq!(
        s.companion_handles(&no_details).unwrap_err(),
        PairingError::MissingField {
            field: "ADVSignedDeviceIdentity.details"
        }
    );

    let container = AdvSignedDeviceIdentityHmac::decode(device_identity_bytes(&node)).unwrap();
    let no_hmac = AdvSignedDeviceIdentityHmac {
        hmac: None,
        ..container.clone()
    };
    let err = s
        .companion_handles(&with_device_identity(&node, no_hmac.encode_to_vec()))
        .unwrap_err();
    assert_eq!(
        err,
        PairingError::MissingField {
            field: "ADVSignedDeviceIdentityHMAC.HMAC"
        }
    );
    assert_eq!(err.pair_error_code(), (500, "internal-error"));
    let short_hmac = AdvSignedDeviceIdentityHmac {
        hmac: Some(container.hmac.clone().unwrap().slice(..31)),
        ..container.clone()
    };
    let err = s
        .companion_handles(&with_device_identity(&node, short_hmac.encode_to_vec()))
        .unwrap_err();
    assert!(matches!(
        err,
        PairingError::WrongLength {
            expected: 32,
            actual: 31,
            ..
        }
    ));
    assert_eq!(err.pair_error_code(), (401, "hmac-mismatch"));

    let unknown_type = AdvSignedDeviceIdentityHmac {
        account_type: Some(7),
        ..container
    };
    assert_eq!(
        s.companion_handles(&with_device_identity(&node, unknown_type.encode_to_vec()))
            .unwrap_err(),
        PairingError::UnknownEncryptionType {
            field: "ADVSignedDeviceIdentityHMAC.accountType",
            value: 7
        }
    );
    let unknown_device_type = tamper_signed(&node, &adv, |signed| {
        let mut identity = AdvDeviceIdentity::decode(signed.details.clone().unwrap()).unwrap();
        identity.device_type = Some(2);
        signed.details = Some(identity.encode_to_vec().into());
    });
    assert_eq!(
        s.companion_handles(&unknown_device_type).unwrap_err(),
        PairingError::UnknownEncryptionType {
            field: "ADVDeviceIdentity.deviceType",
            value: 2
        }
    );
}

#[test]
fn malformed_protobufs_are_typed() {
    let mut s = Setup::new(9);
    let (node, _, _) = s.pair_success(false);
    // Field 1 claims 100 bytes but the message ends.
    let truncated = with_device_identity(&node, vec![0x0A, 100, 1, 2]);
    let err = s.companion_handles(&truncated).unwrap_err();
    assert_eq!(
        err,
        PairingError::MalformedProtobuf {
            message: "ADVSignedDeviceIdentityHMAC"
        }
    );
    assert_eq!(err.pair_error_code(), (500, "internal-error"));

    // A valid HMAC over bytes that are not an ADVSignedDeviceIdentity.
    let garbage = vec![0xFF, 0xFF, 0xFF];
    let container = AdvSignedDeviceIdentityHmac {
        hmac: Some(hmac(&s.adv_secret, false, &garbage).into()),
        details: Some(garbage.into()),
        account_type: None,
    };
    assert_eq!(
        s.companion_handles(&with_device_identity(&node, container.encode_to_vec()))
            .unwrap_err(),
        PairingError::MalformedProtobuf {
            message: "ADVSignedDeviceIdentity"
        }
    );
}

#[test]
fn missing_stanza_parts_are_typed() {
    let mut s = Setup::new(10);
    let (node, _, _) = s.pair_success(false);
    let mut no_id = node.clone();
    no_id.attrs.retain(|a| a.key != "id");
    assert_eq!(
        s.companion_handles(&no_id).unwrap_err(),
        PairingError::MissingAttribute {
            tag: "iq",
            attr: "id"
        }
    );

    let strip = |tag: &str| {
        let mut iq = node.clone();
        let Content::Nodes(children) = &mut iq.content else {
            panic!()
        };
        let Content::Nodes(success) = &mut children[0].content else {
            panic!()
        };
        success.retain(|n| n.tag != tag);
        iq
    };
    assert_eq!(
        s.companion_handles(&strip("device-identity")).unwrap_err(),
        PairingError::MissingChild {
            parent: "pair-success",
            tag: "device-identity"
        }
    );
    assert_eq!(
        s.companion_handles(&strip("device")).unwrap_err(),
        PairingError::MissingChild {
            parent: "pair-success",
            tag: "device"
        }
    );
    // Platform and business name are optional.
    let paired = s.companion_handles(&strip("platform")).unwrap();
    assert_eq!(paired.identity.platform, None);

    let bad_jid = {
        let mut iq = node.clone();
        let Content::Nodes(children) = &mut iq.content else {
            panic!()
        };
        let Content::Nodes(success) = &mut children[0].content else {
            panic!()
        };
        let device = success.iter_mut().find(|n| n.tag == "device").unwrap();
        *device = Node::new("device").attr("jid", "not a jid@@");
        iq
    };
    assert_eq!(
        s.companion_handles(&bad_jid).unwrap_err(),
        PairingError::InvalidJid {
            tag: "device",
            attr: "jid"
        }
    );
    let no_pair_success = Node::new("iq").attr("id", "1");
    assert_eq!(
        s.companion_handles(&no_pair_success).unwrap_err(),
        PairingError::MissingChild {
            parent: "iq",
            tag: "pair-success"
        }
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
fn phone_rejects_tampered_replies() {
    let mut s = Setup::new(12);
    let (node, issued, params) = s.pair_success(false);
    let paired = s.companion_handles(&node).unwrap();
    issued.verify_reply(&paired.reply).unwrap();

    let edit_reply = |edit: &dyn Fn(&mut AdvSignedDeviceIdentity)| {
        let mut reply = paired.reply.clone();
        let Content::Nodes(children) = &mut reply.content else {
            panic!()
        };
        let Content::Nodes(sign) = &mut children[0].content else {
            panic!()
        };
        let Content::Bytes(bytes) = &sign[0].content else {
            panic!()
        };
        let mut signed = AdvSignedDeviceIdentity::decode(bytes.clone()).unwrap();
        edit(&mut signed);
        sign[0].content = Content::Bytes(signed.encode_to_vec().into());
        reply
    };
    let bad_device_signature = edit_reply(&|signed| {
        signed.device_signature = Some(flip(signed.device_signature.as_ref().unwrap(), 9, 0x02));
    });
    assert_eq!(
        issued.verify_reply(&bad_device_signature).unwrap_err(),
        PairingError::DeviceSignatureMismatch
    );
    let other_details = edit_reply(&|signed| {
        signed.details = Some(flip(signed.details.as_ref().unwrap(), 1, 0x01));
    });
    assert_eq!(
        issued.verify_reply(&other_details).unwrap_err(),
        PairingError::DetailsMismatch
    );
    // whatsapp-rust keeps the account key in the reply: accepted when it is the phone's own.
    let own_key = s.account.public_bytes();
    let with_key = edit_reply(&|signed| {
        signed.account_signature_key = Some(Bytes::copy_from_slice(&own_key));
    });
    issued.verify_reply(&with_key).unwrap();
    let foreign_key = edit_reply(&|signed| {
        signed.account_signature_key = Some(Bytes::from_static(&[9; 32]));
    });
    assert_eq!(
        issued.verify_reply(&foreign_key).unwrap_err(),
        PairingError::DetailsMismatch
    );
    let no_signature = edit_reply(&|signed| signed.device_signature = None);
    assert_eq!(
        issued.verify_reply(&no_signature).unwrap_err(),
        PairingError::MissingField {
            field: "ADVSignedDeviceIdentity.deviceSignature"
        }
    );

    let mut wrong_id = paired.reply.clone();
    wrong_id.attrs.retain(|a| a.key != "id");
    let wrong_id = wrong_id.attr("id", "other");
    assert!(matches!(
        issued.verify_reply(&wrong_id).unwrap_err(),
        PairingError::IdMismatch { .. }
    ));

    let error = pair_error_reply(&params.iq_id, &PairingError::HmacMismatch);
    assert_eq!(
        issued.verify_reply(&error).unwrap_err(),
        PairingError::Rejected {
            kind: "error".to_owned(),
            code: Some("401".to_owned()),
            text: Some("hmac-mismatch".to_owned())
        }
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
