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
use std::time::Instant;

use bytes::Bytes;
use thiserror::Error;

use crate::connection::{
    Action, Command, CommandError, Connection, Event, Output, State, TransportEvent, TransportId,
    VersionError,
};
use crate::creds::{CredentialStore, LoadId, PersistSeq, StoreError, StoreResult};
use crate::endpoint::UrlError;
use crate::payload::AppVersion;
use crate::proxy::{ProxyError, ProxySetting};
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
}

impl Default for Options {
    fn default() -> Self {
        Self {
            proxy: ProxySetting::FromEnv,
            seed: None,
            ws_max_message: 16 << 20,
            ws_read_buffer: 4096,
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
    /// Dialing or I/O failed.
    Failed(TransportId, String),
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
            Input::Failed(id, detail) => {
                self.conn
                    .handle_transport(id, TransportEvent::Failed { detail }, now);
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

    /// The deadline passed (spurious calls are harmless).
    pub fn timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        self.drain();
    }

    /// Begins a graceful shutdown: `LocalShutdown` if the connection is live, then the driver
    /// task executes the outbox, waits for the store worker and ends.
    pub fn shutdown(&mut self, now: Instant) {
        if !matches!(self.conn.state(), State::Idle | State::Stopped(_)) {
            // Only fails when nothing is live, which the match above rules out; either way
            // the driver stops below.
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

/// Why dialing a transport or fetching the version failed (the adapter turns it into the
/// `detail` of a `Failed` transport event or a `VersionError`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DialError {
    /// The URL does not parse or has the wrong scheme.
    #[error("{0}")]
    Url(#[from] UrlError),
    /// The proxy setting or the proxy itself failed.
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    /// TCP or TLS failed.
    #[error("cannot reach {target}: {source}")]
    Io {
        /// Where to (host:port, or the proxy).
        target: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The SOCKS5 proxy refused.
    #[error("socks5 proxy {proxy} failed: {detail}")]
    Socks {
        /// The proxy (without credentials).
        proxy: String,
        /// The proxy library's error.
        detail: String,
    },
    /// The WebSocket upgrade failed.
    #[error("websocket upgrade failed: {0}")]
    WebSocket(String),
    /// The version answer did not parse.
    #[error("{0}")]
    Version(#[from] VersionFetchError),
}

impl DialError {
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
