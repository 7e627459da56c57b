//! Golden bytes of the login and registration `ClientPayload` (`protocol/session.md` §1).
//!
//! The Baileys vector is session.md §1.7 verbatim. The whatsmeow payloads were assembled field
//! by field from whatsmeow's `store/clientpayload.go` with an independent protobuf writer and
//! checked by decoding them with `protoc --decode` against whatsmeow's own
//! `WAWebProtobufsWa6.proto` / `WACompanionReg.proto`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::crypto::{KeyPair, xeddsa};
use tether_core::payload::{
    AppVersion, DEFAULT_VERSION, LoginParams, MAX_SIGNED_PRE_KEY_ID, PayloadError,
    RegistrationParams, VersionParseError, login_payload, registration_payload,
};
use tether_core::proto::client_payload::{ClientPayload, DeviceProps, Platform, PlatformType};

/// session.md §1.7: username 15551234567, device 12, version 2.3000.1035194821, passive and
/// pull true, encoded by Baileys (no manufacturer, no `lc`, no `lidDbMigrated`).
const BAILEYS_LOGIN: &str = concat!(
    "088784b4f739",               //                     f1  username = 15551234567
    "1801",                       //                     f3  passive = true
    "2a36",                       //                     f5  userAgent (54 bytes)
    "080e",                       //                         platform = WEB
    "120b080210b81718c5a3cfed03", //           appVersion {2, 3000, 1035194821}
    "1a03303030",                 //                         mcc "000"
    "2203303030",                 //                         mnc "000"
    "2a03302e31",                 //                         osVersion "0.1"
    "3a074465736b746f70",         //                   device "Desktop"
    "4203302e31",                 //                         osBuildNumber "0.1"
    "5000",                       //                         releaseChannel = RELEASE
    "5a02656e",                   //                         locale language "en"
    "62025553",                   //                         locale country "US"
    "32022000", //                     f6  webInfo { webSubPlatform = WEB_BROWSER }
    "6001",     //                     f12 connectType = WIFI_UNKNOWN
    "6801",     //                     f13 connectReason = USER_ACTIVATED
    "90010c",   //                     f18 device = 12
    "880201",   //                     f33 pull = true
);

/// The user agent whatsmeow sends with its current version (56 bytes).
const WHATSMEOW_USER_AGENT: &str = concat!(
    "2a38",                       //       f5  userAgent (56 bytes)
    "080e",                       //           platform = WEB
    "120b080210b81718d7afcdf203", //           appVersion {2, 3000, 1045649367}
    "1a03303030",                 //           mcc "000"
    "2203303030",                 //           mnc "000"
    "2a03302e31",                 //           osVersion "0.1"
    "3200",                       //           manufacturer "" (present, empty)
    "3a074465736b746f70",         //           device "Desktop"
    "4203302e31",                 //           osBuildNumber "0.1"
    "5000",                       //           releaseChannel = RELEASE
    "5a02656e",                   //           locale language "en"
    "62025553",                   //           locale country "US"
    "32022000",                   //       f6  webInfo { webSubPlatform = WEB_BROWSER }
    "6001",                       //       f12 connectType = WIFI_UNKNOWN
    "6801",                       //       f13 connectReason = USER_ACTIVATED
);

fn whatsmeow_login() -> String {
    [
        "088784b4f739", //                     f1  username = 15551234567
        "1801",         //                     f3  passive = true
        WHATSMEOW_USER_AGENT,
        "90010c", //                           f18 device = 12
        "c00101", //                           f24 lc = 1
        "880201", //                           f33 pull = true
        "c80201", //                           f41 lidDbMigrated = true
    ]
    .concat()
}

