//! Resident memory of N idle, logged-in sessions in one process, per runtime: the bytes per
//! session are the VmRSS delta (`/proc/self/status`) between before the first session starts
//! and after all N are `Connected` and idle for two seconds, divided by N. Each session holds
//! its `Connection`, its credentials (twice: in the core and in its in-memory store), its
//! driver and transport tasks and its WebSocket (4 KiB read buffer, write-through). The
//! simulator runs in a separate process so its memory is not counted; each runtime is measured
//! in a fresh process.
//!
//! ```text
//! cargo bench -p tether-tests --bench idle_memory                        # N = 1000
//! TETHER_BENCH_SESSIONS=1000,10000 cargo bench -p tether-tests --bench idle_memory
//! TETHER_BENCH_TLS=1 cargo bench -p tether-tests --bench idle_memory     # over wss://
//! ```
//!
//! With `TETHER_BENCH_TLS=1` the simulator serves `wss://` with a CA made at start (its PEM in
//! the temporary directory) and the clients trust it through `Options::trust`: the figure then
//! includes each session's TLS state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/loopback/mod.rs"]
#[allow(dead_code)]
mod loopback;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loopback::runtimes::{Smol, Tokio};
use loopback::{Harness, SharedStore, connected, wait_for};
use tether_core::binary::Jid;
use tether_core::connection::{Command, Config};
use tether_core::creds::{Credentials, PersistSeq};
use tether_core::driver::Options;
use tether_core::proxy::ProxySetting;
use tether_sim::net::{SimServer, SimServerConfig};
use tether_sim::{Device, MemStore};

fn main() {
    match std::env::var("TETHER_BENCH_ROLE").as_deref() {
        Ok("server") => serve(count("TETHER_BENCH_N")),
        Ok("client") => client(),
        _ => orchestrate(),
    }
}

fn count(name: &str) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect(name)
}

fn orchestrate() {
    let sizes = std::env::var("TETHER_BENCH_SESSIONS").unwrap_or_else(|_| "1000".into());
    let exe = std::env::current_exe().expect("own path");
    for n in sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<u32>().ok())
    {
        for runtime in ["tokio", "smol"] {
            let mut server = Process::new(&exe)
                .env("TETHER_BENCH_ROLE", "server")
                .env("TETHER_BENCH_N", n.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn the server process");
            let mut ready = String::new();
            BufReader::new(server.stdout.take().unwrap())
                .read_line(&mut ready)
                .expect("server ready line");
            let mut parts = ready.split_whitespace();
            let (url, root, ca) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap_or("-"),
            );
            let out = Process::new(&exe)
                .env("TETHER_BENCH_ROLE", "client")
                .env("TETHER_BENCH_N", n.to_string())
                .env("TETHER_BENCH_RUNTIME", runtime)
                .env("TETHER_BENCH_URL", url)
                .env("TETHER_BENCH_ROOT", root)
                .env("TETHER_BENCH_CA", ca)
                .output()
                .expect("run the client process");
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                println!(
                    "{runtime} N={n}: failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            drop(server.stdin.take());
            let _ = server.wait();
        }
    }
}

/// The `i`-th linked identity, the same in both processes.
fn identity(i: u32) -> (Credentials, Jid) {
    tether_tests::identities::linked_identity(7, 15_550_000_000, i)
}

fn serve(n: u32) {
    let tls = std::env::var("TETHER_BENCH_TLS").is_ok_and(|v| v == "1");
    let mut config = SimServerConfig::default();
    let ca_path = std::env::temp_dir().join(format!("tether-bench-ca-{}.pem", std::process::id()));
    if tls {
        let ca = tether_sim::net::TestCa::generate().expect("make the test CA");
        std::fs::write(&ca_path, ca.ca_pem()).expect("write the CA");
        config.tls = Some(ca);
    }
    let server = SimServer::start(config).expect("start the sim server");
    server.with_server(|s| {
        for i in 0..n {
            let (creds, jid) = identity(i);
            s.register_device(creds.noise_key.public_bytes(), Device { jid, lid: None });
        }
    });
    let ca = if tls {
        ca_path.display().to_string()
    } else {
        "-".to_owned()
    };
    println!(
        "{} {} {ca}",
        server.ws_url(),
        hex::encode(server.root_public())
    );
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    server.shutdown();
}

fn client() {
    let n = count("TETHER_BENCH_N");
    let url = std::env::var("TETHER_BENCH_URL").unwrap();
    let mut root = [0; 32];
    hex::decode_to_slice(std::env::var("TETHER_BENCH_ROOT").unwrap(), &mut root).unwrap();
    let config = Config::for_server(url, root);
    let runtime = std::env::var("TETHER_BENCH_RUNTIME").unwrap();
    let result = Arc::new(Mutex::new(None));
    match runtime.as_str() {
        "tokio" => idle::<Tokio>(n, config, Arc::clone(&result)),
        _ => idle::<Smol>(n, config, Arc::clone(&result)),
    }
    let (before, after) = result.lock().unwrap().unwrap();
    let per = (after.saturating_sub(before)) / u64::from(n);
    println!(
        "{runtime}{} N={n}: VmRSS {} KiB -> {} KiB, {per} bytes ({:.1} KiB) per idle session",
        if std::env::var("TETHER_BENCH_CA").is_ok_and(|c| c != "-") {
            " wss"
        } else {
            " ws"
        },
        before / 1024,
        after / 1024,
        per as f64 / 1024.0
    );
}

fn idle<H: Harness>(n: u32, config: Config, result: Arc<Mutex<Option<(u64, u64)>>>) {
    H::block_on(async move {
        let before = vm_rss();
        let mut sessions = Vec::with_capacity(n as usize);
        for i in 0..n {
            let (creds, _) = identity(i);
            let store = SharedStore::new(MemStore::with_credentials(creds, PersistSeq(1)));
            let mut options = Options::default();
            options.proxy = ProxySetting::Off;
            options.trust = tether_core::driver::TlsTrust::builtin_only();
            if let Ok(ca) = std::env::var("TETHER_BENCH_CA")
                && ca != "-"
            {
                options.trust = options.trust.with_ca_file(ca);
            }
            options.seed = Some([9; 32]);
            let h: H = H::start(config.clone(), store, options).await;
            h.command(Command::Connect).expect("connect");
            sessions.push(h);
        }
        for h in &mut sessions {
            wait_for(h, "Connected", connected).await;
        }
        async_io::Timer::after(Duration::from_secs(2)).await;
        *result.lock().unwrap() = Some((before, vm_rss()));
        for h in sessions {
            h.shutdown().await.0.expect("shutdown");
        }
    });
}

/// Resident set size in bytes.
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .expect("VmRSS")
}
