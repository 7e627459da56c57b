//! The adapters' shared driver: single-mutation drains, store steps, shutdown.
#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;

use std::time::Instant;

use tether_core::connection::{
    Action, Command, Config, Connection, Event, Output, State, TransportId,
};
use tether_core::creds::{
    CredentialStore, Credentials, CredentialsDelta, PersistSeq, StoreError, StoreResult,
};
use tether_core::driver::{Driver, Input, run_store_action};

/// A test's starting instant (tests may read the clock; the core never does).
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

#[derive(Default)]
struct Recorder {
    applied: Vec<PersistSeq>,
    quarantined: BTreeMap<u64, String>,
    fail: bool,
}

impl CredentialStore for Recorder {
    fn load(&mut self) -> Result<Option<(Credentials, PersistSeq)>, StoreError> {
        Ok(None)
    }
    fn apply(&mut self, seq: PersistSeq, _: &CredentialsDelta) -> Result<(), StoreError> {
        if self.fail {
            return Err(StoreError::new("disk full"));
        }
        self.applied.push(seq);
        Ok(())
    }
    fn quarantine(&mut self, seq: PersistSeq, why: &str) -> Result<(), StoreError> {
        self.quarantined.insert(seq.0, why.to_owned());
        Ok(())
    }
    fn read(
        &mut self,
        reads: &[tether_core::records::RecordRead],
    ) -> Result<Vec<tether_core::records::RecordData>, StoreError> {
        if self.fail {
            return Err(StoreError::new("disk gone"));
        }
        Ok(reads
            .iter()
            .map(|_| tether_core::records::RecordData::Value(None))
            .collect())
    }
}

fn driver(now: Instant) -> Driver {
    Driver::new(Connection::new(
        Config::for_server("ws://127.0.0.1:1/ws/chat", [1; 32]),
        None,
        now,
        1_700_000_000,
        [7; 32],
    ))
}

#[test]
fn new_driver_queues_the_fresh_credentials_persist() {
    let now = t0();
    let mut d = driver(now);
    let outbox = d.take_outbox();
    assert!(
        outbox
            .iter()
            .any(|o| matches!(o, Output::Action(Action::PersistCredentials { .. })))
    );
    assert!(d.take_outbox().is_empty());
    assert!(!outbox.iter().any(|o| matches!(o, Output::Timeout(_))));
}

#[test]
fn connect_then_store_answer_opens_a_transport() {
    let now = t0();
    let mut d = driver(now);
    let mut store = Recorder::default();
    d.command(Command::Connect, now).unwrap();
    let persists: Vec<_> = d
        .take_outbox()
        .into_iter()
        .filter_map(|o| match o {
            Output::Action(a) => run_store_action(&mut store, &a),
            _ => None,
        })
        .collect();
    assert_eq!(persists.len(), 1);
    for p in persists {
        d.handle(Input::Store(p), now);
    }
    assert!(
        d.take_outbox()
            .iter()
            .any(|o| matches!(o, Output::Action(Action::OpenTransport { .. })))
    );
    assert_eq!(d.state(), State::Connecting);
    assert!(d.deadline().is_some());
}

#[test]
fn store_failures_and_quarantine_become_store_results() {
    let mut store = Recorder {
        fail: true,
        ..Recorder::default()
    };
    let persist = Action::PersistCredentials {
        seq: PersistSeq(3),
        delta: CredentialsDelta::default(),
    };
    assert!(matches!(
        run_store_action(&mut store, &persist),
        Some(StoreResult::Failed {
            seq: PersistSeq(3),
            ..
        })
    ));
    let quarantine = Action::QuarantineCredentials {
        seq: PersistSeq(4),
        reason: "401".into(),
    };
    assert_eq!(
        run_store_action(&mut store, &quarantine),
        Some(StoreResult::Quarantined(PersistSeq(4)))
    );
    assert_eq!(store.quarantined.get(&4).map(String::as_str), Some("401"));
    let close = Action::CloseTransport { id: TransportId(1) };
    assert_eq!(run_store_action(&mut store, &close), None);
}

#[test]
fn shutdown_of_a_live_connection_stops_with_local_shutdown() {
    let now = t0();
    let mut d = driver(now);
    d.command(Command::Connect, now).unwrap();
    d.take_outbox();
    d.shutdown(now);
    assert!(d.is_closing());
    assert!(matches!(d.state(), State::Stopped(_)));
    assert!(
        d.take_outbox()
            .iter()
            .any(|o| matches!(o, Output::Event(Event::Stopped { .. })))
    );
}

#[test]
fn shutdown_of_an_idle_connection_just_closes() {
    let now = t0();
    let mut d = driver(now);
    d.take_outbox();
    d.shutdown(now);
    assert!(d.is_closing());
    assert_eq!(d.state(), State::Idle);
}

#[test]
fn options_validate_rejects_a_bad_endpoint_and_a_bad_explicit_proxy() {
    use tether_core::driver::{Options, StartError};
    use tether_core::proxy::ProxySetting;
    let good = Config::for_server("ws://127.0.0.1:9/ws/chat", [1; 32]);
    assert!(Options::default().validate(&good).is_ok());
    let bad = Config::for_server("127.0.0.1:9", [1; 32]);
    assert!(matches!(
        Options::default().validate(&bad),
        Err(StartError::Endpoint(_))
    ));
    let mut options = Options::default();
    options.proxy = ProxySetting::Url("ftp://proxy:21".into());
    assert!(matches!(options.validate(&good), Err(StartError::Proxy(_))));
}

