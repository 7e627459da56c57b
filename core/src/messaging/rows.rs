//! The layouts of the messaging layer's records (`crate::records`): keys built here, values as
//! small protobuf messages (prost, proto2-style optional fields), so a field added later reads
//! as absent from an older row and an older build skips a newer row's extra fields.
//!
//! | table | key | value |
//! |---|---|---|
//! | `pre_keys` | id, u32 BE | 32-byte private key |
//! | `signed_pre_keys` | id, u32 BE | [`SignedPreKeyRow`] |
//! | `sessions` | address string (`address::Address::key`) | `tether_signal` session record |
//! | `identities` | address string | 32-byte identity public key |
//! | `devices` | user JID string | [`DeviceListRow`] |
//! | `lid_map` | `pn:<user>` / `lid:<user>` | the other user's digits |
//! | `outbox` | message id | [`OutboxRow`] |
//! | `inbox` | position, u64 BE | [`InboxRow`] |
//! | `processed` | `k` ‖ 16-byte dedup hash | [`ProcessedRow`]; `d` ‖ day u32 BE ‖ hash → empty (index for pruning) |
//! | `meta` | name | u64 BE, or bytes as named |
//!
//! Every decode is defensive: a row that does not decode is treated as absent (and logged),
//! never a panic.

use bytes::Bytes;

use sha2::{Digest, Sha256};

/// A pre-key id as a key.
pub(crate) fn id_key(id: u32) -> Bytes {
    Bytes::copy_from_slice(&id.to_be_bytes())
}

/// An inbox position as a key.
pub(crate) fn pos_key(pos: u64) -> Bytes {
    Bytes::copy_from_slice(&pos.to_be_bytes())
}

/// A u64 value (meta counters).
pub(crate) fn u64_value(v: u64) -> Bytes {
    Bytes::copy_from_slice(&v.to_be_bytes())
}

/// Reads a u64 value; anything else is `None`.
pub(crate) fn read_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// Meta names.
pub(crate) mod meta {
    /// The next inbox position to assign.
    pub(crate) const INBOX_NEXT: &str = "inbox.next";
    /// Every inbox position below this is confirmed by the application.
    pub(crate) const INBOX_CONFIRMED: &str = "inbox.confirmed";
    /// Every inbox position below this was pruned (retention).
    pub(crate) const INBOX_PRUNED: &str = "inbox.pruned";
    /// Prefix of the confirmation markers above the watermark (`confirm.` ‖ position BE).
    pub(crate) const CONFIRM_PREFIX: &[u8] = b"confirm.";
    /// Unix time of the last signed pre-key rotation.
    pub(crate) const SPK_ROTATED_AT: &str = "spk.rotated_at";
    /// The id of a staged signed pre-key (uploaded, not yet confirmed by the server).
    pub(crate) const SPK_CANDIDATE: &str = "spk.candidate";
}

/// The key of a confirmation marker.
pub(crate) fn confirm_key(pos: u64) -> Bytes {
    let mut k = meta::CONFIRM_PREFIX.to_vec();
    k.extend_from_slice(&pos.to_be_bytes());
    Bytes::from(k)
}

