//! The accounts the fake server carries messages for (`messaging.md` §9.1): each has a phone
//! number user (PN), a hidden user (LID), a push name and devices keyed by device number (the
//! same number under PN and LID). Device 0, the phone, is always part of an account.
//!
//! ```text
//!  accounts: PN user ──▶ Account { lid, push name, devices: 0, 3, 7 …, key-index list }
//!  lid_to_pn: LID user ──▶ PN user            (a JID in either namespace finds its account)
//!  DeviceAddr { PN user, device } ─── the one key of a device, whatever namespace it was named in
//! ```
//!
//! An account comes into being when a phone registers it ([`FakeServer::add_account`]) or when
//! a companion links to a phone number the server does not know yet (the connection-only
//! simulations pair companions without registering their phone).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;
use prost::Message as _;
use tether_core::binary::{Jid, Node, Server, Value};
pub use tether_core::messaging::address::Namespace;
use tether_core::proto::adv::{AdvKeyIndexList, AdvSignedKeyIndexList};

use super::keys::DeviceKeys;
use super::queues::DeviceQueue;
use super::{ConnId, FakeServer};

/// The key of one device: its account's phone-number user and its device number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceAddr {
    /// The account's phone-number user (digits).
    pub user: String,
    /// The device number (0 = the phone).
    pub device: u16,
}

impl fmt::Display for DeviceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.user, self.device)
    }
}

/// The namespace a JID was written in, when the server carries messages for it (phone
/// number or LID; hosted devices are not simulated).
pub(crate) fn namespace_of(jid: &Jid) -> Option<Namespace> {
    match Namespace::of(jid.server())? {
        ns @ (Namespace::Pn | Namespace::Lid) => Some(ns),
        Namespace::Hosted | Namespace::HostedLid => None,
    }
}

/// The other of the two namespaces.
pub(crate) fn other(ns: Namespace) -> Namespace {
    if ns.is_lid() {
        Namespace::Pn
    } else {
        Namespace::Lid
    }
}

/// What a phone registers: the account's users and push name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    /// The phone number user (digits).
    pub phone_number: String,
    /// The LID user (digits).
    pub lid_user: String,
    /// The push name other users see (`notify`).
    pub push_name: String,
}

/// Why an account could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The phone number is registered with another LID, or the LID with another number.
    #[error(
        "account {phone_number} conflicts with a registered account (the phone number or the \
         LID {lid_user} is taken by another); register it with its own LID"
    )]
    Conflict {
        /// The phone number asked for.
        phone_number: String,
        /// The LID asked for.
        lid_user: String,
    },
    /// A user part that is empty or not digits.
    #[error("account users must be digits, got {0:?}")]
    BadUser(String),
}

/// Where a device is reachable now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A wire connection (a client behind Noise).
    Conn(ConnId),
    /// A local inbox the harness drains ([`FakeServer::take_delivered`]): a simulated phone or
    /// a headless peer.
    Local,
}

/// A device that is online.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Online {
    pub(crate) endpoint: Endpoint,
    /// Whether stanzas flow: after `<success>`, or after `<active/>` for a passive login.
    pub(crate) active: bool,
}

/// One device of an account.
#[derive(Debug, Default)]
pub(crate) struct DeviceState {
    /// The key index the phone gave it (0 for the phone itself).
    pub(crate) key_index: u32,
    /// The `ADVSignedDeviceIdentity` the companion sent when it linked (served in bundles).
    pub(crate) device_identity: Option<Bytes>,
    /// Its Signal key material, once uploaded.
    pub(crate) keys: Option<DeviceKeys>,
    /// Stanzas waiting for this device's ack or receipt.
    pub(crate) queue: DeviceQueue,
    /// Where it is connected, if anywhere.
    pub(crate) online: Option<Online>,
}

/// One account.
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) pn: String,
    pub(crate) lid: String,
    pub(crate) push_name: String,
    pub(crate) devices: BTreeMap<u16, DeviceState>,
    /// The signed `ADVSignedKeyIndexList` the phone published, if it did.
    pub(crate) key_index_list: Option<Bytes>,
    /// When the device list last changed (Unix seconds; the key-index list's `ts`).
    pub(crate) list_ts: u64,
    /// Other accounts (PN users) this one exchanged messages with: they hear of its device and
    /// identity changes.
    pub(crate) contacts: BTreeSet<String>,
}

impl Account {
    fn new(spec: &AccountSpec, now_unix: u64) -> Self {
        let mut devices = BTreeMap::new();
        devices.insert(0, DeviceState::default());
        Self {
            pn: spec.phone_number.clone(),
            lid: spec.lid_user.clone(),
            push_name: spec.push_name.clone(),
            devices,
            key_index_list: None,
            list_ts: now_unix,
            contacts: BTreeSet::new(),
        }
    }

