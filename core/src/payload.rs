//! The `ClientPayload` Tether sends as the last handshake message (`protocol/session.md` §1):
//! a **login** payload when the store holds the device's own JID, a **registration** payload
//! when it does not.
//!
//! Every value comes from explicit parameters. The `new` constructors fill in what whatsmeow
//! sends today (DESIGN §4 "What Tether sends"); golden tests against another library's bytes set
//! that library's values field by field instead.
//!
//! ```text
//! login:        username, passive, userAgent, webInfo, [pushName], connectType, connectReason,
//!               device, [lc], pull, [lidDbMigrated]
//! registration: passive, userAgent, webInfo, [pushName], connectType, connectReason,
//!               devicePairingData{regid, keytype 0x05, ident, skeyID (3 bytes), skeyVal, skeySig,
//!                                 buildHash = MD5("a.b.c"), deviceProps}, pull
//! ```

use core::fmt;
use core::str::FromStr;

use md5::{Digest, Md5};
use prost::Message;

use crate::proto::client_payload::{
    self as pb, ClientPayload, ConnectReason, ConnectType, DeviceProps, DevicePropsAppVersion,
    HistorySyncConfig, Platform, PlatformType, ReleaseChannel, WebSubPlatform,
};

/// The WhatsApp Web version sent unless overridden: whatsmeow's current value
/// (`store/clientpayload.go`, `protocol/session.md` §8). A 405 failure after the handshake means
/// the server wants a newer one.
pub const DEFAULT_VERSION: AppVersion = AppVersion::new(2, 3000, 1_045_649_367);

/// Key type byte of a Curve25519 ("DJB") public key in Signal serializations.
pub const KEY_TYPE_DJB: u8 = 0x05;

/// Largest signed pre-key id: ids travel as 3 bytes big-endian.
pub const MAX_SIGNED_PRE_KEY_ID: u32 = 0x00FF_FFFF;

/// A WhatsApp Web version triple, `primary.secondary.tertiary` (for example `2.3000.1045649367`;
/// the tertiary component is the web client's `client_revision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppVersion {
    /// Primary component (2).
    pub primary: u32,
    /// Secondary component (3000).
    pub secondary: u32,
    /// Tertiary component: the client revision.
    pub tertiary: u32,
}

impl AppVersion {
    /// The version `primary.secondary.tertiary`.
    pub const fn new(primary: u32, secondary: u32, tertiary: u32) -> Self {
        Self {
            primary,
            secondary,
            tertiary,
        }
    }

    /// `buildHash` of a registration payload: MD5 of the ASCII string `"a.b.c"`.
    pub fn build_hash(&self) -> [u8; 16] {
        Md5::digest(self.to_string().as_bytes()).into()
    }

    fn to_proto(self) -> pb::AppVersion {
        pb::AppVersion {
            primary: Some(self.primary),
            secondary: Some(self.secondary),
            tertiary: Some(self.tertiary),
            quaternary: None,
            quinary: None,
        }
    }
}

impl fmt::Display for AppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.primary, self.secondary, self.tertiary)
    }
}

/// Why a version string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionParseError {
    /// Not exactly three dot-separated parts.
    #[error("version must have three dot-separated parts, found {0}")]
    PartCount(usize),
    /// A part is not a decimal `u32`.
    #[error("version part {index} is not a number that fits in 32 bits")]
    NotANumber {
        /// Zero-based position of the part.
        index: usize,
    },
}

impl FromStr for AppVersion {
    type Err = VersionParseError;

    /// Parses `"2.3000.1045649367"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('.');
        let mut values = [0u32; 3];
        for (index, value) in values.iter_mut().enumerate() {
            let part = parts.next().ok_or(VersionParseError::PartCount(index))?;
            let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            *value = digits
                .then(|| part.parse().ok())
                .flatten()
                .ok_or(VersionParseError::NotANumber { index })?;
        }
        let extra = parts.count();
        if extra > 0 {
            return Err(VersionParseError::PartCount(3 + extra));
        }
        let [primary, secondary, tertiary] = values;
        Ok(Self::new(primary, secondary, tertiary))
    }
}

/// The user-agent, web-info and connection fields both payloads share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientProfile {
    /// `userAgent.platform` (whatsmeow: `WEB`).
    pub platform: Platform,
    /// `userAgent.releaseChannel` (`RELEASE`).
    pub release_channel: ReleaseChannel,
    /// `userAgent.mcc` (`"000"`).
    pub mcc: String,
    /// `userAgent.mnc` (`"000"`).
    pub mnc: String,
    /// `userAgent.osVersion` (whatsmeow: `"0.1"`).
    pub os_version: String,
    /// `userAgent.manufacturer` (whatsmeow: present and empty; Baileys: absent).
    pub manufacturer: Option<String>,
    /// `userAgent.device` (`"Desktop"`).
    pub device: String,
    /// `userAgent.osBuildNumber` (whatsmeow: same as `os_version`).
    pub os_build_number: String,
    /// `userAgent.localeLanguageIso6391` (`"en"`).
    pub locale_language: String,
    /// `userAgent.localeCountryIso31661Alpha2` (`"US"`).
    pub locale_country: String,
    /// `webInfo.webSubPlatform` (`WEB_BROWSER`).
    pub web_sub_platform: WebSubPlatform,
    /// `connectType` (`WIFI_UNKNOWN`).
    pub connect_type: ConnectType,
    /// `connectReason` (`USER_ACTIVATED`, reconnects included).
    pub connect_reason: ConnectReason,
}

