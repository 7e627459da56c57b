//! Logs go to stderr through `tracing`, filtered by `TETHER_LOG` (or `RUST_LOG`), for example
//! `TETHER_LOG=tether=debug`. The default shows warnings and errors only: the commands print
//! their own human output.

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber with `default` as the filter when neither variable is set.
pub(crate) fn init(default: &str) {
    let filter = std::env::var("TETHER_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
