//! A process restart: a new `Connection` built from what the store loaded must keep writing
//! durably (its sequence numbers continue the store's), and must log in without linking again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::connection::{Event, State};
use tether_core::creds::CredentialStore;
use tether_core::reason::DisconnectReason;
use tether_sim::{Device, Fault, MemStore, Options, Stepper};

/// Links in a first "process" and returns its store and the device the server registered.
fn first_run() -> (MemStore, Vec<([u8; 32], Device)>) {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(30));
    let devices = sim
        .server
        .devices()
        .iter()
        .map(|(k, d)| (*k, d.clone()))
        .collect();
    let (creds, seq) = sim.store.load().unwrap().unwrap();
    (MemStore::with_credentials(creds, seq), devices)
}

#[test]
fn restarted_connection_logs_in_and_persists_new_changes() {
    let (store, devices) = first_run();
    let seq_before = store.last_seq().unwrap();
    let options = Options {
        store,
        seed: 99,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |c| c.pre_key_initial_batch = 8);
    for (noise, device) in devices {
        sim.server.register_device(noise, device);
    }
    sim.server.config_mut().pre_key_count = 0;
    sim.link();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.opens().len(), 1, "no relinking");
    assert!(!sim.events().any(|(_, e)| matches!(e, Event::QrCode { .. })));
    // The pre-keys generated after the restart are really in the store.
    let stored = sim.store.current().unwrap();
    assert_eq!(
        sim.store
            .count_records(tether_core::records::Table::PreKeys),
        8,
        "writes after the restart were dropped"
    );
    assert_eq!(stored.first_unuploaded_pre_key_id, 9);
    assert!(sim.store.last_seq().unwrap() > seq_before);
}

#[test]
fn relinking_after_logout_in_a_new_process_is_durable() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::DeviceRemoved, sim.now());
    sim.run_for(Duration::from_secs(5));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::LoggedOut { .. })
    ));
    // A new process on the same (now empty) store links again; the harness panics if any
    // transport opens on credentials the store does not hold.
    let store = std::mem::take(&mut sim.store);
    assert!(store.current().is_none());
    let options = Options {
        store,
        seed: 5,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    let stored = sim.store.current().unwrap();
    assert!(stored.is_paired());
    assert_eq!(sim.store.quarantined().len(), 1);
}
