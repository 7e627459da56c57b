//! Group messaging with sender keys (`messaging.md` §7): one [`SenderKeyRecord`] per (group,
//! sender device), holding that sender's chains.
//!
//! ```text
//! our own:   SenderKeyRecord::generate(rng) ── distribution_message() ──▶ SKDM to every member
//!                 │                                                        (pairwise, pkmsg/msg)
//!                 └── encrypt(plaintext, rng) ──▶ skmsg (chain advances by one per message)
//! a member's: SenderKeyRecord::new() ── process_distribution(skdm) ──▶ state for its key id
//!                 └── decrypt(skmsg) ──▶ plaintext (signature verified, then the chain walks
//!                                        forward, keeping skipped keys)
//! ```
//!
//! Limits follow libsignal-node / Baileys: at most [`MAX_SENDER_KEY_STATES`] states per record
//! (the oldest dropped), [`MAX_SENDER_SKIPPED_KEYS`] skipped keys per state (the oldest
//! dropped), a message at most [`MAX_SENDER_FORWARD_JUMP`] iterations ahead of its chain.
//! Baileys' own sender advances its chain by two per message (0, 2, 4, …); the skipped odd
//! iterations are simply kept until the bound drops them.

mod chain;
mod codec;
mod record;

pub use record::{GroupDecryptError, GroupEncryptError, SenderKeyRecord};

/// Most sender-key states a record keeps (Baileys' `MAX_STATES`).
pub const MAX_SENDER_KEY_STATES: usize = 5;
/// Most skipped message keys one sender-key state keeps (Baileys' `MAX_MESSAGE_KEYS`).
pub const MAX_SENDER_SKIPPED_KEYS: usize = 2000;
/// Most iterations a message may be ahead of its chain ("Over 2000 messages into the
/// future!").
pub const MAX_SENDER_FORWARD_JUMP: u32 = 2000;

pub(crate) use chain::{SenderChainKey, SenderMessageKeys};
pub(crate) use record::SenderKeyState;
