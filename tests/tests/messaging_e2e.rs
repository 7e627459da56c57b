//! End to end through the simulator: a real `Connection` (account A's linked companion, with
//! its `MemStore`) and account B's phone (a `SimDevice` with real Signal keys) exchange
//! encrypted text through the `FakeServer`, in both directions, across a crash-restart of the
//! companion, with application confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use tether_core::records::Table;

use tether_core::binary::Jid;
use tether_core::connection::{Command, Event, State};
use tether_core::messaging::types::InboxPos;
use tether_core::proto::message::Message;
use tether_sim::device::{DeviceConfig, DeviceEvent, SimDevice};
use tether_sim::{FakePhone, Options, Stepper};

struct Pair {
    sim: Stepper,
    bob: SimDevice,
    /// The companion's own LID user JID.
    alice: Jid,
}

fn pair() -> Pair {
    let mut options = Options::default();
    // The server counts the keys it really holds: the fresh companion uploads its own.
    options.server.pre_key_count = 0;
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(2));
    let bob_phone = FakePhone::new(2);
    sim.server
        .add_account(&bob_phone.account_spec("Bob"))
        .unwrap();
    let mut bob = SimDevice::new(
        DeviceConfig {
            seed: 20,
            phone_number: bob_phone.phone_number().to_owned(),
            lid_user: bob_phone.lid_user().to_owned(),
            device: 0,
            pre_key_batch: 8,
            prefer_lid: true,
        },
        bob_phone.identity(),
    );
    let now = sim.now();
    sim.server.connect_local(&bob.jid(), now).unwrap();
    bob.register();
    let device = sim.store.current().unwrap().device.clone().unwrap();
    let alice = device.lid.unwrap().to_non_ad();
    let mut p = Pair { sim, bob, alice };
    p.run(Duration::from_secs(1));
    p
}

impl Pair {
    /// Runs the simulation, moving Bob's stanzas in between steps.
    fn run(&mut self, total: Duration) {
        let step = Duration::from_millis(50);
        let mut left = total;
        while left > Duration::ZERO {
            let now = self.sim.now();
            self.bob.exchange(&mut self.sim.server, now);
            self.sim.run_for(step);
            left = left.saturating_sub(step);
        }
        let now = self.sim.now();
        self.bob.exchange(&mut self.sim.server, now);
    }

    fn alice_got(&self) -> Vec<(u64, String)> {
        self.sim
            .events()
            .filter_map(|(_, e)| match e {
                Event::Message(m) => Some((m.inbox.0, m.text().unwrap_or_default().to_owned())),
                _ => None,
            })
            .collect()
    }

    fn bob_events(&mut self) -> Vec<DeviceEvent> {
        std::iter::from_fn(|| self.bob.poll_event()).collect()
    }
}

#[test]
fn a_phone_and_a_tether_companion_talk_both_ways() {
    let mut p = pair();
    let now_unix = p.sim.server.unix_at(p.sim.now());
    p.bob
        .send_text(&p.alice.clone(), "hello from bob", now_unix);
    p.run(Duration::from_secs(3));
    if p.alice_got().is_empty() {
        eprintln!("bob: {:#?}", p.bob_events());
        eprintln!("complaints: {:#?}", p.sim.server.complaints());
        for line in p
            .sim
            .trace()
            .iter()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            eprintln!("{line}");
        }
    }
    assert_eq!(p.alice_got(), vec![(0, "hello from bob".to_owned())]);
    let bob_user = p.bob.jid().to_non_ad();
    let now = p.sim.now();
    let id = p
        .sim
        .conn
        .send_message(bob_user, Message::text("hi bob"), now)
        .unwrap();
    p.run(Duration::from_secs(3));
    let sent = p
        .sim
        .events()
        .any(|(_, e)| matches!(e, Event::Sent { id: sent, .. } if *sent == id));
    assert!(sent, "no Sent event for {id}");
    let got: Vec<String> = p
        .bob_events()
        .into_iter()
        .filter_map(|e| match e {
            DeviceEvent::Received(r) => Some(r.text.unwrap_or_default()),
            _ => None,
        })
        .collect();
    assert!(got.contains(&"hi bob".to_owned()), "bob got {got:?}");
    // The ack came when the row was no longer cached: the durable row still keeps the text
    // a retry receipt would need (a state update once rewrote it empty).
    let row = p
        .sim
        .store
        .records()
        .get(&(Table::Outbox, Bytes::from(format!("m/{id}"))))
        .expect("the sent message's row is kept");
    assert!(
        row.windows(6).any(|w| w == b"hi bob"),
        "the acked row lost the message text ({} bytes)",
        row.len()
    );
    // The application took `Sent` and the core moved on: the marker that would tell it again
    // after a restart is gone, so a restart does not repeat it.
    assert!(
        !p.sim
            .store
            .records()
            .contains_key(&(Table::Outbox, Bytes::from(format!("p/{id}")))),
        "the outcome's restart marker outlived the Sent the application took"
    );
    p.sim.crash_restart();
    p.sim.command(Command::Connect).unwrap();
    p.run(Duration::from_secs(3));
    let told = p
        .sim
        .events()
        .filter(|(_, e)| matches!(e, Event::Sent { id: sent, .. } if *sent == id))
        .count();
    assert_eq!(
        told, 1,
        "Sent told again after a restart that did not need it"
    );
    assert!(
        p.sim.server.complaints().is_empty(),
        "{:?}",
        p.sim.server.complaints()
    );
}

