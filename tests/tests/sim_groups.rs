//! Groups end to end (issue 15 item 5): a Tether companion of account A and the phones of A,
//! B and C (and later D) in one group on the `FakeServer`, in a `Mesh`. The group is made by
//! A's phone through the server's `w:g2` iqs; the companion learns it from the `w:gp2`
//! notifications and its own metadata query.
//!
//! - phone → group reaches the companion's application once, chat = group, sender = the
//!   participant, mentions included;
//! - companion → group reaches every other member device once; the members' delivery
//!   receipts name the member device, not the group;
//! - a member added: the application gets `GroupChanged{Added}`, the new member gets the
//!   companion's sender key (SKDM) and reads the next message, and the key is not rotated
//!   (the members who hold it get no SKDM again);
//! - a member removed: the companion's next sender key is new, and the removed member cannot
//!   decrypt what is sent after the removal — and with the planted defect (the core keeps its
//!   key on removal) it can, so the check is proven to catch it;
//! - a phone that lost the sender key asks with a retry receipt; the companion resends
//!   pairwise with the key inside; the phone reads it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::binary::{Jid, Server};
use tether_core::connection::{Command, Event, State};
use tether_core::creds::CredentialStore;
use tether_core::creds::{CredentialChange, Credentials, CredentialsDelta, PersistSeq};
use tether_core::messaging::groups::GroupChange;
use tether_core::messaging::types::{IncomingMessage, ReceiptKind};
use tether_core::proto::message::{ContextInfo, ExtendedTextMessage, Message};
use tether_sim::device::{DeviceConfig, DeviceEvent, Received, SimDevice};
use tether_sim::mesh::{Mesh, Who};
use tether_sim::trace::Traced;
use tether_sim::{FakePhone, MemStore, NetConfig, ServerConfig};

struct Account {
    phone: FakePhone,
    device: usize,
}

fn phone(mesh: &mut Mesh, seed: u64, name: &str) -> Account {
    let phone = FakePhone::new(seed);
    mesh.server.add_account(&phone.account_spec(name)).unwrap();
    let config = DeviceConfig {
        seed: seed * 10,
        phone_number: phone.phone_number().to_owned(),
        lid_user: phone.lid_user().to_owned(),
        device: 0,
        pre_key_batch: 10,
        prefer_lid: true,
    };
    let mut device = SimDevice::new(config, phone.identity());
    device.register();
    let device = mesh.add_device(device);
    Account { phone, device }
}

fn companion(mesh: &mut Mesh, account: &mut Account, seed: u64, planted: bool) -> usize {
    let mut creds = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(seed * 100));
    let now = mesh.now();
    account
        .phone
        .link_credentials(&mut mesh.server, &mut creds, now)
        .unwrap();
    let mut store = MemStore::new();
    store
        .apply(
            PersistSeq(1),
            &CredentialsDelta::one(CredentialChange::Created(Box::new(creds))),
        )
        .unwrap();
    let index = mesh.add_companion(
        |c| {
            c.pre_key_initial_batch = 10;
            c.pre_key_batch = 10;
            c.messaging.planted_keep_sender_key_on_removal = planted;
        },
        store,
        seed * 1000,
        NetConfig {
            latency: Duration::from_millis(20),
            ..NetConfig::default()
        },
    );
    mesh.command(index, Command::Connect).unwrap();
    index
}

fn run(mesh: &mut Mesh, secs: u64) {
    let deadline = mesh.now() + Duration::from_secs(secs);
    mesh.run_until_instant(deadline);
}

fn lid(account: &Account) -> Jid {
    Jid::user(account.phone.lid_user(), Server::Lid)
}

