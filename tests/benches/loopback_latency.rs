//! Handshake + login latency on loopback, per runtime, against `tether_sim::net::SimServer`:
//! from `Command::Connect` to `Event::Connected` for an already-linked device (TCP connect,
//! WebSocket upgrade, Noise handshake, ClientPayload, `<success>`), through the real adapters.
//! If Node.js and `interop/node_modules` are present, npm Baileys (`interop/fidelity.mjs`) is
//! timed against the same server from its `connecting` to its `open` event.
//!
//! ```text
//! cargo bench -p tether-tests --bench loopback_latency            # 200 logins per runtime
//! TETHER_BENCH_ITERS=500 TETHER_BENCH_BAILEYS=30 cargo bench -p tether-tests --bench loopback_latency
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/loopback/mod.rs"]
#[allow(dead_code)]
mod loopback;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loopback::runtimes::{AsyncStd, Smol, Tokio};
use loopback::{Harness, Setup, connected, link, wait_for};
use tether_core::connection::Command;
use tether_sim::net::SimServerConfig;
use tether_tests::bench::env_or;

fn main() {
    let iters = env_or::<usize>("TETHER_BENCH_ITERS", 200);
    let delay = Duration::from_millis(100);
    println!("handshake + login latency on loopback, {iters} logins each (p50 / p99 / mean)");
    let mut tether_delayed = None;
    for (name, server_delay) in [
        ("", Duration::ZERO),
        (" [server first-frame delay 100 ms]", delay),
    ] {
        for (runtime, samples) in [
            ("tokio", run::<Tokio>(iters, server_delay)),
            ("smol", run::<Smol>(iters, server_delay)),
            ("async-std executor", run::<AsyncStd>(iters, server_delay)),
        ] {
            let line = summary(&samples);
            println!("tether {runtime:<20}{name}: {line}");
            if server_delay == delay && runtime == "tokio" {
                tether_delayed = Some(percentile(&samples, 50));
            }
        }
    }
    let baileys_iters = env_or::<usize>("TETHER_BENCH_BAILEYS", 20);
    match baileys(baileys_iters, delay) {
        Ok(samples) => {
            println!(
                "baileys (npm 6.17.16, node) [server first-frame delay 100 ms]: {}",
                summary(&samples)
            );
            if let Some(t) = tether_delayed {
                let b = percentile(&samples, 50);
                println!(
                    "p50 ratio tether-tokio / baileys on the same server: {:.3}",
                    t.as_secs_f64() / b.as_secs_f64()
                );
            }
        }
        Err(why) => println!("baileys: not measured ({why})"),
    }
}

/// Links one device, then logs it in `iters` times from the store, one client per login.
fn run<H: Harness>(iters: usize, first_frame_delay: Duration) -> Vec<Duration> {
    let out = Arc::new(Mutex::new(Vec::with_capacity(iters)));
    let samples = Arc::clone(&out);
    H::block_on(async move {
        let s = Setup::with_server(
            42,
            SimServerConfig {
                first_frame_delay,
                ..SimServerConfig::default()
            },
        );
        let mut h: H = s.start().await;
        link(&mut h, &s.server).await;
        h.shutdown().await.0.expect("shutdown");
        for _ in 0..iters {
            let mut h: H = s.start().await;
            let t0 = Instant::now();
            h.command(Command::Connect).expect("connect");
            wait_for(&mut h, "Connected", connected).await;
            let took = t0.elapsed();
            samples.lock().unwrap().push(took);
            h.shutdown().await.0.expect("shutdown");
        }
    });
    let mut samples = out.lock().unwrap().clone();
    samples.sort();
    samples
}

/// npm Baileys on a saved auth dir, `connecting` → `open`, one process per login.
fn baileys(iters: usize, first_frame_delay: Duration) -> Result<Vec<Duration>, String> {
    use tether_tests::interop::fidelity::{BaileysApp, link_baileys_session, no_close};
    if iters == 0 {
        return Err("TETHER_BENCH_BAILEYS=0".into());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop");
    if !root.join("node_modules/@whiskeysockets/baileys").exists() {
        return Err("interop/node_modules missing: (cd interop && npm ci --ignore-scripts)".into());
    }
    let server = tether_sim::net::SimServer::start(SimServerConfig {
        first_frame_delay,
        ..SimServerConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let auth = std::env::temp_dir().join(format!("tether-bench-baileys-{}", std::process::id()));
    std::fs::create_dir_all(&auth).map_err(|e| e.to_string())?;
    let limit = Duration::from_secs(90);
    let (app, _jid) = link_baileys_session(&server, &auth, limit)?;
    app.quit()?;
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let mut app = BaileysApp::spawn(&server.ws_url(), &auth)?;
        app.wait_for("connecting", limit, no_close)?;
        let t0 = Instant::now();
        app.wait_for("open", limit, no_close)?;
        samples.push(t0.elapsed());
        app.quit()?;
    }
    let _ = std::fs::remove_dir_all(&auth);
    samples.sort();
    Ok(samples)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len().saturating_sub(1) * p).div_ceil(100);
    sorted.get(i).copied().unwrap_or_default()
}

fn summary(sorted: &[Duration]) -> String {
    let mean = sorted.iter().sum::<Duration>() / u32::try_from(sorted.len().max(1)).unwrap();
    format!(
        "{:.2} ms / {:.2} ms / {:.2} ms",
        ms(percentile(sorted, 50)),
        ms(percentile(sorted, 99)),
        ms(mean)
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
