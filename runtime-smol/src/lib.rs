//! # tether-runtime-smol
//!
//! A thin driver that runs a `tether_core` connection on smol (and async-std's executor) over
//! real websockets, written only against futures-io and async-io.
//!
//! **Status:** not built yet. This crate is reserved by the workspace layout; the adapter is
//! tracked by its own issue and this crate exports nothing until then.
#![forbid(unsafe_code)]
