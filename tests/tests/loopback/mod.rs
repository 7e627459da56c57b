//! The loopback end-to-end suite, written once and run per runtime (`loopback_tokio.rs`,
//! `loopback_smol.rs`, `loopback_async_std.rs`) and again over TLS (`loopback_tokio_tls.rs`,
//! `loopback_smol_tls.rs`: `wss://` and an `https://` `sw.js`, with a CA made at test time and
//! trusted through `Options::trust`): a runtime adapter drives a real
//! `tether_core::Connection` over real websockets against `tether_sim::net::SimServer`.
//! Each test starts its own server on port 0. Timeouts only bound waiting for an event; no
//! test asserts a speed.

pub(crate) mod proxies;
#[allow(dead_code)] // the TLS binaries do not use it: it reads WebSocket messages in the clear
pub(crate) mod relay;
pub(crate) mod runtimes;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_lite::FutureExt;
use tether_core::binary::Jid;
use tether_core::connection::{Command, Config, Event};
use tether_core::creds::{CredentialStore, Credentials, CredentialsDelta, PersistSeq, StoreError};
use tether_core::driver::{ClientError, Options, TlsTrust};
use tether_core::proxy::ProxySetting;
use tether_core::reason::{DisconnectReason, LostCause};
use tether_sim::net::{SimServer, SimServerConfig, TestCa};
use tether_sim::{Fault, MemStore};

/// Bound on waiting for one expected event (never a speed assertion).
const LIMIT: Duration = Duration::from_secs(60);

/// Whether this test binary runs the suite over TLS (set by `loopback_suite!(H, tls)`).
static TLS: AtomicBool = AtomicBool::new(false);

/// Runs the suite over `wss://` (every test of the binary sets the same value).
#[allow(dead_code)] // the plain binaries never call it
pub(crate) fn use_tls() {
    TLS.store(true, Ordering::SeqCst);
}

/// Whether the suite runs over TLS.
pub(crate) fn tls() -> bool {
    TLS.load(Ordering::SeqCst)
}

/// Writes `ca`'s certificate to a fresh file in the temporary directory, for
/// `Options::trust`.
pub(crate) fn ca_file(ca: &TestCa) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let name = format!("tether-loopback-ca-{}-{n}.pem", std::process::id());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, ca.ca_pem()).expect("write the test CA");
    path
}

/// What the suite needs from a runtime adapter.
pub(crate) trait Harness: Sized + Send + 'static {
    /// Runs a test body to completion on this runtime.
    fn block_on<F: Future<Output = ()> + Send + 'static>(f: F);
    /// `start` (and, where the adapter returns one, spawn the driver).
    fn start(
        config: Config,
        store: SharedStore,
        options: Options,
    ) -> impl Future<Output = Self> + Send;
    /// `Client::command`.
    fn command(&self, command: Command) -> Result<(), ClientError>;
    /// `Events::next`.
    fn next_event(&mut self) -> impl Future<Output = Option<Event>> + Send;
    /// `Client::shutdown`, then drains the remaining events (returns them).
    fn shutdown(self) -> impl Future<Output = (Result<(), ClientError>, Vec<Event>)> + Send;
}

/// A `MemStore` the test can inspect while the adapter owns a handle to it; it can be told
/// to panic inside `apply` (a buggy store implementation).
#[derive(Clone, Default)]
pub(crate) struct SharedStore(Arc<Mutex<MemStore>>, Arc<AtomicBool>);

impl SharedStore {
    pub(crate) fn new(store: MemStore) -> Self {
        Self(Arc::new(Mutex::new(store)), Arc::default())
    }

