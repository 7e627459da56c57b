//! One-to-one sessions: X3DH v3 and the Double Ratchet as libsignal runs them for WhatsApp.
//!
//! - [`SessionRecord`]: the current and archived states with one peer device, and every
//!   operation (process a bundle, encrypt, decrypt `msg` and `pkmsg`).
//! - [`PreKeyBundle`], [`ResponderKeys`], [`IdentityPolicy`]: what sessions are built from.
//! - [`Ciphertext`], [`Decrypted`]: what operations return besides the updated record.
//!
//! Inside, one concept per file: `x3dh` (both roles), `root_key`, `chain_key`, `message_key`
//! (the KDF chains), `state` (one Double Ratchet state, its receiving chains and limits),
//! `ratchet` (encrypt; decrypt as plan → verify → commit), `record`, `codec` (the binary
//! record format).

#[cfg(test)]
mod appendix_a;
mod bundle;
mod chain_key;
mod codec;
mod error;
mod message_key;
mod ratchet;
mod record;
mod root_key;
mod state;
mod x3dh;

use core::fmt;

pub use bundle::{IdentityPolicy, PreKeyBundle, ResponderKeys};
pub use error::{BundleError, DecryptError, EncryptError};
pub use record::{MAX_ARCHIVED_STATES, SessionRecord};
pub use state::{MAX_FORWARD_JUMP, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS};

pub(crate) use chain_key::ChainKey;
pub(crate) use message_key::{MessageKeySeed, MessageKeys};
pub(crate) use root_key::RootKey;
pub(crate) use state::{BaseKeyRole, PendingPreKey, ReceiverChain, SessionState};

use crate::keys::{IdentityKey, PreKeyId};

/// Which message an encryption produced: the `type` of WhatsApp's `<enc>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CiphertextKind {
    /// A `PreKeySignalMessage`: `<enc type="pkmsg">` (libsignal type 3).
    PreKeySignalMessage,
    /// A `SignalMessage`: `<enc type="msg">` (libsignal-node reports type 1).
    SignalMessage,
}

impl CiphertextKind {
    /// The `type` attribute of WhatsApp's `<enc>`: `"pkmsg"` or `"msg"`.
    pub const fn enc_type(self) -> &'static str {
        match self {
            Self::PreKeySignalMessage => "pkmsg",
            Self::SignalMessage => "msg",
        }
    }
}

/// An encrypted message and its kind.
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext {
    /// `pkmsg` or `msg`.
    pub kind: CiphertextKind,
    /// The serialised message.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ciphertext")
            .field("kind", &self.kind.enc_type())
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Which state decrypted a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionSource {
    /// The current state.
    Current,
    /// An archived state (a late message of a replaced session); it stays archived.
    Archived,
    /// A new state this `pkmsg` created; it is now current.
    New,
}

/// A decrypted message and what the caller must persist besides the record.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decrypted {
    /// The plaintext (still padded, `messaging.md` §5.2).
    pub plaintext: Vec<u8>,
    /// The sender's identity key (save it: WhatsApp follows identity changes).
    pub sender_identity: IdentityKey,
    /// The one-time pre-key this `pkmsg` consumed: delete it in the transaction that stores
    /// the record.
    pub consumed_pre_key: Option<PreKeyId>,
    /// Which state decrypted it.
    pub source: SessionSource,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .field("sender_identity", &self.sender_identity)
            .field("consumed_pre_key", &self.consumed_pre_key)
            .field("source", &self.source)
            .finish()
    }
}
