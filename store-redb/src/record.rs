//! The on-disk encoding of the core credential record: hand-written prost messages.
//!
//! The `device` table holds one [`DeviceRecord`], everything of [`Credentials`] except the
//! keyed families (pre-keys, app-state keys and versions), which live in their own tables.
//! Protobuf gives a stable, forward-compatible layout: field numbers are never reused, new
//! fields are optional, and [`DeviceRecord::format`] names the layout so that a later change
//! can be migrated explicitly. Key pairs are stored as their raw 32 private bytes (the public
//! halves are derived on load); JIDs as their canonical text.
//!
//! Decoding is strict: a wrong key length, an unknown `format` or an unparsable JID is a
//! [`RecordError`], never a silently different credential set.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message;
use thiserror::Error;
use zeroize::Zeroizing;

use tether_core::binary::Jid;
use tether_core::creds::{Credentials, DeviceIdentity, Secret32, SignedPreKey};
use tether_core::crypto::KeyPair;
use tether_core::payload::AppVersion;

/// The layout version written into every [`DeviceRecord`].
pub(crate) const RECORD_FORMAT: u32 = 1;

/// The core credential record (table `device`, key `current`).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct DeviceRecord {
    #[prost(uint32, tag = "1")]
    pub(crate) format: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) noise_private: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub(crate) identity_private: Vec<u8>,
    #[prost(uint32, tag = "4")]
    pub(crate) signed_pre_key_id: u32,
    #[prost(bytes = "vec", tag = "5")]
    pub(crate) signed_pre_key_private: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub(crate) signed_pre_key_signature: Vec<u8>,
    #[prost(uint32, tag = "7")]
    pub(crate) registration_id: u32,
    #[prost(bytes = "vec", tag = "8")]
    pub(crate) adv_secret: Vec<u8>,
    #[prost(message, optional, tag = "9")]
    pub(crate) device: Option<DeviceIdentityRecord>,
    #[prost(bool, tag = "10")]
    pub(crate) confirmed: bool,
    #[prost(string, optional, tag = "11")]
    pub(crate) push_name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "12")]
    pub(crate) routing_info: Option<Vec<u8>>,
    #[prost(message, optional, tag = "13")]
    pub(crate) version: Option<VersionRecord>,
    #[prost(uint32, tag = "14")]
    pub(crate) next_pre_key_id: u32,
    #[prost(uint32, tag = "15")]
    pub(crate) first_unuploaded_pre_key_id: u32,
}

/// Who the device is on the account.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct DeviceIdentityRecord {
    #[prost(string, tag = "1")]
    pub(crate) jid: String,
    #[prost(string, optional, tag = "2")]
    pub(crate) lid: Option<String>,
    #[prost(bytes = "vec", tag = "3")]
    pub(crate) account: Vec<u8>,
    #[prost(string, optional, tag = "4")]
    pub(crate) platform: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub(crate) business_name: Option<String>,
}

/// A client version triple.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct VersionRecord {
    #[prost(uint32, tag = "1")]
    pub(crate) primary: u32,
    #[prost(uint32, tag = "2")]
    pub(crate) secondary: u32,
    #[prost(uint32, tag = "3")]
    pub(crate) tertiary: u32,
}

/// What a quarantined identity was (table `quarantine`, keyed by quarantine id).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct QuarantineRecord {
    #[prost(string, tag = "1")]
    pub(crate) why: String,
    #[prost(uint64, tag = "2")]
    pub(crate) at_unix: u64,
    #[prost(uint64, tag = "3")]
    pub(crate) seq: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub(crate) device: Vec<u8>,
}

