//! Send to a contact with 4 devices on established sessions, durable on disk: send → stanza
//! on the socket (a timestamping TCP relay), the disk's bare fsync, and Baileys' `sendMessage`.

use super::*;

/// The stanza of a text to 4 devices plus an own-device copy is well over this size; nothing
/// else the client sends while idle is.
const STANZA_MIN: usize = 400;

/// Gives contact phone 1 three more devices with real Signal keys (online locally, their
/// pre-keys uploaded); returns them.
fn extra_devices(server: &SimServer) -> Vec<SimDevice> {
    let phone = server.phones()[1].clone();
    (1..=3u8)
        .map(|d| {
            let identity = IdentityKeyPair::from_private_bytes([40 + d; 32]);
            let mut device = SimDevice::new(
                DeviceConfig {
                    seed: 300 + u64::from(d),
                    phone_number: phone.phone_number.clone(),
                    lid_user: phone.lid_user.clone(),
                    device: u16::from(d),
                    pre_key_batch: 8,
                    prefer_lid: false,
                },
                identity,
            );
            server.with_server(|s| {
                s.register_device(
                    [60 + d; 32],
                    Device {
                        jid: Jid::device(&phone.phone_number, u16::from(d), Server::WhatsApp),
                        lid: Some(Jid::device(&phone.lid_user, u16::from(d), Server::Lid)),
                    },
                );
                s.connect_local(&device.jid(), Instant::now())
                    .expect("the device comes online");
                device.register();
                for _ in 0..8 {
                    if !device.exchange(s, Instant::now()) {
                        break;
                    }
                }
            });
            device
        })
        .collect()
}

/// Lets the extra devices handle what reached them; returns how many texts each received.
fn extra_received(server: &SimServer, devices: &mut [SimDevice]) -> Vec<usize> {
    devices
        .iter_mut()
        .map(|d| {
            server.with_server(|s| {
                for _ in 0..64 {
                    if !d.exchange(s, Instant::now()) {
                        break;
                    }
                }
            });
            std::iter::from_fn(|| d.poll_event())
                .filter(|e| matches!(e, DeviceEvent::Received(_)))
                .count()
        })
        .collect()
}

/// A bare `fdatasync` of a small appended write in `dir`, `n` times.
fn fsync_cost(dir: &Path, n: usize) -> Vec<Duration> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        file.write_all(&[i as u8; 64]).expect("write");
        let t = Instant::now();
        file.sync_data().expect("fdatasync");
        out.push(t.elapsed());
    }
    let _ = std::fs::remove_file(path);
    out
}