/// `DeviceProps` as whatsmeow builds it, with Tether's name in `os` (54 bytes).
const TETHER_DEVICE_PROPS: &str = concat!(
    "0a06546574686572", //                 f1  os "Tether"
    "1206080010011800", //                 f2  version {0, 1, 0}
    "1800",             //                 f3  platformType = UNKNOWN
    "2000",             //                 f4  requireFullSync = false
    "2a20",             //                 f5  historySyncConfig (32 bytes)
    "188050",           //                     storageQuotaMb = 10240
    "2001",             //                     inlineInitialPayloadInE2EeMsg
    "3001",             //                     supportCallLogHistory
    "3801",             //                     supportBotUserAgentChatHistory
    "4001",             //                     supportCagReactionsAndPolls
    "4801",             //                     supportBizHostedMsg
    "5001",             //                     supportRecentSyncChunkMessageCountTuning
    "5801",             //                     supportHostedGroupMsg
    "6001",             //                     supportFbidBotChatHistory
    "7001",             //                     supportMessageAssociation
    "7801",             //                     supportGroupHistory
    "98013c",           //                     thumbnailSyncDaysLimit = 60
    "a80101",           //                     supportManusHistory
    "b00101",           //                     supportHatchHistory
);

fn whatsmeow_registration() -> String {
    [
        "1800", //                             f3  passive = false
        WHATSMEOW_USER_AGENT,
        "9a01de01",     //                     f19 devicePairingData (222 bytes)
        "0a0401020304", //                         eRegid = 0x01020304
        "120105",       //                         eKeytype = 0x05
        "1a20",         //                         eIdent (32 bytes of 0x11)
        &"11".repeat(32),
        "2203000001", //                           eSkeyID = 1 (3 bytes)
        "2a20",       //                           eSkeyVal (32 bytes of 0x22)
        &"22".repeat(32),
        "3240", //                                 eSkeySig (64 bytes of 0x33)
        &"33".repeat(64),
        "3a109fa53af9421567b114e33c9bb1ef7db2", // buildHash = MD5("2.3000.1045649367")
        "4236",                                 // deviceProps (54 bytes)
        TETHER_DEVICE_PROPS,
        "880200", //                           f33 pull = false
    ]
    .concat()
}

fn baileys_login_params() -> LoginParams {
    let mut params = LoginParams::new(15_551_234_567, 12);
    params.version = AppVersion::new(2, 3000, 1_035_194_821);
    params.lc = None;
    params.lid_db_migrated = None;
    params.profile.manufacturer = None;
    params
}

fn pattern_registration() -> RegistrationParams {
    RegistrationParams::new(0x0102_0304, [0x11; 32], 1, [0x22; 32], [0x33; 64])
}

#[test]
fn login_payload_reproduces_the_baileys_vector_of_session_md() {
    assert_eq!(
        hex::encode(login_payload(&baileys_login_params())),
        BAILEYS_LOGIN
    );
}

#[test]
fn login_payload_appends_lid_db_migrated_false_as_the_vector_notes() {
    let mut params = baileys_login_params();
    params.lid_db_migrated = Some(false);
    assert_eq!(
        hex::encode(login_payload(&params)),
        format!("{BAILEYS_LOGIN}c80200")
    );
}

#[test]
fn login_payload_with_whatsmeow_defaults() {
    let params = LoginParams::new(15_551_234_567, 12);
    assert_eq!(hex::encode(login_payload(&params)), whatsmeow_login());
}

#[test]
fn registration_payload_with_whatsmeow_defaults() {
    let bytes = registration_payload(&pattern_registration()).unwrap();
    assert_eq!(hex::encode(bytes), whatsmeow_registration());
}

#[test]
fn default_version_is_whatsmeows_and_hashes_like_whatsmeow() {
    assert_eq!(DEFAULT_VERSION, AppVersion::new(2, 3000, 1_045_649_367));
    assert_eq!(
        hex::encode(DEFAULT_VERSION.build_hash()),
        "9fa53af9421567b114e33c9bb1ef7db2"
    );
}

#[test]
fn version_override_changes_user_agent_and_build_hash_together() {
    let version = AppVersion::new(2, 3000, 1_035_194_821);
    let mut params = pattern_registration();
    params.version = version;
    let payload = ClientPayload::decode(registration_payload(&params).unwrap().as_slice()).unwrap();
    let app_version = payload.user_agent.unwrap().app_version.unwrap();
    assert_eq!(app_version.tertiary, Some(1_035_194_821));
    let pairing = payload.device_pairing_data.unwrap();
    assert_eq!(pairing.build_hash.unwrap(), version.build_hash().to_vec());
    assert_ne!(version.build_hash(), DEFAULT_VERSION.build_hash());
}

