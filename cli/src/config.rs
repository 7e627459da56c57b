//! The configuration file: JSON in the field report's shape (DESIGN §6), so an existing
//! OpenClaw `openclaw.json` works as is.
//!
//! ```json
//! { "channels": { "whatsapp": {
//!   "sessionStore": { "type": "redb", "path": "~/.tether/whatsapp.redb" },
//!   "reconnect": { "maxRetries": 20, "baseDelay": 3000, "maxDelay": 60000, "backoffFactor": 1.5 },
//!   "keepAlive": { "intervalMs": 25000, "timeoutMs": 60000 } } } }
//! ```
//!
//! Tether also reads `server`, `trustRoot`, `proxy`, `version` and `versionUrl` beside them.
//! Unknown keys are ignored with a warning; a wrong type is an error naming the key. Only
//! `channels.whatsapp` is read: the rest of an `openclaw.json` belongs to other programs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use tether_core::connection::Config;
use tether_core::payload::AppVersion;

use crate::paths;
use crate::{Failure, StoreArgs};

/// Settings read from a config file (every field optional: absent means "the default").
#[derive(Debug, Default, Clone)]
pub(crate) struct Settings {
    /// The file they came from (`None`: no file, all defaults).
    pub(crate) source: Option<PathBuf>,
    pub(crate) store_path: Option<PathBuf>,
    pub(crate) server: Option<String>,
    pub(crate) trust_root: Option<[u8; 32]>,
    pub(crate) proxy: Option<String>,
    pub(crate) version: Option<AppVersion>,
    pub(crate) version_url: Option<String>,
    pub(crate) max_retries: Option<Option<u32>>,
    pub(crate) base_delay: Option<Duration>,
    pub(crate) max_delay: Option<Duration>,
    pub(crate) backoff_factor: Option<f64>,
    pub(crate) jitter: Option<f64>,
    pub(crate) stable_after: Option<Duration>,
    pub(crate) keep_alive_interval: Option<Duration>,
    pub(crate) keep_alive_timeout: Option<Duration>,
    /// Unknown keys, as dotted paths.
    pub(crate) warnings: Vec<String>,
}

impl Settings {
    /// Applies the file's values onto a core [`Config`].
    pub(crate) fn apply(&self, config: &mut Config) {
        let r = &mut config.reconnect;
        if let Some(v) = self.max_retries {
            r.max_retries = v;
        }
        if let Some(v) = self.base_delay {
            r.base_delay = v;
        }
        if let Some(v) = self.max_delay {
            r.max_delay = v;
        }
        if let Some(v) = self.backoff_factor {
            r.backoff_factor = v;
        }
        if let Some(v) = self.jitter {
            r.jitter = v;
        }
        if let Some(v) = self.stable_after {
            r.stable_after = v;
        }
        if let Some(v) = self.keep_alive_interval {
            config.keep_alive.interval = v;
        }
        if let Some(v) = self.keep_alive_timeout {
            config.keep_alive.timeout = v;
        }
        if let Some(v) = self.version {
            config.version = Some(v);
        }
        if let Some(v) = &self.version_url {
            config.version_url.clone_from(v);
        }
    }

    /// The store to use: `--store`, else `sessionStore.path`, else the default.
    pub(crate) fn store(&self, args: &StoreArgs) -> PathBuf {
        args.store
            .clone()
            .or_else(|| self.store_path.clone())
            .unwrap_or_else(paths::default_store)
    }
}

/// Loads the settings for a command: `--config FILE` (must exist), else the default files if
/// present. Prints a warning line per unknown key to stderr.
pub(crate) fn load(args: &StoreArgs) -> Result<Settings, Failure> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => {
            let tether = paths::default_config();
            let openclaw = paths::openclaw_config();
            if tether.exists() {
                tether
            } else if openclaw.exists() {
                openclaw
            } else {
                return Ok(Settings::default());
            }
        }
    };
    let settings = load_file(&path)?;
    for w in &settings.warnings {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("tether: warning: {w}");
        }
    }
    Ok(settings)
}

/// Reads and checks one config file.
pub(crate) fn load_file(path: &Path) -> Result<Settings, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::input(format!(
            "cannot read the config file {}: {e}; check the path given to --config",
            path.display()
        ))
    })?;
    let mut settings =
        parse(&text).map_err(|e| Failure::input(format!("config file {}: {e}", path.display())))?;
    settings.source = Some(path.to_owned());
    Ok(settings)
}

/// Parses config text. Errors name the key and say what was expected.
pub(crate) fn parse(text: &str) -> Result<Settings, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        format!("not valid JSON ({e}); the file must be one JSON object like {{\"channels\": {{\"whatsapp\": {{...}}}}}}")
    })?;
    let root = object(&root, "the top level")?;
    let mut s = Settings::default();
    let Some(channels) = root.get("channels") else {
        return Ok(s);
    };
    let channels = object(channels, "channels")?;
    let Some(wa) = channels.get("whatsapp") else {
        return Ok(s);
    };
    let wa = object(wa, "channels.whatsapp")?;
    for (key, value) in wa {
        let at = format!("channels.whatsapp.{key}");
        match key.as_str() {
            "sessionStore" => session_store(value, &at, &mut s)?,
            "reconnect" => reconnect(value, &at, &mut s)?,
            "keepAlive" => keep_alive(value, &at, &mut s)?,
            "server" => s.server = Some(string(value, &at)?),
            "proxy" => s.proxy = Some(string(value, &at)?),
            "versionUrl" => s.version_url = Some(string(value, &at)?),
            "trustRoot" => {
                s.trust_root =
                    Some(parse_root(&string(value, &at)?).map_err(|e| format!("{at}: {e}"))?)
            }
            "version" => {
                s.version =
                    Some(parse_version(&string(value, &at)?).map_err(|e| format!("{at}: {e}"))?)
            }
            _ => s
                .warnings
                .push(format!("{at} is not a Tether setting; ignored")),
        }
    }
    Ok(s)
}