#[test]
fn a_panicked_store_call_answers_failed_for_its_sequence() {
    use tether_core::driver::{StoreOp, store_panicked, store_seq};
    let persist = Action::PersistCredentials {
        seq: PersistSeq(9),
        delta: CredentialsDelta::default(),
    };
    assert_eq!(store_seq(&persist), Some(StoreOp::Seq(PersistSeq(9))));
    assert_eq!(
        store_seq(&Action::CloseTransport { id: TransportId(1) }),
        None
    );
    match store_panicked(store_seq(&persist), "boom") {
        Some(Input::Store(StoreResult::Failed { seq, error })) => {
            assert_eq!(seq, PersistSeq(9));
            assert!(error.message.contains("boom"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(store_panicked(None, "boom").is_none());
    let load = Action::LoadRecords {
        id: tether_core::creds::LoadId(4),
        reads: Vec::new(),
    };
    match store_panicked(store_seq(&load), "boom") {
        Some(Input::Store(StoreResult::LoadFailed { id, error })) => {
            assert_eq!(id, tether_core::creds::LoadId(4));
            assert!(error.message.contains("boom"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn seed_or_prefers_the_explicit_seed_and_reports_entropy_failures() {
    use tether_core::driver::{Options, StartError};
    let mut options = Options::default();
    let drawn = options.seed_or(|buf| {
        buf.fill(7);
        Ok(())
    });
    assert_eq!(drawn.unwrap(), [7; 32]);
    let failed = options.seed_or(|_| Err("no entropy".into()));
    assert!(matches!(failed, Err(StartError::Entropy(m)) if m == "no entropy"));
    options.seed = Some([3; 32]);
    let explicit = options.seed_or(|_| panic!("the explicit seed needs no entropy"));
    assert_eq!(explicit.unwrap(), [3; 32]);
}

#[test]
fn take_turn_hands_over_jobs_deadline_and_closing_together() {
    use tether_core::driver::Job;
    let now = t0();
    let mut d = driver(now);
    let (jobs, deadline, closing) = d.take_turn();
    assert!(
        matches!(jobs[..], [Job::Store(Action::PersistCredentials { .. })]),
        "the fresh credentials persist is queued: {jobs:?}"
    );
    assert_eq!(deadline, d.deadline());
    assert!(!closing);
    assert!(d.take_outbox().is_empty());
    d.shutdown(now);
    assert!(d.take_turn().2);
}

#[test]
fn lock_takes_over_a_poisoned_driver() {
    use std::sync::Mutex;
    use tether_core::driver::lock;
    let shared = Mutex::new(driver(t0()));
    let _ = std::panic::catch_unwind(|| {
        let _guard = shared.lock().unwrap();
        panic!("a holder panicked");
    });
    assert!(shared.is_poisoned());
    assert_eq!(lock(&shared).state(), State::Idle);
}

#[test]
fn dial_errors_name_their_target_and_proxy() {
    use tether_core::driver::DialError;
    let io = DialError::io("example.com:443")(std::io::Error::other("refused"));
    assert_eq!(io.to_string(), "cannot reach example.com:443: refused");
    let socks = DialError::socks(&"proxy:1080", &"auth failed");
    assert_eq!(
        socks.to_string(),
        "socks5 proxy proxy:1080 failed: auth failed"
    );
}

#[test]
fn take_turn_tracks_the_current_transport() {
    use tether_core::driver::Job;
    let now = t0();
    let mut d = driver(now);
    let mut store = Recorder::default();
    d.command(Command::Connect, now).unwrap();
    for job in d.take_turn().0 {
        if let Job::Store(action) = job {
            let result = run_store_action(&mut store, &action).unwrap();
            d.handle(Input::Store(result), now);
        }
    }
    let jobs = d.take_turn().0;
    let id = jobs
        .iter()
        .find_map(|j| match j {
            Job::Open { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    d.handle(Input::Opened(id), now);
    let jobs = d.take_turn().0;
    assert!(
        jobs.iter()
            .any(|j| matches!(j, Job::Transmit(b) if !b.is_empty())),
        "the intro and client hello go to the current transport: {jobs:?}"
    );
    d.shutdown(now);
    let jobs = d.take_turn().0;
    assert!(
        jobs.iter().any(|j| matches!(j, Job::Close)),
        "shutdown closes the current transport: {jobs:?}"
    );
    // A stale transport's bytes are no longer anyone's.
    d.handle(Input::Bytes(id, bytes::Bytes::from_static(b"x")), now);
    assert!(
        !d.take_turn()
            .0
            .iter()
            .any(|j| matches!(j, Job::Transmit(_) | Job::Close))
    );
}

#[test]
fn client_command_refuses_after_the_driver_ended_and_passes_core_refusals() {
    use std::sync::Mutex;
    use tether_core::driver::{ClientError, client_command};
    let now = t0();
    let shared = Mutex::new(driver(now));
    assert!(matches!(
        client_command(&shared, true, Command::Connect, now),
        Err(ClientError::Ended)
    ));
    assert_eq!(shared.lock().unwrap().state(), State::Idle);
    client_command(&shared, false, Command::Connect, now).unwrap();
    assert_eq!(shared.lock().unwrap().state(), State::Connecting);
    assert!(matches!(
        client_command(&shared, false, Command::Connect, now),
        Err(ClientError::Command(_))
    ));
}
