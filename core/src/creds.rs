//! The credentials model and the store contract (`DESIGN.md` §5, `session.md` §7).
//!
//! [`Credentials`] is everything a companion device must keep across restarts: its key pairs,
//! registration id, ADV secret, its identity on the account once paired, and the keyed
//! families (one-time pre-keys, app-state keys). The core never writes it anywhere itself: every
//! change leaves the core as an `Action::PersistCredentials { seq, delta }` carrying a
//! [`CredentialsDelta`], and the core does not act on the new state until the store answers
//! `Persisted(seq)` ("persist before proceeding").
//!
//! ```text
//!   core ── PersistCredentials{seq, delta} ──▶ adapter ── CredentialStore::apply(seq, delta) ──▶ disk
//!   core ◀── StoreResult::Persisted(seq) / Failed{seq, error} ──────────────────────────────────┘
//! ```
//!
//! A store applies each delta in **one transaction**, `seq` strictly increases, and a replayed
//! `seq` (at or below the last applied one) is a no-op — so an adapter that retries after a
//! crash can never apply a change twice. [`Credentials::apply`] is the one definition of what a
//! delta does, shared by every store, so a store holding a prefix of the deltas always holds a
//! consistent credential set.
//!
//! Key material never reaches `Debug` output: every secret prints as `<redacted>`.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::binary::Jid;
use crate::crypto::KeyPair;
use crate::payload::AppVersion;
use crate::records::{RecordData, RecordRead, RecordWrite};

/// Sequence number of a persisted change. Strictly increasing per store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PersistSeq(pub u64);

impl PersistSeq {
    /// The sequence number after this one.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for PersistSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A 32-byte secret that is wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret32(Zeroizing<[u8; 32]>);

impl Secret32 {
    /// Wraps raw secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The signed pre-key: an X25519 pair signed by the identity key over `0x05 ‖ public`.
#[derive(Clone, Debug)]
pub struct SignedPreKey {
    /// Key id (24 bits on the wire).
    pub id: u32,
    /// The key pair (its `Debug` redacts the private half).
    pub key_pair: KeyPair,
    /// Signature by the identity key.
    pub signature: [u8; 64],
}

/// Who this device is on the account, learnt at `pair-success`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// Own phone-number JID with device, e.g. `15551234567:12@s.whatsapp.net`.
    pub jid: Jid,
    /// Own LID with device, when the server sent one.
    pub lid: Option<Jid>,
    /// The signed device identity (`ADVSignedDeviceIdentity` protobuf, as persisted).
    pub account: Bytes,
    /// Platform of the primary device (`android`, `smbi`, …).
    pub platform: Option<String>,
    /// Business name, for business accounts.
    pub business_name: Option<String>,
}

/// Everything a companion device keeps across restarts.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The long-term Noise static key: the server identifies the companion by it.
    pub noise_key: KeyPair,
    /// The Signal identity key.
    pub identity_key: KeyPair,
    /// The current signed pre-key.
    pub signed_pre_key: SignedPreKey,
    /// Registration id (whatsmeow draws a full u32).
    pub registration_id: u32,
    /// The ADV secret that authenticates `pair-success` (shown in the QR, replaced by pair-code
    /// stage 2).
    pub adv_secret: Secret32,
    /// The identity on the account; `None` until paired.
    pub device: Option<DeviceIdentity>,
    /// Whether the server has accepted this identity with a `<success>` since pairing. A 401
    /// on an unconfirmed identity discards it and restarts linking instead of logging out.
    pub confirmed: bool,
    /// Own push name.
    pub push_name: Option<String>,
    /// The opaque edge-routing blob from `<ib><edge_routing>`, replayed in the intro.
    pub routing_info: Option<Bytes>,
    /// The client version last known to be accepted (after a 405 refresh).
    pub version: Option<AppVersion>,
    /// Next one-time pre-key id to generate.
    pub next_pre_key_id: u32,
    /// First pre-key id not yet uploaded; ids below it are on the server.
    pub first_unuploaded_pre_key_id: u32,
    /// App-state sync keys by key id.
    pub app_state_sync_keys: BTreeMap<Bytes, Bytes>,
    /// App-state collection versions by collection name.
    pub app_state_versions: BTreeMap<String, Bytes>,
}