/// Runs the send benchmark (fsync probe, Tether through the relay and directly, Baileys).
pub(super) fn run() {
    let samples = env_or::<usize>("TETHER_BENCH_SAMPLES", 300);
    let warm = 20;
    println!(
        "\n== send a text to a contact with 4 devices (+ own phone's copy), established sessions, durable on disk: {samples} sends =="
    );
    let dir = fresh_dir("send");
    let mut fsync = fsync_cost(&dir, 200);
    println!(
        "fdatasync of a 64-byte append on this disk ({}): {}",
        dir.display(),
        summary(&mut fsync)
    );
    tether_send(&dir, samples, warm, true);
    tether_send(&dir, samples, warm, false);
    if baileys_wanted()
        && let Err(why) = baileys_send(&dir, samples.min(100), warm)
    {
        println!("baileys: not measured ({why})");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tether's sends, through the timestamping relay or straight to the server (then only the
/// time to the server's ack is measured).
fn tether_send(dir: &Path, samples: usize, warm: usize, via_relay: bool) {
    let server = SimServer::start(SimServerConfig::default()).expect("start the sim server");
    let mut devices = extra_devices(&server);
    let relay = via_relay.then(|| Relay::start(server.local_addr()));
    let url = relay
        .as_ref()
        .map_or_else(|| server.ws_url(), |r| format!("ws://{}/ws/chat", r.addr));
    let (config, options) = client_config(url, server.root_public());
    let _ = std::fs::remove_file(dir.join("sender.redb"));
    let contact = format!("+{}", server.phones()[1].phone_number);
    let stats = Arc::new(StoreStats::default());
    let store = Counted {
        inner: RedbStore::open(dir.join("sender.redb")).expect("open the store"),
        stats: Arc::clone(&stats),
    };
    let rt = runtime();
    let (mut to_wire, mut own, mut returned, mut acked, before_out, per_send) =
        rt.block_on(async {
            let (client, _events, _jid) = link_tether(&server, config, options, store).await;
            for _ in 0..warm {
                client
                    .send_text(contact.as_str(), "warm-up")
                    .expect("send")
                    .await
                    .expect("acked");
            }
            let before = stats.snapshot();
            let (mut to_wire, mut own, mut returned, mut acked) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut before_out = 0;
            for i in 0..samples {
                let mark = relay.as_ref().map_or(0, Relay::mark);
                let text = format!("measured text number {i}");
                let t = Instant::now();
                let pending = client
                    .send_text(contact.as_str(), text.as_str())
                    .expect("send");
                returned.push(t.elapsed());
                pending.await.expect("acked");
                acked.push(t.elapsed());
                let Some(relay) = &relay else { continue };
                let out = relay
                    .first_after(mark, STANZA_MIN)
                    .expect("the stanza went through the relay");
                to_wire.push(out.saturating_duration_since(t));
                // The part that is not the store's commits: what the target allows 1 ms for.
                let (commits, in_commits) = stats
                    .log
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(at, what, ..)| *at >= t && *at < out && *what == "apply")
                    .fold((0, Duration::ZERO), |(n, d), (_, _, took, _)| {
                        (n + 1, d + *took)
                    });
                before_out += commits;
                own.push(out.saturating_duration_since(t).saturating_sub(in_commits));
                if i + 1 == samples && std::env::var("TETHER_BENCH_TIMELINE").is_ok() {
                    timeline(t, &stats, relay);
                }
            }
            let after = stats.snapshot();
            client.shutdown().await.expect("shutdown");
            let per_send: Vec<f64> = (0..6)
                .map(|k| (after[k] - before[k]) as f64 / samples as f64)
                .collect();
            (to_wire, own, returned, acked, before_out, per_send)
        });
    let got = extra_received(&server, &mut devices);
    let phone = server.received(1).map(|r| r.len()).unwrap_or(0);
    assert!(
        got.iter().all(|&n| n == warm + samples) && phone == warm + samples,
        "the contact's devices got {phone} (phone) and {got:?} of {} texts",
        warm + samples
    );
    let how = if via_relay {
        "through the relay"
    } else {
        "straight to the server"
    };
    if via_relay {
        println!(
            "tether (tokio, redb on disk, {how}): send → stanza on the socket: {}; without the time inside store commits: {}; commits before the stanza: {:.2} per send",
            summary(&mut to_wire),
            summary(&mut own),
            before_out as f64 / samples as f64
        );
    }
    println!(
        "tether ({how}): send() returns: {}; → server ack (Sent): {}",
        summary(&mut returned),
        summary(&mut acked)
    );
    println!(
        "tether store per send: {:.2} transactions, {:.0} µs in apply, {:.1} record writes, {:.2} reads ({:.1} rows, {:.0} µs)",
        per_send[0],
        per_send[1] / 1e3,
        per_send[2],
        per_send[3],
        per_send[5],
        per_send[4] / 1e3
    );
    println!(
        "every text reached all 4 of the contact's devices: phone {phone}, companions {got:?}"
    );
}

fn baileys_send(dir: &Path, samples: usize, warm: usize) -> Result<(), String> {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        ..SimServerConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let mut devices = extra_devices(&server);
    let relay = Relay::start(server.local_addr());
    let auth = dir.join("baileys-auth");
    std::fs::create_dir_all(&auth).map_err(|e| e.to_string())?;
    // Link through the server directly, then send through the relay.
    let (app, jid) = link_baileys_session_with(&server, &auth, LIMIT, &BAILEYS_ENV)?;
    wait_until("Baileys' pre-keys", || {
        server
            .with_server(|s| s.pre_key_count(&jid))
            .is_some_and(|n| n > 0)
    });
    app.quit()?;
    let mut app =
        BaileysApp::spawn_with(&format!("ws://{}/ws/chat", relay.addr), &auth, &BAILEYS_ENV)?;
    app.wait_for("open", LIMIT, no_close)?;
    let contact = phone_user(&server, 1);
    let sent = |app: &mut BaileysApp| {
        app.wait_for("sent", LIMIT, |e| {
            if e["event"] == "send-failed" {
                Err(format!("Baileys could not send: {e}"))
            } else {
                no_close(e)
            }
        })
    };
    for _ in 0..warm {
        app.command(&format!("send {contact} warm-up"))?;
        sent(&mut app)?;
    }
    let mut to_wire = Vec::new();
    let mut resolved = Vec::new();
    for i in 0..samples {
        let mark = relay.mark();
        let t = Instant::now();
        app.command(&format!("send {contact} measured text number {i}"))?;
        sent(&mut app)?;
        resolved.push(t.elapsed());
        let end = Instant::now() + Duration::from_secs(10);
        let out = loop {
            if let Some(out) = relay.first_after(mark, STANZA_MIN) {
                break out;
            }
            if Instant::now() > end {
                return Err("Baileys' stanza never went through the relay".into());
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        to_wire.push(out.saturating_duration_since(t));
    }
    app.quit()?;
    let got = extra_received(&server, &mut devices);
    println!(
        "baileys (npm 6.17.16, multi-file auth state): `send` command → stanza on the socket: {}; → sendMessage resolved: {} (the contact's companions got {got:?} texts)",
        summary(&mut to_wire),
        summary(&mut resolved)
    );
    Ok(())
}
