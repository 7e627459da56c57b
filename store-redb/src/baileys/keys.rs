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
use tether_core::crypto::KeyPair;
use tether_core::records::RecordWrite;

use super::creds::key_pair_from;
use super::json::{b64, bytes, file_name, key_pair_value, unb64};
use super::shape::{Kind, Shape, shape};
use super::signal::Converted;
use super::{BaileysError, BaileysSummary, ImportOptions, SkipReason, Skipped};
use crate::files::{kind_of, read_bounded};
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
const LID_MAPPING: &str = super::signal::LID_MAPPING_PREFIX;

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

/// One entry of the auth directory, as listed (links are not followed).
struct Listed {
    name: String,
    path: PathBuf,
    what: Listing,
}

enum Listing {
    /// A regular `*.json` file other than `creds.json`: a key-store file, by its stem.
    Key(String),
    /// Not part of an auth directory (`README`, `.DS_Store`, a subdirectory): reported only.
    Foreign(SkipReason),
    /// Named like a key-store file but unusable (a link, a FIFO, a name that is not UTF-8).
    Unusable(SkipReason),
}

/// The record a key-store file holds, from its name.
enum KeyFile {
    PreKey(u32),
    SyncKey(Vec<u8>),
    Version(String),
    Session(String),
    SenderKey(String),
    LidMapping(String),
    Other(String),
}

impl KeyFile {
    /// Reads what a file name says, refusing names Baileys does not write (so that two files
    /// can never hold the same record: `pre-key-01.json` beside `pre-key-1.json`).
    fn classify(stem: &str) -> Result<Self, SkipReason> {
        let nonempty = |id: &str, what: &str| {
            if id.is_empty() {
                Err(SkipReason::BadName(format!("no {what} after the prefix")))
            } else {
                Ok(id.to_owned())
            }
        };
        if let Some(id) = stem.strip_prefix(PRE_KEY) {
            let canonical = !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && (id == "0" || !id.starts_with('0'));
            return match id.parse::<u32>() {
                Ok(n) if canonical => Ok(Self::PreKey(n)),
                _ => Err(SkipReason::BadName(
                    "the pre-key id is not a number as Baileys writes it".into(),
                )),
            };
        }
        if let Some(id) = stem.strip_prefix(SYNC_KEY) {
            let text = id.replace("__", "/");
            return match unb64(&text) {
                Some(key_id) if !key_id.is_empty() && b64(&key_id) == text => {
                    Ok(Self::SyncKey(key_id))
                }
                _ => Err(SkipReason::BadName(
                    "the key id is not base64 as Baileys writes it".into(),
                )),
            };
        }
        if let Some(name) = stem.strip_prefix(VERSION) {
            return nonempty(name, "collection name").map(Self::Version);
        }
        if let Some(id) = stem.strip_prefix(SESSION) {
            return nonempty(id, "address").map(Self::Session);
        }
        if let Some(id) = stem
            .strip_prefix(SENDER_KEY)
            .filter(|_| !stem.starts_with(SENDER_KEY_MEMORY))
        {
            return nonempty(id, "sender key name").map(Self::SenderKey);
        }
        if let Some(id) = stem.strip_prefix(LID_MAPPING) {
            return nonempty(id, "user").map(Self::LidMapping);
        }
        Ok(Self::Other(stem.to_owned()))
    }

    /// The most bytes a file of this kind may hold.
    fn limit(&self, options: &ImportOptions) -> u64 {
        match self {
            Self::PreKey(_) | Self::SyncKey(_) => ImportOptions::SMALL_FILE_BYTES,
            _ => options.max_file_bytes,
        }
    }
}

