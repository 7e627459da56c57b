//! The key-store files beside `creds.json`: `<type>-<id>.json`.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use tether_core::creds::Credentials;

use super::creds::key_pair_from;
use super::json::{b64, bytes, file_name, key_pair_value, unb64};
use super::{BaileysError, BaileysSummary};
use crate::foreign::Foreign;

type R<T> = Result<T, BaileysError>;

/// `extra_keys` type of a key-store file kept verbatim, keyed by its file stem.
pub(super) const FILE_TYPE: &str = "baileys-file";

const PRE_KEY: &str = "pre-key-";
const SYNC_KEY: &str = "app-state-sync-key-";
const VERSION: &str = "app-state-sync-version-";
const SESSION: &str = "session-";
const SENDER_KEY: &str = "sender-key-";
const SENDER_KEY_MEMORY: &str = "sender-key-memory-";

/// `AppStateSyncKeyData` (WAProto `Message.AppStateSyncKeyData`).
#[derive(Clone, PartialEq, Message)]
struct SyncKeyData {
    #[prost(bytes = "vec", optional, tag = "1")]
    key_data: Option<Vec<u8>>,
    #[prost(message, optional, tag = "2")]
    fingerprint: Option<Fingerprint>,
    #[prost(int64, optional, tag = "3")]
    timestamp: Option<i64>,
}

/// `AppStateSyncKeyFingerprint`.
#[derive(Clone, PartialEq, Message)]
struct Fingerprint {
    #[prost(uint32, optional, tag = "1")]
    raw_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    current_index: Option<u32>,
    #[prost(uint32, repeated, packed = "true", tag = "3")]
    device_indexes: Vec<u32>,
}

/// Reads every key-store file of `dir` into `creds` and `foreign`.
pub(super) fn read(
    dir: &Path,
    mut creds: Credentials,
    mut foreign: Foreign,
    summary: &mut BaileysSummary,
) -> R<(Credentials, Foreign)> {
    let entries = fs::read_dir(dir).map_err(|e| BaileysError::io("list", dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BaileysError::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        match name.strip_suffix(".json") {
            Some(stem) if is_file && name != "creds.json" => names.push(stem.to_owned()),
            _ if name == "creds.json" => {}
            _ => summary.ignored.push(name),
        }
    }
    names.sort();
    summary.ignored.sort();
    for stem in names {
        let file = dir.join(format!("{stem}.json"));
        let text = Zeroizing::new(fs::read(&file).map_err(|e| BaileysError::io("read", &file, e))?);
        let value: Value = serde_json::from_slice(&text).map_err(|e| BaileysError::Corrupt {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let verbatim = || Zeroizing::new(text.to_vec());
        if let Some(id) = stem.strip_prefix(PRE_KEY) {
            let id: u32 = id.parse().map_err(|_| {
                BaileysError::field(&file, "(file name)", "has no numeric pre-key id")
            })?;
            let pair = key_pair_from(Some(&value))
                .map_err(|problem| BaileysError::field(&file, "(pre-key)", problem))?;
            creds.pre_keys.insert(id, pair);
            summary.pre_keys += 1;
        } else if let Some(id) = stem.strip_prefix(SYNC_KEY)
            && let Some(key_id) = unb64(&id.replace("__", "/"))
        {
            let data = sync_key_from(&value, &file)?;
            creds
                .app_state_sync_keys
                .insert(Bytes::from(key_id), Bytes::from(data));
            summary.app_state_sync_keys += 1;
        } else if let Some(name) = stem.strip_prefix(VERSION) {
            creds
                .app_state_versions
                .insert(name.to_owned(), Bytes::from(text.to_vec()));
            summary.app_state_versions += 1;
        } else if let Some(id) = stem.strip_prefix(SESSION) {
            foreign.sessions.insert(id.to_owned(), verbatim());
            summary.sessions += 1;
        } else if let Some(id) = stem
            .strip_prefix(SENDER_KEY)
            .filter(|_| !stem.starts_with(SENDER_KEY_MEMORY))
        {
            foreign.sender_keys.insert(id.to_owned(), verbatim());
            summary.sender_keys += 1;
        } else {
            foreign
                .extra_keys
                .insert((FILE_TYPE.to_owned(), stem.clone()), verbatim());
            summary.other_files += 1;
        }
    }
    Ok((creds, foreign))
}

fn sync_key_from(value: &Value, file: &Path) -> R<Vec<u8>> {
    let bad = |field: &str, problem: &str| BaileysError::field(file, field, problem);
    let key_data = match value.get("keyData").filter(|v| !v.is_null()) {
        Some(v) => Some(bytes(v).ok_or_else(|| bad("keyData", "is not binary data"))?),
        None => None,
    };
    let u32_of = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let fingerprint = match value.get("fingerprint").filter(|v| !v.is_null()) {
        Some(fp) => Some(Fingerprint {
            raw_id: fp.get("rawId").and_then(u32_of),
            current_index: fp.get("currentIndex").and_then(u32_of),
            device_indexes: match fp.get("deviceIndexes") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(u32_of)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                    bad("fingerprint.deviceIndexes", "is not a list of numbers")
                })?,
                _ => Vec::new(),
            },
        }),
        None => None,
    };
    // protobufjs writes int64 as a decimal string; older files may hold a number.
    let timestamp = match value.get("timestamp").filter(|v| !v.is_null()) {
        Some(Value::String(s)) => Some(s.parse().map_err(|_| bad("timestamp", "is not a number"))?),
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| bad("timestamp", "is not a number"))?,
        ),
        None => None,
    };
    let mut out = SyncKeyData {
        key_data,
        fingerprint,
        timestamp,
    };
    let encoded = out.encode_to_vec();
    if let Some(k) = &mut out.key_data {
        zeroize::Zeroize::zeroize(k);
    }
    Ok(encoded)
}

