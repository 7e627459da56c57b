//! The loopback websocket runner (cargo feature `server`): the sans-IO [`FakeServer`](crate::FakeServer) served
//! over real websockets, for the runtime adapters' suites, `tether sim`, `tether demo` and the
//! Baileys fidelity test.
//!
//! [`SimServer::start`] binds a loopback listener and runs a tokio runtime on a background
//! thread, so callers on any runtime (tokio, smol, async-std, plain threads) can use it: every
//! method is synchronous and only takes a lock briefly.
//!
//! ```text
//!  TCP accept ─▶ connect fault? ─┬─ refuse: close before the upgrade
//!                                ├─ hang: hold the socket, never upgrade
//!                                └─ upgrade (any path; /ws/chat expected) ─▶ handle_open
//!  ws binary ─▶ handle_bytes ─▶ poll_transmit ─▶ ws binary (the first post-handshake frame
//!                             └▶ poll_close ──▶ ws close     held back by first_frame_delay)
//!  timer task: handle_timeout at poll_timeout (real time); optional server pings
//!  SimServer::{scan_qr, enter_pair_code, inject, fault_next, …} ─▶ same hub, same drain
//! ```
//!
//! One [`FakeServer`](crate::FakeServer) and one [`FakePhone`](crate::FakePhone) sit behind a mutex (the hub);
//! after every call into them the hub drains the server's transmits and closes to the
//! connections' writer tasks, in order. Server time is the real clock: `now` is
//! [`Instant::now`](std::time::Instant::now) and, by default, the server's wall clock starts at
//! the real Unix time, so clients' clock-skew checks pass.
//!
//! The optional HTTP control interface (`control.rs`) exposes the same verbs to other
//! processes; [`parse_fault`] reads its fault syntax.

mod control;
mod fault_syntax;
mod groups;
mod hub;
mod media;
mod phones;
mod tls;
mod web;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tether_core::binary::Jid;
use tokio::sync::watch;

use crate::phone::ScanError;
use crate::server::{Fault, GroupError, GroupInfo, MemberChange, Namespace, ServerConfig};

pub use fault_syntax::parse_fault;
pub use phones::{LOG_LIMIT, PhoneInfo};
pub use tls::{LOOPBACK_NAMES, TestCa, TestCaError};

use hub::Inner;

/// The default [`ServerConfig::history_limit`] of a loopback server: it may run for days
/// (`tether sim`), so its stanza and login history is bounded.
pub const HISTORY_LIMIT: usize = 10_000;

/// How a [`SimServer`] is set up.
#[derive(Clone, Debug)]
pub struct SimServerConfig {
    /// Where to listen (default `127.0.0.1:0`: any free loopback port).
    pub bind: SocketAddr,
    /// The fake server's configuration; the default's `unix_base` is the real wall clock and
    /// its history is bounded by [`HISTORY_LIMIT`].
    pub server: ServerConfig,
    /// How long the first post-handshake frame of each connection is held back (npm Baileys
    /// needs ~100 ms; Tether needs none). Default zero.
    pub first_frame_delay: Duration,
    /// Also serve the HTTP control interface on another loopback port (default `false`).
    pub control: bool,
    /// Send a server ping to every logged-in connection at this interval (default `None`).
    pub server_pings: Option<Duration>,
    /// Serve `wss://` (and `https://` for `sw.js`) with this CA's loopback certificate instead
    /// of `ws://` (default `None`).
    pub tls: Option<TestCa>,
    /// Contact phones besides phone 0 (the account companions link to), each its own account
    /// with Signal keys (default 1).
    pub contacts: usize,
}

impl Default for SimServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            server: ServerConfig {
                unix_base: wall_clock(),
                history_limit: Some(HISTORY_LIMIT),
                // Messages need real keys: every client uploads its one-time pre-keys.
                pre_key_count: 0,
                ..ServerConfig::default()
            },
            first_frame_delay: Duration::ZERO,
            control: false,
            server_pings: None,
            tls: None,
            contacts: 1,
        }
    }
}

/// The real wall clock in Unix seconds (0 if the clock is before 1970).
pub fn wall_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counters of a running [`SimServer`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    /// Websocket connections that reached the fake server (refused and hung connects excluded).
    pub accepted: u64,
    /// Websocket connections open now.
    pub open: usize,
    /// Login ClientPayloads received (successful or not).
    pub logins: u64,
    /// Registration ClientPayloads received.
    pub registrations: u64,
    /// Devices registered on the server.
    pub devices: usize,
    /// Answers to server pings received.
    pub pongs: u64,
}

