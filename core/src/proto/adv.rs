//! ADV ("account device verification") messages: how the primary phone vouches for a companion
//! (`protocol/session.md` §3.5; whatsmeow `proto/waAdv/WAAdv.proto`, package `WAAdv`).
//!
//! ```text
//! ADVSignedDeviceIdentityHMAC { 1 details: bytes (a serialized ADVSignedDeviceIdentity),
//!                               2 HMAC: bytes (32), 3 accountType: ADVEncryptionType }
//! ADVSignedDeviceIdentity     { 1 details: bytes (a serialized ADVDeviceIdentity),
//!                               2 accountSignatureKey: bytes (32), 3 accountSignature: bytes (64),
//!                               4 deviceSignature: bytes (64) }
//! ADVDeviceIdentity           { 1 rawID: uint32, 2 timestamp: uint64, 3 keyIndex: uint32,
//!                               4 accountType: ADVEncryptionType, 5 deviceType: ADVEncryptionType }
//! ADVKeyIndexList             { 1 rawID: uint32, 2 timestamp: uint64, 3 currentIndex: uint32,
//!                               4 validIndexes: repeated uint32 [packed], 5 accountType }
//! ADVSignedKeyIndexList       { 1 details: bytes (a serialized ADVKeyIndexList),
//!                               2 accountSignature: bytes, 3 accountSignatureKey: bytes }
//! ADVEncryptionType           { E2EE = 0, HOSTED = 1 }
//! ```
//!
//! proto2, every field optional, so every field is an `Option` and absence stays visible.
//! Signatures and the HMAC cover `details` bytes exactly as received: those stay bytes and the
//! inner message is decoded separately. Enum fields hold the raw `i32` (prost's convention), so
//! a value outside [`AdvEncryptionType`] is kept and can be rejected by the caller.

use bytes::Bytes;

/// `ADVEncryptionType`: whether an account (or device) is end-to-end encrypted or hosted
/// (a Cloud API business account whose messages a hosting provider decrypts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AdvEncryptionType {
    /// `E2EE`: a normal account.
    E2ee = 0,
    /// `HOSTED`: a hosted business account.
    Hosted = 1,
}

/// `ADVSignedDeviceIdentityHMAC`: the `<device-identity>` content of `<pair-success>`, an
/// [`AdvSignedDeviceIdentity`] authenticated with the ADV secret from the QR code.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvSignedDeviceIdentityHmac {
    /// Field 1: a serialized [`AdvSignedDeviceIdentity`] (the HMAC input).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub details: Option<Bytes>,
    /// Field 2 (`HMAC`): HMAC-SHA256 with the ADV secret over `details` (32 bytes).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub hmac: Option<Bytes>,
    /// Field 3: [`AdvEncryptionType`] of the account; `HOSTED` prefixes the HMAC input.
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "3")]
    pub account_type: Option<i32>,
}

/// `ADVSignedDeviceIdentity`: the device identity signed by the primary's account key (and,
/// once accepted, countersigned by the companion's identity key).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvSignedDeviceIdentity {
    /// Field 1: a serialized [`AdvDeviceIdentity`] (both signatures cover these exact bytes).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub details: Option<Bytes>,
    /// Field 2: the primary's 32-byte identity public key, which made `account_signature`.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub account_signature_key: Option<Bytes>,
    /// Field 3: the primary's 64-byte signature.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub account_signature: Option<Bytes>,
    /// Field 4: the companion's 64-byte signature.
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub device_signature: Option<Bytes>,
}

/// `ADVDeviceIdentity`: what the primary certifies about the new companion.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvDeviceIdentity {
    /// Field 1 (`rawID`): an account-wide identifier chosen by the primary.
    #[prost(uint32, optional, tag = "1")]
    pub raw_id: Option<u32>,
    /// Field 2: when the primary issued it, Unix seconds.
    #[prost(uint64, optional, tag = "2")]
    pub timestamp: Option<u64>,
    /// Field 3: the companion's key index in the account's device list (`key-index` of the
    /// reply).
    #[prost(uint32, optional, tag = "3")]
    pub key_index: Option<u32>,
    /// Field 4: [`AdvEncryptionType`] of the account.
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "4")]
    pub account_type: Option<i32>,
    /// Field 5: [`AdvEncryptionType`] of the device; `HOSTED` changes the account-signature
    /// prefix (whatsmeow).
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "5")]
    pub device_type: Option<i32>,
}

