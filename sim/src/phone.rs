//! The fake primary phone: it "scans" a QR string and links the companion through the
//! [`FakeServer`], as the real phone does through WhatsApp's servers.
//!
//! ```text
//!  scan(qr) ─ QrPayload::parse ─▶ find the registering connection showing that ref
//!           ─▶ build_pair_success_for_qr (ADVDeviceIdentity, account signature, HMAC)
//!           ─▶ server relays <pair-success>; keeps IssuedPairSuccess
//!  companion replies <pair-device-sign> ─▶ server: IssuedPairSuccess::verify_reply
//!           ─▶ device registered ─▶ <stream:error code="515"/> and close
//! ```
//!
//! Pair code: [`FakePhone::enter_code`] is the user typing the companion's code on the phone
//! (`primary_hello`); once the companion's `companion_finish` verifies at the server,
//! [`FakePhone::finish_pair_codes`] sends the `<pair-success>` keyed with the derived ADV
//! secret, and the rest is as for a QR code.
//!
//! The account (phone number, LID, account identity key) comes from a seed; each linked
//! companion gets the next device number. The account key is also the phone's own Signal
//! identity ([`FakePhone::identity`]): a [`SimDevice`](crate::device::SimDevice) built with it
//! is the phone's messaging side (device 0). [`FakePhone::link_local`] links a headless
//! companion (a `SimDevice` without a wire) with the same pairing functions, and every link
//! publishes the account's signed key-index list to the server.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use tether_core::binary::{Jid, Server};
use tether_core::creds::{Credentials, DeviceIdentity};
use tether_core::crypto::KeyPair;
use tether_core::pairing::code::PairingCode;
use tether_core::pairing::phone::{
    PairSuccessParams, PrimaryHelloRandom, build_pair_success, primary_hello,
};
use tether_core::pairing::qr::QrPayload;
use tether_core::pairing::success::{Paired, handle_pair_success};
use tether_core::pairing::{AdvSecret, PairingError};
use tether_core::proto::adv::{AdvKeyIndexList, AdvSignedKeyIndexList};
use tether_signal::IdentityKeyPair;

use crate::server::{AccountSpec, ConnId, Device, FakeServer};

/// The account-signature prefix of a key-index list (assumed by analogy with the device
/// identity prefixes `06 00` / `06 01`; no client checks this signature, `messaging.md` §9.1).
pub const KEY_INDEX_LIST_PREFIX: [u8; 2] = [6, 2];

/// A headless companion the phone linked ([`FakePhone::link_local`]).
#[derive(Clone, Debug)]
pub struct LocalLink {
    /// Its phone-number JID.
    pub jid: Jid,
    /// Its LID.
    pub lid: Jid,
    /// Its `ADVSignedDeviceIdentity` (account key and both signatures), which it sends with
    /// its `pkmsg`s.
    pub adv_identity: Bytes,
}

/// Why a scan did not link anything.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScanError {
    /// The string is not a QR code of the linking format.
    Unreadable(PairingError),
    /// No connection is showing that ref for that companion (expired, or the socket is gone).
    NoSuchRef,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(e) => write!(f, "unreadable QR code: {e}"),
            Self::NoSuchRef => f.write_str("no connection shows this QR code"),
        }
    }
}

impl std::error::Error for ScanError {}

/// The primary phone of one simulated account.
#[derive(Debug)]
pub struct FakePhone {
    rng: ChaCha20Rng,
    account: KeyPair,
    phone_number: String,
    lid_user: String,
    platform: String,
    next_device: u16,
    /// Key indexes of the companions linked so far.
    key_indexes: Vec<u32>,
    raw_id: u32,
}

