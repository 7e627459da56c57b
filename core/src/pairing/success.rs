//! QR linking, second half: checking `<pair-success>` and building the `<pair-device-sign>`
//! reply (`protocol/session.md` §3.5–§3.6, whatsmeow `handlePair`).
//!
//! ```text
//! <device-identity> = ADVSignedDeviceIdentityHMAC { details: D, HMAC, accountType }
//!   1. HMAC-SHA256(adv_secret, [06 05 if accountType = HOSTED] ‖ D) == HMAC   (constant time)
//!   2. D = ADVSignedDeviceIdentity { details: I, accountSignatureKey: K, accountSignature: S }
//!   3. I = ADVDeviceIdentity { keyIndex, deviceType, … }
//!   4. verify(K, [06 00 | 06 05 if deviceType = HOSTED] ‖ I ‖ own_identity_pub, S)
//!   5. deviceSignature = sign(own_identity_priv, 06 01 ‖ I ‖ own_identity_pub ‖ K)
//!   6. persist { jid, lid, platform, business name, D + deviceSignature, K, keyIndex }
//!   7. reply <iq type=result><pair-device-sign><device-identity key-index>
//!            D + deviceSignature − accountSignatureKey
//! ```
//!
//! [`handle_pair_success`] does steps 1–5 and returns step 6's data with step 7's stanza; the
//! caller persists, and only then sends the reply. On failure, answer with
//! [`pair_error_reply`](super::pair_error_reply) when the iq had an `id`.
//!
//! Hosted accounts follow whatsmeow (HMAC prefix from the container's `accountType`,
//! account-signature prefix from the inner `deviceType`, device-signature prefix unchanged);
//! the sources disagree there and no test covers a real hosted account.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use prost::Message;
use sha2::Sha256;

use super::error::{FIELD_ACCOUNT_KEY, FIELD_ACCOUNT_SIGNATURE, FIELD_HMAC};
use super::{
    ACCOUNT_SIGNATURE_PREFIX, AdvSecret, DEVICE_SIGNATURE_PREFIX, HOSTED_ACCOUNT_SIGNATURE_PREFIX,
    PairingError, child, child_bytes, fixed, jid_attr, required_attr, server_jid,
};
use crate::binary::{Jid, Node};
use crate::crypto::{KeyPair, xeddsa};
use crate::proto::adv::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

/// What a verified `<pair-success>` establishes: persist all of it (atomically) before sending
/// [`Paired::reply`].
#[derive(Clone, Debug, PartialEq)]
pub struct PairedIdentity {
    /// This companion's phone-number JID, `<phone>:<device>@s.whatsapp.net`.
    pub jid: Jid,
    /// This companion's LID, `<lid>:<device>@lid`, when the server sent one.
    pub lid: Option<Jid>,
    /// The primary's platform (`<platform name>`, e.g. `android`, `smba`), when sent.
    pub platform: Option<String>,
    /// The business name (`<biz name>`), when sent.
    pub business_name: Option<String>,
    /// The serialized `ADVSignedDeviceIdentity` to store as the account: the phone's details,
    /// account signature key and signature, plus this device's signature.
    pub account: Bytes,
    /// The primary's identity key (`accountSignatureKey`): trust it for the primary device
    /// (own LID user, device 0).
    pub primary_identity: [u8; 32],
    /// The decoded `ADVDeviceIdentity` the phone issued.
    pub device_identity: AdvDeviceIdentity,
    /// `keyIndex` of the device identity (0 when absent, as whatsmeow does).
    pub key_index: u32,
    /// Server time `t` of the iq (Unix seconds), when present and numeric; a malformed `t` is
    /// ignored as whatsmeow ignores it.
    pub server_time: Option<u64>,
    /// The raw `<client-props>` bytes (`ClientPairingProps`), when sent.
    pub client_props: Option<Bytes>,
}

/// A `<pair-success>` that passed every check.
#[derive(Clone, Debug, PartialEq)]
pub struct Paired {
    /// What to persist before replying.
    pub identity: PairedIdentity,
    /// The `<pair-device-sign>` reply; send it only once `identity` is durably stored.
    pub reply: Node,
}

