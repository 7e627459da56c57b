//! Keyed records: what the messaging layer keeps in the store besides the credentials
//! (`DESIGN.md` §10, `messaging.md` §8).
//!
//! Signal sessions, peer identities, one-time and retired signed pre-keys, sender keys, device
//! lists, PN↔LID mappings, the outbox and the inbox do not live in [`Credentials`]: an account
//! with 10,000 contacts must not hold 10,000 sessions in memory. They live in the store as
//! **opaque records** in a fixed set of [`Table`]s, read on demand and written together with
//! the credential changes they belong to:
//!
//! ```text
//!   core ── LoadRecords{id, reads} ─────────▶ adapter ── CredentialStore::read(reads) ──▶ store
//!   core ◀─ StoreResult::Loaded{id, data} ──────────────────────────────────────────────────┘
//!
//!   core ── PersistCredentials{seq, delta{changes, records}} ──▶ CredentialStore::apply
//!           (credential changes and record writes: one transaction)
//! ```
//!
//! The store never interprets a record: keys and values are bytes whose layout the core owns
//! (see the `messaging` module). Keys compare as bytes, so a [`RecordRead::Range`] returns rows
//! in byte order (the core writes numbers big-endian where order matters). Every store action
//! is executed **in the order the core emitted it**, so a read sees every write emitted before
//! it. The contract is deliberately small so that a networked store (one transaction per
//! delta, reads answered asynchronously) can serve it as well as a local file.
//!
//! [`Credentials`]: crate::creds::Credentials

use std::fmt;

use bytes::Bytes;

use crate::crypto::KeyPair;

/// A family of records. Each has a stable [`Table::name`] that stores use for their own
/// tables, and a stable [`Table::id`] byte for stores that keep every family in one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Table {
    /// Own one-time pre-keys by id (key: id as 4 bytes big-endian; value: the 32-byte
    /// private key).
    PreKeys,
    /// Own signed pre-keys kept after a rotation, by id (key: id as 4 bytes big-endian).
    SignedPreKeys,
    /// Signal session records by canonical Signal address.
    Sessions,
    /// Peer identity keys by canonical Signal address.
    Identities,
    /// Sender-key records by group and sender address.
    SenderKeys,
    /// Which devices hold our current sender key, by group.
    SenderKeyHolders,
    /// Device lists by user.
    Devices,
    /// Phone-number ↔ LID mappings.
    LidMap,
    /// Outgoing messages kept for sending, resending and answering retry receipts.
    Outbox,
    /// The durable inbox: received messages by position.
    Inbox,
    /// Dedup keys of processed inbound stanzas.
    Processed,
    /// Group metadata by group JID.
    Groups,
    /// Small named values of the messaging layer (watermarks, counters, timestamps).
    Meta,
}

impl Table {
    /// Every table, in [`Table::id`] order.
    pub const ALL: [Self; 13] = [
        Self::PreKeys,
        Self::SignedPreKeys,
        Self::Sessions,
        Self::Identities,
        Self::SenderKeys,
        Self::SenderKeyHolders,
        Self::Devices,
        Self::LidMap,
        Self::Outbox,
        Self::Inbox,
        Self::Processed,
        Self::Groups,
        Self::Meta,
    ];

