//! Per-device Signal key material and the `encrypt` iqs (`messaging.md` §1 and §3, §9.2):
//! pre-key upload, count, digest and signed pre-key rotation, and the bundle fetch that pops
//! the lowest one-time pre-key of each device it names.
//!
//! ```text
//!  upload ─▶ identity, registration id, signed pre-key (replaced), one-time pre-keys (added)
//!            (check failures are kept as complaints: bad lengths, a signature that does not
//!             verify over the 0x05-prefixed key, a companion whose identity changed)
//!  <key><user jid=device/>… ─▶ per device: bundle, popping the lowest one-time pre-key
//!            (none left: a bundle without <key>); unknown device or no keys: <error code=406>
//!            pool below the threshold ─▶ <notification type="encrypt"><count value=N/>
//! ```
//!
//! A device 0 whose identity changes is a reinstalled phone: its pool is replaced and every
//! contact of the account gets an `<identity/>` notification.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use tether_core::binary::{Content, Jid, Node};
use tether_core::crypto::xeddsa;

use super::accounts::{DeviceAddr, jid_attr};
use super::{Complaint, FakeServer, stanzas};

/// The key type byte of every key (`0x05`, Curve25519).
const KEY_TYPE: u8 = 0x05;

/// A device's signed pre-key as the server holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SignedPreKeyPublic {
    pub(crate) id: u32,
    pub(crate) public: [u8; 32],
    pub(crate) signature: [u8; 64],
}

/// What the server holds for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeviceKeys {
    pub(crate) registration_id: u32,
    pub(crate) identity: [u8; 32],
    pub(crate) signed: SignedPreKeyPublic,
    /// One-time pre-keys, id → public; the lowest is handed out first.
    pub(crate) one_time: BTreeMap<u32, [u8; 32]>,
}

/// A one-time pre-key the server handed out in a bundle (the log the simulator's "no
/// one-time pre-key id handed out twice" invariant reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handout {
    /// Whose key.
    pub device: DeviceAddr,
    /// The device's identity at the time (a reinstalled phone starts its ids again).
    pub identity: [u8; 32],
    /// The one-time pre-key id.
    pub pre_key_id: u32,
}

/// Why an `encrypt` iq was refused: the code and text of its `<error>`.
type Refusal = (u16, &'static str, String);

fn bytes_of<'a>(node: &'a Node, tag: &str) -> Option<&'a Bytes> {
    match &node.child(tag)?.content {
        Content::Bytes(b) => Some(b),
        _ => None,
    }
}

fn fixed<const N: usize>(node: &Node, tag: &str) -> Result<[u8; N], String> {
    let bytes = bytes_of(node, tag).ok_or_else(|| format!("<{tag}> missing or not bytes"))?;
    <[u8; N]>::try_from(&bytes[..])
        .map_err(|_| format!("<{tag}> is {} bytes, not {N}", bytes.len()))
}

fn u24(node: &Node) -> Result<u32, String> {
    let [a, b, c] = fixed::<3>(node, "id")?;
    Ok(u32::from_be_bytes([0, a, b, c]))
}

fn u24_bytes(id: u32) -> Vec<u8> {
    let [_, a, b, c] = id.to_be_bytes();
    vec![a, b, c]
}

/// Parses `<key|skey><id/><value/>[<signature/>]</…>`.
fn parse_key(node: &Node) -> Result<(u32, [u8; 32]), String> {
    Ok((u24(node)?, fixed::<32>(node, "value")?))
}

fn parse_signed(node: &Node) -> Result<SignedPreKeyPublic, String> {
    let (id, public) = parse_key(node)?;
    Ok(SignedPreKeyPublic {
        id,
        public,
        signature: fixed::<64>(node, "signature")?,
    })
}

/// Whether `signed`'s signature verifies under `identity` (over the `0x05`-prefixed key).
fn signature_ok(identity: &[u8; 32], signed: &SignedPreKeyPublic) -> bool {
    let mut message = [0u8; 33];
    message[0] = KEY_TYPE;
    message[1..].copy_from_slice(&signed.public);
    xeddsa::verify(identity, &message, &signed.signature)
}

