//! The messaging layer against an in-memory store and a peer made of `tether-signal` alone:
//! inbox commit, receipts after durability, dedup of redeliveries, replay and confirmation
//! across restarts, retry receipts.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_signal::{
    IdentityKey, IdentityKeyPair, IdentityPolicy, PreKeyBundle, PreKeyId, PublicKey,
    RegistrationId, SessionRecord, SignedPreKeyId,
};

use super::engine::{Env, Messaging, MessagingConfig, PreKeyPolicyParts, Routed};
use super::store::{Commit, CommitId};
use super::types::{InboxPos, SendError};
use crate::binary::{Jid, Node, Server};
use crate::connection::{Command, Event};
use crate::creds::{CredentialChange, Credentials, DeviceIdentity};
use crate::crypto::KeyPair;
use crate::proto::message::Message;
use crate::records::{self, Table};

type Store = BTreeMap<(Table, Bytes), Bytes>;

/// A test's starting instant (tests may read the clock; the core never does).
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

/// One messaging layer with a durable store it answers itself.
struct Harness {
    m: Messaging,
    creds: Credentials,
    durable_creds: Credentials,
    rng: ChaCha20Rng,
    store: Store,
    now: Instant,
    sent: Vec<Node>,
    events: Vec<Event>,
    /// Commits emitted, not yet applied (to model a crash before durability).
    in_flight: Vec<(CommitId, Commit)>,
    connected: bool,
    unix: u64,
    /// Commits applied so far.
    commits: usize,
}

fn paired_credentials(seed: u64) -> Credentials {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut creds = Credentials::generate(&mut rng);
    creds.device = Some(DeviceIdentity {
        jid: Jid::device("15550001111", 2, Server::WhatsApp),
        lid: Some(Jid::device("900000001", 2, Server::Lid)),
        account: Bytes::from_static(b"account"),
        platform: None,
        business_name: None,
    });
    creds.confirmed = true;
    creds.next_pre_key_id = 6;
    creds.first_unuploaded_pre_key_id = 6;
    creds
}

/// One-time pre-key `id` of every test account (ids 1..=5 are stored and uploaded).
fn test_pre_key(id: u32) -> KeyPair {
    KeyPair::from_private_bytes([u8::try_from(id).unwrap_or(u8::MAX); 32])
}

impl Harness {
    /// A first start: `store` plus the account's one-time pre-keys 1..=5.
    fn new(creds: Credentials, mut store: Store) -> Self {
        for id in 1..=5 {
            if let records::RecordWrite::Put { table, key, value } =
                records::pre_key_record(id, &test_pre_key(id))
            {
                store.insert((table, key), value);
            }
        }
        Self::open(creds, store)
    }

