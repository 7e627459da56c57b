//! Media throughput and memory (issue 18's performance targets), Tether beside npm Baileys
//! 6.17.16 doing the same work against the same `tether_sim::net::SimServer` with TLS (its
//! loopback media host serves HTTPS with a test CA, as `tether sim --tls` does):
//!
//! - **throughput**: a document of 16 MiB of random bytes, one warm-up round and then
//!   `TETHER_BENCH_ROUNDS` timed rounds of
//!   - *upload*: encrypt + upload (Tether: `Client::upload`, one pass into memory — the file
//!     is within the default `Options::media_memory_budget` — then the HTTPS POST; Baileys:
//!     `prepareWAMessageMedia` with `sock.waUploadToServer`),
//!   - *download to a file*: download + decrypt (Tether: `Client::download` to a path, every
//!     check — encrypted hash, MAC, plaintext hash — and an fsync before the rename; Baileys:
//!     `downloadMediaMessage(…, 'stream')` piped into a file, no check, no fsync),
//!   - *download to memory*: the same into a buffer (`Client::download_bytes`; Baileys:
//!     `'buffer'`).
//!
//!   In the same rounds, the transport alone (`Floor`): the same HTTPS POST and GET against
//!   the same host with no media work (a blob encrypted beforehand written in one call, the
//!   downloaded body read and dropped) — the floor any client has on this host and machine.
//!
//!   Tether's rounds and Baileys' alternate (a Tether round, then a Baileys round, …), so
//!   that both run under the same machine load.
//!
//!   Every downloaded file's SHA-256 is checked against the original's, outside the timing.
//!   Tether is the tokio adapter on a current-thread runtime (one thread for the client, and
//!   a second while an upload encrypts); its CPU time is the process's less the simulator's
//!   threads.
//! - **rss**: the peak resident memory (`VmHWM`, reset through `/proc/self/clear_refs` before
//!   each transfer) of a fresh process that connects, uploads a 100,000,000-byte document and
//!   downloads it to a file, beside its resident memory connected and idle.
//!
//! ```text
//! (cd interop && npm ci --ignore-scripts)          # Baileys, once (skipped when absent)
//! cargo bench -p tether-tests --bench media                   # throughput and rss
//! cargo bench -p tether-tests --bench media -- throughput     # or rss
//! TETHER_BENCH_MEMORY_BUDGET=0        # Options::media_memory_budget: 0 streams every upload
//! TETHER_BENCH_MEDIA_MIB=16 TETHER_BENCH_ROUNDS=5 TETHER_BENCH_RSS_BYTES=100000000 \
//! TETHER_BENCH_DIR=<a directory on the disk to measure> TETHER_BENCH_BAILEYS=0 ...
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tether_core::connection::{Config, Event};
use tether_core::creds::{CredentialChange, CredentialsDelta, PersistSeq};
use tether_core::driver::{Options, TlsTrust};
use tether_core::media::cipher;
use tether_core::media::upload::parse_answer;
use tether_core::media::urls::upload_request;
use tether_core::media::{
    Digests, Download, MediaKey, MediaKind, MediaOptions, MediaRef, Upload, media_message,
};
use tether_core::proto::message::Message;
use tether_core::proxy::ProxySetting;
use tether_sim::Device;
use tether_sim::net::{SimServer, SimServerConfig, TestCa};
use tether_store_redb::RedbStore;
use tether_tests::bench::{Picked, baileys_wanted, bench_dir, env_or, machine};
use tether_tests::identities::linked_identity;
use tether_tests::interop::fidelity::link_baileys_session_with;
use tether_tests::interop::harness::Baileys;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

/// Bound on any one wait (never a speed assertion: only a hung run fails).
const LIMIT: Duration = Duration::from_secs(600);

const MIB: f64 = 1_048_576.0;