/// The dedup hash of an inbound message: who sent it in which chat under which id
/// (`messaging.md` §8.2 uses the ciphertext; Tether uses the id so that a resend of the same
/// message with new ciphertext — after a retry receipt, or Baileys' group resend to every
/// device — is recognised too).
pub(crate) fn dedup_hash(chat: &str, sender_user: &str, id: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    for part in [chat, sender_user, id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The lookup key of a dedup hash.
pub(crate) fn processed_key(hash: &[u8; 16]) -> Bytes {
    let mut k = Vec::with_capacity(17);
    k.push(b'k');
    k.extend_from_slice(hash);
    Bytes::from(k)
}

/// The pruning-index key of a dedup hash recorded on `day` (Unix days).
pub(crate) fn processed_index_key(day: u32, hash: &[u8; 16]) -> Bytes {
    let mut k = Vec::with_capacity(21);
    k.push(b'd');
    k.extend_from_slice(&day.to_be_bytes());
    k.extend_from_slice(hash);
    Bytes::from(k)
}

/// Decodes a row, `None` when it does not decode.
pub(crate) fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Option<M> {
    match M::decode(bytes) {
        Ok(m) => Some(m),
        Err(error) => {
            tracing::warn!(%error, "a stored messaging record does not decode; treating it as absent");
            None
        }
    }
}

/// Encodes a row.
pub(crate) fn encode(m: &impl prost::Message) -> Bytes {
    Bytes::from(m.encode_to_vec())
}

/// A retired or staged signed pre-key.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SignedPreKeyRow {
    /// The 32-byte private key.
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub(crate) private: Option<Bytes>,
    /// The 64-byte signature.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub(crate) signature: Option<Bytes>,
    /// When it stopped being current (Unix seconds; absent while staged).
    #[prost(uint64, optional, tag = "3")]
    pub(crate) retired_at: Option<u64>,
}

/// A cached device list of one user.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DeviceListRow {
    /// The devices.
    #[prost(message, repeated, tag = "1")]
    pub(crate) devices: Vec<DeviceRow>,
    /// The server's list hash, if it sent one.
    #[prost(string, optional, tag = "2")]
    pub(crate) hash: Option<String>,
    /// When it was fetched (Unix seconds).
    #[prost(uint64, optional, tag = "3")]
    pub(crate) fetched_at: Option<u64>,
}

/// One device of a [`DeviceListRow`].
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub(crate) struct DeviceRow {
    /// The device number.
    #[prost(uint32, optional, tag = "1")]
    pub(crate) id: Option<u32>,
    /// Its key index.
    #[prost(uint32, optional, tag = "2")]
    pub(crate) key_index: Option<u32>,
    /// A hosted (Cloud API) device.
    #[prost(bool, optional, tag = "3")]
    pub(crate) hosted: Option<bool>,
}

/// Where an outgoing message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum OutboxState {
    /// Accepted from the application, not encrypted yet.
    Queued = 0,
    /// Encrypted and durable; on the wire or waiting for a connection.
    Encrypted = 1,
    /// Acknowledged by the server.
    Acked = 2,
    /// Given up (a typed `SendFailed` was emitted).
    Failed = 3,
}

/// One outgoing message.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OutboxRow {
    /// The chat as the application addressed it (JID string).
    #[prost(string, optional, tag = "1")]
    pub(crate) to: Option<String>,
    /// The `Message` protobuf (unpadded).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub(crate) message: Option<Bytes>,
    /// [`OutboxState`].
    #[prost(enumeration = "OutboxState", optional, tag = "3")]
    pub(crate) state: Option<i32>,
    /// When the application sent it (Unix seconds).
    #[prost(uint64, optional, tag = "4")]
    pub(crate) created_at: Option<u64>,
    /// The encoded stanza, once encrypted (resent as is after a reconnect).
    #[prost(bytes = "bytes", optional, tag = "5")]
    pub(crate) stanza: Option<Bytes>,
    /// The server's timestamp from its ack.
    #[prost(uint64, optional, tag = "6")]
    pub(crate) server_t: Option<u64>,
    /// How many times the stanza went on the wire.
    #[prost(uint32, optional, tag = "7")]
    pub(crate) attempts: Option<u32>,
    /// Retry receipts answered so far, all devices together.
    #[prost(uint32, optional, tag = "8")]
    pub(crate) retries: Option<u32>,
    /// The `<message type>` (`text`, `reaction`, `media`, …).
    #[prost(string, optional, tag = "9")]
    pub(crate) kind: Option<String>,
    /// The `edit` attribute, if any.
    #[prost(string, optional, tag = "10")]
    pub(crate) edit: Option<String>,
    /// Why it was not sent (state `Failed`), to tell the application again after a restart.
    #[prost(message, optional, tag = "11")]
    pub(crate) failure: Option<StoredFailure>,
}

