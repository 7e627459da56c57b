//! Baileys' Signal state converted into the messaging layer's records, so an imported account
//! continues its existing sessions instead of asking every contact for new ones.
//!
//! | file | record |
//! |---|---|
//! | `session-<user>[_<domain>].<device>.json` (libsignal-node's session JSON) | a session under the device's address and the peer's identity key (from the session) |
//! | `sender-key-<group>--<user>[_<domain>]--<device>.json` (`group::user::device`, `:` written as `-`) | the member's sender key |
//! | `lid-mapping-<pn>.json` (`"<lid>"`), `lid-mapping-<lid>_reverse.json` (`"<pn>"`) | the phone-number ↔ LID mapping |
//!
//! Baileys 6 names a LID device's session without the `_1` domain, like a phone number; such a
//! name is taken as a LID when the account's own LID or a mapping file names that user as one,
//! else as a phone number (the messaging layer moves a phone-number session to the LID once it
//! learns the mapping, as it does for its own sessions).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use tether_core::creds::Credentials;
use tether_core::messaging::address::{Address, Namespace, UserId};
use tether_core::messaging::record_keys;
use tether_core::records::{RecordWrite, Table};
use tether_signal::{IdentityKey, PublicKey, RegistrationId, SenderKeyRecord, SessionRecord};

/// Signal state read from the key-store files, converted, waiting for the namespace fix-up.
#[derive(Default)]
pub(super) struct Converted {
    /// Sessions by address as named, with the peer's identity key and the file's name.
    sessions: BTreeMap<Address, (Bytes, Option<[u8; 32]>, String)>,
    /// Sender keys: store key → (record, the file's name).
    sender_keys: BTreeMap<Bytes, (Bytes, String)>,
    /// Phone number → LID, from mapping files (either direction).
    lids: BTreeMap<String, String>,
    /// One-time pre-keys by id, from `pre-key-<id>.json`.
    pre_keys: BTreeMap<u32, tether_core::crypto::KeyPair>,
}

impl Converted {
    /// Keeps one-time pre-key `id` (from `pre-key-<id>.json`).
    pub(super) fn pre_key(&mut self, id: u32, pair: tether_core::crypto::KeyPair) {
        self.pre_keys.insert(id, pair);
    }

    /// How many one-time pre-keys were kept.
    pub(super) fn pre_key_count(&self) -> usize {
        self.pre_keys.len()
    }

    /// Converts `session-<name>.json`.
    pub(super) fn session(
        &mut self,
        name: &str,
        json: &[u8],
        creds: &Credentials,
    ) -> Result<(), String> {
        let address = Address::parse_key(name.as_bytes()).ok_or_else(|| {
            format!("the address {name:?} is not <user>[_<domain>].<device> with a numeric user")
        })?;
        let own = IdentityKey::new(PublicKey::from_montgomery(
            creds.identity_key.public_bytes(),
        ));
        let record = SessionRecord::from_libsignal_json(
            json,
            &own,
            RegistrationId::new(creds.registration_id),
        )
        .map_err(|e| format!("the session does not import: {e}"))?;
        let identity = record
            .remote_identity_key()
            .map(|k| *k.public_key().as_montgomery());
        self.sessions.insert(
            address,
            (Bytes::from(record.to_bytes()), identity, name.to_owned()),
        );
        Ok(())
    }

