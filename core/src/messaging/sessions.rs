//! Signal sessions as the messaging layer uses them: the only module that calls
//! `tether-signal` for 1:1 sessions. Records live in the store under canonical addresses
//! ([`super::address`]); this module reads them from the cache, runs the protocol, and writes
//! the results back through the commit.
//!
//! Lookups accept both address forms: a session stored under a device's phone-number name is
//! used for its LID name and moved there in the same commit (`DESIGN.md` §10 "Addresses").
//! A record that does not decode is treated as no session (a retry receipt then makes the
//! sender start a new one), never a panic.

use bytes::Bytes;
use tether_signal::{
    DecryptError, GroupDecryptError, IdentityKey, IdentityKeyPair, IdentityPolicy, PreKey,
    PreKeyBundle, PreKeyId, PreKeySignalMessage, PublicKey, RegistrationId, ResponderKeys,
    SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord, SessionRecord, SignalMessage,
    SignedPreKey, SignedPreKeyId,
};
use thiserror::Error;
use tracing::{debug, warn};

use super::address::Address;
use super::ctx::Ctx;
use super::groups;
use super::rows::{self, SignedPreKeyRow};
use super::stanza::{Enc, EncKind};
use crate::binary::Jid;
use crate::records::{self, Table};

/// Why an incoming `pkmsg`/`msg` could not be decrypted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub(crate) enum DecryptFailure {
    /// No session with the sender.
    #[error("no session with the sender")]
    NoSession,
    /// A redelivered or replayed message whose key is gone.
    #[error("duplicate or too old message")]
    Duplicate,
    /// No session verifies the MAC ("Bad MAC").
    #[error("bad MAC: no session verifies the message")]
    BadMac,
    /// The counter is too far ahead.
    #[error("message too far in the future")]
    TooFar,
    /// The bytes are not a valid message.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The one-time pre-key it names is gone.
    #[error("one-time pre-key {0} is gone")]
    InvalidPreKey(u32),
    /// The signed pre-key it names is gone.
    #[error("signed pre-key {0} is gone")]
    MissingSignedPreKey(u32),
    /// A group message whose sender key we do not have (its SKDM never reached us).
    #[error("no sender key from this group member")]
    NoSenderKey,
    /// A group message whose signature does not verify.
    #[error("the group message's signature does not verify")]
    BadSignature,
}

impl DecryptFailure {
    /// Whether a retry receipt may help (a new session from the sender).
    pub(crate) fn retryable(&self) -> bool {
        !matches!(self, Self::Duplicate)
    }

    /// Whether the first retry receipt already carries keys (the sender needs a new bundle).
    pub(crate) fn needs_keys(&self) -> bool {
        matches!(
            self,
            Self::InvalidPreKey(_) | Self::MissingSignedPreKey(_) | Self::NoSenderKey
        )
    }
}

