//! [`SessionRecord`]: every session state we hold with one peer device, and the operations on
//! them. Each operation either applies all its changes to the record or, on error, none.

use core::fmt;
use std::collections::VecDeque;

use rand_core::CryptoRng;

use super::bundle::{IdentityPolicy, PreKeyBundle, ResponderKeys};
use super::error::{BundleError, DecryptError, EncryptError};
use super::ratchet::{self, StateError};
use super::state::{BaseKeyRole, SessionState};
use super::x3dh;
use super::{Ciphertext, Decrypted, SessionSource};
use crate::keys::{IdentityKey, IdentityKeyPair, PublicKey, RegistrationId};
use crate::message::{PreKeySignalMessage, SignalMessage};

/// Most archived (previous) session states a record keeps, the oldest dropped first: Signal's
/// `ARCHIVED_STATES_MAX_LENGTH`, libsignal-node's `CLOSED_SESSIONS_MAX` (which counts the open
/// state too, so it keeps one fewer).
pub const MAX_ARCHIVED_STATES: usize = 40;

/// Every Signal session state with one peer device: the current one (we encrypt with it) and up
/// to [`MAX_ARCHIVED_STATES`] previous ones, newest first, kept so late messages of a replaced
/// session still decrypt.
///
/// ```text
///   new() ── process_bundle ──▶ current: initiator, pre-key pending ── encrypt ──▶ pkmsg
///     │                            │ decrypt (first reply)
///     │                            ▼
///     └── decrypt_pre_key ────▶ current: established ─────────────── encrypt ──▶ msg
///         (new base key)          │ process_bundle / decrypt_pre_key (new base key) /
///                                 │ archive_current_session
///                                 ▼
///                            archived[0] … archived[39]   (decrypt only; never promoted back)
/// ```
///
/// Operations take `&mut self`: on `Ok` the record holds exactly the state to persist, on `Err`
/// it is untouched and nothing needs persisting. Nothing else is kept anywhere.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    /// Newest first.
    pub(crate) archived: VecDeque<SessionState>,
}

/// Where a state sits in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Current,
    Archived(usize),
}

impl SessionRecord {
    /// An empty record (no session).
    pub fn new() -> Self {
        Self::default()
    }

    /// A record whose only state is a new session from `bundle`; see
    /// [`SessionRecord::process_bundle`].
    pub fn from_bundle<R: CryptoRng + ?Sized>(
        our_identity: &IdentityKeyPair,
        our_registration_id: RegistrationId,
        bundle: &PreKeyBundle,
        policy: IdentityPolicy<'_>,
        rng: &mut R,
    ) -> Result<Self, BundleError> {
        let mut record = Self::new();
        record.process_bundle(our_identity, our_registration_id, bundle, policy, rng)?;
        Ok(record)
    }