impl Default for ClientProfile {
    /// whatsmeow's values.
    fn default() -> Self {
        Self {
            platform: Platform::Web,
            release_channel: ReleaseChannel::Release,
            mcc: "000".to_owned(),
            mnc: "000".to_owned(),
            os_version: "0.1".to_owned(),
            manufacturer: Some(String::new()),
            device: "Desktop".to_owned(),
            os_build_number: "0.1".to_owned(),
            locale_language: "en".to_owned(),
            locale_country: "US".to_owned(),
            web_sub_platform: WebSubPlatform::WebBrowser,
            connect_type: ConnectType::WifiUnknown,
            connect_reason: ConnectReason::UserActivated,
        }
    }
}

/// How a new companion describes itself to the phone (`DeviceProps`, registration only).
#[derive(Clone, Debug, PartialEq)]
pub struct CompanionProps {
    /// `os`: the name the phone lists under "Linked devices" (default `"Tether"`; whatsmeow
    /// likewise sends its own name).
    pub os: String,
    /// `version` of the companion software (whatsmeow: `0.1.0`).
    pub version: [u32; 3],
    /// `platformType` (whatsmeow: `UNKNOWN`).
    pub platform_type: PlatformType,
    /// `requireFullSync` (whatsmeow: false).
    pub require_full_sync: bool,
    /// `historySyncConfig`; `None` leaves the field out.
    pub history_sync: Option<HistorySyncConfig>,
}

impl Default for CompanionProps {
    /// whatsmeow's values, with Tether's name.
    fn default() -> Self {
        Self {
            os: "Tether".to_owned(),
            version: [0, 1, 0],
            platform_type: PlatformType::Unknown,
            require_full_sync: false,
            history_sync: Some(whatsmeow_history_sync_config()),
        }
    }
}

impl CompanionProps {
    /// The `DeviceProps` message for these values.
    pub fn to_proto(&self) -> DeviceProps {
        let [primary, secondary, tertiary] = self.version;
        DeviceProps {
            os: Some(self.os.clone()),
            version: Some(DevicePropsAppVersion {
                primary: Some(primary),
                secondary: Some(secondary),
                tertiary: Some(tertiary),
                quaternary: None,
                quinary: None,
            }),
            platform_type: Some(self.platform_type.into()),
            require_full_sync: Some(self.require_full_sync),
            history_sync_config: self.history_sync.clone(),
        }
    }
}

/// The history-sync capabilities whatsmeow announces (`store/clientpayload.go`).
pub fn whatsmeow_history_sync_config() -> HistorySyncConfig {
    HistorySyncConfig {
        storage_quota_mb: Some(10_240),
        inline_initial_payload_in_e2ee_msg: Some(true),
        support_call_log_history: Some(true),
        support_bot_user_agent_chat_history: Some(true),
        support_cag_reactions_and_polls: Some(true),
        support_biz_hosted_msg: Some(true),
        support_recent_sync_chunk_message_count_tuning: Some(true),
        support_hosted_group_msg: Some(true),
        support_fbid_bot_chat_history: Some(true),
        support_message_association: Some(true),
        support_group_history: Some(true),
        thumbnail_sync_days_limit: Some(60),
        support_manus_history: Some(true),
        support_hatch_history: Some(true),
        ..HistorySyncConfig::default()
    }
}

/// Inputs of a login payload (an already-paired device).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginParams {
    /// User part of the own JID as an integer (the phone number).
    pub username: u64,
    /// Device part of the own JID.
    pub device: u16,
    /// `passive` (whatsmeow: true, then `<active/>` after `<success>`).
    pub passive: bool,
    /// `pull` (true).
    pub pull: bool,
    /// `lc` (whatsmeow: `Some(1)`; Baileys: absent).
    pub lc: Option<i32>,
    /// `lidDbMigrated` (whatsmeow: `Some(true)`; Baileys: false or absent).
    pub lid_db_migrated: Option<bool>,
    /// `pushName` (whatsmeow: not sent).
    pub push_name: Option<String>,
    /// The web client version.
    pub version: AppVersion,
    /// User-agent and connection fields.
    pub profile: ClientProfile,
}

impl LoginParams {
    /// whatsmeow's login values for the JID `username:device@s.whatsapp.net`.
    pub fn new(username: u64, device: u16) -> Self {
        Self {
            username,
            device,
            passive: true,
            pull: true,
            lc: Some(1),
            lid_db_migrated: Some(true),
            push_name: None,
            version: DEFAULT_VERSION,
            profile: ClientProfile::default(),
        }
    }
}

