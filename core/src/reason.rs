//! Why a connection ended: one typed [`DisconnectReason`] per row of DESIGN §4's reason table.
//!
//! Every disconnect, whether the server sent a stanza, the transport died, a timer fired or the
//! user asked, is described by exactly one reason. A reason keeps the raw stanza it came from
//! (when there was one) and answers four questions:
//!
//! - [`code`](DisconnectReason::code): the number operators know. A code the server sent prints
//!   bare (`515`); a code Tether assigns locally prints in brackets (`[408]` for timeouts,
//!   `[428]` for closes, `[500]` for protocol errors), so a log never passes off a local guess as
//!   something the server said.
//! - [`is_terminal`](DisconnectReason::is_terminal): whether Tether stops instead of reconnecting.
//! - [`description`](DisconnectReason::description) and [`advice`](DisconnectReason::advice):
//!   a short label for log lines and a paragraph for humans (what happened, why, what to do).
//!
//! Stanzas become reasons through [`DisconnectReason::from_stream_error`],
//! [`DisconnectReason::from_failure`] and [`DisconnectReason::from_stanza`]:
//!
//! ```text
//! <stream:error>   <conflict type=replaced> ─────────────► Replaced                    (440)
//!                  <conflict type=device_removed> ───────► LoggedOut{DeviceRemoved}   (code|[401])
//!                  <conflict type=other> ────────────────► LoggedOut{Conflict}        (code|[401])
//!                  code 515 ─► RestartRequired   401, 516 ─► LoggedOut{StreamCode}
//!                  code 409, 440 ─► Replaced     429 ─► RateLimited   503 ─► ServiceUnavailable
//!                  other code ─► StreamError{code}       no code (ack, xml-not-well-formed, …)
//!                                                         ─► StreamError{code: None}   ([500])
//! <failure reason> 401, 403, 406 ─► LoggedOut{Failure}   402 ─► TemporaryBan{until, code}
//!                  405 ─► ClientOutdated   411 ─► MultideviceMismatch   500 ─► ServerError
//!                  503 ─► ServiceUnavailable   400, 409, 415, 418, 501, other, missing
//!                                                         ─► ConnectFailure{reason}
//! <xmlstreamend/> ──────────────────────────────────────► ConnectionLost{StreamEnd}   ([428])
//! ```
//!
//! The log-line helpers keep the field report's shapes: [`DisconnectReason::closed_line`],
//! [`reconnecting_line`] and [`DisconnectReason::invalidated_line`] (logouts only: a 515 is a
//! restart, never an invalidated session).

mod advice;
mod parse;
mod transport;

use std::fmt;
use std::time::Duration;

use crate::binary::Node;
use crate::cert::CertError;
use crate::noise::HandshakeError;

pub use transport::TransportFailure;

