//! The PRIMARY phone's half of linking, for `tether-sim`'s fake phone and for tests: the
//! mirror image of [`super::success`] and [`super::code`].
//!
//! QR: [`build_pair_success`] turns what the phone read from the QR code (companion identity key
//! and ADV secret) into a `<pair-success>` iq — `ADVDeviceIdentity`, account signature with the
//! phone's account identity key, HMAC with the ADV secret — and remembers what it issued;
//! [`IssuedPairSuccess::verify_reply`] checks the companion's `<pair-device-sign>` answer and its
//! device signature.
//!
//! Pair code: [`CompanionHello::parse`] reads the companion's stage-1 iq (as the server gets it),
//! [`companion_hello_result`] answers it with a ref, [`primary_hello`] builds the stage-2
//! notification, and [`PendingPrimary::finish`] reads `companion_finish` and derives the same
//! ADV secret as the companion.
//!
//! In the real service the server relays between phone and companion and adds its own
//! attributes; these builders produce what the companion needs to see (iq `from`, `id`, `t`,
//! `type="set"`, `xmlns="md"`).

use core::fmt;

use aes_gcm::Nonce;
use aes_gcm::aead::Aead;
use bytes::Bytes;
use hmac::Mac;
use prost::Message;
use zeroize::Zeroizing;

use super::code::{
    PairingCode, WRAPPED_BUNDLE_LEN, WRAPPED_KEY_LEN, contributory, derive_adv_secret,
    key_bundle_key, unwrap_public_key, wrap_public_key,
};
use super::error::{FIELD_ACCOUNT_KEY, FIELD_DEVICE_SIGNATURE};
use super::qr::{ClientType, QrPayload};
use super::success::{account_signature_message, device_identity_hmac, device_signature_message};
use super::{
    AdvSecret, PairingError, child, child_array, child_bytes, fixed, jid_attr, required_attr,
    server_jid,
};
use crate::binary::{Jid, Node};
use crate::crypto::{KeyPair, xeddsa};
use crate::proto::adv::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

/// What the phone (and server) put into a `<pair-success>` besides the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairSuccessParams {
    /// The iq id the companion must answer.
    pub iq_id: String,
    /// Server time `t`, Unix seconds.
    pub server_time: u64,
    /// The companion's new JID, `<phone>:<device>@s.whatsapp.net`.
    pub jid: Jid,
    /// The companion's new LID, `<lid>:<device>@lid`.
    pub lid: Option<Jid>,
    /// `<platform name>` (e.g. `android`).
    pub platform: String,
    /// `<biz name>`, for business accounts.
    pub business_name: Option<String>,
    /// `ADVDeviceIdentity.rawID`.
    pub raw_id: u32,
    /// `ADVDeviceIdentity.timestamp`, Unix seconds.
    pub timestamp: u64,
    /// `ADVDeviceIdentity.keyIndex`.
    pub key_index: u32,
    /// Mark the account and device `HOSTED` (whatsmeow's hosted rules; unverified against a
    /// real hosted account).
    pub hosted: bool,
}

/// What the phone issued, to check the companion's reply against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedPairSuccess {
    /// The iq id of the `<pair-success>`.
    pub iq_id: String,
    /// The serialized `ADVDeviceIdentity` both signatures cover.
    pub details: Bytes,
    /// The companion identity key the account signature vouches for.
    pub companion_identity: [u8; 32],
    /// The phone's account identity key.
    pub account_public: [u8; 32],
    /// The account signature the phone made.
    pub account_signature: [u8; 64],
    /// The key index issued.
    pub key_index: u32,
}

