//! Messaging throughput and latency against DESIGN §8, each beside npm Baileys 6.17.16 doing
//! the same work against the same kind of `tether_sim::net::SimServer` (loopback `ws://`):
//!
//! - **backlog**: contact phones (`SimServerConfig::contacts`, real Signal keys) write N 1:1
//!   texts to an account while its Tether companion is offline; the companion, on a redb store
//!   **on disk** (`tether-store-redb`, real fsyncs), reconnects and drains them into its
//!   durable inbox. Timed from `Command::Connect` to the N-th `Event::Message` (each is emitted
//!   only after its inbox row is committed), and to the server's queue being empty (every
//!   message acked). Exactly once is checked in the run: N distinct ids, no repeated event,
//!   N inbox rows on disk afterwards. A third of the senders never heard from the companion,
//!   so all their messages are `pkmsg`; the other two thirds got one message from it first
//!   (their sessions are established, so they send `msg`). Baileys: linked to a server of the
//!   same shape, the same warm-up and backlog, timed from its `connecting` event to the N-th
//!   `messages.upsert`.
//! - **send**: `Client::send` of a text to a contact with 4 devices (its phone and 3
//!   companions, each with real Signal keys) on established sessions, durable on disk; the
//!   stanza's first bytes are timestamped by a TCP relay between the client and the server.
//!   Also: a bare `fdatasync` on the same disk, and Baileys' `sendMessage` through the same
//!   kind of relay.
//! - **sessions**: resident memory of one connected, idle account whose redb store holds
//!   10,000 Signal sessions (and their identities), against the same account with none; each
//!   in a fresh process (the simulator runs in this one), with the store reads it made.
//!
//! ```text
//! cargo bench -p tether-tests --bench messaging                      # all three
//! cargo bench -p tether-tests --bench messaging -- backlog           # or send, sessions
//! TETHER_BENCH_BACKLOG=10000 TETHER_BENCH_SENDERS=100 TETHER_BENCH_SAMPLES=300 \
//! TETHER_BENCH_SESSIONS=10000 TETHER_BENCH_DIR=/var/tmp TETHER_BENCH_BAILEYS=0 ...
//! ```
//!
//! Stores are made under `TETHER_BENCH_DIR` (default: the system temporary directory, which
//! must be a real disk for the figures to mean "on disk") and removed afterwards. Baileys runs
//! when Node.js and `interop/node_modules` are present, unless `TETHER_BENCH_BAILEYS=0`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::binary::{Jid, Server};
use tether_core::connection::{Config, Event};
use tether_core::creds::{
    CredentialChange, CredentialStore, Credentials, CredentialsDelta, PersistSeq, StoreError,
};
use tether_core::driver::Options;
use tether_core::messaging::address::Address;
use tether_core::messaging::record_keys;
use tether_core::proxy::ProxySetting;
use tether_core::records::{RecordData, RecordRead, RecordWrite, Table};
use tether_signal::{
    IdentityKeyPair, IdentityPolicy, PreKey, PreKeyBundle, PreKeyId, RegistrationId, SessionRecord,
    SignedPreKey, SignedPreKeyId,
};
use tether_sim::Device;
use tether_sim::device::{DeviceConfig, DeviceEvent, SimDevice};
use tether_sim::net::{SimServer, SimServerConfig};
use tether_store_redb::RedbStore;
use tether_tests::bench::{Picked, baileys_wanted, bench_dir, env_or, machine};
use tether_tests::interop::fidelity::{BaileysApp, link_baileys_session_with, no_close};

/// Bound on any one wait (never a speed assertion: only a hung run fails).
const LIMIT: Duration = Duration::from_secs(300);

/// What Baileys 6.17.16 needs so it does not wait for the phone's app-state key.
const BAILEYS_ENV: [(&str, &str); 1] = [("FIDELITY_APP_STATE_KEY_ID", "AAAAAAAA")];

mod backlog;
mod group;
mod send;
mod sessions;

fn main() {
    if std::env::var("TETHER_BENCH_ROLE").as_deref() == Ok("idle-client") {
        sessions::idle_client();
        return;
    }
    let picked = Picked::from_args();
    println!("{}", machine());
    println!("stores under {}", bench_dir().display());
    if picked.runs("backlog") {
        backlog::run();
    }
    if picked.runs("send") {
        send::run();
    }
    if picked.runs("sessions") {
        sessions::run();
    }
    if picked.runs("group") {
        group::run();
    }
}

