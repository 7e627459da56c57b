//! `tether import baileys DIR` and `tether export baileys DIR`: move an identity from and to a
//! Baileys multi-file auth directory (`creds.json` plus one JSON file per key).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tether_store_redb::BaileysSummary;

use crate::store::{self};
use crate::{Failure, StoreArgs, config};

#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Import a Baileys multi-file auth directory (useMultiFileAuthState) into the store.
    #[command(
        after_help = "Example:\n  tether import baileys ./auth_info_baileys --store ~/.tether/whatsapp.redb\n\n\
        Stop the Baileys process first: two clients on one identity replace each other (440)."
    )]
    Baileys(TransferArgs),
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
    let ImportCommand::Baileys(args) = cmd;
    if !args.dir.join("creds.json").is_file() {
        return Err(Failure::input(format!(
            "{} has no creds.json; give the directory Baileys' useMultiFileAuthState wrote",
            args.dir.display()
        )));
    }
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let opened = store::open(&path)?;
    let s = opened
        .import_baileys(&args.dir)
        .map_err(|e| Failure::runtime(format!("import from {} failed: {e}", args.dir.display())))?;
    println!("Imported {} into {}.", summary(&s), path.display());
    println!(
        "Start it with `tether run --store {}` (stop the Baileys process first).",
        path.display()
    );
    Ok(())
}

pub(crate) fn export(cmd: ExportCommand) -> Result<(), Failure> {
    let ExportCommand::Baileys(args) = cmd;
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let opened = store::open_existing(&path)?;
    let s = opened
        .export_baileys(&args.dir)
        .map_err(|e| Failure::runtime(format!("export to {} failed: {e}", args.dir.display())))?;
    println!("Exported {} to {}.", summary(&s), args.dir.display());
    Ok(())
}
