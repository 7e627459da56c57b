//! The connection state machine: one [`Connection`] per account, outliving every socket.
//!
//! # Lifecycle (`DESIGN.md` §4)
//!
//! ```text
//!            Connect                 Opened              handshake done
//!   Idle ───────────▶ Connecting ─────────▶ Handshaking ───────────────▶ Authenticating
//!                         ▲                                               │      │
//!                         │                              <success>        │      │ pair-device
//!                         │                 ┌─────────────────────────────┘      ▼
//!                         │                 ▼                                  Pairing
//!                         │            Connected                                 │ pair-success
//!                         │                 │ any disconnect                     │ (persisted,
//!                         │                 ▼                                    │  then 515)
//!                         └──── WaitingToReconnect ◀─────────────────────────────┘
//!                                (backoff, or at once for 515)
//!
//!   any state ── terminal reason (440, logged out, ban, 405 twice, …) ──▶ Stopped(reason)
//! ```
//!
//! How to drive it — the input methods, the drain order and the rules it keeps — is documented
//! on [`Connection`] itself.

mod attempt;
mod config;
mod io;
mod linking;
mod media;
mod messages;
mod rng;
mod session;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use tracing::{debug, info, warn};

pub use config::{Config, DEFAULT_ENDPOINT, DEFAULT_VERSION_URL};
pub use io::{
    Action, Command, CommandError, Event, Output, State, Transmit, TransportEvent, TransportId,
    VersionError,
};

use crate::backoff::ReconnectPolicy;
use crate::binary::Node;
use crate::creds::{CredentialChange, Credentials, CredentialsDelta, PersistSeq, StoreResult};
use crate::keepalive::{KeepAlive, KeepAliveOutput};
use crate::link::{HandshakeContext, Link};
use crate::payload::{self, AppVersion};
use crate::reason::{DisconnectReason, LostCause, ProtocolFault};
use crate::timer::{Timer, TimerTable};
use attempt::reason_for_link_error;
use rng::Rngs;

/// What to do once a persist is confirmed.
#[derive(Debug)]
enum AfterPersist {
    /// Nothing waits on it (single-field updates).
    Nothing,
    /// Start the pending transport attempt (fresh credentials, refreshed version, discarded
    /// pairing).
    StartAttempt,
    /// Send this stanza on the current transport (pair-code stage 2).
    SendNode(Box<Node>),
    /// The new identity is durable: send the pair-success reply and report `Paired`.
    PairReply {
        /// The `pair-device-sign` reply.
        reply: Box<Node>,
        /// Own JID.
        jid: crate::binary::Jid,
    },
    /// A messaging commit is durable: run its deferred effects (receipts, acks, outgoing
    /// messages, events) in order.
    Messaging(Vec<crate::messaging::store::Deferred>),
}

/// The current transport attempt.
#[derive(Debug)]
struct Attempt {
    id: TransportId,
    /// `None` until the adapter reports `Opened`.
    link: Option<Link>,
    /// The ClientPayload for this attempt (login when paired, registration otherwise).
    client_payload: Vec<u8>,
    /// When ClientFinish went out (for the clock-skew RTT correction).
    finished_at: Option<Instant>,
}