/// A fresh directory for one run's stores.
fn fresh_dir(what: &str) -> PathBuf {
    let dir = bench_dir().join(format!("tether-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the bench directory");
    dir
}

fn client_config(url: String, root: [u8; 32]) -> (Config, Options) {
    let mut config = Config::for_server(url, root);
    config.reconnect.base_delay = Duration::from_millis(100);
    // Tuning experiments (defaults unless set): the inbox's group-commit batch and the core's
    // record cache.
    if let Ok(Ok(n)) = std::env::var("TETHER_BENCH_MAX_BATCH").map(|v| v.parse()) {
        config.messaging.inbox.max_batch = n;
    }
    if let Ok(Ok(n)) = std::env::var("TETHER_BENCH_CACHE").map(|v| v.parse()) {
        config.messaging.cache_capacity = n;
    }
    let mut options = Options::default();
    options.proxy = ProxySetting::Off;
    options.seed = Some([7; 32]);
    (config, options)
}

fn runtime() -> tokio::runtime::Runtime {
    // One thread drives the connection; store calls go to tokio's blocking pool.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Counts what the core asks of its store, and the time spent in it.
#[derive(Default, Debug)]
struct StoreStats {
    applies: AtomicU64,
    apply_ns: AtomicU64,
    records_written: AtomicU64,
    reads: AtomicU64,
    read_ns: AtomicU64,
    rows_read: AtomicU64,
    /// Every store call: when it started, what, how long, how many records (for timelines).
    log: Mutex<Vec<(Instant, &'static str, Duration, String)>>,
}

impl StoreStats {
    fn snapshot(&self) -> [u64; 6] {
        [
            &self.applies,
            &self.apply_ns,
            &self.records_written,
            &self.reads,
            &self.read_ns,
            &self.rows_read,
        ]
        .map(|a| a.load(Ordering::Relaxed))
    }
}

/// A store that forwards to `inner` and counts into `stats`.
struct Counted<S> {
    inner: S,
    stats: Arc<StoreStats>,
}

impl<S: CredentialStore> CredentialStore for Counted<S> {
    fn load(&mut self) -> Result<Option<(Credentials, PersistSeq)>, StoreError> {
        self.inner.load()
    }
    fn apply(&mut self, seq: PersistSeq, delta: &CredentialsDelta) -> Result<(), StoreError> {
        let start = Instant::now();
        let out = self.inner.apply(seq, delta);
        let s = &self.stats;
        s.applies.fetch_add(1, Ordering::Relaxed);
        s.apply_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        s.records_written
            .fetch_add(delta.records.len() as u64, Ordering::Relaxed);
        s.log
            .lock()
            .unwrap()
            .push((start, "apply", start.elapsed(), describe(delta)));
        out
    }
    fn read(&mut self, reads: &[RecordRead]) -> Result<Vec<RecordData>, StoreError> {
        let start = Instant::now();
        let out = self.inner.read(reads);
        let s = &self.stats;
        s.reads.fetch_add(1, Ordering::Relaxed);
        s.read_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if let Ok(data) = &out {
            let rows: usize = data
                .iter()
                .map(|d| match d {
                    RecordData::Value(v) => usize::from(v.is_some()),
                    RecordData::Rows(r) => r.len(),
                })
                .sum();
            s.rows_read.fetch_add(rows as u64, Ordering::Relaxed);
            s.log.lock().unwrap().push((
                start,
                "read",
                start.elapsed(),
                format!(
                    "{rows} rows of {}",
                    tables(reads.iter().map(|r| match r {
                        RecordRead::Get { table, .. } | RecordRead::Range { table, .. } => *table,
                    }))
                ),
            ));
        }
        out
    }
    fn quarantine(&mut self, seq: PersistSeq, why: &str) -> Result<(), StoreError> {
        self.inner.quarantine(seq, why)
    }
}

/// The tables of a set of records, with counts: `outbox×1 sessions×5`.
fn tables(it: impl Iterator<Item = Table>) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for t in it {
        *counts.entry(t.name()).or_insert(0) += 1;
    }
    counts
        .iter()
        .map(|(t, n)| format!("{t}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a delta writes: credential changes and records by table.
fn describe(delta: &CredentialsDelta) -> String {
    format!(
        "{} credential changes, records {}",
        delta.changes.len(),
        tables(delta.records.iter().map(|r| match r {
            RecordWrite::Put { table, .. } | RecordWrite::Delete { table, .. } => *table,
        }))
    )
}

/// CPU time (ns) of this process's threads, the simulator's thread excluded.
fn client_cpu_ns() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten() {
        let Ok(task) = task else { continue };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "tether-sim-serv" || comm.trim() == "tether-sim-server" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + LIMIT;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

async fn next_event(events: &mut tether_runtime_tokio::Events) -> Event {
    tokio::time::timeout(LIMIT, events.next())
        .await
        .expect("no event within the limit")
        .expect("the driver ended")
}

/// Links a fresh Tether companion on `store` by QR; returns the client, its events and its
/// device JID once its pre-keys are on the server.
async fn link_tether<S: CredentialStore + Send + 'static>(
    server: &SimServer,
    config: Config,
    options: Options,
    store: S,
) -> (
    tether_runtime_tokio::Client,
    tether_runtime_tokio::Events,
    Jid,
) {
    let (client, mut events) = tether_runtime_tokio::start(config, store, options)
        .await
        .expect("start");
    client.connect().expect("connect");
    let jid = loop {
        match next_event(&mut events).await {
            Event::QrCode { code, .. } => {
                server.scan_qr(&code).expect("scan");
            }
            Event::Connected { jid } => break jid,
            _ => {}
        }
    };
    let end = Instant::now() + LIMIT;
    while server
        .with_server(|s| s.pre_key_count(&jid))
        .is_none_or(|n| n == 0)
    {
        assert!(
            Instant::now() < end,
            "the companion never uploaded its pre-keys"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (client, events, jid)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) * p).div_ceil(100).min(sorted.len() - 1)]
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, mean {:.3} ms",
        ms(percentile(samples, 50)),
        ms(percentile(samples, 99)),
        ms(mean)
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The bare (phone) JID of the server's `i`-th phone.
fn phone_user(server: &SimServer, i: usize) -> Jid {
    Jid::user(&server.phones()[i].phone_number, Server::WhatsApp)
}

/// A transparent TCP relay that timestamps every read, from the client (`reads`) and from
/// the server (`replies`).
struct Relay {
    addr: SocketAddr,
    reads: Arc<Mutex<Vec<(Instant, usize)>>>,
    replies: Arc<Mutex<Vec<(Instant, usize)>>>,
}

impl Relay {
    fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let reads: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
        let log = Arc::clone(&reads);
        let replies: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
        let replied = Arc::clone(&replies);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                let (mut s_read, mut c_write) = (server, client);
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        log.lock().unwrap().push((Instant::now(), n));
                        if s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Both);
                });
                let replied = Arc::clone(&replied);
                std::thread::spawn(move || {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n) = s_read.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        replied.lock().unwrap().push((Instant::now(), n));
                        if c_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self {
            addr,
            reads,
            replies,
        }
    }

    fn mark(&self) -> usize {
        self.reads.lock().unwrap().len()
    }

    /// When either side last sent anything.
    fn last_activity(&self) -> Option<Instant> {
        let a = self.reads.lock().unwrap().last().map(|r| r.0);
        let b = self.replies.lock().unwrap().last().map(|r| r.0);
        a.max(b)
    }

    /// When the first read of at least `min` bytes after `mark` arrived.
    fn first_after(&self, mark: usize, min: usize) -> Option<Instant> {
        self.reads.lock().unwrap()[mark..]
            .iter()
            .find(|(_, n)| *n >= min)
            .map(|(t, _)| *t)
    }
}

/// Prints what the store and the socket did after `t` (one send's timeline).
fn timeline(t: Instant, stats: &StoreStats, relay: &Relay) {
    let mut lines: Vec<(Duration, String)> = stats
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, ..)| *at >= t)
        .map(|(at, what, took, n)| {
            (
                at.duration_since(t),
                format!("store {what}: {n}, {:.3} ms", ms(*took)),
            )
        })
        .collect();
    lines.extend(
        relay
            .reads
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at >= t)
            .map(|(at, n)| (at.duration_since(t), format!("{n} bytes to the server"))),
    );
    lines.extend(
        relay
            .replies
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at >= t)
            .map(|(at, n)| (at.duration_since(t), format!("{n} bytes from the server"))),
    );
    lines.sort();
    for (at, line) in lines {
        println!("  +{:8.3} ms  {line}", ms(at));
    }
}