/// One change to [`Credentials`]; a [`CredentialsDelta`] is a list of them applied atomically.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CredentialChange {
    /// A complete fresh credential set (first start, or after quarantine).
    Created(Box<Credentials>),
    /// Linking succeeded: the identity on the account (persisted as unconfirmed).
    Paired(DeviceIdentity),
    /// The first `<success>` with the paired identity.
    Confirmed,
    /// An unconfirmed pairing was refused by the server (401 before the first `<success>`):
    /// forget the identity on the account and link again with the same keys.
    PairingDiscarded,
    /// Pair-code stage 2 replaced the ADV secret.
    AdvSecret(Secret32),
    /// Own LID learnt or changed at `<success>`.
    Lid(Jid),
    /// New edge-routing info.
    RoutingInfo(Bytes),
    /// A refreshed client version.
    Version(AppVersion),
    /// Push name.
    PushName(String),
    /// One-time pre-keys were generated under every id below `next_pre_key_id` not used
    /// before. The keys themselves are [`Table::PreKeys`](crate::records::Table::PreKeys)
    /// records written in the same delta (see [`pre_key_record`](crate::records::pre_key_record)):
    /// they are read on demand, never held with the credentials.
    PreKeysGenerated {
        /// The id to use next.
        next_pre_key_id: u32,
    },
    /// The server accepted the upload of every pre-key below this id.
    PreKeysUploaded {
        /// The new first un-uploaded id.
        first_unuploaded_pre_key_id: u32,
    },
    /// The signed pre-key was rotated: this one is current now (the previous one is kept as
    /// a record, loadable by id).
    SignedPreKey(SignedPreKey),
    /// App-state sync keys received from the primary.
    AppStateSyncKeys(Vec<(Bytes, Bytes)>),
    /// An app-state collection's new version state.
    AppStateVersion {
        /// Collection name.
        name: String,
        /// Serialized version state.
        state: Bytes,
    },
}

/// A set of changes that a store applies in one transaction: credential changes and the
/// keyed-record writes that belong with them (Signal sessions, the inbox, …; see
/// [`crate::records`]).
#[derive(Clone, Debug, Default)]
pub struct CredentialsDelta {
    /// The credential changes, in order.
    pub changes: Vec<CredentialChange>,
    /// The record writes, in order (applied after `changes`, in the same transaction).
    pub records: Vec<RecordWrite>,
}

impl CredentialsDelta {
    /// A generated batch of one-time pre-keys: their [`Table::PreKeys`] records and the new
    /// next id, as the core writes them.
    ///
    /// [`Table::PreKeys`]: crate::records::Table::PreKeys
    pub fn pre_keys_generated(keys: &[(u32, KeyPair)], next_pre_key_id: u32) -> Self {
        Self {
            changes: vec![CredentialChange::PreKeysGenerated { next_pre_key_id }],
            records: keys
                .iter()
                .map(|(id, key)| crate::records::pre_key_record(*id, key))
                .collect(),
        }
    }

    /// A delta of one change.
    pub fn one(change: CredentialChange) -> Self {
        Self {
            changes: vec![change],
            records: Vec::new(),
        }
    }

    /// A delta of credential changes only.
    pub fn changes(changes: Vec<CredentialChange>) -> Self {
        Self {
            changes,
            records: Vec::new(),
        }
    }

    /// Whether the delta creates a fresh identity (a `Created` change): a store then drops
    /// every record of the previous identity before applying the delta's own writes.
    pub fn creates_identity(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c, CredentialChange::Created(_)))
    }

    /// Whether the delta changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.records.is_empty()
    }
}

