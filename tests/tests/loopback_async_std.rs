//! The loopback suite (`loopback/mod.rs`) on `tether-runtime-smol` on async-std's executor (a compatibility
//! test: async-std is a dev-dependency here and never a dependency of the adapter).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loopback;

loopback_suite!(loopback::runtimes::AsyncStd);