/// Why a connection ended. See the module docs for the stanza mapping and DESIGN §4 for policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `<stream:error code="515">`: the server wants a fresh connection (normal after linking).
    RestartRequired {
        /// The stanza.
        raw: Option<Node>,
    },
    /// The transport went away without a server verdict.
    ConnectionLost {
        /// How it was lost.
        cause: LostCause,
    },
    /// `<stream:error code="503">` or `<failure reason="503">`: the server is restarting or busy.
    ServiceUnavailable {
        /// The stanza.
        raw: Option<Node>,
    },
    /// `<failure reason="500">`: an internal server error.
    ServerError {
        /// The stanza.
        raw: Option<Node>,
    },
    /// `<stream:error code="429">`: reconnecting too often.
    RateLimited {
        /// The stanza.
        raw: Option<Node>,
    },
    /// Any other `<stream:error>`, with or without a code (`<ack/>`-shaped,
    /// `<xml-not-well-formed/>`, …). Never treated as a bad session.
    StreamError {
        /// The `code` attribute, when present and numeric.
        code: Option<u16>,
        /// The stanza.
        raw: Option<Node>,
    },
    /// Another connection with the same credentials took over (440, `<conflict
    /// type="replaced"/>`, stream 409).
    Replaced {
        /// The stanza.
        raw: Option<Node>,
    },
    /// The companion was unlinked or the account can no longer log in.
    LoggedOut {
        /// Which stanza said so.
        reason: LogoutReason,
        /// The stanza.
        raw: Option<Node>,
    },
    /// `<failure reason="402">`: the account is temporarily banned.
    TemporaryBan {
        /// When the ban ends (Unix seconds): `unix_now` + the `expire` attribute.
        until: Option<u64>,
        /// The ban duration as received (`expire`, seconds).
        expire: Option<Duration>,
        /// The ban sub-reason (`code` attribute: 101 too many unknown recipients, 102 blocked
        /// by many, 103 groups with strangers, 104 same message to many, 106 broadcast list).
        code: Option<u16>,
        /// The stanza.
        raw: Option<Node>,
    },
    /// `<failure reason="405">`: the server refuses this client version.
    ClientOutdated {
        /// The stanza.
        raw: Option<Node>,
    },
    /// `<failure>` with a reason Tether cannot act on (400, 409, 415, 418, 501, other).
    ConnectFailure {
        /// The `reason` attribute; `None` when missing or not a number.
        reason: Option<u16>,
        /// The stanza.
        raw: Option<Node>,
    },
    /// 411: the phone that scanned the QR does not support multi-device.
    MultideviceMismatch {
        /// The stanza.
        raw: Option<Node>,
    },
    /// Every QR ref was shown and none was scanned.
    QrCodesExhausted,
    /// The server certificate's validity ended before `unix_now` (often a clock ahead).
    CertificateExpired {
        /// The local Unix time used.
        now: u64,
        /// The certificate's end of validity.
        not_after: u64,
    },
    /// The server certificate's validity starts after `unix_now` (often a clock behind).
    CertificateNotYetValid {
        /// The local Unix time used.
        now: u64,
        /// The certificate's start of validity.
        not_before: u64,
    },
    /// The server certificate chain did not verify.
    CertificateInvalid {
        /// What failed.
        why: CertError,
    },
    /// The Noise handshake failed.
    HandshakeFailed {
        /// What failed.
        why: HandshakeError,
    },
    /// The peer sent something Tether cannot parse or decrypt.
    ProtocolError {
        /// What was wrong.
        fault: ProtocolFault,
    },
    /// Persisting credentials failed; Tether never proceeds on unsaved credentials.
    StoreFailure {
        /// The store's complaint.
        detail: String,
    },
    /// `maxRetries` reconnects failed in a row.
    RetriesExhausted {
        /// How many retries were made.
        attempts: u32,
        /// The reason of the last disconnect.
        last: Box<Self>,
    },
    /// The application asked to disconnect.
    LocalShutdown,
}

/// How a transport was lost ([`DisconnectReason::ConnectionLost`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostCause {
    /// No whole frame arrived within `keepAlive.timeoutMs` of the first unanswered send.
    DeadSocket,
    /// A frame the server started did not complete within `keepAlive.frameTimeoutMs` (the
    /// peer, or something on the path, trickles bytes).
    FrameTimeout,
    /// The transport closed (WebSocket close frame or end of stream).
    TransportClosed {
        /// The WebSocket close code, when there was a close frame.
        close_code: Option<u16>,
    },
    /// The server ended the stream with `<xmlstreamend/>`.
    StreamEnd,
    /// The transport failed (DNS, TCP, TLS, proxy, WebSocket upgrade, I/O error).
    TransportFailed {
        /// Which step failed and how, as the adapter saw it.
        failure: TransportFailure,
    },
    /// The transport did not open in time.
    ConnectTimeout,
    /// The Noise handshake did not complete in time.
    HandshakeTimeout,
}

/// Which stanza logged the companion out ([`DisconnectReason::LoggedOut`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutReason {
    /// `<failure reason=…>`: 401 logged out from another device, 403 main device gone (WA Web:
    /// locked), 406 unknown logout (WA Web: banned).
    Failure(u16),
    /// `<stream:error code=…>` without a conflict child: 401 unauthorized, 516 device removed.
    StreamCode(u16),
    /// `<conflict type="device_removed"/>`: the companion was unlinked from the phone.
    DeviceRemoved {
        /// The stream error's code attribute, if any.
        code: Option<u16>,
    },
    /// The application logged out (`Command::Logout`, `tether logout`): the companion asked the
    /// server to remove it.
    Local,
    /// A `<conflict>` of any other type (or none).
    Conflict {
        /// The `type` attribute, empty when absent.
        kind: String,
        /// The stream error's code attribute, if any.
        code: Option<u16>,
    },
}