    /// The bare user JID in `ns`.
    pub(crate) fn user_jid(&self, ns: Namespace) -> Jid {
        if ns.is_lid() {
            Jid::user(&self.lid, Server::Lid)
        } else {
            Jid::user(&self.pn, Server::WhatsApp)
        }
    }

    /// Device `device`'s JID in `ns`.
    pub(crate) fn device_jid(&self, device: u16, ns: Namespace) -> Jid {
        if ns.is_lid() {
            Jid::device(&self.lid, device, Server::Lid)
        } else {
            Jid::device(&self.pn, device, Server::WhatsApp)
        }
    }

    /// The device numbers, ascending (0 first).
    pub(crate) fn device_ids(&self) -> Vec<u16> {
        self.devices.keys().copied().collect()
    }

    /// The participant hash of this account's device list in `ns` (`messaging.md` §5.7).
    pub(crate) fn device_hash(&self, ns: Namespace) -> String {
        let jids: Vec<Jid> = self
            .devices
            .keys()
            .map(|d| self.device_jid(*d, ns))
            .collect();
        tether_core::messaging::phash::participant_hash(&jids)
    }

    /// The `ADVSignedKeyIndexList` bytes for the device list: the phone's signed one when it
    /// published one, else an unsigned list built from the key indexes (no client checks the
    /// signature, `messaging.md` §9.1).
    pub(crate) fn key_index_list_bytes(&self) -> Bytes {
        if let Some(signed) = &self.key_index_list {
            return signed.clone();
        }
        let valid: Vec<u32> = self
            .devices
            .iter()
            .filter(|(d, _)| **d != 0)
            .map(|(_, s)| s.key_index)
            .collect();
        let details = AdvKeyIndexList {
            raw_id: Some(0),
            timestamp: Some(self.list_ts),
            current_index: Some(valid.iter().copied().max().unwrap_or(0)),
            valid_indexes: valid,
            account_type: None,
        };
        let signed = AdvSignedKeyIndexList {
            details: Some(Bytes::from(details.encode_to_vec())),
            account_signature: None,
            account_signature_key: None,
        };
        Bytes::from(signed.encode_to_vec())
    }
}

/// Every account, findable by either user.
#[derive(Debug, Default)]
pub(crate) struct Accounts {
    pub(crate) by_pn: BTreeMap<String, Account>,
    lid_to_pn: BTreeMap<String, String>,
}

impl Accounts {
    /// Adds an account (idempotent for the same spec; the push name is updated).
    pub(crate) fn add(&mut self, spec: &AccountSpec, now_unix: u64) -> Result<(), AccountError> {
        for user in [&spec.phone_number, &spec.lid_user] {
            if user.is_empty() || !user.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AccountError::BadUser(user.chars().take(32).collect()));
            }
        }
        let lid_owner = self.lid_to_pn.get(&spec.lid_user);
        let existing = self.by_pn.get_mut(&spec.phone_number);
        match (existing, lid_owner) {
            (Some(account), Some(owner))
                if account.lid == spec.lid_user && *owner == account.pn =>
            {
                account.push_name.clone_from(&spec.push_name);
                Ok(())
            }
            (None, None) => {
                self.lid_to_pn
                    .insert(spec.lid_user.clone(), spec.phone_number.clone());
                self.by_pn
                    .insert(spec.phone_number.clone(), Account::new(spec, now_unix));
                Ok(())
            }
            _ => Err(AccountError::Conflict {
                phone_number: spec.phone_number.clone(),
                lid_user: spec.lid_user.clone(),
            }),
        }
    }

    /// The account a user or device JID names, and the namespace it was named in.
    pub(crate) fn find(&self, jid: &Jid) -> Option<(&Account, Namespace)> {
        let ns = namespace_of(jid)?;
        let pn = if ns.is_lid() {
            self.lid_to_pn.get(jid.user_str())?
        } else {
            jid.user_str()
        };
        Some((self.by_pn.get(pn)?, ns))
    }

    /// The device a JID names (device 0 for a bare user JID), if the account has it.
    pub(crate) fn resolve(&self, jid: &Jid) -> Option<(DeviceAddr, Namespace)> {
        let (account, ns) = self.find(jid)?;
        account.devices.contains_key(&jid.device_id()).then(|| {
            (
                DeviceAddr {
                    user: account.pn.clone(),
                    device: jid.device_id(),
                },
                ns,
            )
        })
    }

    pub(crate) fn get(&self, user: &str) -> Option<&Account> {
        self.by_pn.get(user)
    }

    pub(crate) fn get_mut(&mut self, user: &str) -> Option<&mut Account> {
        self.by_pn.get_mut(user)
    }

    pub(crate) fn device(&self, addr: &DeviceAddr) -> Option<&DeviceState> {
        self.by_pn.get(&addr.user)?.devices.get(&addr.device)
    }

    pub(crate) fn device_mut(&mut self, addr: &DeviceAddr) -> Option<&mut DeviceState> {
        self.by_pn
            .get_mut(&addr.user)?
            .devices
            .get_mut(&addr.device)
    }

    /// `addr`'s JID in `ns`.
    pub(crate) fn jid(&self, addr: &DeviceAddr, ns: Namespace) -> Option<Jid> {
        Some(self.by_pn.get(&addr.user)?.device_jid(addr.device, ns))
    }

    /// Every device of every account.
    pub(crate) fn all_devices(&self) -> Vec<DeviceAddr> {
        self.by_pn
            .values()
            .flat_map(|a| {
                a.devices.keys().map(|d| DeviceAddr {
                    user: a.pn.clone(),
                    device: *d,
                })
            })
            .collect()
    }
}

