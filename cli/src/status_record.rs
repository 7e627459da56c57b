//! The status record the owner keeps in the store ([`StoreStatus`]: last connected, last
//! disconnect with its cause, counters, skew, the end of a ban) so `tether status`, `doctor`
//! and the next `run` can use it after the owner exits. Counters in the store count since the
//! store was created; the live ones since start. Times are Unix milliseconds in the JSON.

use serde_json::{Value, json};
use tether_store_redb::{LastDisconnect, RedbStore, StoreStatus};

use crate::snapshot::LiveStatus;

/// The separator between a recorded reason's description and its advice.
const ADVICE: &str = " — advice: ";

/// Marks a reason whose code Tether assigned locally (`[408]`, `[428]`).
const LOCAL: &str = " (local code)";

/// Marks a terminal reason.
const TERMINAL: &str = " (terminal)";

/// The recorded status as JSON in the live status's shape (`null` when never recorded).
pub(crate) fn to_json(status: Option<&StoreStatus>) -> Value {
    let Some(s) = status else { return Value::Null };
    let last_reason = s.last_disconnect.as_ref().map(|d| {
        let (head, advice) = d
            .reason
            .split_once(ADVICE)
            .map_or((d.reason.as_str(), None), |(a, b)| (a, Some(b)));
        let (head, terminal) = head
            .strip_suffix(TERMINAL)
            .map_or((head, false), |h| (h, true));
        let (description, local) = head
            .strip_suffix(LOCAL)
            .map_or((head, false), |h| (h, true));
        json!({
            "code": d.code,
            "local": local,
            "reason": description,
            "detail": d.detail,
            "advice": advice,
            "terminal": terminal,
            "at_ms": d.at_unix.saturating_mul(1000),
        })
    });
    json!({
        "last_connected_ms": s.last_connected_unix.map(|t| t.saturating_mul(1000)),
        "last_reason": last_reason,
        "connects": s.connects,
        "reconnects": s.reconnects,
        "skew_ms": s.clock_skew_ms,
        "banned_until_ms": s.banned_until_unix.map(|t| t.saturating_mul(1000)),
    })
}

/// The record to write: the store's counters at start plus this run's.
pub(crate) fn merge(base: &StoreStatus, live: &LiveStatus) -> StoreStatus {
    StoreStatus {
        last_connected_unix: live
            .last_connected_ms
            .map(|ms| ms / 1000)
            .or(base.last_connected_unix),
        last_disconnect: live
            .last_reason
            .as_ref()
            .map(|r| LastDisconnect {
                at_unix: r.at_ms / 1000,
                code: r.code.map(u32::from),
                reason: format!(
                    "{}{}{}{ADVICE}{}",
                    r.reason,
                    if r.local { LOCAL } else { "" },
                    if r.terminal { TERMINAL } else { "" },
                    r.advice
                ),
                detail: r.detail.clone(),
            })
            .or_else(|| base.last_disconnect.clone()),
        connects: base.connects.saturating_add(live.connects),
        reconnects: base.reconnects.saturating_add(live.reconnects),
        clock_skew_ms: live.skew_ms.or(base.clock_skew_ms),
        banned_until_unix: match &live.last_reason {
            // A newer disconnect decides: a ban sets the end, anything else after it clears it.
            Some(_) => live.banned_until_ms.map(|ms| ms / 1000),
            None => base.banned_until_unix,
        },
    }
}

/// Records `live` (on top of `base`) in the store.
pub(crate) fn write(
    store: &RedbStore,
    base: &StoreStatus,
    live: &LiveStatus,
) -> Result<(), String> {
    store
        .record_status(&merge(base, live))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ReasonJson;
    use tether_core::reason::{DisconnectReason, LostCause, TransportFailure};

    #[test]
    fn a_recorded_reason_reads_back_as_the_live_one() {
        let reason = DisconnectReason::ConnectionLost {
            cause: LostCause::TransportFailed {
                failure: TransportFailure::Dns {
                    host: "web.whatsapp.com".into(),
                    detail: "no such host".into(),
                },
            },
        };
        let live = LiveStatus {
            last_reason: Some(ReasonJson::new(&reason)),
            connects: 2,
            reconnects: 1,
            skew_ms: Some(-45_000),
            ..LiveStatus::default()
        };
        let base = StoreStatus {
            connects: 5,
            ..StoreStatus::default()
        };
        let merged = merge(&base, &live);
        assert_eq!(merged.connects, 7);
        let v = to_json(Some(&merged));
        let served = serde_json::to_value(live.last_reason.as_ref().unwrap()).unwrap();
        for key in ["code", "local", "reason", "detail", "advice", "terminal"] {
            assert_eq!(v["last_reason"][key], served[key], "{key}");
        }
        assert_eq!(v["last_reason"]["code"], 428);
        assert_eq!(v["last_reason"]["local"], true);
        assert_eq!(v["skew_ms"], -45_000);
    }

    #[test]
    fn a_ban_is_recorded_until_a_later_disconnect() {
        let ban = DisconnectReason::TemporaryBan {
            until: Some(2_000_000_000),
            expire: None,
            code: None,
            raw: None,
        };
        let live = LiveStatus {
            last_reason: Some(ReasonJson::new(&ban)),
            banned_until_ms: Some(2_000_000_000_000),
            ..LiveStatus::default()
        };
        let merged = merge(&StoreStatus::default(), &live);
        assert_eq!(merged.banned_until_unix, Some(2_000_000_000));
        // A later run that only connects keeps it; a later disconnect without a ban clears it.
        assert_eq!(
            merge(&merged, &LiveStatus::default()).banned_until_unix,
            Some(2_000_000_000)
        );
        let closed = LiveStatus {
            last_reason: Some(ReasonJson::new(&DisconnectReason::LocalShutdown)),
            ..LiveStatus::default()
        };
        assert_eq!(merge(&merged, &closed).banned_until_unix, None);
    }
}