    /// Opens the layer on what is durable (a start or a restart).
    fn open(creds: Credentials, store: Store) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(77);
        let config = MessagingConfig {
            signed_pre_key_rotation: None,
            ..MessagingConfig::default()
        };
        let m = Messaging::new(
            &config,
            PreKeyPolicyParts {
                initial_batch: 10,
                batch: 5,
                low_watermark: 2,
            },
            &mut rng,
        );
        let mut h = Self {
            m,
            durable_creds: creds.clone(),
            creds,
            rng,
            store,
            now: t0(),
            sent: Vec::new(),
            events: Vec::new(),
            in_flight: Vec::new(),
            connected: true,
            unix: 1_800_000_000,
            commits: 0,
        };
        h.with(|m, env| m.start(env));
        h.pump();
        h
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut Messaging, Env<'_>) -> T) -> T {
        let env = Env {
            creds: &mut self.creds,
            rng: &mut self.rng,
            now: self.now,
            unix: self.unix,
            connected: self.connected,
        };
        f(&mut self.m, env)
    }

    /// Collects outputs, answers loads, applies commits and runs their effects until quiet.
    fn pump(&mut self) {
        for _ in 0..100 {
            self.collect();
            let loads = self.m.take_loads();
            let commits = std::mem::take(&mut self.in_flight);
            if loads.is_empty() && commits.is_empty() {
                return;
            }
            for (id, reads) in loads {
                let data = records::read_map(&self.store, &reads);
                self.with(|m, env| m.on_loaded(env, id, data));
                self.collect();
            }
            for (_, commit) in commits {
                self.commits += 1;
                records::write_map(&mut self.store, &commit.records);
                let mut c = Some(self.durable_creds.clone());
                let delta = crate::creds::CredentialsDelta {
                    changes: commit.changes,
                    records: Vec::new(),
                };
                Credentials::apply(&mut c, &delta).unwrap();
                self.durable_creds = c.unwrap();
                for effect in commit.then {
                    match Routed::from(effect) {
                        Routed::Send(n) => self.sent.push(n),
                        Routed::Event(e) => self.events.push(e),
                        Routed::Commit(id) => self.m.on_commit_durable(id),
                        Routed::Durable(d) => self.with(|m, env| m.on_durable(env, d)),
                    }
                    self.collect();
                }
            }
        }
        panic!("the messaging layer did not settle");
    }

    /// Answers loads (and only loads) until none is left.
    fn pump_loads(&mut self) {
        loop {
            self.collect();
            let loads = self.m.take_loads();
            if loads.is_empty() {
                return;
            }
            for (id, reads) in loads {
                let data = records::read_map(&self.store, &reads);
                self.with(|m, env| m.on_loaded(env, id, data));
            }
        }
    }

    fn collect(&mut self) {
        self.sent.extend(self.m.take_nodes());
        self.events.extend(self.m.take_events());
        self.in_flight.extend(self.m.take_commits());
    }

    fn deliver(&mut self, node: Node) {
        let rest = self.with(|m, env| m.on_stanza(env, node));
        assert!(rest.is_none(), "messaging did not take the stanza");
        self.pump();
    }

    /// Restarts from what is durable only.
    fn restart(self) -> Self {
        Self::open(self.durable_creds, self.store)
    }

    fn messages(&self) -> Vec<(u64, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some((m.inbox.0, m.text().unwrap_or_default().to_owned())),
                _ => None,
            })
            .collect()
    }
}

/// A peer device (B) that talks to the harness (A) with `tether-signal` directly.
struct Peer {
    identity: IdentityKeyPair,
    record: SessionRecord,
    rng: ChaCha20Rng,
}

impl Peer {
    fn new(a: &Credentials, one_time: Option<u32>) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let identity = IdentityKeyPair::generate(&mut rng);
        let spk = &a.signed_pre_key;
        let bundle = PreKeyBundle {
            registration_id: RegistrationId::new(a.registration_id),
            device_id: 2,
            pre_key: one_time.map(|id| {
                (
                    PreKeyId::new(id),
                    PublicKey::from_montgomery(test_pre_key(id).public_bytes()),
                )
            }),
            signed_pre_key_id: SignedPreKeyId::new(spk.id),
            signed_pre_key: PublicKey::from_montgomery(spk.key_pair.public_bytes()),
            signed_pre_key_signature: spk.signature,
            identity_key: IdentityKey::new(PublicKey::from_montgomery(
                a.identity_key.public_bytes(),
            )),
        };
        let record = SessionRecord::from_bundle(
            &identity,
            RegistrationId::new(4242),
            &bundle,
            IdentityPolicy::AcceptAny,
            &mut rng,
        )
        .unwrap();
        Self {
            identity,
            record,
            rng,
        }
    }

    /// `<message>` from B's device 1 (LID) carrying `text`.
    fn message(&mut self, id: &str, text: &str) -> Node {
        let mut plain = Message::text(text).encode_to_vec();
        plain.extend([3, 3, 3]);
        let c = self.record.encrypt(&plain).unwrap();
        let _ = &self.identity;
        let _ = &mut self.rng;
        Node::new("message")
            .attr("id", id.to_owned())
            .jid_attr("from", Jid::device("700000007", 1, Server::Lid))
            .attr("t", "1800000000")
            .attr("type", "text")
            .jid_attr("sender_pn", Jid::device("15557770007", 1, Server::WhatsApp))
            .children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", c.kind.enc_type())
                    .bytes(c.bytes),
            ])
    }
}