/// The upload's parts.
struct Upload {
    registration_id: u32,
    identity: [u8; 32],
    keys: Vec<(u32, [u8; 32])>,
    signed: SignedPreKeyPublic,
}

fn parse_upload(iq: &Node) -> Result<Upload, String> {
    let registration_id = u32::from_be_bytes(fixed::<4>(iq, "registration")?);
    let [key_type] = fixed::<1>(iq, "type")?;
    if key_type != KEY_TYPE {
        return Err(format!("<type> is {key_type:#04x}, not 0x05"));
    }
    let identity = fixed::<32>(iq, "identity")?;
    let list = iq.child("list").ok_or("<list> missing")?;
    let keys = list
        .child_nodes()
        .iter()
        .map(parse_key)
        .collect::<Result<Vec<_>, _>>()?;
    let signed = parse_signed(iq.child("skey").ok_or("<skey> missing")?)?;
    Ok(Upload {
        registration_id,
        identity,
        keys,
        signed,
    })
}

impl DeviceKeys {
    /// The bundle children (`messaging.md` §3): registration, type, identity, skey, [key],
    /// [device-identity].
    fn bundle(&self, one_time: Option<(u32, [u8; 32])>, identity: Option<&Bytes>) -> Vec<Node> {
        let mut children = self.head();
        if let Some((id, public)) = one_time {
            children.push(Node::new("key").children(vec![
                Node::new("id").bytes(u24_bytes(id)),
                Node::new("value").bytes(public.to_vec()),
            ]));
        }
        if let Some(identity) = identity {
            children.push(Node::new("device-identity").bytes(identity.clone()));
        }
        children
    }

    /// `<registration/><type/><identity/><skey>…</skey>`: what bundles and digests start with.
    fn head(&self) -> Vec<Node> {
        vec![
            Node::new("registration").bytes(self.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![KEY_TYPE]),
            Node::new("identity").bytes(self.identity.to_vec()),
            Node::new("skey").children(vec![
                Node::new("id").bytes(u24_bytes(self.signed.id)),
                Node::new("value").bytes(self.signed.public.to_vec()),
                Node::new("signature").bytes(self.signed.signature.to_vec()),
            ]),
        ]
    }

    /// `SHA-1(identity ‖ skey ‖ skey signature ‖ every one-time pre-key in id order)`
    /// (`messaging.md` §1.5).
    fn digest(&self) -> [u8; 20] {
        let mut hasher = Sha1::new();
        hasher.update(self.identity);
        hasher.update(self.signed.public);
        hasher.update(self.signed.signature);
        for public in self.one_time.values() {
            hasher.update(public);
        }
        hasher.finalize().into()
    }
}

impl FakeServer {
    /// Routes an `<iq xmlns="encrypt">` from `device`; the answer goes back to it.
    pub(super) fn on_encrypt_iq(&mut self, device: &DeviceAddr, iq: &Node) -> Node {
        let iq_id = iq.attr_str("id").unwrap_or_default().to_owned();
        let kind = iq.attr_str("type").unwrap_or_default();
        let answer = match kind {
            "get" if iq.child("count").is_some() => Ok(self.count_answer(device, &iq_id)),
            "get" if iq.child("digest").is_some() => self.digest_answer(device, &iq_id),
            "get" if iq.child("key").is_some() => Ok(self.bundles(device, &iq_id, iq)),
            "set" if iq.child("list").is_some() => self.upload(device, &iq_id, iq),
            "set" if iq.child("rotate").is_some() => self.rotate(device, &iq_id, iq),
            _ => Err((400, "bad-request", "unknown encrypt iq".to_owned())),
        };
        answer.unwrap_or_else(|(code, text, why)| {
            if code == 400 {
                self.complain(Some(device), format!("encrypt iq refused: {why}"));
            }
            stanzas::iq_error(&iq_id, code, text)
        })
    }

    /// One-time pre-keys the server counts for `device`: its pool plus the configured
    /// baseline ([`ServerConfig::pre_key_count`](super::ServerConfig::pre_key_count)).
    pub fn pre_key_count(&self, device: &Jid) -> Option<u32> {
        let (addr, _) = self.accounts.resolve(device)?;
        Some(self.pool_count(&addr))
    }

