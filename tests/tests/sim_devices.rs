//! Simulated devices with real Signal keys talking through the `FakeServer`'s stanza
//! interface: two phones (A and B, device 0 of their accounts) and a headless companion of B
//! (linked by B's phone). Each test checks what the devices' applications got, and the
//! server's view (queues empty, no complaints).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tether_core::binary::Jid;
use tether_signal::IdentityKeyPair;
use tether_sim::device::{DeviceConfig, DeviceEvent, Received, SimDevice, pump};
use tether_sim::{FakePhone, FakeServer, ServerConfig};

struct Net {
    server: FakeServer,
    now: Instant,
    a0: SimDevice,
    b0: SimDevice,
    b_companion: SimDevice,
    a_phone: FakePhone,
    b_phone: FakePhone,
}

fn config(phone: &FakePhone, device: u16, seed: u64) -> DeviceConfig {
    DeviceConfig {
        seed,
        phone_number: phone.phone_number().to_owned(),
        lid_user: phone.lid_user().to_owned(),
        device,
        pre_key_batch: 8,
        prefer_lid: true,
    }
}

impl Net {
    fn new() -> Self {
        let now = Instant::now();
        let mut server = FakeServer::new(
            ServerConfig {
                pre_key_count: 0,
                ..ServerConfig::default()
            },
            now,
        );
        let mut a_phone = FakePhone::new(1);
        let mut b_phone = FakePhone::new(2);
        server.add_account(&a_phone.account_spec("Alice")).unwrap();
        server.add_account(&b_phone.account_spec("Bob")).unwrap();
        let mut a0 = SimDevice::new(config(&a_phone, 0, 10), a_phone.identity());
        let mut b0 = SimDevice::new(config(&b_phone, 0, 20), b_phone.identity());
        let identity = IdentityKeyPair::from_private_bytes([21; 32]);
        let link = b_phone.link_local(&mut server, &identity, now).unwrap();
        let device = link.jid.device_id();
        let mut b_companion = SimDevice::new(config(&b_phone, device, 21), identity);
        b_companion.set_adv_identity(link.adv_identity);
        for device in [&mut a0, &mut b0, &mut b_companion] {
            server.connect_local(&device.jid(), now).unwrap();
            device.register();
        }
        let _ = &mut a_phone;
        let mut net = Self {
            server,
            now,
            a0,
            b0,
            b_companion,
            a_phone,
            b_phone,
        };
        net.pump();
        net
    }

    fn pump(&mut self) {
        let rounds = pump(
            &mut self.server,
            &mut [&mut self.a0, &mut self.b0, &mut self.b_companion],
            self.now,
            100,
        );
        assert!(rounds < 100, "the devices never went quiet");
    }

    fn b_user(&self) -> Jid {
        Jid::user(
            self.b_phone.phone_number(),
            tether_core::binary::Server::WhatsApp,
        )
    }

    fn a_user(&self) -> Jid {
        Jid::user(
            self.a_phone.phone_number(),
            tether_core::binary::Server::WhatsApp,
        )
    }

    fn unix(&self) -> u64 {
        self.server.unix_at(self.now)
    }

    fn assert_clean(&self) {
        assert!(
            self.server.complaints().is_empty(),
            "{:?}",
            self.server.complaints()
        );
        for device in [&self.a0, &self.b0, &self.b_companion] {
            assert_eq!(
                self.server.queue_len(&device.jid()),
                Some(0),
                "{}",
                device.jid()
            );
        }
    }
}

fn events(device: &mut SimDevice) -> Vec<DeviceEvent> {
    std::iter::from_fn(|| device.poll_event()).collect()
}

