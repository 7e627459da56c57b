//! Who takes part in a [`Conversation`](super::Conversation): accounts A and B, each with
//! a phone (a [`SimDevice`] with the account's Signal identity) and a Tether companion (a real
//! `Connection` with a `MemStore`, linked offline with the real pairing functions), and C, a
//! contact with a phone only. Headless companions linked during the run join the cast.

use std::collections::BTreeMap;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::binary::{Jid, Server};
use tether_core::creds::{
    CredentialChange, CredentialStore, Credentials, CredentialsDelta, PersistSeq,
};
use tether_signal::IdentityKeyPair;

use super::ledger::Party;
use crate::device::{DeviceConfig, SimDevice};
use crate::fault_plan::messaging::{ACCOUNTS, COMPANIONS, ConversationPlan};
use crate::mesh::Mesh;
use crate::phone::FakePhone;
use crate::server::{DeviceAddr, PlantedBug, ServerConfig};
use crate::store::MemStore;

/// One-time pre-keys per upload (small, for speed: sweeps may configure a small batch).
const PRE_KEY_BATCH: u32 = 8;

/// The cast (see the module docs).
#[derive(Debug)]
pub(crate) struct Cast {
    pub(crate) phones: Vec<FakePhone>,
    /// Mesh device index of each account's phone.
    pub(crate) phone_device: Vec<usize>,
    /// Mesh companion index of A's and B's companions.
    pub(crate) companion: Vec<usize>,
    /// Every device address → its party.
    pub(crate) parties: BTreeMap<DeviceAddr, Party>,
    /// Each companion's own device address.
    pub(crate) companion_addr: Vec<DeviceAddr>,
    seed: u64,
    linked: u64,
}