    /// A stable name (lowercase, `_`-separated), never reused for another family.
    pub fn name(self) -> &'static str {
        match self {
            Self::PreKeys => "pre_keys",
            Self::SignedPreKeys => "signed_pre_keys",
            Self::Sessions => "sessions",
            Self::Identities => "identities",
            Self::SenderKeys => "sender_keys",
            Self::SenderKeyHolders => "sender_key_holders",
            Self::Devices => "devices",
            Self::LidMap => "lid_map",
            Self::Outbox => "outbox",
            Self::Inbox => "inbox",
            Self::Processed => "processed",
            Self::Groups => "groups",
            Self::Meta => "meta",
        }
    }

    /// A stable one-byte id, never reused for another family.
    pub fn id(self) -> u8 {
        match self {
            Self::PreKeys => 1,
            Self::SignedPreKeys => 2,
            Self::Sessions => 3,
            Self::Identities => 4,
            Self::SenderKeys => 5,
            Self::SenderKeyHolders => 6,
            Self::Devices => 7,
            Self::LidMap => 8,
            Self::Outbox => 9,
            Self::Inbox => 10,
            Self::Processed => 11,
            Self::Groups => 12,
            Self::Meta => 13,
        }
    }

    /// The table with this [`Table::id`].
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The table with this [`Table::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the values hold secrets (private keys, ratchet state, message plaintext):
    /// never print them.
    pub fn is_secret(self) -> bool {
        !matches!(
            self,
            Self::Devices | Self::LidMap | Self::Groups | Self::SenderKeyHolders
        )
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One write of a delta.
#[derive(Clone, PartialEq, Eq)]
pub enum RecordWrite {
    /// Insert or replace the value under `key`.
    Put {
        /// The family.
        table: Table,
        /// The key (layout owned by the core).
        key: Bytes,
        /// The value (opaque to the store).
        value: Bytes,
    },
    /// Remove `key` (absent keys are fine).
    Delete {
        /// The family.
        table: Table,
        /// The key.
        key: Bytes,
    },
}

impl RecordWrite {
    /// A put.
    pub fn put(table: Table, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self::Put {
            table,
            key: key.into(),
            value: value.into(),
        }
    }

    /// A delete.
    pub fn delete(table: Table, key: impl Into<Bytes>) -> Self {
        Self::Delete {
            table,
            key: key.into(),
        }
    }

    /// The family written.
    pub fn table(&self) -> Table {
        match self {
            Self::Put { table, .. } | Self::Delete { table, .. } => *table,
        }
    }

    /// The key written.
    pub fn key(&self) -> &Bytes {
        match self {
            Self::Put { key, .. } | Self::Delete { key, .. } => key,
        }
    }
}

/// Values may hold secrets: `Debug` shows tables, keys of non-secret tables and value lengths.
impl fmt::Debug for RecordWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Put { table, key, value } => f
                .debug_struct("Put")
                .field("table", table)
                .field("key", &ShownKey(key))
                .field("value_len", &value.len())
                .finish(),
            Self::Delete { table, key } => f
                .debug_struct("Delete")
                .field("table", table)
                .field("key", &ShownKey(key))
                .finish(),
        }
    }
}

/// A key as `Debug` shows it: keys are addresses, ids and positions (never secret), shown as
/// text when printable.
struct ShownKey<'a>(&'a [u8]);

impl fmt::Debug for ShownKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(text) if text.chars().all(|c| !c.is_control()) => write!(f, "{text:?}"),
            _ => write!(f, "0x{}", hex::encode(self.0)),
        }
    }
}

/// One read of a [`LoadRecords`](crate::connection::Action::LoadRecords) action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordRead {
    /// The value under `key`, if any.
    Get {
        /// The family.
        table: Table,
        /// The key.
        key: Bytes,
    },
    /// Up to `limit` rows with `start <= key < end` (an empty `end`: no upper bound), in
    /// ascending byte order of their keys.
    Range {
        /// The family.
        table: Table,
        /// The first key (inclusive).
        start: Bytes,
        /// The bound (exclusive); empty for none.
        end: Bytes,
        /// The most rows to return.
        limit: u32,
    },
}

impl RecordRead {
    /// A point read.
    pub fn get(table: Table, key: impl Into<Bytes>) -> Self {
        Self::Get {
            table,
            key: key.into(),
        }
    }

    /// Every key starting with `prefix`, up to `limit` rows.
    pub fn prefix(table: Table, prefix: impl Into<Bytes>, limit: u32) -> Self {
        let start: Bytes = prefix.into();
        let end = prefix_end(&start);
        Self::Range {
            table,
            start,
            end,
            limit,
        }
    }
}

/// The smallest key greater than every key starting with `prefix` (empty: unbounded).
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::new()
}

/// The [`Table::PreKeys`] key of one-time pre-key `id`: the id, 4 bytes big-endian (so a
/// range of ids is a range of keys).
pub fn pre_key_key(id: u32) -> Bytes {
    Bytes::copy_from_slice(&id.to_be_bytes())
}

/// The write that stores one-time pre-key `id` (value: its 32 private bytes).
pub fn pre_key_record(id: u32, key: &KeyPair) -> RecordWrite {
    RecordWrite::Put {
        table: Table::PreKeys,
        key: pre_key_key(id),
        value: Bytes::copy_from_slice(key.private_bytes().as_slice()),
    }
}

/// A stored one-time pre-key from its [`Table::PreKeys`] row; `None` when the row is not one
/// (a key that is not 4 bytes or a value that is not 32).
pub fn pre_key_from_row(key: &[u8], value: &[u8]) -> Option<(u32, KeyPair)> {
    let id = u32::from_be_bytes(key.try_into().ok()?);
    let private: [u8; 32] = value.try_into().ok()?;
    Some((id, KeyPair::from_private_bytes(private)))
}

/// The answer to one [`RecordRead`], at the same index.
#[derive(Clone, PartialEq, Eq)]
pub enum RecordData {
    /// The answer to a `Get`.
    Value(Option<Bytes>),
    /// The answer to a `Range`: (key, value) rows in ascending key order.
    Rows(Vec<(Bytes, Bytes)>),
}

impl fmt::Debug for RecordData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(v) => write!(f, "Value({:?})", v.as_ref().map(|v| v.len())),
            Self::Rows(rows) => write!(f, "Rows({})", rows.len()),
        }
    }
}

/// Applies `reads` to an ordered map of `(table, key) → value`: the one definition of what a
/// read returns, shared by in-memory stores and tests.
pub fn read_map(
    map: &std::collections::BTreeMap<(Table, Bytes), Bytes>,
    reads: &[RecordRead],
) -> Vec<RecordData> {
    reads
        .iter()
        .map(|read| match read {
            RecordRead::Get { table, key } => {
                RecordData::Value(map.get(&(*table, key.clone())).cloned())
            }
            RecordRead::Range {
                table,
                start,
                end,
                limit,
            } => {
                let lower = std::ops::Bound::Included((*table, start.clone()));
                let upper = if end.is_empty() {
                    match Table::ALL.iter().find(|t| **t > *table) {
                        Some(next) => std::ops::Bound::Excluded((*next, Bytes::new())),
                        None => std::ops::Bound::Unbounded,
                    }
                } else {
                    std::ops::Bound::Excluded((*table, end.clone()))
                };
                RecordData::Rows(
                    map.range((lower, upper))
                        .take(usize::try_from(*limit).unwrap_or(usize::MAX))
                        .map(|((_, k), v)| (k.clone(), v.clone()))
                        .collect(),
                )
            }
        })
        .collect()
}

/// Applies `writes` to an ordered map of `(table, key) → value` (see [`read_map`]).
pub fn write_map(
    map: &mut std::collections::BTreeMap<(Table, Bytes), Bytes>,
    writes: &[RecordWrite],
) {
    for write in writes {
        match write {
            RecordWrite::Put { table, key, value } => {
                map.insert((*table, key.clone()), value.clone());
            }
            RecordWrite::Delete { table, key } => {
                map.remove(&(*table, key.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ids_and_names_are_unique_and_round_trip() {
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(Table::from_id(t.id()), Some(*t));
            assert_eq!(Table::from_name(t.name()), Some(*t));
            for u in &Table::ALL[i + 1..] {
                assert_ne!(t.id(), u.id());
                assert_ne!(t.name(), u.name());
                assert!(t < u, "ALL is in order");
            }
        }
    }

    #[test]
    fn prefix_end_bounds_every_key_with_the_prefix() {
        assert_eq!(&prefix_end(b"ab")[..], b"ac");
        assert_eq!(&prefix_end(&[1, 0xff])[..], &[2]);
        assert!(prefix_end(&[0xff, 0xff]).is_empty());
        assert!(prefix_end(b"").is_empty());
    }

    #[test]
    fn ranges_stay_inside_their_table_and_honour_the_limit() {
        let mut map = BTreeMap::new();
        write_map(
            &mut map,
            &[
                RecordWrite::put(Table::Sessions, &b"a.1"[..], &b"1"[..]),
                RecordWrite::put(Table::Sessions, &b"a.2"[..], &b"2"[..]),
                RecordWrite::put(Table::Sessions, &b"b.1"[..], &b"3"[..]),
                RecordWrite::put(Table::Identities, &b"a.1"[..], &b"4"[..]),
                RecordWrite::put(Table::Meta, &b"x"[..], &b"5"[..]),
            ],
        );
        let data = read_map(
            &map,
            &[
                RecordRead::prefix(Table::Sessions, &b"a."[..], 10),
                RecordRead::prefix(Table::Sessions, &b""[..], 2),
                RecordRead::prefix(Table::Sessions, &b""[..], 10),
                RecordRead::prefix(Table::Meta, &b""[..], 10),
                RecordRead::get(Table::Identities, &b"a.1"[..]),
                RecordRead::get(Table::Identities, &b"a.2"[..]),
            ],
        );
        let rows = |d: &RecordData| match d {
            RecordData::Rows(r) => r.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            RecordData::Value(_) => panic!("rows expected"),
        };
        assert_eq!(rows(&data[0]), vec![Bytes::from("a.1"), Bytes::from("a.2")]);
        assert_eq!(rows(&data[1]).len(), 2);
        assert_eq!(rows(&data[2]).len(), 3);
        assert_eq!(rows(&data[3]), vec![Bytes::from("x")]);
        assert_eq!(data[4], RecordData::Value(Some(Bytes::from("4"))));
        assert_eq!(data[5], RecordData::Value(None));
        write_map(
            &mut map,
            &[RecordWrite::delete(Table::Sessions, &b"a.1"[..])],
        );
        assert_eq!(
            read_map(&map, &[RecordRead::get(Table::Sessions, &b"a.1"[..])])[0],
            RecordData::Value(None)
        );
    }

    #[test]
    fn debug_never_shows_values() {
        let w = RecordWrite::put(Table::PreKeys, vec![0, 0, 0, 7], vec![0xAB; 32]);
        let shown = format!("{w:?}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(shown.contains("value_len: 32"));
    }
}
