//! # tether-signal
//!
//! The Signal protocol exactly as WhatsApp speaks it — version 3, X3DH without Kyber, the
//! Double Ratchet, session records with archived states, and sender keys for groups — pure and
//! sans-IO: records in, records and bytes out, randomness passed in. No clock, no files, no
//! async, no threads, and nothing about WhatsApp stanzas. It depends on no other Tether crate.
//!
//! Its byte-level behaviour is that of npm `libsignal` 6.0.0, the library Baileys uses: the
//! worked vector of `messaging.md` Appendix A is reproduced byte for byte, and the differential
//! suite (`tests/tests/signal_differential.rs`, run by `.ci/run`) drives libsignal under Node.js
//! in lockstep with this crate — Tether ↔ Tether, Tether ↔ libsignal both ways, libsignal ↔
//! libsignal on the same seeded scripts and key streams — and fails when any ciphertext byte or
//! decryption outcome differs; sender keys are compared with Baileys' group code the same way.
//!
//! ## Two parties talk
//!
//! ```
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! use tether_signal::{
//!     CiphertextKind, IdentityKeyPair, IdentityPolicy, PreKey, PreKeyBundle, PreKeyId,
//!     PreKeySignalMessage, RegistrationId, ResponderKeys, SessionRecord, SignalMessage,
//!     SignedPreKey, SignedPreKeyId,
//! };
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(7); // any rand_core 0.10 CryptoRng
//!
//! // Bob publishes a bundle: identity, signed pre-key, one one-time pre-key.
//! let bob = IdentityKeyPair::generate(&mut rng);
//! let bob_registration = RegistrationId::new(8738);
//! let signed = SignedPreKey::generate(SignedPreKeyId::new(1), &bob, &mut rng);
//! let one_time = PreKey::generate(PreKeyId::new(31337), &mut rng);
//! let bundle = PreKeyBundle {
//!     registration_id: bob_registration,
//!     device_id: 1,
//!     pre_key: Some((one_time.id(), one_time.public_key())),
//!     signed_pre_key_id: signed.id(),
//!     signed_pre_key: signed.public_key(),
//!     signed_pre_key_signature: *signed.signature(),
//!     identity_key: *bob.identity_key(),
//! };
//!
//! // Alice starts a session from it (the signature is verified) and writes.
//! let alice = IdentityKeyPair::generate(&mut rng);
//! let mut alice_record = SessionRecord::from_bundle(
//!     &alice, RegistrationId::new(4369), &bundle, IdentityPolicy::AcceptAny, &mut rng)?;
//! let hello = alice_record.encrypt(b"hi Bob")?;
//! assert_eq!(hello.kind, CiphertextKind::PreKeySignalMessage); // <enc type="pkmsg">
//!
//! // Bob parses it first, loads exactly the keys it names, decrypts, and deletes the one-time
//! // pre-key in the same transaction that stores his new record.
//! let message = PreKeySignalMessage::parse(&hello.bytes)?;
//! let mut bob_record = SessionRecord::new();
//! assert!(bob_record.needs_pre_keys(&message));
//! let keys = ResponderKeys {
//!     identity: &bob,
//!     registration_id: bob_registration,
//!     signed_pre_key: Some(&signed).filter(|k| k.id() == message.signed_pre_key_id()),
//!     one_time_pre_key: Some(&one_time).filter(|k| Some(k.id()) == message.pre_key_id()),
//! };
//! let got = bob_record.decrypt_pre_key(&message, Some(keys), IdentityPolicy::AcceptAny, &mut rng)?;
//! assert_eq!(got.plaintext, b"hi Bob");
//! assert_eq!(got.consumed_pre_key, Some(PreKeyId::new(31337)));
//! let bytes_to_store = bob_record.to_bytes(); // opaque, versioned
//!
//! // Bob answers with a plain `msg`; Alice's pre-key is acknowledged from then on.
//! let mut bob_record = SessionRecord::from_bytes(&bytes_to_store)?;
//! let reply = bob_record.encrypt(b"hi Alice")?;
//! assert_eq!(reply.kind, CiphertextKind::SignalMessage); // <enc type="msg">
//! let got = alice_record.decrypt(&SignalMessage::parse(&reply.bytes)?, IdentityPolicy::AcceptAny, &mut rng)?;
//! assert_eq!(got.plaintext, b"hi Alice");
//! assert!(!alice_record.has_pending_pre_key());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Map
//!
//! | module | what |
//! |---|---|
//! | [`keys`] | one type per key role: [`KeyPair`], [`PublicKey`] (`0x05 ‖ u`), [`IdentityKey`], [`IdentityKeyPair`], [`PreKey`], [`SignedPreKey`], the id newtypes |
//! | [`xeddsa`] | Curve25519 signatures exactly as libsignal makes and checks them |
//! | [`message`] | the four wire formats, parsed with bounded lengths and typed errors |
//! | [`session`] | [`SessionRecord`]: X3DH (both roles), the Double Ratchet, archived states |
//! | [`group`] | [`SenderKeyRecord`]: sender keys, distribution messages, group encrypt/decrypt |
//! | [`import`] | npm libsignal's session JSON and Baileys' sender-key JSON → records |
//!
//! ## Rules every operation follows
//!
//! - **No hidden state.** Operations take the record by `&mut` and either apply all their
//!   changes (`Ok`: the record now holds exactly what to persist) or none (`Err`: the record
//!   is untouched). What else must be persisted comes back in the result: the one-time pre-key
//!   a `pkmsg` consumed ([`Decrypted::consumed_pre_key`]) and the sender's identity. Nothing is
//!   cached inside the crate. A caller that must keep the previous state until its transaction
//!   commits clones the record first.
//! - **Randomness is passed in** (`&mut impl rand_core::CryptoRng`) and drawn only where the
//!   protocol needs it: 64 bytes per bundle (base key, first ratchet key), 32 bytes per DH
//!   ratchet step on decryption (only after the MAC verified), 68 bytes per new sender key, 64
//!   bytes per group message signature. Encrypting a 1:1 message draws nothing.
//! - **Hostile input never panics**: every parser bounds lengths before allocating and returns
//!   a typed error; errors are one enum per operation ([`BundleError`], [`EncryptError`],
//!   [`DecryptError`], [`GroupEncryptError`], [`GroupDecryptError`], [`MessageError`],
//!   [`RecordError`], [`import::ImportError`]).
//! - **Secrets** (private keys, root/chain/message keys, skipped keys, sender chain keys) are
//!   wiped on drop and shown as `<redacted>` by `Debug`; MACs are compared in constant time
//!   (`subtle`).
//!
//! ## Decisions (where libsignal implementations differ, or the issue was silent)
//!
//! - **Oracle.** npm `libsignal` 6.0.0 (Baileys' library) decides every byte: field order,
//!   explicit zero counters, HKDF inputs, which states exist when. Where it has a defect we do
//!   not copy it, and say so here.
//! - **Bundle signatures are verified** ([`BundleError::InvalidSignature`]); libsignal-node
//!   skips the check.
//! - **Failed decryption attempts change nothing.** libsignal-node ratchets a session it only
//!   *tries* while looking for the one that decrypts a message, and keeps that damage when a
//!   later session succeeds (it then sends on a ratchet its peer cannot follow: "Bad MAC").
//!   Here a state is planned read-only, its MAC verified, and only then changed; our next
//!   ratchet key is drawn after the MAC verified. (The differential harness rolls libsignal's
//!   failed attempts back the same way so the two can run in lockstep; a separate test shows
//!   the defect with the rollback off.)
//! - **Archived states are not promoted.** A message decrypted by an archived state leaves it
//!   archived and the current state current, as in libsignal-node (Java/Rust libsignal promote
//!   it). The current state is the one we encrypt with: the newest one we built.
//! - **`previousCounter` when nothing was sent on the previous chain** is written as 0 (Signal's
//!   Java/Rust libsignal, whatsapp-rust), not libsignal-node's `-1` → `0xFFFFFFFF`, which
//!   libsignal-node receivers themselves reject when they still hold the previous chain. Both
//!   are accepted on receipt (`0xFFFFFFFF` means "nothing to fill").
//! - **A one-time pre-key id of 0 is written** (libsignal-node omits a zero id and so breaks
//!   its own X3DH); WhatsApp ids start at 1.
//! - **Version byte**: the high nibble must be 3 (libsignal-node also takes higher message
//!   versions); the MAC covers the version byte as received.
//! - **Limits**: a message at most 2000 ahead of its chain (libsignal-node's exact rule); per
//!   state at most 5 receiving chains and 2000 skipped keys (libsignal-node keeps all; Java/Rust
//!   bound them); at most 40 archived states (libsignal-node keeps 40 in all, the open one
//!   included). Sender keys: 5 states per record, 2000 skipped keys, a jump of at most 2000
//!   (Baileys' numbers).
//! - **Closed receiving chains.** When the peer ratchets, its previous chain is filled up to the
//!   announced `previousCounter` and closed (its chain key dropped), as libsignal-node does.
//! - **Sender keys advance by one per message** (0, 1, 2, …); Baileys' own sender advances by
//!   two (0, 2, 4, …) and we accept its gaps. A distribution message for a key id we hold with
//!   the same signing key changes nothing (Baileys appends a duplicate state); with another
//!   signing key it replaces that state. Group signatures use 64 random bytes (libsignal Java);
//!   Baileys signs deterministically; both verify everywhere.
//! - **Identity trust** is the caller's: [`IdentityPolicy::AcceptAny`] is WhatsApp's policy
//!   (trust on first use, follow changes); [`IdentityPolicy::Require`] turns a different
//!   identity into a typed `UntrustedIdentity` error before anything changes.
//! - **Records** are this crate's own versioned binary format ([`SessionRecord::to_bytes`],
//!   [`SenderKeyRecord::to_bytes`]); loading one does no public-key arithmetic, so the common
//!   path (load, decrypt, store) stays cheap.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod cbc;
mod codec;
#[cfg(feature = "__fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod import;
mod kdf;
pub mod keys;
pub mod message;
mod proto;
pub mod session;
pub mod xeddsa;

pub use codec::RecordError;
pub use group::{GroupDecryptError, GroupEncryptError, SenderKeyRecord};
pub use keys::{
    IdentityKey, IdentityKeyPair, KeyError, KeyPair, PreKey, PreKeyId, PublicKey, RegistrationId,
    SenderKeyId, SignedPreKey, SignedPreKeyId,
};
pub use message::{
    MessageError, PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage,
    SignalMessage,
};
pub use session::{
    BundleError, Ciphertext, CiphertextKind, DecryptError, Decrypted, EncryptError, IdentityPolicy,
    PreKeyBundle, ResponderKeys, SessionRecord, SessionSource,
};
