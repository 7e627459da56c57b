//! `tether import baileys DIR` and `tether export baileys DIR`: move an identity from and to a
//! Baileys multi-file auth directory (`creds.json` plus one JSON file per key).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use tether_store_redb::{BaileysError, BaileysImport, BaileysSummary, ImportOptions};

use crate::store;
use crate::{Failure, StoreArgs, config};

#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Import a Baileys multi-file auth directory (useMultiFileAuthState) into the store.
    #[command(
        after_help = "Examples:\n  tether import baileys ./auth_info_baileys --store ~/.tether/whatsapp.redb\n  \
        tether import baileys ./auth_info_baileys --skip-corrupt   # salvage a damaged directory\n\n\
        Stop the Baileys process first: two clients on one identity replace each other (440)."
    )]
    Baileys(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Export the store's identity as a Baileys multi-file auth directory (DIR must be empty or missing).
    #[command(
        after_help = "Example:\n  tether export baileys ./auth_info_baileys\n\n\
        Stop `tether run` first if you mean to run Baileys on the exported identity."
    )]
    Baileys(TransferArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
    /// The Baileys auth directory
    pub(crate) dir: PathBuf,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
    /// Import creds.json and every usable key file, skipping (and listing) corrupt, oversized
    /// or unreadable ones instead of refusing the import.
    #[arg(long)]
    pub(crate) skip_corrupt: bool,
}

fn summary_json(s: &BaileysSummary) -> serde_json::Value {
    json!({
        "jid": s.jid,
        "pre_keys": s.pre_keys,
        "app_state_sync_keys": s.app_state_sync_keys,
        "app_state_versions": s.app_state_versions,
        "sessions": s.sessions,
        "sender_keys": s.sender_keys,
        "other_files": s.other_files,
    })
}

fn summary(s: &BaileysSummary) -> String {
    format!(
        "{}: {} pre-keys, {} app-state sync keys, {} app-state versions, {} sessions, {} sender keys, {} other files",
        s.jid.as_deref().unwrap_or("an unpaired identity"),
        s.pre_keys,
        s.app_state_sync_keys,
        s.app_state_versions,
        s.sessions,
        s.sender_keys,
        s.other_files
    )
}

pub(crate) fn import(cmd: ImportCommand) -> Result<(), Failure> {
    let ImportCommand::Baileys(ImportArgs {
        transfer: args,
        skip_corrupt,
    }) = cmd;
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let options = ImportOptions {
        skip_corrupt,
        ..ImportOptions::default()
    };
    // Everything is read and checked before the store is touched: a directory that cannot be
    // imported leaves no store file behind.
    let read = BaileysImport::read(&args.dir, &options)
        .map_err(|e| baileys_failure(&format!("import from {}", args.dir.display()), &e))?;
    let s = read
        .install_into(&path)
        .map_err(|e| baileys_failure(&format!("import from {}", args.dir.display()), &e))?;
    let mut human = vec![format!("Imported {} into {}.", summary(&s), path.display())];
    if !s.skipped.is_empty() {
        human.push(format!(
            "Skipped {} entries of {}:",
            s.skipped.len(),
            args.dir.display()
        ));
        human.extend(s.skipped.iter().map(|skipped| format!("  {skipped}")));
    }
    human.push(format!(
        "Start it with `tether run --store {}` (stop the Baileys process first).",
        path.display()
    ));
    let mut value = summary_json(&s);
    value["store"] = json!(path.display().to_string());
    value["dir"] = json!(args.dir.display().to_string());
    value["skipped"] = json!(
        s.skipped
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    crate::output::result(args.json, value, &human);
    Ok(())
}

/// An import or export error as a failure: the input's fault exits 2, the store's 1.
fn baileys_failure(what: &str, e: &BaileysError) -> Failure {
    let message = format!("{what} failed: {e}");
    if e.is_input() {
        Failure::input(message)
    } else {
        Failure::runtime(message)
    }
}

pub(crate) fn export(cmd: ExportCommand) -> Result<(), Failure> {
    let ExportCommand::Baileys(args) = cmd;
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    // While an instance runs, export from a consistent copy it makes.
    let copy = crate::cmd::backup::owner_snapshot(&path)?;
    let opened = store::open_reader(copy.as_ref().map_or(&path, |c| &c.path))?;
    let s = opened
        .export_baileys(&args.dir)
        .map_err(|e| baileys_failure(&format!("export to {}", args.dir.display()), &e))?;
    let mut value = summary_json(&s);
    value["store"] = json!(path.display().to_string());
    value["dir"] = json!(args.dir.display().to_string());
    crate::output::result(
        args.json,
        value,
        &[format!(
            "Exported {} to {}.",
            summary(&s),
            args.dir.display()
        )],
    );
    Ok(())
}
