//! More server faults against the fake server: a server signed by an unknown root, silence
//! before the verdict, stray stanzas, transient and terminal login failures, retry budgets
//! and shutdowns in the middle of things.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::binary::Node;
use tether_core::connection::{Command, Event, State};
use tether_core::reason::{DisconnectReason, LostCause};
use tether_sim::{Fault, Options, Scan, Stepper};

fn linked() -> Stepper {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim
}

fn connected_count(sim: &Stepper) -> usize {
    sim.events()
        .filter(|(_, e)| matches!(e, Event::Connected { .. }))
        .count()
}

#[test]
fn untrusted_server_certificate_stops_after_five_in_a_row() {
    let mut sim = Stepper::new(Options::default(), |c| c.trusted_roots = vec![[9; 32]]);
    sim.command(Command::Connect).unwrap();
    sim.run_for(Duration::from_secs(3600));
    let disconnects = sim.disconnects();
    assert!(
        disconnects
            .iter()
            .all(|d| matches!(d.1, DisconnectReason::CertificateInvalid { .. }))
    );
    assert_eq!(sim.opens().len(), 5);
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::CertificateInvalid { .. })
    ));
    assert!(
        sim.server.logins().is_empty(),
        "a ClientPayload went to an unverified server"
    );
}

#[test]
fn silence_before_the_verdict_is_a_lost_connection() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.server.fault_next(Fault::Silent);
    sim.link();
    let (_, reason, reconnect_at, attempt) = sim.disconnects()[0].clone();
    assert!(
        matches!(
            reason,
            DisconnectReason::ConnectionLost {
                cause: LostCause::DeadSocket | LostCause::HandshakeTimeout
            }
        ),
        "{reason:?}"
    );
    assert!(reconnect_at.is_some());
    assert_eq!(attempt, 1);
}

#[test]
fn success_on_a_registration_connection_is_ignored() {
    let options = Options {
        scan: Scan::Never,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| *s.conn.state()
        == State::Pairing));
    let conn = sim.server_conn().unwrap();
    sim.server
        .send_node(conn, &Node::new("success").attr("t", "1800000000"));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(*sim.conn.state(), State::Pairing);
    assert_eq!(connected_count(&sim), 0);
}

#[test]
fn downgrade_webclient_while_linking_is_a_multidevice_mismatch() {
    let options = Options {
        scan: Scan::Never,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| *s.conn.state()
        == State::Pairing));
    let conn = sim.server_conn().unwrap();
    let downgrade = Node::new("ib").children(vec![Node::new("downgrade_webclient")]);
    sim.server.send_node(conn, &downgrade);
    sim.run_for(Duration::from_secs(600));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::MultideviceMismatch { .. })
    ));
    assert_eq!(sim.opens().len(), 1);
}

#[test]
fn transient_login_failures_back_off_then_connect() {
    let mut sim = linked();
    sim.server.fault_connection(
        0,
        Fault::Failure {
            reason: 503,
            expire: None,
        },
    );
    sim.server.fault_connection(
        1,
        Fault::Failure {
            reason: 500,
            expire: None,
        },
    );
    sim.server.fault_connection(2, Fault::StreamError(503));
    let before = sim.disconnects().len();
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    let n = connected_count(&sim);
    assert!(sim.run_until(Duration::from_secs(600), |s| connected_count(s) > n));
    let reasons: Vec<_> = sim.disconnects()[before..]
        .iter()
        .map(|d| (d.1.clone(), d.3))
        .collect();
    assert!(matches!(
        reasons[1].0,
        DisconnectReason::ServiceUnavailable { .. }
    ));
    assert!(matches!(reasons[2].0, DisconnectReason::ServerError { .. }));
    assert!(matches!(
        reasons[3].0,
        DisconnectReason::ServiceUnavailable { .. }
    ));
    let attempts: Vec<u32> = reasons.iter().map(|r| r.1).collect();
    assert_eq!(attempts, vec![1, 2, 3, 4]);
}

#[test]
fn unknown_failure_reason_is_terminal() {
    let mut sim = linked();
    sim.server.fault_next(Fault::Failure {
        reason: 400,
        expire: None,
    });
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(3600));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::ConnectFailure {
            reason: Some(400),
            ..
        })
    ));
    assert!(sim.store.current().unwrap().is_paired(), "credentials kept");
}

#[test]
fn stream_end_reconnects_with_backoff() {
    let mut sim = linked();
    let conn = sim.server_conn().unwrap();
    sim.server.send_node(conn, &Node::new("xmlstreamend"));
    let before = sim.disconnects().len();
    sim.run_until(Duration::from_secs(1), |s| s.disconnects().len() > before);
    let (at, reason, reconnect_at, attempt) = sim.disconnects().pop().unwrap();
    assert_eq!(
        reason,
        DisconnectReason::ConnectionLost {
            cause: LostCause::StreamEnd
        }
    );
    assert_eq!(attempt, 1);
    assert!(reconnect_at.unwrap() > sim.at(at));
}

#[test]
fn retry_budget_runs_out() {
    let mut sim = Stepper::new(Options::default(), |c| c.reconnect.max_retries = Some(3));
    sim.link();
    sim.run_for(Duration::from_secs(60));
    let opens_before = sim.opens().len();
    sim.server.refuse_next_connects(100);
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(3600));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::RetriesExhausted { attempts: 3, .. })
    ));
    assert_eq!(
        sim.opens().len() - opens_before,
        3,
        "exactly maxRetries retries"
    );
}

#[test]
fn shutdown_while_waiting_to_reconnect_stops() {
    let mut sim = linked();
    sim.server.refuse_next_connects(100);
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    assert!(sim.run_until(Duration::from_secs(60), |s| matches!(
        s.conn.state(),
        State::WaitingToReconnect { .. }
    )));
    let opens = sim.opens().len();
    sim.command(Command::Shutdown).unwrap();
    sim.run_for(Duration::from_secs(3600));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::LocalShutdown)
    ));
    assert_eq!(sim.opens().len(), opens);
}

#[test]
fn shutdown_while_linking_stops() {
    let options = Options {
        scan: Scan::Never,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| *s.conn.state()
        == State::Pairing));
    let qrs = sim.events().count();
    sim.command(Command::Shutdown).unwrap();
    sim.run_for(Duration::from_secs(600));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::LocalShutdown)
    ));
    assert_eq!(sim.opens().len(), 1);
    assert!(sim.server.open_connections().is_empty());
    // Two events (Disconnected, Stopped) and no more QR codes after them.
    assert_eq!(sim.events().count(), qrs + 2);
}

#[test]
fn connect_twice_is_misuse() {
    let mut sim = linked();
    assert!(sim.command(Command::Connect).is_err());
    assert_eq!(*sim.conn.state(), State::Connected);
}
