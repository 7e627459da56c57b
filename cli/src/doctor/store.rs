//! Store checks: present, owner lock, intact (the store's own read-only integrity check),
//! schema, credentials complete, client version in use.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tether_core::payload::DEFAULT_VERSION;
use tether_store_redb::SCHEMA_VERSION;

use super::Check;
use crate::cmd::status::from_report;
use crate::config::Settings;
use crate::control::{self, AskError, Request};
use crate::paths;
use crate::snapshot::DAMAGED_ADVICE;

/// Runs the store checks; returns them and the status they saw (for the clock check).
pub(crate) fn checks(path: &Path, settings: &Settings) -> (Vec<Check>, Value) {
    let mut out = Vec::new();
    if std::fs::symlink_metadata(path).is_err() {
        out.push(Check::fail(
            "store",
            format!("no store at {}", path.display()),
            "link this computer with `tether run` (or import a Baileys session with `tether import baileys DIR`); \
             if the store lives elsewhere, pass --store PATH or set sessionStore.path",
        ));
        return (out, Value::Null);
    }
    out.push(Check::pass("store", format!("{} exists", path.display())));
    let live = match control::ask(
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
            Some(s)
        }
        Err(AskError::Failed(e)) => {
            out.push(Check::fail(
                "owner lock",
                e,
                "the owner is hung or crashed mid-way: `tether stop` (it falls back to SIGTERM), then start it again",
            ));
            None
        }
        Err(AskError::Untrusted(e)) => {
            out.push(Check::fail(
                "control socket",
                e,
                "remove the socket file if no instance of yours runs, and make the store's directory private (`chmod 700`)",
            ));
            None
        }
        Err(AskError::NoOwner) => None,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        out.push(if control::writable_by_others(dir) {
            Check::fail(
                "store directory",
                format!(
                    "{} is writable by other users: they could plant a control socket or replace files beside the store",
                    dir.display()
                ),
                format!("make it private: `chmod 700 {}`", dir.display()),
            )
        } else {
            Check::pass(
                "store directory",
                format!("{} is writable only by its owner", dir.display()),
            )
        });
    }
    let report = tether_store_redb::check(path);
    if live.is_none() {
        out.push(match &report.owner {
            Some(o) => Check::fail(
                "owner lock",
                format!("held by {o}, which does not answer on a control socket"),
                "if it is an old tether or another program, stop it; `tether stop` signals the pid recorded in <store>.owner",
            ),
            None => Check::pass("owner lock", "free: no instance runs on this store"),
        });
    }
    // Damage redb itself sees (the file, its pages) leaves nothing else to check: the
    // identity, schema and version below would only guess.
    let unreadable = report
        .items
        .iter()
        .any(|i| !i.ok && matches!(i.what.as_str(), "file" | "pages"));
    for item in report
        .items
        .iter()
        .filter(|i| !matches!(i.what.as_str(), "owner" | "schema" | "status"))
    {
        out.push(if item.ok {
            Check::pass(format!("store {}", item.what), item.detail.clone())
        } else if unreadable {
            Check::fail(
                format!("store {}", item.what),
                item.detail.clone(),
                DAMAGED_ADVICE,
            )
        } else {
            Check::fail(
                format!("store {}", item.what),
                item.detail.clone(),
                "restore the last good backup (`tether restore FILE`), or set the session aside and link again (`tether relink`)",
            )
        });
    }
    if unreadable {
        let status = live.unwrap_or_else(|| from_report(&report));
        return (out, status);
    }
    out.push(match report.schema_version {
        Some(v) if v == SCHEMA_VERSION => Check::pass("schema version", format!("{v} (current)")),
        Some(v) if v < SCHEMA_VERSION => Check::pass(
            "schema version",
            format!("{v}; the next open migrates it to {SCHEMA_VERSION}"),
        ),
        Some(v) => Check::fail(
            "schema version",
            format!("{v}, newer than this build's {SCHEMA_VERSION}"),
            "run the newer tether that wrote this store (it was left untouched)",
        ),
        None => Check::note(
            "schema version",
            "not written yet (the first `tether run` writes it)",
        ),
    });
    let status = live.unwrap_or_else(|| from_report(&report));
    out.push(last_disconnect(&status));
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

fn credentials(account: &Value) -> Check {
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
    let compiled = if from == "the compiled default" {
        String::new()
    } else {
        format!("; compiled default {DEFAULT_VERSION}")
    };
    Check::pass(
        "client version",
        format!("{in_use} ({from}{compiled}; a 405 'client outdated' refreshes it automatically)"),
    )
}

fn last_disconnect(status: &Value) -> Check {
    let rec = if status["live"].is_object() {
        &status["live"]
    } else {
        &status["record"]
    };
    match rec["last_reason"].as_object() {
        None => Check::note("last disconnect", "none recorded"),
        Some(r) => {
            let code = crate::snapshot::ReasonJson::code_text(
                r.get("code").and_then(Value::as_u64),
                r.get("local") == Some(&json!(true)),
            );
            let what = r.get("reason").and_then(Value::as_str).unwrap_or("?");
            let line = match r.get("detail").and_then(Value::as_str) {
                Some(detail) => format!("{code} ({what}): {detail}"),
                None => format!("{code} ({what})"),
            };
            if r.get("terminal") == Some(&json!(true)) {
                Check::fail(
                    "last disconnect",
                    line,
                    r.get("advice")
                        .and_then(Value::as_str)
                        .unwrap_or("see `tether status`")
                        .to_owned(),
                )
            } else {
                Check::note("last disconnect", format!("{line}; recovered by itself"))
            }
        }
    }
}
