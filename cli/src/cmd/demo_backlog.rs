//! The last act of `tether demo`: a backlog that reaches the application exactly once across
//! a real `kill -9`. With the demo's own session shut down, the contact's phone writes
//! [`BACKLOG`] messages; a child `tether run --json` on the same store starts receiving them
//! and is killed with SIGKILL as soon as it printed [`KILL_AFTER`] of them; a second child
//! gets the rest. Every message must show up, each under one inbox position (a message run #1
//! printed but whose confirmation the kill cut off is printed again by run #2 under the same
//! position: the store holds it once), and no run prints one twice.
//!
//! ```text
//!  phone writes N ─► run #1 prints k ─► SIGKILL ─► run #2 prints the rest ─► stop (socket)
//!                                                    └► check: all N, one position each
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_core::binary::{Jid, Server};
use tether_sim::net::SimServer;

use crate::control::{self, Request};
use crate::output::Printer;
use crate::{Failure, paths};

/// Messages the phone writes while Tether is down.
const BACKLOG: usize = 6;
/// Run #1 is killed once it printed this many of them.
const KILL_AFTER: usize = 2;
/// How long one child may take to print what it should.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// One child `tether run --json` and its stdout lines.
struct RunChild {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for RunChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What one run printed of the backlog: id → inbox positions, in order.
type Printed = BTreeMap<String, Vec<u64>>;

fn spawn(server: &SimServer, store: &Path) -> Result<RunChild, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::runtime(format!("cannot find the tether binary to run: {e}")))?;
    let mut child = Command::new(exe)
        .args(["run", "--json", "--proxy", "off", "--server"])
        .arg(server.ws_url())
        .arg("--trust-root")
        .arg(hex::encode(server.root_public()))
        .arg("--store")
        .arg(store)
        .env_remove("TETHER_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Failure::runtime(format!("cannot start `tether run`: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failure::runtime("`tether run` has no stdout"))?;
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(RunChild { child, lines })
}

/// Records a `message` line of the backlog; `true` if it was one.
fn note(line: &str, backlog: &BTreeMap<String, String>, printed: &mut Printed) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    let (Some("message"), Some(id), Some(position)) = (
        v["event"].as_str(),
        v["id"].as_str(),
        v["position"].as_u64(),
    ) else {
        return false;
    };
    if !backlog.contains_key(id) {
        return false;
    }
    printed.entry(id.to_owned()).or_default().push(position);
    true
}

