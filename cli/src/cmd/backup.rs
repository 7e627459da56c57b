//! `tether backup [FILE]` and `tether restore FILE`.
//!
//! A backup is a consistent copy of the store file: taken while holding the store (so no write
//! transaction runs), written to a temporary file, synced, renamed into place, then opened and
//! read back to prove it is intact. While an owner runs, it makes the copy itself (control
//! socket `backup PATH`). Restore keeps the replaced store beside it for rollback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::control::{self, AskError, Request};
use crate::store::{self, SharedStore};
use crate::{Failure, StoreArgs, config, paths, snapshot};

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Where to write the backup [default: <store>.backup-<UTC timestamp>]
    pub(crate) file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A backup written by `tether backup`.
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

pub(crate) fn backup(args: BackupArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let target = args.file.unwrap_or_else(|| {
        let stamp = snapshot::format_unix(snapshot::unix_now())
            .replace([' ', ':'], "-")
            .replace("-UTC", "Z");
        paths::beside(&path, &format!(".backup-{stamp}"))
    });
    let target = absolute(&target)?;
    if target.exists() {
        return Err(Failure::input(format!(
            "{} already exists; choose a new file name (backups never overwrite)",
            target.display()
        )));
    }
    let sock = paths::socket_path(&path);
    match control::ask(
        &sock,
        &Request::Backup(target.clone()),
        Duration::from_secs(60),
    ) {
        Ok(_) => {
            println!(
                "Backed up {} to {} (online, from the running owner).",
                path.display(),
                target.display()
            );
            return Ok(());
        }
        Err(AskError::Failed(e)) => return Err(Failure::runtime(e)),
        Err(AskError::NoOwner) => {}
    }
    let shared = SharedStore::new(store::open_existing(&path)?);
    write_backup(&shared, &target).map_err(Failure::runtime)?;
    println!("Backed up {} to {}.", path.display(), target.display());
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(p).map_err(|e| Failure::input(format!("bad path {}: {e}", p.display())))
}

/// Copies the store to `target` while holding it (no write can run), then checks the copy.
/// Used directly and by the control socket's `backup`.
pub(crate) fn write_backup(shared: &SharedStore, target: &Path) -> Result<Value, String> {
    if target.exists() {
        return Err(format!(
            "{} already exists; backups never overwrite",
            target.display()
        ));
    }
    let tmp = paths::beside(target, ".partial");
    {
        let _held = shared.lock();
        copy_synced(shared.path(), &tmp).map_err(|e| {
            format!(
                "cannot write {}: {e}; check the directory is writable",
                tmp.display()
            )
        })?;
    }
    if let Err(e) = verify(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, target)
        .map_err(|e| format!("cannot rename the backup into place: {e}"))?;
    Ok(serde_json::json!({"path": target.display().to_string()}))
}

fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    dst.sync_all()
}

/// Opens a store file and reads its credentials: a copy that fails this is not a backup.
fn verify(file: &Path) -> Result<(), String> {
    let opened = tether_store_redb::RedbStore::open(file).map_err(|e| {
        format!(
            "the copy at {} does not open as a store: {e}",
            file.display()
        )
    })?;
    opened
        .load_credentials()
        .map_err(|e| format!("the copy at {} is not readable: {e}", file.display()))?;
    drop(opened);
    Ok(())
}

pub(crate) fn restore(args: RestoreArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    if !args.file.exists() {
        return Err(Failure::input(format!(
            "no backup at {}",
            args.file.display()
        )));
    }
    verify(&args.file).map_err(|e| Failure::input(format!("{e}; pick another backup")))?;
    // Holding the live store proves no owner runs while we swap files.
    let live = if path.exists() {
        Some(store::open(&path)?)
    } else {
        None
    };
    let tmp = paths::beside(&path, ".restoring");
    let _ = std::fs::remove_file(&tmp);
    copy_synced(&args.file, &tmp)
        .map_err(|e| Failure::runtime(format!("cannot copy the backup next to the store: {e}")))?;
    let mut kept = None;
    if live.is_some() {
        let stamp = snapshot::unix_now();
        let aside = paths::beside(&path, &format!(".before-restore-{stamp}"));
        std::fs::rename(&path, &aside)
            .map_err(|e| Failure::runtime(format!("cannot move the current store aside: {e}")))?;
        kept = Some(aside);
    }
    std::fs::rename(&tmp, &path)
        .map_err(|e| Failure::runtime(format!("cannot move the backup into place: {e}")))?;
    drop(live);
    verify(&path).map_err(Failure::runtime)?;
    println!("Restored {} from {}.", path.display(), args.file.display());
    if let Some(aside) = kept {
        println!(
            "The previous store is kept at {} (restore it the same way to roll back).",
            aside.display()
        );
    }
    Ok(())
}
