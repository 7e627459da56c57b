//! Is this process the one holding a store? Before `tether stop` signals the pid an owner file
//! names, it checks from `/proc` that the process runs a tether program and has the store file
//! itself open: after a `kill -9` the file outlives its writer, and the pid it names may since
//! belong to anything.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// `Ok(())` when `pid` runs a tether program that has `store` open; else why not.
pub(crate) fn check(pid: u32, store: &Path) -> Result<(), String> {
    let program = program_of(pid).ok_or_else(|| {
        format!("pid {pid} named by the owner file is not running (or not visible)")
    })?;
    if !program.starts_with("tether") {
        return Err(format!(
            "pid {pid} named by the owner file runs {program}, not tether (the owner file is \
             stale and the pid was reused)"
        ));
    }
    if !holds_open(pid, store)? {
        return Err(format!(
            "pid {pid} named by the owner file ({program}) does not have the store open (the \
             owner file is stale)"
        ));
    }
    Ok(())
}

/// The file name of the program `pid` runs.
fn program_of(pid: u32) -> Option<String> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(exe.file_name()?.to_string_lossy().into_owned())
}

/// Whether one of `pid`'s open descriptors is the file `store` (same device and inode).
fn holds_open(pid: u32, store: &Path) -> Result<bool, String> {
    let target = std::fs::symlink_metadata(store)
        .map_err(|e| format!("the store cannot be inspected ({e})"))?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| {
        format!("the open files of pid {pid} cannot be listed ({e}; it runs as another user?)")
    })?;
    Ok(fds.filter_map(Result::ok).any(|fd| {
        std::fs::metadata(fd.path())
            .is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_process_holding_the_file_is_recognised_and_others_are_not() {
        let dir = std::env::temp_dir().join(format!("tether-holder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.redb");
        std::fs::write(&file, b"x").unwrap();
        let me = std::process::id();
        // This unit-test binary is `tether-<hash>`: a tether program, not holding the store.
        let err = check(me, &file).unwrap_err();
        assert!(err.contains("does not have the store open"), "{err}");
        let open = std::fs::File::open(&file).unwrap();
        assert_eq!(check(me, &file), Ok(()));
        drop(open);
        // `init` runs another program.
        assert!(check(1, &file).is_err());
        assert!(check(u32::MAX, &file).unwrap_err().contains("not running"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