    /// Converts `sender-key-<group>--<user>--<device>.json`.
    pub(super) fn sender_key(&mut self, name: &str, json: &[u8]) -> Result<(), String> {
        let bad =
            || format!("the name {name:?} is not <group>--<user>--<device> as Baileys writes it");
        let mut parts = name.rsplitn(3, "--");
        let (Some(device), Some(user), Some(group)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let group: tether_core::binary::Jid =
            group.replace("__", "/").parse().map_err(|_| bad())?;
        let sender = Address::parse_key(format!("{user}.{device}").as_bytes()).ok_or_else(bad)?;
        let record = SenderKeyRecord::from_baileys_json(json)
            .map_err(|e| format!("the sender key does not import: {e}"))?;
        self.sender_keys.insert(
            record_keys::sender_key(&group, &sender),
            (Bytes::from(record.to_bytes()), name.to_owned()),
        );
        Ok(())
    }

    /// Reads `lid-mapping-<id>.json` (`<id>` a phone number, or `<lid>_reverse`).
    pub(super) fn lid_mapping(&mut self, id: &str, json: &[u8]) -> Result<(), String> {
        let value: String = serde_json::from_slice(json)
            .map_err(|_| "a LID mapping holds one JSON string of digits".to_owned())?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let (pn, lid) = match id.strip_suffix("_reverse") {
            Some(lid) => (value.as_str(), lid),
            None => (id, value.as_str()),
        };
        if !digits(pn) || !digits(lid) {
            return Err("a LID mapping names a user that is not all digits".into());
        }
        self.lids.insert(pn.to_owned(), lid.to_owned());
        Ok(())
    }

    /// The records to install: a session named like a phone number whose user is known to be
    /// a LID (the account's own, or a mapping's) moves to the LID address.
    pub(super) fn into_records(self, creds: &Credentials) -> Vec<RecordWrite> {
        self.placed(creds).into_iter().map(|p| p.write).collect()
    }

    /// Each record with the file it came from (`None` for LID mappings).
    fn placed(self, creds: &Credentials) -> Vec<Placed> {
        let mut known_lids: BTreeSet<String> = self.lids.values().cloned().collect();
        if let Some(lid) = creds.device.as_ref().and_then(|d| d.lid.as_ref()) {
            known_lids.insert(lid.user_str().to_owned());
        }
        let mut out = Vec::new();
        let mut push = |file: Option<File>, write: RecordWrite| out.push(Placed { file, write });
        for (id, pair) in &self.pre_keys {
            push(None, tether_core::records::pre_key_record(*id, pair));
        }
        for (pn, lid) in &self.lids {
            push(
                None,
                RecordWrite::put(
                    Table::LidMap,
                    record_keys::lid_of_pn(pn),
                    Bytes::from(lid.clone()),
                ),
            );
            push(
                None,
                RecordWrite::put(
                    Table::LidMap,
                    record_keys::pn_of_lid(lid),
                    Bytes::from(pn.clone()),
                ),
            );
        }
        for (mut address, (session, identity, name)) in self.sessions {
            if address.user.ns == Namespace::Pn && known_lids.contains(&address.user.user) {
                address = address.with_user(&UserId {
                    user: address.user.user.clone(),
                    ns: Namespace::Lid,
                });
            }
            if let Some(identity) = identity {
                push(
                    None,
                    RecordWrite::put(
                        Table::Identities,
                        record_keys::identity(&address),
                        Bytes::copy_from_slice(&identity),
                    ),
                );
            }
            push(
                Some(File::Session(name)),
                RecordWrite::put(Table::Sessions, record_keys::session(&address), session),
            );
        }
        for (key, (record, name)) in self.sender_keys {
            push(
                Some(File::SenderKey(name)),
                RecordWrite::put(Table::SenderKeys, key, record),
            );
        }
        out
    }
}

/// A converted record and the key-store file it came from.
struct Placed {
    file: Option<File>,
    write: RecordWrite,
}

/// A session or sender-key file, by the name after its prefix.
enum File {
    Session(String),
    SenderKey(String),
}

/// The imported session and sender-key files an export may write back as they were: those
/// whose record is still exactly what the import made of them. A session Tether has used
/// since has moved on, and Baileys would encrypt with keys the contact has already used, so
/// such a file is left out (Baileys then starts a new session) and counted.
///
/// `current` reads a live record.
pub(super) fn still_current(
    creds: &Credentials,
    foreign: &mut crate::foreign::Foreign,
    mut current: impl FnMut(Table, &Bytes) -> Option<Bytes>,
) -> usize {
    let mut again = Converted::default();
    for ((kind, stem), json) in &foreign.extra_keys {
        if let (super::keys::FILE_TYPE, Some(id)) =
            (kind.as_str(), stem.strip_prefix(LID_MAPPING_PREFIX))
        {
            let _ = again.lid_mapping(id, json);
        }
    }
    // A file that does not convert has no record it could match: it is left out.
    for (name, json) in &foreign.sessions {
        let _ = again.session(name, json, creds);
    }
    for (name, json) in &foreign.sender_keys {
        let _ = again.sender_key(name, json);
    }
    let mut keep_sessions = BTreeSet::new();
    let mut keep_sender_keys = BTreeSet::new();
    for placed in again.placed(creds) {
        let (Some(file), RecordWrite::Put { table, key, value }) = (placed.file, placed.write)
        else {
            continue;
        };
        if current(table, &key).as_ref() != Some(&value) {
            continue;
        }
        match file {
            File::Session(name) => keep_sessions.insert(name),
            File::SenderKey(name) => keep_sender_keys.insert(name),
        };
    }
    let before = foreign.sessions.len() + foreign.sender_keys.len();
    foreign
        .sessions
        .retain(|name, _| keep_sessions.contains(name));
    foreign
        .sender_keys
        .retain(|name, _| keep_sender_keys.contains(name));
    before - foreign.sessions.len() - foreign.sender_keys.len()
}

/// The file-name prefix of Baileys' LID mapping files.
pub(super) const LID_MAPPING_PREFIX: &str = "lid-mapping-";