/// Builds the `<pair-success>` iq for a companion whose identity key is `companion_identity`
/// and whose ADV secret is `adv_secret` (both from its QR code, or the ADV secret from pair-code
/// stage 2), signed with the phone's `account` key and `signing_random` (64 caller bytes).
pub fn build_pair_success(
    params: &PairSuccessParams,
    companion_identity: &[u8; 32],
    adv_secret: &AdvSecret,
    account: &KeyPair,
    signing_random: &[u8; 64],
) -> (Node, IssuedPairSuccess) {
    let kind = if params.hosted {
        AdvEncryptionType::Hosted
    } else {
        AdvEncryptionType::E2ee
    };
    let details: Bytes = AdvDeviceIdentity {
        raw_id: Some(params.raw_id),
        timestamp: Some(params.timestamp),
        key_index: Some(params.key_index),
        account_type: Some(kind as i32),
        device_type: Some(kind as i32),
    }
    .encode_to_vec()
    .into();
    let account_public = account.public_bytes();
    let account_signature = account.sign(
        &account_signature_message(kind, &details, companion_identity),
        signing_random,
    );
    let signed = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(Bytes::copy_from_slice(&account_public)),
        account_signature: Some(Bytes::copy_from_slice(&account_signature)),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = device_identity_hmac(adv_secret, kind, &signed).finalize();
    let container = AdvSignedDeviceIdentityHmac {
        details: Some(signed.into()),
        hmac: Some(Bytes::copy_from_slice(&hmac.into_bytes())),
        account_type: Some(kind as i32),
    };

    let mut device = Node::new("device").jid_attr("jid", params.jid.clone());
    if let Some(lid) = &params.lid {
        device = device.jid_attr("lid", lid.clone());
    }
    let mut children = vec![
        Node::new("device-identity").bytes(container.encode_to_vec()),
        Node::new("platform").attr("name", params.platform.clone()),
        device,
    ];
    if let Some(name) = &params.business_name {
        children.push(Node::new("biz").attr("name", name.clone()));
    }
    let iq = Node::new("iq")
        .jid_attr("from", server_jid())
        .attr("type", "set")
        .attr("xmlns", "md")
        .attr("id", params.iq_id.clone())
        .attr("t", params.server_time.to_string())
        .children(vec![Node::new("pair-success").children(children)]);
    let issued = IssuedPairSuccess {
        iq_id: params.iq_id.clone(),
        details,
        companion_identity: *companion_identity,
        account_public,
        account_signature,
        key_index: params.key_index,
    };
    (iq, issued)
}

/// [`build_pair_success`] for the companion described by a scanned QR code.
pub fn build_pair_success_for_qr(
    params: &PairSuccessParams,
    qr: &QrPayload,
    account: &KeyPair,
    signing_random: &[u8; 64],
) -> (Node, IssuedPairSuccess) {
    build_pair_success(
        params,
        &qr.identity_public,
        &qr.adv_secret,
        account,
        signing_random,
    )
}

/// The companion's accepted device identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmedDevice {
    /// `key-index` of the reply.
    pub key_index: u32,
    /// The companion's device signature.
    pub device_signature: [u8; 64],
    /// The `ADVSignedDeviceIdentity` bytes as the companion sent them.
    pub signed_identity: Bytes,
}

impl IssuedPairSuccess {
    /// Checks the companion's answer: `type="result"` with the issued id, `key-index` and
    /// details, the phone's own account signature, no foreign account key, and a device
    /// signature by the companion identity key over `06 01 ‖ details ‖ companion ‖ account`.
    pub fn verify_reply(&self, reply: &Node) -> Result<ConfirmedDevice, PairingError> {
        let id = required_attr(reply, "iq", "id")?;
        if id != self.iq_id {
            return Err(PairingError::IdMismatch {
                expected: self.iq_id.clone(),
                found: id.chars().take(64).collect(),
            });
        }
        super::code::expect_result(reply)?;
        let sign = child(reply, "iq", "pair-device-sign")?;
        let identity_node = child(sign, "pair-device-sign", "device-identity")?;
        let key_index = required_attr(identity_node, "device-identity", "key-index")?;
        if key_index.parse::<u32>().ok() != Some(self.key_index) {
            return Err(PairingError::DetailsMismatch);
        }
        let bytes = child_bytes(sign, "pair-device-sign", "device-identity")?;
        let signed = AdvSignedDeviceIdentity::decode(bytes).map_err(|_| {
            PairingError::MalformedProtobuf {
                message: "ADVSignedDeviceIdentity",
            }
        })?;
        if signed.details.as_ref() != Some(&self.details)
            || signed.account_signature.as_deref() != Some(&self.account_signature[..])
        {
            return Err(PairingError::DetailsMismatch);
        }
        if let Some(key) = &signed.account_signature_key {
            // whatsmeow and Baileys leave it out; whatsapp-rust sends it. Either way it must be
            // the phone's own key.
            let key: [u8; 32] = fixed(FIELD_ACCOUNT_KEY, key)?;
            if key != self.account_public {
                return Err(PairingError::DetailsMismatch);
            }
        }
        let device_signature = signed.device_signature.ok_or(PairingError::MissingField {
            field: FIELD_DEVICE_SIGNATURE,
        })?;
        let device_signature: [u8; 64] = fixed(FIELD_DEVICE_SIGNATURE, &device_signature)?;
        let message = device_signature_message(
            &self.details,
            &self.companion_identity,
            &self.account_public,
        );
        if !xeddsa::verify(&self.companion_identity, &message, &device_signature) {
            return Err(PairingError::DeviceSignatureMismatch);
        }
        Ok(ConfirmedDevice {
            key_index: self.key_index,
            device_signature,
            signed_identity: Bytes::copy_from_slice(bytes),
        })
    }
}

