//! [`StoreStatus`]: what the owner records about its connection, for `tether status`/`doctor`.
//!
//! The owner writes the whole record with [`crate::RedbStore::record_status`] in its own
//! durable transaction whenever something worth reporting happens (connected, disconnected,
//! clock skew measured); anyone reads it back through [`crate::check`] when no owner runs.
//! It is not part of the identity: quarantine and restore leave it alone, and it holds no
//! secret.

use std::fmt;

use prost::Message;

use crate::owner::format_unix;
use crate::record::RecordError;

/// The last disconnect, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastDisconnect {
    /// When, in Unix seconds.
    pub at_unix: u64,
    /// The reason's numeric code (e.g. 401, 440, 515), when it has one.
    pub code: Option<u32>,
    /// The reason in words.
    pub reason: String,
    /// The specifics (which host did not resolve, the TLS error, …), when there were any.
    pub detail: Option<String>,
}

/// The owner's connection status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// When the connection was last logged in (`<success>`), in Unix seconds.
    pub last_connected_unix: Option<u64>,
    /// The last disconnect.
    pub last_disconnect: Option<LastDisconnect>,
    /// Successful logins since the store was created.
    pub connects: u64,
    /// Reconnect attempts since the store was created.
    pub reconnects: u64,
    /// The last measured clock skew (server minus local), in milliseconds.
    pub clock_skew_ms: Option<i64>,
    /// When the account's temporary ban (402) ends, in Unix seconds: `tether run` refuses to
    /// connect before it.
    pub banned_until_unix: Option<u64>,
}

impl fmt::Display for StoreStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last_connected_unix {
            Some(at) => write!(f, "last connected {}", format_unix(at))?,
            None => f.write_str("never connected")?,
        }
        if let Some(d) = &self.last_disconnect {
            write!(f, "; last disconnect {}: ", format_unix(d.at_unix))?;
            if let Some(code) = d.code {
                write!(f, "{code} ")?;
            }
            f.write_str(&d.reason)?;
            if let Some(detail) = &d.detail {
                write!(f, " ({detail})")?;
            }
        }
        write!(
            f,
            "; {} connects, {} reconnects",
            self.connects, self.reconnects
        )?;
        if let Some(skew) = self.clock_skew_ms {
            write!(f, "; clock skew {skew} ms")?;
        }
        if let Some(until) = self.banned_until_unix {
            write!(f, "; banned until {}", format_unix(until))?;
        }
        Ok(())
    }
}

/// The on-disk form (table `status`, key `current`).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct StatusRecord {
    #[prost(uint64, optional, tag = "1")]
    last_connected_unix: Option<u64>,
    #[prost(uint64, optional, tag = "2")]
    disconnect_at_unix: Option<u64>,
    #[prost(uint32, optional, tag = "3")]
    disconnect_code: Option<u32>,
    #[prost(string, optional, tag = "4")]
    disconnect_reason: Option<String>,
    #[prost(uint64, tag = "5")]
    connects: u64,
    #[prost(uint64, tag = "6")]
    reconnects: u64,
    #[prost(sint64, optional, tag = "7")]
    clock_skew_ms: Option<i64>,
    #[prost(uint64, optional, tag = "8")]
    banned_until_unix: Option<u64>,
    #[prost(string, optional, tag = "9")]
    disconnect_detail: Option<String>,
}

/// Encodes a status record.
pub(crate) fn encode(status: &StoreStatus) -> Vec<u8> {
    let d = status.last_disconnect.as_ref();
    StatusRecord {
        last_connected_unix: status.last_connected_unix,
        disconnect_at_unix: d.map(|d| d.at_unix),
        disconnect_code: d.and_then(|d| d.code),
        disconnect_reason: d.map(|d| d.reason.clone()),
        connects: status.connects,
        reconnects: status.reconnects,
        clock_skew_ms: status.clock_skew_ms,
        banned_until_unix: status.banned_until_unix,
        disconnect_detail: d.and_then(|d| d.detail.clone()),
    }
    .encode_to_vec()
}

/// Decodes a status record.
pub(crate) fn decode(bytes: &[u8]) -> Result<StoreStatus, RecordError> {
    let r = StatusRecord::decode(bytes).map_err(|e| RecordError::Malformed {
        what: "status",
        reason: e.to_string(),
    })?;
    let last_disconnect = match (r.disconnect_at_unix, r.disconnect_reason) {
        (Some(at_unix), Some(reason)) => Some(LastDisconnect {
            at_unix,
            code: r.disconnect_code,
            reason,
            detail: r.disconnect_detail,
        }),
        _ => None,
    };
    Ok(StoreStatus {
        last_connected_unix: r.last_connected_unix,
        last_disconnect,
        connects: r.connects,
        reconnects: r.reconnects,
        clock_skew_ms: r.clock_skew_ms,
        banned_until_unix: r.banned_until_unix,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn status_round_trips_and_reads_as_one_line() {
        let status = StoreStatus {
            last_connected_unix: Some(1_764_000_000),
            last_disconnect: Some(LastDisconnect {
                at_unix: 1_764_000_060,
                code: Some(440),
                reason: "connection replaced".into(),
                detail: None,
            }),
            connects: 3,
            reconnects: 7,
            clock_skew_ms: Some(-1500),
            banned_until_unix: None,
        };
        assert_eq!(decode(&encode(&status)).unwrap(), status);
        assert_eq!(
            status.to_string(),
            "last connected 2025-11-24 16:00:00 UTC; last disconnect 2025-11-24 16:01:00 UTC: \
             440 connection replaced; 3 connects, 7 reconnects; clock skew -1500 ms"
        );
        assert_eq!(
            decode(&encode(&StoreStatus::default())).unwrap(),
            StoreStatus::default()
        );
    }
}
