//! `ClientPayload`: the login or registration data sent, encrypted, as
//! `HandshakeMessage.clientFinish.payload` (`protocol/session.md` §1; whatsmeow
//! `proto/waWa6/WAWebProtobufsWa6.proto`), and `DeviceProps`, which a registration payload
//! embeds serialized (whatsmeow `proto/waCompanionReg/WACompanionReg.proto`).
//!
//! Every field of the schema is here, including those no reference client sends, so a test
//! server can decode whatever a client puts on the wire. What Tether actually sends is decided
//! in [`crate::payload`].

mod device_props;
mod enums;

pub use device_props::{DeviceProps, DevicePropsAppVersion, HistorySyncConfig, PlatformType};
pub use enums::{
    AccountType, ConnectReason, ConnectType, DeviceType, DistributionChannel, DnsResolutionMethod,
    IosAppExtension, Platform, Product, ReleaseChannel, TrafficAnonymization, WebSubPlatform,
};

/// `ClientPayload` (`WAWebProtobufsWa6.ClientPayload`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientPayload {
    /// Field 1: login only, the phone number (user part of the own JID) as an integer.
    #[prost(uint64, optional, tag = "1")]
    pub username: Option<u64>,
    /// Field 3: `true` asks the server to hold offline messages until `<active/>`.
    #[prost(bool, optional, tag = "3")]
    pub passive: Option<bool>,
    /// Field 5: who is connecting.
    #[prost(message, optional, tag = "5")]
    pub user_agent: Option<UserAgent>,
    /// Field 6: web-client details.
    #[prost(message, optional, tag = "6")]
    pub web_info: Option<WebInfo>,
    /// Field 7: the display name.
    #[prost(string, optional, tag = "7")]
    pub push_name: Option<String>,
    /// Field 9: `sessionID` (sfixed32).
    #[prost(sfixed32, optional, tag = "9")]
    pub session_id: Option<i32>,
    /// Field 10: `shortConnect`.
    #[prost(bool, optional, tag = "10")]
    pub short_connect: Option<bool>,
    /// Field 12: [`ConnectType`].
    #[prost(enumeration = "ConnectType", optional, tag = "12")]
    pub connect_type: Option<i32>,
    /// Field 13: [`ConnectReason`].
    #[prost(enumeration = "ConnectReason", optional, tag = "13")]
    pub connect_reason: Option<i32>,
    /// Field 14: `shards` (proto2 repeated, unpacked).
    #[prost(int32, repeated, packed = "false", tag = "14")]
    pub shards: Vec<i32>,
    /// Field 15: how the server address was resolved.
    #[prost(message, optional, tag = "15")]
    pub dns_source: Option<DnsSource>,
    /// Field 16: `connectAttemptCount`.
    #[prost(uint32, optional, tag = "16")]
    pub connect_attempt_count: Option<u32>,
    /// Field 18: login only, the device number of the own JID.
    #[prost(uint32, optional, tag = "18")]
    pub device: Option<u32>,
    /// Field 19: registration only, the new companion's keys.
    #[prost(message, optional, tag = "19")]
    pub device_pairing_data: Option<DevicePairingRegistrationData>,
    /// Field 20: [`Product`].
    #[prost(enumeration = "Product", optional, tag = "20")]
    pub product: Option<i32>,
    /// Field 21: `fbCat` (Messenger only).
    #[prost(bytes = "vec", optional, tag = "21")]
    pub fb_cat: Option<Vec<u8>>,
    /// Field 22: `fbUserAgent`.
    #[prost(bytes = "vec", optional, tag = "22")]
    pub fb_user_agent: Option<Vec<u8>>,
    /// Field 23: `oc`.
    #[prost(bool, optional, tag = "23")]
    pub oc: Option<bool>,
    /// Field 24: `lc`, the login counter (whatsmeow: always 1 on login).
    #[prost(int32, optional, tag = "24")]
    pub lc: Option<i32>,
    /// Field 30: [`IosAppExtension`].
    #[prost(enumeration = "IosAppExtension", optional, tag = "30")]
    pub ios_app_extension: Option<i32>,
    /// Field 31: `fbAppID`.
    #[prost(uint64, optional, tag = "31")]
    pub fb_app_id: Option<u64>,
    /// Field 32: `fbDeviceID`.
    #[prost(bytes = "vec", optional, tag = "32")]
    pub fb_device_id: Option<Vec<u8>>,
    /// Field 33: `pull` (true on login, false on registration).
    #[prost(bool, optional, tag = "33")]
    pub pull: Option<bool>,
    /// Field 34: `paddingBytes`.
    #[prost(bytes = "vec", optional, tag = "34")]
    pub padding_bytes: Option<Vec<u8>>,
    /// Field 36: `yearClass`.
    #[prost(int32, optional, tag = "36")]
    pub year_class: Option<i32>,
    /// Field 37: `memClass`.
    #[prost(int32, optional, tag = "37")]
    pub mem_class: Option<i32>,
    /// Field 38: interoperability data.
    #[prost(message, optional, tag = "38")]
    pub interop_data: Option<InteropData>,
    /// Field 40: [`TrafficAnonymization`].
    #[prost(enumeration = "TrafficAnonymization", optional, tag = "40")]
    pub traffic_anonymization: Option<i32>,
    /// Field 41: `lidDbMigrated` (whatsmeow: true on login).
    #[prost(bool, optional, tag = "41")]
    pub lid_db_migrated: Option<bool>,
    /// Field 42: [`AccountType`].
    #[prost(enumeration = "AccountType", optional, tag = "42")]
    pub account_type: Option<i32>,
    /// Field 43: `connectionSequenceInfo` (sfixed32).
    #[prost(sfixed32, optional, tag = "43")]
    pub connection_sequence_info: Option<i32>,
    /// Field 44: `paaLink`.
    #[prost(bool, optional, tag = "44")]
    pub paa_link: Option<bool>,
    /// Field 45: `preacksCount`.
    #[prost(int32, optional, tag = "45")]
    pub preacks_count: Option<i32>,
    /// Field 46: `processingQueueSize`.
    #[prost(int32, optional, tag = "46")]
    pub processing_queue_size: Option<i32>,
    /// Field 47: `pairedPeripherals`.
    #[prost(string, repeated, tag = "47")]
    pub paired_peripherals: Vec<String>,
    /// Field 48: `testIsolationID`.
    #[prost(bytes = "vec", optional, tag = "48")]
    pub test_isolation_id: Option<Vec<u8>>,
}

