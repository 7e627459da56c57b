//! Two accounts, each with its phone (a `SimDevice` with the account's Signal identity) and a
//! Tether companion (a real `Connection` with a `MemStore`, linked offline), talking through
//! one `FakeServer` in a `Mesh`: companion → contact's phone and companion, phone →
//! companion, own-device copies, receipts, confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::binary::{Jid, Server};
use tether_core::connection::{Command, Event, State};
use tether_core::creds::CredentialStore;
use tether_core::creds::{CredentialChange, Credentials, CredentialsDelta, PersistSeq};
use tether_core::proto::message::Message;
use tether_sim::device::{DeviceConfig, DeviceEvent, SimDevice};
use tether_sim::mesh::{Mesh, Who};
use tether_sim::trace::Traced;
use tether_sim::{FakePhone, MemStore, NetConfig, ServerConfig};

struct Account {
    phone: FakePhone,
    device: usize,
    companion: usize,
}

fn account(mesh: &mut Mesh, seed: u64, name: &str) -> Account {
    let mut phone = FakePhone::new(seed);
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
    let mut creds = Credentials::generate(&mut ChaCha20Rng::seed_from_u64(seed * 100));
    let now = mesh.now();
    phone
        .link_credentials(&mut mesh.server, &mut creds, now)
        .unwrap();
    let mut store = MemStore::new();
    store
        .apply(
            PersistSeq(1),
            &CredentialsDelta::one(CredentialChange::Created(Box::new(creds))),
        )
        .unwrap();
    let companion = mesh.add_companion(
        |c| {
            c.pre_key_initial_batch = 10;
            c.pre_key_batch = 10;
        },
        store,
        seed * 1000,
        NetConfig {
            latency: Duration::from_millis(20),
            ..NetConfig::default()
        },
    );
    mesh.command(companion, Command::Connect).unwrap();
    Account {
        phone,
        device,
        companion,
    }
}

fn run(mesh: &mut Mesh, secs: u64) {
    let deadline = mesh.now() + Duration::from_secs(secs);
    mesh.run_until_instant(deadline);
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

#[test]
fn companions_and_phones_of_two_accounts_converse() {
    let mut mesh = Mesh::new(ServerConfig {
        pre_key_count: 0,
        ..ServerConfig::default()
    });
    let a = account(&mut mesh, 1, "Alice");
    let b = account(&mut mesh, 2, "Bob");
    run(&mut mesh, 10);
    for c in [a.companion, b.companion] {
        assert_eq!(*mesh.companions[c].conn.state(), State::Connected);
    }
    // Companion A writes to B (by phone number).
    let to_b = Jid::user(b.phone.phone_number(), Server::WhatsApp);
    let now = mesh.now();
    let id = mesh.companions[a.companion]
        .conn
        .send_message(to_b, Message::text("hi Bob, from Tether"), now)
        .unwrap();
    run(&mut mesh, 10);
    let sent = companion_events(&mesh, a.companion)
        .iter()
        .any(|e| matches!(e, Event::Sent { id: i, .. } if *i == id));
    assert!(sent, "{:#?}", companion_events(&mesh, a.companion));
    let b_phone: Vec<_> = device_events(&mesh, b.device)
        .into_iter()
        .filter_map(|e| match e {
            DeviceEvent::Received(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(b_phone.len(), 1, "{:#?}", device_events(&mesh, b.device));
    assert_eq!(b_phone[0].text.as_deref(), Some("hi Bob, from Tether"));
    let at_b: Vec<_> = companion_events(&mesh, b.companion)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(at_b.len(), 1);
    assert_eq!(at_b[0].text(), Some("hi Bob, from Tether"));
    // A's phone got the own-device copy.
    let a_copy = device_events(&mesh, a.device)
        .into_iter()
        .any(|e| matches!(e, DeviceEvent::Received(r) if r.from_me && r.id == id.as_str()));
    assert!(a_copy, "{:#?}", device_events(&mesh, a.device));
    // B's application confirms; B's phone answers; A's companion gets it.
    let pos = at_b[0].inbox;
    mesh.command(
        b.companion,
        Command::Confirm {
            positions: vec![pos],
        },
    )
    .unwrap();
    let to_a = Jid::user(a.phone.phone_number(), Server::WhatsApp);
    let now = mesh.now();
    let unix = mesh.server.unix_at(now);
    mesh.devices[b.device]
        .device
        .send_text(&to_a, "hi Alice, from a phone", unix);
    run(&mut mesh, 10);
    let at_a: Vec<_> = companion_events(&mesh, a.companion)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(at_a.len(), 1, "{:#?}", companion_events(&mesh, a.companion));
    assert_eq!(at_a[0].text(), Some("hi Alice, from a phone"));
    // B's companion got its phone's message as an own-device copy (from me, chat A).
    let copies: Vec<_> = companion_events(&mesh, b.companion)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) if m.from_me => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].chat.user_str(), a.phone.lid_user());
    assert_eq!(mesh.companions[b.companion].conn.unconfirmed_messages(), 1);
    let pos = copies[0].inbox;
    mesh.command(
        b.companion,
        Command::Confirm {
            positions: vec![pos],
        },
    )
    .unwrap();
    assert_eq!(mesh.companions[b.companion].conn.unconfirmed_messages(), 0);
    assert!(
        mesh.server.complaints().is_empty(),
        "{:?}",
        mesh.server.complaints()
    );
}
