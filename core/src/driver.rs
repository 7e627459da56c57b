//! What both runtime adapters share, sans-IO: the [`Driver`] that wraps a
//! [`Connection`] and keeps its single-mutation rule (every input
//! is followed at once by a full drain into an outbox), the store worker's one step
//! ([`run_store_action`]), the `Client` command step ([`client_command`]), the outbox as
//! [`Job`]s with the current-transport bookkeeping ([`Driver::take_turn`]), seed selection
//! ([`Options::seed_or`]), the adapters' [`Options`] and their error types.
//!
//! ```text
//!   app ── Client::command ─┐                   ┌─▶ outbox: transmits, actions, events (in order)
//!   sockets, store, timer ──┴─▶ Driver::handle ─┤
//!                                               └─▶ deadline (next handle_timeout)
//! ```
//!
//! An adapter holds the `Driver` behind a lock shared by its `Client` handles and its driver
//! task; whoever mutates it drains in the same critical section, so outputs of two inputs never
//! interleave. The driver task takes the outbox and executes it: sends bytes, opens and closes
//! transports, hands store actions to a worker off the executor threads, forwards events.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

use crate::connection::{
    Action, Command, CommandError, Connection, Event, Output, State, TransportEvent, TransportId,
    VersionError,
};
use crate::creds::{CredentialStore, LoadId, PersistSeq, StoreError, StoreResult};
use crate::endpoint::UrlError;
use crate::messaging::ids::MessageId;
use crate::messaging::recipient::RecipientError;
use crate::messaging::types::SendError;
use crate::payload::AppVersion;
use crate::proxy::{ProxyError, ProxySetting};
use crate::reason::TransportFailure;
use crate::version_fetch::VersionFetchError;

/// Adapter options (the same for every runtime).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Which proxy to use (default: from the environment).
    pub proxy: ProxySetting,
    /// The seed for every random choice; `None`: the adapter draws one from the OS.
    pub seed: Option<[u8; 32]>,
    /// Largest WebSocket message accepted (whatsmeow: 16 MiB).
    pub ws_max_message: usize,
    /// The WebSocket read buffer per connection (bytes); small keeps idle sessions small.
    pub ws_read_buffer: usize,
    /// The certificate authorities every TLS connection trusts (WebSocket, version fetch and
    /// media hosts).
    pub trust: TlsTrust,
    /// The largest media file sent or downloaded (bytes), checked before anything is read
    /// (default [`DEFAULT_MEDIA_LIMIT`]: WhatsApp's document limit).
    pub media_limit: u64,
    /// The largest media file an upload encrypts once into memory (bytes; default
    /// [`DEFAULT_MEDIA_MEMORY_BUDGET`]): its blob is held whole while it is sent, so the file
    /// is read, encrypted and hashed once. A larger file is read twice instead (once for the
    /// hashes the upload URL needs, once into the socket) with memory bounded by 64 KiB; `0`
    /// streams every file.
    pub media_memory_budget: u64,
    /// How long a download whose file expired waits for the phone's re-upload (the
    /// media-retry flow) before it fails (default [`DEFAULT_MEDIA_RETRY_TIMEOUT`]).
    pub media_retry_timeout: Duration,
}

/// The default [`Options::media_limit`]: 2 GiB, WhatsApp's limit for documents.
pub const DEFAULT_MEDIA_LIMIT: u64 = 2 << 30;

/// The default [`Options::media_memory_budget`]: 16 MiB (WhatsApp's own limit for images and
/// videos is 16 MB; documents go up to 2 GiB and stream).
pub const DEFAULT_MEDIA_MEMORY_BUDGET: u64 = 16 << 20;

/// The default [`Options::media_retry_timeout`]: 30 s (whatsapp-rust's too).
pub const DEFAULT_MEDIA_RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which certificate authorities the adapters' TLS connections trust: always the built-in
/// webpki roots, plus the CA certificates of these PEM files. There is deliberately no way to
/// turn verification off: a test server gets its own CA trusted instead. The adapters read the
/// files when they start (the core only carries the paths).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsTrust {
    /// PEM files of extra CA certificates (`tether --ca-file`, config `caFile`).
    pub ca_files: Vec<std::path::PathBuf>,
    /// Also trust the certificates of the PEM file the `SSL_CERT_FILE` environment variable
    /// names, when it is set (default `true`). They are added to the built-in roots, never
    /// instead of them.
    pub ssl_cert_file: bool,
}

impl Default for TlsTrust {
    fn default() -> Self {
        Self {
            ca_files: Vec::new(),
            ssl_cert_file: true,
        }
    }
}

