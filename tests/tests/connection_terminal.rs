//! Terminal reasons against the fake server: 440, logout (quarantine), bans, 405 after the
//! version refresh, store failures and a local shutdown. After each, no transport ever opens
//! again (except that a ban reports when the application may retry).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::binary::Node;
use tether_core::connection::{Action, Command, Event, State};
use tether_core::creds::CredentialChange;
use tether_core::payload::AppVersion;
use tether_core::reason::{DisconnectReason, LogoutReason};
use tether_sim::{Fault, MemStore, Options, Stepper};

/// The last two events are `Disconnected{reconnect_at: None}` then `Stopped`, both with a
/// reason matching `is`.
fn assert_stopped(sim: &Stepper, is: impl Fn(&DisconnectReason) -> bool) {
    let events: Vec<&Event> = sim.events().map(|(_, e)| e).collect();
    let n = events.len();
    assert!(n >= 2, "{}", sim.dump(30));
    match (events[n - 2], events[n - 1]) {
        (
            Event::Disconnected {
                reason: a,
                reconnect_at: None,
                ..
            },
            Event::Stopped { reason: b },
        ) => assert!(is(a) && is(b), "wrong reason {a:?} / {b:?}"),
        other => panic!("not stopped: {other:?}\n{}", sim.dump(30)),
    }
    assert!(matches!(sim.conn.state(), State::Stopped(r) if is(r)));
}

fn opens_after(sim: &Stepper, after: Duration) -> usize {
    sim.opens().iter().filter(|(at, _)| *at > after).count()
}

#[test]
fn replaced_is_terminal() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let conn = sim.server_conn().unwrap();
    let kicked_at = sim.elapsed();
    sim.server.inject(conn, Fault::Replaced, sim.now());
    sim.run_for(Duration::from_secs(3600));
    assert_stopped(&sim, |r| matches!(r, DisconnectReason::Replaced { .. }));
    assert_eq!(opens_after(&sim, kicked_at), 0, "reconnected after 440");
    // Credentials stay: another instance is using them.
    assert!(sim.store.current().unwrap().is_paired());
    assert!(sim.store.quarantined().is_empty());
}

#[test]
fn logged_out_quarantines_credentials() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let paired = sim.store.current().unwrap().clone();
    assert!(paired.confirmed);
    let conn = sim.server_conn().unwrap();
    let removed_at = sim.elapsed();
    sim.server.inject(conn, Fault::DeviceRemoved, sim.now());
    sim.run_for(Duration::from_secs(3600));
    assert_stopped(&sim, |r| {
        matches!(
            r,
            DisconnectReason::LoggedOut {
                reason: LogoutReason::DeviceRemoved { .. },
                ..
            }
        )
    });
    assert!(
        sim.actions()
            .any(|(_, a)| matches!(a, Action::QuarantineCredentials { .. }))
    );
    assert!(sim.store.current().is_none(), "identity left in place");
    let aside = sim.store.quarantined();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        aside[0].credentials.device.as_ref().map(|d| d.jid.clone()),
        paired.device.as_ref().map(|d| d.jid.clone())
    );
    assert_eq!(
        aside[0].credentials.noise_key.public_bytes(),
        paired.noise_key.public_bytes()
    );
    assert_eq!(opens_after(&sim, removed_at), 0);
}

#[test]
fn failure_401_after_confirmed_login_quarantines() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim.server.fault_next(Fault::Failure {
        reason: 401,
        expire: None,
    });
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(600));
    assert_stopped(&sim, |r| {
        matches!(
            r,
            DisconnectReason::LoggedOut {
                reason: LogoutReason::Failure(401),
                ..
            }
        )
    });
    assert!(sim.store.current().is_none());
    assert_eq!(sim.store.quarantined().len(), 1);
    assert!(sim.store.quarantined()[0].credentials.is_paired());
}