    pub(super) fn pool_count(&self, addr: &DeviceAddr) -> u32 {
        let pool = self
            .accounts
            .device(addr)
            .and_then(|d| d.keys.as_ref())
            .map_or(0, |k| k.one_time.len());
        u32::try_from(pool)
            .unwrap_or(u32::MAX)
            .saturating_add(self.config.pre_key_count)
    }

    fn count_answer(&self, device: &DeviceAddr, iq_id: &str) -> Node {
        stanzas::count_result(iq_id, self.pool_count(device))
    }

    fn upload(&mut self, device: &DeviceAddr, iq_id: &str, iq: &Node) -> Result<Node, Refusal> {
        let upload = parse_upload(iq).map_err(|why| (400, "bad-request", why))?;
        if !signature_ok(&upload.identity, &upload.signed) {
            self.complain(
                Some(device),
                "pre-key upload: the signed pre-key's signature does not verify".to_owned(),
            );
            return Err((406, "not-acceptable", "bad signature".to_owned()));
        }
        let previous = self
            .accounts
            .device(device)
            .and_then(|d| d.keys.as_ref())
            .map(|k| k.identity);
        let changed = previous.is_some_and(|old| old != upload.identity);
        if changed && device.device != 0 {
            self.complain(
                Some(device),
                "pre-key upload: a companion's identity changed".to_owned(),
            );
        }
        let Some(state) = self.accounts.device_mut(device) else {
            return Err((404, "item-not-found", "no such device".to_owned()));
        };
        let keys = match state.keys.as_mut() {
            Some(keys) if !changed => keys,
            _ => state.keys.insert(DeviceKeys {
                registration_id: upload.registration_id,
                identity: upload.identity,
                signed: upload.signed.clone(),
                one_time: BTreeMap::new(),
            }),
        };
        keys.registration_id = upload.registration_id;
        keys.signed = upload.signed;
        keys.one_time.extend(upload.keys.iter().copied());
        if changed {
            self.notify_identity_change(device);
        }
        Ok(stanzas::result(iq_id, None))
    }

    fn rotate(&mut self, device: &DeviceAddr, iq_id: &str, iq: &Node) -> Result<Node, Refusal> {
        let skey = iq
            .child("rotate")
            .and_then(|r| r.child("skey"))
            .ok_or_else(|| (400, "bad-request", "<rotate><skey> missing".to_owned()))?;
        let signed = parse_signed(skey).map_err(|why| (400, "bad-request", why))?;
        let Some(keys) = self
            .accounts
            .device_mut(device)
            .and_then(|d| d.keys.as_mut())
        else {
            return Err((404, "item-not-found", "no keys to rotate".to_owned()));
        };
        if !signature_ok(&keys.identity, &signed) {
            self.complain(
                Some(device),
                "rotate: the new signed pre-key's signature does not verify".to_owned(),
            );
            return Err((406, "not-acceptable", "bad signature".to_owned()));
        }
        keys.signed = signed;
        Ok(stanzas::result(iq_id, None))
    }

    fn digest_answer(&self, device: &DeviceAddr, iq_id: &str) -> Result<Node, Refusal> {
        let keys = self
            .accounts
            .device(device)
            .and_then(|d| d.keys.as_ref())
            .ok_or_else(|| (404, "item-not-found", "no keys".to_owned()))?;
        let ids = keys
            .one_time
            .keys()
            .map(|id| Node::new("id").bytes(u24_bytes(*id)))
            .collect();
        let mut children = keys.head();
        children.push(Node::new("list").children(ids));
        children.push(Node::new("hash").bytes(keys.digest().to_vec()));
        let digest = Node::new("digest").children(children);
        Ok(stanzas::result(iq_id, None).children(vec![digest]))
    }

