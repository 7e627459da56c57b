//! Sending on established sessions: transactions before the stanza, shutdown, retry answers.

use super::*;
use crate::messaging::ids::MessageId;

/// A harness whose store knows the device lists of B (`700000007@lid`, device 1) and of this
/// account (this device only), with a session with B made by B's first message.
fn with_session_to_b(seed: u64) -> Harness {
    let mut store = Store::new();
    for (user, device) in [("700000007@lid", 1), ("900000001@lid", 2)] {
        let row = crate::messaging::rows::DeviceListRow {
            devices: vec![crate::messaging::rows::DeviceRow {
                id: Some(device),
                ..Default::default()
            }],
            hash: None,
            fetched_at: Some(1_800_000_000),
        };
        store.insert(
            (Table::Devices, Bytes::from(user)),
            Bytes::from(row.encode_to_vec()),
        );
    }
    let creds = paired_credentials(seed);
    let mut peer = Peer::new(&creds, Some(1));
    let mut h = Harness::new(creds, store);
    h.deliver(peer.message("m1", "hello"));
    assert_eq!(h.messages().len(), 1);
    h
}

/// The server's `<ack class="message">` for `id` sent to `to` (`error`: a refusal's code).
fn server_ack(id: &MessageId, to: &Jid, error: Option<&str>) -> Node {
    let node = Node::new("ack")
        .attr("class", "message")
        .attr("id", id.0.clone())
        .jid_attr("from", to.clone())
        .attr("t", "1800000001");
    match error {
        Some(code) => node.attr("error", code.to_owned()),
        None => node,
    }
}

/// B's device 1 asks for message `id` again (retry receipt number `count`).
fn retry_from_b(id: &MessageId, count: u32) -> Node {
    Node::new("receipt")
        .attr("id", id.0.clone())
        .jid_attr("from", Jid::device("700000007", 1, Server::Lid))
        .attr("type", "retry")
        .children(vec![
            Node::new("retry")
                .attr("count", count.to_string())
                .attr("id", id.0.clone())
                .attr("v", "1"),
            Node::new("registration").bytes(Bytes::from_static(&[0, 0, 16, 146])),
        ])
}

fn message_stanzas(sent: &[Node]) -> usize {
    sent.iter().filter(|n| n.tag == "message").count()
}

#[test]
fn a_message_on_established_sessions_is_one_transaction_before_its_stanza() {
    let mut h = with_session_to_b(8);
    h.sent.clear();
    let before = h.commits;
    let to = Jid::user("700000007", Server::Lid);
    h.with(|m, env| m.send(env, to, &Message::text("back")))
        .unwrap();
    h.collect();
    assert!(
        h.in_flight.is_empty(),
        "nothing is written before the records the encryption needs are read"
    );
    h.pump();
    assert_eq!(message_stanzas(&h.sent), 1, "the message went out");
    assert_eq!(
        h.commits - before,
        1,
        "the accepted message and its advanced chains are one transaction"
    );
}

#[test]
fn a_reported_outcome_costs_the_next_message_no_transaction_of_its_own() {
    let mut h = with_session_to_b(13);
    let to = Jid::user("700000007", Server::Lid);
    let first = h
        .with(|m, env| m.send(env, to.clone(), &Message::text("one")))
        .unwrap();
    h.pump();
    h.deliver(server_ack(&first, &to, None));
    // The driver hands `Sent` to the application.
    h.m.reported(first.as_str());
    h.sent.clear();
    let before = h.commits;
    h.with(|m, env| m.send(env, to, &Message::text("two")))
        .unwrap();
    h.pump();
    assert_eq!(message_stanzas(&h.sent), 1, "the message went out");
    assert_eq!(
        h.commits - before,
        1,
        "the marker's deletion rides on the message's transaction"
    );
    assert!(
        !h.store
            .contains_key(&(Table::Outbox, Bytes::from(format!("p/{}", first.0)))),
        "the first message's marker is gone"
    );
}

