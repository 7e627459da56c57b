//! Linking by QR code against the fake server: QR rotation, persist-before-proceeding, the 515
//! restart and the first login.

use std::time::Duration;

use tether_core::connection::{Action, Command, Event, State};
use tether_core::creds::CredentialChange;
use tether_core::reason::DisconnectReason;
use tether_sim::{Options, Scan, Stepper, Traced};

fn connected(sim: &Stepper) -> bool {
    *sim.conn.state() == State::Connected
}

#[test]
fn restart_after_pairing_reconnects_immediately() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.command(Command::Connect).unwrap();
    assert!(
        sim.run_until(Duration::from_secs(120), connected),
        "{}",
        sim.dump(40)
    );

    // Paired is reported, and only after the identity was durable.
    let paired_at = sim
        .trace()
        .iter()
        .position(|r| matches!(r.what, Traced::Event(Event::Paired { .. })))
        .expect("Paired event");
    let durable_pairing = sim.trace()[..paired_at].iter().any(|r| match &r.what {
        Traced::Durable(seq) => sim.actions().any(|(_, a)| {
            matches!(a,
            Action::PersistCredentials { seq: s, delta } if s == seq
                && delta.changes.iter().any(|c| matches!(c, CredentialChange::Paired(_))))
        }),
        _ => false,
    });
    assert!(
        durable_pairing,
        "Paired before the store persisted the identity"
    );

    // The 515 gives an immediate, uncounted reconnect.
    let restart = sim
        .events()
        .find_map(|(at, e)| match e {
            Event::Disconnected {
                reason: DisconnectReason::RestartRequired { .. },
                reconnect_at,
                attempt,
                ..
            } => Some((at, *reconnect_at, *attempt)),
            _ => None,
        })
        .expect("a 515 restart");
    assert_eq!(
        restart.1,
        Some(sim.at(restart.0)),
        "515 must reconnect at once"
    );
    assert_eq!(restart.2, 0, "515 is not a counted retry");
    let opens: Vec<Duration> = sim
        .actions()
        .filter(|(_, a)| matches!(a, Action::OpenTransport { .. }))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(opens.len(), 2, "registration then login");
    assert_eq!(opens[1], restart.0, "the login transport opens at the 515");

    // Logged in with the identity the phone issued, and the server knows the device.
    let jid = sim
        .events()
        .find_map(|(_, e)| match e {
            Event::Connected { jid } => Some(jid.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(jid.user_str(), sim.phone.phone_number());
    assert_eq!(sim.server.devices().len(), 1);
    let logins = sim.server.logins();
    assert!(logins[0].registration && !logins[1].registration);
    // The first <success> confirms the pairing durably.
    sim.run_for(Duration::from_secs(1));
    assert!(sim.store.current().unwrap().confirmed);
}

#[test]
fn qr_codes_rotate_after_60_then_20_seconds() {
    let options = Options {
        scan: Scan::Never,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    sim.run_for(Duration::from_secs(200));
    let qrs: Vec<(Duration, Duration)> = sim
        .events()
        .filter_map(|(at, e)| match e {
            Event::QrCode { expires_at, .. } => Some((at, *expires_at - sim.at(at))),
            _ => None,
        })
        .collect();
    assert_eq!(qrs.len(), 6, "one QR per ref");
    assert_eq!(qrs[0].1, Duration::from_secs(60));
    for (i, (at, lifetime)) in qrs.iter().enumerate().skip(1) {
        assert_eq!(*lifetime, Duration::from_secs(20));
        assert_eq!(
            *at - qrs[i - 1].0,
            qrs[i - 1].1,
            "next QR when the previous expires"
        );
    }
}
