//! A [`SimDevice`]'s own key material and the iqs that publish it (`messaging.md` §1): the
//! identity, the registration id, the signed pre-key (rotations keep the last three loadable
//! by id, §1.6), and one-time pre-keys from a monotonic counter whose private halves are kept
//! until a `pkmsg` consumes them (never deleted while a sender may hold the public half).

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use tether_core::binary::{Jid, Node, Server};
use tether_signal::{
    IdentityKeyPair, PreKey, PreKeyId, RegistrationId, SignedPreKey, SignedPreKeyId,
};

use super::{Pending, SimDevice};

/// Retired signed pre-keys kept loadable by id.
const RETIRED_KEPT: usize = 3;

/// The device's keys.
pub(super) struct OwnKeys {
    pub(super) identity: IdentityKeyPair,
    pub(super) registration_id: RegistrationId,
    pub(super) signed: SignedPreKey,
    retired: VecDeque<SignedPreKey>,
    one_time: BTreeMap<PreKeyId, PreKey>,
    /// The next one-time pre-key id (never reused).
    next_id: u32,
}

fn u24(id: u32) -> Vec<u8> {
    let [_, a, b, c] = id.to_be_bytes();
    vec![a, b, c]
}

fn key_node(tag: &'static str, id: u32, public: &[u8; 32], signature: Option<&[u8; 64]>) -> Node {
    let mut children = vec![
        Node::new("id").bytes(u24(id)),
        Node::new("value").bytes(public.to_vec()),
    ];
    if let Some(signature) = signature {
        children.push(Node::new("signature").bytes(signature.to_vec()));
    }
    Node::new(tag).children(children)
}

impl OwnKeys {
    pub(super) fn new(identity: IdentityKeyPair, rng: &mut ChaCha20Rng) -> Self {
        // WhatsApp registration ids are 14-bit values, never 0.
        let registration_id = RegistrationId::new(1 + rng.next_u32() % 16_380);
        let signed = SignedPreKey::generate(SignedPreKeyId::new(1), &identity, rng);
        Self {
            identity,
            registration_id,
            signed,
            retired: VecDeque::new(),
            one_time: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// Generates `n` one-time pre-keys; returns them (public halves) for an upload.
    fn generate(&mut self, n: u32, rng: &mut ChaCha20Rng) -> Vec<(u32, [u8; 32])> {
        (0..n)
            .map(|_| {
                let id = self.next_id;
                self.next_id += 1;
                let key = PreKey::generate(PreKeyId::new(id), rng);
                let public = *key.public_key().as_montgomery();
                self.one_time.insert(key.id(), key);
                (id, public)
            })
            .collect()
    }

    /// The signed pre-key with this id, current or retired.
    pub(super) fn signed_by_id(&self, id: SignedPreKeyId) -> Option<&SignedPreKey> {
        std::iter::once(&self.signed)
            .chain(self.retired.iter())
            .find(|k| k.id() == id)
    }

    /// The one-time pre-key with this id, if not consumed.
    pub(super) fn one_time(&self, id: PreKeyId) -> Option<&PreKey> {
        self.one_time.get(&id)
    }

    /// A `pkmsg` consumed this one-time pre-key: its private half goes.
    pub(super) fn consume(&mut self, id: PreKeyId) {
        self.one_time.remove(&id);
    }

    fn skey_node(&self) -> Node {
        key_node(
            "skey",
            self.signed.id().value(),
            self.signed.public_key().as_montgomery(),
            Some(self.signed.signature()),
        )
    }

    /// `<keys>` of a retry receipt (`messaging.md` §6.5): type, identity, one fresh one-time
    /// pre-key (kept, never uploaded: §1.7), the signed pre-key, and the device identity.
    pub(super) fn retry_keys(&mut self, rng: &mut ChaCha20Rng, adv: Option<&[u8]>) -> Node {
        let fresh = self.generate(1, rng);
        let mut children = vec![
            Node::new("type").bytes(vec![0x05]),
            Node::new("identity").bytes(
                self.identity
                    .identity_key()
                    .public_key()
                    .as_montgomery()
                    .to_vec(),
            ),
        ];
        if let Some((id, public)) = fresh.first() {
            children.push(key_node("key", *id, public, None));
        }
        children.push(self.skey_node());
        if let Some(adv) = adv {
            children.push(Node::new("device-identity").bytes(adv.to_vec()));
        }
        Node::new("keys").children(children)
    }
}

impl SimDevice {
    fn key_iq(&mut self, kind: &'static str, pending: Pending, children: Vec<Node>) -> Node {
        let id = self.next_iq_id();
        self.pending.insert(id.clone(), pending);
        Node::new("iq")
            .attr("id", id)
            .attr("xmlns", "encrypt")
            .attr("type", kind)
            .jid_attr("to", Jid::server_jid(Server::WhatsApp))
            .children(children)
    }

    /// Uploads its identity, registration id, signed pre-key and `n` new one-time pre-keys
    /// (the registration of a phone, or a refill after a count notification).
    pub fn upload_pre_keys(&mut self, n: u32) {
        let fresh = self.keys.generate(n, &mut self.rng);
        let list = fresh
            .iter()
            .map(|(id, public)| key_node("key", *id, public, None))
            .collect();
        let identity = self
            .keys
            .identity
            .identity_key()
            .public_key()
            .as_montgomery()
            .to_vec();
        let children = vec![
            Node::new("registration")
                .bytes(self.keys.registration_id.value().to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![0x05]),
            Node::new("identity").bytes(identity),
            Node::new("list").children(list),
            self.keys.skey_node(),
        ];
        let iq = self.key_iq("set", Pending::Upload, children);
        self.outbox.push_back(iq);
    }

    /// Registers the device's keys with the server: [`upload_pre_keys`](Self::upload_pre_keys)
    /// with the configured batch.
    pub fn register(&mut self) {
        self.upload_pre_keys(self.config.pre_key_batch);
    }

    /// Rotates the signed pre-key (id + 1): the previous one stays loadable by id for `pkmsg`s
    /// built against it that are still in flight (`messaging.md` §1.6).
    pub fn rotate_signed_pre_key(&mut self) {
        let next = SignedPreKeyId::new(self.keys.signed.id().value().wrapping_add(1).max(1));
        let fresh = SignedPreKey::generate(next, &self.keys.identity, &mut self.rng);
        let old = std::mem::replace(&mut self.keys.signed, fresh);
        self.keys.retired.push_front(old);
        self.keys.retired.truncate(RETIRED_KEPT);
        let rotate = Node::new("rotate").children(vec![self.keys.skey_node()]);
        let iq = self.key_iq("set", Pending::Rotate, vec![rotate]);
        self.outbox.push_back(iq);
    }

    /// Reinstalls: a new identity, registration id and keys, every session forgotten, and the
    /// new keys uploaded (the server tells the account's contacts its identity changed).
    pub fn reinstall(&mut self, identity: IdentityKeyPair) {
        self.keys = OwnKeys::new(identity, &mut self.rng);
        self.sessions.clear();
        self.identities.clear();
        self.register();
    }

    /// Forgets every session (a fault: a device that lost its session store). Peers' next
    /// `msg`s fail here until retry receipts rebuild the sessions.
    pub fn forget_sessions(&mut self) {
        self.sessions.clear();
    }

    /// One-time pre-keys whose private halves it still holds.
    pub fn unconsumed_pre_keys(&self) -> usize {
        self.keys.one_time.len()
    }
}
