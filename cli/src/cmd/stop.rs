//! `tether stop`: stops the instance that owns a store — over its control socket (when that is
//! this user's own owner: see `control::peer`), else with SIGTERM to the pid its owner sidecar
//! records, but only when the store's lock is held and that pid is a tether process holding the
//! store open (`holder`) — and waits (bounded) for it to exit.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use rustix::process::{Pid, Signal, kill_process};

use tether_store_redb::Owner;

use crate::control::{self, AskError, Request};
use crate::store::local_hostname;
use crate::{Failure, StoreArgs, config, holder, paths};

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// How long to wait for the owner to exit, in seconds.
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    pub(crate) timeout: u64,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: StopArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let (how, pid) = match control::ask_peer(
        &paths::socket_path(&path),
        &Request::Stop,
        Duration::from_secs(5),
        control::own_uid(),
    ) {
        Ok((_, peer)) => (Some("asked it over its control socket"), Some(peer.pid)),
        Err(AskError::Untrusted(e)) => {
            tracing::warn!(target: "tether::stop", "{e}");
            signal_verified_owner(&path, args.json)?
        }
        Err(AskError::NoOwner | AskError::Failed(_)) => signal_verified_owner(&path, args.json)?,
    };
    let Some(how) = how else {
        return Ok(()); // nothing was running; already said so
    };
    let timeout = Duration::from_secs(args.timeout);
    if wait_gone(&path, pid, timeout) {
        let line = match pid {
            Some(pid) => format!(
                "Stopped the instance on {} (pid {pid}; {how}).",
                path.display()
            ),
            None => format!("Stopped the instance on {} ({how}).", path.display()),
        };
        crate::output::result(
            args.json,
            serde_json::json!({"store": path.display().to_string(), "stopped": true, "pid": pid, "how": how}),
            &[line],
        );
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "the instance on {} (pid {}) did not exit within {}s after we {how}; it may be \
             stuck: look at its logs, wait longer with --timeout, or end it with `kill -9 {}`",
            path.display(),
            pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            args.timeout,
            pid.map_or_else(|| "PID".to_owned(), |p| p.to_string()),
        )))
    }
}

/// Without a trustworthy control socket: SIGTERM to the owner, but only when the store's lock
/// is held right now and the pid its owner file names is a tether process holding the store
/// open. A stale owner file (the holder killed, its pid reused) or a planted one never gets a
/// process signalled. `(None, None)`: nothing runs (and that was said).
fn signal_verified_owner(
    path: &Path,
    json: bool,
) -> Result<(Option<&'static str>, Option<u32>), Failure> {
    if !tether_store_redb::lock_held(path) {
        crate::output::result(
            json,
            serde_json::json!({"store": path.display().to_string(), "stopped": false}),
            &[format!(
                "No instance is running on {}; nothing to stop.",
                path.display()
            )],
        );
        return Ok((None, None));
    }
    let unidentified = |why: String| {
        Failure::runtime(format!(
            "the store {} is locked by a running process, but {why}; nothing was signalled. Find \
             the holder with `fuser {}` and stop it yourself",
            path.display(),
            path.display()
        ))
    };
    let Some(owner) = Owner::recorded(path) else {
        return Err(unidentified(
            "it did not record itself in the owner file".to_owned(),
        ));
    };
    if owner.host != local_hostname() {
        return Err(Failure::runtime(format!(
            "the store is owned by pid {} on host {}, not this machine; stop it there",
            owner.pid, owner.host
        )));
    }
    holder::check(owner.pid, path).map_err(unidentified)?;
    let pid = i32::try_from(owner.pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| {
            unidentified(format!(
                "the owner file records an invalid pid {}",
                owner.pid
            ))
        })?;
    kill_process(pid, Signal::TERM).map_err(|e| {
        Failure::runtime(format!(
            "cannot signal pid {} ({e}); it runs as another user? stop it as that user",
            owner.pid
        ))
    })?;
    Ok((Some("sent it SIGTERM"), Some(owner.pid)))
}

/// Waits until the owner is gone: its process ended (when the pid is known) and the store's
/// lock is free.
fn wait_gone(store: &Path, pid: Option<u32>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let process_gone = pid.is_none_or(|p| !process_running(p));
        if process_gone && !tether_store_redb::lock_held(store) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` is a live process (a zombie waiting to be reaped counts as gone).
pub(crate) fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_none_or(|state| state != 'Z' && state != 'X'),
    }
}