/// `ClientPayload.UserAgent`: platform, app version and the (fake) device description.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserAgent {
    /// Field 1: [`Platform`].
    #[prost(enumeration = "Platform", optional, tag = "1")]
    pub platform: Option<i32>,
    /// Field 2: the WhatsApp Web version.
    #[prost(message, optional, tag = "2")]
    pub app_version: Option<AppVersion>,
    /// Field 3: mobile country code.
    #[prost(string, optional, tag = "3")]
    pub mcc: Option<String>,
    /// Field 4: mobile network code.
    #[prost(string, optional, tag = "4")]
    pub mnc: Option<String>,
    /// Field 5: OS version.
    #[prost(string, optional, tag = "5")]
    pub os_version: Option<String>,
    /// Field 6: manufacturer.
    #[prost(string, optional, tag = "6")]
    pub manufacturer: Option<String>,
    /// Field 7: device name.
    #[prost(string, optional, tag = "7")]
    pub device: Option<String>,
    /// Field 8: OS build number.
    #[prost(string, optional, tag = "8")]
    pub os_build_number: Option<String>,
    /// Field 9: `phoneID` (never sent by the reference clients).
    #[prost(string, optional, tag = "9")]
    pub phone_id: Option<String>,
    /// Field 10: [`ReleaseChannel`].
    #[prost(enumeration = "ReleaseChannel", optional, tag = "10")]
    pub release_channel: Option<i32>,
    /// Field 11: ISO 639-1 language.
    #[prost(string, optional, tag = "11")]
    pub locale_language_iso6391: Option<String>,
    /// Field 12: ISO 3166-1 alpha-2 country.
    #[prost(string, optional, tag = "12")]
    pub locale_country_iso31661_alpha2: Option<String>,
    /// Field 13: `deviceBoard`.
    #[prost(string, optional, tag = "13")]
    pub device_board: Option<String>,
    /// Field 14: `deviceExpID`.
    #[prost(string, optional, tag = "14")]
    pub device_exp_id: Option<String>,
    /// Field 15: [`DeviceType`].
    #[prost(enumeration = "DeviceType", optional, tag = "15")]
    pub device_type: Option<i32>,
    /// Field 16: `deviceModelType`.
    #[prost(string, optional, tag = "16")]
    pub device_model_type: Option<String>,
    /// Field 17: [`DistributionChannel`].
    #[prost(enumeration = "DistributionChannel", optional, tag = "17")]
    pub distribution_channel: Option<i32>,
}

/// `ClientPayload.UserAgent.AppVersion`: up to five version components (clients send three).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AppVersion {
    /// Field 1: primary (2 for the current web client).
    #[prost(uint32, optional, tag = "1")]
    pub primary: Option<u32>,
    /// Field 2: secondary (3000).
    #[prost(uint32, optional, tag = "2")]
    pub secondary: Option<u32>,
    /// Field 3: tertiary (the client revision).
    #[prost(uint32, optional, tag = "3")]
    pub tertiary: Option<u32>,
    /// Field 4: quaternary.
    #[prost(uint32, optional, tag = "4")]
    pub quaternary: Option<u32>,
    /// Field 5: quinary.
    #[prost(uint32, optional, tag = "5")]
    pub quinary: Option<u32>,
}