/// A [`super::types::SendError`] as stored in an outbox row.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StoredFailure {
    /// Which error (1 nack, 2 timeout, 3 no devices, 4 invalid recipient, 5 invalid,
    /// 6 device unreachable, 7 stopped).
    #[prost(uint32, optional, tag = "1")]
    pub(crate) kind: Option<u32>,
    /// The nack code or the attempts.
    #[prost(uint32, optional, tag = "2")]
    pub(crate) code: Option<u32>,
    /// The error's text.
    #[prost(string, optional, tag = "3")]
    pub(crate) detail: Option<String>,
    /// The device, for an unreachable device.
    #[prost(string, optional, tag = "4")]
    pub(crate) device: Option<String>,
}

/// What an inbox row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum InboxKind {
    /// A decrypted message.
    Message = 0,
    /// A message that could not be decrypted after the retry path ran.
    Undecryptable = 1,
}

/// One received message (or undecryptable placeholder) in the durable inbox.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct InboxRow {
    /// [`InboxKind`].
    #[prost(enumeration = "InboxKind", optional, tag = "1")]
    pub(crate) kind: Option<i32>,
    /// The message id.
    #[prost(string, optional, tag = "2")]
    pub(crate) id: Option<String>,
    /// The chat (user or group JID string).
    #[prost(string, optional, tag = "3")]
    pub(crate) chat: Option<String>,
    /// The sending device (JID string, as on the wire).
    #[prost(string, optional, tag = "4")]
    pub(crate) sender: Option<String>,
    /// The sender's other address form (PN ↔ LID), if known.
    #[prost(string, optional, tag = "5")]
    pub(crate) sender_alt: Option<String>,
    /// Sent by one of this account's devices.
    #[prost(bool, optional, tag = "6")]
    pub(crate) from_me: Option<bool>,
    /// Server timestamp (Unix seconds).
    #[prost(uint64, optional, tag = "7")]
    pub(crate) timestamp: Option<u64>,
    /// The sender's push name.
    #[prost(string, optional, tag = "8")]
    pub(crate) push_name: Option<String>,
    /// Delivered from the offline backlog.
    #[prost(bool, optional, tag = "9")]
    pub(crate) offline: Option<bool>,
    /// The decrypted `Message` protobuf (unpadded, unwrapped from `deviceSentMessage`).
    #[prost(bytes = "bytes", optional, tag = "10")]
    pub(crate) message: Option<Bytes>,
    /// Why it could not be decrypted.
    #[prost(string, optional, tag = "11")]
    pub(crate) reason: Option<String>,
    /// Retry receipts sent for it.
    #[prost(uint32, optional, tag = "12")]
    pub(crate) retry_count: Option<u32>,
    /// The group participant who sent it (group messages).
    #[prost(string, optional, tag = "13")]
    pub(crate) participant: Option<String>,
    /// The `<message type>`.
    #[prost(string, optional, tag = "14")]
    pub(crate) message_type: Option<String>,
}

/// A processed inbound message: where it went in the inbox.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProcessedRow {
    /// Its inbox position (absent when nothing was stored, e.g. a protocol message).
    #[prost(uint64, optional, tag = "1")]
    pub(crate) position: Option<u64>,
    /// The server timestamp of the stanza (Unix seconds).
    #[prost(uint64, optional, tag = "2")]
    pub(crate) t: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically() {
        assert!(pos_key(255) < pos_key(256));
        assert!(id_key(1) < id_key(0x0100_0000));
        assert!(confirm_key(9) < confirm_key(10));
        assert_eq!(read_u64(&u64_value(42)), Some(42));
        assert_eq!(read_u64(b"short"), None);
    }

    #[test]
    fn undecodable_rows_are_absent() {
        assert!(decode::<InboxRow>(&[0xff, 0xff, 0xff]).is_none());
        let row = InboxRow {
            id: Some("X".into()),
            ..InboxRow::default()
        };
        assert_eq!(decode::<InboxRow>(&encode(&row)), Some(row));
    }

    #[test]
    fn dedup_hashes_separate_their_parts() {
        assert_ne!(dedup_hash("ab", "c", "d"), dedup_hash("a", "bc", "d"));
        assert_eq!(dedup_hash("a", "b", "c"), dedup_hash("a", "b", "c"));
        assert!(processed_index_key(1, &[0; 16]) < processed_index_key(2, &[0; 16]));
    }
}
