//! The `FakeServer`'s message routing over the wire: a real `Connection` (the companion,
//! linked by the Stepper's phone) receives what a local device of another account sends it,
//! live and from the offline backlog after a passive login, and its acks empty its queue.
//! (The `<enc>` bytes are not a real Signal message: the companion's inbox answers each with a
//! retry receipt and acknowledges it, which is what empties its queue.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::binary::{Jid, Node};
use tether_core::connection::{Event, State};
use tether_sim::{AccountSpec, Options, Stepper};

const B0: &str = "200000000000002@lid";

fn jid(text: &str) -> Jid {
    text.parse().unwrap()
}

/// A linked companion (account A, from the Stepper's phone) and account B's phone online
/// locally. Returns the companion's PN and LID device JIDs.
fn linked() -> (Stepper, Jid, Jid) {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    // Past the passive login's <active/>: stanzas flow live from here on.
    sim.run_for(Duration::from_secs(2));
    let device = sim.store.current().unwrap().device.clone().unwrap();
    sim.server
        .add_account(&AccountSpec {
            phone_number: "15550000002".to_owned(),
            lid_user: "200000000000002".to_owned(),
            push_name: "Bob".to_owned(),
        })
        .unwrap();
    let now = sim.now();
    sim.server.connect_local(&jid(B0), now).unwrap();
    sim.server.take_delivered(&jid(B0));
    (sim, device.jid, device.lid.unwrap())
}

/// B's phone sends message `id` to the companion only (the server routes it; nothing checks
/// the ciphertext).
fn send_from_b(sim: &mut Stepper, id: &str, companion_lid: &Jid) {
    let to = companion_lid.to_non_ad();
    let stanza = Node::new("message")
        .attr("id", id.to_owned())
        .jid_attr("to", to)
        .attr("type", "text")
        .children(vec![Node::new("participants").children(vec![
            Node::new("to")
                .jid_attr("jid", companion_lid.clone())
                .children(vec![
                    Node::new("enc")
                        .attr("v", "2")
                        .attr("type", "msg")
                        .bytes(vec![7; 48]),
                ]),
        ])]);
    let now = sim.now();
    sim.server.submit(&jid(B0), &stanza, now).unwrap();
    let out = sim.server.take_delivered(&jid(B0));
    let ack = out.iter().find(|n| n.tag == "ack").unwrap();
    assert!(ack.attr_str("error").is_none(), "{ack}");
}

/// The ids B's phone got retry receipts for (the companion saw each message once and could
/// not decrypt it).
fn retried(sim: &mut Stepper) -> Vec<String> {
    sim.server
        .take_delivered(&jid(B0))
        .iter()
        .filter(|n| n.tag == "receipt" && n.attr_str("type") == Some("retry"))
        .map(|n| n.attr_str("id").unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_message_reaches_the_companion_live_and_its_ack_empties_the_queue() {
    let (mut sim, pn, lid) = linked();
    send_from_b(&mut sim, "LIVE1", &lid);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(retried(&mut sim), vec!["LIVE1".to_owned()]);
    assert_eq!(sim.server.queue_len(&pn), Some(0));
    assert!(sim.server.complaints().is_empty());
}

#[test]
fn messages_sent_while_the_companion_is_away_arrive_as_its_backlog_after_active() {
    let (mut sim, pn, lid) = linked();
    sim.crash_restart();
    for id in ["OFF1", "OFF2"] {
        send_from_b(&mut sim, id, &lid);
    }
    assert_eq!(sim.server.queue_len(&pn), Some(2));
    sim.command(tether_core::connection::Command::Connect)
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| *s.conn.state()
        == State::Connected));
    sim.run_for(Duration::from_secs(2));
    assert_eq!(
        retried(&mut sim),
        vec!["OFF1".to_owned(), "OFF2".to_owned()]
    );
    // The backlog came after the passive login turned active, framed by the <ib>s.
    let server_lines: Vec<String> = sim
        .trace()
        .iter()
        .map(ToString::to_string)
        .filter(|l| l.contains("passive") || l.contains("Stanza"))
        .collect();
    let active = server_lines.iter().position(|l| l.contains("passive"));
    let first = server_lines.iter().position(|l| l.contains("OFF1"));
    assert!(active < first, "{server_lines:#?}");
    assert!(
        sim.events().any(|(_, e)| matches!(e, Event::Stanza(n)
            if n.tag == "ib" && n.child("offline").and_then(|o| o.attr_str("count")) == Some("2"))),
        "no <ib><offline count=2/>"
    );
    assert_eq!(sim.server.queue_len(&pn), Some(0));
}
