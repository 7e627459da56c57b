//! Sending to a big group (issue 15's performance item): the account's Tether companion and
//! `members` contact phones, each with `devices` devices (its phone and companions, every one
//! a `SimDevice` with real Signal keys), in one group made on the server. Durable on disk.
//!
//! - **first send, cold**: no pairwise session with any member device yet: the companion asks
//!   for the group's metadata, the members' device lists and every device's pre-key bundle,
//!   makes its sender key and hands it (an SKDM, `pkmsg`) to every device with the `skmsg`;
//! - **first send, sessions established**: a second group of the same members: a new sender
//!   key, handed to every device over the (now established) pairwise sessions (`msg`);
//! - **following sends**: one `skmsg` on established sender-key state.
//!
//! Each is timed from `Client::send` to the stanza's last bytes on the socket (a timestamping
//! relay between the client and the server) and to the server's ack; every member device is
//! checked to have read every text.

use super::*;
use tether_sim::server::Namespace;

/// The group's shape and how many following sends are measured.
struct Shape {
    members: usize,
    devices: u8,
    samples: usize,
}

impl Shape {
    fn from_env() -> Self {
        Self {
            members: env_or::<usize>("TETHER_BENCH_GROUP_MEMBERS", 256).max(1),
            devices: u8::try_from(env_or::<usize>("TETHER_BENCH_GROUP_DEVICES", 3).clamp(1, 20))
                .unwrap_or(3),
            samples: env_or::<usize>("TETHER_BENCH_GROUP_SAMPLES", 50).max(1),
        }
    }
}

/// Client reads at least this big are stanzas (a following send's is ~200 bytes); a receipt's
/// ack is 70 bytes, though several can share a read once receipts come back.
const GROUP_STANZA_MIN: usize = 150;