/// One WhatsApp account's connection: the sans-IO state machine. Its lifecycle is drawn in the
/// [module docs](self).
///
/// # Driving it: the sans-IO contract
///
/// Inputs go in through the `handle_*` methods, each taking `now` (monotonic; wall-clock time
/// arrived once as `unix_now` in [`Connection::new`]). After **every** input, drain every
/// output with [`Connection::poll_output`] until it returns [`Output::Timeout`] — transmits,
/// then actions, then events, then the next deadline — and call
/// [`Connection::handle_timeout`] at that deadline. Draining fully after each input is always
/// correct; the order matters because bytes queued for a transport are written before that
/// transport's `CloseTransport`.
///
/// ```text
/// loop {
///     loop { match conn.poll_output() {
///         Output::Transmit(t) => socket(t.transport).send(t.payload),
///         Output::Action(a)   => execute(a),          // answer later via handle_transport /
///                                                    // handle_store / handle_version
///         Output::Event(e)    => app.notify(e),
///         Output::Timeout(t)  => { deadline = t; break }
///     } }
///     wait for: socket bytes → handle_bytes, socket open/close → handle_transport,
///               store result → handle_store, version → handle_version,
///               app command → handle_command, deadline → handle_timeout
/// }
/// ```
///
/// Rules the machine keeps: at most one transport is open (one counts as closed the moment
/// `CloseTransport` is emitted); input for a stale [`TransportId`] is ignored; credentials are
/// never acted on before the store confirms them ("persist before proceeding"); peer faults
/// never return `Err` — they end the transport with a typed [`DisconnectReason`]; `Err` from
/// [`Connection::handle_command`] is only for misuse.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    creds: Option<Credentials>,
    state: State,
    attempt: Option<Attempt>,
    next_transport: u64,
    /// A transport attempt is wanted but waits for a persist or a version answer.
    attempt_wanted: bool,
    timers: TimerTable,
    keepalive: KeepAlive,
    policy: ReconnectPolicy,
    rng: Rngs,
    next_seq: PersistSeq,
    pending: BTreeMap<PersistSeq, AfterPersist>,
    transmits: VecDeque<Transmit>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    /// Monotonic anchor of `unix_base`.
    created_at: Instant,
    unix_base: u64,
    last_now: Instant,
    /// The version to announce (config override, fetched, stored or compiled default).
    version: AppVersion,
    /// A 405 refresh is in flight.
    fetching_version: bool,
    /// A persist failed: the credentials held here are ahead of the store's.
    store_behind: bool,
    session: session::Session,
    /// Linking state while unpaired (refs, a pair-code request).
    linking: Option<linking::Linking>,
    /// End-to-end encrypted messaging.
    messaging: crate::messaging::engine::Messaging,
    /// The `media_conn` answer and whether one is asked for.
    media: media::MediaConnCache,
}

impl Connection {
    /// A connection for one account.
    ///
    /// `credentials` are what the store loaded (`None` on first start: fresh ones are generated
    /// from the seed and persisted before any transport opens). Sequence numbers start at 1:
    /// with credentials from a store, use [`Connection::from_store`], which continues the
    /// store's sequence. `unix_now` is the wall clock
    /// in seconds at `now`; `seed` drives every random choice.
    pub fn new(
        config: Config,
        credentials: Option<Credentials>,
        now: Instant,
        unix_now: u64,
        seed: [u8; 32],
    ) -> Self {
        let version = config
            .version
            .or_else(|| credentials.as_ref().and_then(|c| c.version))
            .unwrap_or(payload::DEFAULT_VERSION);
        let mut rng = Rngs::from_seed(seed);
        let session = session::Session::new(&mut rng.ids);
        let messaging = fresh_messaging(&config, &mut rng.msg);
        let mut conn = Self {
            keepalive: KeepAlive::new(config.keep_alive.clone()),
            policy: ReconnectPolicy::new(config.reconnect.clone()),
            config,
            creds: credentials,
            state: State::Idle,
            attempt: None,
            next_transport: 0,
            attempt_wanted: false,
            timers: TimerTable::new(),
            rng,
            next_seq: PersistSeq(0),
            pending: BTreeMap::new(),
            transmits: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            created_at: now,
            unix_base: unix_now,
            last_now: now,
            version,
            fetching_version: false,
            store_behind: false,
            session,
            linking: None,
            messaging,
            media: media::MediaConnCache::default(),
        };
        conn.ensure_credentials();
        conn.start_messaging(now);
        conn
    }

