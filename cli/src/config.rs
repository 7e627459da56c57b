//! The configuration file: JSON5 (comments, trailing commas, unquoted keys; plain JSON is JSON5)
//! in the field report's shape (DESIGN §6), so an OpenClaw `openclaw.json` works as it is.
//!
//! ```json5
//! { channels: { whatsapp: {
//!   sessionStore: { type: "redb", path: "~/.tether/whatsapp.redb" },
//!   reconnect: { maxRetries: 20, baseDelay: 3000, maxDelay: 60000, backoffFactor: 1.5 },
//!   keepAlive: { intervalMs: 25000, timeoutMs: 60000 },  // comments and trailing commas are fine
//! } } }
//! ```
//!
//! Which file: `--config FILE` (or `TETHER_CONFIG`), else `~/.tether/config.json`, else the
//! file `OPENCLAW_CONFIG_PATH` names, else `~/.openclaw/openclaw.json`; none is fine (defaults).
//! Only `channels.whatsapp` is read: the rest of an `openclaw.json` belongs to OpenClaw.
//! Tether's keys are [`KEYS`]; OpenClaw's own `channels.whatsapp` keys ([`OPENCLAW_KEYS`]) are
//! recognised and left alone silently; any other key is ignored with a warning that suggests
//! the closest Tether key. A wrong type, an invalid URL (`server`, `proxy`, `versionUrl`), an
//! unreadable `caFile` or a value outside its floor and ceiling ([`check`]) is an input error
//! (exit 2) naming the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use tether_core::connection::Config;
use tether_core::endpoint::Endpoint;
use tether_core::payload::AppVersion;
use tether_core::proxy::ProxyUrl;

use crate::paths;
use crate::{Failure, StoreArgs};

/// Every key Tether reads under `channels.whatsapp` (dotted, relative).
pub(crate) const KEYS: [&str; 18] = [
    "sessionStore.type",
    "sessionStore.path",
    "reconnect.maxRetries",
    "reconnect.baseDelay",
    "reconnect.maxDelay",
    "reconnect.backoffFactor",
    "reconnect.jitter",
    "reconnect.stableAfterMs",
    "keepAlive.intervalMs",
    "keepAlive.timeoutMs",
    "keepAlive.frameTimeoutMs",
    "server",
    "trustRoot",
    "proxy",
    "caFile",
    "version",
    "versionUrl",
    "metrics",
];

/// OpenClaw's own `channels.whatsapp` keys: recognised, not Tether's, never warned about.
pub(crate) const OPENCLAW_KEYS: [&str; 24] = [
    "enabled",
    "name",
    "dmPolicy",
    "allowFrom",
    "groupPolicy",
    "groupAllowFrom",
    "groups",
    "accounts",
    "mediaMaxMb",
    "textChunkLimit",
    "chunkMode",
    "sendReadReceipts",
    "selfChatMode",
    "ackReaction",
    "historyLimit",
    "dmHistoryLimit",
    "debounceMs",
    "configWrites",
    "blockStreaming",
    "responsePrefix",
    "retry",
    "heartbeat",
    "markdown",
    "actions",
];

/// Floors and ceilings of the timing keys (milliseconds): below the floor a misconfiguration
/// becomes a reconnect storm, above the ceiling a client that never comes back.
const BASE_DELAY_MS: (u64, u64) = (100, 600_000);
const MAX_DELAY_MS: (u64, u64) = (1_000, 3_600_000);
const STABLE_AFTER_MS: (u64, u64) = (1_000, 86_400_000);
const KEEPALIVE_MS: (u64, u64) = (1_000, 600_000);
const MAX_RETRIES: u32 = 1_000_000;

