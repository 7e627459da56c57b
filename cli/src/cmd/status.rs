//! `tether status`: linked? which account, last connected, last disconnect and its advice,
//! counters, clock skew. Asks the running owner over its control socket; reads the store itself
//! when no owner runs.

use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::control::{self, AskError, Request};
use crate::{Failure, StoreArgs, config, paths, snapshot, status_record};

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: StatusArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let status = gather(&path)?;
    if args.json {
        println!("{status}");
    } else {
        println!("{}", snapshot::render(&status));
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
        Err(AskError::Failed(e)) => tracing::warn!(target: "tether::status", "{e}"),
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
        })
    } else {
        json!({"linked": false})
    };
    json!({
        "store": r.path.display().to_string(),
        "schema_version": r.schema_version,
        "owner": r.owner.as_ref().map(|o| json!({"pid": o.pid, "host": o.host, "since": o.since})),
        "account": account,
        "live": Value::Null,
        "record": status_record::to_json(r.status.as_ref()),
        "quarantined": r.quarantined,
        "problems": r.problems(),
    })
}