#[test]
fn unconfirmed_messages_come_back_after_a_crash_and_confirmed_ones_do_not() {
    let mut p = pair();
    for text in ["one", "two"] {
        let unix = p.sim.server.unix_at(p.sim.now());
        p.bob.send_text(&p.alice.clone(), text, unix);
        p.run(Duration::from_secs(2));
    }
    assert_eq!(p.alice_got().len(), 2);
    p.sim
        .command(Command::Confirm {
            positions: vec![InboxPos(0)],
        })
        .unwrap();
    p.run(Duration::from_secs(1));
    p.sim.crash_restart();
    p.sim.command(Command::Connect).unwrap();
    p.run(Duration::from_secs(5));
    assert_eq!(*p.sim.conn.state(), State::Connected);
    let after: Vec<(u64, String)> = p.alice_got();
    // The restart re-emits only the unconfirmed one (positions are stable).
    assert!(after.contains(&(1, "two".to_owned())), "{after:?}");
    let ones = after.iter().filter(|(_, t)| t == "one").count();
    assert_eq!(ones, 1, "the confirmed message came back: {after:?}");
}

/// An image message built from an upload record (the bytes are never fetched here: this is
/// about the message and its stanza, `media.md` §3).
fn image(caption: &str) -> Message {
    use tether_core::media::{Digests, MediaKey, MediaKind, MediaOptions, Upload, media_message};
    let upload = Upload {
        kind: MediaKind::Image,
        media_key: MediaKey::from_bytes([5; 32]),
        digests: Digests {
            file_sha256: [1; 32],
            file_enc_sha256: [2; 32],
            file_length: 1234,
        },
        url: None,
        direct_path: "/v/t62.7118-24/x.enc?oh=1".into(),
        uploaded_at: 1_800_000_000,
    };
    let mut options = MediaOptions::default();
    options.caption = Some(caption.into());
    media_message(&upload, &options, 1_800_000_000)
}

#[test]
fn media_messages_go_out_as_media_and_arrive_with_their_fields() {
    use tether_core::binary::Content;
    use tether_core::media::{MediaKind, MediaRef};
    let mut p = pair();
    // Tether sends an image: <message type="media">, mediatype="image" on every <enc>.
    let bob_user = p.bob.jid().to_non_ad();
    let now = p.sim.now();
    let id = p
        .sim
        .conn
        .send_message(bob_user, image("from alice"), now)
        .unwrap();
    p.run(Duration::from_secs(3));
    let stanza = p
        .sim
        .server
        .received()
        .iter()
        .map(|(_, n)| n)
        .find(|n| n.tag == "message" && n.attr_str("id") == Some(id.0.as_str()))
        .expect("the server got the message")
        .clone();
    assert_eq!(stanza.attr_str("type"), Some("media"));
    let participants = stanza.child("participants").expect("a pairwise fan-out");
    let encs: Vec<_> = participants
        .child_nodes()
        .iter()
        .filter_map(|to| to.child("enc"))
        .collect();
    assert!(!encs.is_empty());
    for enc in encs {
        assert_eq!(enc.attr_str("mediatype"), Some("image"), "{enc:?}");
        assert!(matches!(&enc.content, Content::Bytes(b) if !b.is_empty()));
    }
    assert!(
        p.bob_events()
            .iter()
            .any(|e| matches!(e, DeviceEvent::Received(r) if r.id == id.0)),
        "bob did not get the image"
    );
    // Bob's phone sends one back: it reaches the application with every media field.
    let alice = p.alice.clone();
    let now_unix = p.sim.server.unix_at(p.sim.now());
    p.bob.send_message(&alice, &image("from bob"), now_unix);
    p.run(Duration::from_secs(3));
    let got: Vec<MediaRef> = p
        .sim
        .events()
        .filter_map(|(_, e)| match e {
            Event::Message(m) => MediaRef::of(&m.message),
            _ => None,
        })
        .collect();
    let [media] = got.as_slice() else {
        panic!("alice got {} media messages, not one", got.len());
    };
    assert_eq!(media.kind, Some(MediaKind::Image));
    assert_eq!(media.caption.as_deref(), Some("from bob"));
    assert_eq!(media.file_length, Some(1234));
    assert_eq!(
        media.direct_path.as_deref(),
        Some("/v/t62.7118-24/x.enc?oh=1")
    );
    assert!(media.expected().is_ok() && media.keys().is_ok());
    assert!(
        p.sim.server.complaints().is_empty(),
        "{:?}",
        p.sim.server.complaints()
    );
}