/// Why a delta could not be applied to the credentials a store holds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The delta changes credentials, but the store holds none (nothing was ever `Created`).
    #[error("the delta changes credentials but the store holds none")]
    NoCredentials,
}

impl Credentials {
    /// Applies `delta` to `current` (which is `None` before the first `Created`).
    ///
    /// This is the single definition of a delta's meaning: every store calls it inside its
    /// transaction so that all stores agree byte for byte on what a prefix of deltas yields.
    pub fn apply(current: &mut Option<Self>, delta: &CredentialsDelta) -> Result<(), ApplyError> {
        for change in &delta.changes {
            if let CredentialChange::Created(fresh) = change {
                *current = Some((**fresh).clone());
                continue;
            }
            let creds = current.as_mut().ok_or(ApplyError::NoCredentials)?;
            creds.apply_change(change);
        }
        Ok(())
    }

    /// Applies one change in place (what [`Credentials::apply`] does for each change).
    pub(crate) fn apply_change(&mut self, change: &CredentialChange) {
        match change {
            CredentialChange::Created(fresh) => *self = (**fresh).clone(),
            CredentialChange::Paired(device) => {
                self.device = Some(device.clone());
                self.confirmed = false;
            }
            CredentialChange::Confirmed => self.confirmed = true,
            CredentialChange::PairingDiscarded => {
                self.device = None;
                self.confirmed = false;
            }
            CredentialChange::AdvSecret(secret) => self.adv_secret = secret.clone(),
            CredentialChange::Lid(lid) => {
                if let Some(device) = &mut self.device {
                    device.lid = Some(lid.clone());
                }
            }
            CredentialChange::RoutingInfo(info) => self.routing_info = Some(info.clone()),
            CredentialChange::Version(version) => self.version = Some(*version),
            CredentialChange::PushName(name) => self.push_name = Some(name.clone()),
            CredentialChange::PreKeysGenerated { next_pre_key_id } => {
                self.next_pre_key_id = self.next_pre_key_id.max(*next_pre_key_id);
            }
            CredentialChange::PreKeysUploaded {
                first_unuploaded_pre_key_id,
            } => {
                self.first_unuploaded_pre_key_id = self
                    .first_unuploaded_pre_key_id
                    .max(*first_unuploaded_pre_key_id);
            }
            CredentialChange::SignedPreKey(spk) => self.signed_pre_key = spk.clone(),
            CredentialChange::AppStateSyncKeys(keys) => {
                for (id, key) in keys {
                    self.app_state_sync_keys.insert(id.clone(), key.clone());
                }
            }
            CredentialChange::AppStateVersion { name, state } => {
                self.app_state_versions.insert(name.clone(), state.clone());
            }
        }
    }

    /// A fresh, unpaired credential set drawn from `rng` (in the core, the seeded key stream).
    ///
    /// Follows whatsmeow: a full 32-bit registration id, signed pre-key id 1 signed over
    /// `0x05 ‖ public` by the identity key, pre-key ids starting at 1.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let noise_key = KeyPair::generate(rng);
        let identity_key = KeyPair::generate(rng);
        let spk = KeyPair::generate(rng);
        let mut message = [0u8; 33];
        message[0] = crate::payload::KEY_TYPE_DJB;
        message[1..].copy_from_slice(&spk.public_bytes());
        let mut random = [0u8; 64];
        rng.fill_bytes(&mut random);
        let signature = identity_key.sign(&message, &random);
        let mut adv = [0u8; 32];
        rng.fill_bytes(&mut adv);
        Self {
            noise_key,
            identity_key,
            signed_pre_key: SignedPreKey {
                id: 1,
                key_pair: spk,
                signature,
            },
            registration_id: rng.next_u32(),
            adv_secret: Secret32::new(adv),
            device: None,
            confirmed: false,
            push_name: None,
            routing_info: None,
            version: None,
            next_pre_key_id: 1,
            first_unuploaded_pre_key_id: 1,
            app_state_sync_keys: BTreeMap::new(),
            app_state_versions: BTreeMap::new(),
        }
    }

    /// Whether this device has been linked to an account.
    pub fn is_paired(&self) -> bool {
        self.device.is_some()
    }
}

