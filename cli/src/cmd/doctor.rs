//! `tether doctor`: the field report's diagnostic steps, automated; exit 0 when all pass.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use tether_core::connection::DEFAULT_ENDPOINT;

use crate::config::{self, Settings};
use crate::doctor::{self, Check};
use crate::{Failure, StoreArgs};

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The endpoint to test [default: the one the running instance uses, else the one the
    /// store was linked with, else `server` from the config, else wss://web.whatsapp.com/ws/chat]
    #[arg(long, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// Also trust the CA certificates in this PEM file [default: config `caFile`; SSL_CERT_FILE
    /// is honoured too]
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<std::path::PathBuf>,
    /// Test through this proxy (http://host:port or socks5://host:port) [default: config `proxy`, else https_proxy/all_proxy]
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Seconds each network step may take.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub(crate) timeout: u64,
    /// Print one JSON object per check instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The proxy from the environment, as curl reads it.
pub(crate) fn env_proxy() -> Option<String> {
    ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

pub(crate) fn run(args: DoctorArgs) -> Result<(), Failure> {
    let mut checks = Vec::new();
    let settings = config_check(&args.store, &mut checks);
    let path = settings.store(&args.store);
    let (store_checks, status) = doctor::store::checks(&path, &settings);
    checks.extend(store_checks);
    checks.push(doctor::clock::skew(&status));
    checks.push(doctor::clock::ntp());
    // The server the running instance uses (it said so over its control socket), else the one
    // the store's session was linked with.
    let running = status["live"]["endpoint"]
        .as_str()
        .filter(|e| !e.is_empty());
    let linked = status["server"]["endpoint"].as_str();
    let (url, why) = match (&args.server, running, linked, &settings.server) {
        (Some(u), ..) => (u.clone(), "--server"),
        (None, Some(u), ..) => (u.to_owned(), "the running instance's"),
        (None, None, Some(u), _) => (u.to_owned(), "the one the store was linked with"),
        (None, None, None, Some(u)) => (u.clone(), "config `server`"),
        _ => (DEFAULT_ENDPOINT.to_owned(), "WhatsApp's"),
    };
    let proxy = args
        .proxy
        .clone()
        .or_else(|| status["live"]["proxy"].as_str().map(str::to_owned))
        .or_else(|| settings.proxy.clone())
        .or_else(env_proxy)
        .filter(|p| !matches!(p.as_str(), "off" | "none"));
    let mut trust = tether_core::driver::TlsTrust::default();
    if let Some(ca) = args.ca_file.clone().or_else(|| settings.ca_file.clone()) {
        trust = trust.with_ca_file(ca);
    }
    if !args.json {
        for c in &checks {
            outln!("{}", c.line());
        }
        outln!(
            "  … testing {url} ({why}){}",
            proxy
                .as_ref()
                .map(|p| format!(" through {p}"))
                .unwrap_or_default()
        );
    }
    let net = doctor::net::checks(
        &url,
        proxy.as_deref(),
        &trust,
        Duration::from_secs(args.timeout),
    );
    if args.json {
        checks.extend(net);
        for c in &checks {
            outln!("{}", c.to_json());
        }
    } else {
        for c in &net {
            outln!("{}", c.line());
        }
        checks.extend(net);
    }
    let failed = checks.iter().filter(|c| c.failed()).count();
    if args.json {
        outln!(
            "{}",
            json!({"check": "summary", "ok": failed == 0, "failed": failed})
        );
    } else if failed == 0 {
        outln!("All checks passed.");
    } else {
        outln!("{failed} check(s) failed; each ✘ line says how to fix it.");
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::quiet(1))
    }
}

fn config_check(args: &StoreArgs, checks: &mut Vec<Check>) -> Settings {
    let explicit = args.config.clone();
    let located = match explicit {
        Some(p) => Some(p),
        None => match config::locate(args) {
            Ok(found) => found.map(|(p, _)| p),
            Err(f) => {
                checks.push(Check::fail(
                    "config",
                    f.message,
                    "fix OPENCLAW_CONFIG_PATH or pass --config FILE",
                ));
                return Settings::default();
            }
        },
    };
    let Some(path) = located else {
        checks.push(Check::pass(
            "config",
            "no config file (defaults in use; `tether config` lists the keys and their defaults)",
        ));
        return Settings::default();
    };
    match config::load_file(&path) {
        Ok(s) if s.warnings.is_empty() => {
            checks.push(Check::pass("config", format!("{} parsed", path.display())));
            s
        }
        Ok(s) => {
            checks.push(Check::pass(
                "config",
                format!(
                    "{} parsed; ignored: {}",
                    path.display(),
                    s.warnings.join("; ")
                ),
            ));
            s
        }
        Err(f) => {
            checks.push(Check::fail(
                "config",
                f.message,
                "fix the key named above (or its type)",
            ));
            Settings::default()
        }
    }
}