/// Why a [`SimServer`] request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The fake phone could not link (unreadable QR, unknown or expired ref, no pending
    /// pair-code request).
    #[error("the phone could not link: {0}")]
    Phone(#[from] ScanError),
    /// No phone with this index.
    #[error("no phone {0}: the server has phone 0 and its contacts 1…n (see /phones)")]
    NoSuchPhone(usize),
    /// A fault description that [`parse_fault`] does not understand.
    #[error("unknown fault {0:?}")]
    UnknownFault(String),
    /// The server refused a group change (no such group, not an admin, unknown user…).
    #[error("the group change was refused: {0}")]
    Group(#[from] GroupError),
}

/// A fake WhatsApp server on a loopback websocket (see the module docs). Dropping it shuts it
/// down.
#[derive(Debug)]
pub struct SimServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    control_addr: Option<SocketAddr>,
    web_addr: SocketAddr,
    web_hits: Arc<AtomicU64>,
    tls: Option<TestCa>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Binds the listener(s) and starts the server thread.
    pub fn start(config: SimServerConfig) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let control = if config.control {
            let control = std::net::TcpListener::bind(SocketAddr::new(config.bind.ip(), 0))?;
            control.set_nonblocking(true)?;
            Some(control)
        } else {
            None
        };
        let control_addr = control.as_ref().map(|c| c.local_addr()).transpose()?;
        let web = std::net::TcpListener::bind(SocketAddr::new(config.bind.ip(), 0))?;
        web.set_nonblocking(true)?;
        let web_addr = web.local_addr()?;
        // The media host serves HTTPS only (clients use media hosts over TLS, as named).
        let media = match &config.tls {
            Some(_) => {
                let media = std::net::TcpListener::bind(SocketAddr::new(config.bind.ip(), 0))?;
                media.set_nonblocking(true)?;
                Some(media)
            }
            None => None,
        };
        let media_addr = media.as_ref().map(|m| m.local_addr()).transpose()?;
        let web_hits = Arc::new(AtomicU64::new(0));
        let revision = config
            .server
            .min_version
            .unwrap_or(tether_core::payload::DEFAULT_VERSION)
            .tertiary;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let inner = Arc::new(Inner::new(&config));
        if let Some(addr) = media_addr {
            inner.with_hub(|hub, _| hub.server.media().set_host(addr.to_string()));
        }
        let (shutdown, stop) = watch::channel(false);
        let tls = config.tls.clone();
        let thread = {
            let inner = Arc::clone(&inner);
            let hits = Arc::clone(&web_hits);
            let web_tls = tls.as_ref().map(TestCa::server_config);
            let media_tls = tls.as_ref().map(TestCa::server_config);
            let media_inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("tether-sim-server".to_owned())
                .spawn(move || {
                    runtime.block_on(async move {
                        let web = tokio::net::TcpListener::from_std(web);
                        let web_stop = stop.clone();
                        let web = async move {
                            match web {
                                Ok(web) => web::serve(web, web_tls, revision, hits, web_stop).await,
                                Err(error) => tracing::error!(%error, "sim server: cannot use the web listener"),
                            }
                        };
                        let media_stop = stop.clone();
                        let media = async move {
                            let listener = media.map(tokio::net::TcpListener::from_std);
                            match (listener, media_tls) {
                                (Some(Ok(listener)), Some(tls)) => {
                                    media::serve(listener, tls, media_inner, media_stop).await;
                                }
                                (Some(Err(error)), _) => tracing::error!(%error, "sim server: cannot use the media listener"),
                                _ => {}
                            }
                        };
                        tokio::join!(ws::run(inner, listener, control, config, stop), web, media);
                    });
                })?
        };
        Ok(Self {
            inner,
            addr,
            control_addr,
            web_addr,
            web_hits,
            tls,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The websocket URL clients connect to: `ws://127.0.0.1:PORT/ws/chat`, or `wss://` when
    /// the server has a [`TestCa`].
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}/ws/chat", self.addr)
    }

    /// The version URL clients fetch after a 405: `http://127.0.0.1:PORT/sw.js`, or `https://`
    /// with a [`TestCa`]. Its `client_revision` is the version the server accepts.
    pub fn version_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/sw.js", self.web_addr)
    }

    /// The media host `media_conn` answers name (`127.0.0.1:PORT`, HTTPS with the
    /// [`TestCa`]); `None` without TLS, when `media_conn` is refused.
    pub fn media_host(&self) -> Option<String> {
        self.inner
            .with_hub(|hub, _| hub.server.media().host().map(str::to_owned))
    }

    /// How many times `sw.js` was fetched.
    pub fn version_fetches(&self) -> u64 {
        self.web_hits.load(Ordering::Relaxed)
    }

    /// The CA that signed the server's certificate (PEM), when it serves TLS: what a client
    /// must trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(TestCa::ca_pem)
    }

    /// The websocket listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTP control interface, when configured: `http://127.0.0.1:PORT`.
    pub fn control_url(&self) -> Option<String> {
        self.control_addr.map(|a| format!("http://{a}"))
    }

    /// The root key of the server's certificate chain: the client's trusted root.
    pub fn root_public(&self) -> [u8; 32] {
        self.inner.root_public()
    }

    /// The fake phone scans `qr` (the string a client shows) and links it: returns the JID
    /// given to the companion (registered once the companion's reply verifies).
    pub fn scan_qr(&self, qr: &str) -> Result<Jid, SimError> {
        self.inner.scan_qr(qr)
    }

    /// Phone `phone` (0 is the default linking phone, 1… the contacts) scans `qr` and links
    /// it to its own account: two companions linked by different phones are two accounts
    /// that can write to each other (npm Baileys and Tether in the interop test).
    pub fn scan_qr_as(&self, phone: usize, qr: &str) -> Result<Jid, SimError> {
        self.inner.scan_qr_as(phone, qr)
    }

    /// The phone number of the fake phone's account (for pair-code requests).
    pub fn phone_number(&self) -> String {
        self.inner
            .with_hub(|hub, _| hub.linking_phone().0.phone_number().to_owned())
    }

    /// The phones: 0 is the account companions link to, 1… are contacts.
    pub fn phones(&self) -> Vec<PhoneInfo> {
        self.inner.phones()
    }

    /// Phone `phone` sends `text` to `to` (a user JID, phone number or LID, or a group it is in,
    /// with its sender key); returns the message id (its delivery shows in
    /// [`phone_events`](Self::phone_events)).
    pub fn send_text(&self, phone: usize, to: &Jid, text: &str) -> Result<String, SimError> {
        self.inner.send_text(phone, to, text)
    }

    /// What phone `phone`'s application received, oldest first (the newest [`LOG_LIMIT`]
    /// events are kept).
    pub fn received(&self, phone: usize) -> Result<Vec<crate::device::Received>, SimError> {
        self.inner.received(phone)
    }

    /// Everything that happened to phone `phone` (sent, receipts, retries…), oldest first.
    pub fn phone_events(&self, phone: usize) -> Result<Vec<crate::device::DeviceEvent>, SimError> {
        self.inner.phone_events(phone)
    }

    /// Phone `phone` sends `bytes` as media of `kind` to `to`: encrypted with a fresh key,
    /// stored on the media host like an upload, then sent as a media message presented as
    /// `options` say. Returns the message id.
    pub fn send_media(
        &self,
        phone: usize,
        to: &Jid,
        kind: tether_core::media::MediaKind,
        bytes: &[u8],
        options: &tether_core::media::MediaOptions,
    ) -> Result<String, SimError> {
        self.inner.send_media(phone, to, kind, bytes, options)
    }

    /// What a phone's download of `media` gets: the blob from the media host, verified and
    /// decrypted (every check a client makes).
    pub fn fetch_media(
        &self,
        media: &tether_core::media::MediaRef,
    ) -> Result<Vec<u8>, tether_core::media::MediaError> {
        self.inner.fetch_media(media)
    }

    /// Expires the blob at `direct_path` on the media host (downloads answer 410); `false`
    /// if there is none.
    pub fn expire_media(&self, direct_path: &str) -> bool {
        self.inner
            .with_hub(|hub, _| hub.server.media().expire(direct_path))
    }

    /// Deletes the blob at `direct_path` from the media host (downloads answer 404; a phone
    /// asked for a re-upload answers NOT_FOUND); `false` if there is none.
    pub fn purge_media(&self, direct_path: &str) -> bool {
        self.inner
            .with_hub(|hub, _| hub.server.media().purge(direct_path))
    }

    /// Flips a byte of the blob at `direct_path` (its MAC no longer matches); `false` if
    /// there is none.
    pub fn corrupt_media(&self, direct_path: &str) -> bool {
        self.inner
            .with_hub(|hub, _| hub.server.media().corrupt(direct_path))
    }

    /// Holds the next `n` downloads from the media host before they are answered, until
    /// [`release_media_downloads`](Self::release_media_downloads): a slow host, on demand.
    pub fn hold_media_downloads(&self, n: usize) {
        self.inner.media_hold.arm(n);
    }

    /// Downloads the media host holds now (see
    /// [`hold_media_downloads`](Self::hold_media_downloads)).
    pub fn held_media_downloads(&self) -> usize {
        self.inner.media_hold.held()
    }

    /// Lets every held download be answered, and holds no more.
    pub fn release_media_downloads(&self) {
        self.inner.media_hold.release();
    }

    /// Uploads the media host accepted over HTTPS so far.
    pub fn media_uploads(&self) -> u64 {
        self.inner.with_hub(|hub, _| hub.server.media().uploads())
    }

    /// Whether the phones answer their devices' media-retry (re-upload) requests: `true` by
    /// default; `false` acts like a phone that is offline (the asking device never hears).
    pub fn answer_media_retries(&self, answer: bool) {
        self.inner.with_hub(|hub, _| {
            for phone in &mut hub.phones {
                phone.answers_media_retry = answer;
            }
        });
    }

    /// Media-retry requests phone `phone` answered so far (`None`: no such phone).
    pub fn media_retries_answered(&self, phone: usize) -> Option<u64> {
        self.inner
            .with_hub(|hub, _| hub.phones.get(phone).map(|p| p.media_retries))
    }

    /// Phone `phone`'s account creates a group (its super admin) with `members` (user JIDs of
    /// registered accounts, either namespace), addressed in `addressing` (`Lid` or `Pn`);
    /// every member device, linked companions included, gets the `w:gp2` notification.
    /// Returns the group's JID; send to it with [`send_text`](Self::send_text).
    pub fn create_group(
        &self,
        phone: usize,
        subject: &str,
        members: &[Jid],
        addressing: Namespace,
    ) -> Result<Jid, SimError> {
        self.inner.create_group(phone, subject, members, addressing)
    }

    /// Phone `phone`'s account (an admin of `group`) adds, removes, promotes or demotes
    /// `members`; returns the members the change applied to.
    pub fn change_group(
        &self,
        phone: usize,
        group: &Jid,
        change: MemberChange,
        members: &[Jid],
    ) -> Result<Vec<Jid>, SimError> {
        self.inner.change_group(phone, group, change, members)
    }

    /// Phone `phone`'s account leaves `group`.
    pub fn leave_group(&self, phone: usize, group: &Jid) -> Result<(), SimError> {
        self.inner.leave_group(phone, group)
    }

    /// Every group the server knows.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.inner.groups()
    }

    /// Answers one request of the HTTP control interface (method, target with its query,
    /// body) without the HTTP: for a front end that serves its own control port (`tether
    /// sim`) and passes on the routes it does not handle itself.
    pub fn control(&self, method: &str, target: &str, body: &str) -> (u16, serde_json::Value) {
        control::route(&self.inner, method, target, body)
    }

    /// The fake phone types `code` for the pending pair-code request.
    pub fn enter_pair_code(&self, code: &str) -> Result<Jid, SimError> {
        self.inner.enter_pair_code(code)
    }

    /// Applies `fault` to every open connection, now.
    pub fn inject(&self, fault: Fault) {
        self.inner.inject(fault);
    }

    /// Applies `fault` to the next connection that reaches the server.
    pub fn fault_next(&self, fault: Fault) {
        self.inner.fault_next(fault);
    }

    /// The next `n` TCP connects are accepted and closed before the websocket upgrade.
    pub fn refuse_next_connects(&self, n: usize) {
        self.inner.refuse_next_connects(n);
    }

    /// The next `n` TCP connects are accepted and never upgraded.
    pub fn hang_next_connects(&self, n: usize) {
        self.inner.hang_next_connects(n);
    }

    /// The server's counters now.
    pub fn stats(&self) -> SimStats {
        self.inner.stats()
    }

    /// Runs `f` on the fake server itself (register a device, look at the logins…); whatever
    /// it queues is sent afterwards.
    pub fn with_server<R>(&self, f: impl FnOnce(&mut crate::FakeServer) -> R) -> R {
        self.inner.with_hub(|hub, _| f(&mut hub.server))
    }

    /// Closes every socket and joins the server thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
    }
}