/// Checks a `<pair-success>` iq with the ADV secret and this device's identity key pair, signs
/// the device identity (with `signing_random`, 64 bytes from the caller's seeded RNG) and
/// builds the reply. Sends and stores nothing.
pub fn handle_pair_success(
    iq: &Node,
    adv_secret: &AdvSecret,
    identity: &KeyPair,
    signing_random: &[u8; 64],
) -> Result<Paired, PairingError> {
    let iq_id = required_attr(iq, "iq", "id")?;
    let success = child(iq, "iq", "pair-success")?;
    let container_bytes = child_bytes(success, "pair-success", "device-identity")?;
    let device = child(success, "pair-success", "device")?;
    let jid = jid_attr(device, "device", "jid")?.ok_or(PairingError::MissingAttribute {
        tag: "device",
        attr: "jid",
    })?;
    let lid = jid_attr(device, "device", "lid")?;
    let platform = success
        .child("platform")
        .and_then(|p| p.attr_str("name"))
        .map(str::to_owned);
    let business_name = success
        .child("biz")
        .and_then(|b| b.attr_str("name"))
        .map(str::to_owned);
    let client_props = success
        .child("client-props")
        .and_then(super::content_bytes)
        .map(Bytes::copy_from_slice);
    let server_time = iq.attr_str("t").and_then(|t| t.parse::<u64>().ok());

    let own_public = identity.public_bytes();
    let checked = check_device_identity(container_bytes, adv_secret, &own_public)?;

    let message = device_signature_message(
        &checked.details,
        &own_public,
        &checked.account_signature_key,
    );
    let device_signature = identity.sign(&message, signing_random);

    let account = AdvSignedDeviceIdentity {
        details: Some(checked.details.clone()),
        account_signature_key: Some(Bytes::copy_from_slice(&checked.account_signature_key)),
        account_signature: Some(Bytes::copy_from_slice(&checked.account_signature)),
        device_signature: Some(Bytes::copy_from_slice(&device_signature)),
    };
    let reply_identity = AdvSignedDeviceIdentity {
        account_signature_key: None,
        ..account.clone()
    };
    let key_index = checked.device_identity.key_index.unwrap_or(0);
    let reply = Node::new("iq")
        .jid_attr("to", server_jid())
        .attr("type", "result")
        .attr("id", iq_id.to_owned())
        .children(vec![Node::new("pair-device-sign").children(vec![
            Node::new("device-identity")
                .attr("key-index", key_index.to_string())
                .bytes(reply_identity.encode_to_vec()),
        ])]);

    Ok(Paired {
        identity: PairedIdentity {
            jid,
            lid,
            platform,
            business_name,
            account: account.encode_to_vec().into(),
            primary_identity: checked.account_signature_key,
            device_identity: checked.device_identity,
            key_index,
            server_time,
            client_props,
        },
        reply,
    })
}

/// The parts of a verified `<device-identity>`.
struct CheckedIdentity {
    details: Bytes,
    account_signature_key: [u8; 32],
    account_signature: [u8; 64],
    device_identity: AdvDeviceIdentity,
}

/// Steps 1–4: HMAC, decode, decode, account signature — in whatsmeow's order.
fn check_device_identity(
    container_bytes: &[u8],
    adv_secret: &AdvSecret,
    own_public: &[u8; 32],
) -> Result<CheckedIdentity, PairingError> {
    let container = AdvSignedDeviceIdentityHmac::decode(container_bytes).map_err(|_| {
        PairingError::MalformedProtobuf {
            message: "ADVSignedDeviceIdentityHMAC",
        }
    })?;
    let signed_bytes = container.details.ok_or(PairingError::MissingField {
        field: "ADVSignedDeviceIdentityHMAC.details",
    })?;
    let tag = container
        .hmac
        .ok_or(PairingError::MissingField { field: FIELD_HMAC })?;
    let tag: [u8; 32] = fixed(FIELD_HMAC, &tag)?;
    let account_type = encryption_type(
        "ADVSignedDeviceIdentityHMAC.accountType",
        container.account_type,
    )?;
    if !hmac_matches(adv_secret, account_type, &signed_bytes, &tag) {
        return Err(PairingError::HmacMismatch);
    }

    let signed = AdvSignedDeviceIdentity::decode(signed_bytes).map_err(|_| {
        PairingError::MalformedProtobuf {
            message: "ADVSignedDeviceIdentity",
        }
    })?;
    let details = signed.details.ok_or(PairingError::MissingField {
        field: "ADVSignedDeviceIdentity.details",
    })?;
    let device_identity = AdvDeviceIdentity::decode(details.clone()).map_err(|_| {
        PairingError::MalformedProtobuf {
            message: "ADVDeviceIdentity",
        }
    })?;
    let device_type = encryption_type("ADVDeviceIdentity.deviceType", device_identity.device_type)?;
    encryption_type(
        "ADVDeviceIdentity.accountType",
        device_identity.account_type,
    )?;

    let key = signed
        .account_signature_key
        .ok_or(PairingError::MissingField {
            field: FIELD_ACCOUNT_KEY,
        })?;
    let signature = signed.account_signature.ok_or(PairingError::MissingField {
        field: FIELD_ACCOUNT_SIGNATURE,
    })?;
    let account_signature_key: [u8; 32] = fixed(FIELD_ACCOUNT_KEY, &key)?;
    let account_signature: [u8; 64] = fixed(FIELD_ACCOUNT_SIGNATURE, &signature)?;
    let message = account_signature_message(device_type, &details, own_public);
    if !xeddsa::verify(&account_signature_key, &message, &account_signature) {
        return Err(PairingError::AccountSignatureMismatch);
    }
    Ok(CheckedIdentity {
        details,
        account_signature_key,
        account_signature,
        device_identity,
    })
}