fn session_store(value: &Value, at: &str, s: &mut Settings) -> Result<(), String> {
    for (key, v) in object(value, at)? {
        let at = format!("{at}.{key}");
        match key.as_str() {
            "type" => match string(v, &at)?.as_str() {
                "redb" => {}
                kind @ ("sqlite" | "file" | "multi-file" | "multifile") => {
                    return Err(format!(
                        "{at} is \"{kind}\", but Tether keeps credentials in a redb store; import \
                         the existing session once with `tether import baileys DIR` (a Baileys \
                         multi-file auth directory), then set {at} to \"redb\""
                    ));
                }
                other => {
                    return Err(format!(
                        "{at} is \"{other}\"; the only session store Tether runs on is \"redb\""
                    ));
                }
            },
            "path" => s.store_path = Some(paths::expand_tilde(&string(v, &at)?)),
            _ => s
                .warnings
                .push(format!("{at} is not a Tether setting; ignored")),
        }
    }
    Ok(())
}

fn reconnect(value: &Value, at: &str, s: &mut Settings) -> Result<(), String> {
    for (key, v) in object(value, at)? {
        let at = format!("{at}.{key}");
        match key.as_str() {
            "maxRetries" => {
                s.max_retries = Some(if v.is_null() {
                    None
                } else {
                    Some(count(v, &at)?)
                });
            }
            "baseDelay" => s.base_delay = Some(millis(v, &at)?),
            "maxDelay" => s.max_delay = Some(millis(v, &at)?),
            "stableAfterMs" => s.stable_after = Some(millis(v, &at)?),
            "backoffFactor" => {
                let f = number(v, &at)?;
                if !(1.0..=100.0).contains(&f) {
                    return Err(format!("{at} must be between 1 and 100, found {f}"));
                }
                s.backoff_factor = Some(f);
            }
            "jitter" => {
                let f = number(v, &at)?;
                if !(0.0..=1.0).contains(&f) {
                    return Err(format!("{at} must be between 0 and 1, found {f}"));
                }
                s.jitter = Some(f);
            }
            _ => s
                .warnings
                .push(format!("{at} is not a Tether setting; ignored")),
        }
    }
    if let (Some(base), Some(max)) = (s.base_delay, s.max_delay)
        && base > max
    {
        return Err(format!(
            "{at}.baseDelay ({} ms) is larger than {at}.maxDelay ({} ms)",
            base.as_millis(),
            max.as_millis()
        ));
    }
    Ok(())
}

fn keep_alive(value: &Value, at: &str, s: &mut Settings) -> Result<(), String> {
    for (key, v) in object(value, at)? {
        let at = format!("{at}.{key}");
        match key.as_str() {
            "intervalMs" => s.keep_alive_interval = Some(positive_millis(v, &at)?),
            "timeoutMs" => s.keep_alive_timeout = Some(positive_millis(v, &at)?),
            _ => s
                .warnings
                .push(format!("{at} is not a Tether setting; ignored")),
        }
    }
    Ok(())
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{at} must be an object {{...}}, found {}", kind(v)))
}

fn string(v: &Value, at: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{at} must be a string, found {}", kind(v)))
}

fn number(v: &Value, at: &str) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("{at} must be a number, found {}", kind(v)))
}

fn count(v: &Value, at: &str) -> Result<u32, String> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "{at} must be a whole number ≥ 0 (or null for unlimited), found {}",
                kind(v)
            )
        })
}

fn millis(v: &Value, at: &str) -> Result<Duration, String> {
    v.as_u64().map(Duration::from_millis).ok_or_else(|| {
        format!(
            "{at} must be a whole number of milliseconds, found {}",
            kind(v)
        )
    })
}

fn positive_millis(v: &Value, at: &str) -> Result<Duration, String> {
    let d = millis(v, at)?;
    if d.is_zero() {
        return Err(format!("{at} must be more than 0 milliseconds"));
    }
    Ok(d)
}

/// A 32-byte root public key in hex (as `tether sim` prints it).
pub(crate) fn parse_root(hex_text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(hex_text.trim())
        .map_err(|e| format!("the trust root must be 64 hex digits ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "the trust root must be 32 bytes (64 hex digits), found {} bytes",
            bytes.len()
        )
    })
}

/// `2.3000.1045649367`.
pub(crate) fn parse_version(text: &str) -> Result<AppVersion, String> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some([a, b, c]) => Ok(AppVersion::new(*a, *b, *c)),
        _ => Err(format!(
            "the version must look like 2.3000.1045649367 (three numbers), found {text:?}"
        )),
    }
}

/// Builds the core config for a connection: the file's values, then the command line's server.
pub(crate) fn core_config(
    settings: &Settings,
    server: Option<&str>,
    root: Option<[u8; 32]>,
) -> Config {
    let server = server
        .map(str::to_owned)
        .or_else(|| settings.server.clone());
    let root = root.or(settings.trust_root);
    let mut config = match (server, root) {
        (Some(url), Some(root)) => Config::for_server(url, root),
        (Some(url), None) => {
            let mut c = Config::default();
            c.endpoint = url;
            c
        }
        (None, Some(root)) => {
            let mut c = Config::default();
            c.trusted_roots = vec![root];
            c
        }
        (None, None) => Config::default(),
    };
    settings.apply(&mut config);
    config
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