fn companion_messages(mesh: &Mesh, index: usize) -> Vec<IncomingMessage> {
    mesh.trace()
        .iter()
        .filter(|r| r.who == Who::Companion(index))
        .filter_map(|r| match &r.what {
            Traced::Event(Event::Message(m)) => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

fn companion_events(mesh: &Mesh, index: usize) -> Vec<Event> {
    mesh.trace()
        .iter()
        .filter(|r| r.who == Who::Companion(index))
        .filter_map(|r| match &r.what {
            Traced::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn device_events(mesh: &Mesh, index: usize) -> Vec<DeviceEvent> {
    mesh.trace()
        .iter()
        .filter(|r| r.who == Who::Device(index))
        .filter_map(|r| match &r.what {
            Traced::Device(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn received(mesh: &Mesh, device: usize, id: &str) -> Vec<Received> {
    device_events(mesh, device)
        .into_iter()
        .filter_map(|e| match e {
            DeviceEvent::Received(r) if r.id == id => Some(r),
            _ => None,
        })
        .collect()
}

/// A, B and C with their phones, A with a Tether companion; A's phone makes the group.
struct Scene {
    mesh: Mesh,
    a: Account,
    b: Account,
    c: Account,
    d: Account,
    tether: usize,
    group: Jid,
}

fn scene(planted: bool) -> Scene {
    let mut mesh = Mesh::new(ServerConfig {
        pre_key_count: 0,
        ..ServerConfig::default()
    });
    let mut a = phone(&mut mesh, 1, "Alice");
    let b = phone(&mut mesh, 2, "Bob");
    let c = phone(&mut mesh, 3, "Carol");
    let d = phone(&mut mesh, 4, "Dave");
    let tether = companion(&mut mesh, &mut a, 1, planted);
    run(&mut mesh, 10);
    assert_eq!(*mesh.companions[tether].conn.state(), State::Connected);
    let members = [lid(&b), lid(&c)];
    mesh.devices[a.device].device.create_group("Team", &members);
    run(&mut mesh, 5);
    let group = device_events(&mesh, a.device)
        .into_iter()
        .find_map(|e| match e {
            DeviceEvent::GroupCreated { group } => Some(group),
            _ => None,
        })
        .expect("the group was created");
    assert_eq!(mesh.server.group_members(&group).unwrap().len(), 3);
    Scene {
        mesh,
        a,
        b,
        c,
        d,
        tether,
        group,
    }
}

fn companion_sends(s: &mut Scene, text: &str) -> String {
    let id = s
        .mesh
        .send_message(s.tether, s.group.clone(), Message::text(text))
        .unwrap();
    run(&mut s.mesh, 10);
    let sent = companion_events(&s.mesh, s.tether)
        .iter()
        .any(|e| matches!(e, Event::Sent { id: i, .. } if *i == id));
    assert!(sent, "{:#?}", companion_events(&s.mesh, s.tether));
    id.as_str().to_owned()
}

/// Whether `device` could decrypt any `skmsg` of message `id` the server routed (to anyone).
fn could_decrypt(s: &Scene, device: usize, id: &str, sender: &Jid) -> bool {
    let skmsgs: Vec<_> = s
        .mesh
        .server
        .routed()
        .iter()
        .filter(|r| r.id == id && r.kind == "skmsg")
        .map(|r| r.ciphertext.clone())
        .collect();
    assert!(!skmsgs.is_empty(), "message {id} was routed");
    skmsgs.iter().any(|ct| {
        s.mesh.devices[device]
            .device
            .can_decrypt_group(&s.group, sender, ct)
    })
}

#[test]
fn a_phone_message_to_the_group_reaches_the_companion_once_with_its_mentions() {
    let mut s = scene(false);
    let mention = Message {
        extended_text_message: Some(Box::new(ExtendedTextMessage {
            text: Some("@Alice have a look".into()),
            context_info: Some(Box::new(ContextInfo {
                mentioned_jid: vec![lid(&s.a).to_string()],
                ..ContextInfo::default()
            })),
        })),
        ..Message::default()
    };
    let unix = s.mesh.server.unix_at(s.mesh.now());
    let group = s.group.clone();
    let id = s.mesh.devices[s.b.device]
        .device
        .send_group_message(&group, &mention, unix);
    run(&mut s.mesh, 10);
    let got: Vec<_> = companion_messages(&s.mesh, s.tether)
        .into_iter()
        .filter(|m| m.id.as_str() == id)
        .collect();
    assert_eq!(got.len(), 1, "{:#?}", companion_events(&s.mesh, s.tether));
    let m = &got[0];
    assert_eq!(m.chat, s.group);
    assert_eq!(m.sender.user_str(), s.b.phone.lid_user());
    assert_eq!(m.sender.device_id(), 0);
    assert_eq!(m.text(), Some("@Alice have a look"));
    assert_eq!(m.mentions(), vec![lid(&s.a)]);
    // Every other member device read it too, once.
    for device in [s.a.device, s.c.device] {
        let r = received(&s.mesh, device, &id);
        assert_eq!(r.len(), 1, "{:#?}", device_events(&s.mesh, device));
        assert_eq!(r[0].chat, s.group);
    }
    assert!(received(&s.mesh, s.d.device, &id).is_empty());
    assert!(
        s.mesh.server.complaints().is_empty(),
        "{:?}",
        s.mesh.server.complaints()
    );
}

#[test]
fn the_companion_reaches_every_member_device_and_a_member_added_later() {
    let mut s = scene(false);
    let id = companion_sends(&mut s, "hello team");
    for device in [s.a.device, s.b.device, s.c.device] {
        let r = received(&s.mesh, device, &id);
        assert_eq!(r.len(), 1, "{:#?}", device_events(&s.mesh, device));
        assert_eq!(r[0].text.as_deref(), Some("hello team"));
        assert_eq!(r[0].chat, s.group);
    }
    assert!(received(&s.mesh, s.d.device, &id).is_empty());
    // The members' delivery receipts name the member device that got it, not the group.
    let delivered: Vec<Jid> = companion_events(&s.mesh, s.tether)
        .into_iter()
        .filter_map(|e| match e {
            Event::Receipt(r)
                if r.kind == ReceiptKind::Delivered && r.ids.iter().any(|i| i.as_str() == id) =>
            {
                assert_eq!(r.chat, s.group);
                assert_eq!(r.participant.as_ref(), Some(&r.from));
                Some(r.from)
            }
            _ => None,
        })
        .collect();
    for account in [&s.b, &s.c] {
        assert!(
            delivered
                .iter()
                .any(|d| d.user_str() == account.phone.lid_user()
                    || d.user_str() == account.phone.phone_number()),
            "{delivered:?}"
        );
    }
    assert!(delivered.iter().all(|d| *d.server() != Server::Group));
    // D joins (A's phone adds it); the companion's next message hands D its sender key.
    let group = s.group.clone();
    let dave = lid(&s.d);
    s.mesh.devices[s.a.device]
        .device
        .change_group(&group, "add", &[dave]);
    run(&mut s.mesh, 5);
    assert_eq!(s.mesh.server.group_members(&group).unwrap().len(), 4);
    let is_d =
        |j: &Jid| j.user_str() == s.d.phone.lid_user() || j.user_str() == s.d.phone.phone_number();
    let told: Vec<Vec<Jid>> = companion_events(&s.mesh, s.tether)
        .into_iter()
        .filter_map(|e| match e {
            Event::GroupChanged {
                group: g,
                change: GroupChange::Added(jids),
                ..
            } if g == group => Some(jids),
            _ => None,
        })
        .collect();
    assert!(
        told.iter().any(|jids| jids.iter().any(is_d)),
        "the application was told D joined: {told:?}"
    );
    let id = companion_sends(&mut s, "welcome Dave");
    let r = received(&s.mesh, s.d.device, &id);
    assert_eq!(r.len(), 1, "{:#?}", device_events(&s.mesh, s.d.device));
    let skdm_to_d =
        s.mesh.server.routed().iter().any(|r| {
            r.id == id && r.kind != "skmsg" && r.recipient.user == s.d.phone.phone_number()
        });
    assert!(skdm_to_d, "D got the sender key pairwise");
    // An add does not rotate the key: B, who holds it, gets no pairwise part again.
    let again_to_b =
        s.mesh.server.routed().iter().any(|r| {
            r.id == id && r.kind != "skmsg" && r.recipient.user == s.b.phone.phone_number()
        });
    assert!(
        !again_to_b,
        "the key was handed to B again: rotated on an add"
    );
    assert_eq!(received(&s.mesh, s.b.device, &id).len(), 1);
    assert!(
        s.mesh.server.complaints().is_empty(),
        "{:?}",
        s.mesh.server.complaints()
    );
}

/// Sends before and after removing C; returns whether C could decrypt what the companion
/// sent after the removal (with the sender keys C holds).
fn removed_member_decrypts(planted: bool) -> bool {
    let mut s = scene(planted);
    let before = companion_sends(&mut s, "before");
    let r = received(&s.mesh, s.c.device, &before);
    assert_eq!(r.len(), 1, "{:#?}", device_events(&s.mesh, s.c.device));
    let sender = r[0].sender.clone();
    let group = s.group.clone();
    let carol = lid(&s.c);
    s.mesh.devices[s.a.device]
        .device
        .change_group(&group, "remove", &[carol]);
    run(&mut s.mesh, 5);
    assert_eq!(s.mesh.server.group_members(&group).unwrap().len(), 2);
    let after = companion_sends(&mut s, "after");
    // The members still there read it; C got nothing from the server.
    assert_eq!(received(&s.mesh, s.b.device, &after).len(), 1);
    assert!(received(&s.mesh, s.c.device, &after).is_empty());
    could_decrypt(&s, s.c.device, &after, &sender)
}

#[test]
fn a_removed_member_cannot_decrypt_what_the_companion_sends_afterwards() {
    assert!(
        !removed_member_decrypts(false),
        "the companion kept its sender key after a removal"
    );
}

#[test]
fn the_planted_defect_keeping_the_sender_key_on_removal_is_caught() {
    assert!(
        removed_member_decrypts(true),
        "with the key kept, the removed member's check must fail (it can decrypt)"
    );
}

#[test]
fn a_lost_sender_key_is_recovered_through_a_retry_receipt() {
    let mut s = scene(false);
    companion_sends(&mut s, "first");
    s.mesh.devices[s.b.device].device.forget_group_keys();
    let id = companion_sends(&mut s, "second");
    let events = device_events(&s.mesh, s.b.device);
    let asked = events
        .iter()
        .any(|e| matches!(e, DeviceEvent::RetryRequested { id: i, count: 1, .. } if *i == id));
    assert!(asked, "{events:#?}");
    let r = received(&s.mesh, s.b.device, &id);
    assert_eq!(r.len(), 1, "{events:#?}");
    assert_eq!(r[0].text.as_deref(), Some("second"));
    // The resend went to B alone, pairwise, with the group as `to`.
    let resend = s
        .mesh
        .server
        .accepted()
        .iter()
        .any(|a| a.id == id && a.retry_count == Some(1) && a.to == s.group);
    assert!(resend, "{:#?}", s.mesh.server.accepted());
    // And B reads the next one with the key it got.
    let third = companion_sends(&mut s, "third");
    assert_eq!(received(&s.mesh, s.b.device, &third).len(), 1);
    assert!(
        s.mesh.server.complaints().is_empty(),
        "{:?}",
        s.mesh.server.complaints()
    );
}
