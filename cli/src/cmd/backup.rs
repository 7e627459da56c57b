//! `tether backup [FILE]` and `tether restore FILE`.
//!
//! A backup is a consistent snapshot of the store (one read transaction), written under a
//! temporary name, integrity-checked and renamed into place (`RedbStore::backup_to`). While an
//! owner runs, it makes the snapshot itself (control socket `backup PATH`). Restore checks the
//! backup first and keeps the replaced store beside it for rollback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::output::result;
use tether_store_redb::RedbStoreError;

use crate::control::{self, AskError, Request};
use crate::store::{self, SharedStore};
use crate::{Failure, StoreArgs, config, paths, snapshot};

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Where to write the backup [default: STORE.backup-TIMESTAMP, beside the store]
    pub(crate) file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A backup written by `tether backup`.
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub(crate) json: bool,
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
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(Failure::input(format!(
            "{} already exists; choose a new file name (backups never overwrite)",
            target.display()
        )));
    }
    if let Some(dir) = target.parent()
        && !dir.is_dir()
    {
        return Err(Failure::input(format!(
            "no directory {}; create it first",
            dir.display()
        )));
    }
    let sock = paths::socket_path(&path);
    match control::ask(
        &sock,
        &Request::Backup {
            path: target.clone(),
        },
        Duration::from_secs(60),
    ) {
        Ok(_) => {
            verify_online_backup(&target)?;
            result(
                args.json,
                json!({"store": path.display().to_string(), "backup": target.display().to_string(), "online": true}),
                &[format!(
                    "Backed up {} to {} (online, from the running owner).",
                    path.display(),
                    target.display()
                )],
            );
            return Ok(());
        }
        Err(AskError::Failed(e) | AskError::Untrusted(e)) => return Err(Failure::runtime(e)),
        Err(AskError::NoOwner) => {}
    }
    let shared = SharedStore::new(store::open_reader(&path)?);
    write_backup(&shared, &target).map_err(Failure::runtime)?;
    result(
        args.json,
        json!({"store": path.display().to_string(), "backup": target.display().to_string(), "online": false}),
        &[format!(
            "Backed up {} to {}.",
            path.display(),
            target.display()
        )],
    );
    Ok(())
}

/// A consistent copy of a store that a running owner made for a reading command (`quarantine
/// list`, `export`), in a private temporary directory removed on drop.
pub(crate) struct OwnerSnapshot {
    dir: PathBuf,
    /// The copy.
    pub(crate) path: PathBuf,
}

impl Drop for OwnerSnapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// When an owner runs on `store`, asks it for a consistent copy to read from (the store stays
/// its own); `None` when no owner answers.
pub(crate) fn owner_snapshot(store: &Path) -> Result<Option<OwnerSnapshot>, Failure> {
    let sock = paths::socket_path(store);
    if std::os::unix::net::UnixStream::connect(&sock).is_err() {
        return Ok(None);
    }
    let dir = std::env::temp_dir().join(format!(
        "tether-read-{}-{}",
        std::process::id(),
        snapshot::unix_now_ms()
    ));
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Failure::runtime(format!("cannot make {}: {e}", dir.display())))?;
    }
    let copy = OwnerSnapshot {
        path: dir.join("snapshot.redb"),
        dir,
    };
    match control::ask(
        &sock,
        &Request::Backup {
            path: copy.path.clone(),
        },
        Duration::from_secs(60),
    ) {
        Ok(_) => {
            verify_online_backup(&copy.path)?;
            Ok(Some(copy))
        }
        Err(AskError::NoOwner) => Ok(None),
        Err(AskError::Failed(e) | AskError::Untrusted(e)) => Err(Failure::runtime(format!(
            "the running instance could not make a copy to read from: {e}"
        ))),
    }
}

/// Checks what a running owner said it wrote before anyone reports it: a regular file of this
/// user at `target` that passes the store's integrity check.
fn verify_online_backup(target: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt as _;
    let problem = match std::fs::symlink_metadata(target) {
        Err(e) => Some(format!("there is no file there ({e})")),
        Ok(m) if !m.file_type().is_file() => Some("it is not a regular file".to_owned()),
        Ok(m) if m.uid() != control::own_uid() => {
            Some(format!("it belongs to uid {}, not to you", m.uid()))
        }
        Ok(_) => {
            let report = tether_store_redb::check(target);
            (!report.is_tether_store()).then(|| {
                format!(
                    "it fails the integrity check: {}",
                    report.problems().join("; ")
                )
            })
        }
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(Failure::runtime(format!(
            "the running owner reported a backup at {}, but {why}; no backup was made: check the \
             owner's log, or stop it and back up again",
            target.display()
        ))),
    }
}

fn absolute(p: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(p).map_err(|e| Failure::input(format!("bad path {}: {e}", p.display())))
}

/// Writes a consistent online snapshot of the store to `target` (checked before it is
/// renamed into place). Used directly and by the control socket's `backup`.
pub(crate) fn write_backup(shared: &SharedStore, target: &Path) -> Result<Value, String> {
    shared.lock().backup_to(target).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({"path": target.display().to_string()}))
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
    let outcome = tether_store_redb::restore(&args.file, &path).map_err(|e| match e {
        RedbStoreError::NotABackup { .. } | RedbStoreError::BackupDamaged { .. } => {
            Failure::input(e.to_string())
        }
        other => store::failure(other),
    })?;
    let mut human = vec![format!(
        "Restored {} from {}.",
        path.display(),
        args.file.display()
    )];
    if let Some(aside) = &outcome.kept_aside {
        human.push(format!(
            "The previous store is kept at {} (restore it the same way to roll back).",
            aside.display()
        ));
    }
    result(
        args.json,
        json!({
            "store": path.display().to_string(),
            "from": args.file.display().to_string(),
            "kept_aside": outcome.kept_aside.as_ref().map(|p| p.display().to_string()),
        }),
        &human,
    );
    Ok(())
}
