//! Store checks: present, owner lock, intact, schema, credentials complete, client version.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tether_core::payload::DEFAULT_VERSION;
use tether_store_redb::{RedbStore, RedbStoreError, SCHEMA_VERSION};

use super::Check;
use crate::config::Settings;
use crate::control::{self, AskError, Request};
use crate::paths;
use crate::store::{self, Sidecar};

/// Runs the store checks; returns them and the status they saw (for the clock check).
pub(crate) fn checks(path: &Path, settings: &Settings) -> (Vec<Check>, Value) {
    let mut out = Vec::new();
    if !path.exists() {
        out.push(Check::fail(
            "store",
            format!("no store at {}", path.display()),
            "link this computer with `tether run` (or import a Baileys session with `tether import baileys DIR`); \
             if the store lives elsewhere, pass --store PATH or set sessionStore.path",
        ));
        return (out, Value::Null);
    }
    out.push(Check::pass("store", format!("{} exists", path.display())));
    let status = match control::ask(
        &paths::socket_path(path),
        &Request::Status,
        Duration::from_secs(5),
    ) {
        Ok(mut answer) => {
            let s = answer["status"].take();
            out.push(Check::pass(
                "owner lock",
                format!(
                    "held by the running instance {} (it answers on its control socket)",
                    owner_text(&s["owner"])
                ),
            ));
            out.push(Check::pass(
                "store intact",
                "the running owner reads and writes it",
            ));
            out.push(Check::pass(
                "schema version",
                format!("{SCHEMA_VERSION} (opened by the owner)"),
            ));
            s
        }
        Err(ask) => {
            let last = Sidecar::read(path);
            match RedbStore::open(path) {
                Ok(opened) => offline_checks(opened, &mut out, ask, last),
                Err(e) => {
                    out.push(open_failure(path, &e));
                    return (out, Value::Null);
                }
            }
        }
    };
    out.push(credentials(&status["account"]));
    out.push(version(&status["account"], settings));
    (out, status)
}

fn owner_text(owner: &Value) -> String {
    match owner["pid"].as_u64() {
        Some(pid) => format!("pid {pid} on {}", owner["host"].as_str().unwrap_or("?")),
        None => "(pid unknown)".into(),
    }
}

fn offline_checks(
    opened: RedbStore,
    out: &mut Vec<Check>,
    ask: AskError,
    last: Option<Sidecar>,
) -> Value {
    let path = opened.path().to_owned();
    let lock = match (&ask, last) {
        (AskError::Failed(e), _) => Check::fail(
            "owner lock",
            format!("a control socket exists but failed: {e}"),
            "an owner crashed and left its socket behind, or it is hung; `tether stop`, then retry",
        ),
        (_, Some(s)) => Check::pass(
            "owner lock",
            format!(
                "free: no instance runs (the last owner, pid {}, ended without cleaning up)",
                s.pid
            ),
        ),
        (_, None) => Check::pass("owner lock", "free: no instance runs"),
    };
    out.push(lock);
    let creds = opened.load_credentials();
    let quarantined = opened.list_quarantined().map(|q| q.len());
    let record = crate::status_record::read(&opened);
    drop(opened);
    match (&creds, &quarantined) {
        (Ok(_), Ok(_)) => out.push(Check::pass("store intact", "credentials and quarantine read back")),
        (Err(e), _) | (_, Err(e)) => out.push(Check::fail(
            "store intact",
            format!("reading failed: {e}"),
            "restore the last good backup with `tether restore FILE` (take one first with `tether backup`), or relink with `tether relink`",
        )),
    }
    out.push(Check::pass(
        "schema version",
        format!("{SCHEMA_VERSION} (current)"),
    ));
    let account = match creds {
        Ok(c) => store::account_json(c.as_ref().map(|(c, _)| c)),
        Err(_) => json!({"linked": false, "unreadable": true}),
    };
    json!({"store": path.display().to_string(), "account": account, "record": record, "live": null})
}

fn open_failure(path: &Path, e: &RedbStoreError) -> Check {
    match e {
        RedbStoreError::InUse { .. } => Check::fail(
            "owner lock",
            format!("{e}"),
            "the holder does not answer on its control socket; if it is a running `tether run`, stop it with `tether stop`",
        ),
        RedbStoreError::NewerSchema { found, .. } => Check::fail(
            "schema version",
            format!("{found}, newer than this build's {SCHEMA_VERSION}"),
            "run the newer tether that wrote this store (the store was left untouched)",
        ),
        _ => Check::fail(
            "store intact",
            format!("{} does not open: {e}", path.display()),
            "restore the last good backup with `tether restore FILE`, or move the file aside and relink with `tether run`",
        ),
    }
}

fn credentials(account: &Value) -> Check {
    if account["unreadable"] == json!(true) {
        return Check::fail("credentials", "unreadable", "see the store check above");
    }
    if account["linked"] != json!(true) {
        return Check::fail(
            "credentials",
            "not linked to an account",
            "run `tether run` and scan the QR code (or `tether run --pair-code PHONE`)",
        );
    }
    let jid = account["jid"].as_str().unwrap_or("?");
    let confirmed = if account["confirmed"] == json!(false) {
        ", not yet confirmed by a login"
    } else {
        ""
    };
    Check::pass(
        "credentials",
        format!(
            "linked as {jid}{confirmed}; {} pre-keys, {} app-state sync keys",
            account["pre_keys"].as_u64().unwrap_or(0),
            account["app_state_sync_keys"].as_u64().unwrap_or(0)
        ),
    )
}

fn version(account: &Value, settings: &Settings) -> Check {
    let stored = account["version"].as_str().map(str::to_owned);
    let configured = settings.version.map(|v| v.to_string());
    let (in_use, from) = match (configured, stored) {
        (Some(v), _) => (v, "from the config file"),
        (None, Some(v)) => (v, "learned after a 405 refresh"),
        (None, None) => (DEFAULT_VERSION.to_string(), "the compiled default"),
    };
    Check::pass(
        "client version",
        format!(
            "{in_use} ({from}; compiled default {DEFAULT_VERSION}; a 405 refreshes it automatically)"
        ),
    )
}
