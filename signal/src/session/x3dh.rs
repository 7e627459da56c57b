//! X3DH as libsignal does it for version 3 (`messaging.md` §4.2–4.3), both roles.
//!
//! ```text
//! initiator A:  S = 0xFF×32 ‖ DH(IK_A, SPK_B) ‖ DH(EK_A, IK_B) ‖ DH(EK_A, SPK_B) [‖ DH(EK_A, OPK_B)]
//! responder B:  S = 0xFF×32 ‖ DH(SPK_B, IK_A) ‖ DH(IK_B, EK_A) ‖ DH(SPK_B, EK_A) [‖ DH(OPK_B, EK_A)]
//!               RK0 ‖ CK0 = HKDF(S, no salt, "WhisperText", 64)        (CK0 is never used)
//! ```
//!
//! The initiator then takes its first ratchet step at once (a fresh `R_A1` against `SPK_B`);
//! the responder takes its step when it decrypts the message that carried the X3DH.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::chain_key::ChainKey;
use super::root_key::{RootKey, split};
use super::state::{BaseKeyRole, PendingPreKey, SessionState};
use crate::kdf;
use crate::keys::{
    IdentityKey, IdentityKeyPair, KeyPair, PreKey, PreKeyId, PreparedPublic, PublicKey,
    RegistrationId, SignedPreKey, SignedPreKeyId,
};

/// The initiator's view of the peer's keys (a verified bundle).
pub(crate) struct Remote<'a> {
    pub(crate) identity: &'a IdentityKey,
    pub(crate) registration_id: RegistrationId,
    pub(crate) signed_pre_key: (SignedPreKeyId, &'a PublicKey),
    pub(crate) one_time_pre_key: Option<(PreKeyId, &'a PublicKey)>,
}

/// Runs X3DH as initiator and the first ratchet step; draws two keys from `rng` (the base key
/// `EK_A`, then the ratchet key `R_A1`), in libsignal's order.
pub(crate) fn initiate<R: CryptoRng + ?Sized>(
    ours: &IdentityKeyPair,
    our_registration_id: RegistrationId,
    theirs: &Remote<'_>,
    rng: &mut R,
) -> SessionState {
    let base = KeyPair::generate(rng);
    let (spk_id, spk) = theirs.signed_pre_key;
    let one_time = theirs.one_time_pre_key.map(|(_, key)| key);
    // SPK_B takes part in three agreements: convert it once.
    let spk_prepared = PreparedPublic::new(spk.as_montgomery());
    let dh1 = ours.key_pair().agree_prepared(&spk_prepared);
    let dh2 = base.agree(theirs.identity.public_key().as_montgomery());
    let dh3 = base.agree_prepared(&spk_prepared);
    let dh4 = one_time.map(|opk| base.agree(opk.as_montgomery()));
    let (root, _unused_chain) = master_keys(&dh1, &dh2, &dh3, dh4.as_deref());
    let ratchet = KeyPair::generate(rng);
    let (root_key, sender_chain) = root.create_chain(&ratchet, &spk_prepared);
    SessionState {
        local_identity: *ours.identity_key(),
        local_registration_id: our_registration_id,
        remote_identity: *theirs.identity,
        remote_registration_id: theirs.registration_id,
        base_key: PublicKey::from(&base),
        base_key_role: BaseKeyRole::Ours,
        root_key,
        ratchet_key: ratchet,
        sender_chain,
        previous_counter: 0,
        last_remote_ratchet: *spk,
        receiver_chains: Vec::new(),
        pending_pre_key: Some(PendingPreKey {
            pre_key_id: theirs.one_time_pre_key.map(|(id, _)| id),
            signed_pre_key_id: spk_id,
        }),
    }
}

/// Runs X3DH as responder to a `PreKeySignalMessage` from `their_identity` with base key
/// `their_base_key`. The state returned is not usable yet: its sending chain is a placeholder
/// that decrypting the carried message replaces (the responder's first ratchet step).
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    our_registration_id: RegistrationId,
    signed_pre_key: &SignedPreKey,
    one_time_pre_key: Option<&PreKey>,
    their_identity: &IdentityKey,
    their_registration_id: RegistrationId,
    their_base_key: &PublicKey,
) -> SessionState {
    let spk = signed_pre_key.key_pair();
    let dh1 = spk.diffie_hellman(their_identity.public_key().as_montgomery());
    let dh2 = ours
        .key_pair()
        .diffie_hellman(their_base_key.as_montgomery());
    let dh3 = spk.diffie_hellman(their_base_key.as_montgomery());
    let dh4 = one_time_pre_key.map(|opk| {
        opk.key_pair()
            .diffie_hellman(their_base_key.as_montgomery())
    });
    let (root_key, _unused_chain) = master_keys(
        dh1.as_bytes(),
        dh2.as_bytes(),
        dh3.as_bytes(),
        dh4.as_ref().map(|d| d.as_bytes()),
    );
    SessionState {
        local_identity: *ours.identity_key(),
        local_registration_id: our_registration_id,
        remote_identity: *their_identity,
        remote_registration_id: their_registration_id,
        base_key: *their_base_key,
        base_key_role: BaseKeyRole::Theirs,
        root_key,
        ratchet_key: spk.clone(),
        // Replaced by the ratchet step of the first decryption; index 0 keeps
        // `previous_counter` at 0 there, as libsignal does for a state that never sent.
        sender_chain: ChainKey::new([0; 32], 0),
        previous_counter: 0,
        last_remote_ratchet: *their_base_key,
        receiver_chains: Vec::new(),
        pending_pre_key: None,
    }
}

/// `RK0 ‖ CK0 = HKDF(0xFF×32 ‖ dh1 ‖ dh2 ‖ dh3 [‖ dh4], no salt, "WhisperText", 64)`.
pub(crate) fn master_keys(
    dh1: &[u8; 32],
    dh2: &[u8; 32],
    dh3: &[u8; 32],
    dh4: Option<&[u8; 32]>,
) -> (RootKey, ChainKey) {
    let mut secret = Zeroizing::new([0xFFu8; 160]);
    secret[32..64].copy_from_slice(dh1);
    secret[64..96].copy_from_slice(dh2);
    secret[96..128].copy_from_slice(dh3);
    let len = match dh4 {
        Some(dh4) => {
            secret[128..160].copy_from_slice(dh4);
            160
        }
        None => 128,
    };
    let okm = kdf::hkdf::<64>(&secret[..len], None, b"WhisperText");
    let (root, chain) = split(&okm);
    (RootKey::new(root), ChainKey::new(chain, 0))
}
