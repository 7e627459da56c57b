//! Reconnecting against the fake server: backoff delays within DESIGN §4's bounds, the
//! counter that resets only after a stable period, stale transport input, and at most one
//! transport open through a run full of faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::backoff::ReconnectConfig;
use tether_core::connection::{Action, Event, State, TransportId};
use tether_core::reason::{DisconnectReason, LostCause};
use tether_sim::{Fault, Options, Stepper, Traced};

fn linked() -> Stepper {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim
}

fn drop_connection(sim: &mut Stepper) {
    let conn = sim.server_conn().expect("a live connection");
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
}

fn connected_count(sim: &Stepper) -> usize {
    sim.events()
        .filter(|(_, e)| matches!(e, Event::Connected { .. }))
        .count()
}

#[test]
fn transport_failures_back_off_within_bounds() {
    let mut sim = linked();
    let config = ReconnectConfig::default();
    let before = sim.disconnects().len();
    sim.server.refuse_next_connects(8);
    drop_connection(&mut sim);
    let n = connected_count(&sim);
    assert!(sim.run_until(Duration::from_secs(3600), |s| connected_count(s) > n));
    let disconnects = &sim.disconnects()[before..];
    assert_eq!(disconnects.len(), 9, "one close and eight refusals");
    for (i, (at, reason, reconnect_at, attempt)) in disconnects.iter().enumerate() {
        let step = u32::try_from(i + 1).unwrap();
        assert_eq!(*attempt, step, "retries are counted 1, 2, 3, …");
        let expected = if i == 0 {
            matches!(reason, DisconnectReason::ConnectionLost { .. })
        } else {
            matches!(
                reason,
                DisconnectReason::ConnectionLost {
                    cause: LostCause::TransportFailed { .. }
                }
            )
        };
        assert!(expected, "{reason:?}");
        let delay = reconnect_at.expect("transient") - sim.at(*at);
        let (low, high) = config.delay_bounds(step);
        assert!(
            low <= delay && delay <= high,
            "retry {step}: {delay:?} outside [{low:?}, {high:?}]"
        );
        assert!(delay <= config.max_delay);
    }
    // Each next attempt opened exactly at its reconnect instant.
    let opens = sim.opens();
    for (at, _, reconnect_at, _) in disconnects {
        let due = reconnect_at.unwrap();
        assert!(
            opens.iter().any(|(t, _)| sim.at(*t) == due),
            "no OpenTransport at the reconnect instant after {at:?}"
        );
    }
}

#[test]
fn backoff_counter_resets_only_after_stable_period() {
    let mut sim = linked();
    let stable = ReconnectConfig::default().stable_after;
    let attempt_of_next_drop = |sim: &mut Stepper, up_for: Duration| {
        let n = connected_count(sim);
        sim.run_for(up_for);
        drop_connection(sim);
        let before = sim.disconnects().len();
        sim.run_until(Duration::from_secs(1), |s| s.disconnects().len() > before);
        let attempt = sim.disconnects().last().unwrap().3;
        assert!(sim.run_until(Duration::from_secs(600), |s| connected_count(s) > n));
        attempt
    };
    // The link itself was up long enough: the first drop is retry 1.
    assert_eq!(attempt_of_next_drop(&mut sim, stable), 1);
    // Dropped again shortly after each login: the counter keeps climbing.
    assert_eq!(attempt_of_next_drop(&mut sim, Duration::from_secs(5)), 2);
    assert_eq!(attempt_of_next_drop(&mut sim, stable / 2), 3);
    // Up for the stable period: back to 1.
    assert_eq!(attempt_of_next_drop(&mut sim, stable), 1);
}

#[test]
fn stale_transport_input_is_ignored() {
    let mut sim = linked();
    let registration = TransportId(1);
    let current = sim.conn.transport().unwrap();
    assert_ne!(registration, current);
    let events_before = sim.events().count();
    let actions_before = sim.actions().count();
    // Garbage and a close on the old transport, and a transport id never used.
    sim.inject_bytes(registration, bytes::Bytes::from_static(&[0xFF; 64]));
    sim.inject_closed(registration);
    sim.inject_closed(TransportId(999));
    sim.run_for(Duration::from_millis(1));
    assert_eq!(*sim.conn.state(), State::Connected);
    assert_eq!(sim.conn.transport(), Some(current));
    assert_eq!(sim.events().count(), events_before);
    assert_eq!(sim.actions().count(), actions_before);
    // And the live transport still works.
    let conn = sim.server_conn().unwrap();
    sim.server.send_ping(conn);
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.server.pongs(), 1);
}

#[test]
fn stale_close_during_reconnect_does_not_end_the_new_transport() {
    let mut sim = linked();
    let old = sim.conn.transport().unwrap();
    drop_connection(&mut sim);
    let n = connected_count(&sim);
    assert!(sim.run_until(Duration::from_secs(60), |s| connected_count(s) > n));
    let before = sim.disconnects().len();
    sim.inject_closed(old);
    sim.inject_bytes(old, bytes::Bytes::from_static(b"late bytes"));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.disconnects().len(), before);
    assert_eq!(*sim.conn.state(), State::Connected);
}

#[test]
fn at_most_one_transport_open() {
    // A run full of transitions; the harness checks the invariant after every step, and the
    // trace is checked once more here: opens and closes strictly alternate.
    let mut sim = linked();
    sim.server.refuse_next_connects(2);
    sim.server.hang_next_connects(1);
    drop_connection(&mut sim);
    let n = connected_count(&sim);
    assert!(sim.run_until(Duration::from_secs(600), |s| connected_count(s) > n));
    for code in [515, 503, 429, 515] {
        let conn = sim.server_conn().unwrap();
        sim.server.inject(conn, Fault::StreamError(code), sim.now());
        let n = connected_count(&sim);
        assert!(
            sim.run_until(Duration::from_secs(900), |s| connected_count(s) > n),
            "{}",
            sim.dump(30)
        );
    }
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::Silent, sim.now());
    let n = connected_count(&sim);
    assert!(sim.run_until(Duration::from_secs(900), |s| connected_count(s) > n));
    assert!(
        sim.disconnects().iter().any(|d| matches!(
            d.1,
            DisconnectReason::ConnectionLost {
                cause: LostCause::ConnectTimeout
            }
        )),
        "the hanging connect timed out"
    );

    let mut open: Option<TransportId> = None;
    for record in sim.trace() {
        match &record.what {
            Traced::Action(Action::OpenTransport { id, .. }) => {
                assert!(open.is_none(), "{id} opened while {open:?} was open");
                open = Some(*id);
            }
            Traced::Action(Action::CloseTransport { id }) if open == Some(*id) => open = None,
            _ => {}
        }
    }
    assert!(sim.opens().len() >= 10);
}

#[test]
fn rate_limit_backs_off_further() {
    let mut sim = linked();
    let config = ReconnectConfig::default();
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::StreamError(429), sim.now());
    let before = sim.disconnects().len();
    sim.run_until(Duration::from_secs(1), |s| s.disconnects().len() > before);
    let (at, reason, reconnect_at, attempt) = sim.disconnects().pop().unwrap();
    assert!(matches!(reason, DisconnectReason::RateLimited { .. }));
    assert_eq!(attempt, 1);
    let delay = reconnect_at.unwrap() - sim.at(at);
    let (low, high) = config.delay_bounds(6);
    assert!(low <= delay && delay <= high, "{delay:?}");
}