    /// A connection for the account a [`CredentialStore`](crate::creds::CredentialStore)
    /// loaded: `loaded` is what `load` returned, credentials **and** the last applied sequence
    /// number. Prefer this to [`Connection::new`] whenever a store is involved: this
    /// connection's `PersistCredentials` sequence numbers continue after the store's, so none
    /// of them is mistaken for a replay (and silently dropped) by the store.
    pub fn from_store(
        config: Config,
        loaded: Option<(Credentials, PersistSeq)>,
        now: Instant,
        unix_now: u64,
        seed: [u8; 32],
    ) -> Self {
        let (credentials, last) = match loaded {
            Some((credentials, last)) => (Some(credentials), last),
            None => (None, PersistSeq(0)),
        };
        let mut conn = Self::new(config, credentials, now, unix_now, seed);
        // Only `new`'s own persist (fresh credentials) can be queued yet: renumber it.
        let offset = last.0;
        conn.pending = std::mem::take(&mut conn.pending)
            .into_iter()
            .map(|(seq, after)| (PersistSeq(seq.0.saturating_add(offset)), after))
            .collect();
        for action in &mut conn.actions {
            if let Action::PersistCredentials { seq, .. }
            | Action::QuarantineCredentials { seq, .. } = action
            {
                *seq = PersistSeq(seq.0.saturating_add(offset));
            }
        }
        conn.next_seq = PersistSeq(conn.next_seq.0.saturating_add(offset));
        conn
    }

    // ---- (A) getters -------------------------------------------------------------------

    /// The lifecycle state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The credentials as the core currently sees them (possibly ahead of the store by the
    /// persists still in flight).
    pub fn credentials(&self) -> Option<&Credentials> {
        self.creds.as_ref()
    }

    /// The transport currently open (or opening), if any.
    pub fn transport(&self) -> Option<TransportId> {
        self.attempt.as_ref().map(|a| a.id)
    }

    /// The client version the next attempt announces.
    pub fn version(&self) -> AppVersion {
        self.version
    }

    // ---- (B) input -----------------------------------------------------------------------

    /// A transport event from the adapter. Events for a stale transport are ignored.
    pub fn handle_transport(&mut self, id: TransportId, event: TransportEvent, now: Instant) {
        let now = self.clamp(now);
        if self.transport() != Some(id) {
            debug!(%id, ?event, "ignoring event of a stale transport");
            return;
        }
        match event {
            TransportEvent::Opened => self.on_opened(now),
            TransportEvent::Closed { detail } => {
                debug!(%id, detail, "transport closed by peer");
                self.end_transport(
                    DisconnectReason::ConnectionLost {
                        cause: LostCause::TransportClosed { close_code: None },
                    },
                    now,
                );
            }
            TransportEvent::Failed { failure } => self.end_transport(
                DisconnectReason::ConnectionLost {
                    cause: LostCause::TransportFailed { failure },
                },
                now,
            ),
        }
    }

    /// Bytes received on a transport. Bytes for a stale transport are ignored.
    pub fn handle_bytes(&mut self, id: TransportId, data: &[u8], now: Instant) {
        let now = self.clamp(now);
        if self.transport() != Some(id) {
            return;
        }
        let unix_now = self.unix_at(now);
        let roots = &self.config.trusted_roots;
        let Some(attempt) = self.attempt.as_mut() else {
            return;
        };
        let Some(link) = attempt.link.as_mut() else {
            // Bytes before `Opened`: the adapter broke the contract; treat as a protocol error.
            self.end_transport(
                DisconnectReason::ProtocolError {
                    fault: ProtocolFault::Unexpected {
                        expected: "no bytes before the transport opened",
                        raw: None,
                    },
                },
                now,
            );
            return;
        };
        let ctx = HandshakeContext {
            unix_now,
            trusted_roots: roots,
            client_payload: &attempt.client_payload,
        };
        let result = link.handle_bytes(data, &ctx);
        // Only whole frames are a sign of life; a frame left partial must complete in time.
        let frames = result.as_ref().map_or(0, |out| out.frames);
        self.keepalive
            .on_frames(now, frames, link.has_partial_frame());
        match result {
            Err(error) => self.end_transport(reason_for_link_error(error), now),
            Ok(out) => {
                if let Some(finish) = out.transmit {
                    self.transmits.push_back(Transmit {
                        transport: id,
                        payload: finish,
                    });
                }
                if out.handshake_done {
                    self.on_handshake_done(now);
                }
                for node in out.nodes {
                    if self.transport() != Some(id) {
                        break; // an earlier stanza ended this transport
                    }
                    self.on_node(node, now);
                }
            }
        }
    }