fn main() {
    if std::env::var("TETHER_BENCH_ROLE").as_deref() == Ok("media-client") {
        rss_client();
        return;
    }
    let picked = Picked::from_args();
    println!("{}", machine());
    let dir = bench_dir().join(format!("tether-bench-media-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the bench directory");
    println!("files under {}", dir.display());
    let ca = TestCa::generate().expect("a test CA");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).expect("write the CA");
    let server = SimServer::start(SimServerConfig {
        tls: Some(ca),
        // Baileys needs the first frame held back a little (the messaging benches do the same).
        first_frame_delay: Duration::from_millis(100),
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let sim = Sim {
        server: &server,
        dir: &dir,
        ca_file: &ca_file,
    };
    if picked.runs("throughput") {
        throughput(&sim);
    }
    if picked.runs("rss") {
        rss(&sim);
    }
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The simulator and where this run keeps its files.
struct Sim<'a> {
    server: &'a SimServer,
    dir: &'a Path,
    ca_file: &'a Path,
}

/// Writes `len` seeded random bytes to `path` in 1 MiB pieces; returns their SHA-256.
fn random_file(path: &Path, len: u64, seed: u64) -> [u8; 32] {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        hash.update(&buf[..n]);
        file.write_all(&buf[..n]).expect("write");
        left -= n as u64;
    }
    file.flush().expect("flush");
    hash.finalize().into()
}

fn sha256_file(path: &Path) -> [u8; 32] {
    let mut file = std::fs::File::open(path).expect("open");
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            return hash.finalize().into();
        }
        hash.update(&buf[..n]);
    }
}

/// A Tether account the server knows, its credentials in a redb store at `path`.
fn linked_store(server: &SimServer, path: &Path, i: u32) {
    let (creds, jid) = linked_identity(13, 15_552_000_000, i);
    server.with_server(|s| {
        s.register_device(creds.noise_key.public_bytes(), Device { jid, lid: None });
    });
    RedbStore::open(path)
        .expect("open the store")
        .apply_delta(
            PersistSeq(1),
            &CredentialsDelta::one(CredentialChange::Created(Box::new(creds))),
        )
        .expect("write the credentials");
}

fn client_config(
    url: String,
    root: [u8; 32],
    version_url: String,
    ca_file: &Path,
) -> (Config, Options) {
    let mut config = Config::for_server(url, root);
    config.reconnect.base_delay = Duration::from_millis(100);
    config.version_url = version_url;
    let mut options = Options::default();
    options.proxy = ProxySetting::Off;
    options.seed = Some([13; 32]);
    options.trust = TlsTrust::builtin_only().with_ca_file(ca_file);
    options.media_memory_budget =
        env_or::<u64>("TETHER_BENCH_MEMORY_BUDGET", options.media_memory_budget);
    (config, options)
}

