//! Linking with a pair code (phone-number linking) against the fake server and phone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::connection::{Action, Command, Event, State};
use tether_core::creds::CredentialChange;
use tether_core::reason::DisconnectReason;
use tether_sim::{Options, Scan, Stepper, Traced};

#[test]
fn pair_code_links_and_logs_in() {
    let options = Options {
        scan: Scan::PairCode,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    let phone = sim.phone.phone_number().to_owned();
    sim.command(Command::RequestPairingCode { phone }).unwrap();
    let done = sim.run_until(Duration::from_secs(300), |s| {
        *s.conn.state() == State::Connected
    });
    assert!(done, "{}", sim.dump(40));

    let code = sim
        .events()
        .find_map(|(_, e)| match e {
            Event::PairingCode { code } => Some(code.clone()),
            _ => None,
        })
        .expect("a pair code was shown");
    assert_eq!(code.len(), 9, "XXXX-XXXX: {code}");
    assert!(
        !sim.events().any(|(_, e)| matches!(e, Event::QrCode { .. })),
        "QR codes while a pair code was pending"
    );
    // The derived ADV secret was durable before the companion answered the phone.
    let adv_seq = sim
        .actions()
        .find_map(|(_, a)| match a {
            Action::PersistCredentials { seq, delta }
                if delta
                    .changes
                    .iter()
                    .any(|c| matches!(c, CredentialChange::AdvSecret(_))) =>
            {
                Some(*seq)
            }
            _ => None,
        })
        .expect("the new ADV secret was persisted");
    let durable = sim
        .trace()
        .iter()
        .position(|r| matches!(r.what, Traced::Durable(s) if s == adv_seq))
        .unwrap();
    let finish = sim
        .trace()
        .iter()
        .position(|r| {
            matches!(&r.what, Traced::ServerReceived(_, n)
                if n.child("link_code_companion_reg").and_then(|c| c.attr_str("stage"))
                    == Some("companion_finish"))
        })
        .expect("companion_finish");
    assert!(
        durable < finish,
        "companion_finish sent before the ADV secret was durable"
    );
    assert!(matches!(
        sim.disconnects()[0].1,
        DisconnectReason::RestartRequired { .. }
    ));
    assert_eq!(sim.server.devices().len(), 1);
    assert!(sim.store.current().unwrap().is_paired());
}

#[test]
fn unused_pair_code_expires_without_qr_codes() {
    let options = Options {
        scan: Scan::Never,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    let phone = sim.phone.phone_number().to_owned();
    sim.command(Command::RequestPairingCode { phone }).unwrap();
    sim.run_for(Duration::from_secs(600));
    let shown = sim
        .events()
        .find(|(_, e)| matches!(e, Event::PairingCode { .. }))
        .expect("a pair code")
        .0;
    let (at, reason, reconnect_at, _) = sim.disconnects().pop().unwrap();
    assert_eq!(reason, DisconnectReason::QrCodesExhausted);
    assert_eq!(reconnect_at, None);
    assert_eq!(at - shown, Duration::from_secs(180), "the code's lifetime");
    assert!(!sim.events().any(|(_, e)| matches!(e, Event::QrCode { .. })));
}

#[test]
fn lost_connection_during_a_pair_code_keeps_linking_visible() {
    let options = Options {
        scan: Scan::Never,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    let phone = sim.phone.phone_number().to_owned();
    sim.command(Command::RequestPairingCode { phone }).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.events()
            .any(|(_, e)| matches!(e, Event::PairingCode { .. }))
    }));
    // The registration socket dies while the code is shown.
    let conn = sim.server_conn().unwrap();
    sim.server
        .inject(conn, tether_sim::Fault::AbruptClose, sim.now());
    let lost_at = sim.elapsed();
    sim.run_for(Duration::from_secs(120));
    // The new connection must show the user something to link with — a new code for the
    // same phone — instead of waiting forever on a code tied to the dead connection.
    let new_codes: Vec<String> = sim
        .events()
        .filter_map(|(at, e)| match e {
            Event::PairingCode { code } if at > lost_at => Some(code.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        new_codes.len(),
        1,
        "linking stalled invisibly in {:?}\n{}",
        sim.conn.state(),
        sim.dump(20)
    );
    assert!(!sim.events().any(|(_, e)| matches!(e, Event::QrCode { .. })));
}

#[test]
fn pair_code_requested_while_qr_codes_show_links() {
    let options = Options {
        scan: Scan::PairCode,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| *s.conn.state()
        == State::Pairing));
    let qrs_before = sim
        .events()
        .filter(|(_, e)| matches!(e, Event::QrCode { .. }))
        .count();
    let phone = sim.phone.phone_number().to_owned();
    sim.command(Command::RequestPairingCode { phone }).unwrap();
    assert!(
        sim.run_until(Duration::from_secs(120), |s| *s.conn.state()
            == State::Connected),
        "{}",
        sim.dump(30)
    );
    let qrs_after = sim
        .events()
        .filter(|(_, e)| matches!(e, Event::QrCode { .. }))
        .count();
    assert_eq!(
        qrs_before, qrs_after,
        "QR codes kept rotating under a pair code"
    );
}