    /// The answer to a `PersistCredentials` or `QuarantineCredentials` action.
    pub fn handle_store(&mut self, result: StoreResult, now: Instant) {
        let now = self.clamp(now);
        match result {
            StoreResult::Persisted(seq) | StoreResult::Quarantined(seq) => {
                let Some(after) = self.pending.remove(&seq) else {
                    debug!(%seq, "store confirmed an unknown or already confirmed sequence");
                    return;
                };
                self.after_persist(after, now);
                if self.pending.is_empty() && self.attempt_wanted && !self.fetching_version {
                    self.start_attempt(now);
                }
            }
            StoreResult::Loaded { id, data } => self.messaging_loaded(id, data, now),
            StoreResult::LoadFailed { id, error } => {
                warn!(%id, %error, "reading messaging records failed");
                self.messaging.on_store_failed();
                self.store_behind = true;
                self.stop(DisconnectReason::StoreFailure {
                    detail: error.message,
                });
            }
            StoreResult::Failed { seq, error } => {
                self.pending.remove(&seq);
                self.messaging.on_store_failed();
                self.store_behind = true;
                warn!(%seq, %error, "persisting credentials failed");
                self.stop(DisconnectReason::StoreFailure {
                    detail: error.message,
                });
            }
        }
    }

    /// The answer to a `FetchVersion` action.
    pub fn handle_version(&mut self, result: Result<AppVersion, VersionError>, now: Instant) {
        let now = self.clamp(now);
        if !self.fetching_version {
            return;
        }
        self.fetching_version = false;
        let version = match result {
            Ok(version) => version,
            Err(error) => {
                warn!(%error, fallback = %payload::DEFAULT_VERSION, "version fetch failed");
                payload::DEFAULT_VERSION
            }
        };
        info!(%version, "retrying with refreshed client version");
        self.version = version;
        if self.creds.is_some() {
            self.persist(
                CredentialChange::Version(version),
                AfterPersist::StartAttempt,
            );
        } else {
            self.start_attempt(now);
        }
    }