/// A store failure, as the core sees it (adapters wrap their own errors in it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("credential store failed: {message}")]
pub struct StoreError {
    /// What went wrong, for the user: what, why and what to do.
    pub message: String,
}

impl StoreError {
    /// A store error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The persistence contract every credential store implements (`DESIGN.md` §5).
///
/// Stores are synchronous: adapters call them off their async threads.
pub trait CredentialStore {
    /// The stored credentials and the last applied sequence number, if any.
    fn load(&mut self) -> Result<Option<(Credentials, PersistSeq)>, StoreError>;
    /// Applies `delta` in one transaction: its credential changes (through
    /// [`Credentials::apply`]) and its record writes, all or nothing. `seq` must be greater
    /// than every applied one; a replayed `seq` (≤ the last applied) is a no-op that returns
    /// `Ok`.
    fn apply(&mut self, seq: PersistSeq, delta: &CredentialsDelta) -> Result<(), StoreError>;
    /// Answers `reads` against the durable records, one [`RecordData`] per read at the same
    /// index (see [`crate::records`]). Reads see every delta applied before them.
    fn read(&mut self, reads: &[RecordRead]) -> Result<Vec<RecordData>, StoreError>;
    /// Moves the current identity aside (kept, listed, restorable; never deleted) together
    /// with every keyed record (they belong to that identity) and leaves the store empty. `why` is recorded with it. An empty store has no sequence for `load`
    /// to report, so the quarantine also restarts the sequence: the next process's fresh
    /// credentials arrive with `seq` 1 and must be applied, not taken for a replay.
    fn quarantine(&mut self, seq: PersistSeq, why: &str) -> Result<(), StoreError>;
}

/// Identifies one `LoadRecords` action, to match its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LoadId(pub u64);

impl fmt::Display for LoadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "load#{}", self.0)
    }
}