fn runtime() -> tokio::runtime::Runtime {
    // One thread drives the client (its transfers included); file calls of the adapter go to
    // tokio's blocking pool.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Opens the store at `path` and connects; returns once `Connected`.
async fn connected(
    path: &Path,
    config: Config,
    options: Options,
) -> (tether_runtime_tokio::Client, tether_runtime_tokio::Events) {
    let store = RedbStore::open(path).expect("open the store");
    let (client, mut events) = tether_runtime_tokio::start(config, store, options)
        .await
        .expect("start");
    client.connect().expect("connect");
    loop {
        let event = tokio::time::timeout(LIMIT, events.next())
            .await
            .expect("no event within the limit")
            .expect("the driver ended");
        if let Event::Connected { .. } = event {
            return (client, events);
        }
    }
}

/// The document message a finished upload makes (what a recipient would download from).
fn document(upload: &Upload) -> Message {
    let mut options = MediaOptions::default();
    options.file_name = Some("bench.bin".into());
    options.mimetype = Some("application/octet-stream".into());
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    media_message(upload, &options, unix)
}

/// One client's timings: per round, upload / download to a file / to memory, wall and CPU.
#[derive(Default)]
struct Rounds {
    upload: Vec<(Duration, Duration)>,
    to_file: Vec<(Duration, Duration)>,
    to_memory: Vec<(Duration, Duration)>,
    /// The process's peak resident memory (Baileys' Node.js process).
    peak_rss_kib: Option<u64>,
    /// The transport alone ([`Floor`]): the blob POSTed, and fetched.
    floor_post: Vec<(Duration, Duration)>,
    floor_get: Vec<(Duration, Duration)>,
    /// Per round, the simulator's CPU time during: the upload, the download to a file, to
    /// memory, the transport-only POST and GET (Tether's rounds).
    host: Vec<[Duration; 5]>,
}

/// One [`Floor`] round: wall and CPU time of the POST and the GET, and the simulator's CPU
/// time during each.
struct FloorRound {
    post: (Duration, Duration),
    get: (Duration, Duration),
    host: (Duration, Duration),
}

/// The transport alone, for the floor any client's throughput has on this media host and
/// machine: the same HTTPS requests as an upload and a download (TCP with `TCP_NODELAY`, TLS
/// with the test CA, the head), with no media work — the blob encrypted once beforehand is
/// written in one call, the downloaded body is read in 64 KiB pieces and dropped.
struct Floor {
    blob: Vec<u8>,
    key: MediaKey,
    digests: Digests,
    tls: tokio_rustls::TlsConnector,
}

impl Floor {
    fn new(file: &Path, ca_file: &Path) -> Self {
        let key = MediaKey::from_bytes([5; 32]);
        let plain = std::fs::read(file).expect("read the file");
        let (blob, digests) = cipher::encrypt(&key.expand(MediaKind::Document), &plain);
        let trust = TlsTrust::builtin_only().with_ca_file(ca_file);
        let config = tether_net_common::trust::client_config(&trust).expect("the TLS config");
        Self {
            blob,
            key,
            digests,
            tls: tokio_rustls::TlsConnector::from(config),
        }
    }

    /// TCP and TLS to `request`'s host, and its head written.
    async fn open(
        &self,
        request: &tether_core::media::http::Request,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let target = &request.target;
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .expect("connect to the media host");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let name = ServerName::try_from(target.host.clone()).expect("a server name");
        let mut tls = self.tls.connect(name, tcp).await.expect("TLS");
        tls.write_all(&request.head()).await.expect("the head");
        tls
    }

    /// One POST of the blob and one GET of it: wall and CPU time of each.
    async fn round(&self, client: &tether_runtime_tokio::Client) -> FloorRound {
        let conn = client.media_conn(false).await.expect("media_conn");
        let host = conn.hosts[0].hostname.clone();
        let request = upload_request(&host, MediaKind::Document, conn.auth(), &self.digests)
            .expect("the upload request");
        let (t0, c0, h0) = (Instant::now(), client_cpu(), host_cpu());
        let mut tls = self.open(&request).await;
        tls.write_all(&self.blob).await.expect("the blob");
        tls.flush().await.expect("flush");
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await.expect("the answer");
        let (t1, c1, h1) = (Instant::now(), client_cpu(), host_cpu());
        let body = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| &answer[at + 4..])
            .expect("an HTTP answer");
        let answer = parse_answer(&host, 200, body).expect("the upload answer");
        let upload = Upload {
            kind: MediaKind::Document,
            media_key: self.key.clone(),
            digests: self.digests,
            url: answer.url,
            direct_path: answer.direct_path,
            uploaded_at: 0,
        };
        let media = MediaRef::of(&document(&upload)).expect("a media message");
        let mut download = Download::new(&media, &[host], u64::MAX).expect("the download request");
        let attempt = download.next_attempt().expect("a host");
        let (t2, c2, h2) = (Instant::now(), client_cpu(), host_cpu());
        let mut tls = self.open(attempt.request()).await;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        loop {
            let n = tls.read(&mut buf).await.expect("the blob");
            if n == 0 {
                break;
            }
            got += n;
        }
        let (t3, c3, h3) = (Instant::now(), client_cpu(), host_cpu());
        assert!(got > self.blob.len(), "the GET returned {got} bytes");
        FloorRound {
            post: (t1 - t0, c1 - c0),
            get: (t3 - t2, c3 - c2),
            host: (h1 - h0, h3 - h2),
        }
    }
}