#[test]
fn temporary_ban_stops_with_reconnect_at() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim.server.fault_next(Fault::Failure {
        reason: 402,
        expire: Some(3600),
    });
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_until(Duration::from_secs(600), |s| {
        matches!(s.conn.state(), State::Stopped(_))
    });
    let banned_at = sim.elapsed();
    let (at, reason, reconnect_at, _) = sim.disconnects().pop().unwrap();
    assert!(matches!(
        reason,
        DisconnectReason::TemporaryBan {
            expire: Some(e),
            ..
        } if e == Duration::from_secs(3600)
    ));
    assert_eq!(reconnect_at, Some(sim.at(at) + Duration::from_secs(3600)));
    assert!(matches!(
        sim.events().last().map(|(_, e)| e),
        Some(Event::Stopped {
            reason: DisconnectReason::TemporaryBan { .. }
        })
    ));
    // The core does not retry by itself, not even after the ban; credentials are kept.
    sim.run_for(Duration::from_secs(7200));
    assert_eq!(opens_after(&sim, banned_at), 0);
    assert!(sim.store.current().unwrap().is_paired());
    assert!(sim.store.quarantined().is_empty());
}

const OLD: AppVersion = AppVersion::new(2, 3000, 1_000_000_000);

#[test]
fn client_outdated_refreshes_version_once() {
    let fetched = AppVersion::new(2, 3000, 1_100_000_000);
    let options = Options {
        version_answer: Ok(fetched),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |c| c.version = None);
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim.server.config_mut().min_version = Some(fetched);
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    let outdated_from = sim.elapsed();
    sim.run_until(Duration::from_secs(600), |s| {
        s.events()
            .filter(|(at, e)| *at > outdated_from && matches!(e, Event::Connected { .. }))
            .count()
            == 1
    });
    assert_eq!(*sim.conn.state(), State::Connected, "{}", sim.dump(40));
    let fetches = sim
        .actions()
        .filter(|(_, a)| matches!(a, Action::FetchVersion { .. }))
        .count();
    assert_eq!(fetches, 1);
    assert!(
        sim.disconnects()
            .iter()
            .any(|(_, r, _, _)| matches!(r, DisconnectReason::ClientOutdated { .. }))
    );
    let last = sim.server.logins().last().unwrap();
    assert_eq!(
        last.version,
        Some(fetched),
        "retried with the fetched version"
    );
    // The version was made durable before it was used.
    assert!(sim.actions().any(|(_, a)| matches!(a,
        Action::PersistCredentials { delta, .. }
            if delta.changes.iter().any(|c| matches!(c, CredentialChange::Version(v) if *v == fetched)))));
    assert_eq!(sim.store.current().unwrap().version, Some(fetched));
}

#[test]
fn second_client_outdated_stops() {
    let options = Options {
        version_answer: Ok(OLD),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim.server.config_mut().min_version = Some(AppVersion::new(2, 3000, 2_000_000_000));
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(3600));
    assert_stopped(&sim, |r| {
        matches!(r, DisconnectReason::ClientOutdated { .. })
    });
    let fetches = sim
        .actions()
        .filter(|(_, a)| matches!(a, Action::FetchVersion { .. }))
        .count();
    assert_eq!(fetches, 1, "one refresh, then stop");
    let versions: Vec<_> = sim.server.logins().iter().map(|l| l.version).collect();
    assert_eq!(versions.last().copied().flatten(), Some(OLD));
}

#[test]
fn store_failure_stops() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let conn = sim.server_conn().unwrap();
    let failed_at = sim.elapsed();
    sim.store.fail_next_writes(1);
    // New edge-routing info must be persisted; the write fails.
    let routing =
        Node::new("ib")
            .children(vec![Node::new("edge_routing").children(vec![
                Node::new("routing_info").bytes(vec![8, 2, 8, 5]),
            ])]);
    sim.server.send_node(conn, &routing);
    sim.run_for(Duration::from_secs(3600));
    assert_stopped(&sim, |r| matches!(r, DisconnectReason::StoreFailure { .. }));
    assert_eq!(opens_after(&sim, failed_at), 0);
    assert!(sim.server.open_connections().is_empty());
    assert_eq!(sim.store.current().unwrap().routing_info, None);
}

