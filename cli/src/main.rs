//! `tether`: link a WhatsApp account and keep it connected, and inspect the wire.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or input error.
#![forbid(unsafe_code)]

mod node_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tether: a WhatsApp Web (multi-device) client core built to stay connected.
#[derive(Debug, Parser)]
#[command(name = "tether", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode and encode WABinary nodes (the stanzas inside the Noise transport).
    #[command(subcommand)]
    Node(node_cmd::NodeCommand),
}

/// An error for the user: what happened, and the exit code that goes with it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl Failure {
    /// A usage or input error (exit code 2).
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(cmd) => node_cmd::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("tether: error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
