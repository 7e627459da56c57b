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