fn receipts(sent: &[Node]) -> Vec<(String, Option<String>)> {
    sent.iter()
        .filter(|n| n.tag == "receipt")
        .map(|n| {
            (
                n.attr_str("id").unwrap_or_default().to_owned(),
                n.attr_str("type").map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn a_message_is_committed_before_its_receipt_and_redelivery_is_acknowledged_again() {
    let a = paired_credentials(1);
    let mut peer = Peer::new(&a, Some(3));
    let mut h = Harness::new(a, Store::new());
    let first = peer.message("M1", "hello");
    let rest = h.with(|m, env| m.on_stanza(env, first.clone()));
    assert!(rest.is_none());
    h.collect();
    // Nothing leaves before the commit is durable.
    assert!(receipts(&h.sent).is_empty(), "a receipt before the commit");
    assert!(h.messages().is_empty(), "an event before the commit");
    h.pump();
    assert_eq!(h.messages(), vec![(0, "hello".to_owned())]);
    assert_eq!(
        receipts(&h.sent),
        vec![("M1".to_owned(), Some("inactive".to_owned()))]
    );
    // The consumed one-time pre-key is gone durably; the session and inbox row are stored.
    assert!(
        !h.store
            .contains_key(&(Table::PreKeys, records::pre_key_key(3)))
    );
    assert!(h.store.keys().any(|(t, _)| *t == Table::Sessions));
    assert!(h.store.keys().any(|(t, _)| *t == Table::Inbox));
    // The server redelivers (the receipt was lost): acknowledged again, no second event.
    h.deliver(first);
    assert_eq!(h.messages().len(), 1, "a redelivery became a second event");
    assert_eq!(receipts(&h.sent).len(), 2);
    // The next message of the session (still a pkmsg until B hears from A).
    h.deliver(peer.message("M2", "again"));
    assert_eq!(h.messages()[1], (1, "again".to_owned()));
}

#[test]
fn unconfirmed_messages_are_replayed_after_a_restart_and_confirmed_ones_are_not() {
    let a = paired_credentials(2);
    let mut peer = Peer::new(&a, None);
    let mut h = Harness::new(a, Store::new());
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        h.deliver(peer.message(&format!("M{i}"), text));
    }
    assert_eq!(h.messages().len(), 3);
    h.with(|m, env| m.confirm(env, &[InboxPos(0), InboxPos(2)]));
    h.pump();
    let h = h.restart();
    assert_eq!(
        h.messages(),
        vec![(1, "two".to_owned())],
        "only the unconfirmed one again"
    );
    let mut h = h;
    h.with(|m, env| m.confirm(env, &[InboxPos(1)]));
    h.pump();
    let mut h = h.restart();
    assert!(h.messages().is_empty());
    // A consumer catching up from a position gets everything from there, confirmed or not.
    h.with(|m, env| m.replay_from(env, InboxPos(1)));
    h.pump();
    assert_eq!(
        h.messages(),
        vec![(1, "two".to_owned()), (2, "three".to_owned())]
    );
    assert!(h.events.iter().all(|e| match e {
        Event::Message(m) => m.replayed,
        Event::InboxReplayed { from, next } => from.0 == 1 && next.0 == 3,
        _ => true,
    }));
    assert!(matches!(h.events.last(), Some(Event::InboxReplayed { .. })));
    h.events.clear();
    // New messages continue the positions.
    h.deliver(peer.message("M3", "four"));
    assert_eq!(h.messages(), vec![(3, "four".to_owned())]);
}

#[test]
fn a_crash_before_the_commit_is_durable_loses_nothing_and_duplicates_nothing() {
    let a = paired_credentials(3);
    let mut peer = Peer::new(&a, Some(1));
    let mut h = Harness::new(a, Store::new());
    let first = peer.message("M1", "survives");
    h.with(|m, env| m.on_stanza(env, first.clone()));
    h.pump_loads();
    assert!(!h.in_flight.is_empty(), "the batch commit is in flight");
    // Crash: the commit never became durable, nothing left.
    assert!(receipts(&h.sent).is_empty());
    let mut h = h.restart();
    assert!(
        h.store
            .contains_key(&(Table::PreKeys, records::pre_key_key(1))),
        "the pre-key survived"
    );
    h.deliver(first);
    assert_eq!(h.messages(), vec![(0, "survives".to_owned())]);
}

#[test]
fn a_message_without_a_session_gets_retry_receipts_then_an_undecryptable_event() {
    let a = paired_credentials(4);
    let mut peer = Peer::new(&a, None);
    let mut h = Harness::new(a, Store::new());
    h.deliver(peer.message("M1", "first"));
    // The next one as a `msg` whose MAC does not verify: no session can decrypt it.
    let pkmsg = peer.message("M2", "lost");
    let embedded = match &pkmsg.content {
        crate::binary::Content::Nodes(c) => match &c[0].content {
            crate::binary::Content::Bytes(b) => tether_signal::PreKeySignalMessage::parse(b)
                .unwrap()
                .message()
                .as_bytes()
                .to_vec(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let mut broken = embedded;
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let bogus = Node::new("message")
        .attr("id", "M2")
        .jid_attr("from", Jid::device("700000007", 1, Server::Lid))
        .attr("t", "1800000000")
        .attr("type", "text")
        .children(vec![
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "msg")
                .bytes(broken),
        ]);
    for count in 1..=4 {
        h.deliver(bogus.clone());
        let retries: Vec<&Node> = h
            .sent
            .iter()
            .filter(|n| n.tag == "receipt" && n.attr_str("type") == Some("retry"))
            .collect();
        assert_eq!(retries.len(), count, "retry receipt {count}");
        let last = retries[count - 1];
        assert_eq!(
            last.child("retry").and_then(|r| r.attr_str("count")),
            Some(count.to_string().as_str())
        );
        assert_eq!(
            last.child("keys").is_some(),
            count >= 2,
            "keys from the second"
        );
    }
    h.deliver(bogus);
    let undecryptable: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Undecryptable(_)))
        .collect();
    assert_eq!(
        undecryptable.len(),
        1,
        "reported once, after the last retry"
    );
    let _ = Command::Confirm { positions: vec![] };
    let _ = CredentialChange::Confirmed;
}

/// A group message from B: the SKDM rides pairwise in the same stanza, before the skmsg.
fn group_message(
    peer: &mut Peer,
    sender_key: &mut tether_signal::SenderKeyRecord,
    group: &Jid,
    id: &str,
    text: &str,
    with_key: bool,
) -> Node {
    use crate::proto::message::SenderKeyDistributionMessage as Skdm;
    let mut children = Vec::new();
    if with_key {
        let skdm = Message {
            sender_key_distribution_message: Some(Skdm {
                group_id: Some(group.to_string()),
                axolotl_sender_key_distribution_message: Some(Bytes::copy_from_slice(
                    sender_key.distribution_message().unwrap().as_bytes(),
                )),
            }),
            ..Message::default()
        };
        let mut plain = skdm.encode_to_vec();
        plain.extend([1]);
        let c = peer.record.encrypt(&plain).unwrap();
        children.push(
            Node::new("enc")
                .attr("v", "2")
                .attr("type", c.kind.enc_type())
                .bytes(c.bytes),
        );
    }
    let mut plain = Message::text(text).encode_to_vec();
    plain.extend([2, 2]);
    let sk = sender_key.encrypt(&plain, &mut peer.rng).unwrap();
    children.push(
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(sk),
    );
    Node::new("message")
        .attr("id", id.to_owned())
        .jid_attr("from", group.clone())
        .jid_attr("participant", Jid::device("700000007", 1, Server::Lid))
        .attr("t", "1800000000")
        .attr("type", "text")
        .attr("addressing_mode", "lid")
        .children(children)
}

#[test]
fn group_messages_decrypt_with_the_sender_key_that_came_with_them() {
    let a = paired_credentials(5);
    let mut peer = Peer::new(&a, None);
    let mut h = Harness::new(a, Store::new());
    let group = Jid::user("120363000000000001", Server::Group);
    let mut sk = tether_signal::SenderKeyRecord::generate(&mut peer.rng);
    h.deliver(group_message(
        &mut peer,
        &mut sk,
        &group,
        "G1",
        "hello group",
        true,
    ));
    h.deliver(group_message(
        &mut peer, &mut sk, &group, "G2", "second", false,
    ));
    let got: Vec<(String, String)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => {
                Some((m.chat.to_string(), m.text().unwrap_or_default().to_owned()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (group.to_string(), "hello group".to_owned()),
            (group.to_string(), "second".to_owned())
        ]
    );
    // Group delivery receipts name the participant.
    let r: Vec<&Node> = h.sent.iter().filter(|n| n.tag == "receipt").collect();
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|n| n.get_attr("participant").is_some()));
}

#[test]
fn a_group_message_without_its_sender_key_asks_for_a_retry_with_keys() {
    let a = paired_credentials(6);
    let mut peer = Peer::new(&a, None);
    let mut h = Harness::new(a, Store::new());
    // B's session exists (a 1:1 message), but its group key never arrived.
    h.deliver(peer.message("M1", "1:1 first"));
    let group = Jid::user("120363000000000002", Server::Group);
    let mut sk = tether_signal::SenderKeyRecord::generate(&mut peer.rng);
    h.deliver(group_message(
        &mut peer,
        &mut sk,
        &group,
        "G1",
        "unreadable",
        false,
    ));
    let retry = h
        .sent
        .iter()
        .find(|n| n.tag == "receipt" && n.attr_str("type") == Some("retry"))
        .expect("a retry receipt");
    assert!(retry.child("keys").is_some(), "no sender key: keys at once");
    assert!(retry.get_attr("participant").is_some());
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::Message(m) if m.id.0 == "G1")),
        "no message event for an undecrypted group message"
    );
}