impl TlsTrust {
    /// The built-in roots only: no extra file, `SSL_CERT_FILE` ignored.
    pub fn builtin_only() -> Self {
        Self {
            ca_files: Vec::new(),
            ssl_cert_file: false,
        }
    }

    /// The default trust plus the CA certificates in `path`.
    pub fn with_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            proxy: ProxySetting::FromEnv,
            seed: None,
            ws_max_message: 16 << 20,
            ws_read_buffer: 4096,
            trust: TlsTrust::default(),
            media_limit: DEFAULT_MEDIA_LIMIT,
            media_memory_budget: DEFAULT_MEDIA_MEMORY_BUDGET,
            media_retry_timeout: DEFAULT_MEDIA_RETRY_TIMEOUT,
        }
    }
}

impl Options {
    /// Checks what `start` can check before anything runs: the endpoint parses and an explicit
    /// proxy URL parses.
    pub fn validate(&self, config: &crate::connection::Config) -> Result<(), StartError> {
        crate::endpoint::Endpoint::parse(&config.endpoint)?;
        if let ProxySetting::Url(url) = &self.proxy {
            crate::proxy::ProxyUrl::parse(url)?;
        }
        Ok(())
    }

    /// The seed to use: [`Options::seed`] if set, else 32 bytes from `entropy` (the adapter's
    /// OS random source; its error message becomes [`StartError::Entropy`]).
    pub fn seed_or(
        &self,
        entropy: impl FnOnce(&mut [u8; 32]) -> Result<(), String>,
    ) -> Result<[u8; 32], StartError> {
        if let Some(seed) = self.seed {
            return Ok(seed);
        }
        let mut seed = [0; 32];
        entropy(&mut seed).map_err(StartError::Entropy)?;
        Ok(seed)
    }
}

/// An input for the [`Driver`], as the adapter's helper tasks report it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// The transport is open.
    Opened(TransportId),
    /// One binary WebSocket message arrived.
    Bytes(TransportId, Bytes),
    /// The peer closed the transport.
    Closed(TransportId, String),
    /// Dialing or I/O failed (which step, and how).
    Failed(TransportId, TransportFailure),
    /// The store answered.
    Store(StoreResult),
    /// The version fetch answered.
    Version(Result<AppVersion, VersionError>),
}

/// One thing for the driver task to do, from [`Driver::take_turn`]: the outbox with the
/// transport bookkeeping done (bytes and closes for a transport that is no longer the current
/// one are dropped here).
#[derive(Debug)]
#[non_exhaustive]
pub enum Job {
    /// Send these bytes on the current transport.
    Transmit(Bytes),
    /// Dial a new transport, which becomes the current one (drop any previous one).
    Open {
        /// Its id, for the inputs it reports.
        id: TransportId,
        /// The URL to dial.
        endpoint: String,
    },
    /// Close the current transport (drop its sender).
    Close,
    /// Fetch the version from this URL and report [`Input::Version`].
    FetchVersion(String),
    /// Hand this action to the store worker, in order ([`run_store_action`]).
    Store(Action),
    /// Tell the application.
    Event(Event),
}

/// A [`Connection`] plus its outbox: every mutation drains at once.
#[derive(Debug)]
pub struct Driver {
    conn: Connection,
    outbox: VecDeque<Output>,
    deadline: Option<Instant>,
    closing: bool,
    current: Option<TransportId>,
}

impl Driver {
    /// Wraps `conn`, draining what construction queued (fresh credentials to persist).
    pub fn new(conn: Connection) -> Self {
        let mut driver = Self {
            conn,
            outbox: VecDeque::new(),
            deadline: None,
            closing: false,
            current: None,
        };
        driver.drain();
        driver
    }

