//! Backlog drain: N texts from contact phones, written while the companion is offline, drained
//! into the durable inbox on disk; beside Baileys receiving the same backlog.

use super::*;

struct Backlog {
    n: usize,
    senders: usize,
    established: usize,
}

impl Backlog {
    fn from_env() -> Self {
        let senders = env_or::<usize>("TETHER_BENCH_SENDERS", 100).max(1);
        let n = env_or::<usize>("TETHER_BENCH_BACKLOG", 10_000);
        let per = n.div_ceil(senders);
        Self {
            n: per * senders,
            senders,
            // A third of the senders write pkmsg (never heard back), the rest msg.
            established: senders - senders / 3,
        }
    }

    /// Every contact phone writes its share to phone 0's account, interleaved by sender.
    fn write(&self, server: &SimServer) -> Duration {
        let account = phone_user(server, 0);
        let start = Instant::now();
        for k in 0..self.n / self.senders {
            for i in 1..=self.senders {
                server
                    .send_text(
                        i,
                        &account,
                        &format!("backlog message {k} from contact {i}"),
                    )
                    .expect("a phone sends");
            }
        }
        start.elapsed()
    }

    /// How many of the phones' sends failed.
    fn send_failures(&self, server: &SimServer) -> usize {
        (1..=self.senders)
            .map(|i| {
                server
                    .phone_events(i)
                    .unwrap_or_default()
                    .iter()
                    .filter(|e| matches!(e, DeviceEvent::SendFailed { .. }))
                    .count()
            })
            .sum()
    }
}

/// Runs the backlog benchmark (Tether, then Baileys when available).
pub(super) fn run() {
    let b = Backlog::from_env();
    let config = Config::default();
    println!(
        "inbox max_batch {}, record cache capacity {} (TETHER_BENCH_MAX_BATCH / TETHER_BENCH_CACHE)",
        env_or::<usize>("TETHER_BENCH_MAX_BATCH", config.messaging.inbox.max_batch),
        env_or::<usize>("TETHER_BENCH_CACHE", config.messaging.cache_capacity)
    );
    println!(
        "\n== backlog drain: {} messages from {} senders ({} of them never heard back: {} pkmsg), durable inbox on disk ==",
        b.n,
        b.senders,
        b.senders - b.established,
        (b.senders - b.established) * (b.n / b.senders)
    );
    tether_backlog(&b);
    if baileys_wanted()
        && let Err(why) = baileys_backlog(&b)
    {
        println!("baileys: not measured ({why})");
    }
}

