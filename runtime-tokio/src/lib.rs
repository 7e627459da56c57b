//! # tether-runtime-tokio
//!
//! A thin driver that runs a `tether_core` connection on tokio over real websockets.
//!
//! **Status:** not built yet. This crate is reserved by the workspace layout; the adapter is
//! tracked by its own issue and this crate exports nothing until then.
#![forbid(unsafe_code)]