fn sync_key_to(data: &[u8]) -> Option<Value> {
    let mut d = SyncKeyData::decode(data).ok()?;
    let mut obj = serde_json::Map::new();
    if let Some(k) = &d.key_data {
        obj.insert("keyData".into(), json!(b64(k)));
    }
    if let Some(fp) = &d.fingerprint {
        let mut f = serde_json::Map::new();
        if let Some(v) = fp.raw_id {
            f.insert("rawId".into(), json!(v));
        }
        if let Some(v) = fp.current_index {
            f.insert("currentIndex".into(), json!(v));
        }
        f.insert("deviceIndexes".into(), json!(fp.device_indexes));
        obj.insert("fingerprint".into(), Value::Object(f));
    }
    if let Some(t) = d.timestamp {
        obj.insert("timestamp".into(), json!(t.to_string()));
    }
    if let Some(k) = &mut d.key_data {
        zeroize::Zeroize::zeroize(k);
    }
    Some(Value::Object(obj))
}

/// Creates `dir` (0700) or checks that it is empty.
pub(super) fn prepare_target(dir: &Path) -> R<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BaileysError::TargetNotEmpty {
                    dir: dir.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| BaileysError::io("create", dir, e)),
        Err(e) => Err(BaileysError::io("open", dir, e)),
    }
}

/// Writes a new file with mode 0600, durably.
pub(super) fn write_file(path: &Path, content: &[u8]) -> R<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| BaileysError::io("create", path, e))?;
    file.write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(|e| BaileysError::io("write", path, e))
}

fn json_file(dir: &Path, name: &str, value: &Value) -> R<()> {
    let text = Zeroizing::new(
        serde_json::to_vec(value).map_err(|e| BaileysError::Corrupt {
            file: dir.join(name),
            reason: e.to_string(),
        })?,
    );
    write_file(&dir.join(format!("{}.json", file_name(name))), &text)
}

fn verbatim_file(dir: &Path, name: &str, content: &[u8]) -> R<PathBuf> {
    let path = dir.join(format!("{}.json", file_name(name)));
    write_file(&path, content)?;
    Ok(path)
}

/// Writes every key-store file of the identity into `dir`.
pub(super) fn write(dir: &Path, creds: &Credentials, foreign: &Foreign) -> R<BaileysSummary> {
    let mut summary = BaileysSummary::default();
    for (id, pair) in &creds.pre_keys {
        let value = key_pair_value(pair.private_bytes().as_slice(), &pair.public_bytes());
        json_file(dir, &format!("{PRE_KEY}{id}"), &value)?;
        summary.pre_keys += 1;
    }
    for (id, data) in &creds.app_state_sync_keys {
        let name = format!("{SYNC_KEY}{}", b64(id));
        match sync_key_to(data) {
            Some(value) => json_file(dir, &name, &value)?,
            None => {
                return Err(BaileysError::field(
                    &dir.join(format!("{}.json", file_name(&name))),
                    "(app-state sync key)",
                    "cannot be written: the stored key does not decode",
                ));
            }
        }
        summary.app_state_sync_keys += 1;
    }
    for (name, state) in &creds.app_state_versions {
        // Only a Baileys JSON document (what the import stores) is a state Baileys can read.
        if serde_json::from_slice::<Value>(state).is_err() {
            return Err(BaileysError::field(
                &dir.join(format!("{}.json", file_name(&format!("{VERSION}{name}")))),
                "(app-state version)",
                "cannot be written: the stored state is not in Baileys' JSON form",
            ));
        }
        verbatim_file(dir, &format!("{VERSION}{name}"), state)?;
        summary.app_state_versions += 1;
    }
    for (id, record) in &foreign.sessions {
        verbatim_file(dir, &format!("{SESSION}{id}"), record)?;
        summary.sessions += 1;
    }
    for (id, record) in &foreign.sender_keys {
        verbatim_file(dir, &format!("{SENDER_KEY}{id}"), record)?;
        summary.sender_keys += 1;
    }
    for ((kind, id), record) in &foreign.extra_keys {
        let name = if kind == FILE_TYPE {
            id.clone()
        } else {
            format!("{kind}-{id}")
        };
        verbatim_file(dir, &name, record)?;
        summary.other_files += 1;
    }
    Ok(summary)
}