/// What made the peer's input unusable ([`DisconnectReason::ProtocolError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolFault {
    /// The byte stream's framing was invalid.
    Frame(crate::frame::FrameError),
    /// A frame failed to decrypt (or a nonce counter ran out).
    Transport(crate::noise::TransportError),
    /// A node failed to decode.
    Decode(crate::binary::DecodeError),
    /// A well-formed stanza arrived where the protocol does not allow it.
    Unexpected {
        /// What was expected instead (written by Tether, never peer data).
        expected: &'static str,
        /// The stanza.
        raw: Option<Node>,
    },
}

/// A disconnect code: sent by the server, assigned locally, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// A code the server sent (or the table's well-known code for the stanza). Prints bare.
    Server(u16),
    /// A code Tether assigned (timeouts 408, closes 428, protocol errors 500). Prints in
    /// brackets.
    Local(u16),
    /// The reason has no code (certificate, handshake, store, retries, shutdown). Prints `-`.
    Unnumbered,
}

impl ReasonCode {
    /// The number, whether server-sent or local.
    pub fn number(self) -> Option<u16> {
        match self {
            Self::Server(n) | Self::Local(n) => Some(n),
            Self::Unnumbered => None,
        }
    }

    /// Whether Tether assigned this code itself.
    pub fn is_local(self) -> bool {
        matches!(self, Self::Local(_))
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server(n) => write!(f, "{n}"),
            Self::Local(n) => write!(f, "[{n}]"),
            Self::Unnumbered => f.write_str("-"),
        }
    }
}

/// The local code for timeouts (`[408]`).
const LOCAL_TIMEOUT: u16 = 408;
/// The local code for closed transports (`[428]`).
const LOCAL_CLOSED: u16 = 428;
/// The local code for protocol errors and code-less stream errors (`[500]`).
const LOCAL_PROTOCOL: u16 = 500;
/// The local code for a logout that arrived without a number (`[401]`).
const LOCAL_LOGGED_OUT: u16 = 401;

impl DisconnectReason {
    /// The code to show: the server's code, or the local code in brackets (DESIGN §4).
    pub fn code(&self) -> ReasonCode {
        use ReasonCode::{Local, Server, Unnumbered};
        match self {
            Self::RestartRequired { .. } => Server(515),
            Self::ConnectionLost { cause } => match cause {
                LostCause::DeadSocket
                | LostCause::FrameTimeout
                | LostCause::ConnectTimeout
                | LostCause::HandshakeTimeout => Local(LOCAL_TIMEOUT),
                LostCause::TransportClosed { .. }
                | LostCause::StreamEnd
                | LostCause::TransportFailed { .. } => Local(LOCAL_CLOSED),
            },
            Self::ServiceUnavailable { .. } => Server(503),
            Self::ServerError { .. } => Server(500),
            Self::RateLimited { .. } => Server(429),
            Self::StreamError { code, .. } => code.map_or(Local(LOCAL_PROTOCOL), Server),
            Self::Replaced { .. } => Server(440),
            Self::LoggedOut { reason, .. } => match reason {
                LogoutReason::Failure(n) | LogoutReason::StreamCode(n) => Server(*n),
                LogoutReason::DeviceRemoved { code } | LogoutReason::Conflict { code, .. } => {
                    code.map_or(Local(LOCAL_LOGGED_OUT), Server)
                }
                LogoutReason::Local => Local(LOCAL_LOGGED_OUT),
            },
            Self::TemporaryBan { .. } => Server(402),
            Self::ClientOutdated { .. } => Server(405),
            Self::ConnectFailure { reason, .. } => reason.map_or(Local(LOCAL_PROTOCOL), Server),
            Self::MultideviceMismatch { .. } => Server(411),
            Self::QrCodesExhausted => Local(LOCAL_TIMEOUT),
            Self::ProtocolError { .. } => Local(LOCAL_PROTOCOL),
            Self::CertificateExpired { .. }
            | Self::CertificateNotYetValid { .. }
            | Self::CertificateInvalid { .. }
            | Self::HandshakeFailed { .. }
            | Self::StoreFailure { .. }
            | Self::RetriesExhausted { .. }
            | Self::LocalShutdown => Unnumbered,
        }
    }

