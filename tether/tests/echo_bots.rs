//! The README's echo bots, run as the built example binaries against the loopback simulator: a
//! contact's simulated phone writes, the bot answers with the same text, the phone receives it.
//! `cargo test -p tether` builds the examples first (the smol one with `--features
//! runtime-smol`, as CI runs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tether_core::binary::{Jid, Server};
use tether_sim::net::{SimServer, SimServerConfig};

const LIMIT: Duration = Duration::from_secs(60);

/// The example binary beside this test's own (`target/<profile>/examples/<name>`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test -p tether` (without --test, so that cargo builds the \
         examples{})",
        path.display(),
        if name.contains("smol") {
            "; with --features runtime-smol"
        } else {
            ""
        }
    );
    path
}

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn echo(name: &str) {
    let server = SimServer::start(SimServerConfig::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("tether-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(example(name))
        .arg(dir.join("bot.redb"))
        .env("TETHER_SERVER", server.ws_url())
        .env("TETHER_TRUST_ROOT", hex::encode(server.root_public()))
        .env("no_proxy", "*")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _bot = Bot(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = |what: &str| -> String {
        rx.recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("the bot printed no {what} within {LIMIT:?}"))
    };
    let line = next("QR code");
    let code = line
        .strip_prefix("qr ")
        .expect("the bot's first line is its QR code");
    let companion = server.scan_qr(code).unwrap();
    let end = Instant::now() + LIMIT;
    while server
        .with_server(|s| s.pre_key_count(&companion))
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < end, "the bot never uploaded its pre-keys");
        std::thread::sleep(Duration::from_millis(20));
    }
    let phones = server.phones();
    let account = Jid::user(&phones[0].phone_number, Server::WhatsApp);
    let id = server
        .send_text(1, &account, "ping from the contact")
        .unwrap();
    let line = next("echo line");
    assert!(line.starts_with(&format!("echoed {id} as ")), "{line}");
    let end = Instant::now() + LIMIT;
    loop {
        let got = server.received(1).unwrap();
        if got
            .iter()
            .any(|r| r.text.as_deref() == Some("ping from the contact") && !r.from_me)
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "the contact never got the echo: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tokio_echo_bot_answers_a_message() {
    echo("echo_tokio");
}

#[cfg(feature = "runtime-smol")]
#[test]
fn the_smol_echo_bot_answers_a_message() {
    echo("echo_smol");
}