#[test]
fn registration_carries_keys_that_verify() {
    let mut rng = ChaCha20Rng::from_seed([42; 32]);
    let identity = KeyPair::generate(&mut rng);
    let signed_pre_key = KeyPair::generate(&mut rng);
    let mut signed_input = vec![0x05];
    signed_input.extend_from_slice(&signed_pre_key.public_bytes());
    let signature = identity.sign(&signed_input, &[9; 64]);
    let params = RegistrationParams::new(
        16_380,
        identity.public_bytes(),
        0x00AB_CDEF,
        signed_pre_key.public_bytes(),
        signature,
    );

    let payload = ClientPayload::decode(registration_payload(&params).unwrap().as_slice()).unwrap();
    assert_eq!(payload.username, None);
    assert_eq!(payload.device, None);
    assert_eq!(payload.lc, None);
    assert_eq!(payload.passive, Some(false));
    assert_eq!(payload.pull, Some(false));
    let pairing = payload.device_pairing_data.unwrap();
    assert_eq!(pairing.e_regid.unwrap(), 16_380u32.to_be_bytes().to_vec());
    assert_eq!(pairing.e_skey_id.unwrap(), vec![0xAB, 0xCD, 0xEF]);
    let ident: [u8; 32] = pairing.e_ident.unwrap().try_into().unwrap();
    let mut spk_input = vec![0x05];
    spk_input.extend_from_slice(&pairing.e_skey_val.unwrap());
    let sig: [u8; 64] = pairing.e_skey_sig.unwrap().try_into().unwrap();
    assert!(xeddsa::verify(&ident, &spk_input, &sig));
    let props = DeviceProps::decode(pairing.device_props.unwrap().as_slice()).unwrap();
    assert_eq!(props.os.as_deref(), Some("Tether"));
    assert_eq!(props.platform_type(), PlatformType::Unknown);
}

#[test]
fn registration_rejects_a_signed_pre_key_id_wider_than_3_bytes() {
    let mut params = pattern_registration();
    params.signed_pre_key_id = MAX_SIGNED_PRE_KEY_ID + 1;
    assert_eq!(
        registration_payload(&params),
        Err(PayloadError::SignedPreKeyIdTooLarge(0x0100_0000))
    );
    params.signed_pre_key_id = MAX_SIGNED_PRE_KEY_ID;
    let payload = ClientPayload::decode(registration_payload(&params).unwrap().as_slice()).unwrap();
    assert_eq!(
        payload.device_pairing_data.unwrap().e_skey_id.unwrap(),
        vec![0xFF; 3]
    );
}

#[test]
fn push_name_and_profile_overrides_reach_the_wire() {
    let mut params = LoginParams::new(1, 0);
    params.push_name = Some("Tether bot".to_owned());
    params.passive = false;
    params.profile.platform = Platform::Macos;
    params.profile.locale_country = "DE".to_owned();
    let payload = ClientPayload::decode(login_payload(&params).as_slice()).unwrap();
    assert_eq!(payload.push_name.as_deref(), Some("Tether bot"));
    assert_eq!(payload.passive, Some(false));
    assert_eq!(payload.device, Some(0));
    let user_agent = payload.user_agent.unwrap();
    assert_eq!(user_agent.platform(), Platform::Macos);
    assert_eq!(
        user_agent.locale_country_iso31661_alpha2.as_deref(),
        Some("DE")
    );
}

#[test]
fn parses_and_prints_version_strings() {
    let version: AppVersion = "2.3000.1045649367".parse().unwrap();
    assert_eq!(version, DEFAULT_VERSION);
    assert_eq!(version.to_string(), "2.3000.1045649367");
}

#[test]
fn rejects_malformed_version_strings() {
    let parse = |s: &str| s.parse::<AppVersion>().unwrap_err();
    assert_eq!(parse(""), VersionParseError::NotANumber { index: 0 });
    assert_eq!(parse("2.3000"), VersionParseError::PartCount(2));
    assert_eq!(parse("2.3000.1.4"), VersionParseError::PartCount(4));
    assert_eq!(
        parse("2.3000.x"),
        VersionParseError::NotANumber { index: 2 }
    );
    assert_eq!(
        parse("2.+3000.1"),
        VersionParseError::NotANumber { index: 1 }
    );
    assert_eq!(
        parse("2.3000.99999999999"),
        VersionParseError::NotANumber { index: 2 }
    );
}
