//! Idle memory of one connected account whose store holds many Signal sessions and a full
//! pool of one-time pre-keys, against one with neither, each in a fresh process.

use super::*;

/// The `i`-th linked identity.
fn identity(i: u32) -> (Credentials, Jid) {
    tether_tests::identities::linked_identity(11, 15_551_000_000, i)
}

/// One-time pre-keys stored beside many sessions: Baileys' first upload (and a full server
/// pool). They are records read on demand, so they cost nothing while idle either.
const STORED_PRE_KEYS: u32 = 812;

/// A store at `path` with linked credentials and `sessions` Signal sessions (real records from
/// X3DH with one peer bundle) and their identities; with sessions, also [`STORED_PRE_KEYS`]
/// one-time pre-keys.
fn stored_sessions(path: &Path, creds: Credentials, sessions: usize) {
    let store = RedbStore::open(path).expect("open the store");
    let own = IdentityKeyPair::from_private_bytes(*creds.identity_key.private_bytes());
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let pre_keys: Vec<(u32, tether_core::crypto::KeyPair)> = if sessions > 0 {
        (1..=STORED_PRE_KEYS)
            .map(|id| (id, tether_core::crypto::KeyPair::generate(&mut rng)))
            .collect()
    } else {
        Vec::new()
    };
    let mut created = CredentialsDelta::pre_keys_generated(&pre_keys, STORED_PRE_KEYS + 1);
    created
        .changes
        .insert(0, CredentialChange::Created(Box::new(creds)));
    store
        .apply_delta(PersistSeq(1), &created)
        .expect("write the credentials");
    let peer = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(SignedPreKeyId::new(1), &peer, &mut rng);
    let one_time = PreKey::generate(PreKeyId::new(7), &mut rng);
    let bundle = PreKeyBundle {
        registration_id: RegistrationId::new(77),
        device_id: 0,
        pre_key: Some((one_time.id(), one_time.public_key())),
        signed_pre_key_id: signed.id(),
        signed_pre_key: signed.public_key(),
        signed_pre_key_signature: *signed.signature(),
        identity_key: *peer.identity_key(),
    };
    for (seq, chunk) in (2..).zip((0..sessions).collect::<Vec<_>>().chunks(1000)) {
        let mut records = Vec::new();
        for &i in chunk {
            let jid = Jid::device(
                &(16_000_000_000_u64 + i as u64).to_string(),
                0,
                Server::WhatsApp,
            );
            let address = Address::of(&jid).expect("an address");
            let mut record = SessionRecord::from_bundle(
                &own,
                RegistrationId::new(1),
                &bundle,
                IdentityPolicy::AcceptAny,
                &mut rng,
            )
            .expect("a session");
            let _ = record.encrypt(b"warm").expect("encrypt");
            records.push(RecordWrite::Put {
                table: Table::Sessions,
                key: record_keys::session(&address),
                value: Bytes::from(record.to_bytes()),
            });
            records.push(RecordWrite::Put {
                table: Table::Identities,
                key: record_keys::identity(&address),
                value: Bytes::copy_from_slice(peer.identity_key().public_key().as_montgomery()),
            });
        }
        store
            .apply_delta(
                PersistSeq(seq),
                &CredentialsDelta {
                    changes: Vec::new(),
                    records,
                },
            )
            .expect("write the sessions");
    }
}

/// Runs the idle-memory benchmark: four client processes, alternating none / many sessions.
pub(super) fn run() {
    let n = env_or::<usize>("TETHER_BENCH_SESSIONS", 10_000);
    println!(
        "\n== idle memory of one connected account: {n} stored Signal sessions and {STORED_PRE_KEYS} one-time pre-keys vs none (each in a fresh process) =="
    );
    let server = SimServer::start(SimServerConfig::default()).expect("start the sim server");
    let dir = fresh_dir("sessions");
    let exe = std::env::current_exe().expect("own path");
    let mut results = Vec::new();
    for (i, count) in [(0_u32, 0), (1, n), (2, 0), (3, n)] {
        let (creds, jid) = identity(i);
        server.with_server(|s| {
            s.register_device(creds.noise_key.public_bytes(), Device { jid, lid: None });
        });
        let path = dir.join(format!("account-{i}.redb"));
        let made = Instant::now();
        stored_sessions(&path, creds, count);
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        let out = Process::new(&exe)
            .env("TETHER_BENCH_ROLE", "idle-client")
            .env("TETHER_BENCH_STORE", &path)
            .env("TETHER_BENCH_URL", server.ws_url())
            .env("TETHER_BENCH_ROOT", hex::encode(server.root_public()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .expect("run the client process");
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(out.status.success(), "the client process failed: {line}");
        let v: Vec<u64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        println!(
            "{count:>6} stored sessions (store {:.1} MiB, made in {:.1} s): VmRSS {} KiB at start → {} KiB with the store open → {} KiB connected and idle 2 s (delta {} KiB); store reads {} ({} rows)",
            size as f64 / 1_048_576.0,
            made.elapsed().as_secs_f64(),
            v[0] / 1024,
            v[4] / 1024,
            v[1] / 1024,
            v[1].saturating_sub(v[0]) / 1024,
            v[2],
            v[3]
        );
        results.push((count, v[1]));
    }
    let none: Vec<u64> = results.iter().filter(|r| r.0 == 0).map(|r| r.1).collect();
    let many: Vec<u64> = results.iter().filter(|r| r.0 == n).map(|r| r.1).collect();
    let (none, many) = (
        none.iter().sum::<u64>() / none.len() as u64,
        many.iter().sum::<u64>() / many.len() as u64,
    );
    println!(
        "RSS with {n} sessions − RSS with none (mean of two processes each): {} KiB (target: within 160 KiB per idle session)",
        (many as i64 - none as i64) / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The client process: opens the store, connects, idles two seconds; prints VmRSS before
/// and after, and the store reads it made.
pub(super) fn idle_client() {
    let path = std::env::var("TETHER_BENCH_STORE").expect("store");
    let url = std::env::var("TETHER_BENCH_URL").expect("url");
    let mut root = [0; 32];
    hex::decode_to_slice(std::env::var("TETHER_BENCH_ROOT").expect("root"), &mut root)
        .expect("root hex");
    let (config, options) = client_config(url, root);
    let stats = Arc::new(StoreStats::default());
    let before = vm_rss();
    let inner = RedbStore::open(&path).expect("open the store");
    let opened = vm_rss();
    let rt = runtime();
    let after = rt.block_on(async {
        let store = Counted {
            inner,
            stats: Arc::clone(&stats),
        };
        let (client, mut events) = tether_runtime_tokio::start(config, store, options)
            .await
            .expect("start");
        client.connect().expect("connect");
        loop {
            if let Event::Connected { .. } = next_event(&mut events).await {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = vm_rss();
        client.shutdown().await.expect("shutdown");
        after
    });
    let [_, _, _, reads, _, rows] = stats.snapshot();
    println!("{before} {after} {reads} {rows} {opened}");
    std::io::stdout().flush().expect("flush");
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