    /// Feeds one input.
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Opened(id) => self.conn.handle_transport(id, TransportEvent::Opened, now),
            Input::Bytes(id, data) => self.conn.handle_bytes(id, &data, now),
            Input::Closed(id, detail) => {
                self.conn
                    .handle_transport(id, TransportEvent::Closed { detail }, now);
            }
            Input::Failed(id, failure) => {
                self.conn
                    .handle_transport(id, TransportEvent::Failed { failure }, now);
            }
            Input::Store(result) => self.conn.handle_store(result, now),
            Input::Version(result) => self.conn.handle_version(result, now),
        }
        self.drain();
    }

    /// Feeds an application command.
    pub fn command(&mut self, command: Command, now: Instant) -> Result<(), CommandError> {
        let result = self.conn.handle_command(command, now);
        self.drain();
        result
    }

    /// Sends an end-to-end encrypted message ([`Connection::send_message`]): its id at once;
    /// `Event::Sent` or `Event::SendFailed` with that id follows. Callers that wait for the
    /// answer register the id before they release the lock, so the answer cannot pass them.
    pub fn send(
        &mut self,
        to: crate::binary::Jid,
        message: crate::proto::message::Message,
        now: Instant,
    ) -> Result<MessageId, CommandError> {
        let result = self.conn.send_message(to, message, now);
        self.drain();
        result
    }

    /// The deadline passed (spurious calls are harmless).
    pub fn timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        self.drain();
    }

    /// Begins a graceful shutdown: `LocalShutdown` if the connection is live, then the driver
    /// task executes the outbox, waits for the store worker and ends.
    pub fn shutdown(&mut self, now: Instant) {
        if matches!(self.conn.state(), State::Idle | State::Stopped(_)) {
            // Nothing live to stop; messages accepted while stopped are still written.
            self.conn.write_accepted_messages(now);
        } else {
            // Only fails when nothing is live, which the match above rules out; either way
            // the driver stops below. It writes the accepted messages first.
            let _ = self.conn.handle_command(Command::Shutdown, now);
        }
        self.closing = true;
        self.drain();
    }

    /// Whether [`Driver::shutdown`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Takes the outputs to execute, in order (never contains `Output::Timeout`).
    pub fn take_outbox(&mut self) -> VecDeque<Output> {
        std::mem::take(&mut self.outbox)
    }

    /// One turn of the driver task, under one lock: the outbox as [`Job`]s, in order, the
    /// [`Driver::deadline`] and whether the task ends after these jobs
    /// ([`Driver::is_closing`]). Use either this or [`Driver::take_outbox`], not both: only
    /// this one tracks which transport is current.
    pub fn take_turn(&mut self) -> (Vec<Job>, Option<Instant>, bool) {
        let mut jobs = Vec::with_capacity(self.outbox.len());
        for output in std::mem::take(&mut self.outbox) {
            jobs.push(match output {
                Output::Transmit(t) if self.current == Some(t.transport) => {
                    Job::Transmit(t.payload)
                }
                Output::Action(Action::OpenTransport { id, endpoint }) => {
                    self.current = Some(id);
                    Job::Open { id, endpoint }
                }
                Output::Action(Action::CloseTransport { id }) if self.current == Some(id) => {
                    self.current = None;
                    Job::Close
                }
                Output::Action(Action::FetchVersion { url }) => Job::FetchVersion(url),
                Output::Action(Action::CloseTransport { .. })
                | Output::Transmit(_)
                | Output::Timeout(_) => continue,
                Output::Action(action) => Job::Store(action),
                Output::Event(event) => Job::Event(event),
            });
        }
        (jobs, self.deadline, self.closing)
    }

    /// When to call [`Driver::timeout`] next.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The connection's lifecycle state.
    pub fn state(&self) -> State {
        self.conn.state().clone()
    }

    /// The connection (read-only).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn drain(&mut self) {
        loop {
            match self.conn.poll_output() {
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    return;
                }
                output => self.outbox.push_back(output),
            }
        }
    }
}

/// Locks the driver an adapter shares between its `Client` handles and its driver task. A
/// poisoned lock is taken over: every mutation drains before it returns, so the driver is
/// consistent even if a holder panicked.
pub fn lock(shared: &Mutex<Driver>) -> MutexGuard<'_, Driver> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every adapter's `Client::command` does: refuses with [`ClientError::Ended`] once the
/// driver task has ended (`ended`), else feeds the command under the lock (the core's refusal
/// comes back as [`ClientError::Command`]). The caller then wakes its driver task.
pub fn client_command(
    shared: &Mutex<Driver>,
    ended: bool,
    command: Command,
    now: Instant,
) -> Result<(), ClientError> {
    if ended {
        return Err(ClientError::Ended);
    }
    Ok(lock(shared).command(command, now)?)
}

/// Runs one store action on `store` (the adapter calls this off its executor threads, in order)
/// and returns the answer for the driver. Other actions return `None`.
pub fn run_store_action<S: CredentialStore + ?Sized>(
    store: &mut S,
    action: &Action,
) -> Option<StoreResult> {
    Some(match action {
        Action::PersistCredentials { seq, delta } => match store.apply(*seq, delta) {
            Ok(()) => StoreResult::Persisted(*seq),
            Err(error) => StoreResult::Failed { seq: *seq, error },
        },
        Action::QuarantineCredentials { seq, reason } => match store.quarantine(*seq, reason) {
            Ok(()) => StoreResult::Quarantined(*seq),
            Err(error) => StoreResult::Failed { seq: *seq, error },
        },
        Action::LoadRecords { id, reads } => match store.read(reads) {
            Ok(data) => StoreResult::Loaded { id: *id, data },
            Err(error) => StoreResult::LoadFailed { id: *id, error },
        },
        _ => return None,
    })
}