    /// Makes every later `load` and `apply` panic.
    pub(crate) fn plant_panic(&self) {
        self.1.store(true, Ordering::SeqCst);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MemStore> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CredentialStore for SharedStore {
    fn load(&mut self) -> Result<Option<(Credentials, PersistSeq)>, StoreError> {
        assert!(!self.1.load(Ordering::SeqCst), "a planted bug in the store");
        self.lock().load()
    }
    fn apply(&mut self, seq: PersistSeq, delta: &CredentialsDelta) -> Result<(), StoreError> {
        assert!(!self.1.load(Ordering::SeqCst), "a planted bug in the store");
        self.lock().apply(seq, delta)
    }
    fn quarantine(&mut self, seq: PersistSeq, why: &str) -> Result<(), StoreError> {
        self.lock().quarantine(seq, why)
    }
    fn read(
        &mut self,
        reads: &[tether_core::records::RecordRead],
    ) -> Result<Vec<tether_core::records::RecordData>, StoreError> {
        assert!(!self.1.load(Ordering::SeqCst), "a planted bug in the store");
        self.lock().read(reads)
    }
}

/// A server, a store and the test's config (short backoff; keepalive per scenario).
pub(crate) struct Setup {
    pub(crate) server: SimServer,
    pub(crate) store: SharedStore,
    pub(crate) config: Config,
    pub(crate) options: Options,
}

impl Setup {
    pub(crate) fn new(seed: u8) -> Self {
        Self::with_server(seed, SimServerConfig::default())
    }

    pub(crate) fn with_server(seed: u8, mut server: SimServerConfig) -> Self {
        let mut options = Options::default();
        options.trust = TlsTrust::builtin_only();
        if tls() && server.tls.is_none() {
            let ca = TestCa::generate().expect("make the test CA");
            options.trust = TlsTrust::builtin_only().with_ca_file(ca_file(&ca));
            server.tls = Some(ca);
        }
        let server = SimServer::start(server).expect("start the sim server");
        let mut config = Config::for_server(server.ws_url(), server.root_public());
        config.reconnect.base_delay = Duration::from_millis(50);
        config.reconnect.max_delay = Duration::from_millis(400);
        config.version_url = server.version_url();
        options.proxy = ProxySetting::Off;
        options.seed = Some([seed; 32]);
        Self {
            server,
            store: SharedStore::new(MemStore::new()),
            config,
            options,
        }
    }

    pub(crate) async fn start<H: Harness>(&self) -> H {
        H::start(
            self.config.clone(),
            self.store.clone(),
            self.options.clone(),
        )
        .await
    }
}

/// Waits for the first event `pick` accepts; panics with the events seen on timeout or end.
pub(crate) async fn wait_for<H: Harness, T>(
    h: &mut H,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T> + Send,
) -> T {
    let mut seen = Vec::new();
    let found = async {
        while let Some(event) = h.next_event().await {
            if let Some(t) = pick(&event) {
                return Some(t);
            }
            seen.push(format!("{event:?}"));
        }
        None
    }
    .or(async {
        async_io::Timer::after(LIMIT).await;
        None
    })
    .await;
    match found {
        Some(t) => t,
        None => panic!("no {what} within {LIMIT:?}; events seen: {seen:#?}"),
    }
}

/// Links by QR through the fake phone, the 515 restart and the login; returns the JID the
/// phone issued.
pub(crate) async fn link<H: Harness>(h: &mut H, server: &SimServer) -> Jid {
    h.command(Command::Connect).expect("connect");
    link_after_connect(h, server).await
}

/// [`link`] once `Command::Connect` was given.
pub(crate) async fn link_after_connect<H: Harness>(h: &mut H, server: &SimServer) -> Jid {
    let issued = wait_for(h, "QR code", |e| match e {
        Event::QrCode { code, .. } => Some(code.clone()),
        _ => None,
    })
    .await;
    let issued = server.scan_qr(&issued).expect("the phone scans the QR");
    let paired = wait_for(h, "Paired", |e| match e {
        Event::Paired { jid } => Some(jid.clone()),
        _ => None,
    })
    .await;
    assert_eq!(paired, issued);
    wait_for(h, "515 restart", |e| match e {
        Event::Disconnected {
            reason: DisconnectReason::RestartRequired { .. },
            reconnect_at: Some(_),
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    let connected = wait_for(h, "Connected", connected).await;
    assert_eq!(connected, issued, "logs in as the linked device");
    issued
}

pub(crate) fn connected(e: &Event) -> Option<Jid> {
    match e {
        Event::Connected { jid } => Some(jid.clone()),
        _ => None,
    }
}

/// Waits (bounded) until the store holds a confirmed identity: the first `<success>`'s
/// persist has been applied.
async fn until_confirmed(store: &SharedStore) {
    for _ in 0..600 {
        if store.lock().current().is_some_and(|c| c.confirmed) {
            return;
        }
        async_io::Timer::after(Duration::from_millis(100)).await;
    }
    panic!("the store never held confirmed credentials");
}

/// Links by QR, restarts on 515, logs in; the credentials are durable, and a second client
/// started from the same store logs in without linking again.
pub(crate) async fn links_by_qr_then_restarts_from_the_store<H: Harness>() {
    let s = Setup::new(1);
    let mut h: H = s.start().await;
    let jid = link(&mut h, &s.server).await;
    let stats = s.server.stats();
    assert_eq!(
        (stats.registrations, stats.logins, stats.devices),
        (1, 1, 1),
        "{stats:?}"
    );
    let (result, rest) = h.shutdown().await;
    result.expect("graceful shutdown");
    assert!(
        rest.iter().any(|e| matches!(
            e,
            Event::Stopped {
                reason: DisconnectReason::LocalShutdown
            }
        )),
        "{rest:?}"
    );
    let stored = s.store.lock().current().and_then(|c| c.device.clone());
    assert_eq!(
        stored.map(|d| d.jid),
        Some(jid.clone()),
        "shutdown flushed the pairing"
    );

    let mut again: H = s.start().await;
    again.command(Command::Connect).expect("connect");
    let relogged = wait_for(&mut again, "Connected from the store", |e| match e {
        Event::QrCode { .. } => panic!("a stored identity must not show a QR"),
        e => connected(e),
    })
    .await;
    assert_eq!(relogged, jid);
    assert_eq!(s.server.stats().registrations, 1, "no second registration");
    again.shutdown().await.0.expect("shutdown");
}

/// A server that goes silent is detected by the keepalive and the client reconnects (with
/// backoff) and logs in again.
pub(crate) async fn keepalive_silence_reconnects<H: Harness>() {
    let mut s = Setup::new(2);
    s.config.keep_alive.interval = Duration::from_millis(300);
    s.config.keep_alive.ping_deadline = Duration::from_millis(500);
    s.config.keep_alive.timeout = Duration::from_secs(1);
    let mut h: H = s.start().await;
    link(&mut h, &s.server).await;
    s.server.inject(Fault::Silent);
    let (reason, at) = wait_for(&mut h, "dead-socket disconnect", |e| match e {
        Event::Disconnected {
            reason: reason @ DisconnectReason::ConnectionLost { .. },
            reconnect_at,
            ..
        } => Some((reason.clone(), *reconnect_at)),
        _ => None,
    })
    .await;
    assert!(at.is_some(), "a lost connection is retried: {reason:?}");
    wait_for(&mut h, "Connected again", connected).await;
    assert!(s.server.stats().logins >= 2);
    h.shutdown().await.0.expect("shutdown");
}

/// A hostile relay starts a frame and trickles it a byte at a time: loose bytes are no sign of
/// life, so the client drops that connection at the frame timeout (`FrameTimeout`, retried)
/// and logs in again through a connection the relay leaves alone. (Plain `ws://` only: the
/// relay reads WebSocket messages in the clear.)
#[allow(dead_code)]
pub(crate) async fn a_trickling_relay_is_cut_at_the_frame_timeout<H: Harness>() {
    let mut s = Setup::new(15);
    let relay = relay::Relay::start(s.server.local_addr(), Duration::from_millis(100));
    s.config.endpoint = format!("ws://{}/ws/chat", relay.addr);
    s.config.keep_alive.frame_timeout = Duration::from_secs(1);
    let mut h: H = s.start().await;
    link(&mut h, &s.server).await;
    let logins = s.server.stats().logins;
    relay.trickle_newest();
    let reason = wait_for(
        &mut h,
        "a disconnect of the trickled connection",
        |e| match e {
            Event::Disconnected {
                reason,
                reconnect_at,
                ..
            } => {
                assert!(
                    reconnect_at.is_some(),
                    "a stalled frame is transient: {reason:?}"
                );
                Some(reason.clone())
            }
            _ => None,
        },
    )
    .await;
    assert_eq!(
        reason,
        DisconnectReason::ConnectionLost {
            cause: LostCause::FrameTimeout
        }
    );
    wait_for(&mut h, "Connected again", connected).await;
    assert!(s.server.stats().logins > logins);
    h.shutdown().await.0.expect("shutdown");
}

/// 440 (another instance took the account) stops the client with `Replaced`, no retry.
pub(crate) async fn replaced_stops<H: Harness>() {
    let s = Setup::new(3);
    let mut h: H = s.start().await;
    link(&mut h, &s.server).await;
    s.server.inject(Fault::Replaced);
    let reason = wait_for(&mut h, "Stopped", |e| match e {
        Event::Disconnected {
            reconnect_at: Some(_),
            reason,
            ..
        } => {
            panic!("440 must not be retried: {reason:?}")
        }
        Event::Stopped { reason } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(reason, DisconnectReason::Replaced { .. }),
        "{reason:?}"
    );
    h.shutdown().await.0.expect("shutdown");
}

/// A store implementation that panics does not take the driver down with it: the persist
/// fails, the connection stops with `StoreFailure` naming the panic, and shutdown still
/// returns.
pub(crate) async fn a_panicking_store_stops_with_a_store_failure<H: Harness>() {
    let s = Setup::new(12);
    let mut h: H = s.start().await;
    s.store.plant_panic();
    h.command(Command::Connect).expect("connect");
    let server = &s.server;
    let reason = wait_for(&mut h, "Stopped", |e| match e {
        Event::QrCode { code, .. } => {
            server.scan_qr(code).expect("the phone scans the QR");
            None
        }
        Event::Stopped { reason } => Some(reason.clone()),
        _ => None,
    })
    .await;
    match &reason {
        DisconnectReason::StoreFailure { detail } => {
            assert!(detail.contains("panicked"), "{detail}");
        }
        other => panic!("expected a store failure, got {other:?}"),
    }
    h.shutdown().await.0.expect("shutdown");
}

/// A 401 failure on a confirmed identity stops the client as logged out and quarantines
/// the credentials (kept, never deleted).
pub(crate) async fn logged_out_stops_and_quarantines<H: Harness>() {
    let s = Setup::new(4);
    let mut h: H = s.start().await;
    let jid = link(&mut h, &s.server).await;
    until_confirmed(&s.store).await;
    s.server.inject(Fault::Failure {
        reason: 401,
        expire: None,
    });
    let reason = wait_for(&mut h, "Stopped", |e| match e {
        Event::Stopped { reason } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(reason, DisconnectReason::LoggedOut { .. }),
        "{reason:?}"
    );
    h.shutdown().await.0.expect("shutdown");
    let store = s.store.lock();
    assert!(store.current().is_none(), "the identity was moved aside");
    let quarantined = store.quarantined();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        quarantined[0].credentials.device.as_ref().map(|d| &d.jid),
        Some(&jid)
    );
}

/// The server closing the socket without a word is a lost connection: reconnect, log in.
pub(crate) async fn abrupt_close_reconnects<H: Harness>() {
    let s = Setup::new(5);
    let mut h: H = s.start().await;
    link(&mut h, &s.server).await;
    s.server.inject(Fault::AbruptClose);
    wait_for(&mut h, "Disconnected with a retry", |e| match e {
        Event::Disconnected {
            reconnect_at: Some(_),
            reason: DisconnectReason::ConnectionLost { .. },
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    wait_for(&mut h, "Connected again", connected).await;
    assert_eq!(s.server.stats().logins, 2);
    h.shutdown().await.0.expect("shutdown");
}

/// Connects the server drops before the WebSocket upgrade are retried until it accepts; each
/// says what happened (the upgrade never answered), not "connection closed".
pub(crate) async fn refused_connects_are_retried<H: Harness>() {
    let s = Setup::new(6);
    s.server.refuse_next_connects(2);
    let mut h: H = s.start().await;
    h.command(Command::Connect).expect("connect");
    let failure = wait_for(&mut h, "a failed upgrade", transport_failure).await;
    if tls() {
        // Dropped before the TLS handshake completed.
        assert_eq!(failure.kind(), "tls", "{failure}");
    } else {
        assert_eq!(failure.kind(), "upgrade", "{failure}");
        assert!(
            failure.to_string().contains("before answering"),
            "{failure}"
        );
    }
    let _ = link_after_connect(&mut h, &s.server).await;
    assert!(s.server.stats().accepted >= 2);
    h.shutdown().await.0.expect("shutdown");
}

/// A port nobody listens on is a refused connection (typed, with the address), retried.
pub(crate) async fn a_closed_port_is_a_refused_connection<H: Harness>() {
    let mut s = Setup::new(14);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let scheme = if tls() { "wss" } else { "ws" };
    s.config.endpoint = format!("{scheme}://127.0.0.1:{port}/ws/chat");
    let mut h: H = s.start().await;
    h.command(Command::Connect).expect("connect");
    let failure = wait_for(&mut h, "a refused connect", transport_failure).await;
    assert_eq!(
        failure,
        tether_core::reason::TransportFailure::Refused {
            target: format!("127.0.0.1:{port}")
        }
    );
    h.shutdown().await.0.expect("shutdown");
}

/// The typed transport failure of a retried disconnect.
pub(crate) fn transport_failure(e: &Event) -> Option<tether_core::reason::TransportFailure> {
    match e {
        Event::Disconnected {
            reason,
            reconnect_at: Some(_),
            ..
        } => reason.transport_failure().cloned(),
        _ => None,
    }
}

/// The whole link goes through an HTTP CONNECT proxy (written in the test).
pub(crate) async fn links_through_an_http_connect_proxy<H: Harness>() {
    let mut s = Setup::new(7);
    let proxy = proxies::Proxy::start(proxies::Kind::HttpConnect);
    s.options.proxy = ProxySetting::Url(format!("http://{}", proxy.addr));
    let mut h: H = s.start().await;
    link(&mut h, &s.server).await;
    let target = s.server.local_addr().to_string();
    let tunnels = proxy.targets();
    assert!(
        tunnels.len() >= 2,
        "registration and login sockets: {tunnels:?}"
    );
    assert!(tunnels.iter().all(|t| *t == target), "{tunnels:?}");
    h.shutdown().await.0.expect("shutdown");
}

/// The whole link goes through a SOCKS5 proxy (written in the test) with credentials.
pub(crate) async fn links_through_a_socks5_proxy<H: Harness>() {
    let mut s = Setup::new(8);
    let proxy = proxies::Proxy::start(proxies::Kind::Socks5);
    s.options.proxy = ProxySetting::Url(format!("socks5://user:secret@{}", proxy.addr));
    let mut h: H = s.start().await;
    link(&mut h, &s.server).await;
    let tunnels = proxy.targets();
    assert!(tunnels.len() >= 2, "{tunnels:?}");
    assert!(
        proxy.users().iter().all(|u| u == "user:secret"),
        "{:?}",
        proxy.users()
    );
    h.shutdown().await.0.expect("shutdown");
}

/// A proxy that refuses the tunnel is a transport failure the client retries, not a crash.
pub(crate) async fn a_refusing_proxy_is_a_retried_failure<H: Harness>() {
    let mut s = Setup::new(9);
    let proxy = proxies::Proxy::start(proxies::Kind::Refusing);
    s.options.proxy = ProxySetting::Url(format!("http://{}", proxy.addr));
    let mut h: H = s.start().await;
    h.command(Command::Connect).expect("connect");
    let (attempt, failure) = wait_for(
        &mut h,
        "Disconnected after the proxy refused",
        |e| match e {
            Event::Disconnected {
                reconnect_at: Some(_),
                attempt,
                reason,
                ..
            } => Some((*attempt, reason.transport_failure().cloned())),
            _ => None,
        },
    )
    .await;
    assert!(attempt >= 1);
    let failure = failure.expect("a typed transport failure");
    assert_eq!(failure.kind(), "proxy", "{failure}");
    assert!(failure.to_string().contains("403"), "{failure}");
    assert_eq!(s.server.stats().accepted, 0, "nothing reached the server");
    h.shutdown().await.0.expect("shutdown");
}

/// A 405 (outdated client) makes the adapter fetch `sw.js` from the version URL (the sim's,
/// over `https://` in the TLS run); the core retries with the fetched version, links, and
/// persists that version.
pub(crate) async fn outdated_client_fetches_the_version<H: Harness>() {
    let old = tether_core::payload::DEFAULT_VERSION;
    let fresh = tether_core::payload::AppVersion::new(2, 3000, old.tertiary + 7);
    let mut sim = SimServerConfig::default();
    sim.server.min_version = Some(fresh);
    let s = Setup::with_server(11, sim);
    let scheme = if tls() { "https://" } else { "http://" };
    assert!(s.config.version_url.starts_with(scheme));
    let mut h: H = s.start().await;
    link(&mut h, &s.server).await;
    assert_eq!(s.server.version_fetches(), 1, "one fetch of the script");
    h.shutdown().await.0.expect("shutdown");
    assert_eq!(
        s.store.lock().current().and_then(|c| c.version),
        Some(fresh)
    );
}

/// A server whose certificate chains to a CA the client does not trust is a TLS failure
/// (retried, typed, naming the host), never a connection: verification cannot be skipped.
pub(crate) async fn an_untrusted_certificate_is_a_tls_failure<H: Harness>() {
    let sim = SimServerConfig {
        tls: Some(TestCa::generate().expect("make the test CA")),
        ..SimServerConfig::default()
    };
    let mut s = Setup::with_server(15, sim);
    s.options.trust = TlsTrust::builtin_only();
    let mut h: H = s.start().await;
    h.command(Command::Connect).expect("connect");
    let failure = wait_for(&mut h, "a TLS failure", transport_failure).await;
    assert_eq!(failure.kind(), "tls", "{failure}");
    assert!(failure.to_string().contains("127.0.0.1"), "{failure}");
    assert_eq!(
        s.server.stats().accepted,
        0,
        "no WebSocket reached the server"
    );
    h.shutdown().await.0.expect("shutdown");
}

/// Commands the core refuses come back as `ClientError::Command`; shutting down an idle client
/// ends its event stream.
pub(crate) async fn misuse_is_reported_and_shutdown_ends_the_client<H: Harness>() {
    let s = Setup::new(10);
    let h: H = s.start().await;
    let refused = h.command(Command::Logout);
    assert!(
        matches!(refused, Err(ClientError::Command(_))),
        "{refused:?}"
    );
    let (result, rest) = h.shutdown().await;
    result.expect("shutdown of an idle client");
    assert!(
        rest.iter()
            .all(|e| !matches!(e, Event::QrCode { .. } | Event::Connected { .. })),
        "an idle client never connected: {rest:?}"
    );
}

/// One `#[test]` per scenario for the runtime `$h`.
#[macro_export]
macro_rules! loopback_suite {
    ($h:ty) => {
        $crate::loopback_suite!(@tests $h;
            links_by_qr_then_restarts_from_the_store,
            keepalive_silence_reconnects,
            a_trickling_relay_is_cut_at_the_frame_timeout,
            replaced_stops,
            logged_out_stops_and_quarantines,
            abrupt_close_reconnects,
            refused_connects_are_retried,
            a_closed_port_is_a_refused_connection,
            links_through_an_http_connect_proxy,
            links_through_a_socks5_proxy,
            a_refusing_proxy_is_a_retried_failure,
            misuse_is_reported_and_shutdown_ends_the_client,
            outdated_client_fetches_the_version,
            a_panicking_store_stops_with_a_store_failure,
            an_untrusted_certificate_is_a_tls_failure,
        );
    };
    ($h:ty, tls) => {
        $crate::loopback_suite!(@tests_tls $h;
            links_by_qr_then_restarts_from_the_store,
            keepalive_silence_reconnects,
            replaced_stops,
            logged_out_stops_and_quarantines,
            abrupt_close_reconnects,
            refused_connects_are_retried,
            a_closed_port_is_a_refused_connection,
            links_through_an_http_connect_proxy,
            links_through_a_socks5_proxy,
            a_refusing_proxy_is_a_retried_failure,
            misuse_is_reported_and_shutdown_ends_the_client,
            outdated_client_fetches_the_version,
            a_panicking_store_stops_with_a_store_failure,
            an_untrusted_certificate_is_a_tls_failure,
        );
    };
    (@tests_tls $h:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                loopback::use_tls();
                <$h as loopback::Harness>::block_on(loopback::$name::<$h>());
            }
        )*
    };
    (@tests $h:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                <$h as loopback::Harness>::block_on(loopback::$name::<$h>());
            }
        )*
    };
}