impl Cast {
    /// Builds the mesh and the cast for `seed` and `plan`.
    pub(crate) fn build(
        seed: u64,
        plan: &ConversationPlan,
        planted: Option<PlantedBug>,
    ) -> (Mesh, Self) {
        let mut mesh = Mesh::new(ServerConfig {
            seed: seed.wrapping_add(1),
            pre_key_count: 0,
            planted,
            ..ServerConfig::default()
        });
        let mut cast = Self {
            phones: Vec::new(),
            phone_device: Vec::new(),
            companion: Vec::new(),
            parties: BTreeMap::new(),
            companion_addr: Vec::new(),
            seed,
            linked: 0,
        };
        let names = ["Alice", "Bob", "Carol"];
        for account in 0..ACCOUNTS {
            let phone_seed = seed.wrapping_mul(31).wrapping_add(u64::from(account) + 1);
            let phone = FakePhone::new(phone_seed);
            if let Err(error) = mesh
                .server
                .add_account(&phone.account_spec(names[usize::from(account)]))
            {
                tracing::warn!(%error, "account not registered");
            }
            let config = DeviceConfig {
                seed: phone_seed ^ 0xd0,
                phone_number: phone.phone_number().to_owned(),
                lid_user: phone.lid_user().to_owned(),
                device: 0,
                pre_key_batch: PRE_KEY_BATCH,
                prefer_lid: account % 2 == 0,
            };
            let mut device = SimDevice::new(config, phone.identity());
            if planted == Some(PlantedBug::PhoneReusesCounter) {
                device.plant_counter_reuse();
            }
            if planted == Some(PlantedBug::PhoneEncWithoutVersion) {
                device.plant_unversioned_encs();
            }
            device.register();
            let index = mesh.add_device(device);
            cast.parties.insert(
                DeviceAddr {
                    user: phone.phone_number().to_owned(),
                    device: 0,
                },
                Party::Device(index),
            );
            cast.phone_device.push(index);
            cast.phones.push(phone);
        }
        for account in 0..COMPANIONS {
            let mut creds = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(
                seed ^ (0xc0 + u64::from(account)),
            ));
            let now = mesh.now();
            let phone = &mut cast.phones[usize::from(account)];
            let jid = match phone.link_credentials(&mut mesh.server, &mut creds, now) {
                Ok(jid) => jid,
                Err(error) => {
                    tracing::warn!(%error, "companion not linked");
                    continue;
                }
            };
            let mut store = MemStore::new();
            if planted == Some(PlantedBug::StoreLosesInboxWrites) {
                store.plant_lost_writes(tether_core::records::Table::Inbox);
            }
            let created = CredentialsDelta::one(CredentialChange::Created(Box::new(creds)));
            if let Err(error) = store.apply(PersistSeq(1), &created) {
                tracing::warn!(%error, "store refused the credentials");
            }
            let index = mesh.add_companion(
                |c| {
                    c.pre_key_initial_batch = PRE_KEY_BATCH;
                    c.pre_key_batch = PRE_KEY_BATCH;
                    c.max_frame_len = crate::world::MAX_FRAME_LEN;
                    c.messaging.planted_keep_sender_key_on_removal =
                        planted == Some(PlantedBug::CompanionKeepsSenderKeyOnRemoval);
                },
                store,
                seed.wrapping_mul(7).wrapping_add(u64::from(account)),
                plan.nets[usize::from(account)].clone(),
            );
            let addr = DeviceAddr {
                user: jid.user_str().to_owned(),
                device: jid.device_id(),
            };
            cast.parties.insert(addr.clone(), Party::Companion(index));
            cast.companion_addr.push(addr);
            cast.companion.push(index);
        }
        (mesh, cast)
    }

    /// The user JID of `account`, by LID or by phone number.
    pub(crate) fn user(&self, account: u8, lid: bool) -> Jid {
        let phone = &self.phones[usize::from(account)];
        if lid {
            Jid::user(phone.lid_user(), Server::Lid)
        } else {
            Jid::user(phone.phone_number(), Server::WhatsApp)
        }
    }

    /// Links a headless companion to `account` now; returns its mesh device index.
    pub(crate) fn link_headless(&mut self, mesh: &mut Mesh, account: u8) -> Option<usize> {
        self.linked += 1;
        let private = {
            let mut bytes = [0u8; 32];
            let tag = self
                .seed
                .wrapping_add(self.linked.wrapping_mul(0x9e37_79b9));
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                chunk.copy_from_slice(&tag.wrapping_add(i as u64).to_le_bytes());
            }
            bytes
        };
        let identity = IdentityKeyPair::from_private_bytes(private);
        let now = mesh.now();
        let phone = &mut self.phones[usize::from(account)];
        let link = phone.link_local(&mut mesh.server, &identity, now).ok()?;
        let config = DeviceConfig {
            seed: self.seed ^ (0x4845_4144 + self.linked),
            phone_number: phone.phone_number().to_owned(),
            lid_user: phone.lid_user().to_owned(),
            device: link.jid.device_id(),
            pre_key_batch: PRE_KEY_BATCH,
            prefer_lid: true,
        };
        let mut device = SimDevice::new(config, identity);
        device.set_adv_identity(link.adv_identity);
        device.register();
        let index = mesh.add_device(device);
        self.parties.insert(
            DeviceAddr {
                user: link.jid.user_str().to_owned(),
                device: link.jid.device_id(),
            },
            Party::Device(index),
        );
        Some(index)
    }

    /// Someone (C's phone) fetches every one-time pre-key of the account's devices.
    pub(crate) fn drain_pre_keys(&self, mesh: &mut Mesh, account: u8) {
        let fetcher = mesh.devices[self.phone_device[2]].device.jid();
        let user = self.user(account, false);
        let devices = mesh.server.account_devices(&user).unwrap_or_default();
        let now = mesh.now();
        for device in devices {
            let jid = Jid::device(user.user_str(), device, Server::WhatsApp);
            for _ in 0..64 {
                if mesh.server.pre_key_count(&jid).unwrap_or(0) == 0 {
                    break;
                }
                let iq = tether_core::binary::Node::new("iq")
                    .attr("id", "drain")
                    .attr("xmlns", "encrypt")
                    .attr("type", "get")
                    .children(vec![tether_core::binary::Node::new("key").children(vec![
                        tether_core::binary::Node::new("user").jid_attr("jid", jid.clone()),
                    ])]);
                if mesh.server.submit(&fetcher, &iq, now).is_err() {
                    break;
                }
            }
        }
    }

    /// Every device of every account (for the end check of the queues).
    pub(crate) fn all_devices(&self) -> Vec<DeviceAddr> {
        self.parties.keys().cloned().collect()
    }

    /// How long after the last step the world keeps running before the final flush.
    pub(crate) const SETTLE: Duration = Duration::from_secs(30);
}