    /// `<iq xmlns="encrypt" type="get"><key><user jid=…/>…</key></iq>`: a bundle per device.
    fn bundles(&mut self, requester: &DeviceAddr, iq_id: &str, iq: &Node) -> Node {
        let users: Vec<Node> = iq
            .child("key")
            .map(|k| k.child_nodes().to_vec())
            .unwrap_or_default();
        let mut answers = Vec::with_capacity(users.len());
        let mut popped = Vec::new();
        for user in &users {
            let Some(jid) = jid_attr(user, "jid") else {
                continue;
            };
            let node = Node::new("user").jid_attr("jid", jid.clone());
            match self.bundle_for(&jid) {
                Some((children, addr)) => {
                    popped.push(addr);
                    answers.push(node.children(children));
                }
                None => answers.push(node.children(vec![
                    Node::new("error")
                        .attr("code", "406")
                        .attr("text", "not-acceptable"),
                ])),
            }
        }
        tracing::trace!(%requester, bundles = popped.len(), "bundles handed out");
        for addr in popped {
            self.maybe_notify_low_pool(&addr);
        }
        stanzas::result(iq_id, None).children(vec![Node::new("list").children(answers)])
    }

    /// The bundle of the device `jid` names, popping its lowest one-time pre-key.
    fn bundle_for(&mut self, jid: &Jid) -> Option<(Vec<Node>, DeviceAddr)> {
        let (addr, _) = self.accounts.resolve(jid)?;
        let hand_out_twice = self.config.planted == Some(super::PlantedBug::PreKeyHandedOutTwice);
        let state = self.accounts.device_mut(&addr)?;
        let identity = if addr.device == 0 {
            None
        } else {
            state.device_identity.clone()
        };
        let keys = state.keys.as_mut()?;
        let one_time = if hand_out_twice {
            keys.one_time.first_key_value().map(|(id, k)| (*id, *k))
        } else {
            keys.one_time.pop_first()
        };
        let children = keys.bundle(one_time, identity.as_ref());
        let identity_key = keys.identity;
        if let Some((pre_key_id, _)) = one_time {
            self.handouts.push(Handout {
                device: addr.clone(),
                identity: identity_key,
                pre_key_id,
            });
        }
        Some((children, addr))
    }

    /// Every one-time pre-key handed out (the newest ones under a `history_limit`).
    pub fn handouts(&self) -> &[Handout] {
        self.handouts.kept()
    }

    /// The handouts after the first `seen` ever made (those still kept), and the total.
    pub fn handouts_since(&self, seen: usize) -> (&[Handout], usize) {
        (self.handouts.since(seen), self.handouts.total())
    }

