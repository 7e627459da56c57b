//! Every tamper with a `<pair-success>` (HMAC, account signature, signed details, ADV secret,
//! identity, lengths, missing parts, malformed protobufs) and with the companion's reply gives
//! its own typed error, and the `<error>` code whatsmeow would send.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/pairing_setup.rs"]
mod support;

use bytes::Bytes;
use prost::Message;
use tether_core::binary::{Content, Node};
use tether_core::crypto::KeyPair;
use tether_core::pairing::success::handle_pair_success;
use tether_core::pairing::{AdvSecret, PairingError, pair_error_reply};
use tether_core::proto::adv::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

use support::{Setup, device_identity_bytes, flip, hmac, tamper_signed, with_device_identity};

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