    /// Whether Tether stops instead of reconnecting the first time this reason occurs.
    ///
    /// Not terminal here but possibly terminal later, by the reconnect policy:
    /// `ClientOutdated` (one version refresh, then stop), `CertificateInvalid` and
    /// `HandshakeFailed` (stop after 5 in a row), any reason once `maxRetries` is used up.
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::Replaced { .. }
            | Self::LoggedOut { .. }
            | Self::TemporaryBan { .. }
            | Self::ConnectFailure { .. }
            | Self::MultideviceMismatch { .. }
            | Self::QrCodesExhausted
            | Self::StoreFailure { .. }
            | Self::RetriesExhausted { .. }
            | Self::LocalShutdown => true,
            Self::RestartRequired { .. }
            | Self::ConnectionLost { .. }
            | Self::ServiceUnavailable { .. }
            | Self::ServerError { .. }
            | Self::RateLimited { .. }
            | Self::StreamError { .. }
            | Self::ClientOutdated { .. }
            | Self::CertificateExpired { .. }
            | Self::CertificateNotYetValid { .. }
            | Self::CertificateInvalid { .. }
            | Self::HandshakeFailed { .. }
            | Self::ProtocolError { .. } => false,
        }
    }

    /// Whether the credentials must be quarantined (kept aside, restorable, never deleted).
    pub fn invalidates_session(&self) -> bool {
        matches!(self, Self::LoggedOut { .. })
    }

    /// A short label for log lines: `"Connection timed out"`, `"Stream error"`, …
    pub fn description(&self) -> &'static str {
        advice::description(self)
    }

    /// What happened, why, and what to do next (for operators; no peer data).
    pub fn advice(&self) -> &'static str {
        advice::advice(self)
    }

    /// The stanza this reason came from, when there was one.
    pub fn raw(&self) -> Option<&Node> {
        match self {
            Self::RestartRequired { raw }
            | Self::ServiceUnavailable { raw }
            | Self::ServerError { raw }
            | Self::RateLimited { raw }
            | Self::StreamError { raw, .. }
            | Self::Replaced { raw }
            | Self::LoggedOut { raw, .. }
            | Self::TemporaryBan { raw, .. }
            | Self::ClientOutdated { raw }
            | Self::ConnectFailure { raw, .. }
            | Self::MultideviceMismatch { raw }
            | Self::ProtocolError {
                fault: ProtocolFault::Unexpected { raw, .. },
            } => raw.as_ref(),
            Self::RetriesExhausted { last, .. } => last.raw(),
            Self::ConnectionLost { .. }
            | Self::QrCodesExhausted
            | Self::CertificateExpired { .. }
            | Self::CertificateNotYetValid { .. }
            | Self::CertificateInvalid { .. }
            | Self::HandshakeFailed { .. }
            | Self::ProtocolError { .. }
            | Self::StoreFailure { .. }
            | Self::LocalShutdown => None,
        }
    }

    /// The reason for a refused certificate chain: validity failures become
    /// `CertificateExpired` / `CertificateNotYetValid` (clock skew is the usual cause), every
    /// other failure `CertificateInvalid`.
    pub fn from_cert_error(error: CertError) -> Self {
        match error {
            CertError::Expired { now, not_after, .. } => {
                Self::CertificateExpired { now, not_after }
            }
            CertError::NotYetValid {
                now, not_before, ..
            } => Self::CertificateNotYetValid { now, not_before },
            why => Self::CertificateInvalid { why },
        }
    }

    /// `Connection closed. Reason: 408 (Connection timed out)` — the field report's shape, with
    /// the true code (bracketed when local) and description, followed by the
    /// [`detail`](Self::detail) when there is one
    /// (`… Reason: [428] (Connection refused): 127.0.0.1:9 refused the connection`).
    pub fn closed_line(&self) -> String {
        match self.detail() {
            Some(detail) => format!("Connection closed. Reason: {self}: {detail}"),
            None => format!("Connection closed. Reason: {self}"),
        }
    }

    /// The specifics behind the description, for operators: which host did not resolve, what
    /// the proxy answered, the TLS error, the WebSocket close code, the certificate or store
    /// error. `None` when the description says it all. Never contains secrets.
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::ConnectionLost { cause } => match cause {
                LostCause::TransportFailed { failure } => Some(failure.to_string()),
                LostCause::TransportClosed {
                    close_code: Some(code),
                } => Some(format!("WebSocket close code {code}")),
                LostCause::TransportClosed { close_code: None }
                | LostCause::DeadSocket
                | LostCause::FrameTimeout
                | LostCause::StreamEnd
                | LostCause::ConnectTimeout
                | LostCause::HandshakeTimeout => None,
            },
            Self::CertificateInvalid { why } => Some(why.to_string()),
            Self::HandshakeFailed { why } => Some(why.to_string()),
            Self::StoreFailure { detail } => Some(detail.clone()),
            Self::ProtocolError {
                fault: ProtocolFault::Unexpected { expected, .. },
            } => Some(format!("expected {expected}")),
            Self::RetriesExhausted { last, .. } => Some(match last.detail() {
                Some(detail) => format!("last: {last}: {detail}"),
                None => format!("last: {last}"),
            }),
            Self::RestartRequired { .. }
            | Self::ServiceUnavailable { .. }
            | Self::ServerError { .. }
            | Self::RateLimited { .. }
            | Self::StreamError { .. }
            | Self::Replaced { .. }
            | Self::LoggedOut { .. }
            | Self::TemporaryBan { .. }
            | Self::ClientOutdated { .. }
            | Self::ConnectFailure { .. }
            | Self::MultideviceMismatch { .. }
            | Self::QrCodesExhausted
            | Self::CertificateExpired { .. }
            | Self::CertificateNotYetValid { .. }
            | Self::ProtocolError { .. }
            | Self::LocalShutdown => None,
        }
    }

    /// The transport failure behind this reason, when it is one (for a typed `cause` field).
    pub fn transport_failure(&self) -> Option<&TransportFailure> {
        match self {
            Self::ConnectionLost {
                cause: LostCause::TransportFailed { failure },
            } => Some(failure),
            _ => None,
        }
    }

    /// `Session invalidated. Please re-scan QR code.` for a logout, `None` for anything else
    /// (in particular not for 515, which the field report's client conflated with it).
    pub fn invalidated_line(&self) -> Option<&'static str> {
        self.invalidates_session()
            .then_some("Session invalidated. Please re-scan QR code.")
    }
}

