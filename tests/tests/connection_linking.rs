//! Linking by QR code against the fake server: QR rotation, persist-before-proceeding, the 515
//! restart and the first login.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

/// Position in the trace of the store making the `Paired` change durable.
fn paired_durable_index(sim: &Stepper) -> Option<usize> {
    let seq = sim.actions().find_map(|(_, a)| match a {
        Action::PersistCredentials { seq, delta }
            if delta
                .changes
                .iter()
                .any(|c| matches!(c, CredentialChange::Paired(_))) =>
        {
            Some(*seq)
        }
        _ => None,
    })?;
    sim.trace()
        .iter()
        .position(|r| matches!(r.what, Traced::Durable(s) if s == seq))
}

#[test]
fn never_logs_in_with_unpersisted_identity() {
    // A slow store: every write takes 30 s. Nothing may run ahead of it.
    let options = Options {
        store_delay: Duration::from_secs(30),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    let durable = paired_durable_index(&sim).expect("pairing persisted");
    let first = |pred: &dyn Fn(&Traced) -> bool| sim.trace().iter().position(|r| pred(&r.what));
    let reply = first(
        &|t| matches!(t, Traced::ServerReceived(_, n) if n.child("pair-device-sign").is_some()),
    )
    .expect("pair-device-sign reply");
    let paired = first(&|t| matches!(t, Traced::Event(Event::Paired { .. }))).unwrap();
    let login =
        first(&|t| matches!(t, Traced::ServerReceived(c, _) if *c != tether_sim::ConnId(1)));
    assert!(
        durable < reply,
        "replied to pair-success before the identity was durable"
    );
    assert!(durable < paired, "Paired before the identity was durable");
    assert!(login.is_none_or(|l| durable < l));
    // The harness checked every ClientPayload against the store; the login happened.
    assert!(sim.server.logins().iter().any(|l| !l.registration));
}

#[test]
fn failed_pairing_persist_never_replies_or_logs_in() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.command(Command::Connect).unwrap();
    // Registration connection up and the first QR shown; the next write (the pairing) fails.
    assert!(sim.run_until(Duration::from_secs(30), |s| *s.conn.state()
        == State::Pairing));
    sim.store.fail_next_writes(1);
    sim.run_for(Duration::from_secs(600));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::StoreFailure { .. })
    ));
    assert!(
        !sim.server
            .received()
            .iter()
            .any(|(_, n)| n.child("pair-device-sign").is_some()),
        "the phone was told the pairing worked although nothing was saved"
    );
    assert!(sim.server.devices().is_empty());
    assert!(!sim.events().any(|(_, e)| matches!(e, Event::Paired { .. })));
    assert!(sim.server.logins().iter().all(|l| l.registration));
    assert!(!sim.store.current().unwrap().is_paired());
}

#[test]
fn qr_codes_exhausted_is_not_a_timeout() {
    let options = Options {
        scan: Scan::Never,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    sim.run_for(Duration::from_secs(3600));
    let disconnects = sim.disconnects();
    assert_eq!(disconnects.len(), 1, "{}", sim.dump(20));
    let (at, reason, reconnect_at, _) = &disconnects[0];
    assert_eq!(*reason, DisconnectReason::QrCodesExhausted);
    assert_eq!(*reconnect_at, None, "linking does not retry by itself");
    // 60 s for the first ref, 20 s for each of the other five.
    let opened = sim.opens()[0].0;
    let first_qr = sim
        .events()
        .find(|(_, e)| matches!(e, Event::QrCode { .. }))
        .unwrap()
        .0;
    assert!(first_qr >= opened);
    assert_eq!(*at - first_qr, Duration::from_secs(160));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::QrCodesExhausted)
    ));
    assert_eq!(sim.opens().len(), 1);
    assert!(sim.store.quarantined().is_empty());
    // The reply never reached the phone: that is not a pairing to announce.
    assert!(
        !sim.events().any(|(_, e)| matches!(e, Event::Paired { .. })),
        "Paired reported although the reply was never sent"
    );
}

