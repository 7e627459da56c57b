//! What the benchmarks in `tests/benches` share: which of a bench's parts a run picked, the
//! machine line every report starts with, where files and stores go (`TETHER_BENCH_DIR`),
//! numbers from the environment, and whether npm Baileys runs beside Tether
//! (`TETHER_BENCH_BAILEYS=0` turns it off).

use std::path::PathBuf;
use std::str::FromStr;

/// The parts of a bench named on its command line (the arguments that do not start with
/// `--`, which `cargo bench` passes); none named means all.
#[derive(Clone, Debug)]
pub struct Picked(Vec<String>);

impl Picked {
    /// The parts this process's arguments name.
    pub fn from_args() -> Self {
        Self(
            std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with("--"))
                .collect(),
        )
    }

    /// Whether part `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p == name)
    }
}

/// `machine: N cores, load average a b c`: what a report's figures were measured on.
pub fn machine() -> String {
    format!(
        "machine: {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Where a bench makes its files and stores: `TETHER_BENCH_DIR`, or the system temporary
/// directory (which must be a real disk for "on disk" figures to mean that).
pub fn bench_dir() -> PathBuf {
    std::env::var_os("TETHER_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// The number in environment variable `name`, or `default` when it is unset or not a number.
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether npm Baileys runs beside Tether: unless `TETHER_BENCH_BAILEYS=0`.
pub fn baileys_wanted() -> bool {
    std::env::var("TETHER_BENCH_BAILEYS").map_or(true, |v| v != "0")
}
