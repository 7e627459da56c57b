//! `tether status`: linked? which account, last connected, last disconnect with its cause and
//! advice, counters, clock skew, a ban's end. Asks the running owner over its control socket;
//! reads the store itself when no owner runs. A damaged store is reported first.
//!
//! `status --check` is a health check for supervisors and load balancers: it prints one line
//! and exits
//!
//! | code | meaning |
//! |---|---|
//! | 0 | an instance runs and is connected |
//! | 10 | an instance runs but is not connected (connecting, pairing, waiting to reconnect) |
//! | 11 | an instance runs but has stopped (a terminal reason; it is exiting) |
//! | 12 | no instance runs on this store |
//! | 13 | the store is damaged (reported before anything else) |

use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::control::{self, AskError, Request};
use crate::{Failure, StoreArgs, config, paths, snapshot};

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Health check: one line, exit 0 only when connected (10 not connected, 11 stopped, 12 no
    /// instance running, 13 store damaged)
    #[arg(long)]
    pub(crate) check: bool,
}

/// `status --check` exit codes.
pub(crate) const CHECK_NOT_CONNECTED: u8 = 10;
/// The owner has stopped.
pub(crate) const CHECK_STOPPED: u8 = 11;
/// No instance runs.
pub(crate) const CHECK_NO_OWNER: u8 = 12;
/// The store is damaged.
pub(crate) const CHECK_DAMAGED: u8 = 13;

pub(crate) fn run(args: StatusArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let status = gather(&path)?;
    if args.check {
        let (code, line) = health(&status);
        if args.json {
            outln!(
                "{}",
                json!({"check": code, "healthy": code == 0, "summary": line})
            );
        } else {
            outln!("{line}");
        }
        return if code == 0 {
            Ok(())
        } else {
            Err(Failure::quiet(code))
        };
    }
    if args.json {
        outln!("{status}");
    } else {
        outln!("{}", snapshot::render(&status));
    }
    if is_damaged(&status) {
        // The output above says what is wrong and what to do.
        return Err(Failure::quiet(1));
    }
    Ok(())
}

/// Whether the status found damage in the store file.
pub(crate) fn is_damaged(status: &Value) -> bool {
    status["problems"].as_array().is_some_and(|p| !p.is_empty())
}

/// The `--check` verdict: the exit code and one line.
pub(crate) fn health(status: &Value) -> (u8, String) {
    let store = status["store"].as_str().unwrap_or("?");
    if let Some(p) = status["problems"].as_array().filter(|p| !p.is_empty()) {
        let first = p.first().and_then(Value::as_str).unwrap_or("?");
        return (
            CHECK_DAMAGED,
            format!("DAMAGED {store}: {first}; {}", snapshot::DAMAGED_ADVICE),
        );
    }
    let live = &status["live"];
    match live["state"].as_str() {
        Some("connected") => (
            0,
            format!("OK connected as {}", live["jid"].as_str().unwrap_or("?")),
        ),
        Some("stopped" | "stopping") => (
            CHECK_STOPPED,
            format!("STOPPED {}", live_of(live).status_line()),
        ),
        Some(_) => (
            CHECK_NOT_CONNECTED,
            format!("NOT CONNECTED {}", live_of(live).status_line()),
        ),
        None => (
            CHECK_NO_OWNER,
            format!("NO INSTANCE runs on {store}; start it with `tether run`"),
        ),
    }
}

/// The live status back from its JSON (for the one-line summary).
fn live_of(v: &Value) -> snapshot::LiveStatus {
    snapshot::LiveStatus {
        state: v["state"].as_str().unwrap_or("?").to_owned(),
        jid: v["jid"].as_str().map(str::to_owned),
        attempt: v["attempt"]
            .as_u64()
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        last_reason: serde_json::from_value(v["last_reason"].clone()).ok(),
        ..snapshot::LiveStatus::default()
    }
}

/// The status of the store at `path`, from its running owner or from the file.
pub(crate) fn gather(path: &std::path::Path) -> Result<Value, Failure> {
    match control::ask(
        &paths::socket_path(path),
        &Request::Status,
        Duration::from_secs(5),
    ) {
        Ok(mut answer) => {
            let status = answer["status"].take();
            return Ok(status);
        }
        // An untrusted socket is never believed: the store itself is read instead.
        Err(AskError::Failed(e) | AskError::Untrusted(e)) => {
            tracing::warn!(target: "tether::status", "{e}");
        }
        Err(AskError::NoOwner) => {}
    }
    offline(path)
}

/// Reads the status from the store file, read-only and without taking ownership (no owner
/// answers on the control socket).
pub(crate) fn offline(path: &std::path::Path) -> Result<Value, Failure> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(json!({
            "store": path.display().to_string(),
            "exists": false,
            "owner": Value::Null,
            "account": {"linked": false},
            "live": Value::Null,
            "record": Value::Null,
        }));
    }
    Ok(from_report(&tether_store_redb::check(path)))
}

/// The status JSON of an integrity report.
pub(crate) fn from_report(r: &tether_store_redb::IntegrityReport) -> Value {
    let account = if r.paired {
        json!({
            "linked": true,
            "jid": r.jid,
            "lid": r.lid,
            "confirmed": r.confirmed,
            "pre_keys": r.counts.pre_keys,
            "app_state_sync_keys": r.counts.app_state_sync_keys,
            "messaging_records": r
                .messaging
                .iter()
                .map(|(name, n)| ((*name).to_owned(), json!(n)))
                .collect::<serde_json::Map<String, Value>>(),
        })
    } else {
        json!({"linked": false})
    };
    json!({
        "store": r.path.display().to_string(),
        "schema_version": r.schema_version,
        "owner": r.owner.as_ref().map(|o| json!({"pid": o.pid, "host": o.host, "since_ms": o.since.saturating_mul(1000)})),
        "server": r.server.as_ref().map(crate::store::binding_json),
        "account": account,
        "live": Value::Null,
        "record": tether_control::status::record::to_json(r.status.as_ref()),
        "quarantined": r.quarantined,
        "problems": r.problems(),
    })
}
