//! `tether config`: the effective configuration — every key Tether reads, its value, where the
//! value comes from (a flag, the environment, the config file, or the default) and the
//! default — plus OpenClaw's keys left alone and any unknown key. Exit 2 when the file or the
//! merged values are refused, as every command would refuse them.

use clap::Args;
use serde_json::{Value, json};
use tether_core::connection::Config;

use crate::cmd::run::ConnArgs;
use crate::{Failure, StoreArgs, config};

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub(crate) json: bool,
}

/// One effective value.
struct Row {
    key: &'static str,
    value: String,
    source: String,
    default: String,
    unit: &'static str,
}

fn ms(d: std::time::Duration) -> String {
    d.as_millis().to_string()
}

pub(crate) fn run(args: ConfigArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let (effective, options) = args.conn.resolve(&settings)?;
    let defaults = Config::default();
    let file = settings
        .source
        .as_ref()
        .map(|p| format!("config {}", p.display()));
    let from = |flag: Option<&str>, in_file: bool| -> String {
        match (flag, in_file, &file) {
            (Some(f), _, _) => f.to_owned(),
            (None, true, Some(file)) => file.clone(),
            _ => "default".to_owned(),
        }
    };
    let store_source = if args.store.store.is_some() {
        "--store / TETHER_STORE".to_owned()
    } else {
        from(None, settings.store_path.is_some())
    };
    let r = &effective.reconnect;
    let d = &defaults.reconnect;
    let retries =
        |v: Option<u32>| v.map_or_else(|| "null (unlimited)".to_owned(), |n| n.to_string());
    let proxy = args.conn.proxy.clone().or_else(|| settings.proxy.clone());
    let ca = args
        .conn
        .ca_file
        .clone()
        .or_else(|| settings.ca_file.clone());
    let env_ca = std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|v| !v.is_empty());
    let rows = vec![
        Row {
            key: "sessionStore.path",
            value: settings.store(&args.store).display().to_string(),
            source: store_source,
            default: crate::paths::default_store().display().to_string(),
            unit: "path",
        },
        Row {
            key: "server",
            value: effective.endpoint.clone(),
            source: from(
                args.conn.server.as_deref().map(|_| "--server"),
                settings.server.is_some(),
            ),
            default: defaults.endpoint.clone(),
            unit: "ws:// or wss:// URL",
        },
        Row {
            key: "trustRoot",
            value: effective
                .trusted_roots
                .iter()
                .map(hex::encode)
                .collect::<Vec<_>>()
                .join(","),
            source: from(
                args.conn.trust_root.as_deref().map(|_| "--trust-root"),
                settings.trust_root.is_some(),
            ),
            default: "WhatsApp's root key".to_owned(),
            unit: "64 hex digits",
        },
        Row {
            key: "proxy",
            value: proxy.unwrap_or_else(|| {
                crate::cmd::doctor::env_proxy()
                    .map_or_else(|| "none".to_owned(), |p| format!("{p} (environment)"))
            }),
            source: if args.conn.proxy.is_some() {
                "--proxy".to_owned()
            } else if settings.proxy.is_some() {
                from(None, true)
            } else if crate::cmd::doctor::env_proxy().is_some() {
                "environment (https_proxy, all_proxy)".to_owned()
            } else {
                "default".to_owned()
            },
            default: "https_proxy/all_proxy from the environment, else none".to_owned(),
            unit: "http:// or socks5:// URL, or off",
        },
        Row {
            key: "caFile",
            value: match (&ca, &env_ca) {
                (Some(p), _) => p.display().to_string(),
                (None, Some(e)) => format!("{e} (SSL_CERT_FILE)"),
                (None, None) => "none".to_owned(),
            },
            source: if args.conn.ca_file.is_some() {
                "--ca-file".to_owned()
            } else if settings.ca_file.is_some() {
                from(None, true)
            } else if env_ca.is_some() {
                "environment (SSL_CERT_FILE)".to_owned()
            } else {
                "default".to_owned()
            },
            default: "none (the built-in webpki roots only)".to_owned(),
            unit: "PEM file of extra CA certificates",
        },
        Row {
            key: "version",
            value: effective.version.map_or_else(
                || format!("{} (compiled)", tether_core::payload::DEFAULT_VERSION),
                |v| v.to_string(),
            ),
            source: from(None, settings.version.is_some()),
            default: tether_core::payload::DEFAULT_VERSION.to_string(),
            unit: "a.b.c",
        },
        Row {
            key: "versionUrl",
            value: effective.version_url.clone(),
            source: from(None, settings.version_url.is_some()),
            default: defaults.version_url.clone(),
            unit: "http:// or https:// URL",
        },
        Row {
            key: "reconnect.maxRetries",
            value: retries(r.max_retries),
            source: from(None, settings.max_retries.is_some()),
            default: retries(d.max_retries),
            unit: "count",
        },
        Row {
            key: "reconnect.baseDelay",
            value: ms(r.base_delay),
            source: from(None, settings.base_delay.is_some()),
            default: ms(d.base_delay),
            unit: "ms",
        },
        Row {
            key: "reconnect.maxDelay",
            value: ms(r.max_delay),
            source: from(None, settings.max_delay.is_some()),
            default: ms(d.max_delay),
            unit: "ms",
        },
        Row {
            key: "reconnect.backoffFactor",
            value: r.backoff_factor.to_string(),
            source: from(None, settings.backoff_factor.is_some()),
            default: d.backoff_factor.to_string(),
            unit: "factor",
        },
        Row {
            key: "reconnect.jitter",
            value: r.jitter.to_string(),
            source: from(None, settings.jitter.is_some()),
            default: d.jitter.to_string(),
            unit: "fraction",
        },
        Row {
            key: "reconnect.stableAfterMs",
            value: ms(r.stable_after),
            source: from(None, settings.stable_after.is_some()),
            default: ms(d.stable_after),
            unit: "ms",
        },
        Row {
            key: "keepAlive.intervalMs",
            value: ms(effective.keep_alive.interval),
            source: from(None, settings.keep_alive_interval.is_some()),
            default: ms(defaults.keep_alive.interval),
            unit: "ms",
        },
        Row {
            key: "keepAlive.timeoutMs",
            value: ms(effective.keep_alive.timeout),
            source: from(None, settings.keep_alive_timeout.is_some()),
            default: ms(defaults.keep_alive.timeout),
            unit: "ms",
        },
        Row {
            key: "keepAlive.frameTimeoutMs",
            value: ms(effective.keep_alive.frame_timeout),
            source: from(None, settings.keep_alive_frame_timeout.is_some()),
            default: ms(defaults.keep_alive.frame_timeout),
            unit: "ms",
        },
        Row {
            key: "metrics",
            value: settings.metrics.clone().unwrap_or_else(|| "off".to_owned()),
            source: from(None, settings.metrics.is_some()),
            default: "off".to_owned(),
            unit: "HOST:PORT of the Prometheus endpoint",
        },
    ];
    drop(options);
    if args.json {
        let keys: Vec<Value> = rows
            .iter()
            .map(|r| json!({"key": r.key, "value": r.value, "source": r.source, "default": r.default, "unit": r.unit}))
            .collect();
        outln!(
            "{}",
            json!({
                "file": settings.source.as_ref().map(|p| p.display().to_string()),
                "found_by": (!settings.found_by.is_empty()).then_some(settings.found_by),
                "keys": keys,
                "openclaw_keys_left_alone": settings.openclaw,
                "warnings": settings.warnings,
            })
        );
        return Ok(());
    }
    match &settings.source {
        Some(p) => outln!(
            "config file      {} (found by {})",
            p.display(),
            settings.found_by
        ),
        None => outln!(
            "config file      none (looked for --config, ~/.tether/config.json, OPENCLAW_CONFIG_PATH, ~/.openclaw/openclaw.json)"
        ),
    }
    outln!();
    outln!(
        "{:<26} {:<40} {:<28} default",
        "channels.whatsapp.",
        "value",
        "from"
    );
    for r in &rows {
        let unit = if r.unit == "ms" { " ms" } else { "" };
        outln!(
            "{:<26} {:<40} {:<28} {}{unit}",
            r.key,
            format!("{}{unit}", r.value),
            r.source,
            r.default
        );
    }
    if !settings.openclaw.is_empty() {
        outln!();
        outln!(
            "OpenClaw's own keys, left alone: {}",
            settings.openclaw.join(", ")
        );
    }
    for w in &settings.warnings {
        outln!("warning: {w}");
    }
    Ok(())
}