#[test]
fn unconfirmed_pairing_401_relinks() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.command(Command::Connect).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| *s.conn.state()
        == State::Pairing));
    // The login after the 515 is refused: the server never confirmed this pairing.
    sim.server.fault_next(tether_sim::Fault::Failure {
        reason: 401,
        expire: None,
    });
    let relinked = sim.run_until(Duration::from_secs(120), |s| {
        s.events()
            .filter(|(_, e)| matches!(e, Event::QrCode { .. }))
            .count()
            >= 2
    });
    assert!(relinked, "{}", sim.dump(30));
    let reasons: Vec<DisconnectReason> = sim.disconnects().into_iter().map(|d| d.1).collect();
    assert!(matches!(
        reasons[0],
        DisconnectReason::RestartRequired { .. }
    ));
    assert!(matches!(reasons[1], DisconnectReason::LoggedOut { .. }));
    assert!(
        !sim.events()
            .any(|(_, e)| matches!(e, Event::Stopped { .. }))
    );
    assert!(
        !sim.actions()
            .any(|(_, a)| matches!(a, Action::QuarantineCredentials { .. })),
        "nothing to quarantine for an unconfirmed pairing"
    );
    let stored = sim.store.current().unwrap();
    assert!(!stored.is_paired(), "the refused identity was kept");
    let logins = sim.server.logins();
    assert!(
        logins.last().unwrap().registration,
        "relinking registers again"
    );
    // Scanning the new QR links for good.
    let qr = sim
        .events()
        .filter_map(|(_, e)| match e {
            Event::QrCode { code, .. } => Some(code.clone()),
            _ => None,
        })
        .last()
        .unwrap();
    sim.scan_now(qr);
    assert!(
        sim.run_until(Duration::from_secs(60), connected),
        "{}",
        sim.dump(30)
    );
    sim.run_for(Duration::from_secs(1));
    assert!(sim.store.current().unwrap().confirmed);
}

#[test]
fn connection_lost_while_the_pairing_persists_links_again() {
    // The store takes 30 s; the socket dies 10 s into that write.
    let options = Options {
        store_delay: Duration::from_secs(30),
        scan_delay: Duration::from_secs(40),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    let scanned = sim.run_until(Duration::from_secs(200), |s| {
        s.trace()
            .iter()
            .any(|r| matches!(r.what, Traced::Scanned(Ok(_))))
    });
    assert!(scanned, "{}", sim.dump(20));
    let conn = sim.server_conn().unwrap();
    let at = sim.now() + Duration::from_secs(10);
    sim.server
        .schedule(at, conn, tether_sim::Fault::AbruptClose);
    let relinking = sim.run_until(Duration::from_secs(300), |s| {
        s.events()
            .filter(|(_, e)| matches!(e, Event::QrCode { .. }))
            .count()
            > 1
    });
    assert!(relinking, "{}", sim.dump(30));
    // The phone never got the reply, so the server never registered the device: the core
    // must not end up believing it is linked, nor stop.
    assert!(sim.server.devices().is_empty());
    assert!(
        !sim.events()
            .any(|(_, e)| matches!(e, Event::Stopped { .. })),
        "{}",
        sim.dump(30)
    );
    assert!(
        sim.events()
            .filter(|(_, e)| matches!(e, Event::QrCode { .. }))
            .count()
            > 1,
        "linking did not start again: {}",
        sim.dump(30)
    );
    assert!(sim.store.quarantined().is_empty());
    // The reply never reached the phone: that is not a pairing to announce.
    assert!(
        !sim.events().any(|(_, e)| matches!(e, Event::Paired { .. })),
        "Paired reported although the reply was never sent"
    );
}

#[test]
fn linking_again_after_the_codes_ran_out() {
    let options = Options {
        scan: Scan::Nth(6),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.command(Command::Connect).unwrap();
    sim.run_for(Duration::from_secs(600));
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::QrCodesExhausted)
    ));
    // The user asks again; the seventh QR code (the first of the new connection) is scanned.
    sim.link();
    assert_eq!(sim.opens().len(), 3, "registration, registration, login");
    assert!(sim.store.current().unwrap().is_paired());
}

#[test]
fn links_when_server_bytes_arrive_in_small_pieces() {
    let options = Options {
        chunk: Some(7),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(60));
    assert_eq!(*sim.conn.state(), State::Connected);
    assert_eq!(sim.opens().len(), 2);
}
