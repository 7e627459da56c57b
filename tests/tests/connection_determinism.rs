//! Same seeds, same run: two steppers built alike produce the same trace, step for step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_sim::{Fault, Options, Record, Stepper, Traced};

/// A trace line without absolute instants (the base `Instant` differs between runs).
fn line(record: &Record) -> String {
    let what = match &record.what {
        Traced::Transmit { transport, len } => format!("tx {transport} {len}"),
        Traced::ServerReceived(id, node) => format!("rx {id} {node}"),
        Traced::Event(e) => {
            let text = format!("{e:?}");
            text.split("Instant").next().unwrap_or_default().to_owned()
        }
        other => format!("{other:?}"),
    };
    format!("{:?} {what}", record.at)
}

fn run(seed: u64) -> Vec<String> {
    let options = Options {
        seed,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    sim.link();
    sim.run_for(Duration::from_secs(40));
    sim.server.refuse_next_connects(2);
    let conn = sim.server_conn().unwrap();
    sim.server.inject(conn, Fault::AbruptClose, sim.now());
    sim.run_for(Duration::from_secs(120));
    sim.trace().iter().map(line).collect()
}

#[test]
fn same_seed_same_trace() {
    let a = run(11);
    let b = run(11);
    assert!(a.len() > 50);
    assert_eq!(a, b);
}

#[test]
fn another_seed_another_trace() {
    assert_ne!(run(11), run(12));
}