fn received(events: &[DeviceEvent]) -> Vec<&Received> {
    events
        .iter()
        .filter_map(|e| match e {
            DeviceEvent::Received(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn a_phone_writes_to_a_contact_with_two_devices_and_gets_both_receipts() {
    let mut net = Net::new();
    let to = net.b_user();
    let unix = net.unix();
    let id = net.a0.send_text(&to, "hello Bob", unix);
    net.pump();
    let a = events(&mut net.a0);
    assert!(
        a.iter()
            .any(|e| matches!(e, DeviceEvent::Sent { id: i, .. } if *i == id))
    );
    let receipts = a
        .iter()
        .filter(|e| matches!(e, DeviceEvent::Receipt { id: i, kind: None, .. } if *i == id))
        .count();
    assert_eq!(receipts, 2, "{a:#?}");
    for device in [&mut net.b0, &mut net.b_companion] {
        let got = events(device);
        let got = received(&got);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].text.as_deref(), Some("hello Bob"));
        assert_eq!(got[0].id, id);
        assert!(!got[0].from_me);
    }
    net.assert_clean();
}

#[test]
fn a_companion_replies_and_its_phone_gets_the_own_device_copy() {
    let mut net = Net::new();
    let to = net.a_user();
    let unix = net.unix();
    let id = net.b_companion.send_text(&to, "hi Alice", unix);
    net.pump();
    let a = events(&mut net.a0);
    let got = received(&a);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text.as_deref(), Some("hi Alice"));
    let b0 = events(&mut net.b0);
    let copy = received(&b0);
    assert_eq!(copy.len(), 1, "{b0:#?}");
    assert!(copy[0].from_me);
    assert_eq!(copy[0].id, id);
    assert_eq!(
        copy[0].chat.user_str(),
        net.a_phone.lid_user(),
        "chat as addressed"
    );
    assert_eq!(copy[0].text.as_deref(), Some("hi Alice"));
    // A conversation: after A answers, B's next message is a msg, not a pkmsg.
    let unix = net.unix();
    net.a0.send_text(&net.b_user(), "welcome", unix);
    net.pump();
    net.b_companion.send_text(&net.a_user(), "again", unix);
    net.pump();
    let to_a0 = net
        .server
        .routed()
        .iter()
        .rev()
        .find(|r| r.recipient.user == net.a_phone.phone_number())
        .unwrap();
    assert_eq!(to_a0.kind, "msg");
    // B's phone never wrote to its companion: that session still sends pkmsg.
    let to_b0 = net.server.routed().last().unwrap();
    assert_eq!((to_b0.recipient.device, to_b0.kind.as_str()), (0, "pkmsg"));
    net.assert_clean();
}

#[test]
fn a_redelivered_message_is_received_once_and_receipted_again() {
    let mut net = Net::new();
    let b5 = net.b_companion.jid();
    net.server.disconnect_local(&b5);
    let unix = net.unix();
    let id = net.a0.send_text(&net.b_user(), "are you there", unix);
    net.pump();
    // B's companion comes online, handles its backlog, but the receipt is lost with its
    // connection; then it comes back and gets the same stanza again.
    net.server.connect_local(&b5, net.now).unwrap();
    for node in net.server.take_delivered(&b5) {
        net.b_companion.handle(&node, unix);
    }
    while net.b_companion.poll_stanza().is_some() {}
    net.server.disconnect_local(&b5);
    net.server.connect_local(&b5, net.now).unwrap();
    net.pump();
    let got = events(&mut net.b_companion);
    assert_eq!(received(&got).len(), 1, "{got:#?}");
    assert!(received(&got)[0].offline);
    let a = events(&mut net.a0);
    assert!(
        a.iter()
            .any(|e| matches!(e, DeviceEvent::Receipt { id: i, .. } if *i == id))
    );
    net.assert_clean();
}

#[test]
fn a_lost_session_is_recovered_by_retry_receipts_with_keys() {
    let mut net = Net::new();
    let unix = net.unix();
    net.a0.send_text(&net.b_user(), "first", unix);
    net.pump();
    events(&mut net.b_companion);
    // B's companion loses its sessions; A's next message is a msg it cannot decrypt.
    net.b_companion.forget_sessions();
    let id = net.a0.send_text(&net.b_user(), "second", unix);
    net.pump();
    let b = events(&mut net.b_companion);
    let counts: Vec<(u32, bool)> = b
        .iter()
        .filter_map(|e| match e {
            DeviceEvent::RetryRequested {
                count, with_keys, ..
            } => Some((*count, *with_keys)),
            _ => None,
        })
        .collect();
    assert_eq!(counts.first(), Some(&(1, false)), "{b:#?}");
    let got = received(&b);
    assert_eq!(got.len(), 1, "{b:#?}");
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].text.as_deref(), Some("second"));
    let a = events(&mut net.a0);
    assert!(a.iter().any(|e| matches!(e, DeviceEvent::Resent { .. })));
    net.assert_clean();
}

#[test]
fn an_empty_pre_key_pool_still_starts_sessions() {
    let mut net = Net::new();
    // Drain B's phone's one-time pre-keys: a headless fetcher of another account would do
    // this; here A's phone fetches bundles for B0 until none is left.
    let b0 = net.b0.jid();
    while net.server.pre_key_count(&b0).unwrap() > 0 {
        let iq = tether_core::binary::Node::new("iq")
            .attr("id", "drain")
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .children(vec![tether_core::binary::Node::new("key").children(vec![
                tether_core::binary::Node::new("user").jid_attr("jid", b0.clone()),
            ])]);
        let a = net.a0.jid();
        net.server.submit(&a, &iq, net.now).unwrap();
        net.server.take_delivered(&a);
    }
    let unix = net.unix();
    net.a0.send_text(&net.b_user(), "no one-time key", unix);
    net.pump();
    let got = events(&mut net.b0);
    assert_eq!(received(&got).len(), 1, "{got:#?}");
    // B's phone refilled after the count notification.
    assert!(net.server.pre_key_count(&b0).unwrap() > 0);
    net.assert_clean();
}

#[test]
fn a_pkmsg_built_before_a_signed_pre_key_rotation_still_decrypts() {
    let mut net = Net::new();
    let b0 = net.b0.jid();
    net.server.disconnect_local(&b0);
    let unix = net.unix();
    net.a0.send_text(&net.b_user(), "in flight", unix);
    net.pump();
    net.b0.rotate_signed_pre_key();
    net.server.connect_local(&b0, net.now).unwrap();
    net.pump();
    let got = events(&mut net.b0);
    assert_eq!(received(&got).len(), 1, "{got:#?}");
    net.assert_clean();
}

#[test]
fn after_a_contacts_reinstall_new_sessions_are_built() {
    let mut net = Net::new();
    let unix = net.unix();
    net.a0.send_text(&net.b_user(), "before", unix);
    net.pump();
    net.b0
        .reinstall(IdentityKeyPair::from_private_bytes([77; 32]));
    net.pump();
    let a = events(&mut net.a0);
    assert!(
        a.iter()
            .any(|e| matches!(e, DeviceEvent::IdentityChanged { .. })),
        "{a:#?}"
    );
    net.a0.send_text(&net.b_user(), "after", unix);
    net.pump();
    let got = events(&mut net.b0);
    let texts: Vec<_> = received(&got).iter().map(|r| r.text.clone()).collect();
    assert_eq!(texts, vec![Some("before".into()), Some("after".into())]);
    net.now += Duration::from_secs(1);
    net.assert_clean();
}
