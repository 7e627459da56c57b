//! `media_conn` through the connection against the fake server: refused while not logged in,
//! asked once and then answered from the cache while it is good, asked again on `refresh`
//! and once the TTL ran out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::connection::{Command, CommandError, Event};
use tether_sim::server::TOKEN_TTL;
use tether_sim::{Options, Stepper};

/// The hosts of every `Event::MediaConn` so far (and the count of failures).
fn answers(sim: &Stepper) -> (Vec<Vec<String>>, usize) {
    let mut hosts = Vec::new();
    let mut failed = 0;
    for (_, event) in sim.events() {
        match event {
            Event::MediaConn(conn) => hosts.push(conn.host_names()),
            Event::MediaConnFailed { .. } => failed += 1,
            _ => {}
        }
    }
    (hosts, failed)
}

/// `media_conn` iqs the server received.
fn asked(sim: &Stepper) -> usize {
    sim.server
        .received()
        .iter()
        .filter(|(_, n)| n.tag == "iq" && n.attr_str("xmlns") == Some("w:m"))
        .count()
}

#[test]
fn media_conn_is_asked_once_then_cached_until_refreshed_or_stale() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.server.media().set_host("media.sim.test:8443");
    let now = sim.now();
    assert!(matches!(
        sim.conn
            .handle_command(Command::MediaConn { refresh: false }, now),
        Err(CommandError::InvalidState { .. })
    ));
    sim.link();
    sim.run_for(Duration::from_secs(1));
    let ask = |sim: &mut Stepper, refresh: bool| {
        let now = sim.now();
        sim.conn
            .handle_command(Command::MediaConn { refresh }, now)
            .unwrap();
        sim.run_for(Duration::from_secs(1));
    };
    ask(&mut sim, false);
    let (hosts, failed) = answers(&sim);
    assert_eq!(hosts, vec![vec!["media.sim.test:8443".to_owned()]]);
    assert_eq!((failed, asked(&sim)), (0, 1));
    assert!(sim.conn.media_conn(sim.now()).is_some());
    // Fresh: answered from the cache, no second iq.
    ask(&mut sim, false);
    assert_eq!((answers(&sim).0.len(), asked(&sim)), (2, 1));
    // Refresh: asked again.
    ask(&mut sim, true);
    assert_eq!((answers(&sim).0.len(), asked(&sim)), (3, 2));
    // Stale after the TTL: asked again.
    sim.run_for(Duration::from_secs(TOKEN_TTL + 1));
    assert!(sim.conn.media_conn(sim.now()).is_none());
    ask(&mut sim, false);
    assert_eq!((answers(&sim).0.len(), asked(&sim)), (4, 3));
}

#[test]
fn a_server_without_a_media_host_is_a_typed_failure() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(1));
    let now = sim.now();
    sim.conn
        .handle_command(Command::MediaConn { refresh: false }, now)
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(answers(&sim), (vec![], 1));
    assert!(sim.conn.media_conn(sim.now()).is_none());
}