/// Which store action an answer belongs to ([`store_seq`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// A persist or a quarantine, by sequence number.
    Seq(PersistSeq),
    /// A record load, by id.
    Load(LoadId),
}

/// The answer for a store action whose store call panicked (a change was not saved, a read
/// not answered), for the driver; `None` for actions that are not store actions.
pub fn store_panicked(op: Option<StoreOp>, detail: &str) -> Option<Input> {
    op.map(|op| match op {
        StoreOp::Seq(seq) => Input::Store(StoreResult::Failed {
            seq,
            error: StoreError::new(format!(
                "the credential store panicked ({detail}): the change was not saved; restart the \
                 application and report the bug"
            )),
        }),
        StoreOp::Load(id) => Input::Store(StoreResult::LoadFailed {
            id,
            error: StoreError::new(format!(
                "the credential store panicked ({detail}) while reading; restart the \
                 application and report the bug"
            )),
        }),
    })
}

/// The text a caught panic carried (`panic!` with a literal or a formatted message), for
/// [`store_panicked`] in drivers that catch a store's panic themselves.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Which store action this is (`None` for other actions).
pub fn store_seq(action: &Action) -> Option<StoreOp> {
    match action {
        Action::PersistCredentials { seq, .. } | Action::QuarantineCredentials { seq, .. } => {
            Some(StoreOp::Seq(*seq))
        }
        Action::LoadRecords { id, .. } => Some(StoreOp::Load(*id)),
        _ => None,
    }
}

/// Why `start` failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// Loading the credentials failed (the store's message says what to do, e.g. another
    /// process holds it).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The explicit proxy setting does not parse.
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    /// The configured endpoint does not parse.
    #[error("the endpoint is invalid: {0}")]
    Endpoint(#[from] UrlError),
    /// The OS could not provide a seed.
    #[error("the OS random source failed ({0}): pass Options::seed or fix the system's entropy")]
    Entropy(String),
    /// The TLS client configuration could not be built.
    #[error(
        "the TLS configuration failed ({0}): the crypto provider lacks the default TLS versions"
    )]
    Tls(String),
    /// An extra CA file ([`TlsTrust`]) could not be read or holds no usable certificate.
    #[error(
        "cannot use the CA file {}: {reason}; give a PEM file of CA certificates (--ca-file, \
         caFile or SSL_CERT_FILE)",
        path.display()
    )]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The runtime failed to run the store load (it panicked or was cancelled).
    #[error(
        "loading the credentials was aborted ({0}): the store panicked or the runtime is shutting down"
    )]
    Runtime(String),
}

/// Why a `Client` call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The core refused the command (misuse: wrong state, bad input).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The driver has ended (shut down, or every handle was dropped): start a new client.
    #[error("the connection driver has ended: start a new client to connect again")]
    Ended,
    /// The driver or the store worker panicked.
    #[error("the connection driver failed ({0}): this is a bug, please report it")]
    DriverFailed(String),
}

/// The server accepted a message (`Event::Sent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The message id.
    pub id: MessageId,
    /// The server's timestamp of the message (Unix seconds).
    pub t: u64,
}

/// Why sending a message through a `Client` failed: at once (the recipient, the client), or
/// when the server answered (`Failed`), or never (`Unanswered`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MessagingError {
    /// `to` is not a recipient (the message was not queued).
    #[error(transparent)]
    Recipient(#[from] RecipientError),
    /// The client refused (not linked, not connected for commands that need it, ended).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The message was queued and could not be sent ([`Event::SendFailed`]).
    #[error("message {id} was not sent: {reason}")]
    Failed {
        /// The message id.
        id: MessageId,
        /// Why.
        reason: SendError,
    },
    /// The client ended before the server answered. The message is durable in the outbox:
    /// the next client on the same store sends it (its `Event::Sent` carries this id).
    #[error(
        "the client ended before the server acknowledged message {id}; it is kept in the \
         store and goes out when the account connects again"
    )]
    Unanswered {
        /// The message id.
        id: MessageId,
    },
}

impl From<CommandError> for MessagingError {
    fn from(e: CommandError) -> Self {
        Self::Client(ClientError::Command(e))
    }
}