#[test]
fn a_message_waiting_for_records_at_shutdown_is_written_before_the_stop() {
    let mut h = with_session_to_b(12);
    let to = Jid::user("700000007", Server::Lid);
    let id = h
        .with(|m, env| m.send(env, to, &Message::text("bye")))
        .unwrap();
    h.collect();
    assert!(h.in_flight.is_empty(), "waiting for the session's records");
    h.with(|m, env| m.on_shutdown(env));
    h.collect();
    assert_eq!(h.in_flight.len(), 1, "the shutdown writes what waits");
    h.pump();
    for key in [format!("m/{}", id.0), format!("p/{}", id.0)] {
        assert!(
            h.store
                .contains_key(&(Table::Outbox, Bytes::from(key.clone()))),
            "{key} is durable after the shutdown"
        );
    }
}

#[test]
fn a_message_that_waits_for_the_server_is_durable_while_it_waits() {
    let mut h = with_session_to_b(9);
    h.sent.clear();
    // Nobody knows this user's devices: the send waits for the usync answer.
    let to = Jid::user("700000008", Server::Lid);
    let id = h
        .with(|m, env| m.send(env, to, &Message::text("later")))
        .unwrap();
    h.pump();
    assert!(
        h.sent.iter().any(|n| n.attr_str("xmlns") == Some("usync")),
        "the device list is asked for"
    );
    assert_eq!(message_stanzas(&h.sent), 0);
    for key in [format!("m/{}", id.0), format!("p/{}", id.0)] {
        assert!(
            h.store
                .contains_key(&(Table::Outbox, Bytes::from(key.clone()))),
            "{key} is durable while the message waits for the server"
        );
    }
}

#[test]
fn a_retry_receipt_is_acked_after_its_resend_on_the_same_stream() {
    let mut h = with_session_to_b(10);
    let to = Jid::user("700000007", Server::Lid);
    let id = h
        .with(|m, env| m.send(env, to, &Message::text("again please")))
        .unwrap();
    h.pump();
    assert_eq!(message_stanzas(&h.sent), 1);
    h.sent.clear();
    h.deliver(retry_from_b(&id, 1));
    let resend = h.sent.iter().position(|n| n.tag == "message");
    let ack = h
        .sent
        .iter()
        .position(|n| n.tag == "ack" && n.attr_str("class") == Some("receipt"));
    let (Some(resend), Some(ack)) = (resend, ack) else {
        panic!("a resend and the receipt's ack: {:?}", h.sent);
    };
    assert!(
        resend < ack,
        "the ack follows the resend: a connection lost with the resend in flight loses the ack \
         too, and the server delivers the receipt again"
    );
}

#[test]
fn a_refused_resend_tells_the_application_which_device_misses_the_message() {
    let mut h = with_session_to_b(11);
    let to = Jid::user("700000007", Server::Lid);
    let id = h
        .with(|m, env| m.send(env, to.clone(), &Message::text("again please")))
        .unwrap();
    h.pump();
    let ack = |error: Option<&str>| server_ack(&id, &to, error);
    h.deliver(ack(None));
    let retry = |count: u32| retry_from_b(&id, count);
    let unreachable = |h: &Harness| {
        h.events
            .iter()
            .filter_map(|e| match e {
                Event::SendFailed {
                    id: failed,
                    reason: SendError::DeviceUnreachable { device, .. },
                } if *failed == id => Some(device.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // An accepted resend: nothing more to say.
    h.deliver(retry(1));
    h.deliver(ack(None));
    assert_eq!(unreachable(&h), Vec::<String>::new());
    // A refused one (a group the sender has left, a device the server no longer knows).
    h.deliver(retry(1));
    h.deliver(ack(Some("403")));
    assert_eq!(unreachable(&h), vec!["700000007:1@lid".to_owned()]);
}