#[test]
fn old_dedup_keys_outgoing_messages_and_confirmed_entries_are_pruned() {
    let a = paired_credentials(7);
    let mut peer = Peer::new(&a, None);
    let mut h = Harness::new(a, Store::new());
    for i in 0..3 {
        h.deliver(peer.message(&format!("M{i}"), "x"));
    }
    h.with(|m, env| m.confirm(env, &[InboxPos(0), InboxPos(1)]));
    h.pump();
    let count = |h: &Harness, t: Table| h.store.keys().filter(|(tt, _)| *tt == t).count();
    assert_eq!(count(&h, Table::Inbox), 3);
    assert_eq!(
        count(&h, Table::Processed),
        6,
        "a key and an index row per message"
    );
    // 15 days later the retention pass runs.
    h.unix += 15 * 86_400;
    h.now += std::time::Duration::from_secs(3600);
    let due = h.m.poll_timeout().expect("retention is scheduled");
    assert!(due <= h.now);
    h.with(|m, env| m.handle_timeout(env));
    h.pump();
    assert_eq!(count(&h, Table::Processed), 0, "old dedup keys stay");
    assert_eq!(
        count(&h, Table::Inbox),
        1,
        "confirmed old entries go, the unconfirmed one stays"
    );
}

/// The ids of the one-time pre-keys in the `encrypt` upload iqs of `sent`, per upload.
fn uploaded_ids(sent: &[Node]) -> Vec<Vec<u32>> {
    sent.iter()
        .filter(|n| n.tag == "iq" && n.attr_str("xmlns") == Some("encrypt"))
        .filter_map(|n| n.child("list"))
        .map(|list| {
            list.child_nodes()
                .iter()
                .filter_map(|k| match &k.child("id")?.content {
                    crate::binary::Content::Bytes(b) => super::prekeys::read_u24(b.as_ref()),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Answers the last iq in `sent` that has a `<tag/>` child with a result carrying `content`
/// (a `<tag/>` too); messaging must take it.
fn answer_iq(h: &mut Harness, tag: &str, content: Node) {
    let iq = h
        .sent
        .iter()
        .rev()
        .find(|n| n.tag == "iq" && n.child(tag).is_some())
        .unwrap_or_else(|| panic!("a {tag} iq"))
        .clone();
    let answer = Node::new("iq")
        .attr("id", iq.attr_str("id").unwrap().to_owned())
        .attr("type", "result")
        .attr("from", "s.whatsapp.net")
        .children(vec![content]);
    let rest = h.with(|m, env| m.on_iq_answer(env, answer));
    assert!(rest.is_none(), "messaging did not take the {tag} answer");
    h.pump();
}

/// Answers the `<count/>` iq in `sent` with `value`.
fn answer_count(h: &mut Harness, value: u32) {
    answer_iq(
        h,
        "count",
        Node::new("count").attr("value", value.to_string()),
    );
}

#[test]
fn an_upload_cut_by_a_crash_is_never_offered_again_under_the_same_ids() {
    let mut h = Harness::new(paired_credentials(5), Store::new());
    h.with(|m, env| m.on_connected(env));
    h.pump();
    answer_count(&mut h, 0);
    let first = uploaded_ids(&h.sent);
    assert_eq!(first.len(), 1, "one upload: {first:?}");
    assert!(!first[0].is_empty());
    // The upload iq left; the process dies before its answer. The server may have the keys
    // (and hand them out): after the restart, the top-up must use ids never offered.
    let mut h = h.restart();
    h.with(|m, env| m.on_connected(env));
    h.pump();
    answer_count(&mut h, 0);
    let second = uploaded_ids(&h.sent);
    assert_eq!(second.len(), 1, "one upload after the restart: {second:?}");
    assert!(
        second[0].iter().all(|id| !first[0].contains(id)),
        "ids offered twice: first {:?}, then {:?}",
        first[0],
        second[0]
    );
    // The keys of the cut upload are still there (a session built on one still decrypts).
    assert!(first[0].iter().all(|id| {
        h.store
            .contains_key(&(Table::PreKeys, records::pre_key_key(*id)))
    }));
}

/// A `w:gp2` notification about `group` with one `<tag><participant jid/></tag>` change.
fn gp2(id: &str, group: &Jid, tag: &'static str, member: &Jid) -> Node {
    Node::new("notification")
        .attr("id", id.to_owned())
        .attr("type", "w:gp2")
        .jid_attr("from", group.clone())
        .jid_attr("participant", Jid::user("15557770007", Server::WhatsApp))
        .children(vec![Node::new(tag).children(vec![
            Node::new("participant").jid_attr("jid", member.clone()),
        ])])
}

fn notification_acks(sent: &[Node]) -> Vec<String> {
    sent.iter()
        .filter(|n| n.tag == "ack" && n.attr_str("class") == Some("notification"))
        .filter_map(|n| n.attr_str("id").map(str::to_owned))
        .collect()
}

fn group_changes(events: &[Event]) -> Vec<super::groups::GroupChange> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::GroupChanged { change, .. } => Some(change.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_group_notification_waits_for_its_rows_and_is_acked_once_its_change_is_durable() {
    let group = Jid::user("120363000000000001", Server::Group);
    let creds = paired_credentials(5);
    let own = super::address::Address::of(&Jid::device("900000001", 2, Server::Lid)).unwrap();
    let own_key = super::groups::sender_key_key(&group, &own);
    let mut store = Store::new();
    let row = super::groups::GroupRow {
        subject: Some("team".into()),
        addressing_mode: Some("pn".into()),
        participants: vec![super::groups::ParticipantRow {
            jid: Some("15557770007@s.whatsapp.net".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    store.insert(
        (Table::Groups, super::groups::group_key(&group)),
        Bytes::from(row.encode_to_vec()),
    );
    store.insert(
        (Table::SenderKeys, own_key.clone()),
        Bytes::from_static(b"our key"),
    );
    // A fresh start: nothing of the group is cached.
    let mut h = Harness::new(creds, store);
    let newcomer = Jid::user("15558880008", Server::WhatsApp);

    // Added: the event comes once the rows are loaded, the ack once the row is durable, and
    // our sender key stays (nobody left).
    let rest = h.with(|m, env| m.on_stanza(env, gp2("n1", &group, "add", &newcomer)));
    assert!(rest.is_none());
    h.collect();
    assert!(
        notification_acks(&h.sent).is_empty(),
        "no ack before the rows are loaded"
    );
    h.pump_loads();
    assert_eq!(
        group_changes(&h.events),
        vec![super::groups::GroupChange::Added(vec![newcomer.clone()])],
        "the change reaches the application although the group was not cached"
    );
    assert!(
        notification_acks(&h.sent).is_empty(),
        "no ack before the updated row is durable"
    );
    h.pump();
    assert_eq!(notification_acks(&h.sent), ["n1"]);
    assert!(
        h.store.contains_key(&(Table::SenderKeys, own_key.clone())),
        "an addition does not rotate our sender key"
    );
    let stored = h.store[&(Table::Groups, super::groups::group_key(&group))].clone();
    let stored = super::groups::GroupRow::decode(stored).unwrap();
    assert_eq!(
        stored.participants.len(),
        2,
        "the cached row follows the change"
    );

    // Removed, then a crash before the rotation is durable: no ack went out, so the server
    // delivers it again and the key is dropped then.
    h.sent.clear();
    h.events.clear();
    let rest = h.with(|m, env| m.on_stanza(env, gp2("n2", &group, "remove", &newcomer)));
    assert!(rest.is_none());
    h.pump_loads();
    assert!(notification_acks(&h.sent).is_empty());
    let mut h = h.restart();
    assert!(
        h.store.contains_key(&(Table::SenderKeys, own_key.clone())),
        "the crash came before the rotation was durable"
    );
    h.deliver(gp2("n2", &group, "remove", &newcomer));
    assert_eq!(notification_acks(&h.sent), ["n2"]);
    assert!(
        !h.store.contains_key(&(Table::SenderKeys, own_key)),
        "a removal drops our sender key before the server hears we saw it"
    );
    assert_eq!(
        group_changes(&h.events),
        vec![super::groups::GroupChange::Removed(vec![newcomer])]
    );
}

#[test]
fn a_group_receipt_names_the_member_device_as_its_sender() {
    let mut h = Harness::new(paired_credentials(6), Store::new());
    let group = Jid::user("120363000000000001", Server::Group);
    let member = Jid::device("15557770007", 3, Server::WhatsApp);
    h.deliver(
        Node::new("receipt")
            .attr("id", "r1")
            .jid_attr("from", group.clone())
            .jid_attr("participant", member.clone())
            .attr("type", "read")
            .attr("t", "1800000001"),
    );
    let receipt = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::Receipt(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a receipt event");
    assert_eq!(receipt.chat, group);
    assert_eq!(receipt.from, member);
    assert_eq!(receipt.participant, Some(member));
}

mod sends;

/// Answers the `<digest/>` iq in `sent` with a digest listing `ids`, hashed over `publics`
/// (the one-time keys the server believes it holds).
fn answer_digest(h: &mut Harness, ids: &[u32], publics: &[[u8; 32]]) {
    use sha1::Digest as _;
    let mut hash = sha1::Sha1::new();
    hash.update(h.creds.identity_key.public_bytes());
    hash.update(h.creds.signed_pre_key.key_pair.public_bytes());
    hash.update(h.creds.signed_pre_key.signature);
    for public in publics {
        hash.update(public);
    }
    let list = ids
        .iter()
        .map(|id| Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()))
        .collect();
    let digest = Node::new("digest").children(vec![
        Node::new("list").children(list),
        Node::new("hash").bytes(hash.finalize().to_vec()),
    ]);
    answer_iq(h, "digest", digest);
}

#[test]
fn the_digest_check_reads_the_listed_keys_from_the_store() {
    // The server holds keys 1, 2 and 4 (3 and 5 were handed out): the digest over the stored
    // keys matches, nothing is uploaded.
    let mut h = Harness::new(paired_credentials(7), Store::new());
    h.with(|m, env| m.on_connected(env));
    h.pump();
    let publics: Vec<[u8; 32]> = [1, 2, 4]
        .iter()
        .map(|id| test_pre_key(*id).public_bytes())
        .collect();
    answer_digest(&mut h, &[1, 2, 4], &publics);
    assert!(
        uploaded_ids(&h.sent).is_empty(),
        "a matching digest uploaded keys"
    );

    // Key 2 was consumed here since (its record is gone): the server's digest no longer
    // matches this device's keys, and a fresh batch goes up under new ids.
    h.store.remove(&(Table::PreKeys, records::pre_key_key(2)));
    let mut h = h.restart();
    h.with(|m, env| m.on_connected(env));
    h.pump();
    answer_digest(&mut h, &[1, 2, 4], &publics);
    let uploads = uploaded_ids(&h.sent);
    assert_eq!(uploads.len(), 1, "one fresh upload: {uploads:?}");
    assert!(uploads[0].iter().all(|id| *id >= 6), "{uploads:?}");

    // A digest whose hash differs from the keys we hold: a fresh batch as well.
    let mut h = h.restart();
    h.with(|m, env| m.on_connected(env));
    h.pump();
    answer_digest(&mut h, &[1, 4], &[[9; 32], [9; 32]]);
    assert_eq!(uploaded_ids(&h.sent).len(), 1);
}