impl FakePhone {
    /// A phone whose account keys come from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5048_4f4e_4521);
        let account = KeyPair::generate(&mut rng);
        let phone_number = format!("1555{:07}", rng.next_u32() % 10_000_000);
        let lid_user = format!("1{:014}", rng.next_u64() % 100_000_000_000_000);
        let raw_id = rng.next_u32();
        Self {
            rng,
            account,
            phone_number,
            lid_user,
            platform: "android".to_owned(),
            next_device: 1,
            key_indexes: Vec::new(),
            raw_id,
        }
    }

    /// The account's LID user.
    pub fn lid_user(&self) -> &str {
        &self.lid_user
    }

    /// The phone's Signal identity: the account key.
    pub fn identity(&self) -> IdentityKeyPair {
        IdentityKeyPair::from(self.account.clone())
    }

    /// What the phone registers with the server.
    pub fn account_spec(&self, push_name: &str) -> AccountSpec {
        AccountSpec {
            phone_number: self.phone_number.clone(),
            lid_user: self.lid_user.clone(),
            push_name: push_name.to_owned(),
        }
    }

    /// Links a headless companion whose Signal identity is `identity`: the same
    /// `<pair-success>` / `<pair-device-sign>` exchange as for a real companion, without a
    /// wire, and the device registered with the server as a local device.
    pub fn link_local(
        &mut self,
        server: &mut FakeServer,
        identity: &IdentityKeyPair,
        now: Instant,
    ) -> Result<LocalLink, PairingError> {
        let mut secret = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        let (link, _) = self.pair_offline(
            server,
            identity.key_pair(),
            &AdvSecret::from_bytes(secret),
            None,
            now,
        )?;
        Ok(link)
    }

    /// Links a Tether companion offline: `credentials` (fresh, unpaired) become paired and
    /// confirmed with the next device number, and the server registers its noise key, as if
    /// it had scanned a QR code and logged in once. A simulation that is about messages
    /// starts from here instead of linking over the wire.
    pub fn link_credentials(
        &mut self,
        server: &mut FakeServer,
        credentials: &mut Credentials,
        now: Instant,
    ) -> Result<Jid, PairingError> {
        let noise = credentials.noise_key.public_bytes();
        let (link, paired) = self.pair_offline(
            server,
            &credentials.identity_key,
            &AdvSecret::from_bytes(*credentials.adv_secret.expose()),
            Some(noise),
            now,
        )?;
        credentials.device = Some(DeviceIdentity {
            jid: link.jid.clone(),
            lid: Some(link.lid),
            account: paired.identity.account,
            platform: paired.identity.platform,
            business_name: None,
        });
        credentials.confirmed = true;
        Ok(link.jid)
    }

    /// The pairing exchange without a wire: the phone issues `<pair-success>`, the companion
    /// (identity key `identity`, ADV secret `adv_secret`) answers, the phone checks the
    /// answer, and the server registers the device (with its noise key, when it has one).
    fn pair_offline(
        &mut self,
        server: &mut FakeServer,
        identity: &KeyPair,
        adv_secret: &AdvSecret,
        noise: Option<[u8; 32]>,
        now: Instant,
    ) -> Result<(LocalLink, Paired), PairingError> {
        let device_id = self.next_device;
        self.next_device = self.next_device.wrapping_add(1).max(1);
        let jid = Jid::device(&self.phone_number, device_id, Server::WhatsApp);
        let lid = Jid::device(&self.lid_user, device_id, Server::Lid);
        let server_time = server.unix_at(now);
        let params = PairSuccessParams {
            iq_id: format!("ps-{}", self.rng.next_u32()),
            server_time,
            jid: jid.clone(),
            lid: Some(lid.clone()),
            platform: self.platform.clone(),
            business_name: None,
            raw_id: self.raw_id,
            timestamp: server_time,
            key_index: u32::from(device_id),
            hosted: false,
        };
        let mut random = [0u8; 64];
        self.rng.fill_bytes(&mut random);
        let (node, issued) = build_pair_success(
            &params,
            &identity.public_bytes(),
            adv_secret,
            &self.account,
            &random,
        );
        self.rng.fill_bytes(&mut random);
        let paired = handle_pair_success(&node, adv_secret, identity, &random)?;
        let confirmed = issued.verify_reply(&paired.reply)?;
        let device = Device {
            jid: jid.clone(),
            lid: Some(lid.clone()),
        };
        server.link_companion(
            device.clone(),
            confirmed.key_index,
            confirmed.signed_identity,
        );
        if let Some(noise) = noise {
            server.register_device(noise, device);
        }
        self.key_indexes.push(confirmed.key_index);
        self.publish_key_index_list(server, now);
        let link = LocalLink {
            jid,
            lid,
            adv_identity: paired.identity.account.clone(),
        };
        Ok((link, paired))
    }

    /// Signs the account's key-index list (every companion linked so far) and publishes it.
    pub fn publish_key_index_list(&mut self, server: &mut FakeServer, now: Instant) {
        let details = AdvKeyIndexList {
            raw_id: Some(self.raw_id),
            timestamp: Some(server.unix_at(now)),
            current_index: self.key_indexes.iter().copied().max(),
            valid_indexes: self.key_indexes.clone(),
            account_type: None,
        }
        .encode_to_vec();
        let mut message = KEY_INDEX_LIST_PREFIX.to_vec();
        message.extend_from_slice(&details);
        let mut random = [0u8; 64];
        self.rng.fill_bytes(&mut random);
        let signature = self.account.sign(&message, &random);
        let signed = AdvSignedKeyIndexList {
            details: Some(details.into()),
            account_signature: Some(Bytes::copy_from_slice(&signature)),
            account_signature_key: Some(Bytes::copy_from_slice(&self.account.public_bytes())),
        };
        let user = Jid::user(&self.phone_number, Server::WhatsApp);
        server.set_key_index_list(&user, signed.encode_to_vec().into());
    }

    /// The account's phone number (the user part of the companions' JIDs).
    pub fn phone_number(&self) -> &str {
        &self.phone_number
    }

    /// The JID the next companion this phone links will get (by QR or pair code).
    pub fn next_companion_jid(&self) -> Jid {
        Jid::device(&self.phone_number, self.next_device, Server::WhatsApp)
    }

    /// The phone's account identity key.
    pub fn account_public(&self) -> [u8; 32] {
        self.account.public_bytes()
    }

    /// Scans `qr`: the server sends the companion a `<pair-success>` on the connection that
    /// shows it. Returns that connection.
    pub fn scan(
        &mut self,
        server: &mut FakeServer,
        qr: &str,
        now: Instant,
    ) -> Result<ConnId, ScanError> {
        let payload = QrPayload::parse(qr).map_err(ScanError::Unreadable)?;
        let conn = server
            .pairing_conn(&payload.noise_public, &payload.reference)
            .ok_or(ScanError::NoSuchRef)?;
        self.issue(
            server,
            conn,
            &payload.identity_public,
            &payload.adv_secret,
            now,
        )
    }

    /// The user types `code` (as the companion showed it) on the phone: the phone answers the
    /// companion's pending pair-code request with `primary_hello`.
    pub fn enter_code(
        &mut self,
        server: &mut FakeServer,
        code: &str,
        _now: Instant,
    ) -> Result<ConnId, ScanError> {
        let code = PairingCode::parse(code).map_err(ScanError::Unreadable)?;
        let (conn, hello, reference) = server.pair_code_request().ok_or(ScanError::NoSuchRef)?;
        let ephemeral = KeyPair::generate(&mut self.rng);
        let mut random = PrimaryHelloRandom {
            salt: [0; 32],
            iv: [0; 16],
        };
        self.rng.fill_bytes(&mut random.salt);
        self.rng.fill_bytes(&mut random.iv);
        let id = format!("ph-{}", self.rng.next_u32());
        let (pending, node) = primary_hello(
            &code,
            &hello,
            &reference,
            &ephemeral,
            &self.account,
            &random,
            &id,
        )
        .map_err(ScanError::Unreadable)?;
        server.deliver_primary_hello(conn, pending, &node);
        Ok(conn)
    }

    /// Finishes every pair-code linking whose stage 2 completed: a `<pair-success>` HMAC'd
    /// with the ADV secret both sides derived. Returns the connections served.
    pub fn finish_pair_codes(&mut self, server: &mut FakeServer, now: Instant) -> Vec<ConnId> {
        let finished = server.take_finished_pair_codes();
        finished
            .into_iter()
            .filter_map(|(conn, done)| {
                self.issue(
                    server,
                    conn,
                    &done.companion_identity,
                    &done.adv_secret,
                    now,
                )
                .ok()
            })
            .collect()
    }

    fn issue(
        &mut self,
        server: &mut FakeServer,
        conn: ConnId,
        companion_identity: &[u8; 32],
        adv_secret: &AdvSecret,
        now: Instant,
    ) -> Result<ConnId, ScanError> {
        let device_id = self.next_device;
        self.next_device = self.next_device.wrapping_add(1).max(1);
        let jid = Jid::device(&self.phone_number, device_id, Server::WhatsApp);
        let lid = Jid::device(&self.lid_user, device_id, Server::Lid);
        let server_time = server.server_time(conn, now);
        let params = PairSuccessParams {
            iq_id: format!("ps-{}", self.rng.next_u32()),
            server_time,
            jid: jid.clone(),
            lid: Some(lid.clone()),
            platform: self.platform.clone(),
            business_name: None,
            raw_id: self.raw_id,
            timestamp: server_time,
            key_index: u32::from(device_id),
            hosted: false,
        };
        let mut random = [0u8; 64];
        self.rng.fill_bytes(&mut random);
        let (node, issued) = build_pair_success(
            &params,
            companion_identity,
            adv_secret,
            &self.account,
            &random,
        );
        let device = Device {
            jid,
            lid: Some(lid),
        };
        if server.deliver_pair_success(conn, &node, issued, device) {
            self.key_indexes.push(u32::from(device_id));
            if server
                .account_devices(&Jid::user(&self.phone_number, Server::WhatsApp))
                .is_some()
            {
                self.publish_key_index_list(server, now);
            }
            Ok(conn)
        } else {
            Err(ScanError::NoSuchRef)
        }
    }
}
