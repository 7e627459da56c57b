//! The loopback suite (`loopback/mod.rs`) on `tether-runtime-tokio`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loopback;

loopback_suite!(loopback::runtimes::Tokio);