/// Why dialing a transport or fetching the version failed (the adapter turns it into the
/// typed [`TransportFailure`] of a `Failed` transport event with [`DialError::failure`], or into
/// a `VersionError`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DialError {
    /// The URL does not parse or has the wrong scheme.
    #[error("{0}")]
    Url(#[from] UrlError),
    /// The proxy setting does not parse or names an unsupported proxy.
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// TCP failed (refused, unreachable, reset), or I/O on the connection did.
    #[error("cannot reach {target}: {source}")]
    Io {
        /// Where to (host:port, or the proxy).
        target: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP CONNECT proxy refused the tunnel or broke the exchange.
    #[error("proxy {proxy}: {source}")]
    Tunnel {
        /// The proxy (without credentials).
        proxy: String,
        /// What went wrong in the exchange.
        source: ProxyError,
    },
    /// The SOCKS5 proxy refused.
    #[error("socks5 proxy {proxy} failed: {detail}")]
    Socks {
        /// The proxy (without credentials).
        proxy: String,
        /// The proxy library's error.
        detail: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with {host} failed: {source}")]
    Tls {
        /// The server name verified.
        host: String,
        /// The TLS stream's error (a rustls error inside an I/O error, or the I/O error).
        source: std::io::Error,
    },
    /// The server answered the WebSocket upgrade with an HTTP status other than 101.
    #[error("the server answered the websocket upgrade with HTTP {0}")]
    UpgradeStatus(u16),
    /// The WebSocket upgrade failed otherwise.
    #[error("websocket upgrade failed: {0}")]
    WebSocket(String),
    /// The version answer did not parse.
    #[error("{0}")]
    Version(#[from] VersionFetchError),
}

impl DialError {
    /// The typed failure for the core's `Failed` transport event: DNS, refused (an OS
    /// `ConnectionRefused`), connect, proxy, TLS, upgrade status or upgrade, by variant and OS
    /// error kind, never by message text.
    pub fn failure(&self) -> TransportFailure {
        match self {
            Self::Dns { host, source } => TransportFailure::Dns {
                host: host.clone(),
                detail: source.to_string(),
            },
            Self::Io { target, source }
                if source.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                TransportFailure::Refused {
                    target: target.clone(),
                }
            }
            Self::Io { target, source } => TransportFailure::Connect {
                target: target.clone(),
                detail: source.to_string(),
            },
            Self::Tunnel { proxy, source } => TransportFailure::Proxy {
                proxy: proxy.clone(),
                detail: source.to_string(),
            },
            Self::Socks { proxy, detail } => TransportFailure::Proxy {
                proxy: proxy.clone(),
                detail: detail.clone(),
            },
            Self::Proxy(e) => TransportFailure::Proxy {
                proxy: "(the proxy setting)".to_owned(),
                detail: e.to_string(),
            },
            Self::Tls { host, source } => TransportFailure::Tls {
                host: host.clone(),
                detail: source.to_string(),
            },
            Self::UpgradeStatus(status) => TransportFailure::UpgradeStatus { status: *status },
            Self::WebSocket(detail) => TransportFailure::Upgrade {
                detail: detail.clone(),
            },
            Self::Url(e) => TransportFailure::Upgrade {
                detail: e.to_string(),
            },
            Self::Version(e) => TransportFailure::Io {
                detail: e.to_string(),
            },
        }
    }

    /// Maps a resolver error for `host` to [`DialError::Dns`].
    pub fn dns(host: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let host = host.into();
        move |source| Self::Dns { host, source }
    }

    /// Maps a TLS handshake error with `host` to [`DialError::Tls`].
    pub fn tls(host: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let host = host.into();
        move |source| Self::Tls { host, source }
    }

    /// Maps a failed HTTP CONNECT exchange with `proxy` to [`DialError::Tunnel`].
    pub fn tunnel(proxy: &impl std::fmt::Display) -> impl FnOnce(ProxyError) -> Self {
        let proxy = proxy.to_string();
        move |source| Self::Tunnel { proxy, source }
    }

    /// Maps an OS error while reaching `target` (host:port, or the proxy) to [`DialError::Io`].
    pub fn io(target: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let target = target.into();
        move |source| Self::Io { target, source }
    }

    /// A [`DialError::Socks`] from the proxy (printed without credentials) and the library's
    /// error.
    pub fn socks(proxy: &impl std::fmt::Display, detail: &impl std::fmt::Display) -> Self {
        Self::Socks {
            proxy: proxy.to_string(),
            detail: detail.to_string(),
        }
    }
}

impl From<DialError> for VersionError {
    fn from(e: DialError) -> Self {
        Self(e.to_string())
    }
}
