//! Fidelity check of the simulated server against a client no one here wrote: the real npm
//! Baileys client (6.17.16, `interop/fidelity.mjs`) against `SimServer` over loopback
//! websockets — QR linking with the fake phone scanning Baileys' QR, the 515 restart, login to
//! `open`, a `<conflict type="replaced"/>` Baileys must report as 440, a login of the known
//! device from the saved auth directory, and a silent server Baileys' keepalive must report as
//! 408. A second test imports the auth directory Baileys linked into Tether's redb store and
//! logs in with it: the server sees the same device (same JID, no QR), and the Baileys instance
//! still running on that identity is kicked with 440.
//!
//! Needs Node.js and `(cd interop && npm ci --ignore-scripts)`; run with
//! `cargo test -p tether-tests --test baileys_fidelity -- --ignored --test-threads=1`. Waits are
//! bounded generously; nothing asserts a speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tether_core::connection::{Command, Config, Connection, Event};
use tether_core::creds::CredentialStore;
use tether_sim::Fault;
use tether_sim::net::{SimServer, SimServerConfig, wall_clock};
use tether_store_redb::RedbStore;
use tether_tests::interop::fidelity::{BaileysApp, close_code, link_baileys_session, no_close};
use tether_tests::ws_client::{Flow, WsClient};

/// Bound on each wait (Baileys' keepalive needs ~6–7 s to declare a silent server dead).
const LIMIT: Duration = Duration::from_secs(90);

/// A fresh directory for Baileys' multi-file auth state, removed on drop.
struct AuthDir(PathBuf);

impl AuthDir {
    fn new() -> Self {
        Self::tagged("auth")
    }

    fn tagged(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "tether-baileys-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the auth dir");
        Self(dir)
    }
}

impl Drop for AuthDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
#[ignore = "needs Node.js and the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn baileys_links_restarts_logs_in_and_reports_440_and_408() {
    let server = SimServer::start(SimServerConfig {
        // npm Baileys installs its transport keys asynchronously after ClientFinish.
        first_frame_delay: Duration::from_millis(100),
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let auth = AuthDir::new();

    // QR linking: Baileys shows a 4-field QR, the fake phone scans it, 515, reconnect, open.
    let (mut app, jid) =
        link_baileys_session(&server, &auth.0, LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let stats = server.stats();
    assert_eq!(
        (stats.registrations, stats.logins, stats.devices),
        (1, 1, 1),
        "{stats:?}"
    );
    let dict_versions = server.with_server(|s| {
        s.open_connections()
            .into_iter()
            .filter_map(|id| s.dict_version(id))
            .collect::<Vec<_>>()
    });
    assert_eq!(dict_versions, vec![2], "npm Baileys speaks dictionary v2");

    // The server kicks the session: Baileys reports 440 (replaced).
    server.inject(Fault::Replaced);
    let close = app
        .wait_for("close", LIMIT, |_| Ok(()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code(&close), Some(440), "{close}");
    app.quit().unwrap_or_else(|e| panic!("{e}"));

    // A new Baileys process on the saved auth dir logs in as the known device, without a QR.
    let mut app = BaileysApp::spawn(&server.ws_url(), &auth.0).unwrap_or_else(|e| panic!("{e}"));
    let open = app
        .wait_for("open", LIMIT, |event| {
            if event["event"] == "qr" {
                return Err(format!("a known device was asked to link again: {event}"));
            }
            no_close(event)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        open["me"].as_str().and_then(|me| me.parse().ok()),
        Some(jid),
        "{open}"
    );
    let stats = server.stats();
    assert_eq!(
        (stats.registrations, stats.logins, stats.devices),
        (1, 2, 1),
        "{stats:?}"
    );

    // The server goes silent (answers nothing, keeps the socket): Baileys' keepalive gives up
    // with 408.
    server.inject(Fault::Silent);
    let close = app
        .wait_for("close", LIMIT, |_| Ok(()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code(&close), Some(408), "{close}");
    app.quit().unwrap_or_else(|e| panic!("{e}"));
    server.shutdown();
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs Node.js and the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
async fn a_baileys_linked_session_imported_into_tether_logs_in_as_the_same_device() {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let auth = AuthDir::new();
    let (app, jid) =
        link_baileys_session(&server, &auth.0, LIMIT).unwrap_or_else(|e| panic!("{e}"));
    app.quit().unwrap_or_else(|e| panic!("{e}"));

    // Import the directory Baileys wrote into a fresh redb store.
    let scratch = AuthDir::tagged("store");
    let mut store = RedbStore::open(scratch.0.join("tether.redb")).expect("open the store");
    let summary = store
        .import_baileys(&auth.0)
        .expect("import the Baileys session");
    assert_eq!(
        summary.jid.as_deref(),
        Some(jid.to_string().as_str()),
        "{summary}"
    );
    let loaded = store.load().expect("load").expect("imported credentials");

    // Baileys comes back on the same identity and opens…
    let mut app = BaileysApp::spawn(&server.ws_url(), &auth.0).unwrap_or_else(|e| panic!("{e}"));
    app.wait_for("open", LIMIT, no_close)
        .unwrap_or_else(|e| panic!("{e}"));

    // …then Tether logs in with the imported identity: same device, no QR.
    let config = Config::for_server(server.ws_url(), server.root_public());
    let conn = Connection::from_store(config, Some(loaded), Instant::now(), wall_clock(), [21; 32]);
    let mut client = WsClient::new(conn);
    client
        .conn
        .handle_command(Command::Connect, Instant::now())
        .expect("connect");
    let mut connected = None;
    let mut asked_to_link = false;
    let result = client
        .drive(LIMIT, |_, event| match event {
            Event::QrCode { .. } | Event::PairingCode { .. } => {
                asked_to_link = true;
                Flow::Done
            }
            Event::Connected { jid } => {
                connected = Some(jid.clone());
                Flow::Done
            }
            _ => Flow::Continue,
        })
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !asked_to_link,
        "the imported identity was asked to link again"
    );
    assert_eq!(
        connected.as_ref(),
        Some(&jid),
        "Tether logs in as the device Baileys linked"
    );
    let stats = server.stats();
    assert_eq!(
        (stats.registrations, stats.logins, stats.devices),
        (1, 3, 1),
        "{stats:?}"
    );

    // The server saw a second login of the same device: the Baileys session is replaced.
    let close = app
        .wait_for("close", LIMIT, |_| Ok(()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code(&close), Some(440), "{close}");
    app.quit().unwrap_or_else(|e| panic!("{e}"));
    server.shutdown();
}