/// The companion's stage-1 `link_code_companion_reg stage="companion_hello"` iq, as the server
/// receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanionHello {
    /// The iq id to answer.
    pub iq_id: String,
    /// `jid`: the account's phone-number JID.
    pub phone_jid: Jid,
    /// `should_show_push_notification == "true"`.
    pub show_push_notification: bool,
    /// `link_code_pairing_wrapped_companion_ephemeral_pub` (its first 80 bytes).
    pub wrapped_companion_ephemeral: [u8; WRAPPED_KEY_LEN],
    /// `companion_server_auth_key_pub`: the companion's noise static key.
    pub noise_public: [u8; 32],
    /// `companion_platform_id`.
    pub client_type: ClientType,
    /// `companion_platform_display`.
    pub platform_display: String,
}

impl CompanionHello {
    /// Parses the stage-1 iq.
    pub fn parse(iq: &Node) -> Result<Self, PairingError> {
        const TAG: &str = "link_code_companion_reg";
        let iq_id = required_attr(iq, "iq", "id")?.to_owned();
        let registration = child(iq, "iq", TAG)?;
        let stage = required_attr(registration, TAG, "stage")?;
        if stage != "companion_hello" {
            return Err(PairingError::UnexpectedStage(
                stage.chars().take(64).collect(),
            ));
        }
        let phone_jid =
            jid_attr(registration, TAG, "jid")?.ok_or(PairingError::MissingAttribute {
                tag: TAG,
                attr: "jid",
            })?;
        let show_push_notification =
            registration.attr_str("should_show_push_notification") == Some("true");
        let wrapped_field = "link_code_pairing_wrapped_companion_ephemeral_pub";
        let wrapped = child_bytes(registration, TAG, wrapped_field)?;
        let wrapped = wrapped
            .get(..WRAPPED_KEY_LEN)
            .ok_or(PairingError::WrongLength {
                field: wrapped_field,
                expected: WRAPPED_KEY_LEN,
                actual: wrapped.len(),
            })?;
        let platform_id = child_bytes(registration, TAG, "companion_platform_id")?;
        let client_type = core::str::from_utf8(platform_id)
            .ok()
            .and_then(|s| {
                let mut chars = s.chars();
                chars.next().filter(|_| chars.next().is_none())
            })
            .and_then(ClientType::from_char)
            .ok_or_else(|| {
                PairingError::UnknownClientType(
                    String::from_utf8_lossy(platform_id)
                        .chars()
                        .take(8)
                        .collect(),
                )
            })?;
        let display = child_bytes(registration, TAG, "companion_platform_display")?;
        Ok(Self {
            iq_id,
            phone_jid,
            show_push_notification,
            wrapped_companion_ephemeral: fixed(wrapped_field, wrapped)?,
            noise_public: child_array(registration, TAG, "companion_server_auth_key_pub")?,
            client_type,
            platform_display: String::from_utf8_lossy(display).chars().take(128).collect(),
        })
    }
}

/// The server's answer to stage 1: `<iq from="s.whatsapp.net" type="result" id=…>
/// <link_code_companion_reg><link_code_pairing_ref>REF</…></…></iq>`.
pub fn companion_hello_result(iq_id: &str, pairing_ref: &[u8]) -> Node {
    Node::new("iq")
        .jid_attr("from", server_jid())
        .attr("type", "result")
        .attr("id", iq_id.to_owned())
        .children(vec![Node::new("link_code_companion_reg").children(vec![
            Node::new("link_code_pairing_ref").bytes(pairing_ref.to_vec()),
        ])])
}

/// Random inputs of the phone's stage 2.
#[derive(Clone, Debug)]
pub struct PrimaryHelloRandom {
    /// PBKDF2 salt of the phone's wrapped ephemeral key.
    pub salt: [u8; 32],
    /// AES-CTR initial counter block.
    pub iv: [u8; 16],
}

/// The phone after `primary_hello`, waiting for `companion_finish`. `Debug` redacts the
/// ephemeral shared secret.
#[derive(Clone)]
pub struct PendingPrimary {
    /// The ref both sides name.
    pub pairing_ref: Bytes,
    ephemeral_secret: Zeroizing<[u8; 32]>,
    primary_identity: KeyPair,
}

impl fmt::Debug for PendingPrimary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingPrimary")
            .field("pairing_ref", &self.pairing_ref)
            .field("ephemeral_secret", &"<redacted>")
            .field("primary_identity", &self.primary_identity)
            .finish()
    }
}

