//! Liveness against the fake server: a half-open socket is found within the dead-socket
//! timeout of the first unanswered send, a quiet but healthy chat is never declared dead, and
//! server pings are answered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::connection::{Event, State};
use tether_core::keepalive::KeepAliveConfig;
use tether_core::reason::{DisconnectReason, LostCause};
use tether_sim::{Fault, Options, Stepper, Traced};

fn linked() -> Stepper {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim
}

#[test]
fn half_open_socket_detected_within_timeout() {
    let mut sim = linked();
    let timeout = KeepAliveConfig::default().timeout;
    let conn = sim.server_conn().unwrap();
    let silent_from = sim.elapsed();
    let silent_index = sim.trace().len();
    sim.server.inject(conn, Fault::Silent, sim.now());
    sim.run_until(Duration::from_secs(300), |s| {
        !s.disconnects().is_empty() && s.disconnects().iter().any(|d| d.0 > silent_from)
    });
    let first_send = sim.trace()[silent_index..]
        .iter()
        .find(|r| matches!(r.what, Traced::Transmit { .. }))
        .expect("a send into the silence")
        .at;
    let (lost_at, reason, reconnect_at, _) = sim
        .disconnects()
        .into_iter()
        .find(|d| d.0 > silent_from)
        .expect("the dead socket was noticed");
    assert_eq!(
        reason,
        DisconnectReason::ConnectionLost {
            cause: LostCause::DeadSocket
        }
    );
    assert!(
        lost_at <= first_send + timeout,
        "dead socket noticed {:?} after the first unanswered send",
        lost_at - first_send
    );
    assert!(reconnect_at.is_some(), "a dead socket is transient");
    // Keepalive pings were unanswered: that is reported, then the reconnect logs in again.
    assert!(sim.run_until(Duration::from_secs(120), |s| *s.conn.state()
        == State::Connected));
}

#[test]
fn steady_sends_cannot_hide_a_half_open_socket() {
    let mut sim = linked();
    let timeout = KeepAliveConfig::default().timeout;
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::Silent, sim.now());
    let silent_from = sim.elapsed();
    // The application keeps sending every 2 s; the server answers nothing.
    let mut first_send = None;
    for _ in 0..30 {
        if *sim.conn.state() != State::Connected {
            break;
        }
        let presence = tether_core::binary::Node::new("presence").attr("type", "available");
        sim.command(tether_core::connection::Command::SendNode(presence))
            .unwrap();
        first_send.get_or_insert_with(|| sim.elapsed());
        sim.run_for(Duration::from_secs(2));
    }
    let (lost_at, reason, ..) = sim
        .disconnects()
        .into_iter()
        .find(|d| d.0 > silent_from)
        .expect("the dead socket was noticed despite the sends");
    assert!(matches!(
        reason,
        DisconnectReason::ConnectionLost {
            cause: LostCause::DeadSocket
        }
    ));
    assert!(lost_at <= first_send.unwrap() + timeout);
}

#[test]
fn quiet_chat_is_not_dead() {
    let mut sim = linked();
    let connected_at = sim.elapsed();
    sim.run_for(Duration::from_secs(600));
    assert_eq!(*sim.conn.state(), State::Connected);
    assert!(
        sim.disconnects().iter().all(|d| d.0 < connected_at),
        "{}",
        sim.dump(20)
    );
    assert!(
        !sim.events()
            .any(|(_, e)| matches!(e, Event::KeepAliveTimeout { .. }))
    );
    // It stayed alive by pinging, and the server answered every ping.
    let pings = sim
        .server
        .received()
        .iter()
        .filter(|(_, n)| n.attr_str("xmlns") == Some("w:p"))
        .count();
    assert!(pings >= 600 / 30, "only {pings} pings in 10 minutes");
    assert_eq!(sim.opens().len(), 2, "no reconnects");
}

#[test]
fn server_ping_is_answered() {
    let mut sim = linked();
    let conn = sim.server_conn().unwrap();
    let id = sim.server.send_ping(conn);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.server.pongs(), 1);
    let pong = sim
        .server
        .received()
        .iter()
        .find(|(_, n)| n.attr_str("id") == Some(id.as_str()))
        .expect("the pong");
    assert_eq!(pong.1.attr_str("type"), Some("result"));
    assert_eq!(*sim.conn.state(), State::Connected);
}

#[test]
fn unanswered_ack_in_a_quiet_chat_is_not_dead() {
    let mut sim = linked();
    let conn = sim.server_conn().unwrap();
    // A notification the client must ack; the server never answers acks.
    let notification = tether_core::binary::Node::new("notification")
        .attr("id", "n-1")
        .attr("type", "server_sync")
        .jid_attr(
            "from",
            tether_core::binary::Jid::server_jid(tether_core::binary::Server::WhatsApp),
        );
    sim.server.send_node(conn, &notification);
    let sent_at = sim.elapsed();
    sim.run_for(Duration::from_secs(600));
    assert!(
        sim.server
            .received()
            .iter()
            .any(|(_, n)| n.tag == "ack" && n.attr_str("id") == Some("n-1")),
        "the notification was not acked"
    );
    assert_eq!(*sim.conn.state(), State::Connected);
    assert!(
        sim.disconnects().iter().all(|d| d.0 < sent_at),
        "{}",
        sim.dump(20)
    );
}

#[test]
fn answering_server_pings_in_a_quiet_chat_is_not_dead() {
    let mut sim = linked();
    let from = sim.elapsed();
    for _ in 0..10 {
        let conn = sim.server_conn().unwrap();
        sim.server.send_ping(conn);
        sim.run_for(Duration::from_secs(60));
    }
    assert_eq!(sim.server.pongs(), 10);
    assert_eq!(*sim.conn.state(), State::Connected);
    assert!(
        sim.disconnects().iter().all(|d| d.0 < from),
        "{}",
        sim.dump(20)
    );
}

