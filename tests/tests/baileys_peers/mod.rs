//! The two sides of the Baileys ↔ Tether tests (`baileys_tether_messaging`,
//! `baileys_tether_media`): a Tether application (the tokio adapter on a redb store, as an
//! application runs it) and the npm Baileys client (`interop/fidelity.mjs`), each counting the
//! messages it receives by id, so a test sees one lost, garbled or delivered twice.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tether_core::binary::Jid;
use tether_core::connection::{Config, Event};
use tether_core::driver::{Options, TlsTrust};
use tether_core::messaging::types::IncomingMessage;
use tether_core::proxy::ProxySetting;
use tether_runtime_tokio::{Client, PendingSend};
use tether_sim::net::SimServer;
use tether_store_redb::RedbStore;
use tether_tests::interop::fidelity::{BaileysApp, no_close};

/// How long any one wait lasts before the test fails.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// Polls `f` every 50 ms until it gives `Some` or `LIMIT` passes.
pub(crate) fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh scratch directory named after `name` and this process.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the server complains about, but Baileys' peer messages to its own phone
/// (`category="peer"`, a single `<enc>` without `<participants>`: Baileys 6.17.16 sends one
/// after a login, which `SimServer` does not model yet).
pub(crate) fn complaints(server: &SimServer) -> Vec<String> {
    server.with_server(|s| {
        let peer: Vec<&str> = s
            .received()
            .iter()
            .filter(|(_, n)| n.tag == "message" && n.attr_str("category") == Some("peer"))
            .filter_map(|(_, n)| n.attr_str("id"))
            .collect();
        s.complaints()
            .iter()
            .filter(|c| {
                !peer
                    .iter()
                    .any(|id| c.what == format!("message {id}: no <participants>"))
            })
            .map(|c| format!("{c:?}"))
            .collect()
    })
}

/// Fails the test when the server complains (see [`complaints`]).
pub(crate) fn assert_no_complaints(server: &SimServer) {
    let complaints = complaints(server);
    assert!(
        complaints.is_empty(),
        "the server complains: {complaints:?}"
    );
}

/// Waits until the server holds the pre-keys of each of `companions` (a peer can only
/// encrypt for a companion once they are up).
pub(crate) fn wait_for_pre_keys(server: &SimServer, companions: &[&Jid]) {
    for companion in companions {
        eventually(&format!("{companion}'s pre-keys"), || {
            server
                .with_server(|s| s.pre_key_count(companion))
                .filter(|n| *n > 0)
        });
    }
}

/// Ends a test: Tether shut down, Baileys told to quit, the server stopped, `dir` removed.
pub(crate) fn finish(tether: Tether, baileys: Peer, server: SimServer, dir: &Path) {
    tether.shutdown();
    baileys.app.quit().expect("quit");
    server.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// A Tether application: the tokio adapter on a redb store, its events forwarded to a channel
/// the (synchronous) test reads.
pub(crate) struct Tether {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) client: Client,
    events: mpsc::Receiver<Event>,
    /// Every message the application got, by id, with how often it came.
    pub(crate) got: BTreeMap<String, (usize, Box<IncomingMessage>)>,
    /// The ids of messages the application was told it cannot decrypt.
    pub(crate) undecryptable: Vec<String>,
}

impl Tether {
    /// Starts against `server` on the redb store at `store`.
    pub(crate) fn start(server: &SimServer, store: &Path) -> Self {
        Self::start_trusting(server, store, None)
    }

