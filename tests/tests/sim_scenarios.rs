//! Scenario tests for the headline failures of the field report (408 drop, 515 after pairing,
//! 440 two instances, 401 logged out, corrupted or failing store, clock skew, 405), run as
//! `World` plans (every DESIGN §7 invariant checked) or `Stepper` scenarios, plus the network
//! faults (split/coalesced messages, resets, partitions, stalls) and crash-restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::connection::{
    Action, Command, Config, Connection, Event, Output, State, TransportEvent,
};
use tether_core::creds::CredentialStore;
use tether_core::crypto::KeyPair;
use tether_core::reason::DisconnectReason;
use tether_core::records::Table;
use tether_sim::{
    ConnId, FaultPlan, MemStore, NetConfig, Options, Outcome, PlannedFault, Stepper, World,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Runs `faults` (offsets after linking) on `net` and demands that every invariant held.
fn run(net: NetConfig, faults: Vec<(Duration, PlannedFault)>) -> Outcome {
    let outcome = World::run_plan(11, FaultPlan::new(net, faults));
    if let Some(failure) = &outcome.failure {
        panic!("{failure}");
    }
    outcome
}

fn lines_with<'a>(outcome: &'a Outcome, text: &'a str) -> impl Iterator<Item = &'a String> {
    outcome.trace.iter().filter(move |l| l.contains(text))
}

fn has(outcome: &Outcome, text: &str) -> bool {
    lines_with(outcome, text).next().is_some()
}

#[test]
fn dropped_connection_408_reconnects_after_a_partition() {
    let outcome = run(
        NetConfig {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(20),
            max_piece: None,
        },
        vec![(secs(20), PlannedFault::Partition(secs(90)))],
    );
    assert!(
        has(&outcome, "lost in a partition"),
        "the partition did nothing"
    );
    assert!(has(&outcome, "DeadSocket"), "the keepalive did not notice");
    assert!(outcome.stopped.is_none());
    // Connects during the partition hang and time out ([408]), then one gets through.
    assert!(has(&outcome, "ConnectTimeout"));
    assert!(lines_with(&outcome, "Connected {").count() >= 2);
}

#[test]
fn restart_515_reconnects_at_once_and_after_pairing() {
    let outcome = run(
        NetConfig::default(),
        vec![(secs(20), PlannedFault::StreamError(515))],
    );
    // One 515 comes after pairing (the server's), one from the plan: both free.
    let restarts: Vec<&String> = lines_with(&outcome, "RestartRequired").collect();
    assert_eq!(restarts.len(), 2, "{restarts:#?}");
    assert!(
        restarts
            .iter()
            .all(|l| l.contains("reconnect_in: Some(0ns), attempt: 0"))
    );
    assert_eq!(outcome.retries_checked, 0);
}

#[test]
fn replaced_440_stops_for_good() {
    let outcome = World::run_plan(
        3,
        FaultPlan::new(
            NetConfig::default(),
            vec![(secs(30), PlannedFault::Replaced)],
        ),
    );
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert!(outcome.stopped.unwrap().contains("440"));
}

/// A second process logs in with a copy of the same credentials: the server kicks the first
/// with `<conflict type="replaced"/>` (440), which must stop for good, not fight back.
#[test]
fn second_instance_replaces_the_first_with_440() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(secs(10));
    let first_transport = sim.conn.transport().unwrap();
    let kicked_at = sim.elapsed();

    let (creds, seq) = sim.store.load().unwrap().unwrap();
    let config = Config::for_server(sim.server.endpoint(), sim.server.root_public());
    let now = sim.now();
    let unix = sim.server.unix_at(now);
    let mut other = Connection::from_store(config, Some((creds, seq)), now, unix, [9; 32]);
    other.handle_command(Command::Connect, now).unwrap();
    let other_id = ConnId(1 << 40);
    let mut other_transport = None;
    for _ in 0..200 {
        loop {
            match other.poll_output() {
                Output::Action(Action::OpenTransport { id, .. }) => {
                    other_transport = Some(id);
                    sim.server.handle_open(other_id, now);
                    other.handle_transport(id, TransportEvent::Opened, now);
                }
                Output::Transmit(t) => sim.server.handle_bytes(other_id, &t.payload, now),
                Output::Timeout(_) => break,
                _ => {}
            }
        }
        let mut progressed = false;
        while let Some((id, bytes)) = sim.server.poll_transmit() {
            progressed = true;
            if id == other_id {
                other.handle_bytes(other_transport.unwrap(), &bytes, now);
            } else {
                // The first instance's bytes go through its harness.
                sim.inject_bytes(first_transport, bytes);
            }
        }
        while let Some(id) = sim.server.poll_close() {
            if id != other_id {
                sim.inject_closed(first_transport);
            }
        }
        if !progressed && *other.state() == State::Connected {
            break;
        }
    }
    assert_eq!(
        *other.state(),
        State::Connected,
        "the second instance logs in"
    );
    sim.run_for(secs(3600));
    assert!(
        matches!(
            sim.conn.state(),
            State::Stopped(DisconnectReason::Replaced { .. })
        ),
        "{}",
        sim.dump(20)
    );
    let reopened = sim.opens().iter().filter(|(at, _)| *at > kicked_at).count();
    assert_eq!(reopened, 0, "the replaced instance fought back");
    assert!(
        sim.store.quarantined().is_empty(),
        "440 keeps the credentials"
    );
}