#[test]
fn unanswered_pings_report_keepalive_timeout_then_restored() {
    let mut sim = linked();
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::IgnorePings(true), sim.now());
    // The server keeps talking (an info bulletin every 5 s, which needs no answer), so the
    // socket is not dead, but the client's own pings go unanswered.
    let bulletin = tether_core::binary::Node::new("ib").children(vec![
        tether_core::binary::Node::new("offline").attr("count", "0"),
    ]);
    for _ in 0..12 {
        sim.server.send_node(conn, &bulletin);
        sim.run_for(Duration::from_secs(5));
    }
    let timeouts: Vec<u32> = sim
        .events()
        .filter_map(|(_, e)| match e {
            Event::KeepAliveTimeout { failures } => Some(*failures),
            _ => None,
        })
        .collect();
    assert!(!timeouts.is_empty(), "{}", sim.dump(30));
    assert_eq!(timeouts[0], 1);
    assert_eq!(
        *sim.conn.state(),
        State::Connected,
        "traffic arrives: not dead"
    );
    assert!(
        !sim.events()
            .any(|(_, e)| matches!(e, Event::KeepAliveRestored))
    );
    sim.server
        .inject(conn, Fault::IgnorePings(false), sim.now());
    for _ in 0..12 {
        sim.server.send_node(conn, &bulletin);
        sim.run_for(Duration::from_secs(5));
    }
    assert!(
        sim.events()
            .any(|(_, e)| matches!(e, Event::KeepAliveRestored))
    );
    assert_eq!(sim.opens().len(), 2, "no reconnect");
}

/// A server with a bounded history (as a long-running `tether sim` has) drops old stanzas,
/// while the stepper, reading by running totals, still traces every one exactly once.
#[test]
fn a_bounded_server_history_stays_small_and_the_trace_misses_nothing() {
    let mut options = Options::default();
    options.server.history_limit = Some(4);
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    for _ in 0..10 {
        let conn = sim.server_conn().unwrap();
        sim.server.send_ping(conn);
        sim.run_for(Duration::from_secs(60));
    }
    assert_eq!(sim.server.pongs(), 10);
    assert!(
        sim.server.received().len() < 8,
        "{}",
        sim.server.received().len()
    );
    let (_, total) = sim.server.received_since(0);
    let traced = sim
        .trace()
        .iter()
        .filter(|r| matches!(r.what, Traced::ServerReceived(..)))
        .count();
    assert_eq!(traced, total);
    assert!(
        total > 10,
        "the pongs and keepalive pings were received: {total}"
    );
    assert_eq!(
        sim.server.login_counts(),
        (1, 1),
        "one registration, one login after 515"
    );
    assert_eq!(*sim.conn.state(), State::Connected);
}

/// A peer that starts a 1 MiB frame and then sends one byte every half second (DESIGN §4,
/// issue "liveness fooled by a trickle"): returns when the trickle started and the first
/// disconnect after it.
fn trickled(
    configure: impl FnOnce(&mut tether_core::connection::Config),
) -> (Duration, Duration, DisconnectReason, Stepper) {
    let mut sim = Stepper::new(Options::default(), configure);
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let conn = sim.server_conn().unwrap();
    let transport = sim.transport_of(conn).unwrap();
    // The real server says nothing more; only the trickle reaches the client.
    sim.server.inject(conn, Fault::Silent, sim.now());
    let started = sim.elapsed();
    sim.inject_bytes(transport, bytes::Bytes::from_static(&[0x10, 0x00, 0x00]));
    for _ in 0..240 {
        sim.run_for(Duration::from_millis(500));
        if sim.disconnects().iter().any(|d| d.0 > started) {
            break;
        }
        sim.inject_bytes(transport, bytes::Bytes::from_static(&[0x2a]));
    }
    let (lost_at, reason, reconnect_at, _) = sim
        .disconnects()
        .into_iter()
        .find(|d| d.0 > started)
        .unwrap_or_else(|| {
            panic!(
                "a trickle kept the connection up for 120 s:\n{}",
                sim.dump(30)
            )
        });
    assert!(reconnect_at.is_some(), "a stalled link is transient");
    (started, lost_at, reason, sim)
}

#[test]
fn a_trickled_frame_is_cut_at_the_frame_timeout() {
    let frame_timeout = KeepAliveConfig::default().frame_timeout;
    let (started, lost_at, reason, mut sim) = trickled(|_| {});
    assert_eq!(
        reason,
        DisconnectReason::ConnectionLost {
            cause: LostCause::FrameTimeout
        }
    );
    assert_eq!(lost_at, started + frame_timeout, "{}", sim.dump(20));
    assert!(sim.run_until(Duration::from_secs(120), |s| *s.conn.state()
        == State::Connected));
}

#[test]
fn loose_bytes_never_keep_a_dead_socket_alive() {
    // With the frame timeout out of the way, only the dead-socket timer can end the trickle:
    // the bytes must not count as answers to the client's pings.
    let timeout = KeepAliveConfig::default().timeout;
    let (started, lost_at, reason, sim) = trickled(|c| {
        c.keep_alive.frame_timeout = Duration::from_secs(3600);
    });
    assert_eq!(
        reason,
        DisconnectReason::ConnectionLost {
            cause: LostCause::DeadSocket
        }
    );
    let first_send = sim
        .trace()
        .iter()
        .filter(|r| r.at > started)
        .find(|r| matches!(r.what, Traced::Transmit { .. }))
        .expect("a ping into the trickle")
        .at;
    assert!(
        lost_at <= first_send + timeout,
        "dead {:?} after the first unanswered send",
        lost_at - first_send
    );
}
