//! `DeviceProps` (whatsmeow `WACompanionReg.DeviceProps`, `protocol/session.md` §1.2 and §1.6):
//! how a new companion describes itself. The registration payload carries it serialized in
//! `DevicePairingRegistrationData.deviceProps`; the phone shows `os` in its linked-devices list.

/// `DeviceProps`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceProps {
    /// Field 1: the name shown on the phone.
    #[prost(string, optional, tag = "1")]
    pub os: Option<String>,
    /// Field 2: the companion's own version.
    #[prost(message, optional, tag = "2")]
    pub version: Option<DevicePropsAppVersion>,
    /// Field 3: [`PlatformType`].
    #[prost(enumeration = "PlatformType", optional, tag = "3")]
    pub platform_type: Option<i32>,
    /// Field 4: `requireFullSync`.
    #[prost(bool, optional, tag = "4")]
    pub require_full_sync: Option<bool>,
    /// Field 5: history-sync capabilities.
    #[prost(message, optional, tag = "5")]
    pub history_sync_config: Option<HistorySyncConfig>,
}

/// `DeviceProps.AppVersion`: the schema declares it separately, but its five fields are
/// exactly those of the user agent's [`AppVersion`](super::AppVersion), so one type serves both.
pub type DevicePropsAppVersion = super::AppVersion;

/// `DeviceProps.HistorySyncConfig` (fields 1–24, as in whatsmeow's schema).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistorySyncConfig {
    /// Field 1: `fullSyncDaysLimit`.
    #[prost(uint32, optional, tag = "1")]
    pub full_sync_days_limit: Option<u32>,
    /// Field 2: `fullSyncSizeMbLimit`.
    #[prost(uint32, optional, tag = "2")]
    pub full_sync_size_mb_limit: Option<u32>,
    /// Field 3: `storageQuotaMb`.
    #[prost(uint32, optional, tag = "3")]
    pub storage_quota_mb: Option<u32>,
    /// Field 4: `inlineInitialPayloadInE2EeMsg`.
    #[prost(bool, optional, tag = "4")]
    pub inline_initial_payload_in_e2ee_msg: Option<bool>,
    /// Field 5: `recentSyncDaysLimit`.
    #[prost(uint32, optional, tag = "5")]
    pub recent_sync_days_limit: Option<u32>,
    /// Field 6: `supportCallLogHistory`.
    #[prost(bool, optional, tag = "6")]
    pub support_call_log_history: Option<bool>,
    /// Field 7: `supportBotUserAgentChatHistory`.
    #[prost(bool, optional, tag = "7")]
    pub support_bot_user_agent_chat_history: Option<bool>,
    /// Field 8: `supportCagReactionsAndPolls`.
    #[prost(bool, optional, tag = "8")]
    pub support_cag_reactions_and_polls: Option<bool>,
    /// Field 9: `supportBizHostedMsg`.
    #[prost(bool, optional, tag = "9")]
    pub support_biz_hosted_msg: Option<bool>,
    /// Field 10: `supportRecentSyncChunkMessageCountTuning`.
    #[prost(bool, optional, tag = "10")]
    pub support_recent_sync_chunk_message_count_tuning: Option<bool>,
    /// Field 11: `supportHostedGroupMsg`.
    #[prost(bool, optional, tag = "11")]
    pub support_hosted_group_msg: Option<bool>,
    /// Field 12: `supportFbidBotChatHistory`.
    #[prost(bool, optional, tag = "12")]
    pub support_fbid_bot_chat_history: Option<bool>,
    /// Field 13: `supportAddOnHistorySyncMigration`.
    #[prost(bool, optional, tag = "13")]
    pub support_add_on_history_sync_migration: Option<bool>,
    /// Field 14: `supportMessageAssociation`.
    #[prost(bool, optional, tag = "14")]
    pub support_message_association: Option<bool>,
    /// Field 15: `supportGroupHistory`.
    #[prost(bool, optional, tag = "15")]
    pub support_group_history: Option<bool>,
    /// Field 16: `onDemandReady`.
    #[prost(bool, optional, tag = "16")]
    pub on_demand_ready: Option<bool>,
    /// Field 17: `supportGuestChat`.
    #[prost(bool, optional, tag = "17")]
    pub support_guest_chat: Option<bool>,
    /// Field 18: `completeOnDemandReady`.
    #[prost(bool, optional, tag = "18")]
    pub complete_on_demand_ready: Option<bool>,
    /// Field 19: `thumbnailSyncDaysLimit`.
    #[prost(uint32, optional, tag = "19")]
    pub thumbnail_sync_days_limit: Option<u32>,
    /// Field 20: `initialSyncMaxMessagesPerChat`.
    #[prost(uint32, optional, tag = "20")]
    pub initial_sync_max_messages_per_chat: Option<u32>,
    /// Field 21: `supportManusHistory`.
    #[prost(bool, optional, tag = "21")]
    pub support_manus_history: Option<bool>,
    /// Field 22: `supportHatchHistory`.
    #[prost(bool, optional, tag = "22")]
    pub support_hatch_history: Option<bool>,
    /// Field 23: `supportedBotChannelFbids`.
    #[prost(string, repeated, tag = "23")]
    pub supported_bot_channel_fbids: Vec<String>,
    /// Field 24: `supportInlineContacts`.
    #[prost(bool, optional, tag = "24")]
    pub support_inline_contacts: Option<bool>,
}

/// `DeviceProps.PlatformType`: the browser or app kind the companion claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PlatformType {
    /// `UNKNOWN`: what whatsmeow and whatsapp-rust send.
    Unknown = 0,
    /// `CHROME`
    Chrome = 1,
    /// `FIREFOX`
    Firefox = 2,
    /// `IE`
    Ie = 3,
    /// `OPERA`
    Opera = 4,
    /// `SAFARI`
    Safari = 5,
    /// `EDGE`
    Edge = 6,
    /// `DESKTOP`
    Desktop = 7,
    /// `IPAD`
    Ipad = 8,
    /// `ANDROID_TABLET`
    AndroidTablet = 9,
    /// `OHANA`
    Ohana = 10,
    /// `ALOHA`
    Aloha = 11,
    /// `CATALINA`
    Catalina = 12,
    /// `TCL_TV`
    TclTv = 13,
    /// `IOS_PHONE`
    IosPhone = 14,
    /// `IOS_CATALYST`
    IosCatalyst = 15,
    /// `ANDROID_PHONE`
    AndroidPhone = 16,
    /// `ANDROID_AMBIGUOUS`
    AndroidAmbiguous = 17,
    /// `WEAR_OS`
    WearOs = 18,
    /// `AR_WRIST`
    ArWrist = 19,
    /// `AR_DEVICE`
    ArDevice = 20,
    /// `UWP`
    Uwp = 21,
    /// `VR`
    Vr = 22,
    /// `CLOUD_API`
    CloudApi = 23,
    /// `SMARTGLASSES`
    Smartglasses = 24,
}