/// Median wall time and its throughput (MiB/s of plaintext), and the median CPU time.
fn line(what: &str, samples: &[(Duration, Duration)], bytes: u64) -> (f64, String) {
    let mut wall: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    let mut cpu: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    wall.sort();
    cpu.sort();
    let median = wall[wall.len() / 2];
    let rate = bytes as f64 / MIB / median.as_secs_f64();
    (
        rate,
        format!(
            "  {what:<20} median {:8.1} ms = {rate:7.1} MiB/s (best {:.1} ms, worst {:.1} ms); CPU median {:.1} ms",
            ms(median),
            ms(wall[0]),
            ms(wall[wall.len() - 1]),
            ms(cpu[cpu.len() / 2]),
        ),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time of this process, the simulator's threads excluded: the process clock counts
/// threads that already ended (the upload's encryption thread), which `/proc/self/task` no
/// longer lists.
fn client_cpu() -> Duration {
    let process = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let process = Duration::new(
        u64::try_from(process.tv_sec).unwrap_or(0),
        u32::try_from(process.tv_nsec).unwrap_or(0),
    );
    process.saturating_sub(host_cpu())
}

/// CPU time of the simulator's threads (its media host among them).
fn host_cpu() -> Duration {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten() {
        let Ok(task) = task else { continue };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with("tether-sim") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(total)
}

/// Tether and then Baileys on the same 16 MiB document; prints both and the ratios.
fn throughput(sim: &Sim<'_>) {
    let bytes = env_or::<u64>("TETHER_BENCH_MEDIA_MIB", 16) << 20;
    let rounds = env_or::<u64>("TETHER_BENCH_ROUNDS", 5).max(1) as usize;
    println!(
        "\n== media throughput: a {:.0} MiB document, 1 warm-up + {rounds} rounds each, over loopback HTTPS ==",
        bytes as f64 / MIB
    );
    let file = sim.dir.join("document.bin");
    let sha = random_file(&file, bytes, 16);
    let mut baileys = if baileys_wanted() {
        BaileysRun::start(sim, &file, sha, rounds)
    } else {
        Err("TETHER_BENCH_BAILEYS=0".into())
    };
    // Tether's and Baileys' rounds alternate: each pair runs under the same machine load.
    let tether = tether_rounds(sim, &file, sha, rounds, &mut baileys);
    println!("tether (tokio adapter, current-thread runtime, release):");
    let t = [
        line("encrypt + upload", &tether.upload, bytes),
        line("download → file", &tether.to_file, bytes),
        line("download → memory", &tether.to_memory, bytes),
    ];
    for (_, text) in &t {
        println!("{text}");
    }
    println!("transport only (the same HTTPS requests, no media work: the floor on this host):");
    let floor = [
        line("POST the blob", &tether.floor_post, bytes),
        line("GET the blob", &tether.floor_get, bytes),
    ];
    for (_, text) in &floor {
        println!("{text}");
    }
    let host_median = |i: usize| {
        let mut v: Vec<Duration> = tether.host.iter().map(|h| h[i]).collect();
        v.sort();
        ms(v[v.len() / 2])
    };
    println!(
        "the simulator's CPU (its media host) meanwhile, medians: upload {:.1} ms, download → file {:.1} ms, → memory {:.1} ms; POST {:.1} ms, GET {:.1} ms",
        host_median(0),
        host_median(1),
        host_median(2),
        host_median(3),
        host_median(4)
    );
    if !baileys_wanted() {
        return;
    }
    match baileys.and_then(|run| run.finish(rounds)) {
        Ok(baileys) => {
            println!("baileys (npm 6.17.16, Node.js):");
            let b = [
                line("encrypt + upload", &baileys.upload, bytes),
                line("download → file", &baileys.to_file, bytes),
                line("download → memory", &baileys.to_memory, bytes),
            ];
            for (_, text) in &b {
                println!("{text}");
            }
            if let Some(kib) = baileys.peak_rss_kib {
                println!("  the Node.js process's peak RSS: {kib} KiB");
            }
            println!(
                "tether ÷ baileys throughput: upload {:.2}×, download → file {:.2}×, download → memory {:.2}× (target ≥ 5×)",
                t[0].0 / b[0].0,
                t[1].0 / b[1].0,
                t[2].0 / b[2].0
            );
            println!(
                "transport alone ÷ baileys: POST {:.2}×, GET {:.2}× (download → memory)",
                floor[0].0 / b[0].0,
                floor[1].0 / b[2].0
            );
        }
        Err(why) => println!("baileys: not measured ({why})"),
    }
    let _ = std::fs::remove_file(&file);
}

/// Tether's rounds; after each, one of Baileys' (while `baileys` is running: a failure ends
/// it, and the error is kept for the report).
fn tether_rounds(
    sim: &Sim<'_>,
    file: &Path,
    sha: [u8; 32],
    rounds: usize,
    baileys: &mut Result<BaileysRun, String>,
) -> Rounds {
    let store = sim.dir.join("tether-throughput.redb");
    linked_store(sim.server, &store, 0);
    let (config, options) = client_config(
        sim.server.ws_url(),
        sim.server.root_public(),
        sim.server.version_url(),
        sim.ca_file,
    );
    let out = sim.dir.join("tether.bin");
    let mut result = Rounds::default();
    let floor = Floor::new(file, sim.ca_file);
    runtime().block_on(async {
        let (client, _events) = connected(&store, config, options).await;
        for round in 0..=rounds {
            let (t0, c0, h0) = (Instant::now(), client_cpu(), host_cpu());
            let upload = client
                .upload(MediaKind::Document, file)
                .await
                .expect("upload");
            let (t1, c1, h1) = (Instant::now(), client_cpu(), host_cpu());
            let message = document(&upload);
            let length = client.download(&message, &out).await.expect("download");
            let (t2, c2, h2) = (Instant::now(), client_cpu(), host_cpu());
            assert_eq!(sha256_file(&out), sha, "the downloaded file differs");
            let _ = std::fs::remove_file(&out);
            let (t3, c3, h3) = (Instant::now(), client_cpu(), host_cpu());
            let bytes = client.download_bytes(&message).await.expect("download");
            let (t4, c4, h4) = (Instant::now(), client_cpu(), host_cpu());
            assert_eq!(<[u8; 32]>::from(Sha256::digest(&bytes)), sha);
            assert_eq!(length, bytes.len() as u64);
            drop(bytes);
            let floored = floor.round(&client).await;
            if round > 0 {
                result.upload.push((t1 - t0, c1 - c0));
                result.to_file.push((t2 - t1, c2 - c1));
                result.to_memory.push((t4 - t3, c4 - c3));
                result.floor_post.push(floored.post);
                result.floor_get.push(floored.get);
                result
                    .host
                    .push([h1 - h0, h2 - h1, h4 - h3, floored.host.0, floored.host.1]);
            }
            if let Ok(run) = baileys
                && let Err(e) = run.round()
            {
                *baileys = Err(e);
            }
        }
        client.shutdown().await.expect("shutdown");
    });
    result
}

/// Baileys' side of the throughput rounds: `interop/media-bench.mjs` in a Node.js process,
/// stepped one round at a time (`MEDIA_BENCH_STEP=1`: it waits for a line on its stdin
/// before each round) so that its rounds alternate with Tether's under the same load.
struct BaileysRun {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    hex_sha: String,
    rounds: Rounds,
}

impl BaileysRun {
    /// Links a Baileys session to the server and starts the script (it connects, then waits).
    fn start(sim: &Sim<'_>, file: &Path, sha: [u8; 32], rounds: usize) -> Result<Self, String> {
        let harness = Baileys::locate()?;
        let auth = sim.dir.join("baileys-auth");
        std::fs::create_dir_all(&auth).map_err(|e| e.to_string())?;
        let ca = sim.ca_file.to_str().ok_or("the CA path is not UTF-8")?;
        let env = [
            ("FIDELITY_APP_STATE_KEY_ID", "AAAAAAAA"),
            ("NODE_EXTRA_CA_CERTS", ca),
        ];
        let (app, _) = link_baileys_session_with(sim.server, &auth, LIMIT, &env)?;
        app.quit()?;
        let mut child = Process::new(harness.node())
            .env("NODE_EXTRA_CA_CERTS", ca)
            .env("MEDIA_BENCH_STEP", "1")
            .arg(harness.root().join("interop/media-bench.mjs"))
            .arg(sim.server.ws_url())
            .arg(&auth)
            .arg(file)
            .arg(rounds.to_string())
            .arg(sim.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        Ok(Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            hex_sha: hex::encode(sha),
            rounds: Rounds::default(),
        })
    }

    /// The next JSON line; an error line ends the run.
    fn next(&mut self) -> Result<Json, String> {
        let line = self
            .lines
            .next()
            .ok_or("node ended early")?
            .map_err(|e| e.to_string())?;
        let v: Json = serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))?;
        if let Some(error) = v["error"].as_str() {
            let _ = self.child.kill();
            return Err(format!("Baileys failed: {error}"));
        }
        Ok(v)
    }

    /// One round (the first is the warm-up, not kept); a wrong download ends the run.
    fn round(&mut self) -> Result<(), String> {
        writeln!(self.stdin, "go").map_err(|e| format!("node's stdin: {e}"))?;
        self.stdin.flush().map_err(|e| e.to_string())?;
        let v = self.next()?;
        if v["sha256_file"] != self.hex_sha.as_str() || v["sha256_buffer"] != self.hex_sha.as_str()
        {
            let _ = self.child.kill();
            return Err(format!("Baileys downloaded something else: {v}"));
        }
        let millis = |v: &Json| Duration::from_secs_f64(v.as_f64().unwrap_or(f64::NAN) / 1000.0);
        if v["round"].as_u64().unwrap_or(0) > 0 {
            let cpu = &v["cpu_ms"];
            let result = &mut self.rounds;
            result
                .upload
                .push((millis(&v["upload_ms"]), millis(&cpu["upload"])));
            result.to_file.push((
                millis(&v["download_file_ms"]),
                millis(&cpu["download_file"]),
            ));
            result.to_memory.push((
                millis(&v["download_buffer_ms"]),
                millis(&cpu["download_buffer"]),
            ));
        }
        Ok(())
    }

    /// After the last round: the peak RSS line and the exit.
    fn finish(mut self, rounds: usize) -> Result<Rounds, String> {
        let v = self.next()?;
        if v["done"] != true {
            return Err(format!("expected the end, got {v}"));
        }
        self.rounds.peak_rss_kib = v["max_rss_kib"].as_u64();
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if !status.success() || self.rounds.upload.len() != rounds {
            return Err(format!(
                "node exited with {status} after {} rounds",
                self.rounds.upload.len()
            ));
        }
        Ok(self.rounds)
    }
}

/// Peak memory of a fresh client process moving a large document (upload, then download).
fn rss(sim: &Sim<'_>) {
    let bytes = env_or::<u64>("TETHER_BENCH_RSS_BYTES", 100_000_000);
    println!(
        "\n== peak resident memory of a fresh Tether process moving a {bytes}-byte document (target < 16 MB) =="
    );
    let file = sim.dir.join("large.bin");
    let sha = random_file(&file, bytes, 100);
    let store = sim.dir.join("tether-rss.redb");
    linked_store(sim.server, &store, 1);
    let out = sim.dir.join("large-downloaded.bin");
    let exe = std::env::current_exe().expect("own path");
    let run = Process::new(exe)
        .env("TETHER_BENCH_ROLE", "media-client")
        .env("TETHER_BENCH_STORE", &store)
        .env("TETHER_BENCH_URL", sim.server.ws_url())
        .env("TETHER_BENCH_ROOT", hex::encode(sim.server.root_public()))
        .env("TETHER_BENCH_VERSION_URL", sim.server.version_url())
        .env("TETHER_BENCH_CA", sim.ca_file)
        .env("TETHER_BENCH_FILE", &file)
        .env("TETHER_BENCH_OUT", &out)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the client process");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "the client process failed: {report}");
    assert_eq!(sha256_file(&out), sha, "the downloaded file differs");
    print!("{report}");
    println!("the downloaded file's SHA-256 matches the original");
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&out);
}