/// Why a stored record could not be read back.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The bytes are not a valid protobuf message.
    #[error("the {what} record is not valid protobuf: {reason}")]
    Malformed {
        /// Which record.
        what: &'static str,
        /// The decoder's reason.
        reason: String,
    },
    /// The record was written in a layout this build does not know.
    #[error("the device record has layout {found}, this build reads layout {RECORD_FORMAT}")]
    UnknownFormat {
        /// The layout found.
        found: u32,
    },
    /// A key or secret does not have its fixed length.
    #[error("the {what} is {len} bytes long, expected {expected}")]
    BadLength {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The required length.
        expected: usize,
    },
    /// A stored JID does not parse.
    #[error("the stored {what} {text:?} is not a valid jid")]
    BadJid {
        /// Which field.
        what: &'static str,
        /// The text found (a JID is an address, not a secret).
        text: String,
    },
}

/// Encodes the core record of `creds` (the keyed families are stored separately).
pub(crate) fn encode_device(creds: &Credentials) -> Zeroizing<Vec<u8>> {
    let record = DeviceRecord {
        format: RECORD_FORMAT,
        noise_private: creds.noise_key.private_bytes().to_vec(),
        identity_private: creds.identity_key.private_bytes().to_vec(),
        signed_pre_key_id: creds.signed_pre_key.id,
        signed_pre_key_private: creds.signed_pre_key.key_pair.private_bytes().to_vec(),
        signed_pre_key_signature: creds.signed_pre_key.signature.to_vec(),
        registration_id: creds.registration_id,
        adv_secret: creds.adv_secret.expose().to_vec(),
        device: creds.device.as_ref().map(|d| DeviceIdentityRecord {
            jid: d.jid.to_string(),
            lid: d.lid.as_ref().map(ToString::to_string),
            account: d.account.to_vec(),
            platform: d.platform.clone(),
            business_name: d.business_name.clone(),
        }),
        confirmed: creds.confirmed,
        push_name: creds.push_name.clone(),
        routing_info: creds.routing_info.as_ref().map(|r| r.to_vec()),
        version: creds.version.map(|v| VersionRecord {
            primary: v.primary,
            secondary: v.secondary,
            tertiary: v.tertiary,
        }),
        next_pre_key_id: creds.next_pre_key_id,
        first_unuploaded_pre_key_id: creds.first_unuploaded_pre_key_id,
    };
    let bytes = Zeroizing::new(record.encode_to_vec());
    wipe(record);
    bytes
}

/// Decodes a core record into credentials with empty keyed families.
pub(crate) fn decode_device(bytes: &[u8]) -> Result<Credentials, RecordError> {
    let record = DeviceRecord::decode(bytes).map_err(|e| RecordError::Malformed {
        what: "device",
        reason: e.to_string(),
    })?;
    let result = credentials_from(&record);
    wipe(record);
    result
}

fn credentials_from(r: &DeviceRecord) -> Result<Credentials, RecordError> {
    if r.format != RECORD_FORMAT {
        return Err(RecordError::UnknownFormat { found: r.format });
    }
    let device = match &r.device {
        None => None,
        Some(d) => Some(DeviceIdentity {
            jid: parse_jid("jid", &d.jid)?,
            lid: d.lid.as_deref().map(|l| parse_jid("lid", l)).transpose()?,
            account: Bytes::copy_from_slice(&d.account),
            platform: d.platform.clone(),
            business_name: d.business_name.clone(),
        }),
    };
    Ok(Credentials {
        noise_key: key_pair("noise private key", &r.noise_private)?,
        identity_key: key_pair("identity private key", &r.identity_private)?,
        signed_pre_key: SignedPreKey {
            id: r.signed_pre_key_id,
            key_pair: key_pair("signed pre-key", &r.signed_pre_key_private)?,
            signature: *fixed::<64>("signed pre-key signature", &r.signed_pre_key_signature)?,
        },
        registration_id: r.registration_id,
        adv_secret: Secret32::new(*fixed::<32>("adv secret", &r.adv_secret)?),
        device,
        confirmed: r.confirmed,
        push_name: r.push_name.clone(),
        routing_info: r.routing_info.as_deref().map(Bytes::copy_from_slice),
        version: r
            .version
            .as_ref()
            .map(|v| AppVersion::new(v.primary, v.secondary, v.tertiary)),
        next_pre_key_id: r.next_pre_key_id,
        first_unuploaded_pre_key_id: r.first_unuploaded_pre_key_id,
        app_state_sync_keys: BTreeMap::new(),
        app_state_versions: BTreeMap::new(),
    })
}