/// The phone's stage 2: `code` is what the user typed. Unwraps the companion's ephemeral key
/// from `hello`, wraps the phone's own (`primary_ephemeral`) and builds the
/// `<notification type="link_code_companion_reg">` (id `notification_id`) for the companion.
pub fn primary_hello(
    code: &PairingCode,
    hello: &CompanionHello,
    pairing_ref: &[u8],
    primary_ephemeral: &KeyPair,
    primary_identity: &KeyPair,
    random: &PrimaryHelloRandom,
    notification_id: &str,
) -> Result<(PendingPrimary, Node), PairingError> {
    let companion_ephemeral = unwrap_public_key(code, &hello.wrapped_companion_ephemeral)?;
    let ephemeral_secret = contributory(
        primary_ephemeral,
        &companion_ephemeral,
        "companion ephemeral key",
    )?;
    let wrapped = wrap_public_key(
        code,
        &primary_ephemeral.public_bytes(),
        &random.salt,
        &random.iv,
    );
    let notification = Node::new("notification")
        .jid_attr("from", server_jid())
        .attr("type", "link_code_companion_reg")
        .attr("id", notification_id.to_owned())
        .children(vec![
            Node::new("link_code_companion_reg")
                .attr("stage", "primary_hello")
                .children(vec![
                    Node::new("link_code_pairing_ref").bytes(pairing_ref.to_vec()),
                    Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .bytes(wrapped.to_vec()),
                    Node::new("primary_identity_pub")
                        .bytes(primary_identity.public_bytes().to_vec()),
                ]),
        ]);
    let pending = PendingPrimary {
        pairing_ref: Bytes::copy_from_slice(pairing_ref),
        ephemeral_secret,
        primary_identity: primary_identity.clone(),
    };
    Ok((pending, notification))
}

/// The phone's view of a completed stage 2.
#[derive(Clone, Debug)]
pub struct PrimaryFinished {
    /// The ADV secret to HMAC the `<pair-success>` with.
    pub adv_secret: AdvSecret,
    /// The companion's identity key (what the account signature must cover).
    pub companion_identity: [u8; 32],
    /// The iq id of `companion_finish`, to answer.
    pub iq_id: String,
}

impl PendingPrimary {
    /// Reads the companion's `companion_finish` iq, opens the key bundle and derives the ADV
    /// secret exactly as the companion did.
    pub fn finish(&self, iq: &Node) -> Result<PrimaryFinished, PairingError> {
        const TAG: &str = "link_code_companion_reg";
        let iq_id = required_attr(iq, "iq", "id")?.to_owned();
        let registration = child(iq, "iq", TAG)?;
        let stage = required_attr(registration, TAG, "stage")?;
        if stage != "companion_finish" {
            return Err(PairingError::UnexpectedStage(
                stage.chars().take(64).collect(),
            ));
        }
        let pairing_ref = child_bytes(registration, TAG, "link_code_pairing_ref")?;
        if pairing_ref != self.pairing_ref {
            return Err(PairingError::RefMismatch);
        }
        let companion_identity: [u8; 32] =
            child_array(registration, TAG, "companion_identity_public")?;
        let bundle: [u8; WRAPPED_BUNDLE_LEN] =
            child_array(registration, TAG, "link_code_pairing_wrapped_key_bundle")?;
        let (salt, rest) = bundle.split_at(32);
        let (nonce, sealed) = rest.split_at(12);
        let salt: [u8; 32] = fixed("bundle salt", salt)?;
        let nonce: [u8; 12] = fixed("bundle nonce", nonce)?;
        let plain = Zeroizing::new(
            key_bundle_key(&self.ephemeral_secret, &salt)
                .decrypt(&Nonce::from(nonce), sealed)
                .map_err(|_| PairingError::KeyBundleDecrypt)?,
        );
        let (Some(bundle_companion), Some(bundle_primary), Some(adv_random)) =
            (plain.get(..32), plain.get(32..64), plain.get(64..96))
        else {
            return Err(PairingError::KeyBundleDecrypt);
        };
        if bundle_companion != companion_identity {
            return Err(PairingError::KeyBundleMismatch("companion identity"));
        }
        if bundle_primary != self.primary_identity.public_bytes() {
            return Err(PairingError::KeyBundleMismatch("primary identity"));
        }
        let adv_random: [u8; 32] = fixed("adv random", adv_random)?;
        let identity_secret = contributory(
            &self.primary_identity,
            &companion_identity,
            "companion identity key",
        )?;
        Ok(PrimaryFinished {
            adv_secret: derive_adv_secret(&self.ephemeral_secret, &identity_secret, &adv_random),
            companion_identity,
            iq_id,
        })
    }
}