#[test]
fn logged_out_401_and_device_removed_stop_and_quarantine() {
    for fault in [PlannedFault::LoggedOut, PlannedFault::DeviceRemoved] {
        let outcome = World::run_plan(
            5,
            FaultPlan::new(NetConfig::default(), vec![(secs(30), fault.clone())]),
        );
        assert!(
            outcome.failure.is_none(),
            "{fault:?}: {:?}",
            outcome.failure
        );
        let stopped = outcome.stopped.clone().unwrap();
        assert!(stopped.contains("401"), "{fault:?}: {stopped}");
        assert!(has(&outcome, "QuarantineCredentials"), "{fault:?}");
    }
}

/// A store whose identity was corrupted (its noise key no longer the registered one): the
/// server refuses the login with 401; the identity is quarantined, never deleted.
#[test]
fn corrupted_store_identity_is_refused_and_quarantined() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(secs(5));
    let devices: Vec<_> = sim
        .server
        .devices()
        .iter()
        .map(|(k, d)| (*k, d.clone()))
        .collect();
    let (mut creds, seq) = sim.store.load().unwrap().unwrap();
    creds.noise_key = KeyPair::from_private_bytes([0x5a; 32]);
    let options = Options {
        store: MemStore::with_credentials(creds, seq),
        seed: 21,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    for (noise, device) in devices {
        sim.server.register_device(noise, device);
    }
    sim.command(Command::Connect).unwrap();
    sim.run_for(secs(600));
    assert!(
        matches!(
            sim.conn.state(),
            State::Stopped(DisconnectReason::LoggedOut { .. })
        ),
        "{}",
        sim.dump(20)
    );
    assert_eq!(sim.opens().len(), 1, "a refused identity is not retried");
    assert!(sim.store.current().is_none());
    let kept = &sim.store.quarantined()[0].credentials;
    assert_eq!(
        kept.noise_key.public_bytes(),
        KeyPair::from_private_bytes([0x5a; 32]).public_bytes()
    );
}

#[test]
fn failing_store_writes_stop_with_store_failure() {
    let mut sim = Stepper::new(Options::default(), |c| c.pre_key_initial_batch = 4);
    sim.link();
    sim.run_for(secs(5));
    // The next write is a pre-key top-up: the server says it has none left.
    sim.server.config_mut().pre_key_count = 0;
    sim.store.fail_next_writes(1);
    let conn = sim.server_conn().unwrap();
    sim.server
        .inject(conn, tether_sim::Fault::AbruptClose, sim.now());
    sim.run_for(secs(600));
    assert!(
        matches!(
            sim.conn.state(),
            State::Stopped(DisconnectReason::StoreFailure { .. })
        ),
        "{}",
        sim.dump(20)
    );
}

#[test]
fn clock_skew_on_the_servers_t_is_reported() {
    let outcome = run(
        NetConfig::default(),
        vec![(secs(20), PlannedFault::ClockSkew(-7_200))],
    );
    let skew: Vec<&String> = lines_with(&outcome, "ClockSkew {").collect();
    assert_eq!(skew.len(), 1, "{skew:#?}");
    assert!(outcome.stopped.is_none());
}

#[test]
fn outdated_405_refreshes_the_version_once_and_reconnects() {
    let outcome = run(
        NetConfig::default(),
        vec![(secs(20), PlannedFault::OutdatedOnce)],
    );
    assert!(has(&outcome, "FetchVersion"));
    assert!(has(&outcome, "VersionAnswered"));
    assert!(outcome.stopped.is_none());
    let twice = World::run_plan(
        11,
        FaultPlan::new(
            NetConfig::default(),
            vec![(secs(20), PlannedFault::OutdatedTwice)],
        ),
    );
    assert!(twice.failure.is_none(), "{:?}", twice.failure);
    assert!(twice.stopped.unwrap().contains("405"));
}

#[test]
fn frames_split_across_and_coalesced_into_messages_still_link() {
    for max_piece in [1, 5, 64, 4096] {
        let outcome = run(
            NetConfig {
                latency: Duration::from_millis(30),
                jitter: Duration::from_millis(50),
                max_piece: Some(max_piece),
            },
            vec![(secs(20), PlannedFault::AbruptClose)],
        );
        assert!(
            lines_with(&outcome, "Connected {").count() >= 2,
            "{max_piece}"
        );
    }
}

#[test]
fn resets_after_n_bytes_mid_handshake_and_mid_session_recover() {
    let outcome = run(
        NetConfig::default(),
        vec![
            (secs(20), PlannedFault::ResetNext(70)),
            (secs(120), PlannedFault::Reset(10)),
        ],
    );
    assert_eq!(lines_with(&outcome, "LinkReset").count(), 2);
    assert!(outcome.retries_checked >= 2);
}