impl From<DecryptError> for DecryptFailure {
    fn from(e: DecryptError) -> Self {
        match e {
            DecryptError::NoSession | DecryptError::PreKeysRequired { .. } => Self::NoSession,
            DecryptError::Duplicate { .. } => Self::Duplicate,
            DecryptError::BadMac => Self::BadMac,
            DecryptError::TooFarInFuture { .. } => Self::TooFar,
            DecryptError::InvalidPreKeyId { id } => Self::InvalidPreKey(id.value()),
            DecryptError::MissingSignedPreKey { id } => Self::MissingSignedPreKey(id.value()),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// A decrypted message with the state to persist.
pub(crate) struct Plain {
    /// The (padded) plaintext.
    pub(crate) plaintext: Vec<u8>,
    record: SessionRecord,
    identity: IdentityKey,
    consumed: Option<u32>,
    /// The record came from the phone-number name: move it.
    moved_from: Option<Address>,
}

/// The records a decryption of `enc` from `from` (whose phone-number form is `pn`) needs;
/// `group` for group messages (their sender keys).
pub(crate) fn needs(
    ctx: &mut Ctx<'_>,
    from: &Address,
    pn: Option<Address>,
    enc: &Enc,
    group: Option<&Jid>,
) -> Vec<(Table, Bytes)> {
    let mut keys = vec![
        (Table::Sessions, from.key()),
        (Table::Identities, from.key()),
    ];
    if let Some(group) = group {
        keys.push((Table::SenderKeys, groups::sender_key_key(group, from)));
    }
    if let Some(pn) = pn.filter(|p| p != from) {
        keys.push((Table::Sessions, pn.key()));
        keys.push((Table::Identities, pn.key()));
    }
    if enc.kind == EncKind::PreKey
        && let Ok(m) = PreKeySignalMessage::parse(&enc.ciphertext)
    {
        let id = m.signed_pre_key_id().value();
        if id != ctx.creds.signed_pre_key.id {
            keys.push((Table::SignedPreKeys, rows::id_key(id)));
        }
        if let Some(id) = m.pre_key_id() {
            keys.push((Table::PreKeys, records::pre_key_key(id.value())));
        }
    }
    keys
}

/// The session record of `addr` (or of its phone-number form), from the cache.
fn record_of(
    ctx: &mut Ctx<'_>,
    addr: &Address,
    pn: Option<&Address>,
) -> (SessionRecord, Option<Address>) {
    if let Some(bytes) = ctx.get(Table::Sessions, &addr.key()).flatten() {
        return (decode_record(addr, &bytes), None);
    }
    if let Some(pn) = pn.filter(|p| *p != addr)
        && let Some(bytes) = ctx.get(Table::Sessions, &pn.key()).flatten()
    {
        return (decode_record(pn, &bytes), Some(pn.clone()));
    }
    (SessionRecord::new(), None)
}

fn decode_record(addr: &Address, bytes: &[u8]) -> SessionRecord {
    SessionRecord::from_bytes(bytes).unwrap_or_else(|error| {
        warn!(%addr, %error, "a stored session does not decode; treating it as no session");
        SessionRecord::new()
    })
}

/// Decrypts `enc` from `from`. Reads only the cache (see [`needs`]); writes nothing.
pub(crate) fn decrypt(
    ctx: &mut Ctx<'_>,
    from: &Address,
    pn: Option<Address>,
    enc: &Enc,
) -> Result<Plain, DecryptFailure> {
    let (mut record, moved_from) = record_of(ctx, from, pn.as_ref());
    let decrypted = match enc.kind {
        EncKind::Whisper => {
            let message = SignalMessage::parse(&enc.ciphertext)
                .map_err(|e| DecryptFailure::Invalid(e.to_string()))?;
            record.decrypt(&message, IdentityPolicy::AcceptAny, &mut *ctx.rng)?
        }
        EncKind::PreKey => {
            let message = PreKeySignalMessage::parse(&enc.ciphertext)
                .map_err(|e| DecryptFailure::Invalid(e.to_string()))?;
            if record.needs_pre_keys(&message) {
                let identity =
                    IdentityKeyPair::from_private_bytes(*ctx.creds.identity_key.private_bytes());
                let signed = signed_pre_key(ctx, message.signed_pre_key_id());
                let one_time = message.pre_key_id().and_then(|id| {
                    let key = records::pre_key_key(id.value());
                    let value = ctx.get(Table::PreKeys, &key).flatten()?;
                    let (_, pair) = records::pre_key_from_row(&key, &value)?;
                    Some(PreKey::new(id, pair))
                });
                let keys = ResponderKeys {
                    identity: &identity,
                    registration_id: RegistrationId::new(ctx.creds.registration_id),
                    signed_pre_key: signed.as_ref(),
                    one_time_pre_key: one_time.as_ref(),
                };
                record.decrypt_pre_key(
                    &message,
                    Some(keys),
                    IdentityPolicy::AcceptAny,
                    &mut *ctx.rng,
                )?
            } else {
                record.decrypt_pre_key(&message, None, IdentityPolicy::AcceptAny, &mut *ctx.rng)?
            }
        }
        EncKind::SenderKey => {
            return Err(DecryptFailure::Invalid(
                "a sender-key message is not a pairwise message".into(),
            ));
        }
    };
    Ok(Plain {
        plaintext: decrypted.plaintext,
        record,
        identity: decrypted.sender_identity,
        consumed: decrypted.consumed_pre_key.map(PreKeyId::value),
        moved_from,
    })
}

/// Our signed pre-key `id`: the current one, or a retired/staged one from the store.
fn signed_pre_key(ctx: &mut Ctx<'_>, id: SignedPreKeyId) -> Option<SignedPreKey> {
    let current = &ctx.creds.signed_pre_key;
    if current.id == id.value() {
        return Some(SignedPreKey::new(
            id,
            current.key_pair.clone(),
            current.signature,
        ));
    }
    let row: SignedPreKeyRow =
        rows::decode(&ctx.get(Table::SignedPreKeys, &rows::id_key(id.value()))??)?;
    let spk = super::prekeys::signed_pre_key_from_row(id.value(), &row)?;
    Some(SignedPreKey::new(id, spk.key_pair, spk.signature))
}

/// Persists what a decryption changed: the record (under the canonical name), the sender's
/// identity, the consumed one-time pre-key.
pub(crate) fn save(ctx: &mut Ctx<'_>, from: &Address, plain: Plain) {
    ctx.put(
        Table::Sessions,
        from.key(),
        Bytes::from(plain.record.to_bytes()),
    );
    if let Some(pn) = &plain.moved_from {
        debug!(%pn, lid = %from, "session moved to the LID address");
        ctx.delete(Table::Sessions, pn.key());
        ctx.delete(Table::Identities, pn.key());
    }
    save_identity(ctx, from, &plain.identity);
    if let Some(id) = plain.consumed {
        ctx.delete(Table::PreKeys, records::pre_key_key(id));
    }
}

/// Saves a peer identity (trust on first use, follow changes: `messaging.md` §4.9); returns
/// whether it replaced a different one.
pub(crate) fn save_identity(ctx: &mut Ctx<'_>, addr: &Address, identity: &IdentityKey) -> bool {
    let new = identity.public_key().as_montgomery();
    let old = ctx.get(Table::Identities, &addr.key()).flatten();
    if old.as_deref() == Some(&new[..]) {
        return false;
    }
    ctx.put(Table::Identities, addr.key(), Bytes::copy_from_slice(new));
    if old.is_some() {
        warn!(%addr, "the identity key of a contact's device changed");
        return true;
    }
    false
}

/// Whether `addr` has an open session (cache only; `None` when not cached).
pub(crate) fn has_session(ctx: &mut Ctx<'_>, addr: &Address) -> Option<bool> {
    let bytes = ctx.get(Table::Sessions, &addr.key())?;
    Some(bytes.is_some_and(|b| SessionRecord::from_bytes(&b).is_ok_and(|r| r.has_open_session())))
}

/// Encrypts `plaintext` (padded) for `to` and writes the advanced record. `None` without an
/// open session.
pub(crate) fn encrypt(
    ctx: &mut Ctx<'_>,
    to: &Address,
    plaintext: &[u8],
) -> Option<(EncKind, Bytes)> {
    let (mut record, _) = record_of(ctx, to, None);
    let ciphertext = match record.encrypt(plaintext) {
        Ok(c) => c,
        Err(error) => {
            debug!(%to, %error, "cannot encrypt");
            return None;
        }
    };
    ctx.put(Table::Sessions, to.key(), Bytes::from(record.to_bytes()));
    let kind = match ciphertext.kind {
        tether_signal::CiphertextKind::PreKeySignalMessage => EncKind::PreKey,
        tether_signal::CiphertextKind::SignalMessage => EncKind::Whisper,
    };
    Some((kind, Bytes::from(ciphertext.bytes)))
}

/// A bundle as the server sends it (`messaging.md` §3) or as a retry receipt carries it
/// (§6.5), in raw 32-byte keys.
#[derive(Clone, Debug)]
pub(crate) struct RawBundle {
    pub(crate) registration_id: u32,
    pub(crate) device: u16,
    pub(crate) identity: [u8; 32],
    pub(crate) signed_pre_key: (u32, [u8; 32], [u8; 64]),
    pub(crate) pre_key: Option<(u32, [u8; 32])>,
}

/// Starts a new session with `to` from `bundle` (the current one, if any, is archived) and
/// saves it with the identity. `false` when the bundle's signature does not verify.
pub(crate) fn process_bundle(ctx: &mut Ctx<'_>, to: &Address, bundle: &RawBundle) -> bool {
    let (mut record, _) = record_of(ctx, to, None);
    let identity = IdentityKey::new(PublicKey::from_montgomery(bundle.identity));
    let signal_bundle = PreKeyBundle {
        registration_id: RegistrationId::new(bundle.registration_id),
        device_id: u32::from(bundle.device),
        pre_key: bundle
            .pre_key
            .map(|(id, k)| (PreKeyId::new(id), PublicKey::from_montgomery(k))),
        signed_pre_key_id: SignedPreKeyId::new(bundle.signed_pre_key.0),
        signed_pre_key: PublicKey::from_montgomery(bundle.signed_pre_key.1),
        signed_pre_key_signature: bundle.signed_pre_key.2,
        identity_key: identity,
    };
    let ours = IdentityKeyPair::from_private_bytes(*ctx.creds.identity_key.private_bytes());
    if let Err(error) = record.process_bundle(
        &ours,
        RegistrationId::new(ctx.creds.registration_id),
        &signal_bundle,
        IdentityPolicy::AcceptAny,
        &mut *ctx.rng,
    ) {
        warn!(%to, %error, "refusing a pre-key bundle");
        return false;
    }
    ctx.put(Table::Sessions, to.key(), Bytes::from(record.to_bytes()));
    save_identity(ctx, to, &identity);
    true
}

/// The remote registration id of `addr`'s current session (cache only).
pub(crate) fn remote_registration(ctx: &mut Ctx<'_>, addr: &Address) -> Option<u32> {
    let bytes = ctx.get(Table::Sessions, &addr.key())??;
    let record = SessionRecord::from_bytes(&bytes).ok()?;
    record.remote_registration_id().map(RegistrationId::value)
}

/// A group member's sender-key record, from the cache (empty when there is none).
fn sender_record(ctx: &mut Ctx<'_>, group: &Jid, from: &Address) -> SenderKeyRecord {
    ctx.get(Table::SenderKeys, &groups::sender_key_key(group, from))
        .flatten()
        .and_then(|b| SenderKeyRecord::from_bytes(&b).ok())
        .unwrap_or_default()
}

/// Takes in a member's sender key (an SKDM found in a pairwise message of `group`).
pub(crate) fn process_distribution(ctx: &mut Ctx<'_>, group: &Jid, from: &Address, bytes: &[u8]) {
    let Ok(skdm) = SenderKeyDistributionMessage::parse(bytes) else {
        warn!(%group, %from, "an unreadable sender key distribution message");
        return;
    };
    let mut record = sender_record(ctx, group, from);
    if record.process_distribution(&skdm) {
        debug!(%group, %from, "sender key received");
        ctx.put(
            Table::SenderKeys,
            groups::sender_key_key(group, from),
            Bytes::from(record.to_bytes()),
        );
    }
}

/// Decrypts an `skmsg` of `group` from `from` and saves the advanced record.
pub(crate) fn decrypt_group(
    ctx: &mut Ctx<'_>,
    group: &Jid,
    from: &Address,
    enc: &Enc,
) -> Result<Vec<u8>, DecryptFailure> {
    let message = SenderKeyMessage::parse(&enc.ciphertext)
        .map_err(|e| DecryptFailure::Invalid(e.to_string()))?;
    let mut record = sender_record(ctx, group, from);
    let plaintext = record.decrypt(&message).map_err(|e| match e {
        GroupDecryptError::NoSenderKey { .. } => DecryptFailure::NoSenderKey,
        GroupDecryptError::BadSignature => DecryptFailure::BadSignature,
        GroupDecryptError::Duplicate { .. } => DecryptFailure::Duplicate,
        GroupDecryptError::TooFarInFuture { .. } => DecryptFailure::TooFar,
        other => DecryptFailure::Invalid(other.to_string()),
    })?;
    ctx.put(
        Table::SenderKeys,
        groups::sender_key_key(group, from),
        Bytes::from(record.to_bytes()),
    );
    Ok(plaintext)
}