/// Inputs of a registration payload (a new companion, before pairing).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationParams {
    /// Signal registration id (sent as 4 bytes big-endian).
    pub registration_id: u32,
    /// Identity public key (raw 32 bytes).
    pub identity_public: [u8; 32],
    /// Signed pre-key id, at most [`MAX_SIGNED_PRE_KEY_ID`] (sent as 3 bytes big-endian).
    pub signed_pre_key_id: u32,
    /// Signed pre-key public key (raw 32 bytes).
    pub signed_pre_key_public: [u8; 32],
    /// Signature of `0x05 ‖ signed_pre_key_public` by the identity key.
    pub signed_pre_key_signature: [u8; 64],
    /// `passive` (false).
    pub passive: bool,
    /// `pull` (false).
    pub pull: bool,
    /// `pushName` (whatsmeow: not sent).
    pub push_name: Option<String>,
    /// The web client version; `buildHash` is derived from it.
    pub version: AppVersion,
    /// User-agent and connection fields.
    pub profile: ClientProfile,
    /// `DeviceProps`.
    pub companion: CompanionProps,
}

impl RegistrationParams {
    /// whatsmeow's registration values for the given keys.
    pub fn new(
        registration_id: u32,
        identity_public: [u8; 32],
        signed_pre_key_id: u32,
        signed_pre_key_public: [u8; 32],
        signed_pre_key_signature: [u8; 64],
    ) -> Self {
        Self {
            registration_id,
            identity_public,
            signed_pre_key_id,
            signed_pre_key_public,
            signed_pre_key_signature,
            passive: false,
            pull: false,
            push_name: None,
            version: DEFAULT_VERSION,
            profile: ClientProfile::default(),
            companion: CompanionProps::default(),
        }
    }
}

/// Why a payload could not be built (caller error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The signed pre-key id does not fit the 3 bytes it travels in.
    #[error("signed pre-key id {0} does not fit in 3 bytes (maximum 16777215)")]
    SignedPreKeyIdTooLarge(u32),
}

/// The serialized login `ClientPayload`.
pub fn login_payload(params: &LoginParams) -> Vec<u8> {
    ClientPayload {
        username: Some(params.username),
        passive: Some(params.passive),
        device: Some(u32::from(params.device)),
        lc: params.lc,
        pull: Some(params.pull),
        lid_db_migrated: params.lid_db_migrated,
        ..base_payload(&params.profile, params.version, params.push_name.as_deref())
    }
    .encode_to_vec()
}

/// The serialized registration `ClientPayload`.
pub fn registration_payload(params: &RegistrationParams) -> Result<Vec<u8>, PayloadError> {
    if params.signed_pre_key_id > MAX_SIGNED_PRE_KEY_ID {
        return Err(PayloadError::SignedPreKeyIdTooLarge(
            params.signed_pre_key_id,
        ));
    }
    let [_, skey_id @ ..] = params.signed_pre_key_id.to_be_bytes();
    let pairing = pb::DevicePairingRegistrationData {
        e_regid: Some(params.registration_id.to_be_bytes().to_vec()),
        e_keytype: Some(vec![KEY_TYPE_DJB]),
        e_ident: Some(params.identity_public.to_vec()),
        e_skey_id: Some(skey_id.to_vec()),
        e_skey_val: Some(params.signed_pre_key_public.to_vec()),
        e_skey_sig: Some(params.signed_pre_key_signature.to_vec()),
        build_hash: Some(params.version.build_hash().to_vec()),
        device_props: Some(params.companion.to_proto().encode_to_vec()),
    };
    Ok(ClientPayload {
        passive: Some(params.passive),
        device_pairing_data: Some(pairing),
        pull: Some(params.pull),
        ..base_payload(&params.profile, params.version, params.push_name.as_deref())
    }
    .encode_to_vec())
}

/// The fields both payloads share.
fn base_payload(
    profile: &ClientProfile,
    version: AppVersion,
    push_name: Option<&str>,
) -> ClientPayload {
    ClientPayload {
        user_agent: Some(pb::UserAgent {
            platform: Some(profile.platform.into()),
            app_version: Some(version.to_proto()),
            mcc: Some(profile.mcc.clone()),
            mnc: Some(profile.mnc.clone()),
            os_version: Some(profile.os_version.clone()),
            manufacturer: profile.manufacturer.clone(),
            device: Some(profile.device.clone()),
            os_build_number: Some(profile.os_build_number.clone()),
            release_channel: Some(profile.release_channel.into()),
            locale_language_iso6391: Some(profile.locale_language.clone()),
            locale_country_iso31661_alpha2: Some(profile.locale_country.clone()),
            ..pb::UserAgent::default()
        }),
        web_info: Some(pb::WebInfo {
            web_sub_platform: Some(profile.web_sub_platform.into()),
            ..pb::WebInfo::default()
        }),
        push_name: push_name.map(str::to_owned),
        connect_type: Some(profile.connect_type.into()),
        connect_reason: Some(profile.connect_reason.into()),
        ..ClientPayload::default()
    }
}
