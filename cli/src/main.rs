//! `tether`: link a WhatsApp account and keep it connected, diagnose it, back it up, and
//! inspect the wire. This file is the command tree only; each command lives in `cmd/`.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or input error; `run` also 3–6 for a
//! terminal reason a supervisor can act on (DESIGN §9), `status --check` its own (see there).
#![forbid(unsafe_code)]

/// `println!` that ends the process quietly when stdout's reader has gone (a closed pipe).
macro_rules! outln {
    () => { $crate::logging::stdout_line("") };
    ($($arg:tt)*) => { $crate::logging::stdout_line(&format!($($arg)*)) };
}

#[cfg(not(any(feature = "runtime-tokio", feature = "runtime-smol")))]
compile_error!(
    "tether-cli needs an async runtime: build with the default feature `runtime-tokio`, or with \
     `--no-default-features --features runtime-smol`"
);

mod cmd;
mod config;
mod control;
mod doctor;
mod exit;
mod failure;
mod holder;
mod httpc;
mod logging;
mod media;
mod metrics;
mod node_cmd;
mod output;
mod paths;
mod qr;
mod rt;
mod session;
mod simctl;
mod simphones;
mod snapshot;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub(crate) use failure::Failure;

const AFTER_HELP: &str = "\
Start here:
  tether demo                 watch a session link, drop and recover against the built-in simulator
  tether run                  link this computer (scan the QR with WhatsApp) and stay connected
  tether status               is it linked, when was it last connected, why did it last drop?
  tether doctor               check store, clock, config and network, each with its fix

Logs go to stderr with RFC 3339 UTC timestamps; filter them with TETHER_LOG (or RUST_LOG), e.g.
TETHER_LOG=tether=debug; --log-format json for one JSON object per line; colours only on a
terminal (--color, NO_COLOR).
Exit codes: 0 success, 1 runtime failure, 2 usage or input error; `tether run` also exits
3 needs a new link, 4 replaced by another instance, 5 temporarily banned, 6 client outdated;
`tether status --check` documents its own.";

/// Tether: a WhatsApp Web (multi-device) client built to stay connected.
#[derive(Debug, Parser)]
#[command(
    name = "tether",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = AFTER_HELP
)]
struct Cli {
    /// Colour log lines: auto (only on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, global = true, value_enum, default_value_t = logging::Color::Auto)]
    color: logging::Color,
    /// Log lines as text or as one JSON object per line
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// Where the credentials live and where the settings come from (DESIGN §9).
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// The credential store [default: ~/.tether/whatsapp.redb, or sessionStore.path from the config]
    #[arg(long, value_name = "PATH", env = "TETHER_STORE")]
    pub(crate) store: Option<PathBuf>,
    /// Settings file, JSON5 (channels.whatsapp.{reconnect,keepAlive,sessionStore,server,proxy,caFile,…});
    /// an OpenClaw openclaw.json works as is; `tether config` shows the effective values
    /// [default: ~/.tether/config.json, else $OPENCLAW_CONFIG_PATH, else ~/.openclaw/openclaw.json]
    #[arg(long, value_name = "FILE", env = "TETHER_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Watch Tether link, drop and recover against the built-in simulator (no phone, no network).
    #[command(after_help = "Examples:\n  tether demo\n  tether demo --json | jq -c .")]
    Demo(cmd::demo::DemoArgs),
    /// Link this computer if needed (QR or pair code) and stay connected, printing every event.
    #[command(visible_alias = "start", after_long_help = cmd::run::RUN_HELP)]
    Run(cmd::run::RunArgs),
    /// Send a text message (through the running instance, or connecting for it); exits 0 once
    /// the server acknowledged it.
    #[command(after_long_help = cmd::send::SEND_HELP)]
    Send(cmd::send::SendArgs),
    /// Mark messages of a chat as read (blue ticks for the sender).
    Read(cmd::send::ReadArgs),
    /// Stop the instance that owns the store and wait for it to exit.
    Stop(cmd::stop::StopArgs),
    /// Show whether the store is linked, to which account, and how the connection has fared.
    Status(cmd::status::StatusArgs),
    /// Check config, store, clock and the network path to the server, each ✘ with its fix.
    Doctor(cmd::doctor::DoctorArgs),
    /// Print the effective configuration: each value, where it comes from, and its default.
    Config(cmd::config::ConfigArgs),
    /// Write a consistent copy of the store to FILE (works while `tether run` is running).
    Backup(cmd::backup::BackupArgs),
    /// Replace the store with a backup made by `tether backup` (the current one is kept aside).
    Restore(cmd::backup::RestoreArgs),
    /// Tell WhatsApp to remove this linked device, then quarantine its credentials.
    Logout(cmd::logout::LogoutArgs),
    /// Set the current session aside (backed up and quarantined) and link again with a fresh QR.
    #[command(after_long_help = cmd::run::RUN_HELP)]
    Relink(cmd::run::RunArgs),
    /// List the identities set aside (logout, 401, relink) and bring one back.
    #[command(subcommand)]
    Quarantine(cmd::quarantine::QuarantineCommand),
    /// Import credentials from another client's session directory.
    #[command(subcommand)]
    Import(cmd::transfer::ImportCommand),
    /// Export credentials to another client's session format.
    #[command(subcommand)]
    Export(cmd::transfer::ExportCommand),
    /// Run the fake WhatsApp server on loopback, for testing any WhatsApp Web client.
    #[command(after_long_help = cmd::sim::SIM_HELP)]
    Sim(cmd::sim::SimArgs),
    /// Decode and encode WABinary nodes (the stanzas inside the Noise transport).
    #[command(subcommand)]
    Node(node_cmd::NodeCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo narrates every event itself; the connection commands print every lifecycle
    // event themselves (the core's own log of them would repeat each line on stderr);
    // elsewhere warnings are worth seeing.
    logging::init(
        match cli.command {
            Command::Demo(_) => "error",
            Command::Run(_)
            | Command::Relink(_)
            | Command::Logout(_)
            | Command::Send(_)
            | Command::Read(_) => "warn,tether_core::connection=off",
            _ => "warn",
        },
        cli.color,
        cli.log_format,
    );
    tracing::debug!(
        target: "tether",
        version = env!("CARGO_PKG_VERSION"),
        runtime = rt::NAME,
        "tether starting"
    );
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Run(args) => cmd::run::run(args, cmd::run::Mode::Run),
        Command::Relink(args) => cmd::run::run(args, cmd::run::Mode::Relink),
        Command::Logout(args) => cmd::logout::run(args),
        Command::Quarantine(c) => cmd::quarantine::run(c),
        Command::Import(c) => cmd::transfer::import(c),
        Command::Export(c) => cmd::transfer::export(c),
        Command::Send(args) => cmd::send::send(args),
        Command::Read(args) => cmd::send::read(args),
        Command::Stop(args) => cmd::stop::run(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Doctor(args) => cmd::doctor::run(args),
        Command::Config(args) => cmd::config::run(args),
        Command::Backup(args) => cmd::backup::backup(args),
        Command::Restore(args) => cmd::backup::restore(args),
        Command::Sim(args) => cmd::sim::run(args),
        Command::Node(c) => node_cmd::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
