//! The loopback suite (`loopback/mod.rs`) on `tether-runtime-smol` over TLS: `wss://`, the
//! `https://` `sw.js` and both proxies tunnelling TLS, against a `SimServer` whose CA is made
//! at test time and trusted through `Options::trust`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loopback;

loopback_suite!(loopback::runtimes::Smol, tls);