    /// Starts a new session from the peer's `bundle` as X3DH initiator (`messaging.md` §4.2):
    /// verifies the signed pre-key's signature (libsignal-node skips this; we do not), applies
    /// `policy` to the bundle's identity, draws the base key and the first ratchet key from
    /// `rng` (64 bytes), archives the current state if there is one, and makes the new state
    /// current. Until the peer answers, [`SessionRecord::encrypt`] produces `pkmsg`s.
    pub fn process_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        our_identity: &IdentityKeyPair,
        our_registration_id: RegistrationId,
        bundle: &PreKeyBundle,
        policy: IdentityPolicy<'_>,
        rng: &mut R,
    ) -> Result<(), BundleError> {
        if !bundle.verify_signature() {
            return Err(BundleError::InvalidSignature);
        }
        if !policy.accepts(&bundle.identity_key) {
            return Err(BundleError::UntrustedIdentity {
                received: bundle.identity_key,
            });
        }
        let remote = x3dh::Remote {
            identity: &bundle.identity_key,
            registration_id: bundle.registration_id,
            signed_pre_key: (bundle.signed_pre_key_id, &bundle.signed_pre_key),
            one_time_pre_key: bundle.pre_key.as_ref().map(|(id, key)| (*id, key)),
        };
        let state = x3dh::initiate(our_identity, our_registration_id, &remote, rng);
        self.install(state);
        Ok(())
    }

    /// Encrypts `plaintext` (already padded, `messaging.md` §5.2) with the current state and
    /// advances its sending chain: a `pkmsg` while the state's pre-key is pending (no reply
    /// decrypted yet), else a `msg`. Draws no randomness.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Ciphertext, EncryptError> {
        let state = self.current.as_mut().ok_or(EncryptError::NoSession)?;
        ratchet::encrypt(state, plaintext)
    }

    /// Decrypts a `msg`: tries the current state, then the archived ones, newest first; the
    /// first whose keys verify the MAC decrypts it and is advanced (an archived state stays
    /// archived, as in libsignal-node). A new peer ratchet key draws our next ratchet key from
    /// `rng` (32 bytes), only once the MAC verified.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        message: &SignalMessage,
        policy: IdentityPolicy<'_>,
        rng: &mut R,
    ) -> Result<Decrypted, DecryptError> {
        if self.is_empty() {
            return Err(DecryptError::NoSession);
        }
        let mut failure = StateError::BadMac;
        let slots = self
            .current
            .iter()
            .map(|_| Slot::Current)
            .chain((0..self.archived.len()).map(Slot::Archived));
        for slot in slots {
            let state = self.state(slot);
            let known_chain = state.receiver_chain(message.ratchet_key()).is_some();
            match try_decrypt(state, message) {
                Ok((step, plaintext)) => {
                    let sender_identity = state.remote_identity;
                    if !policy.accepts(&sender_identity) {
                        return Err(DecryptError::UntrustedIdentity {
                            received: sender_identity,
                        });
                    }
                    ratchet::commit(self.state_mut(slot), step, rng);
                    return Ok(Decrypted {
                        plaintext,
                        sender_identity,
                        consumed_pre_key: None,
                        source: slot.source(),
                    });
                }
                // The message authenticated in this state, or belongs to one of its chains:
                // no other state can hold it (ratchet keys are unique to a state).
                Err(error @ StateError::InvalidCiphertext) => return Err(error.into()),
                Err(error) if known_chain => return Err(error.into()),
                Err(error) => failure = failure.most_specific(error),
            }
        }
        Err(failure.into())
    }

    /// Whether decrypting `message` needs our pre-keys: false when the record already holds
    /// the session its base key names (a `pkmsg` repeated until the peer heard from us), so
    /// the caller loads no keys it does not need.
    pub fn needs_pre_keys(&self, message: &PreKeySignalMessage) -> bool {
        !self.knows_base_key(message.base_key())
    }

    /// Whether the record holds a state the peer started with `base_key`.
    pub fn knows_base_key(&self, base_key: &PublicKey) -> bool {
        self.slot_for_base_key(base_key).is_some()
    }

    /// Decrypts a `pkmsg` (parse it first with [`PreKeySignalMessage::parse`]):
    ///
    /// - `policy` is applied to the message's identity key first;
    /// - if the record holds the state its base key names, that state decrypts it and `keys`
    ///   are not used (pass `None`; see [`SessionRecord::needs_pre_keys`]);
    /// - otherwise X3DH as responder with `keys` (`messaging.md` §4.3) makes a new state; if
    ///   the embedded message decrypts, the current state is archived, the new one becomes
    ///   current, and [`Decrypted::consumed_pre_key`] names the one-time pre-key to delete in
    ///   the same transaction that stores the record.
    ///
    /// Our first ratchet key in the new state is drawn from `rng` (32 bytes).
    pub fn decrypt_pre_key<R: CryptoRng + ?Sized>(
        &mut self,
        message: &PreKeySignalMessage,
        keys: Option<ResponderKeys<'_>>,
        policy: IdentityPolicy<'_>,
        rng: &mut R,
    ) -> Result<Decrypted, DecryptError> {
        if !policy.accepts(message.identity_key()) {
            return Err(DecryptError::UntrustedIdentity {
                received: *message.identity_key(),
            });
        }
        if let Some(slot) = self.slot_for_base_key(message.base_key()) {
            let state = self.state(slot);
            let (step, plaintext) = try_decrypt(state, message.message())?;
            let sender_identity = state.remote_identity;
            ratchet::commit(self.state_mut(slot), step, rng);
            return Ok(Decrypted {
                plaintext,
                sender_identity,
                consumed_pre_key: None,
                source: slot.source(),
            });
        }
        let keys = keys.ok_or_else(|| DecryptError::PreKeysRequired {
            pre_key_id: message.pre_key_id(),
            signed_pre_key_id: message.signed_pre_key_id(),
        })?;
        let signed_pre_key = keys
            .signed_pre_key
            .filter(|k| k.id() == message.signed_pre_key_id())
            .ok_or_else(|| DecryptError::MissingSignedPreKey {
                id: message.signed_pre_key_id(),
            })?;
        let one_time_pre_key = match message.pre_key_id() {
            Some(id) => Some(
                keys.one_time_pre_key
                    .filter(|k| k.id() == id)
                    .ok_or(DecryptError::InvalidPreKeyId { id })?,
            ),
            None => None,
        };
        let mut state = x3dh::respond(
            keys.identity,
            keys.registration_id,
            signed_pre_key,
            one_time_pre_key,
            message.identity_key(),
            message.registration_id(),
            message.base_key(),
        );
        let (step, plaintext) = try_decrypt(&state, message.message())?;
        ratchet::commit(&mut state, step, rng);
        self.install(state);
        Ok(Decrypted {
            plaintext,
            sender_identity: *message.identity_key(),
            consumed_pre_key: message.pre_key_id(),
            source: SessionSource::New,
        })
    }

    /// Archives the current state (libsignal's `closeOpenSession`): the record keeps it for
    /// late messages, and the next message to this device needs a new bundle.
    pub fn archive_current_session(&mut self) {
        if let Some(state) = self.current.take() {
            self.archive(state);
        }
    }

    /// Whether the record holds no state at all.
    pub fn is_empty(&self) -> bool {
        self.current.is_none() && self.archived.is_empty()
    }

    /// Whether there is a current state to encrypt with.
    pub fn has_open_session(&self) -> bool {
        self.current.is_some()
    }

    /// The current state's peer registration id.
    pub fn remote_registration_id(&self) -> Option<RegistrationId> {
        self.current.as_ref().map(|s| s.remote_registration_id)
    }

    /// The current state's peer identity key.
    pub fn remote_identity_key(&self) -> Option<&IdentityKey> {
        self.current.as_ref().map(|s| &s.remote_identity)
    }

    /// Whether the current state still waits for the peer's first reply (its messages are
    /// `pkmsg`s carrying our pre-key use).
    pub fn has_pending_pre_key(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.pending_pre_key.is_some())
    }

    /// The current state's base key (the session's name).
    pub fn base_key(&self) -> Option<&PublicKey> {
        self.current.as_ref().map(|s| &s.base_key)
    }

    /// How many archived states the record keeps.
    pub fn archived_count(&self) -> usize {
        self.archived.len()
    }

    /// Makes `state` current, archiving the previous current state.
    fn install(&mut self, state: SessionState) {
        if let Some(previous) = self.current.replace(state) {
            self.archive(previous);
        }
    }

    fn archive(&mut self, state: SessionState) {
        self.archived.push_front(state);
        self.archived.truncate(MAX_ARCHIVED_STATES);
    }

    fn slot_for_base_key(&self, base_key: &PublicKey) -> Option<Slot> {
        let theirs =
            |s: &SessionState| s.base_key_role == BaseKeyRole::Theirs && s.base_key == *base_key;
        if self.current.as_ref().is_some_and(theirs) {
            return Some(Slot::Current);
        }
        self.archived.iter().position(theirs).map(Slot::Archived)
    }

    fn state(&self, slot: Slot) -> &SessionState {
        match slot {
            // Invariant: slots come from `slots`/`slot_for_base_key` on this unchanged record.
            #[allow(clippy::expect_used)]
            Slot::Current => self.current.as_ref().expect("the slot was just found"),
            Slot::Archived(i) => &self.archived[i],
        }
    }

    fn state_mut(&mut self, slot: Slot) -> &mut SessionState {
        match slot {
            // Invariant: as in `state`.
            #[allow(clippy::expect_used)]
            Slot::Current => self.current.as_mut().expect("the slot was just found"),
            Slot::Archived(i) => &mut self.archived[i],
        }
    }
}