    /// [`start`](Self::start), trusting the CA in `ca_file` too (a TLS `SimServer`).
    pub(crate) fn start_trusting(server: &SimServer, store: &Path, ca_file: Option<&Path>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = Config::for_server(server.ws_url(), server.root_public());
        config.reconnect.base_delay = Duration::from_millis(100);
        config.version_url = server.version_url();
        let mut options = Options::default();
        options.proxy = ProxySetting::Off;
        if let Some(ca_file) = ca_file {
            options.trust = TlsTrust::builtin_only().with_ca_file(ca_file.to_owned());
        }
        let store = RedbStore::open(store).expect("open the redb store");
        let (tx, events) = mpsc::channel();
        let client = rt.block_on(async {
            let (client, mut events) = tether_runtime_tokio::start(config, store, options)
                .await
                .expect("start Tether");
            tokio::spawn(async move {
                while let Some(event) = events.next().await {
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            });
            client
        });
        client.connect().expect("connect");
        Self {
            rt,
            client,
            events,
            got: BTreeMap::new(),
            undecryptable: Vec::new(),
        }
    }

    /// The next event; fails the test after `LIMIT` or when the driver stopped.
    pub(crate) fn next(&mut self, waiting_for: &str) -> Event {
        match self.events.recv_timeout(LIMIT) {
            Ok(Event::Stopped { reason }) => {
                panic!("Tether stopped ({reason}) before {waiting_for}")
            }
            Ok(Event::Message(m)) => {
                // Counted and confirmed as an application would once it handled it.
                self.client.confirm(&[m.inbox]).expect("confirm");
                let entry = self
                    .got
                    .entry(m.id.0.clone())
                    .or_insert_with(|| (0, m.clone()));
                entry.0 += 1;
                Event::Message(m)
            }
            Ok(Event::Undecryptable(u)) => {
                self.undecryptable.push(u.id.0.clone());
                Event::Undecryptable(u)
            }
            Ok(event) => event,
            Err(_) => panic!("no Tether event within {LIMIT:?} waiting for {waiting_for}"),
        }
    }

    /// Waits for the message with id `id` (earlier ones are counted on the way).
    pub(crate) fn message(&mut self, id: &str) -> Box<IncomingMessage> {
        loop {
            if let Some((_, m)) = self.got.get(id) {
                return m.clone();
            }
            self.next(&format!("message {id}"));
        }
    }

    /// Links through phone `phone`'s QR scan (a fresh store), or logs in (a linked one).
    pub(crate) fn wait_connected(&mut self, server: &SimServer, phone: usize) -> Jid {
        loop {
            match self.next("the connection") {
                Event::QrCode { code, .. } => {
                    server
                        .scan_qr_as(phone, &code)
                        .expect("phone scans Tether's QR");
                }
                Event::Connected { jid } => return jid,
                _ => {}
            }
        }
    }

    /// Waits for the server's acknowledgement of a send; returns its id.
    pub(crate) fn acked(&self, pending: PendingSend) -> String {
        let id = pending.id().0.clone();
        let sent = self
            .rt
            .block_on(pending)
            .unwrap_or_else(|e| panic!("Tether's send {id} failed: {e}"));
        assert_eq!(sent.id.0, id);
        id
    }

    /// How often each message came, by id.
    pub(crate) fn counts(&self) -> Vec<(String, usize)> {
        self.got
            .iter()
            .map(|(id, (n, _))| (id.clone(), *n))
            .collect()
    }

    pub(crate) fn shutdown(self) {
        let Self { rt, client, .. } = self;
        rt.block_on(client.shutdown()).expect("shutdown");
    }
}

/// Baileys' side of the conversation: its events, with received messages counted by id.
pub(crate) struct Peer {
    pub(crate) app: BaileysApp,
    /// Messages from others (`fromMe: false`), by id, with how often each came.
    pub(crate) got: BTreeMap<String, (usize, Json)>,
    /// Messages Baileys could not decrypt (stubs), in order.
    pub(crate) undecryptable: Vec<Json>,
}

impl Peer {
    /// Wraps a running Baileys application that has received nothing yet.
    pub(crate) fn new(app: BaileysApp) -> Self {
        Self {
            app,
            got: BTreeMap::new(),
            undecryptable: Vec::new(),
        }
    }

    /// The next event (messages counted); fails on a close, an exit or a failed send.
    pub(crate) fn next(&mut self) -> Json {
        let event = self.app.next_event(LIMIT).unwrap_or_else(|e| panic!("{e}"));
        no_close(&event).unwrap_or_else(|e| panic!("{e}"));
        if event["event"] == "send-failed" {
            panic!("Baileys could not send: {event}");
        }
        if event["event"] == "message" && event["fromMe"] == false {
            let id = event["id"].as_str().expect("message id").to_owned();
            if event["stub"].is_null() {
                self.got.entry(id).or_insert_with(|| (0, event.clone())).0 += 1;
            } else {
                // Baileys could not decrypt it (yet): it sends a retry receipt, and the
                // message comes again with content once the sender answered it.
                self.undecryptable.push(event.clone());
            }
        }
        event
    }

    /// Waits for the message with id `id` from the other side.
    pub(crate) fn message(&mut self, id: &str) -> Json {
        loop {
            if let Some((_, m)) = self.got.get(id) {
                return m.clone();
            }
            self.next();
        }
    }

    /// Runs a sending command and returns the id Baileys gave the message.
    pub(crate) fn send(&mut self, command: &str) -> String {
        self.app.command(command).expect("command");
        loop {
            let event = self.next();
            if event["event"] == "sent" {
                return event["id"].as_str().expect("sent id").to_owned();
            }
        }
    }

    /// How often each message came, by id.
    pub(crate) fn counts(&self) -> Vec<(String, usize)> {
        self.got
            .iter()
            .map(|(id, (n, _))| (id.clone(), *n))
            .collect()
    }
}