fn tether_backlog(b: &Backlog) {
    let server = SimServer::start(SimServerConfig {
        contacts: b.senders,
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let (config, options) = client_config(server.ws_url(), server.root_public());
    let dir = fresh_dir("backlog");
    let path = dir.join("companion.redb");
    let rt = runtime();
    // Link, and say hello to the established senders, then go offline.
    let companion = rt.block_on(async {
        let store = RedbStore::open(&path).expect("open the store");
        let (client, _events, jid) =
            link_tether(&server, config.clone(), options.clone(), store).await;
        let mut pending = Vec::new();
        for i in 1..=b.established {
            let to = format!("+{}", server.phones()[i].phone_number);
            pending.push(client.send_text(to.as_str(), "hello").expect("send"));
        }
        for p in pending {
            p.await.expect("the server acked the hello");
        }
        client.shutdown().await.expect("shutdown");
        jid
    });
    for i in 1..=b.established {
        wait_until("the phones got the hello", || {
            server.received(i).is_ok_and(|r| !r.is_empty())
        });
    }
    let wrote = b.write(&server);
    let queued = server.with_server(|s| s.queue_len(&companion)).unwrap_or(0);
    let failed = b.send_failures(&server);
    println!(
        "setup: phones wrote the backlog in {:.1} s; queued for the companion: {queued}; phone send failures: {failed}",
        wrote.as_secs_f64()
    );
    assert_eq!(failed, 0, "the phones could not send the whole backlog");
    assert!(queued >= b.n, "only {queued} of {} queued", b.n);

    // TETHER_BENCH_PAUSE=<seconds>: time to attach a profiler to the drain alone.
    if let Some(pause) = std::env::var("TETHER_BENCH_PAUSE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        println!("pid {}: the drain starts in {pause} s", std::process::id());
        std::thread::sleep(Duration::from_secs(pause));
    }
    let stats = Arc::new(StoreStats::default());
    let (drain, acked, cpu, connected) = rt.block_on(async {
        let store = Counted {
            inner: RedbStore::open(&path).expect("reopen the store"),
            stats: Arc::clone(&stats),
        };
        let (client, mut events) =
            tether_runtime_tokio::start(config.clone(), store, options.clone())
                .await
                .expect("start");
        let cpu0 = client_cpu_ns();
        let t0 = Instant::now();
        client.connect().expect("connect");
        let mut ids = BTreeSet::new();
        let mut connected = None;
        while ids.len() < b.n {
            match next_event(&mut events).await {
                Event::Message(m) => {
                    assert!(!m.from_me, "a message from self in the backlog");
                    assert!(ids.insert(m.id.clone()), "{} emitted twice", m.id);
                }
                Event::Connected { .. } => connected = Some(t0.elapsed()),
                Event::Undecryptable(u) => panic!("undecryptable in the backlog: {u:?}"),
                _ => {}
            }
        }
        let drain = t0.elapsed();
        let cpu = client_cpu_ns() - cpu0;
        let mut acked = None;
        let end = Instant::now() + LIMIT;
        while acked.is_none() {
            if server.with_server(|s| s.queue_len(&companion)) == Some(0) {
                acked = Some(t0.elapsed());
            }
            assert!(Instant::now() < end, "the server's queue never emptied");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Nothing comes twice afterwards either.
        let quiet = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                () = &mut quiet => break,
                e = events.next() => match e {
                    Some(Event::Message(m)) => panic!("{} emitted again", m.id),
                    Some(_) => {}
                    None => break,
                }
            }
        }
        client.shutdown().await.expect("shutdown");
        (drain, acked.unwrap_or_default(), cpu, connected)
    });
    // The durable inbox on disk holds each message once.
    let store = RedbStore::open(&path).expect("reopen the store");
    let data = store
        .read_records(&[RecordRead::Range {
            table: Table::Inbox,
            start: Bytes::new(),
            end: Bytes::new(),
            limit: u32::try_from(b.n * 2).unwrap_or(u32::MAX),
        }])
        .expect("read the inbox");
    let rows = match &data[0] {
        RecordData::Rows(rows) => rows.len(),
        RecordData::Value(_) => 0,
    };
    assert_eq!(rows, b.n, "inbox rows on disk");
    drop(store);
    let disk = std::fs::metadata(&path).map_or(0, |m| m.len());
    let [applies, apply_ns, written, reads, read_ns, rows_read] = stats.snapshot();
    let per_s = b.n as f64 / drain.as_secs_f64();
    println!(
        "tether (tokio, current-thread runtime + blocking pool, redb on disk): connected after {:.1} ms; \
         {} messages in the durable inbox after {:.1} ms = {per_s:.0} msg/s (all acked after {:.1} ms = {:.0} msg/s); \
         client CPU {:.1} ms = {:.1} µs/message; exactly once: {} distinct ids, {} inbox rows on disk, none repeated",
        connected.map_or(f64::NAN, ms),
        b.n,
        ms(drain),
        ms(acked),
        b.n as f64 / acked.as_secs_f64(),
        cpu as f64 / 1e6,
        cpu as f64 / 1e3 / b.n as f64,
        b.n,
        rows
    );
    println!(
        "tether store: {applies} transactions ({:.1} messages per commit), {:.1} ms in apply ({:.0} µs per commit), \
         {written} record writes ({:.1} per message); {reads} reads ({rows_read} rows), {:.1} ms in read; store file {:.1} MiB",
        b.n as f64 / applies.max(1) as f64,
        apply_ns as f64 / 1e6,
        apply_ns as f64 / 1e3 / applies.max(1) as f64,
        written as f64 / b.n as f64,
        read_ns as f64 / 1e6,
        disk as f64 / 1_048_576.0
    );
    println!(
        "target (DESIGN §8) >= 5000 msg/s: {}",
        if per_s >= 5000.0 { "met" } else { "NOT met" }
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn baileys_backlog(b: &Backlog) -> Result<(), String> {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        contacts: b.senders,
        ..SimServerConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let dir = fresh_dir("backlog-baileys");
    let auth = dir.join("auth");
    std::fs::create_dir_all(&auth).map_err(|e| e.to_string())?;
    let (mut app, jid) = link_baileys_session_with(&server, &auth, LIMIT, &BAILEYS_ENV)?;
    wait_until("Baileys' pre-keys", || {
        server
            .with_server(|s| s.pre_key_count(&jid))
            .is_some_and(|n| n > 0)
    });
    for i in 1..=b.established {
        app.command(&format!("send {} hello", phone_user(&server, i)))?;
    }
    for _ in 1..=b.established {
        app.wait_for("sent", LIMIT, |e| {
            if e["event"] == "send-failed" {
                Err(format!("Baileys could not send: {e}"))
            } else {
                no_close(e)
            }
        })?;
    }
    for i in 1..=b.established {
        wait_until("the phones got Baileys' hello", || {
            server.received(i).is_ok_and(|r| !r.is_empty())
        });
    }
    app.quit()?;
    b.write(&server);
    let queued = server.with_server(|s| s.queue_len(&jid)).unwrap_or(0);
    if queued < b.n {
        return Err(format!("only {queued} of {} queued for Baileys", b.n));
    }
    let mut app = BaileysApp::spawn_with(&server.ws_url(), &auth, &BAILEYS_ENV)?;
    app.wait_for("connecting", LIMIT, no_close)?;
    let t0 = Instant::now();
    let mut ids = BTreeSet::new();
    let mut repeated = 0;
    let mut open = None;
    while ids.len() < b.n {
        let event = app.next_event(LIMIT)?;
        match event["event"].as_str() {
            Some("message") if event["fromMe"] == false => {
                let first = ids.insert(event["id"].as_str().unwrap_or_default().to_owned());
                repeated += usize::from(!first);
            }
            Some("open") => open = Some(t0.elapsed()),
            Some("close" | "exit") => return Err(format!("Baileys stopped: {event}")),
            _ => {}
        }
    }
    let drain = t0.elapsed();
    let end = Instant::now() + LIMIT;
    let acked = loop {
        if server.with_server(|s| s.queue_len(&jid)) == Some(0) {
            break t0.elapsed();
        }
        if Instant::now() > end {
            return Err("Baileys never acked the whole backlog".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    app.quit()?;
    println!(
        "baileys (npm 6.17.16, node; server holds its first frame 100 ms): open after {:.1} ms; \
         {} messages upserted after {:.1} ms = {:.0} msg/s ({:.0} msg/s with the 100 ms hold subtracted); \
         all acked after {:.1} ms; {} distinct ids, {repeated} repeated upserts",
        open.map_or(f64::NAN, ms),
        b.n,
        ms(drain),
        b.n as f64 / drain.as_secs_f64(),
        b.n as f64 / (drain.as_secs_f64() - 0.1),
        ms(acked),
        ids.len()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
