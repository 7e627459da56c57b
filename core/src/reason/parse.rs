//! Stanza → [`DisconnectReason`]: `<stream:error>` (session.md §6.1), `<failure>` (§6.2) and
//! `<xmlstreamend/>`, mapped by DESIGN §4's "from" column (DESIGN wins where §6 differs).
//!
//! The stanzas are peer data: every attribute is optional, numbers that do not parse are treated
//! as absent, and nothing here can panic.

use std::time::Duration;

use super::{DisconnectReason, LogoutReason, LostCause};
use crate::binary::Node;

impl DisconnectReason {
    /// The reason for a `<stream:error>` node (its tag is not checked).
    ///
    /// A `<conflict>` child decides first: `type="replaced"` → [`Self::Replaced`],
    /// `type="device_removed"` → [`LogoutReason::DeviceRemoved`], any other type →
    /// [`LogoutReason::Conflict`]. Otherwise the `code` attribute: 515 → restart, 401 and 516 →
    /// logged out, 409 and 440 → replaced, 429 → rate limited, 503 → service unavailable, any
    /// other number → [`Self::StreamError`] with it; no usable code (`<ack/>`-shaped,
    /// `<xml-not-well-formed/>`, empty) → `StreamError { code: None }`.
    pub fn from_stream_error(node: &Node) -> Self {
        let raw = Some(node.clone());
        let code = number_attr(node, "code");
        if let Some(conflict) = node.child("conflict") {
            return match conflict.attr_str("type") {
                Some("replaced") => Self::Replaced { raw },
                Some("device_removed") => Self::LoggedOut {
                    reason: LogoutReason::DeviceRemoved { code },
                    raw,
                },
                kind => Self::LoggedOut {
                    reason: LogoutReason::Conflict {
                        kind: kind.unwrap_or_default().to_owned(),
                        code,
                    },
                    raw,
                },
            };
        }
        match code {
            Some(515) => Self::RestartRequired { raw },
            Some(n @ (401 | 516)) => Self::LoggedOut {
                reason: LogoutReason::StreamCode(n),
                raw,
            },
            Some(409 | 440) => Self::Replaced { raw },
            Some(429) => Self::RateLimited { raw },
            Some(503) => Self::ServiceUnavailable { raw },
            code => Self::StreamError { code, raw },
        }
    }

    /// The reason for a `<failure>` node (sent instead of `<success>`; its tag is not checked).
    ///
    /// `reason` 401, 403, 406 → logged out; 402 → [`Self::TemporaryBan`] with `until =
    /// unix_now + expire` (seconds, saturating) and the ban `code`; 405 → client outdated; 411 →
    /// multi-device mismatch; 500 → server error; 503 → service unavailable; 400, 409, 415, 418,
    /// 501, any other number, or a missing reason → [`Self::ConnectFailure`].
    pub fn from_failure(node: &Node, unix_now: u64) -> Self {
        let raw = Some(node.clone());
        match number_attr(node, "reason") {
            Some(n @ (401 | 403 | 406)) => Self::LoggedOut {
                reason: LogoutReason::Failure(n),
                raw,
            },
            Some(402) => {
                let expire = number_attr::<u64>(node, "expire");
                Self::TemporaryBan {
                    until: expire.map(|secs| unix_now.saturating_add(secs)),
                    expire: expire.map(Duration::from_secs),
                    code: number_attr(node, "code"),
                    raw,
                }
            }
            Some(405) => Self::ClientOutdated { raw },
            Some(411) => Self::MultideviceMismatch { raw },
            Some(500) => Self::ServerError { raw },
            Some(503) => Self::ServiceUnavailable { raw },
            reason => Self::ConnectFailure { reason, raw },
        }
    }

    /// The reason a top-level stanza ends the connection with, if it is one of `stream:error`,
    /// `failure` or `xmlstreamend`; `None` for every other stanza.
    pub fn from_stanza(node: &Node, unix_now: u64) -> Option<Self> {
        match &*node.tag {
            "stream:error" => Some(Self::from_stream_error(node)),
            "failure" => Some(Self::from_failure(node, unix_now)),
            "xmlstreamend" => Some(Self::ConnectionLost {
                cause: LostCause::StreamEnd,
            }),
            _ => None,
        }
    }
}

/// A decimal attribute; absent, JID-valued, signed, padded or out-of-range values give `None`.
fn number_attr<T: std::str::FromStr>(node: &Node, key: &str) -> Option<T> {
    let text = node.attr_str(key)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