#[test]
fn connect_after_a_failed_first_write_persists_before_opening() {
    let mut store = MemStore::new();
    store.fail_next_writes(1);
    let options = Options {
        store,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.run_for(Duration::from_secs(1));
    assert_stopped(&sim, |r| matches!(r, DisconnectReason::StoreFailure { .. }));
    assert!(sim.opens().is_empty());
    assert!(sim.store.current().is_none());
    // The application tries again; the store works now. The harness panics if a transport
    // opens on credentials the store does not hold.
    sim.link();
    assert!(sim.store.current().unwrap().is_paired());
}

#[test]
fn shutdown_closes_and_stops() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let transport = sim.conn.transport().unwrap();
    let at = sim.elapsed();
    sim.command(Command::Shutdown).unwrap();
    assert!(sim.actions().any(
        |(t, a)| t == at && matches!(a, Action::CloseTransport { id } if *id == transport)
    ));
    assert_stopped(&sim, |r| matches!(r, DisconnectReason::LocalShutdown));
    sim.run_for(Duration::from_secs(3600));
    assert_eq!(opens_after(&sim, at), 0);
    assert!(
        sim.server.open_connections().is_empty(),
        "server still sees the socket"
    );
    assert!(sim.conn.transport().is_none());
    // A second shutdown is misuse, not a panic.
    assert!(sim.command(Command::Shutdown).is_err());
    assert!(sim.store.current().unwrap().is_paired());
}

#[test]
fn connect_after_logout_links_a_fresh_identity() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let old_noise = sim.store.current().unwrap().noise_key.public_bytes();
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::DeviceRemoved, sim.now());
    sim.run_for(Duration::from_secs(5));
    assert!(sim.store.current().is_none());
    // Same process, the user links again: fresh keys, persisted before use, a new QR code.
    sim.command(Command::Connect).unwrap();
    let shown = sim.run_until(Duration::from_secs(60), |s| {
        s.events()
            .filter(|(_, e)| matches!(e, Event::QrCode { .. }))
            .count()
            > 1
    });
    assert!(shown, "stuck in {:?}\n{}", sim.conn.state(), sim.dump(20));
    let fresh = sim.store.current().expect("fresh credentials persisted");
    assert_ne!(
        fresh.noise_key.public_bytes(),
        old_noise,
        "reused a quarantined identity"
    );
    assert_eq!(sim.store.quarantined().len(), 1);
}

#[test]
fn client_outdated_while_linking_refreshes_and_links() {
    let fetched = AppVersion::new(2, 3000, 1_100_000_000);
    let mut options = Options {
        version_answer: Ok(fetched),
        ..Options::default()
    };
    options.server.min_version = Some(fetched);
    let mut sim = Stepper::new(options, |c| c.version = Some(OLD));
    sim.link();
    let logins = sim.server.logins();
    assert_eq!(logins[0].version, Some(OLD));
    assert!(logins[1..].iter().all(|l| l.version == Some(fetched)));
    assert!(logins[1].registration, "linking resumed after the refresh");
}

#[test]
fn ban_without_expiry_stops_without_a_retry_time() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim.server.fault_next(Fault::Failure {
        reason: 402,
        expire: None,
    });
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(600));
    assert_stopped(&sim, |r| matches!(r, DisconnectReason::TemporaryBan { .. }));
}

#[test]
fn shutdown_while_the_refreshed_version_persists_stays_stopped() {
    let fetched = AppVersion::new(2, 3000, 1_100_000_000);
    let options = Options {
        version_answer: Ok(fetched),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim.server.config_mut().min_version = Some(fetched);
    sim.store_delay = Duration::from_secs(10);
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    // 405 → FetchVersion → the new version is being persisted (10 s) when the user stops.
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.trace()
            .iter()
            .any(|r| matches!(r.what, tether_sim::Traced::VersionAnswered))
    }));
    let stopped_at = sim.elapsed();
    sim.command(Command::Shutdown).unwrap();
    // The harness panics if a transport opens after Stopped.
    sim.run_for(Duration::from_secs(60));
    assert_stopped(&sim, |r| matches!(r, DisconnectReason::LocalShutdown));
    assert_eq!(opens_after(&sim, stopped_at), 0);
}