/// Runs the group benchmark.
pub(super) fn run() {
    let shape = Shape::from_env();
    println!(
        "\n== send to a group of {} participants × {} devices ({} member devices), durable on disk: first sends, then {} following sends ==",
        shape.members,
        shape.devices,
        shape.members * usize::from(shape.devices),
        shape.samples
    );
    let dir = fresh_dir("group");
    if std::env::var("TETHER_BENCH_TETHER").map_or(true, |v| v != "0") {
        tether_group(&dir, &shape);
    }
    if baileys_wanted()
        && let Err(why) = baileys_group(&dir, &shape)
    {
        println!("baileys: not measured ({why})");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Gives every contact phone `1..=members` companions `1..devices` (real keys, online
/// locally, pre-keys uploaded); returns them.
fn member_devices(server: &SimServer, shape: &Shape) -> Vec<SimDevice> {
    let phones = server.phones();
    server.with_server(|s| {
        let mut out = Vec::new();
        for (i, phone) in phones.iter().enumerate().skip(1).take(shape.members) {
            for d in 1..shape.devices {
                let mut secret = [0x33; 32];
                secret[..4].copy_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
                secret[4] = d;
                let mut noise = secret;
                noise[5] = 0x61;
                let mut device = SimDevice::new(
                    DeviceConfig {
                        seed: 100_000 + i as u64 * 32 + u64::from(d),
                        phone_number: phone.phone_number.clone(),
                        lid_user: phone.lid_user.clone(),
                        device: u16::from(d),
                        pre_key_batch: 4,
                        prefer_lid: false,
                    },
                    IdentityKeyPair::from_private_bytes(secret),
                );
                s.register_device(
                    noise,
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
                out.push(device);
            }
        }
        out
    })
}

/// Lets the member companions handle what reached them; returns, for each, the chats of the
/// texts it read.
fn companion_reads(server: &SimServer, devices: &mut [SimDevice]) -> Vec<Vec<Jid>> {
    devices
        .iter_mut()
        .map(|d| {
            server.with_server(|s| while d.exchange(s, Instant::now()) {});
            std::iter::from_fn(|| d.poll_event())
                .filter_map(|e| match e {
                    DeviceEvent::Received(r) => Some(r.chat),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// One measured send: to the stanza's last bytes on the socket and to the server's ack.
struct Timed {
    to_wire: Duration,
    acked: Duration,
    commits_before: usize,
    client_bytes: usize,
}

/// Sends `text` to `group`, waits for the ack, then for the receipts to settle.
async fn timed_send(
    client: &tether_runtime_tokio::Client,
    group: &Jid,
    text: &str,
    relay: &Relay,
    stats: &StoreStats,
    first: bool,
) -> Timed {
    let mark = relay.mark();
    let t = Instant::now();
    client
        .send_text(group.clone(), text)
        .expect("send")
        .await
        .expect("acked");
    let acked_at = Instant::now();
    let acked = t.elapsed();
    let (out, client_bytes) =
        stanza_out(relay, mark, acked_at, first).expect("the stanza went through the relay");
    let commits_before = stats
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, what, ..)| *at >= t && *at < out && *what == "apply")
        .count();
    // The members' delivery receipts come back; let them pass before the next send.
    let end = Instant::now() + LIMIT;
    while relay
        .last_activity()
        .is_some_and(|last| last.elapsed() < Duration::from_millis(100))
        && Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Timed {
        to_wire: out.saturating_duration_since(t),
        acked,
        commits_before,
        client_bytes,
    }
}

fn tether_group(dir: &Path, shape: &Shape) {
    let made = Instant::now();
    let server = SimServer::start(SimServerConfig {
        contacts: shape.members,
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let mut devices = member_devices(&server, shape);
    println!(
        "setup: {} phones and {} member companions on the server in {:.1} s",
        shape.members,
        devices.len(),
        made.elapsed().as_secs_f64()
    );
    let relay = Relay::start(server.local_addr());
    let (config, options) =
        client_config(format!("ws://{}/ws/chat", relay.addr), server.root_public());
    let stats = Arc::new(StoreStats::default());
    let store = Counted {
        inner: RedbStore::open(dir.join("group.redb")).expect("open the store"),
        stats: Arc::clone(&stats),
    };
    let account = phone_user(&server, 0);
    let members: Vec<Jid> = (1..=shape.members)
        .map(|i| phone_user(&server, i))
        .collect();
    let make_group = |subject: &str| {
        server
            .with_server(|s| s.create_group(&account, subject, &members, Namespace::Pn))
            .expect("the server makes the group")
    };
    let rt = runtime();
    let (groups, cold, warm, mut following, per_send) = rt.block_on(async {
        let (client, _events, _jid) = link_tether(&server, config, options, store).await;
        let first_group = make_group("bench group");
        let second_group = make_group("bench group, again");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        let cold = timed_send(&client, &first_group, "first", &relay, &stats, true).await;
        if std::env::var("TETHER_BENCH_TIMELINE").is_ok() {
            timeline(t, &stats, &relay);
        }
        let warm = timed_send(&client, &second_group, "first", &relay, &stats, true).await;
        let before = stats.snapshot();
        let mut following = Vec::new();
        for i in 0..shape.samples {
            let text = format!("group text number {i}");
            let t = Instant::now();
            following.push(timed_send(&client, &first_group, &text, &relay, &stats, false).await);
            if i + 1 == shape.samples && std::env::var("TETHER_BENCH_TIMELINE").is_ok() {
                timeline(t, &stats, &relay);
            }
        }
        let after = stats.snapshot();
        client.shutdown().await.expect("shutdown");
        let per_send: Vec<f64> = (0..6)
            .map(|k| (after[k] - before[k]) as f64 / shape.samples as f64)
            .collect();
        ([first_group, second_group], cold, warm, following, per_send)
    });
    // Every member device read every text.
    let mut read = Vec::new();
    let reads = companion_reads(&server, &mut devices);
    for (group, expected) in [(&groups[0], 1 + shape.samples), (&groups[1], 1)] {
        let companions: Vec<usize> = reads
            .iter()
            .map(|chats| chats.iter().filter(|c| *c == group).count())
            .collect();
        let phones: Vec<usize> = (1..=shape.members)
            .map(|i| {
                server
                    .received(i)
                    .unwrap_or_default()
                    .iter()
                    .filter(|r| r.chat == *group)
                    .count()
            })
            .collect();
        let short = companions
            .iter()
            .chain(&phones)
            .filter(|&&n| n != expected)
            .count();
        assert_eq!(
            short, 0,
            "{short} member devices did not read exactly {expected} texts of {group}"
        );
        read.push(companions.len() + phones.len());
    }
    let line = |what: &str, t: &Timed| {
        println!(
            "tether {what}: send → stanza's last bytes on the socket {:.1} ms (client wrote {:.1} KiB by then, {} commits before it); → server ack {:.1} ms",
            ms(t.to_wire),
            t.client_bytes as f64 / 1024.0,
            t.commits_before,
            ms(t.acked)
        );
    };
    line("first send, no pairwise sessions (SKDM as pkmsg)", &cold);
    line(
        "first send to a second group, sessions established (SKDM as msg)",
        &warm,
    );
    let mut to_wire: Vec<Duration> = following.iter().map(|t| t.to_wire).collect();
    let mut acked: Vec<Duration> = following.iter().map(|t| t.acked).collect();
    let commits: usize = following.iter().map(|t| t.commits_before).sum();
    following.clear();
    println!(
        "tether following sends ({}): send → stanza on the socket {}; → server ack {}; {:.2} commits before the stanza",
        shape.samples,
        summary(&mut to_wire),
        summary(&mut acked),
        commits as f64 / shape.samples as f64
    );
    println!(
        "tether store per following send: {:.2} transactions, {:.0} µs in apply, {:.1} record writes, {:.2} reads ({:.1} rows, {:.0} µs)",
        per_send[0],
        per_send[1] / 1e3,
        per_send[2],
        per_send[3],
        per_send[5],
        per_send[4] / 1e3
    );
    println!(
        "every member device read every text: {} devices in the first group, {} in the second",
        read[0], read[1]
    );
}

/// When the stanza's last bytes went out, and the bytes the client wrote up to them. A
/// following send's stanza is the first client read of a stanza's size after `mark` (nothing
/// else comes first: the metadata and device lists are known, the last send's receipts were
/// let through). A first send's stanza is the biggest client read before `until` (its queries
/// are much smaller) and the reads that follow it until the server next writes (the receipts
/// of a stanza, and the acks the client writes for them, come only after all of it arrived).
fn stanza_out(relay: &Relay, mark: usize, until: Instant, first: bool) -> Option<(Instant, usize)> {
    let reads = relay.reads.lock().unwrap();
    let reads = &reads[mark..];
    let out = if first {
        let (big, _) = reads
            .iter()
            .enumerate()
            .filter(|(_, (at, _))| *at <= until)
            .max_by_key(|(i, (_, n))| (*n, std::cmp::Reverse(*i)))?;
        let start = reads[big].0;
        let reply = relay
            .replies
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.0)
            .find(|at| *at > start);
        reads[big..]
            .iter()
            .map(|r| r.0)
            .take_while(|at| reply.is_none_or(|reply| *at < reply))
            .last()?
    } else {
        reads.iter().find(|(_, n)| *n >= GROUP_STANZA_MIN)?.0
    };
    let bytes = reads.iter().filter(|(at, _)| *at <= out).map(|r| r.1).sum();
    Some((out, bytes))
}

/// What Baileys runs with here: the app-state key id, and Baileys' default keep-alive interval
/// (the harness's 1 s would close the connection while the cold first send's 769 handshakes
/// keep Node busy for several seconds).
const GROUP_BAILEYS_ENV: [(&str, &str); 2] = [BAILEYS_ENV[0], ("FIDELITY_KEEP_ALIVE_MS", "30000")];

/// Baileys linked to the account of a server of the same shape, sending through a relay.
fn baileys_group(dir: &Path, shape: &Shape) -> Result<(), String> {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        contacts: shape.members,
        ..SimServerConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let mut devices = member_devices(&server, shape);
    let relay = Relay::start(server.local_addr());
    let auth = dir.join("baileys-auth");
    std::fs::create_dir_all(&auth).map_err(|e| e.to_string())?;
    let (app, jid) = link_baileys_session_with(&server, &auth, LIMIT, &GROUP_BAILEYS_ENV)
        .map_err(|e| format!("linking: {e}"))?;
    wait_until("Baileys' pre-keys", || {
        server
            .with_server(|s| s.pre_key_count(&jid))
            .is_some_and(|n| n > 0)
    });
    app.quit()?;
    let mut app = BaileysApp::spawn_with(
        &format!("ws://{}/ws/chat", relay.addr),
        &auth,
        &GROUP_BAILEYS_ENV,
    )?;
    app.wait_for("open", LIMIT, no_close)
        .map_err(|e| format!("reconnecting: {e}"))?;
    let account = phone_user(&server, 0);
    let members: Vec<Jid> = (1..=shape.members)
        .map(|i| phone_user(&server, i))
        .collect();
    let mut groups = Vec::new();
    for subject in ["bench group", "bench group, again"] {
        groups.push(
            server
                .with_server(|s| s.create_group(&account, subject, &members, Namespace::Pn))
                .map_err(|e| e.to_string())?,
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut send =
        |group: &Jid, text: &str, first: bool| -> Result<(Duration, Duration, usize), String> {
            let mark = relay.mark();
            let t = Instant::now();
            app.command(&format!("send {group} {text}"))?;
            app.wait_for("sent", LIMIT, |e| {
                if e["event"] == "send-failed" {
                    Err(format!("Baileys could not send: {e}"))
                } else {
                    no_close(e)
                }
            })
            .map_err(|e| format!("{e} after {:.1} s", t.elapsed().as_secs_f64()))?;
            let resolved = Instant::now();
            // The stanza can reach the relay just after Baileys reports it sent: let the
            // traffic (the stanza, then the members' receipts) settle, then look.
            let end = Instant::now() + LIMIT;
            while relay
                .last_activity()
                .is_some_and(|last| last.elapsed() < Duration::from_millis(100))
                && Instant::now() < end
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let (out, bytes) = stanza_out(&relay, mark, Instant::now(), first)
                .ok_or("Baileys' stanza never went through the relay")?;
            Ok((
                out.saturating_duration_since(t),
                resolved.saturating_duration_since(t),
                bytes,
            ))
        };
    let cold = send(&groups[0], "first", true).map_err(|e| format!("first send (cold): {e}"))?;
    let warm = send(&groups[1], "first", true).map_err(|e| format!("first send (warm): {e}"))?;
    let mut to_wire = Vec::new();
    let mut resolved = Vec::new();
    for i in 0..shape.samples {
        let (out, done, _) = send(&groups[0], &format!("group text number {i}"), false)?;
        to_wire.push(out);
        resolved.push(done);
    }
    app.quit()?;
    let reads = companion_reads(&server, &mut devices);
    let first: usize = reads
        .iter()
        .map(|chats| chats.iter().filter(|c| **c == groups[0]).count())
        .sum();
    let phones: usize = (1..=shape.members)
        .map(|i| {
            server
                .received(i)
                .unwrap_or_default()
                .iter()
                .filter(|r| r.chat == groups[0])
                .count()
        })
        .sum();
    for (what, (out, done, bytes)) in [
        ("first send, no pairwise sessions", cold),
        ("first send to a second group, sessions established", warm),
    ] {
        println!(
            "baileys (npm 6.17.16, multi-file auth state) {what}: `send` command → stanza's last bytes on the socket {:.1} ms (wrote {:.1} KiB by then); → sendMessage resolved {:.1} ms",
            ms(out),
            bytes as f64 / 1024.0,
            ms(done)
        );
    }
    println!(
        "baileys following sends ({}): → stanza on the socket {}; → sendMessage resolved {}; texts of the first group read: {first} by member companions (of {}), {phones} by phones (of {})",
        shape.samples,
        summary(&mut to_wire),
        summary(&mut resolved),
        shape.members * usize::from(shape.devices - 1) * (1 + shape.samples),
        shape.members * (1 + shape.samples),
    );
    Ok(())
}