/// The answer to a store action, fed back with `Connection::handle_store`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreResult {
    /// The change with this sequence number is durable.
    Persisted(PersistSeq),
    /// The quarantine with this sequence number is durable.
    Quarantined(PersistSeq),
    /// The store could not apply it.
    Failed {
        /// The sequence number of the failed action.
        seq: PersistSeq,
        /// Why.
        error: StoreError,
    },
    /// The records a `LoadRecords` action asked for, one answer per read.
    Loaded {
        /// The action's id.
        id: LoadId,
        /// The answers, in the order of the reads.
        data: Vec<RecordData>,
    },
    /// The store could not read them.
    LoadFailed {
        /// The action's id.
        id: LoadId,
        /// Why.
        error: StoreError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::Server;

    fn fresh(seed: u8) -> Credentials {
        Credentials {
            noise_key: KeyPair::from_private_bytes([seed; 32]),
            identity_key: KeyPair::from_private_bytes([seed.wrapping_add(1); 32]),
            signed_pre_key: SignedPreKey {
                id: 1,
                key_pair: KeyPair::from_private_bytes([seed.wrapping_add(2); 32]),
                signature: [7; 64],
            },
            registration_id: 42,
            adv_secret: Secret32::new([seed.wrapping_add(3); 32]),
            device: None,
            confirmed: false,
            push_name: None,
            routing_info: None,
            version: None,
            next_pre_key_id: 1,
            first_unuploaded_pre_key_id: 1,
            app_state_sync_keys: BTreeMap::new(),
            app_state_versions: BTreeMap::new(),
        }
    }

    fn device() -> DeviceIdentity {
        DeviceIdentity {
            jid: Jid::device("15551234567", 12, Server::WhatsApp),
            lid: None,
            account: Bytes::from_static(b"signed identity"),
            platform: Some("android".into()),
            business_name: None,
        }
    }

    #[test]
    fn debug_output_never_contains_private_key_bytes() {
        let creds = fresh(9);
        let shown = format!("{creds:?}");
        let private = hex::encode(creds.noise_key.private_bytes().as_slice());
        assert!(!shown.contains(&private), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(format!("{:?}", Secret32::new([1; 32])), "<redacted>");
    }

    #[test]
    fn generated_credentials_follow_the_seed_and_sign_the_pre_key() {
        use rand_chacha::ChaCha20Rng;
        use rand_core::SeedableRng;
        let a = Credentials::generate(&mut ChaCha20Rng::from_seed([5; 32]));
        let b = Credentials::generate(&mut ChaCha20Rng::from_seed([5; 32]));
        assert_eq!(a.noise_key.public_bytes(), b.noise_key.public_bytes());
        assert_eq!(a.registration_id, b.registration_id);
        assert_ne!(a.noise_key.public_bytes(), a.identity_key.public_bytes());
        let mut message = vec![0x05];
        message.extend_from_slice(&a.signed_pre_key.key_pair.public_bytes());
        assert!(a.identity_key.verify(&message, &a.signed_pre_key.signature));
        assert!(!a.is_paired());
    }

    #[test]
    fn a_discarded_pairing_keeps_the_keys() {
        let mut creds = Some(fresh(4));
        let delta = CredentialsDelta::changes(vec![
            CredentialChange::Paired(device()),
            CredentialChange::PairingDiscarded,
        ]);
        Credentials::apply(&mut creds, &delta).unwrap();
        let c = creds.unwrap();
        assert!(!c.is_paired());
        assert_eq!(
            c.noise_key.public_bytes(),
            fresh(4).noise_key.public_bytes()
        );
    }

    #[test]
    fn changes_before_created_are_refused() {
        let mut none = None;
        let err = Credentials::apply(
            &mut none,
            &CredentialsDelta::one(CredentialChange::Confirmed),
        );
        assert_eq!(err, Err(ApplyError::NoCredentials));
    }

    #[test]
    fn pairing_is_unconfirmed_until_success() {
        let mut creds = None;
        let delta = CredentialsDelta::changes(vec![
            CredentialChange::Created(Box::new(fresh(1))),
            CredentialChange::Paired(device()),
        ]);
        Credentials::apply(&mut creds, &delta).unwrap();
        let c = creds.as_ref().unwrap();
        assert!(c.is_paired() && !c.confirmed);
        Credentials::apply(
            &mut creds,
            &CredentialsDelta::one(CredentialChange::Confirmed),
        )
        .unwrap();
        assert!(creds.unwrap().confirmed);
    }

    #[test]
    fn pre_key_watermarks_never_move_backwards() {
        let mut creds = Some(fresh(2));
        let delta = CredentialsDelta::changes(vec![
            CredentialChange::PreKeysGenerated { next_pre_key_id: 4 },
            CredentialChange::PreKeysUploaded {
                first_unuploaded_pre_key_id: 4,
            },
            CredentialChange::PreKeysUploaded {
                first_unuploaded_pre_key_id: 2,
            },
            CredentialChange::PreKeysGenerated { next_pre_key_id: 3 },
        ]);
        Credentials::apply(&mut creds, &delta).unwrap();
        let c = creds.unwrap();
        assert_eq!(c.next_pre_key_id, 4);
        assert_eq!(c.first_unuploaded_pre_key_id, 4);
    }

    #[test]
    fn lid_and_routing_info_update_in_place() {
        let mut creds = Some(fresh(3));
        let lid = Jid::device("123456789012345", 12, Server::Lid);
        let delta = CredentialsDelta::changes(vec![
            CredentialChange::Paired(device()),
            CredentialChange::Lid(lid.clone()),
            CredentialChange::RoutingInfo(Bytes::from_static(&[8, 1])),
        ]);
        Credentials::apply(&mut creds, &delta).unwrap();
        let c = creds.unwrap();
        assert_eq!(c.device.unwrap().lid, Some(lid));
        assert_eq!(c.routing_info.as_deref(), Some(&[8u8, 1][..]));
    }
}