/// Lists `dir` by name, classifying every entry without following links.
fn list(dir: &Path) -> R<Vec<Listed>> {
    let unreadable = |e: std::io::Error| BaileysError::KeyFile {
        file: dir.to_owned(),
        reason: SkipReason::Unreadable(e.to_string()),
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let raw = entry.file_name();
        let name = raw.to_string_lossy().into_owned();
        if name == "creds.json" {
            continue; // read first, on its own
        }
        let json = name.ends_with(".json");
        let kind = entry.file_type().map_err(unreadable)?;
        let what = if raw.to_str().is_none() {
            problem_if(json, SkipReason::NameNotUtf8)
        } else if kind.is_file() {
            match name.strip_suffix(".json") {
                Some(stem) => Listing::Key(stem.to_owned()),
                None => Listing::Foreign(SkipReason::NotJson),
            }
        } else if kind.is_symlink() {
            problem_if(json, SkipReason::Symlink)
        } else {
            problem_if(json, SkipReason::NotAFile(kind_of(kind)))
        };
        out.push(Listed {
            name,
            path: entry.path(),
            what,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn problem_if(key_file_name: bool, reason: SkipReason) -> Listing {
    if key_file_name {
        Listing::Unusable(reason)
    } else {
        Listing::Foreign(reason)
    }
}

/// Reads every key-store file of `dir` into `creds` and `foreign`; counts what they hold.
pub(super) fn read(
    dir: &Path,
    mut creds: Credentials,
    mut foreign: Foreign,
    options: &ImportOptions,
    summary: &mut BaileysSummary,
) -> R<(Credentials, Foreign, Vec<RecordWrite>)> {
    let mut signal = Converted::default();
    let mut total = 0u64;
    for entry in list(dir)? {
        let problem = match entry.what {
            Listing::Foreign(reason) => {
                summary.skipped.push(Skipped {
                    name: entry.name,
                    reason,
                });
                continue;
            }
            Listing::Unusable(reason) => Some(reason),
            Listing::Key(stem) => {
                match load(
                    &entry.path,
                    &stem,
                    &mut creds,
                    &mut foreign,
                    &mut signal,
                    options,
                    &mut total,
                ) {
                    Ok(()) => None,
                    Err(LoadError::File(reason)) => Some(reason),
                    Err(LoadError::TooMuch) => {
                        return Err(BaileysError::TooMuch {
                            dir: dir.to_owned(),
                            limit: options.max_total_bytes,
                        });
                    }
                }
            }
        };
        if let Some(reason) = problem {
            if !options.skip_corrupt {
                return Err(BaileysError::KeyFile {
                    file: entry.path,
                    reason,
                });
            }
            summary.skipped.push(Skipped {
                name: entry.name,
                reason,
            });
        }
    }
    summary.pre_keys = signal.pre_key_count();
    summary.app_state_sync_keys = creds.app_state_sync_keys.len();
    summary.app_state_versions = creds.app_state_versions.len();
    summary.sessions = foreign.sessions.len();
    summary.sender_keys = foreign.sender_keys.len();
    summary.other_files = foreign.extra_keys.len();
    let records = signal.into_records(&creds);
    Ok((creds, foreign, records))
}

/// Why one file was not loaded: a problem with the file, or the directory's total bound (an
/// error for the whole import).
enum LoadError {
    File(SkipReason),
    TooMuch,
}

impl From<SkipReason> for LoadError {
    fn from(r: SkipReason) -> Self {
        Self::File(r)
    }
}

/// Reads, checks and stores one key-store file.
fn load(
    file: &Path,
    stem: &str,
    creds: &mut Credentials,
    foreign: &mut Foreign,
    signal: &mut Converted,
    options: &ImportOptions,
    total: &mut u64,
) -> Result<(), LoadError> {
    let kind = KeyFile::classify(stem)?;
    let text = read_bounded(file, kind.limit(options)).map_err(SkipReason::from)?;
    *total = total.saturating_add(u64::try_from(text.len()).unwrap_or(u64::MAX));
    if *total > options.max_total_bytes {
        return Err(LoadError::TooMuch);
    }
    let corrupt = |why: String| LoadError::File(SkipReason::Corrupt(why));
    let verbatim = || Zeroizing::new(text.to_vec());
    match kind {
        KeyFile::PreKey(id) => {
            let value: Value = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
            let pair =
                key_pair_from(Some(&value)).map_err(|p| corrupt(format!("the pre-key {p}")))?;
            signal.pre_key(id, pair);
        }
        KeyFile::SyncKey(key_id) => {
            let value: Value = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
            let data = sync_key_from(&value).map_err(corrupt)?;
            creds
                .app_state_sync_keys
                .insert(Bytes::from(key_id), Bytes::from(data));
        }
        KeyFile::Version(name) => {
            let s = shape(&text).map_err(|e| corrupt(e.to_string()))?;
            expect_member(&s, "version", &[Kind::Number]).map_err(corrupt)?;
            expect_member(&s, "hash", &[Kind::Object, Kind::String, Kind::Array])
                .map_err(corrupt)?;
            creds
                .app_state_versions
                .insert(name, Bytes::from(text.to_vec()));
        }
        KeyFile::Session(id) => {
            let s = shape(&text).map_err(|e| corrupt(e.to_string()))?;
            expect_member(&s, "_sessions", &[Kind::Object]).map_err(corrupt)?;
            signal.session(&id, &text, creds).map_err(corrupt)?;
            // Kept as written too: an export gives it back while Tether has not used it.
            foreign.sessions.insert(id, verbatim());
        }
        KeyFile::SenderKey(id) => {
            let s = shape(&text).map_err(|e| corrupt(e.to_string()))?;
            match s {
                Shape::Array(n) if n > 0 => {}
                Shape::Array(_) => return Err(corrupt("an empty list holds no sender key".into())),
                other => {
                    return Err(corrupt(format!(
                        "a sender key record is a list of states, found {}",
                        other.kind().name()
                    )));
                }
            }
            signal.sender_key(&id, &text).map_err(corrupt)?;
            foreign.sender_keys.insert(id, verbatim());
        }
        KeyFile::LidMapping(id) => {
            signal.lid_mapping(&id, &text).map_err(corrupt)?;
            // Kept as written too: an export gives Baileys its mapping back.
            foreign.extra_keys.insert(
                (FILE_TYPE.to_owned(), format!("{LID_MAPPING}{id}")),
                verbatim(),
            );
        }
        KeyFile::Other(stem) => {
            shape(&text).map_err(|e| corrupt(e.to_string()))?;
            foreign
                .extra_keys
                .insert((FILE_TYPE.to_owned(), stem), verbatim());
        }
    }
    Ok(())
}

/// Checks that the document is an object whose member `name` has one of `kinds`.
fn expect_member(s: &Shape, name: &str, kinds: &[Kind]) -> Result<(), String> {
    if s.kind() != Kind::Object {
        return Err(format!("expected an object, found {}", s.kind().name()));
    }
    match s.member(name) {
        Some(k) if kinds.contains(&k) => Ok(()),
        Some(k) => Err(format!("`{name}` is {}", k.name())),
        None => Err(format!("`{name}` is missing")),
    }
}

/// An `AppStateSyncKeyData` JSON document as protobuf bytes; `keyData` is required (a `{}`
/// holds no key).
fn sync_key_from(value: &Value) -> Result<Vec<u8>, String> {
    let bad = |field: &str, problem: &str| format!("`{field}` {problem}");
    if !value.is_object() {
        return Err("expected an object".into());
    }
    let key_data = match value.get("keyData").filter(|v| !v.is_null()) {
        Some(v) => match bytes(v) {
            Some(k) if !k.is_empty() => Some(k),
            Some(_) => return Err(bad("keyData", "is empty")),
            None => return Err(bad("keyData", "is not binary data")),
        },
        None => return Err(bad("keyData", "is missing: the file holds no key")),
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
pub(super) fn write(
    dir: &Path,
    creds: &Credentials,
    pre_keys: &[(u32, KeyPair)],
    foreign: &Foreign,
) -> R<BaileysSummary> {
    let mut summary = BaileysSummary::default();
    for (id, pair) in pre_keys {
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