/// `ADVKeyIndexList`: the account's list of valid companion key indexes (device lists; not
/// used while pairing).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvKeyIndexList {
    /// Field 1 (`rawID`).
    #[prost(uint32, optional, tag = "1")]
    pub raw_id: Option<u32>,
    /// Field 2: Unix seconds.
    #[prost(uint64, optional, tag = "2")]
    pub timestamp: Option<u64>,
    /// Field 3: the newest key index.
    #[prost(uint32, optional, tag = "3")]
    pub current_index: Option<u32>,
    /// Field 4: the valid key indexes (packed).
    #[prost(uint32, repeated, packed = "true", tag = "4")]
    pub valid_indexes: Vec<u32>,
    /// Field 5: [`AdvEncryptionType`] of the account.
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "5")]
    pub account_type: Option<i32>,
}

/// `ADVSignedKeyIndexList`: an [`AdvKeyIndexList`] signed by the account key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvSignedKeyIndexList {
    /// Field 1: a serialized [`AdvKeyIndexList`].
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub details: Option<Bytes>,
    /// Field 2: the account's signature over `details`.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub account_signature: Option<Bytes>,
    /// Field 3: the account's identity public key.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub account_signature_key: Option<Bytes>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn signed_identity_encodes_fields_in_number_order() {
        let identity = AdvSignedDeviceIdentity {
            details: Some(Bytes::from_static(&[0xAA])),
            account_signature_key: None,
            account_signature: Some(Bytes::from_static(&[0xBB, 0xCC])),
            device_signature: Some(Bytes::from_static(&[0xDD])),
        };
        // 0x0A = field 1 LEN, 0x1A = field 3 LEN, 0x22 = field 4 LEN; field 2 left out.
        assert_eq!(
            identity.encode_to_vec(),
            [0x0A, 1, 0xAA, 0x1A, 2, 0xBB, 0xCC, 0x22, 1, 0xDD]
        );
    }

    #[test]
    fn hmac_container_field_numbers() {
        let container = AdvSignedDeviceIdentityHmac {
            details: Some(Bytes::from_static(&[1])),
            hmac: Some(Bytes::from_static(&[2])),
            account_type: Some(AdvEncryptionType::Hosted as i32),
        };
        assert_eq!(container.encode_to_vec(), [0x0A, 1, 1, 0x12, 1, 2, 0x18, 1]);
    }

    #[test]
    fn device_identity_field_numbers() {
        let identity = AdvDeviceIdentity {
            raw_id: Some(1),
            timestamp: Some(2),
            key_index: Some(3),
            account_type: Some(0),
            device_type: Some(1),
        };
        assert_eq!(
            identity.encode_to_vec(),
            [0x08, 1, 0x10, 2, 0x18, 3, 0x20, 0, 0x28, 1]
        );
    }

    #[test]
    fn key_index_list_packs_valid_indexes() {
        let list = AdvKeyIndexList {
            raw_id: None,
            timestamp: None,
            current_index: None,
            valid_indexes: vec![1, 2],
            account_type: None,
        };
        assert_eq!(list.encode_to_vec(), [0x22, 2, 1, 2]);
        let signed = AdvSignedKeyIndexList {
            details: Some(Bytes::from_static(&[9])),
            account_signature: Some(Bytes::from_static(&[8])),
            account_signature_key: Some(Bytes::from_static(&[7])),
        };
        assert_eq!(signed.encode_to_vec(), [0x0A, 1, 9, 0x12, 1, 8, 0x1A, 1, 7]);
    }
}
