//! Default locations: `~/.tether/whatsapp.redb`, `~/.tether/config.json`, and the files that sit
//! beside a store (`<store>.owner`, `<store>.sock`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The home directory, from `$HOME`.
pub(crate) fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expands a leading `~/` to the home directory.
pub(crate) fn expand_tilde(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => home().unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

/// `~/.tether/whatsapp.redb`.
pub(crate) fn default_store() -> PathBuf {
    expand_tilde("~/.tether/whatsapp.redb")
}

/// `~/.tether/config.json`.
pub(crate) fn default_config() -> PathBuf {
    expand_tilde("~/.tether/config.json")
}

/// `~/.openclaw/openclaw.json`, read when no Tether config exists.
pub(crate) fn openclaw_config() -> PathBuf {
    expand_tilde("~/.openclaw/openclaw.json")
}

/// `<store>` + `suffix` (e.g. `.sock`, `.owner`).
pub(crate) fn beside(store: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(store.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// The control socket of the owner of `store`.
pub(crate) fn socket_path(store: &Path) -> PathBuf {
    beside(store, ".sock")
}