    /// Records a protocol violation by a client (or `None`: by nobody in particular).
    pub(super) fn complain(&mut self, device: Option<&DeviceAddr>, what: String) {
        tracing::debug!(device = ?device, %what, "server complaint");
        self.complaints.push(Complaint {
            device: device.cloned(),
            what,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use tether_core::crypto::KeyPair;

    use super::*;
    use crate::server::ServerConfig;
    use crate::server::accounts::AccountSpec;

    /// A device's keys, generated; `upload` builds its upload iq.
    struct Keys {
        identity: KeyPair,
        signed: KeyPair,
        signature: [u8; 64],
    }

    impl Keys {
        fn new(seed: u64) -> Self {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let identity = KeyPair::generate(&mut rng);
            let signed = KeyPair::generate(&mut rng);
            let mut message = vec![KEY_TYPE];
            message.extend_from_slice(&signed.public_bytes());
            let signature = identity.sign(&message, &[7; 64]);
            Self {
                identity,
                signed,
                signature,
            }
        }

        fn upload(&self, ids: std::ops::Range<u32>) -> Node {
            let keys = ids
                .map(|id| {
                    Node::new("key").children(vec![
                        Node::new("id").bytes(u24_bytes(id)),
                        Node::new("value").bytes(vec![id as u8; 32]),
                    ])
                })
                .collect();
            Node::new("iq")
                .attr("id", "up")
                .attr("xmlns", "encrypt")
                .attr("type", "set")
                .children(vec![
                    Node::new("registration").bytes(vec![0, 0, 0x11, 0x11]),
                    Node::new("type").bytes(vec![KEY_TYPE]),
                    Node::new("identity").bytes(self.identity.public_bytes().to_vec()),
                    Node::new("list").children(keys),
                    Node::new("skey").children(vec![
                        Node::new("id").bytes(u24_bytes(1)),
                        Node::new("value").bytes(self.signed.public_bytes().to_vec()),
                        Node::new("signature").bytes(self.signature.to_vec()),
                    ]),
                ])
        }
    }

    fn server() -> (FakeServer, DeviceAddr) {
        let mut server = FakeServer::new(
            ServerConfig {
                pre_key_count: 0,
                ..ServerConfig::default()
            },
            Instant::now(),
        );
        server
            .add_account(&AccountSpec {
                phone_number: "15550001".to_owned(),
                lid_user: "100001".to_owned(),
                push_name: "A".to_owned(),
            })
            .unwrap();
        let addr = DeviceAddr {
            user: "15550001".to_owned(),
            device: 0,
        };
        (server, addr)
    }

    fn fetch(jids: &[&str]) -> Node {
        let users = jids
            .iter()
            .map(|j| Node::new("user").jid_attr("jid", j.parse().unwrap()))
            .collect();
        Node::new("iq")
            .attr("id", "k")
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .children(vec![Node::new("key").children(users)])
    }

    fn bundle_key_id(answer: &Node, index: usize) -> Option<u32> {
        let user = &answer.child("list").unwrap().child_nodes()[index];
        user.child("key").map(|k| u24(k).unwrap())
    }

    #[test]
    fn bundles_pop_the_lowest_key_and_an_empty_pool_gives_no_key() {
        let (mut server, addr) = server();
        let keys = Keys::new(1);
        let answer = server.on_encrypt_iq(&addr, &keys.upload(5..8));
        assert_eq!(answer.attr_str("type"), Some("result"), "{answer}");
        let count = Node::new("iq")
            .attr("id", "c")
            .attr("type", "get")
            .children(vec![Node::new("count")]);
        let answer = server.on_encrypt_iq(&addr, &count);
        assert_eq!(answer.child("count").unwrap().attr_str("value"), Some("3"));
        let requester = addr.clone();
        for expected in [Some(5), Some(6), Some(7), None] {
            let answer = server.on_encrypt_iq(&requester, &fetch(&["100001@lid"]));
            assert_eq!(bundle_key_id(&answer, 0), expected, "{answer}");
            let user = &answer.child("list").unwrap().child_nodes()[0];
            assert_eq!(
                fixed::<32>(user, "identity").unwrap(),
                keys.identity.public_bytes()
            );
            assert!(user.child("skey").is_some());
        }
        let handed: Vec<u32> = server.handouts().iter().map(|h| h.pre_key_id).collect();
        assert_eq!(handed, vec![5, 6, 7]);
        assert!(server.complaints().is_empty(), "{:?}", server.complaints());
    }

    #[test]
    fn unknown_devices_and_devices_without_keys_get_406() {
        let (mut server, addr) = server();
        let answer = server.on_encrypt_iq(
            &addr,
            &fetch(&["100001@lid", "100001:9@lid", "42@s.whatsapp.net"]),
        );
        let users = answer.child("list").unwrap().child_nodes();
        assert_eq!(users.len(), 3);
        for user in users {
            assert_eq!(
                user.child("error").and_then(|e| e.attr_str("code")),
                Some("406"),
                "{user}"
            );
        }
    }

    #[test]
    fn a_bad_signature_is_refused_and_logged() {
        let (mut server, addr) = server();
        let mut keys = Keys::new(2);
        keys.signature[5] ^= 1;
        let answer = server.on_encrypt_iq(&addr, &keys.upload(1..3));
        assert_eq!(answer.attr_str("type"), Some("error"));
        assert_eq!(server.complaints().len(), 1);
        assert_eq!(
            server.pre_key_count(&"15550001@s.whatsapp.net".parse().unwrap()),
            Some(0)
        );
    }

    #[test]
    fn digest_hashes_identity_signed_key_and_pool() {
        let (mut server, addr) = server();
        let keys = Keys::new(3);
        server.on_encrypt_iq(&addr, &keys.upload(1..3));
        let iq = Node::new("iq")
            .attr("id", "d")
            .attr("type", "get")
            .children(vec![Node::new("digest")]);
        let answer = server.on_encrypt_iq(&addr, &iq);
        let digest = answer.child("digest").unwrap();
        let mut hasher = Sha1::new();
        hasher.update(keys.identity.public_bytes());
        hasher.update(keys.signed.public_bytes());
        hasher.update(keys.signature);
        hasher.update([1u8; 32]);
        hasher.update([2u8; 32]);
        let expected: [u8; 20] = hasher.finalize().into();
        assert_eq!(fixed::<20>(digest, "hash").unwrap(), expected);
        assert_eq!(digest.child("list").unwrap().child_nodes().len(), 2);
    }

    #[test]
    fn rotation_replaces_the_signed_pre_key_only_when_signed() {
        let (mut server, addr) = server();
        let keys = Keys::new(4);
        server.on_encrypt_iq(&addr, &keys.upload(1..2));
        let fresh = Keys::new(5);
        let mut message = vec![KEY_TYPE];
        message.extend_from_slice(&fresh.signed.public_bytes());
        let good = keys.identity.sign(&message, &[9; 64]);
        let rotate = |signature: [u8; 64]| {
            Node::new("iq")
                .attr("id", "r")
                .attr("type", "set")
                .children(vec![Node::new("rotate").children(vec![
                    Node::new("skey").children(vec![
                        Node::new("id").bytes(u24_bytes(2)),
                        Node::new("value").bytes(fresh.signed.public_bytes().to_vec()),
                        Node::new("signature").bytes(signature.to_vec()),
                    ]),
                ])])
        };
        let refused = server.on_encrypt_iq(&addr, &rotate(fresh.signature));
        assert_eq!(refused.attr_str("type"), Some("error"));
        let accepted = server.on_encrypt_iq(&addr, &rotate(good));
        assert_eq!(accepted.attr_str("type"), Some("result"));
        let answer = server.on_encrypt_iq(&addr, &fetch(&["15550001@s.whatsapp.net"]));
        let skey = answer.child("list").unwrap().child_nodes()[0]
            .child("skey")
            .unwrap();
        assert_eq!(u24(skey).unwrap(), 2);
    }

    #[test]
    fn a_low_pool_is_announced_once_until_acked() {
        let mut f = crate::server::fixture::Fixture::new();
        let b3 = "100002:3@lid";
        f.submit(b3, &Keys::new(6).upload(1..7));
        let mut notified = Vec::new();
        for _ in 0..4 {
            f.submit("100001:2@lid", &fetch(&[b3]));
            notified.push(
                f.server
                    .queued(&crate::server::fixture::jid(b3))
                    .iter()
                    .filter(|(c, _)| *c == crate::server::StanzaClass::Notification)
                    .count(),
            );
        }
        // 6 keys: after the pops 5, 4, 3, 2 are left; below 5 the count is announced once.
        assert_eq!(notified, vec![0, 1, 1, 1]);
        let got = f.connect(b3);
        let note = got.iter().find(|n| n.tag == "notification").unwrap();
        assert_eq!(note.child("count").unwrap().attr_str("value"), Some("4"));
    }

    #[test]
    fn a_reinstalled_phone_replaces_its_keys_and_its_contacts_hear_of_it() {
        let mut f = crate::server::fixture::Fixture::new();
        let a0 = "100001@lid";
        f.submit(a0, &Keys::new(7).upload(1..4));
        // A contact of A's.
        let targets = [("100001@lid", "msg")];
        f.submit(
            "100002:3@lid",
            &crate::server::fixture::message("I1", "100001@lid", &targets),
        );
        f.submit(a0, &Keys::new(8).upload(1..2));
        let a = crate::server::fixture::jid(a0);
        assert_eq!(f.server.pre_key_count(&a), Some(1), "the old pool is gone");
        let got = f.connect("100002:4@lid");
        let note = got.iter().find(|n| n.tag == "notification").unwrap();
        assert_eq!(note.attr_str("type"), Some("encrypt"));
        assert!(note.child("identity").is_some());
        assert!(f.server.complaints().is_empty(), "a phone may reinstall");
    }
}
