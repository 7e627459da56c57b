//! `tether quarantine list|restore`: the identities a logout, a 401 or a `relink` set aside
//! (kept in the store, never deleted), and bringing one back as the live session — the rollback
//! of a `relink`. Both need the store to themselves (stop a running instance first).

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tether_store_redb::{QuarantineEntry, RedbStore, RedbStoreError};

use crate::{Failure, StoreArgs, config, snapshot, store};

/// `tether quarantine …`
#[derive(Debug, Subcommand)]
pub(crate) enum QuarantineCommand {
    /// List the identities set aside: id, when, why and which account.
    #[command(after_help = "Example:\n  tether quarantine list")]
    List(ListArgs),
    /// Make quarantined identity ID the live session again (with --swap, the live one is set
    /// aside in the same step).
    #[command(after_help = "Examples:\n  tether quarantine restore 1\n  \
                            tether quarantine restore 1 --swap   # roll back a relink")]
    Restore(RestoreArgs),
}

/// Arguments of `tether quarantine list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `tether quarantine restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The id `tether quarantine list` shows.
    #[arg(value_name = "ID")]
    pub(crate) id: u64,
    /// When the store holds a live session, quarantine it and restore ID in one transaction.
    #[arg(long)]
    pub(crate) swap: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs a `tether quarantine` subcommand.
pub(crate) fn run(command: QuarantineCommand) -> Result<(), Failure> {
    match command {
        QuarantineCommand::List(args) => list(args),
        QuarantineCommand::Restore(args) => restore(args),
    }
}

fn list(args: ListArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    // While an instance runs, read a consistent copy it makes (the store stays its own).
    let copy = crate::cmd::backup::owner_snapshot(&path)?;
    let opened = store::open_reader(copy.as_ref().map_or(&path, |c| &c.path))?;
    let entries = entries(&opened)?;
    drop(opened);
    if args.json {
        let rows: Vec<Value> = entries.iter().map(entry_json).collect();
        outln!("{}", Value::Array(rows));
        return Ok(());
    }
    if entries.is_empty() {
        outln!("No identities are quarantined in {}.", path.display());
        return Ok(());
    }
    outln!("{:<4} {:<24} {:<28} account", "id", "set aside", "why");
    for e in &entries {
        outln!(
            "{:<4} {:<24} {:<28} {}",
            e.id,
            snapshot::format_unix(e.at_unix),
            e.why,
            e.jid.as_deref().unwrap_or("(never linked)")
        );
    }
    outln!(
        "\nBring one back with `tether quarantine restore ID` (add --swap to set the live one aside)."
    );
    Ok(())
}

fn restore(args: RestoreArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let opened = store::open_existing(&path)?;
    let kept = entries(&opened)?;
    let Some(wanted) = kept.iter().find(|e| e.id == args.id) else {
        return Err(Failure::input(format!(
            "no quarantined identity has id {} in {}; `tether quarantine list` shows the ids",
            args.id,
            path.display()
        )));
    };
    let account = wanted.jid.clone().unwrap_or_else(|| "never linked".into());
    let result = if args.swap {
        opened.swap_quarantined(args.id, &format!("swapped for quarantined {}", args.id))
    } else {
        opened.restore_quarantined(args.id).map(|()| None)
    };
    let set_aside = match result {
        Ok(set_aside) => set_aside,
        Err(RedbStoreError::RestoreOverLive { .. }) => {
            return Err(Failure::runtime(format!(
                "{} holds a live session, and restoring identity {} would replace it; add \
                 --swap to set the live one aside (kept in quarantine) and restore {} in one \
                 step",
                path.display(),
                args.id,
                args.id
            )));
        }
        Err(e) => {
            return Err(Failure::runtime(format!(
                "cannot restore quarantined identity {}: {e}",
                args.id
            )));
        }
    };
    let mut human = vec![format!(
        "Restored quarantined identity {} ({account}) as the live session of {}.",
        args.id,
        path.display()
    )];
    let mut aside_jid = None;
    if let Some(id) = set_aside {
        aside_jid = entries(&opened)?
            .into_iter()
            .find(|e| e.id == id)
            .and_then(|e| e.jid);
        human.push(format!(
            "The session that was live ({}) is quarantined as id {id}.",
            aside_jid.as_deref().unwrap_or("never linked")
        ));
    }
    human.push(
        "Start it with `tether run`. If WhatsApp removed this linked device meanwhile, the login \
         fails with 401 and the session is quarantined again."
            .to_owned(),
    );
    crate::output::result(
        args.json,
        json!({
            "store": path.display().to_string(),
            "restored": {"id": args.id, "jid": wanted.jid},
            "set_aside": set_aside.map(|id| json!({"id": id, "jid": aside_jid})),
        }),
        &human,
    );
    Ok(())
}

fn entries(opened: &RedbStore) -> Result<Vec<QuarantineEntry>, Failure> {
    opened
        .list_quarantined()
        .map_err(|e| Failure::runtime(format!("cannot list the quarantined identities: {e}")))
}

fn entry_json(e: &QuarantineEntry) -> Value {
    json!({
        "id": e.id,
        "at_ms": e.at_unix.saturating_mul(1000),
        "why": e.why,
        "jid": e.jid,
    })
}
