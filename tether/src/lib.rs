//! # tether
//!
//! One dependency for applications: the sans-IO core ([`core`], i.e. `tether_core`) plus the
//! runtime adapter chosen by cargo feature, as `tether::runtime`:
//!
//! | feature | `tether::runtime` is | runs on |
//! |---|---|---|
//! | `runtime-tokio` (default) | `tether_runtime_tokio` | tokio |
//! | `runtime-smol` | `tether_runtime_smol` | smol, async-std's executor, any futures-io executor |
//!
//! With both enabled, `runtime` is tokio and the smol adapter stays reachable as `tether::smol`.
//! With neither, the build fails and names the flag to add.
#![forbid(unsafe_code)]

#[cfg(not(any(feature = "runtime-tokio", feature = "runtime-smol")))]
compile_error!(
    "tether needs a runtime: enable the `runtime-tokio` feature (the default) or \
     `runtime-smol` (e.g. `tether = { default-features = false, features = [\"runtime-smol\"] }`)"
);

pub use tether_core as core;

/// The selected runtime adapter (tokio when `runtime-tokio` is on).
#[cfg(feature = "runtime-tokio")]
pub use tether_runtime_tokio as runtime;

/// The selected runtime adapter (smol, when `runtime-tokio` is off).
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
pub use tether_runtime_smol as runtime;

/// The tokio adapter, whenever its feature is on.
#[cfg(feature = "runtime-tokio")]
pub use tether_runtime_tokio as tokio;

/// The smol adapter, whenever its feature is on.
#[cfg(feature = "runtime-smol")]
pub use tether_runtime_smol as smol;

pub use tether_core::connection::{Command, Config, Event, State};
pub use tether_core::driver::{ClientError, Options, StartError};
pub use tether_core::proxy::ProxySetting;