/// A key pair from its stored 32 private bytes.
pub(crate) fn key_pair(what: &'static str, bytes: &[u8]) -> Result<KeyPair, RecordError> {
    Ok(KeyPair::from_private_bytes(*fixed::<32>(what, bytes)?))
}

fn fixed<const N: usize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<Zeroizing<[u8; N]>, RecordError> {
    let array: [u8; N] = bytes.try_into().map_err(|_| RecordError::BadLength {
        what,
        len: bytes.len(),
        expected: N,
    })?;
    Ok(Zeroizing::new(array))
}

fn parse_jid(what: &'static str, text: &str) -> Result<Jid, RecordError> {
    text.parse().map_err(|_| RecordError::BadJid {
        what,
        text: text.to_owned(),
    })
}

/// Overwrites the secret buffers of a record before it is dropped.
pub(crate) fn wipe(mut record: DeviceRecord) {
    use zeroize::Zeroize;
    record.noise_private.zeroize();
    record.identity_private.zeroize();
    record.signed_pre_key_private.zeroize();
    record.adv_secret.zeroize();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use tether_core::binary::Server;

    use super::*;

    fn paired() -> Credentials {
        let mut c = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(7));
        c.device = Some(DeviceIdentity {
            jid: Jid::device("15551234567", 12, Server::WhatsApp),
            lid: Some(Jid::device("123456789012345", 12, Server::Lid)),
            account: Bytes::from_static(b"signed identity"),
            platform: Some("android".into()),
            business_name: None,
        });
        c.confirmed = true;
        c.routing_info = Some(Bytes::from_static(&[8, 2]));
        c.version = Some(AppVersion::new(2, 3000, 1_020_304));
        c.next_pre_key_id = 31;
        c.first_unuploaded_pre_key_id = 17;
        c
    }

    #[test]
    fn device_record_round_trips_every_field() {
        let c = paired();
        let back = decode_device(&encode_device(&c)).unwrap();
        assert_eq!(back.noise_key, c.noise_key);
        assert_eq!(back.identity_key, c.identity_key);
        assert_eq!(back.signed_pre_key.id, c.signed_pre_key.id);
        assert_eq!(back.signed_pre_key.key_pair, c.signed_pre_key.key_pair);
        assert_eq!(back.signed_pre_key.signature, c.signed_pre_key.signature);
        assert_eq!(back.registration_id, c.registration_id);
        assert_eq!(back.adv_secret, c.adv_secret);
        assert_eq!(back.device, c.device);
        assert!(back.confirmed);
        assert_eq!(back.routing_info, c.routing_info);
        assert_eq!(back.version, c.version);
        assert_eq!(back.next_pre_key_id, 31);
        assert_eq!(back.first_unuploaded_pre_key_id, 17);
    }

    #[test]
    fn an_unknown_layout_is_refused() {
        let mut record = DeviceRecord::decode(encode_device(&paired()).as_slice()).unwrap();
        record.format = 9;
        let err = decode_device(&record.encode_to_vec())
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err, RecordError::UnknownFormat { found: 9 });
    }

    #[test]
    fn a_truncated_key_is_refused() {
        let mut record = DeviceRecord::decode(encode_device(&paired()).as_slice()).unwrap();
        record.noise_private.truncate(31);
        let err = decode_device(&record.encode_to_vec())
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(
            err,
            RecordError::BadLength {
                len: 31,
                expected: 32,
                ..
            }
        ));
    }

    #[test]
    fn garbage_is_refused_not_taken_for_empty_credentials() {
        assert!(decode_device(&[0xff, 0xff, 0xff]).is_err());
    }
}
