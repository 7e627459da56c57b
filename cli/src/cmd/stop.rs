//! `tether stop`: stops the instance that owns a store — over its control socket, else with
//! SIGTERM to the pid its owner sidecar records — and waits (bounded) for it to exit.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use rustix::process::{Pid, Signal, kill_process};

use crate::control::{self, AskError, Request};
use crate::store::{Sidecar, local_hostname};
use crate::{Failure, StoreArgs, config, paths};

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
    let owner = Sidecar::read(&path).filter(Sidecar::is_alive);
    let how = match control::ask(
        &paths::socket_path(&path),
        &Request::Stop,
        Duration::from_secs(5),
    ) {
        Ok(_) => "asked it over its control socket",
        Err(AskError::NoOwner | AskError::Failed(_)) => {
            let Some(owner) = &owner else {
                crate::output::result(
                    args.json,
                    serde_json::json!({"store": path.display().to_string(), "stopped": false}),
                    &[format!(
                        "No instance is running on {}; nothing to stop.",
                        path.display()
                    )],
                );
                return Ok(());
            };
            signal(owner)?;
            "sent it SIGTERM"
        }
    };
    let timeout = Duration::from_secs(args.timeout);
    let pid = owner.as_ref().map(|o| o.pid);
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

fn signal(owner: &Sidecar) -> Result<(), Failure> {
    if owner.host != local_hostname() {
        return Err(Failure::runtime(format!(
            "the store is owned by pid {} on host {}, not this machine; stop it there",
            owner.pid, owner.host
        )));
    }
    let pid = i32::try_from(owner.pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| {
            Failure::runtime(format!(
                "the owner file records an invalid pid {}",
                owner.pid
            ))
        })?;
    kill_process(pid, Signal::TERM).map_err(|e| {
        Failure::runtime(format!(
            "cannot signal pid {} ({e}); it runs as another user? stop it as that user",
            owner.pid
        ))
    })
}

/// Waits until the owner is gone: its process ended (when the pid is known) and its control
/// socket no longer answers.
fn wait_gone(store: &Path, pid: Option<u32>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let sock = paths::socket_path(store);
    loop {
        let process_gone = pid.is_none_or(|p| !process_running(p));
        let socket_gone = std::os::unix::net::UnixStream::connect(&sock).is_err();
        if process_gone && socket_gone {
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