    /// Fires every timer that is due. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        self.policy.handle_timeout(now);
        let fired: Vec<Timer> = self.timers.expired(now).collect();
        for timer in fired {
            self.on_timer(timer, now);
        }
        self.messaging_timeout(now);
        while self.keepalive.poll_timeout().is_some_and(|at| at <= now) {
            match self.keepalive.handle_timeout(now, &mut self.rng.jitter) {
                Some(KeepAliveOutput::SendPing { id }) => {
                    let ping = crate::keepalive::ping_stanza(&id);
                    self.send(&ping, now);
                }
                Some(KeepAliveOutput::Timeout { failures }) => {
                    warn!(failures, "keepalive ping unanswered");
                    self.events.push_back(Event::KeepAliveTimeout { failures });
                }
                Some(KeepAliveOutput::Restored) => self.events.push_back(Event::KeepAliveRestored),
                Some(KeepAliveOutput::Dead) => {
                    self.end_transport(
                        DisconnectReason::ConnectionLost {
                            cause: LostCause::DeadSocket,
                        },
                        now,
                    );
                }
                Some(KeepAliveOutput::Stalled) => {
                    self.end_transport(
                        DisconnectReason::ConnectionLost {
                            cause: LostCause::FrameTimeout,
                        },
                        now,
                    );
                }
                None => break,
            }
        }
    }

    /// A command from the application. `Err` only for misuse; nothing has changed then.
    pub fn handle_command(&mut self, command: Command, now: Instant) -> Result<(), CommandError> {
        let now = self.clamp(now);
        match command {
            Command::Connect => match self.state {
                State::Idle | State::Stopped(_) => {
                    self.policy.reset();
                    self.resync_store();
                    // After a logout the identity was quarantined: link a fresh one.
                    self.ensure_credentials();
                    self.want_attempt(now);
                    Ok(())
                }
                _ => Err(self.invalid("connect")),
            },
            Command::Shutdown => {
                if matches!(self.state, State::Stopped(_)) {
                    return Err(self.invalid("shutdown"));
                }
                self.write_accepted_messages(now);
                self.stop(DisconnectReason::LocalShutdown);
                Ok(())
            }
            Command::SendNode(node) => {
                if self.state != State::Connected {
                    return Err(self.invalid("send"));
                }
                self.send(&node, now);
                Ok(())
            }
            Command::Send { to, message } => self.send_message(to, *message, now).map(drop),
            Command::Confirm { positions } => {
                self.confirm_inbox(&positions, now);
                Ok(())
            }
            Command::ReplayInbox { from } => {
                self.replay_inbox(from, now);
                Ok(())
            }
            Command::MarkRead {
                chat,
                participant,
                ids,
            } => {
                if self.state != State::Connected {
                    return Err(self.invalid("mark read"));
                }
                self.mark_read(&chat, participant.as_ref(), &ids, now);
                Ok(())
            }
            Command::QueryGroup { group } => {
                if self.state != State::Connected {
                    return Err(self.invalid("query group"));
                }
                self.with_messaging_pub(now, |m, env| m.query_group(env, &group));
                Ok(())
            }
            Command::ListGroups => {
                if self.state != State::Connected {
                    return Err(self.invalid("list groups"));
                }
                self.with_messaging_pub(now, |m, env| m.list_groups(env));
                Ok(())
            }
            Command::Presence { available } => {
                if self.state != State::Connected {
                    return Err(self.invalid("presence"));
                }
                self.set_presence(available, now);
                Ok(())
            }
            Command::ChatState { to, state } => {
                if self.state != State::Connected {
                    return Err(self.invalid("chat state"));
                }
                self.send_chat_state(&to, state, now);
                Ok(())
            }
            Command::Logout => {
                if self.state != State::Connected {
                    return Err(self.invalid("logout"));
                }
                if let Some(node) = self.session.logout_stanza(self.creds.as_ref()) {
                    self.send(&node, now);
                }
                self.stop(DisconnectReason::LoggedOut {
                    reason: crate::reason::LogoutReason::Local,
                    raw: None,
                });
                Ok(())
            }
            Command::RequestPairingCode { phone } => self.request_pairing_code(&phone, now),
            Command::MediaConn { refresh } => self.request_media_conn(refresh, now),
        }
    }

    // ---- (D) output ----------------------------------------------------------------------

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next action for the adapter.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the application. Taking a `Sent` or `SendFailed` here is what
    /// counts as telling the application: until then (and until the next commit after it) a
    /// restart emits that outcome again, with the same id.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let Event::Sent { id, .. } | Event::SendFailed { id, .. } = &event {
            // Told at least once: the outcome's restart marker goes with the next commit.
            self.messaging.reported(id.as_str());
        }
        Some(event)
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next().map(|(_, at)| at),
            self.keepalive.poll_timeout(),
            self.policy.poll_timeout(),
            // Messaging runs only for a linked account: after a logout its timers are gone.
            self.creds
                .as_ref()
                .and_then(|_| self.messaging.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// All outputs in the canonical order: transmits, actions, events, then `Timeout`.
    pub fn poll_output(&mut self) -> Output {
        if let Some(t) = self.poll_transmit() {
            return Output::Transmit(t);
        }
        if let Some(a) = self.poll_action() {
            return Output::Action(a);
        }
        if let Some(e) = self.poll_event() {
            return Output::Event(e);
        }
        Output::Timeout(self.poll_timeout())
    }

    // ---- internals -----------------------------------------------------------------------

    fn clamp(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    /// Wall-clock seconds at `now`, projected from the anchor given at construction.
    fn unix_at(&self, now: Instant) -> u64 {
        self.unix_base
            .saturating_add(now.saturating_duration_since(self.created_at).as_secs())
    }

    fn invalid(&self, command: &'static str) -> CommandError {
        CommandError::InvalidState {
            command,
            state: self.state.name(),
        }
    }

    fn persist(&mut self, change: CredentialChange, after: AfterPersist) {
        let delta = CredentialsDelta::one(change);
        if let Err(error) = Credentials::apply(&mut self.creds, &delta) {
            // Only reachable through a bug in the core (a change before any credentials).
            warn!(%error, "credential change without credentials");
            return;
        }
        self.next_seq = self.next_seq.next();
        let seq = self.next_seq;
        self.pending.insert(seq, after);
        self.actions
            .push_back(Action::PersistCredentials { seq, delta });
    }

    /// Without credentials (first start, or after a quarantine), generates fresh ones from the
    /// seed and persists them; no transport opens before the store confirms them.
    fn ensure_credentials(&mut self) {
        if self.creds.is_none() {
            let fresh = Credentials::generate(&mut self.rng.keys);
            self.persist(
                CredentialChange::Created(Box::new(fresh)),
                AfterPersist::Nothing,
            );
        }
    }

    /// After a failed persist the store holds less than the core: write the whole credential
    /// set again before anything acts on it (a new `Connect` waits for this persist).
    fn resync_store(&mut self) {
        if !self.store_behind {
            return;
        }
        self.store_behind = false;
        if let Some(creds) = self.creds.clone() {
            self.persist(
                CredentialChange::Created(Box::new(creds)),
                AfterPersist::Nothing,
            );
        }
    }

    fn after_persist(&mut self, after: AfterPersist, now: Instant) {
        match after {
            AfterPersist::Nothing => {}
            AfterPersist::StartAttempt => {
                // A stop since the persist was asked for (shutdown, terminal reason) wins.
                if !matches!(self.state, State::Stopped(_)) {
                    self.attempt_wanted = true;
                }
            }
            AfterPersist::SendNode(node) => {
                self.send(&node, now);
            }
            AfterPersist::PairReply { reply, jid } => {
                // The reply can only go on the connection the pair-success came on (no new
                // transport opens while this persist is pending). If that one is gone, the
                // phone never hears back: this is no pairing to report; the unconfirmed
                // identity's login will be refused (401) and linking starts again.
                let live = self
                    .attempt
                    .as_ref()
                    .and_then(|a| a.link.as_ref())
                    .is_some_and(Link::is_established);
                if live {
                    self.send(&reply, now);
                    info!(%jid, "paired");
                    self.events.push_back(Event::Paired { jid });
                } else {
                    warn!(%jid, "the connection ended before the pairing was durable; not paired");
                }
            }
            AfterPersist::Messaging(effects) => self.messaging_durable(effects, now),
        }
    }

    /// The projected wall clock, for stanza handlers.
    fn unix_now(&self) -> u64 {
        self.unix_at(self.last_now)
    }
}

/// A messaging engine with nothing loaded, for a new connection or after a logout.
pub(super) fn fresh_messaging(
    config: &Config,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> crate::messaging::engine::Messaging {
    crate::messaging::engine::Messaging::new(
        &config.messaging,
        crate::messaging::engine::PreKeyPolicyParts {
            initial_batch: config.pre_key_initial_batch,
            batch: config.pre_key_batch,
            low_watermark: config.pre_key_low_watermark,
        },
        rng,
    )
}
