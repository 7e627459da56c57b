//! Shared by the pairing integration tests: one companion and one phone with keys from a seed,
//! the wire round trip, and helpers that tamper with a `<pair-success>`.

#![allow(dead_code)]

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::Sha256;
use tether_core::binary::{self, Content, Jid, Node, Server, TokenDict};
use tether_core::crypto::KeyPair;
use tether_core::pairing::phone::{
    IssuedPairSuccess, PairSuccessParams, build_pair_success_for_qr,
};
use tether_core::pairing::qr::{ClientType, QrPayload};
use tether_core::pairing::success::{Paired, handle_pair_success};
use tether_core::pairing::{AdvSecret, PairingError};
use tether_core::proto::adv::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};

/// One companion and one phone, all keys from a seed.
pub(crate) struct Setup {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) noise: KeyPair,
    pub(crate) identity: KeyPair,
    pub(crate) adv_secret: AdvSecret,
    pub(crate) account: KeyPair,
}

impl Setup {
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let noise = KeyPair::generate(&mut rng);
        let identity = KeyPair::generate(&mut rng);
        let mut adv = [0u8; 32];
        rng.fill_bytes(&mut adv);
        let account = KeyPair::generate(&mut rng);
        Self {
            rng,
            noise,
            identity,
            adv_secret: AdvSecret::from_bytes(adv),
            account,
        }
    }

    pub(crate) fn random64(&mut self) -> [u8; 64] {
        let mut r = [0u8; 64];
        self.rng.fill_bytes(&mut r);
        r
    }

    pub(crate) fn qr(&self, reference: &str) -> QrPayload {
        QrPayload {
            reference: reference.to_owned(),
            noise_public: self.noise.public_bytes(),
            identity_public: self.identity.public_bytes(),
            adv_secret: self.adv_secret.clone(),
            client_type: Some(ClientType::OtherWebClient),
        }
    }

    pub(crate) fn params(&mut self, hosted: bool) -> PairSuccessParams {
        let phone = 10_000_000_000 + self.rng.next_u64() % 89_999_999_999;
        let lid = 100_000_000_000_000 + self.rng.next_u64() % 899_999_999_999_999;
        let device = 1 + (self.rng.next_u32() % 90) as u16;
        PairSuccessParams {
            iq_id: format!("{}.{}-1", self.rng.next_u32(), self.rng.next_u32() % 1000),
            server_time: 1_700_000_000 + u64::from(self.rng.next_u32() % 100_000_000),
            jid: Jid::device(&phone.to_string(), device, Server::WhatsApp),
            lid: Some(Jid::device(&lid.to_string(), device, Server::Lid)),
            platform: ["android", "iphone", "smba", "smbi"][(self.rng.next_u32() % 4) as usize]
                .to_owned(),
            business_name: self
                .rng
                .next_u32()
                .is_multiple_of(2)
                .then(|| "Acme Bakery".to_owned()),
            raw_id: self.rng.next_u32(),
            timestamp: 1_700_000_000 + u64::from(self.rng.next_u32() % 100_000_000),
            key_index: self.rng.next_u32() % 50,
            hosted,
        }
    }

    /// The phone's pair-success for the companion's current QR.
    pub(crate) fn pair_success(
        &mut self,
        hosted: bool,
    ) -> (Node, IssuedPairSuccess, PairSuccessParams) {
        let params = self.params(hosted);
        let random = self.random64();
        let qr = self.qr("2@ref");
        let (node, issued) = build_pair_success_for_qr(&params, &qr, &self.account, &random);
        (node, issued, params)
    }

    pub(crate) fn companion_handles(&mut self, node: &Node) -> Result<Paired, PairingError> {
        let random = self.random64();
        handle_pair_success(node, &self.adv_secret, &self.identity, &random)
    }
}

/// Encodes and decodes a node with the v3 dictionary, as it crosses the wire.
pub(crate) fn over_the_wire(node: &Node) -> Node {
    let mut out = Vec::new();
    binary::encode(node, TokenDict::v3(), &mut out).unwrap();
    binary::decode(&Bytes::from(out), TokenDict::v3()).unwrap()
}

pub(crate) fn device_identity_bytes(iq: &Node) -> Bytes {
    match &iq
        .child("pair-success")
        .unwrap()
        .child("device-identity")
        .unwrap()
        .content
    {
        Content::Bytes(b) => b.clone(),
        other => panic!("unexpected content {other:?}"),
    }
}

/// Replaces the `<device-identity>` content of a pair-success iq.
pub(crate) fn with_device_identity(iq: &Node, bytes: Vec<u8>) -> Node {
    let mut iq = iq.clone();
    let Content::Nodes(children) = &mut iq.content else {
        panic!()
    };
    let Content::Nodes(success) = &mut children[0].content else {
        panic!()
    };
    let slot = success
        .iter_mut()
        .find(|n| n.tag == "device-identity")
        .unwrap();
    slot.content = Content::Bytes(bytes.into());
    iq
}

pub(crate) fn hmac(adv: &AdvSecret, hosted: bool, data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(adv.as_bytes()).unwrap();
    if hosted {
        mac.update(&[6, 5]);
    }
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Decodes the container and its signed identity, lets `edit` change the signed identity, and
/// re-encodes it with a correct HMAC (what an attacker knowing the ADV secret could do).
pub(crate) fn tamper_signed(
    iq: &Node,
    adv: &AdvSecret,
    edit: impl FnOnce(&mut AdvSignedDeviceIdentity),
) -> Node {
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity_bytes(iq)).unwrap();
    let mut signed = AdvSignedDeviceIdentity::decode(container.details.unwrap()).unwrap();
    edit(&mut signed);
    let signed = signed.encode_to_vec();
    let container = AdvSignedDeviceIdentityHmac {
        hmac: Some(hmac(adv, false, &signed).into()),
        details: Some(signed.into()),
        account_type: container.account_type,
    };
    with_device_identity(iq, container.encode_to_vec())
}

pub(crate) fn flip(bytes: &Bytes, index: usize, mask: u8) -> Bytes {
    let mut v = bytes.to_vec();
    v[index] ^= mask;
    v.into()
}

pub(crate) fn device_identity_bytes_of(node: &Node) -> Bytes {
    match &node.content {
        Content::Bytes(b) => b.clone(),
        other => panic!("unexpected content {other:?}"),
    }
}
