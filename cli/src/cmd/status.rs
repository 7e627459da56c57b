//! `tether status`: linked? which account, last connected, last disconnect and its advice,
//! counters, clock skew. Asks the running owner over its control socket; reads the store itself
//! when no owner runs.

use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::control::{self, AskError, Request};
use crate::store::{self, Sidecar};
use crate::{Failure, StoreArgs, config, paths, snapshot};

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
    Ok(())
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

/// Reads the status from the store file (no owner runs).
pub(crate) fn offline(path: &std::path::Path) -> Result<Value, Failure> {
    if !path.exists() {
        return Ok(json!({
            "store": path.display().to_string(),
            "exists": false,
            "owner": Value::Null,
            "account": {"linked": false},
            "live": Value::Null,
            "record": Value::Null,
        }));
    }
    let store = store::open_existing(path)?;
    let creds = store
        .load_credentials()
        .map_err(|e| Failure::runtime(format!("cannot read the credentials: {e}")))?;
    let quarantined = store.list_quarantined().map(|q| q.len()).unwrap_or(0);
    let record = crate::status_record::read(&store);
    drop(store);
    let last_owner = Sidecar::read(path).map(|s| s.to_json());
    Ok(json!({
        "store": path.display().to_string(),
        "owner": Value::Null,
        "last_owner": last_owner,
        "account": store::account_json(creds.as_ref().map(|(c, _)| c)),
        "live": Value::Null,
        "record": record,
        "quarantined": quarantined,
    }))
}