/// `ClientPayload.WebInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebInfo {
    /// Field 1: `refToken`.
    #[prost(string, optional, tag = "1")]
    pub ref_token: Option<String>,
    /// Field 2: `version`.
    #[prost(string, optional, tag = "2")]
    pub version: Option<String>,
    /// Field 3: legacy feature flags.
    #[prost(message, optional, tag = "3")]
    pub webd_payload: Option<WebdPayload>,
    /// Field 4: [`WebSubPlatform`] (the only field the reference clients send).
    #[prost(enumeration = "WebSubPlatform", optional, tag = "4")]
    pub web_sub_platform: Option<i32>,
    /// Field 5: `browser` (whatsmeow's schema only).
    #[prost(string, optional, tag = "5")]
    pub browser: Option<String>,
    /// Field 6: `browserVersion` (whatsmeow's schema only).
    #[prost(string, optional, tag = "6")]
    pub browser_version: Option<String>,
}

/// `ClientPayload.WebInfo.WebdPayload`: legacy feature flags, unused.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebdPayload {
    /// Field 1: `usesParticipantInKey`.
    #[prost(bool, optional, tag = "1")]
    pub uses_participant_in_key: Option<bool>,
    /// Field 2: `supportsStarredMessages`.
    #[prost(bool, optional, tag = "2")]
    pub supports_starred_messages: Option<bool>,
    /// Field 3: `supportsDocumentMessages`.
    #[prost(bool, optional, tag = "3")]
    pub supports_document_messages: Option<bool>,
    /// Field 4: `supportsURLMessages`.
    #[prost(bool, optional, tag = "4")]
    pub supports_url_messages: Option<bool>,
    /// Field 5: `supportsMediaRetry`.
    #[prost(bool, optional, tag = "5")]
    pub supports_media_retry: Option<bool>,
    /// Field 6: `supportsE2EImage`.
    #[prost(bool, optional, tag = "6")]
    pub supports_e2e_image: Option<bool>,
    /// Field 7: `supportsE2EVideo`.
    #[prost(bool, optional, tag = "7")]
    pub supports_e2e_video: Option<bool>,
    /// Field 8: `supportsE2EAudio`.
    #[prost(bool, optional, tag = "8")]
    pub supports_e2e_audio: Option<bool>,
    /// Field 9: `supportsE2EDocument`.
    #[prost(bool, optional, tag = "9")]
    pub supports_e2e_document: Option<bool>,
    /// Field 10: `documentTypes`.
    #[prost(string, optional, tag = "10")]
    pub document_types: Option<String>,
    /// Field 11: `features`.
    #[prost(bytes = "vec", optional, tag = "11")]
    pub features: Option<Vec<u8>>,
}

/// `ClientPayload.DNSSource`: how the client found the server (not sent by the reference
/// clients). Its field numbers really are 15 and 16.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DnsSource {
    /// Field 15: [`DnsResolutionMethod`].
    #[prost(enumeration = "DnsResolutionMethod", optional, tag = "15")]
    pub dns_method: Option<i32>,
    /// Field 16: `appCached`.
    #[prost(bool, optional, tag = "16")]
    pub app_cached: Option<bool>,
}

/// `ClientPayload.InteropData` (not sent by the reference clients).
#[derive(Clone, PartialEq, prost::Message)]
pub struct InteropData {
    /// Field 1: `accountID`.
    #[prost(uint64, optional, tag = "1")]
    pub account_id: Option<u64>,
    /// Field 2: `token`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub token: Option<Vec<u8>>,
    /// Field 3: `enableReadReceipts`.
    #[prost(bool, optional, tag = "3")]
    pub enable_read_receipts: Option<bool>,
}

/// `ClientPayload.DevicePairingRegistrationData`: a new companion's public keys
/// (`protocol/session.md` §1.2). Every field is raw bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DevicePairingRegistrationData {
    /// Field 1: registration id, 4 bytes big-endian.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub e_regid: Option<Vec<u8>>,
    /// Field 2: key type, the single byte `0x05` (Curve25519).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub e_keytype: Option<Vec<u8>>,
    /// Field 3: identity public key, 32 bytes, no type prefix.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub e_ident: Option<Vec<u8>>,
    /// Field 4: signed pre-key id, 3 bytes big-endian.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub e_skey_id: Option<Vec<u8>>,
    /// Field 5: signed pre-key public key, 32 bytes.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub e_skey_val: Option<Vec<u8>>,
    /// Field 6: signed pre-key signature, 64 bytes.
    #[prost(bytes = "vec", optional, tag = "6")]
    pub e_skey_sig: Option<Vec<u8>>,
    /// Field 7: MD5 of the `"primary.secondary.tertiary"` version string sent in the same
    /// payload.
    #[prost(bytes = "vec", optional, tag = "7")]
    pub build_hash: Option<Vec<u8>>,
    /// Field 8: a serialized [`DeviceProps`].
    #[prost(bytes = "vec", optional, tag = "8")]
    pub device_props: Option<Vec<u8>>,
}
