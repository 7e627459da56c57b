//! `TimerTable`: arming, re-arming, clearing, the next wakeup and expiry, in deterministic order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tether_core::timer::{Timer, TimerTable};

/// The one real instant of a test; everything else is this plus virtual durations.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn empty_table_has_no_wakeup() {
    let mut table = TimerTable::new();
    assert_eq!(table.next(), None);
    assert_eq!(table.next_deadline(), None);
    assert_eq!(table.expired(base() + secs(1_000)).count(), 0);
}

#[test]
fn set_get_clear() {
    let t0 = base();
    let mut table = TimerTable::new();
    table.set(Timer::Connect, t0 + secs(20));
    assert_eq!(table.get(Timer::Connect), Some(t0 + secs(20)));
    assert!(table.is_set(Timer::Connect));
    assert!(!table.is_set(Timer::Handshake));
    table.set(Timer::Connect, t0 + secs(5));
    assert_eq!(
        table.get(Timer::Connect),
        Some(t0 + secs(5)),
        "re-arming replaces"
    );
    table.clear(Timer::Connect);
    assert_eq!(table.get(Timer::Connect), None);
    table.clear(Timer::Connect);
    assert_eq!(table, TimerTable::new());
}

#[test]
fn next_is_the_earliest_deadline() {
    let t0 = base();
    let mut table = TimerTable::new();
    table.set(Timer::Reconnect, t0 + secs(9));
    table.set(Timer::KeepAlive, t0 + secs(3));
    table.set(Timer::DeadSocket, t0 + secs(7));
    assert_eq!(table.next(), Some((Timer::KeepAlive, t0 + secs(3))));
    table.clear(Timer::KeepAlive);
    assert_eq!(table.next(), Some((Timer::DeadSocket, t0 + secs(7))));
    assert_eq!(table.next_deadline(), Some(t0 + secs(7)));
}

#[test]
fn ties_break_in_declaration_order() {
    let t0 = base();
    let mut table = TimerTable::new();
    for timer in Timer::ALL.iter().rev() {
        table.set(*timer, t0 + secs(1));
    }
    assert_eq!(table.next(), Some((Timer::Connect, t0 + secs(1))));
    let order: Vec<Timer> = table.expired(t0 + secs(1)).collect();
    assert_eq!(order, Timer::ALL);
}

#[test]
fn expired_yields_due_timers_earliest_first_and_disarms_them() {
    let t0 = base();
    let mut table = TimerTable::new();
    table.set(Timer::StableConnection, t0 + secs(1));
    table.set(Timer::Connect, t0 + secs(3));
    table.set(Timer::PingDeadline, t0 + secs(2));
    table.set(Timer::Reconnect, t0 + secs(10));
    let due: Vec<Timer> = table.expired(t0 + secs(3)).collect();
    assert_eq!(
        due,
        [Timer::StableConnection, Timer::PingDeadline, Timer::Connect]
    );
    assert!(!table.is_set(Timer::Connect));
    assert!(!table.is_set(Timer::PingDeadline));
    assert_eq!(table.next(), Some((Timer::Reconnect, t0 + secs(10))));
    assert_eq!(
        table.expired(t0 + secs(3)).count(),
        0,
        "second call is a no-op"
    );
}

#[test]
fn a_deadline_equal_to_now_is_due() {
    let t0 = base();
    let mut table = TimerTable::new();
    table.set(Timer::Handshake, t0 + secs(20));
    assert!(!table.is_expired(Timer::Handshake, t0 + secs(19)));
    assert!(table.is_expired(Timer::Handshake, t0 + secs(20)));
    assert_eq!(table.expired(t0 + secs(19)).len(), 0);
    assert_eq!(table.expired(t0 + secs(20)).len(), 1);
}

#[test]
fn clear_all_disarms_everything() {
    let t0 = base();
    let mut table = TimerTable::new();
    for (i, timer) in Timer::ALL.iter().enumerate() {
        table.set(*timer, t0 + secs(i as u64));
    }
    table.clear_all();
    assert_eq!(table.next(), None);
}

#[test]
fn names_are_stable() {
    assert_eq!(Timer::DeadSocket.to_string(), "dead-socket");
    assert_eq!(Timer::KeepAlive.name(), "keepalive");
    assert_eq!(Timer::StableConnection.name(), "stable-connection");
}
