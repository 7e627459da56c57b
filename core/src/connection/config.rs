//! Connection configuration (`DESIGN.md` §4 and §6). Every field has the documented default;
//! the CLI maps the field report's JSON keys onto it.

use std::time::Duration;

use crate::backoff::ReconnectConfig;
use crate::cert::WHATSAPP_ROOT_PUBLIC_KEY;
use crate::frame::MAX_FRAME_LEN;
use crate::keepalive::KeepAliveConfig;
use crate::payload::{AppVersion, ClientProfile, CompanionProps};

/// The real WhatsApp endpoint (`transport.md` §2).
pub const DEFAULT_ENDPOINT: &str = "wss://web.whatsapp.com/ws/chat";

/// Where the current web client version is published (the service-worker script).
pub const DEFAULT_VERSION_URL: &str = "https://web.whatsapp.com/sw.js";

/// How a [`Connection`](super::Connection) behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The WebSocket URL (`ws://` or `wss://`).
    pub endpoint: String,
    /// Root keys the server's certificate chain may chain to (the real WhatsApp root by
    /// default; tests and `tether-sim` use their own).
    pub trusted_roots: Vec<[u8; 32]>,
    /// The `reconnect` keys.
    pub reconnect: ReconnectConfig,
    /// The `keepAlive` keys.
    pub keep_alive: KeepAliveConfig,
    /// The web client version to announce; `None` uses the stored or compiled default.
    pub version: Option<AppVersion>,
    /// Where to fetch the version after a 405.
    pub version_url: String,
    /// How long the transport may take to open.
    pub connect_timeout: Duration,
    /// How long the Noise handshake (and the server's first stanza) may take.
    pub handshake_timeout: Duration,
    /// User-agent fields of the ClientPayload.
    pub profile: ClientProfile,
    /// `DeviceProps` sent when registering (the name the phone shows).
    pub companion: CompanionProps,
    /// One-time pre-keys uploaded when the server has none.
    pub pre_key_initial_batch: u32,
    /// One-time pre-keys uploaded when the server runs low.
    pub pre_key_batch: u32,
    /// The server count below which Tether uploads more pre-keys.
    pub pre_key_low_watermark: u32,
    /// Report clock skew beyond this.
    pub clock_skew_threshold: Duration,
    /// Largest frame accepted from the server.
    pub max_frame_len: usize,
    /// End-to-end encrypted messaging: inbox, outbox, caches, signed pre-key rotation.
    pub messaging: crate::messaging::engine::MessagingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            trusted_roots: vec![WHATSAPP_ROOT_PUBLIC_KEY],
            reconnect: ReconnectConfig::default(),
            keep_alive: KeepAliveConfig::default(),
            version: None,
            version_url: DEFAULT_VERSION_URL.to_owned(),
            connect_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(20),
            profile: ClientProfile::default(),
            companion: CompanionProps::default(),
            // whatsmeow: 812 when the server has none, else 50; upload below 5.
            pre_key_initial_batch: 812,
            pre_key_batch: 50,
            pre_key_low_watermark: 5,
            clock_skew_threshold: Duration::from_secs(30),
            max_frame_len: MAX_FRAME_LEN,
            messaging: crate::messaging::engine::MessagingConfig::default(),
        }
    }
}

impl Config {
    /// The default configuration against another server (a simulator or test server) that
    /// signs its certificates with `root`.
    pub fn for_server(endpoint: impl Into<String>, root: [u8; 32]) -> Self {
        Self {
            endpoint: endpoint.into(),
            trusted_roots: vec![root],
            ..Self::default()
        }
    }
}
