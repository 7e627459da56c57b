//! The harness's invariant checks can fail: tamper with the store behind the connection's back
//! and the next login must be caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::creds::{CredentialStore, PersistSeq};
use tether_sim::{Fault, Options, Stepper};

#[test]
#[should_panic(expected = "invariant violated")]
fn login_with_credentials_the_store_lost_is_caught() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    // The store loses the identity (as a broken disk would); the core still holds it.
    sim.store.quarantine(PersistSeq(1_000), "tampered").unwrap();
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(60));
}

#[test]
fn a_clean_run_passes_every_check() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::Replaced, sim.now());
    sim.run_for(Duration::from_secs(600));
    // Connecting again after Stopped is the application's call, and allowed.
    sim.link();
}