/// Reads `run`'s lines until `done(printed)` holds; fails after [`CHILD_LIMIT`].
fn read_until(
    run: &RunChild,
    which: usize,
    backlog: &BTreeMap<String, String>,
    printed: &mut Printed,
    done: impl Fn(&Printed) -> bool,
) -> Result<(), Failure> {
    let deadline = Instant::now() + CHILD_LIMIT;
    while !done(printed) {
        let left = deadline.saturating_duration_since(Instant::now());
        match run.lines.recv_timeout(left) {
            Ok(line) => {
                note(&line, backlog, printed);
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(Failure::runtime(format!(
                    "tether run #{which} printed {} of the {BACKLOG} backlog messages within {}s; \
                     run the demo again with TETHER_LOG=tether=debug to see why",
                    printed.len(),
                    CHILD_LIMIT.as_secs()
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::runtime(format!(
                    "tether run #{which} exited after printing {} of the {BACKLOG} backlog messages",
                    printed.len()
                )));
            }
        }
    }
    Ok(())
}

/// Runs the backlog act (see the module docs) on the demo's linked `store`.
pub(crate) fn run(server: &SimServer, store: &Path, printer: Printer) -> Result<(), Failure> {
    let phones = server.phones();
    let account = phones
        .first()
        .map(|p| Jid::user(&p.phone_number, Server::WhatsApp))
        .ok_or_else(|| Failure::runtime("the simulator has no phone"))?;
    printer.custom(
        "scenario",
        json!({"step": "backlog", "what": "a backlog across kill -9", "messages": BACKLOG}),
        &format!(
            "\n▶ Last: Tether is down and the contact writes {BACKLOG} messages; a `tether run` starts \
             receiving them and is killed with kill -9 (SIGKILL) after {KILL_AFTER}; a second one gets the rest"
        ),
    );
    let mut backlog = BTreeMap::new();
    for n in 1..=BACKLOG {
        let text = format!("backlog {n} of {BACKLOG}");
        let id = server
            .send_text(1, &account, &text)
            .map_err(|e| Failure::runtime(format!("the contact's phone could not write: {e}")))?;
        backlog.insert(id, text);
    }

    let mut first = Printed::new();
    let mut run1 = spawn(server, store)?;
    let pid1 = run1.child.id();
    read_until(&run1, 1, &backlog, &mut first, |p| p.len() >= KILL_AFTER)?;
    // Child::kill is SIGKILL on Unix: no handler runs, nothing is flushed or confirmed.
    run1.child
        .kill()
        .map_err(|e| Failure::runtime(format!("cannot kill tether run #1 (pid {pid1}): {e}")))?;
    let _ = run1.child.wait();
    // What it wrote before dying is still in the pipe.
    while let Ok(line) = run1.lines.recv_timeout(Duration::from_secs(5)) {
        note(&line, &backlog, &mut first);
    }
    printer.custom(
        "killed",
        json!({"run": 1, "pid": pid1, "signal": "SIGKILL", "printed": first.len()}),
        &format!(
            "  ☠ kill -9 tether run #1 (pid {pid1}) after it printed {} of {BACKLOG}",
            first.len()
        ),
    );

    let mut second = Printed::new();
    let run2 = spawn(server, store)?;
    let pid2 = run2.child.id();
    read_until(&run2, 2, &backlog, &mut second, |p| {
        backlog
            .keys()
            .all(|id| p.contains_key(id) || first.contains_key(id))
    })?;
    let stopped = control::ask(
        &paths::socket_path(store),
        &Request::Stop,
        Duration::from_secs(5),
    );
    let mut run2 = run2;
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(run2.child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    while let Ok(line) = run2.lines.recv_timeout(Duration::from_millis(200)) {
        note(&line, &backlog, &mut second);
    }
    if let Err(e) = stopped {
        tracing::warn!(target: "tether::demo", "tether run #2 (pid {pid2}) did not take the stop request: {e:?}");
    }
    verdict(&backlog, &first, &second, printer)
}

/// Checks and prints what arrived: every message, under one position, once per run.
fn verdict(
    backlog: &BTreeMap<String, String>,
    first: &Printed,
    second: &Printed,
    printer: Printer,
) -> Result<(), Failure> {
    let mut again = Vec::new();
    let mut arrived = Vec::new();
    for (id, text) in backlog {
        let positions: Vec<u64> = [first.get(id), second.get(id)]
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .collect();
        let Some(&position) = positions.first() else {
            return Err(Failure::runtime(format!(
                "“{text}” ({id}) never arrived: a lost message (please report this)"
            )));
        };
        if [first.get(id), second.get(id)]
            .into_iter()
            .flatten()
            .any(|p| p.len() > 1)
        {
            return Err(Failure::runtime(format!(
                "“{text}” ({id}) was printed twice by one run: a duplicated message (please report this)"
            )));
        }
        if positions.iter().any(|p| *p != position) {
            return Err(Failure::runtime(format!(
                "“{text}” ({id}) was stored twice (inbox positions {positions:?}): a duplicated \
                 message (please report this)"
            )));
        }
        let run = if first.contains_key(id) { 1 } else { 2 };
        if first.contains_key(id) && second.contains_key(id) {
            again.push(id.clone());
        }
        arrived.push((position, id, text, run));
    }
    // In the order the store holds them (the order the phone wrote them).
    arrived.sort_unstable();
    for (position, id, text, run) in arrived {
        printer.custom(
            "backlog_message",
            json!({"id": id, "text": text, "position": position, "run": run, "again": again.contains(id)}),
            &format!("  ✓ “{text}” (inbox #{position}) arrived in run #{run}"),
        );
    }
    let note = if again.is_empty() {
        String::new()
    } else {
        format!(
            "; {} printed by run #1 came again from run #2 under the same position (the kill cut \
             off its confirmation: an application deduplicates by position)",
            again.len()
        )
    };
    printer.custom(
        "backlog_done",
        json!({"messages": backlog.len(), "run1": first.len(), "run2": second.len(), "again": again}),
        &format!(
            "  All {} arrived, each stored once{note}.",
            backlog.len()
        ),
    );
    Ok(())
}