/// Settings read from a config file (every field optional: absent means "the default").
#[derive(Debug, Default, Clone)]
pub(crate) struct Settings {
    /// The file they came from (`None`: no file, all defaults).
    pub(crate) source: Option<PathBuf>,
    /// How that file was found (`--config`, `OPENCLAW_CONFIG_PATH`, a default location).
    pub(crate) found_by: &'static str,
    pub(crate) store_path: Option<PathBuf>,
    pub(crate) server: Option<String>,
    pub(crate) trust_root: Option<[u8; 32]>,
    pub(crate) proxy: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) metrics: Option<String>,
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
    pub(crate) keep_alive_frame_timeout: Option<Duration>,
    /// Unknown keys, each with what to do.
    pub(crate) warnings: Vec<String>,
    /// OpenClaw's keys found (dotted paths), left alone.
    pub(crate) openclaw: Vec<String>,
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
        if let Some(v) = self.keep_alive_frame_timeout {
            config.keep_alive.frame_timeout = v;
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

/// The config file a command reads and how it was found, if any: `--config` (must exist), the
/// Tether default, `OPENCLAW_CONFIG_PATH` (must exist when set), the OpenClaw default.
pub(crate) fn locate(args: &StoreArgs) -> Result<Option<(PathBuf, &'static str)>, Failure> {
    if let Some(p) = &args.config {
        return Ok(Some((p.clone(), "--config")));
    }
    let tether = paths::default_config();
    if tether.exists() {
        return Ok(Some((tether, "~/.tether/config.json")));
    }
    if let Some(p) = std::env::var_os("OPENCLAW_CONFIG_PATH").filter(|p| !p.is_empty()) {
        let p = paths::expand_tilde(&p.to_string_lossy());
        if !p.exists() {
            return Err(Failure::input(format!(
                "OPENCLAW_CONFIG_PATH names {}, which does not exist; fix or unset it, or pass \
                 --config FILE",
                p.display()
            )));
        }
        return Ok(Some((p, "OPENCLAW_CONFIG_PATH")));
    }
    let openclaw = paths::openclaw_config();
    Ok(openclaw
        .exists()
        .then_some((openclaw, "~/.openclaw/openclaw.json")))
}

/// Loads the settings for a command (see [`locate`]). Prints one warning line per unknown key
/// to stderr.
pub(crate) fn load(args: &StoreArgs) -> Result<Settings, Failure> {
    let Some((path, found_by)) = locate(args)? else {
        return Ok(Settings::default());
    };
    let mut settings = load_file(&path)?;
    settings.found_by = found_by;
    for w in &settings.warnings {
        crate::logging::warn_line(w);
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

/// Parses config text (JSON5). Errors name the key and say what was expected.
pub(crate) fn parse(text: &str) -> Result<Settings, String> {
    let root: Value = json5::from_str(text).map_err(|e| {
        format!(
            "not valid JSON5 ({e}); the file must be one object like {{channels: {{whatsapp: \
             {{...}}}}}} (comments and trailing commas are fine)"
        )
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
            "server" => s.server = Some(websocket_url(&string(value, &at)?, &at)?),
            "proxy" => s.proxy = Some(proxy_url(&string(value, &at)?, &at)?),
            "versionUrl" => s.version_url = Some(http_url(&string(value, &at)?, &at)?),
            "caFile" => s.ca_file = Some(ca_file(&string(value, &at)?, &at)?),
            "metrics" => s.metrics = Some(string(value, &at)?),
            "trustRoot" => {
                s.trust_root =
                    Some(parse_root(&string(value, &at)?).map_err(|e| format!("{at}: {e}"))?);
            }
            "version" => {
                s.version =
                    Some(parse_version(&string(value, &at)?).map_err(|e| format!("{at}: {e}"))?);
            }
            other if OPENCLAW_KEYS.contains(&other) => s.openclaw.push(at),
            other => unknown(&mut s, &at, other, ""),
        }
    }
    Ok(s)
}

/// Records an unknown key, suggesting the closest Tether key under the same parent.
fn unknown(s: &mut Settings, at: &str, key: &str, parent: &str) {
    let candidates = KEYS.iter().filter_map(|k| {
        let rel = if parent.is_empty() {
            Some(k.split('.').next().unwrap_or(k))
        } else {
            k.strip_prefix(parent).and_then(|r| r.strip_prefix('.'))
        };
        rel.filter(|r| !r.contains('.'))
    });
    let lower = key.to_lowercase();
    let best = candidates
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, c)| *d <= 2.max(c.len() / 4));
    let hint = match best {
        Some((_, c)) => format!("; did you mean {c}?"),
        None => "; `tether config` lists the keys Tether reads".to_owned(),
    };
    s.warnings
        .push(format!("{at} is not a Tether setting; ignored{hint}"));
}

fn session_store(value: &Value, at: &str, s: &mut Settings) -> Result<(), String> {
    for (key, v) in object(value, at)? {
        let path = format!("{at}.{key}");
        match key.as_str() {
            "type" => match string(v, &path)?.as_str() {
                "redb" => {}
                kind @ ("sqlite" | "file" | "multi-file" | "multifile") => {
                    return Err(format!(
                        "{path} is \"{kind}\", but Tether keeps credentials in a redb store; \
                         import the existing session once with `tether import baileys DIR` (a \
                         Baileys multi-file auth directory), then set {path} to \"redb\""
                    ));
                }
                other => {
                    return Err(format!(
                        "{path} is \"{other}\"; the only session store Tether runs on is \"redb\""
                    ));
                }
            },
            "path" => s.store_path = Some(paths::expand_tilde(&string(v, &path)?)),
            other => unknown(s, &path, other, "sessionStore"),
        }
    }
    Ok(())
}

fn reconnect(value: &Value, at: &str, s: &mut Settings) -> Result<(), String> {
    for (key, v) in object(value, at)? {
        let path = format!("{at}.{key}");
        match key.as_str() {
            "maxRetries" => {
                s.max_retries = Some(if v.is_null() {
                    None
                } else {
                    Some(count(v, &path)?)
                });
            }
            "baseDelay" => s.base_delay = Some(millis(v, &path)?),
            "maxDelay" => s.max_delay = Some(millis(v, &path)?),
            "stableAfterMs" => s.stable_after = Some(millis(v, &path)?),
            "backoffFactor" => s.backoff_factor = Some(number(v, &path)?),
            "jitter" => s.jitter = Some(number(v, &path)?),
            other => unknown(s, &path, other, "reconnect"),
        }
    }
    Ok(())
}

fn keep_alive(value: &Value, at: &str, s: &mut Settings) -> Result<(), String> {
    for (key, v) in object(value, at)? {
        let path = format!("{at}.{key}");
        match key.as_str() {
            "intervalMs" => s.keep_alive_interval = Some(millis(v, &path)?),
            "timeoutMs" => s.keep_alive_timeout = Some(millis(v, &path)?),
            "frameTimeoutMs" => s.keep_alive_frame_timeout = Some(millis(v, &path)?),
            other => unknown(s, &path, other, "keepAlive"),
        }
    }
    Ok(())
}

/// Checks the merged configuration (file values on the defaults) against each key's floor and
/// ceiling and the reconnect policy's own rules; an error names the key (exit 2).
pub(crate) fn check(config: &Config) -> Result<(), Failure> {
    let at = "channels.whatsapp";
    let r = &config.reconnect;
    let range = |key: &str, d: Duration, (lo, hi): (u64, u64)| -> Result<(), Failure> {
        let ms = d.as_millis();
        if ms < u128::from(lo) || ms > u128::from(hi) {
            return Err(Failure::input(format!(
                "{at}.{key} is {ms} ms; it must be between {lo} and {hi} ms (below, a broken \
                 network turns into a reconnect storm; above, the client may not come back for \
                 days)"
            )));
        }
        Ok(())
    };
    range("reconnect.baseDelay", r.base_delay, BASE_DELAY_MS)?;
    range("reconnect.maxDelay", r.max_delay, MAX_DELAY_MS)?;
    range("reconnect.stableAfterMs", r.stable_after, STABLE_AFTER_MS)?;
    range(
        "keepAlive.intervalMs",
        config.keep_alive.interval,
        KEEPALIVE_MS,
    )?;
    range(
        "keepAlive.timeoutMs",
        config.keep_alive.timeout,
        KEEPALIVE_MS,
    )?;
    range(
        "keepAlive.frameTimeoutMs",
        config.keep_alive.frame_timeout,
        KEEPALIVE_MS,
    )?;
    if let Some(n) = r.max_retries
        && n > MAX_RETRIES
    {
        return Err(Failure::input(format!(
            "{at}.reconnect.maxRetries is {n}; it must be at most {MAX_RETRIES} (or null for \
             unlimited)"
        )));
    }
    if !(1.0..=100.0).contains(&r.backoff_factor) {
        return Err(Failure::input(format!(
            "{at}.reconnect.backoffFactor is {}; it must be between 1 and 100",
            r.backoff_factor
        )));
    }
    // The policy's own rules (jitter within [0, 1], baseDelay ≤ maxDelay); its messages
    // start with the key below `channels.whatsapp`.
    r.validate()
        .map_err(|e| Failure::input(format!("{at}.{e}")))
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
        .filter(|f| f.is_finite())
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

/// A `ws://` or `wss://` URL.
pub(crate) fn websocket_url(url: &str, at: &str) -> Result<String, String> {
    Endpoint::parse_websocket(url)
        .map(|_| url.to_owned())
        .map_err(|e| format!("{at} {url:?} is not a usable ws:// or wss:// URL ({e})"))
}

/// An `http://` or `https://` URL.
pub(crate) fn http_url(url: &str, at: &str) -> Result<String, String> {
    match Endpoint::parse(url) {
        Ok(e) if !e.scheme.is_websocket() => Ok(url.to_owned()),
        Ok(_) => Err(format!("{at} {url:?} must be an http:// or https:// URL")),
        Err(e) => Err(format!("{at} {url:?} is not a usable URL ({e})")),
    }
}

/// A proxy URL (`http://`, `socks5://`) or `off`/`none`.
pub(crate) fn proxy_url(url: &str, at: &str) -> Result<String, String> {
    if matches!(url, "off" | "none") {
        return Ok(url.to_owned());
    }
    ProxyUrl::parse(url)
        .map(|_| url.to_owned())
        .map_err(|e| format!("{at}: {e}"))
}

/// A readable PEM file of CA certificates.
pub(crate) fn ca_file(path: &str, at: &str) -> Result<PathBuf, String> {
    let path = paths::expand_tilde(path);
    tether_net_common::trust::read_ca_file(&path).map_err(|e| format!("{at}: {e}"))?;
    Ok(path)
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
