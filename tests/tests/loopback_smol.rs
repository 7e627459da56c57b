//! The loopback suite (`loopback/mod.rs`) on `tether-runtime-smol` on smol.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loopback;

loopback_suite!(loopback::runtimes::Smol);