/// An `ADVEncryptionType` field; absent means `E2EE`.
pub(crate) fn encryption_type(
    field: &'static str,
    value: Option<i32>,
) -> Result<AdvEncryptionType, PairingError> {
    match value {
        None => Ok(AdvEncryptionType::E2ee),
        Some(value) => AdvEncryptionType::try_from(value)
            .map_err(|_| PairingError::UnknownEncryptionType { field, value }),
    }
}

/// The HMAC-SHA256 of the device-identity container (the phone computes it the same way).
pub(crate) fn device_identity_hmac(
    adv_secret: &AdvSecret,
    account_type: AdvEncryptionType,
    signed_identity: &[u8],
) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(adv_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    if account_type == AdvEncryptionType::Hosted {
        mac.update(&HOSTED_ACCOUNT_SIGNATURE_PREFIX);
    }
    mac.update(signed_identity);
    mac
}

/// Constant-time comparison of the container's HMAC.
fn hmac_matches(
    adv_secret: &AdvSecret,
    account_type: AdvEncryptionType,
    signed_identity: &[u8],
    tag: &[u8; 32],
) -> bool {
    device_identity_hmac(adv_secret, account_type, signed_identity)
        .verify_slice(tag)
        .is_ok()
}

/// `prefix ‖ details ‖ companion_identity_pub`, the account-signature input.
pub(crate) fn account_signature_message(
    device_type: AdvEncryptionType,
    details: &[u8],
    companion_identity: &[u8; 32],
) -> Vec<u8> {
    let prefix = match device_type {
        AdvEncryptionType::Hosted => HOSTED_ACCOUNT_SIGNATURE_PREFIX,
        AdvEncryptionType::E2ee => ACCOUNT_SIGNATURE_PREFIX,
    };
    [&prefix[..], details, companion_identity].concat()
}

/// `06 01 ‖ details ‖ companion_identity_pub ‖ account_signature_key`, the device-signature
/// input.
pub(crate) fn device_signature_message(
    details: &[u8],
    companion_identity: &[u8; 32],
    account_signature_key: &[u8; 32],
) -> Vec<u8> {
    [
        &DEVICE_SIGNATURE_PREFIX[..],
        details,
        companion_identity,
        account_signature_key,
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> serde_json::Value {
        let all: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/pair-code-vectors.json")).unwrap();
        all["hmac"].clone()
    }

    #[test]
    fn hmac_matches_golden_values_for_both_account_types() {
        let v = golden();
        let key: [u8; 32] = hex::decode(v["adv_secret"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let secret = AdvSecret::from_bytes(key);
        let data = hex::decode(v["signed_identity"].as_str().unwrap()).unwrap();
        for (kind, name) in [
            (AdvEncryptionType::E2ee, "e2ee"),
            (AdvEncryptionType::Hosted, "hosted"),
        ] {
            let tag = device_identity_hmac(&secret, kind, &data)
                .finalize()
                .into_bytes();
            assert_eq!(hex::encode(tag), v[name].as_str().unwrap(), "{name}");
            let tag: [u8; 32] = tag.into();
            assert!(hmac_matches(&secret, kind, &data, &tag));
            let other = match kind {
                AdvEncryptionType::E2ee => AdvEncryptionType::Hosted,
                AdvEncryptionType::Hosted => AdvEncryptionType::E2ee,
            };
            assert!(!hmac_matches(&secret, other, &data, &tag));
        }
    }

    #[test]
    fn signature_inputs_are_prefix_details_and_keys() {
        let companion = [0xC0; 32];
        let account = [0xA0; 32];
        let details = [1, 2, 3];
        let mut expected = vec![6, 0, 1, 2, 3];
        expected.extend_from_slice(&companion);
        assert_eq!(
            account_signature_message(AdvEncryptionType::E2ee, &details, &companion),
            expected
        );
        expected[1] = 5;
        assert_eq!(
            account_signature_message(AdvEncryptionType::Hosted, &details, &companion),
            expected
        );
        let mut expected = vec![6, 1, 1, 2, 3];
        expected.extend_from_slice(&companion);
        expected.extend_from_slice(&account);
        assert_eq!(
            device_signature_message(&details, &companion, &account),
            expected
        );
    }

    #[test]
    fn absent_encryption_type_means_e2ee() {
        assert_eq!(encryption_type("f", None), Ok(AdvEncryptionType::E2ee));
        assert_eq!(encryption_type("f", Some(1)), Ok(AdvEncryptionType::Hosted));
        assert_eq!(
            encryption_type("f", Some(-1)),
            Err(PairingError::UnknownEncryptionType {
                field: "f",
                value: -1
            })
        );
    }
}