impl Slot {
    fn source(self) -> SessionSource {
        match self {
            Self::Current => SessionSource::Current,
            Self::Archived(_) => SessionSource::Archived,
        }
    }
}

/// Plans and opens `message` against one state, without changing it.
fn try_decrypt(
    state: &SessionState,
    message: &SignalMessage,
) -> Result<(ratchet::Step, Vec<u8>), StateError> {
    let plan = ratchet::plan(state, message)?;
    let plaintext = ratchet::open(state, message, &plan.keys)?;
    Ok((plan.step, plaintext))
}

impl StateError {
    /// The more telling of two failures from different states.
    fn most_specific(self, other: Self) -> Self {
        fn rank(e: StateError) -> u8 {
            match e {
                StateError::InvalidCiphertext => 3,
                StateError::Duplicate { .. } => 2,
                StateError::TooFarInFuture { .. } => 1,
                StateError::BadMac => 0,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<StateError> for DecryptError {
    fn from(error: StateError) -> Self {
        match error {
            StateError::Duplicate { counter } => Self::Duplicate { counter },
            StateError::TooFarInFuture { counter } => Self::TooFarInFuture { counter },
            StateError::BadMac => Self::BadMac,
            StateError::InvalidCiphertext => Self::InvalidCiphertext,
        }
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("current", &self.current)
            .field("archived", &self.archived.len())
            .finish()
    }
}
