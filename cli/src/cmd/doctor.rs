//! `tether doctor`: the field report's diagnostic steps, automated; exit 0 when all pass.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use tether_core::connection::DEFAULT_ENDPOINT;

use crate::config::{self, Settings};
use crate::doctor::{self, Check};
use crate::{Failure, StoreArgs, paths};

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The endpoint to test [default: `server` from the config, else wss://web.whatsapp.com/ws/chat]
    #[arg(long, value_name = "URL")]
    pub(crate) server: Option<String>,
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
    let url = args
        .server
        .clone()
        .or_else(|| settings.server.clone())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let proxy = args
        .proxy
        .clone()
        .or_else(|| settings.proxy.clone())
        .or_else(env_proxy);
    if !args.json {
        for c in &checks {
            println!("{}", c.line());
        }
        println!(
            "  … testing {url}{}",
            proxy
                .as_ref()
                .map(|p| format!(" through {p}"))
                .unwrap_or_default()
        );
    }
    let net = doctor::net::checks(&url, proxy.as_deref(), Duration::from_secs(args.timeout));
    if args.json {
        checks.extend(net);
        for c in &checks {
            println!("{}", c.to_json());
        }
    } else {
        for c in &net {
            println!("{}", c.line());
        }
        checks.extend(net);
    }
    let failed = checks.iter().filter(|c| c.failed()).count();
    if args.json {
        println!(
            "{}",
            json!({"check": "summary", "ok": failed == 0, "failed": failed})
        );
    } else if failed == 0 {
        println!("All checks passed.");
    } else {
        println!("{failed} check(s) failed; each ✘ line says how to fix it.");
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::quiet(1))
    }
}

fn config_check(args: &StoreArgs, checks: &mut Vec<Check>) -> Settings {
    let explicit = args.config.clone();
    let candidates = [paths::default_config(), paths::openclaw_config()];
    let path = explicit.or_else(|| candidates.into_iter().find(|p| p.exists()));
    let Some(path) = path else {
        checks.push(Check::pass(
            "config",
            "no config file (defaults in use; see DESIGN §6 for the keys)",
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