impl From<CertError> for DisconnectReason {
    /// See [`DisconnectReason::from_cert_error`].
    fn from(error: CertError) -> Self {
        Self::from_cert_error(error)
    }
}

impl From<HandshakeError> for DisconnectReason {
    fn from(why: HandshakeError) -> Self {
        Self::HandshakeFailed { why }
    }
}

impl From<ProtocolFault> for DisconnectReason {
    fn from(fault: ProtocolFault) -> Self {
        Self::ProtocolError { fault }
    }
}

impl From<crate::frame::FrameError> for ProtocolFault {
    fn from(error: crate::frame::FrameError) -> Self {
        Self::Frame(error)
    }
}

impl From<crate::noise::TransportError> for ProtocolFault {
    fn from(error: crate::noise::TransportError) -> Self {
        Self::Transport(error)
    }
}

impl From<crate::binary::DecodeError> for ProtocolFault {
    fn from(error: crate::binary::DecodeError) -> Self {
        Self::Decode(error)
    }
}

impl fmt::Display for DisconnectReason {
    /// `515 (Restart required)`, `[408] (Connection timed out)`, or just the description for a
    /// reason without a code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code() {
            ReasonCode::Unnumbered => f.write_str(self.description()),
            code @ (ReasonCode::Server(_) | ReasonCode::Local(_)) => {
                write!(f, "{code} ({})", self.description())
            }
        }
    }
}

/// `Reconnecting in 5s... (attempt 3/10)`; with unlimited retries `(attempt 3)`; for a
/// reconnect that does not count as a retry (a 515 restart) `(not counted as a retry)`.
///
/// The delay prints in whole seconds when it is one, else with one decimal (`1.2s`); `attempt`
/// is the retry number (0 when not counted) and `max_attempts` the configured `maxRetries`.
pub fn reconnecting_line(delay: Duration, attempt: u32, max_attempts: Option<u32>) -> String {
    let tenths = (delay.as_millis().saturating_add(50)) / 100;
    let secs = if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    };
    let count = match (attempt, max_attempts) {
        (0, _) => "not counted as a retry".to_owned(),
        (n, Some(max)) => format!("attempt {n}/{max}"),
        (n, None) => format!("attempt {n}"),
    };
    format!("Reconnecting in {secs}s... ({count})")
}