/// A JID attribute, whether typed on the wire or written as a string.
pub(crate) fn jid_attr(node: &Node, key: &str) -> Option<Jid> {
    match node.get_attr(key)? {
        Value::Jid(jid) => Some(jid.clone()),
        Value::String(s) => s.parse().ok(),
    }
}

/// A device JID's canonical form for the companion registry's [`super::Device`]: its PN user
/// and device.
pub(crate) fn addr_of_device(device: &super::Device) -> DeviceAddr {
    DeviceAddr {
        user: device.jid.user_str().to_owned(),
        device: device.jid.device_id(),
    }
}

impl FakeServer {
    /// Registers an account (a phone's own registration): its PN and LID users and push name.
    /// Device 0 exists at once; its keys come with the phone's pre-key upload. Adding the same
    /// account again only updates the push name.
    pub fn add_account(&mut self, spec: &AccountSpec) -> Result<(), AccountError> {
        let now = self.unix_at(self.now);
        self.accounts.add(spec, now)
    }

    /// The device numbers of the account `user` names (either namespace), device 0 first.
    pub fn account_devices(&self, user: &Jid) -> Option<Vec<u16>> {
        Some(self.accounts.find(user)?.0.device_ids())
    }

    /// The device a JID names (a bare user JID names device 0), if an account has it.
    pub fn device_of(&self, jid: &Jid) -> Option<DeviceAddr> {
        self.accounts.resolve(jid).map(|(addr, _)| addr)
    }

    /// The phone-number user of the account a JID names (either namespace).
    pub fn phone_number_of(&self, jid: &Jid) -> Option<String> {
        self.accounts
            .find(jid)
            .map(|(account, _)| account.pn.clone())
    }

    /// The account's other user: the LID user JID for a PN one and the other way round.
    pub fn alternate_user(&self, user: &Jid) -> Option<Jid> {
        let (account, ns) = self.accounts.find(user)?;
        Some(account.user_jid(other(ns)))
    }

    /// Publishes the phone's signed `ADVSignedKeyIndexList` for `user`'s account: served in
    /// usync answers and devices notifications from now on.
    pub fn set_key_index_list(&mut self, user: &Jid, signed: Bytes) -> bool {
        let Some((account, _)) = self.accounts.find(user) else {
            return false;
        };
        let pn = account.pn.clone();
        if let Some(account) = self.accounts.get_mut(&pn) {
            account.key_index_list = Some(signed);
            true
        } else {
            false
        }
    }

    /// Registers a companion linked without a wire (a headless device the phone linked with
    /// [`FakePhone::link_local`](crate::FakePhone::link_local)): reachable through
    /// [`connect_local`](Self::connect_local) only.
    pub fn link_companion(
        &mut self,
        device: super::Device,
        key_index: u32,
        identity: Bytes,
    ) -> DeviceAddr {
        self.ensure_companion(&device, key_index, Some(identity))
    }

