//! The status record the owner keeps in the store ([`StoreStatus`]: last connected, last
//! disconnect, counters, skew) so `tether status` and `doctor` can show it after the owner
//! exits. Counters in the store count since the store was created; the live ones since start.

use serde_json::{Value, json};
use tether_store_redb::{LastDisconnect, RedbStore, StoreStatus};

use crate::snapshot::LiveStatus;

/// The separator between a recorded reason's description and its advice.
const ADVICE: &str = " — advice: ";

/// Marks a reason whose code Tether assigned locally (`[408]`, `[428]`).
const LOCAL: &str = " (local code)";

/// The recorded status as JSON in the live status's shape (`null` when never recorded).
pub(crate) fn to_json(status: Option<&StoreStatus>) -> Value {
    let Some(s) = status else { return Value::Null };
    let last_reason = s.last_disconnect.as_ref().map(|d| {
        let (head, advice) = d
            .reason
            .split_once(ADVICE)
            .map_or((d.reason.as_str(), None), |(a, b)| (a, Some(b)));
        // A code Tether assigned locally prints in brackets, as the reason itself prints it.
        let (description, local) = head
            .strip_suffix(LOCAL)
            .map_or((head, false), |h| (h, true));
        let code = match (d.code, local) {
            (Some(c), true) => format!("[{c}]"),
            (Some(c), false) => c.to_string(),
            (None, _) => "-".to_owned(),
        };
        json!({
            "code": code,
            "description": description,
            "advice": advice,
            "at": d.at_unix,
        })
    });
    json!({
        "last_connected": s.last_connected_unix,
        "last_reason": last_reason,
        "connects": s.connects,
        "reconnects": s.reconnects,
        "skew_secs": s.clock_skew_ms.map(|ms| ms / 1000),
    })
}

/// The record to write: the store's counters at start plus this run's.
pub(crate) fn merge(base: &StoreStatus, live: &LiveStatus) -> StoreStatus {
    StoreStatus {
        last_connected_unix: live.last_connected.or(base.last_connected_unix),
        last_disconnect: live
            .last_reason
            .as_ref()
            .map(|r| LastDisconnect {
                at_unix: r.at,
                code: r.number.map(u32::from),
                reason: format!(
                    "{}{}{ADVICE}{}",
                    r.description,
                    if r.code.starts_with('[') { LOCAL } else { "" },
                    r.advice
                ),
            })
            .or_else(|| base.last_disconnect.clone()),
        connects: base.connects.saturating_add(live.connects),
        reconnects: base.reconnects.saturating_add(live.reconnects),
        clock_skew_ms: live
            .skew_secs
            .map(|s| s.saturating_mul(1000))
            .or(base.clock_skew_ms),
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
    use tether_core::reason::{DisconnectReason, LostCause};

    #[test]
    fn a_recorded_reason_reads_back_with_its_code_form_and_advice() {
        let reason = DisconnectReason::ConnectionLost {
            cause: LostCause::DeadSocket,
        };
        let live = LiveStatus {
            last_reason: Some(ReasonJson::new(&reason)),
            connects: 2,
            reconnects: 1,
            skew_secs: Some(-45),
            ..LiveStatus::default()
        };
        let base = StoreStatus {
            connects: 5,
            ..StoreStatus::default()
        };
        let merged = merge(&base, &live);
        assert_eq!(merged.connects, 7);
        let v = to_json(Some(&merged));
        assert_eq!(v["last_reason"]["code"], reason.code().to_string());
        assert_eq!(v["last_reason"]["description"], reason.description());
        assert_eq!(v["last_reason"]["advice"], reason.advice());
        assert_eq!(v["skew_secs"], -45);
    }
}