#[test]
fn malformed_oversized_and_codeless_errors_back_off_and_recover() {
    let outcome = run(
        NetConfig::default(),
        vec![
            (secs(20), PlannedFault::Malformed),
            (secs(100), PlannedFault::Oversized),
            (secs(180), PlannedFault::CodelessStreamError),
            (secs(260), PlannedFault::AckShaped),
        ],
    );
    assert!(lines_with(&outcome, "ProtocolError").count() >= 2);
    assert!(lines_with(&outcome, "StreamError").count() >= 2);
    assert!(outcome.retries_checked >= 4);
}

#[test]
fn stall_longer_than_the_dead_socket_timeout_is_detected() {
    let outcome = run(
        NetConfig::default(),
        vec![
            (secs(20), PlannedFault::Stall(secs(60))),
            (secs(200), PlannedFault::DelayedHandshake(secs(25))),
        ],
    );
    assert!(has(&outcome, "DeadSocket"));
    assert!(has(&outcome, "HandshakeTimeout") || has(&outcome, "ConnectTimeout"));
}

#[test]
fn server_ping_is_answered_without_a_disconnect() {
    let outcome = run(
        NetConfig::default(),
        vec![(secs(20), PlannedFault::ServerPing)],
    );
    assert!(has(&outcome, "urn:xmpp:ping") || has(&outcome, "srv-ping"));
    assert_eq!(
        lines_with(&outcome, "Disconnected {").count(),
        1,
        "only the 515 after pairing"
    );
}

#[test]
fn crash_restart_rebuilds_from_the_store_and_logs_in() {
    let outcome = run(
        NetConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            max_piece: None,
        },
        vec![(secs(20), PlannedFault::CrashRestart)],
    );
    assert!(has(&outcome, "Crashed { epoch: 1, from_store: true }"));
    let after: Vec<&String> = outcome
        .trace
        .iter()
        .skip_while(|l| !l.contains("Crashed"))
        .collect();
    assert!(after.iter().any(|l| l.contains("Connected {")));
    assert!(
        !after.iter().any(|l| l.contains("QrCode")),
        "relinked after a crash"
    );
}

/// A crash while a write is in flight loses it, as a real crash would: the new process
/// starts from what was durable.
#[test]
fn crash_with_a_write_in_flight_starts_from_the_durable_state() {
    let options = Options {
        store_delay: Duration::from_millis(500),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |c| c.pre_key_initial_batch = 4);
    sim.link();
    sim.run_for(secs(5));
    sim.server.config_mut().pre_key_count = 0;
    let before = sim.store.count_records(Table::PreKeys);
    let conn = sim.server_conn().unwrap();
    sim.server
        .inject(conn, tether_sim::Fault::AbruptClose, sim.now());
    // Run until a pre-key write is in flight, then crash.
    let persisting = sim.run_until(secs(120), |s| {
        s.actions().any(|(at, a)| {
            at > Duration::ZERO
                && matches!(a, Action::PersistCredentials { delta, .. }
                    if format!("{delta:?}").contains("PreKey"))
        })
    });
    assert!(persisting, "{}", sim.dump(30));
    sim.crash_restart();
    assert_eq!(sim.store.count_records(Table::PreKeys), before);
    sim.command(Command::Connect).unwrap();
    let up = sim.run_until(secs(600), |s| *s.conn.state() == State::Connected);
    assert!(up, "{}", sim.dump(30));
    assert_eq!(sim.epoch(), 1);
    assert!(
        !sim.events()
            .any(|(_, e)| matches!(e, Event::Stopped { .. })),
        "{}",
        sim.dump(30)
    );
}

#[test]
fn notifications_are_acked_and_a_missing_ack_is_seen() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(secs(5));
    let conn = sim.server_conn().unwrap();
    let id = sim.server.send_notification(conn, sim.now());
    assert_eq!(sim.server.unacked(conn).len(), 1);
    sim.run_for(secs(2));
    assert!(sim.server.unacked(conn).is_empty(), "{id} not acked");
    // A stanza the client cannot ack (no `from`) stays on the server's list.
    let orphan = tether_core::binary::Node::new("message").attr("id", "orphan-1");
    sim.server.send_node(conn, &orphan);
    sim.run_for(secs(2));
    let left: Vec<String> = sim
        .server
        .unacked(conn)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(left, vec!["orphan-1".to_owned()]);
}

#[test]
fn planned_notification_is_acked_in_a_world() {
    let outcome = run(
        NetConfig::default(),
        vec![(secs(20), PlannedFault::Notification)],
    );
    assert!(
        has(&outcome, "<ack class=\"notification\""),
        "no ack in the trace"
    );
}

#[test]
fn injected_faults_log_warnings_and_no_errors() {
    let faults = vec![
        (secs(20), PlannedFault::AbruptClose),
        (secs(60), PlannedFault::Malformed),
        (secs(100), PlannedFault::Partition(secs(40))),
    ];
    let outcome = run(NetConfig::default(), faults);
    // One warn! per injected fault at least (the World's own), plus the core's.
    assert!(outcome.warnings >= 3, "{} warnings", outcome.warnings);
}