    /// Makes sure the account and device of a linked companion exist (the connection-only
    /// simulations link companions without registering their phone first).
    pub(super) fn ensure_companion(
        &mut self,
        device: &super::Device,
        key_index: u32,
        identity: Option<Bytes>,
    ) -> DeviceAddr {
        let addr = addr_of_device(device);
        let now = self.unix_at(self.now);
        if self.accounts.get(&addr.user).is_none() {
            let lid_user = device
                .lid
                .as_ref()
                .map_or_else(|| format!("9{}", addr.user), |l| l.user_str().to_owned());
            let spec = AccountSpec {
                phone_number: addr.user.clone(),
                lid_user,
                push_name: format!("Sim {}", addr.user),
            };
            if let Err(error) = self.accounts.add(&spec, now) {
                tracing::debug!(%error, "companion's account not added");
            }
        }
        let added = match self.accounts.get_mut(&addr.user) {
            Some(account) if !account.devices.contains_key(&addr.device) => {
                account.devices.insert(
                    addr.device,
                    DeviceState {
                        key_index,
                        device_identity: identity,
                        ..DeviceState::default()
                    },
                );
                account.list_ts = now;
                true
            }
            Some(account) => {
                if let Some(state) = account.devices.get_mut(&addr.device)
                    && identity.is_some()
                {
                    state.device_identity = identity;
                    state.key_index = key_index;
                }
                false
            }
            None => false,
        };
        if added {
            self.notify_devices(&addr, super::notifications::DeviceChange::Add);
        }
        addr
    }

    /// Removes a companion from its account (unlinked): its queue goes with it.
    pub(super) fn remove_companion(&mut self, addr: &DeviceAddr) {
        if addr.device == 0 {
            return;
        }
        let now = self.unix_at(self.now);
        let removed = self.accounts.get_mut(&addr.user).and_then(|account| {
            let state = account.devices.remove(&addr.device)?;
            account.list_ts = now;
            Some(state)
        });
        if let Some(state) = removed {
            self.notify_devices_removed(addr, state.key_index);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn spec(pn: &str, lid: &str) -> AccountSpec {
        AccountSpec {
            phone_number: pn.to_owned(),
            lid_user: lid.to_owned(),
            push_name: "A".to_owned(),
        }
    }

    #[test]
    fn a_jid_in_either_namespace_finds_the_same_device() {
        let mut accounts = Accounts::default();
        accounts.add(&spec("15550001", "100001"), 0).unwrap();
        accounts
            .get_mut("15550001")
            .unwrap()
            .devices
            .insert(3, DeviceState::default());
        let pn: Jid = "15550001:3@s.whatsapp.net".parse().unwrap();
        let lid: Jid = "100001:3@lid".parse().unwrap();
        let (a, ns_a) = accounts.resolve(&pn).unwrap();
        let (b, ns_b) = accounts.resolve(&lid).unwrap();
        assert_eq!(a, b);
        assert_eq!((ns_a, ns_b), (Namespace::Pn, Namespace::Lid));
        // A bare user JID is device 0; an unknown device or user resolves to nothing.
        let user: Jid = "100001@lid".parse().unwrap();
        assert_eq!(accounts.resolve(&user).unwrap().0.device, 0);
        assert!(accounts.resolve(&"100001:4@lid".parse().unwrap()).is_none());
        assert!(accounts.resolve(&"999@lid".parse().unwrap()).is_none());
        assert!(accounts.resolve(&"1@g.us".parse().unwrap()).is_none());
    }

    #[test]
    fn conflicting_or_malformed_accounts_are_refused() {
        let mut accounts = Accounts::default();
        accounts.add(&spec("15550001", "100001"), 0).unwrap();
        accounts.add(&spec("15550001", "100001"), 0).unwrap();
        assert!(matches!(
            accounts.add(&spec("15550001", "100002"), 0),
            Err(AccountError::Conflict { .. })
        ));
        assert!(matches!(
            accounts.add(&spec("15550002", "100001"), 0),
            Err(AccountError::Conflict { .. })
        ));
        assert!(matches!(
            accounts.add(&spec("1555x", "1"), 0),
            Err(AccountError::BadUser(_))
        ));
        assert_eq!(accounts.by_pn.len(), 1);
    }

    #[test]
    fn unsigned_key_index_list_lists_the_companions_key_indexes() {
        let mut accounts = Accounts::default();
        accounts.add(&spec("15550001", "100001"), 77).unwrap();
        let account = accounts.get_mut("15550001").unwrap();
        for (device, index) in [(2u16, 5u32), (9, 11)] {
            account.devices.insert(
                device,
                DeviceState {
                    key_index: index,
                    ..DeviceState::default()
                },
            );
        }
        let bytes = account.key_index_list_bytes();
        let signed = AdvSignedKeyIndexList::decode(bytes).unwrap();
        let details = AdvKeyIndexList::decode(signed.details.unwrap()).unwrap();
        assert_eq!(details.valid_indexes, vec![5, 11]);
        assert_eq!(details.current_index, Some(11));
        assert_eq!(details.timestamp, Some(77));
    }
}
