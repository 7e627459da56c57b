//! The logged-in session against the fake server: clock skew, pre-keys persisted before they
//! are uploaded, logout, and 515 restarts in a row.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::binary::Content;
use tether_core::connection::{Action, Command, Event, State};
use tether_core::creds::CredentialChange;
use tether_core::reason::{DisconnectReason, LogoutReason};
use tether_core::records::{RecordWrite, Table};
use tether_sim::{Fault, Options, ServerConfig, Stepper, Traced};

fn skews(sim: &Stepper) -> Vec<i64> {
    sim.events()
        .filter_map(|(_, e)| match e {
            Event::ClockSkew { offset_secs } => Some(*offset_secs),
            _ => None,
        })
        .collect()
}

#[test]
fn clock_skew_is_reported() {
    // The local clock is an hour behind the server's.
    let options = Options {
        unix_now: Some(ServerConfig::default().unix_base - 3600),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    let offsets = skews(&sim);
    // Once at pair-success, once at the login's <success>.
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    for offset in offsets {
        assert!((3595..=3605).contains(&offset), "offset {offset}");
    }
}

#[test]
fn agreeing_clocks_report_no_skew() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    assert_eq!(
        sim.server.unix_at(sim.now()),
        ServerConfig::default().unix_base
    );
    sim.link();
    sim.run_for(Duration::from_secs(60));
    assert!(skews(&sim).is_empty());
}

#[test]
fn skewed_server_time_at_login_is_reported() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    sim.server.fault_next(Fault::Skew(-120));
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(30));
    assert_eq!(*sim.conn.state(), State::Connected);
    let offsets = skews(&sim);
    assert_eq!(offsets.len(), 1);
    assert!((-122..=-118).contains(&offsets[0]), "{offsets:?}");
}

#[test]
fn pre_keys_persisted_before_upload() {
    let options = Options {
        store_delay: Duration::from_millis(500),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |c| {
        c.pre_key_initial_batch = 10;
        c.pre_key_batch = 4;
    });
    sim.server.config_mut().pre_key_count = 0;
    sim.link();
    sim.run_for(Duration::from_secs(10));

    let (seq, ids) = sim
        .actions()
        .find_map(|(_, a)| match a {
            Action::PersistCredentials { seq, delta } => {
                let ids: Vec<u32> = delta
                    .records
                    .iter()
                    .filter_map(|w| match w {
                        RecordWrite::Put {
                            table: Table::PreKeys,
                            key,
                            value,
                        } => tether_core::records::pre_key_from_row(key, value).map(|(id, _)| id),
                        _ => None,
                    })
                    .collect();
                delta
                    .changes
                    .iter()
                    .any(|c| matches!(c, CredentialChange::PreKeysGenerated { .. }))
                    .then_some((*seq, ids))
            }
            _ => None,
        })
        .expect("pre-keys generated");
    assert_eq!(ids, (1..=10).collect::<Vec<u32>>());
    let durable = sim
        .trace()
        .iter()
        .position(|r| matches!(r.what, Traced::Durable(s) if s == seq))
        .expect("pre-keys persisted");
    let (upload_index, upload) = sim
        .trace()
        .iter()
        .enumerate()
        .find_map(|(i, r)| match &r.what {
            Traced::ServerReceived(_, n)
                if n.attr_str("xmlns") == Some("encrypt") && n.child("list").is_some() =>
            {
                Some((i, n.clone()))
            }
            _ => None,
        })
        .expect("the upload iq");
    assert!(
        durable < upload_index,
        "pre-keys uploaded before they were durable"
    );

    // The keys on the wire are the keys in the store.
    let stored = sim.store.current().unwrap();
    let keys = upload.child("list").unwrap().child_nodes();
    assert_eq!(keys.len(), 10);
    for key in keys {
        let (Content::Bytes(id), Content::Bytes(value)) = (
            &key.child("id").unwrap().content,
            &key.child("value").unwrap().content,
        ) else {
            panic!("malformed key {key}");
        };
        let id = u32::from_be_bytes([0, id[0], id[1], id[2]]);
        assert_eq!(stored_pre_keys(&sim)[&id].public_bytes()[..], value[..]);
    }
    assert_eq!(sim.server.pre_key_uploads().len(), 1);
    // The server's acceptance is recorded too.
    assert_eq!(stored.first_unuploaded_pre_key_id, 11);
    assert_eq!(stored.next_pre_key_id, 11);
}

#[test]
fn enough_pre_keys_on_the_server_means_no_upload() {
    let mut sim = Stepper::new(Options::default(), |c| c.pre_key_initial_batch = 10);
    sim.link();
    sim.run_for(Duration::from_secs(10));
    assert!(sim.server.pre_key_uploads().is_empty());
    assert!(stored_pre_keys(&sim).is_empty());
}

#[test]
fn logout_tells_the_server_then_quarantines() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.server.devices().len(), 1);
    sim.command(Command::Logout).unwrap();
    sim.run_for(Duration::from_secs(60));
    assert!(
        sim.server
            .received()
            .iter()
            .any(|(_, n)| n.child("remove-companion-device").is_some())
    );
    assert!(
        sim.server.devices().is_empty(),
        "the server still lists the device"
    );
    assert!(matches!(
        sim.conn.state(),
        State::Stopped(DisconnectReason::LoggedOut {
            reason: LogoutReason::Local,
            ..
        })
    ));
    assert!(sim.store.current().is_none());
    assert_eq!(sim.store.quarantined().len(), 1);
}