/// Memory figures of this process from `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Resets `VmHWM` to the current resident size.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
}

/// RSS now, split: `total (anonymous + file-backed)`.
fn rss_now() -> String {
    format!(
        "{} KiB (anonymous {} + file-backed {})",
        status_kib("VmRSS:"),
        status_kib("RssAnon:"),
        status_kib("RssFile:")
    )
}

/// The client process of `rss`: connects, uploads the file, downloads it; prints its memory.
fn rss_client() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}"));
    let mut root = [0; 32];
    hex::decode_to_slice(var("TETHER_BENCH_ROOT"), &mut root).expect("root hex");
    let version_url = var("TETHER_BENCH_VERSION_URL");
    let ca = PathBuf::from(var("TETHER_BENCH_CA"));
    let (config, options) = client_config(var("TETHER_BENCH_URL"), root, version_url, &ca);
    let (file, out) = (
        PathBuf::from(var("TETHER_BENCH_FILE")),
        PathBuf::from(var("TETHER_BENCH_OUT")),
    );
    let at_start = rss_now();
    runtime().block_on(async {
        let (client, _events) =
            connected(Path::new(&var("TETHER_BENCH_STORE")), config, options).await;
        // Let the login's follow-ups (pre-key upload, presence) settle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let login_peak = status_kib("VmHWM:");
        let idle = rss_now();
        reset_peak();
        let t = Instant::now();
        let upload = client
            .upload(MediaKind::Document, &file)
            .await
            .expect("upload");
        let up = (t.elapsed(), status_kib("VmHWM:"), rss_now());
        let message = document(&upload);
        reset_peak();
        let t = Instant::now();
        client.download(&message, &out).await.expect("download");
        let down = (t.elapsed(), status_kib("VmHWM:"), rss_now());
        println!("VmRSS at start: {at_start}");
        println!("connected and idle 1 s: {idle}; peak through the login {login_peak} KiB");
        println!(
            "upload ({:.2} s): peak {} KiB; after it {}",
            up.0.as_secs_f64(),
            up.1,
            up.2
        );
        println!(
            "download to a file ({:.2} s): peak {} KiB; after it {}",
            down.0.as_secs_f64(),
            down.1,
            down.2
        );
        client.shutdown().await.expect("shutdown");
    });
    std::io::stdout().flush().expect("flush");
}