#[test]
fn third_restart_in_a_row_counts_as_a_retry() {
    let mut sim = Stepper::new(Options::default(), |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let before = sim.disconnects().len();
    sim.server.fault_connection(0, Fault::StreamError(515));
    sim.server.fault_connection(1, Fault::StreamError(515));
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::StreamError(515), sim.now());
    sim.run_for(Duration::from_secs(120));
    assert_eq!(*sim.conn.state(), State::Connected);
    let restarts = &sim.disconnects()[before..];
    assert_eq!(restarts.len(), 3);
    for (_, reason, reconnect_at, _) in restarts {
        assert!(matches!(reason, DisconnectReason::RestartRequired { .. }));
        assert!(reconnect_at.is_some());
    }
    assert_eq!(restarts[0].3, 0);
    assert_eq!(restarts[1].3, 0);
    assert_eq!(
        restarts[0].2,
        Some(sim.at(restarts[0].0)),
        "first 515 is immediate"
    );
    assert_eq!(
        restarts[1].2,
        Some(sim.at(restarts[1].0)),
        "second 515 is immediate"
    );
    assert_eq!(
        restarts[2].3, 1,
        "the third 515 in a row is a counted retry"
    );
    assert!(restarts[2].2.unwrap() > sim.at(restarts[2].0));
}

/// The key ids of every pre-key upload the server received, in order.
fn uploaded_ids(sim: &Stepper) -> Vec<Vec<u32>> {
    sim.server
        .received()
        .iter()
        .filter(|(_, n)| n.attr_str("xmlns") == Some("encrypt") && n.child("list").is_some())
        .map(|(_, n)| {
            n.child("list")
                .unwrap()
                .child_nodes()
                .iter()
                .map(|k| match &k.child("id").unwrap().content {
                    Content::Bytes(b) => u32::from_be_bytes([0, b[0], b[1], b[2]]),
                    other => panic!("id content {other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn low_pre_key_notification_tops_up_with_new_ids() {
    let mut sim = Stepper::new(Options::default(), |c| {
        c.pre_key_initial_batch = 10;
        c.pre_key_batch = 4;
    });
    sim.server.config_mut().pre_key_count = 0;
    sim.link();
    sim.run_for(Duration::from_secs(5));
    let conn = sim.server_conn().unwrap();
    let notification = tether_core::binary::Node::new("notification")
        .attr("id", "enc-1")
        .attr("type", "encrypt")
        .jid_attr(
            "from",
            tether_core::binary::Jid::server_jid(tether_core::binary::Server::WhatsApp),
        )
        .children(vec![
            tether_core::binary::Node::new("count").attr("value", "2"),
        ]);
    sim.server.send_node(conn, &notification);
    sim.run_for(Duration::from_secs(5));
    let uploads = uploaded_ids(&sim);
    assert_eq!(
        uploads,
        vec![(1..=10).collect::<Vec<u32>>(), (11..=14).collect()]
    );
    let stored = sim.store.current().unwrap();
    assert_eq!(stored.first_unuploaded_pre_key_id, 15);
    assert_eq!(stored_pre_keys(&sim).len(), 14);
}

#[test]
fn upload_lost_with_the_connection_is_resent_without_new_keys() {
    let mut sim = Stepper::new(Options::default(), |c| {
        c.pre_key_initial_batch = 6;
        c.pre_key_batch = 6;
    });
    sim.server.config_mut().pre_key_count = 0;
    sim.command(Command::Connect).unwrap();
    // Go silent on the first login connection so the upload is never answered.
    assert!(sim.run_until(Duration::from_secs(120), |s| *s.conn.state()
        == State::Connected));
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::Silent, sim.now());
    sim.server.config_mut().pre_key_count = 0;
    let n = sim
        .events()
        .filter(|(_, e)| matches!(e, Event::Connected { .. }))
        .count();
    assert!(sim.run_until(Duration::from_secs(600), |s| {
        s.events()
            .filter(|(_, e)| matches!(e, Event::Connected { .. }))
            .count()
            > n
    }));
    sim.run_for(Duration::from_secs(5));
    let stored = sim.store.current().unwrap();
    // Nothing was lost, nothing generated twice: the same six keys went up again.
    assert_eq!(stored_pre_keys(&sim).len(), 6, "{:?}", uploaded_ids(&sim));
    let uploads = uploaded_ids(&sim);
    assert_eq!(uploads.last().unwrap(), &(1..=6).collect::<Vec<u32>>());
    assert_eq!(stored.first_unuploaded_pre_key_id, 7);
}

#[test]
fn slow_scan_is_not_clock_skew() {
    // The phone scans the third QR code, 85 s after the handshake; the clocks agree.
    let options = Options {
        scan: tether_sim::Scan::Nth(2),
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    assert!(sim.elapsed() > Duration::from_secs(80));
    assert!(skews(&sim).is_empty(), "spurious skew {:?}", skews(&sim));
}

/// The one-time pre-keys the simulated store holds durably, by id.
fn stored_pre_keys(sim: &Stepper) -> std::collections::BTreeMap<u32, tether_core::crypto::KeyPair> {
    sim.store
        .records()
        .iter()
        .filter(|((t, _), _)| *t == Table::PreKeys)
        .filter_map(|((_, k), v)| tether_core::records::pre_key_from_row(k, v))
        .collect()
}
