//! The fake WhatsApp server: sans-IO, with the same verbs as the core's `Connection`.
//!
//! One [`FakeServer`] serves any number of connections, each named by a [`ConnId`] the harness
//! picks (the harness maps a client `TransportId` to the `ConnId` with the same number). Per
//! connection it speaks the real protocol: the intro header (dictionary v3, or v2 when the intro
//! says 2), framing, the Noise XX responder with a certificate chain signed by the server's
//! **own** test root ([`FakeServer::root_public`] goes into the client's `trusted_roots`), then
//! encrypted stanzas.
//!
//! ```text
//!  handle_open ─▶ handshake ─▶ ClientPayload ─┬─ registration ─▶ <pair-device> with N refs
//!                                              │     (the FakePhone scans a QR: <pair-success>;
//!                                              │      a verified <pair-device-sign> registers the
//!                                              │      device, then <stream:error code="515"/>, close)
//!                                              ├─ login, known noise key ─▶ <success t lid>
//!                                              │     (an older login of that device gets
//!                                              │      <conflict type="replaced"/>, as for real)
//!                                              ├─ login, unknown device ──▶ <failure reason="401"/>
//!                                              └─ version < minimum ──────▶ <failure reason="405"/>
//!  afterwards: every iq answered (ping, passive, encrypt count/upload, logout, anything else)
//! ```
//!
//! **Messages** (`messaging.md` §9): the server carries end-to-end encrypted 1:1 messages
//! between accounts without decrypting anything.
//!
//! ```text
//!  accounts.rs  accounts (PN user, LID user, push name), devices 0…n; JIDs in either namespace
//!  keys.rs      pre-key upload / count / digest / rotate; bundle fetch pops the lowest key
//!  usync.rs     device lists (phash, key indexes, key-index list), <lid val>, contacts
//!  routing/     <message> validation, dedup, t, ack [phash], one stanza per addressed device
//!  receipts.rs  receipt routing and acks; acks and receipts dequeue what they name
//!  queues.rs    per-device FIFO queues, kept until acknowledged, 14 days at most
//!  backlog.rs   login: offline_preview … offline; local devices without a wire
//!  notifications.rs  devices / identity / pre-key count notifications
//!  groups.rs    groups: registry, w:g2 iqs (create, query, list, add/remove/…), w:gp2
//!  group_routing.rs  <message to=group>: skmsg to every member device, pairwise SKDMs, phash
//! ```
//!
//! A device is online on a connection (a client logged in as it) or locally
//! ([`FakeServer::connect_local`]: a simulated phone or a headless peer submits stanzas with
//! [`FakeServer::submit`] and takes what is delivered to it with
//! [`FakeServer::take_delivered`]) — the same routing either way. The server logs what the
//! simulator's invariants need: [`FakeServer::accepted`], [`FakeServer::routed`],
//! [`FakeServer::handouts`] and [`FakeServer::complaints`] (protocol violations).
//!
//! Faults ([`Fault`]) replace the verdict of the next connection ([`FakeServer::fault_next`]),
//! hit a live connection now ([`FakeServer::inject`]) or later ([`FakeServer::schedule`]).
//! Connect faults (refuse / hang the next N connects) are answered by
//! [`FakeServer::connect_outcome`], which the harness asks at `OpenTransport`.
//!
//! Drive it like the core: after every `handle_*`, drain [`FakeServer::poll_transmit`] and then
//! [`FakeServer::poll_close`]; call [`FakeServer::handle_timeout`] at
//! [`FakeServer::poll_timeout`].

mod accounts;
mod acks;
mod backlog;
mod fault;
mod group_routing;
mod groups;
mod history;
mod keys;
mod media;
mod notifications;
mod pairing;
mod queues;
mod receipts;
mod registry;
mod routing;
mod session;
mod stanzas;
mod usync;
mod wire;

#[cfg(test)]
mod fixture;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use tether_core::binary::{Jid, Node};
use tether_core::cert::{self, CertificateInfo};
use tether_core::crypto::KeyPair;
use tether_core::pairing::phone::IssuedPairSuccess;
use tether_core::payload::AppVersion;

pub(crate) use accounts::jid_attr as jid_attr_of;
pub use accounts::{AccountError, AccountSpec, DeviceAddr, Namespace};
pub use acks::ACK_EXPECTED;
pub use backlog::LocalError;
pub use fault::{ConnectOutcome, Fault};
pub use groups::{GroupError, GroupInfo, GroupMember, MemberChange, Role as GroupRole};
use history::History;
pub use keys::Handout;
pub use media::{BLOB_TTL, MAX_BLOB, MediaStore, Refused, TOKEN_TTL};
pub use queues::{EXPIRY, StanzaClass};
pub use registry::{REGISTRY_HEADER, RegistryError};
pub use routing::{Accepted, Routed};

use wire::Wire;

/// The endpoint the simulated server answers on (never resolved: the harness routes it).
pub const SIM_ENDPOINT: &str = "wss://sim.tether.invalid/ws/chat";

/// Identifies one connection to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Seed of every server key and ref.
    pub seed: u64,
    /// Refs in each `<pair-device>` (the real server sends 6).
    pub refs_per_pairing: usize,
    /// One-time pre-keys the server counts for every device on top of those it holds: the
    /// `<count value=…>` answer is the device's pool plus this. The default (50) spares
    /// connection-only simulations a pre-key upload; worlds that carry messages set 0, so the
    /// count is exactly what was uploaded and not yet handed out.
    pub pre_key_count: u32,
    /// Below this many one-time pre-keys (after a bundle fetch) the device gets
    /// `<notification type="encrypt"><count value=N/>` (the real threshold is unknown,
    /// `messaging.md` §10 item 3; 5).
    pub pre_key_low_threshold: u32,
    /// A defect planted on purpose, to prove that the simulator's invariants catch it (never
    /// set outside such tests).
    pub planted: Option<PlantedBug>,
    /// Logins announcing an older version get `<failure reason="405">`.
    pub min_version: Option<AppVersion>,
    /// Server wall clock (Unix seconds) at the instant the server was created.
    pub unix_base: u64,
    /// How much history ([`FakeServer::received`], [`FakeServer::logins`],
    /// [`FakeServer::pre_key_uploads`]) to keep: `None` keeps everything (tests index into
    /// it); `Some(n)` keeps at least the newest `n` entries of each and
    /// drops older ones in batches, so a long-running server's memory stays bounded. Read at
    /// [`FakeServer::new`].
    pub history_limit: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            refs_per_pairing: 6,
            pre_key_count: 50,
            pre_key_low_threshold: 5,
            planted: None,
            min_version: None,
            unix_base: 1_800_000_000,
            history_limit: None,
        }
    }
}

/// A registered companion device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its JID on the account.
    pub jid: Jid,
    /// Its LID.
    pub lid: Option<Jid>,
}

/// A defect planted on purpose: the simulator's invariants must catch each one. Most are the
/// server's; the messaging world (`Conversation`) also plants the last five in the phones, the
/// companions' stores, their logs and their sender keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlantedBug {
    /// Bundle fetches hand out the lowest one-time pre-key without removing it from the pool.
    PreKeyHandedOutTwice,
    /// The backlog is delivered newest first.
    BacklogReversed,
    /// A device's queue is emptied when its connection closes, as if delivered meant
    /// acknowledged.
    LoseQueueOnDisconnect,
    /// Messages from phones (device 0) are routed but their `<ack class="message">` never
    /// goes back: the phone never learns whether its send went out.
    PhoneMessageAckWithheld,
    /// The phones' `<enc>`s go out without their version (`v=""`).
    PhoneEncWithoutVersion,
    /// The phones' Signal sessions forget every encryption, so the next message to a device
    /// reuses the counter (and message key) with other bytes.
    PhoneReusesCounter,
    /// The companions' stores drop every inbox put while reporting the write durable.
    StoreLosesInboxWrites,
    /// The companions' received texts reach a log line (as a core that logs a message's
    /// content would).
    PlaintextLogged,
    /// The companions keep their sender key of a group when a member leaves or is removed
    /// (the core's planted defect `MessagingConfig::planted_keep_sender_key_on_removal`).
    CompanionKeepsSenderKeyOnRemoval,
}

/// A protocol violation the server noticed (a client sent something no real client should).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complaint {
    /// The device that sent it, when known.
    pub device: Option<DeviceAddr>,
    /// What was wrong.
    pub what: String,
}

/// A ClientPayload the server received (for the harness's invariants and for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// On which connection.
    pub conn: ConnId,
    /// The client's noise static key.
    pub noise_public: [u8; 32],
    /// `username` (login payloads).
    pub username: Option<u64>,
    /// `device` (login payloads).
    pub device: Option<u32>,
    /// Whether it was a registration payload.
    pub registration: bool,
    /// The announced version.
    pub version: Option<AppVersion>,
}

#[derive(Debug)]
enum Role {
    Handshaking,
    Registering {
        noise: [u8; 32],
        refs: Vec<String>,
        issued: Option<(IssuedPairSuccess, Device)>,
    },
    LoggedIn {
        noise: [u8; 32],
        /// The device it logged in as.
        device: DeviceAddr,
    },
    Refused,
}

#[derive(Debug)]
struct Conn {
    wire: Wire,
    role: Role,
    silent: bool,
    ignore_pings: bool,
    skew: i64,
    faults: Vec<Fault>,
    pair_code: Option<pairing::PairCodeState>,
    /// A stall: bytes written before this instant are held until it.
    stalled_until: Option<Instant>,
    held: Vec<Bytes>,
}

/// The fake WhatsApp server (see the module docs).
#[derive(Debug)]
pub struct FakeServer {
    config: ServerConfig,
    rng: ChaCha20Rng,
    root_public: [u8; 32],
    static_key: KeyPair,
    chain: Bytes,
    created_at: Instant,
    conns: BTreeMap<ConnId, Conn>,
    devices: BTreeMap<[u8; 32], Device>,
    /// Faults for upcoming connections: `[0]` for the next one opened, `[1]` the one after…
    planned: VecDeque<Vec<Fault>>,
    connect_faults: VecDeque<ConnectOutcome>,
    scheduled: Vec<(Instant, ConnId, Fault)>,
    transmits: VecDeque<(ConnId, Bytes)>,
    closes: VecDeque<ConnId>,
    received: History<(ConnId, Node)>,
    logins: History<Login>,
    /// Registrations ever received (`logins` may be trimmed; its total counts both kinds).
    registrations: u64,
    server_pings: Vec<String>,
    pongs: u32,
    pre_key_uploads: History<(ConnId, usize)>,
    counter: u64,
    codes_finished: VecDeque<ConnId>,
    /// Connections closed by [`Fault::AbruptClose`] whose close was not yet asked about.
    abrupt: BTreeSet<ConnId>,
    /// `(connection, stanza id, sent at)` of stanzas awaiting the client's `<ack>`.
    expected_acks: Vec<(ConnId, String, Instant)>,
    /// The latest instant any verb was given.
    now: Instant,
    /// The accounts messages are carried for.
    accounts: accounts::Accounts,
    /// Message dedup.
    routing: routing::Routing,
    /// The groups.
    groups: groups::GroupRegistry,
    /// What local devices were sent, not yet taken.
    local_inbox: BTreeMap<DeviceAddr, VecDeque<Node>>,
    /// Logs for the simulator's invariants.
    accepted: History<Accepted>,
    routed: History<Routed>,
    handouts: History<Handout>,
    complaints: Vec<Complaint>,
    /// Stanzas dropped unacknowledged after [`EXPIRY`].
    expired: u64,
    /// Delivery faults armed per device.
    delivery_faults: BTreeMap<DeviceAddr, queues::DeliveryFaults>,
    /// Messages taken off a device's queue by its receipt, whose `<ack>` is still to come.
    receipt_acked: queues::ReceiptAcked,
    /// The media host's tokens and blobs.
    media: MediaStore,
}

impl FakeServer {
    /// A server whose keys and refs all come from `config.seed`; `now` anchors its clock.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let mut root = [0u8; 32];
        let mut intermediate = [0u8; 32];
        rng.fill_bytes(&mut root);
        rng.fill_bytes(&mut intermediate);
        let static_key = KeyPair::generate(&mut rng);
        let root_public = KeyPair::from_private_bytes(root).public_bytes();
        let window = (1_600_000_000, 4_000_000_000);
        let intermediate_info = CertificateInfo {
            serial: 7,
            issuer_serial: cert::ROOT_ISSUER_SERIAL,
            key: KeyPair::from_private_bytes(intermediate).public_bytes(),
            not_before: window.0,
            not_after: window.1,
        };
        let leaf = CertificateInfo {
            serial: 8,
            issuer_serial: 7,
            key: static_key.public_bytes(),
            not_before: window.0,
            not_after: window.1,
        };
        let chain = Bytes::from(cert::build_chain(
            &root,
            &intermediate,
            &intermediate_info,
            &leaf,
        ));
        let limit = config.history_limit;
        Self {
            config,
            rng,
            root_public,
            static_key,
            chain,
            created_at: now,
            conns: BTreeMap::new(),
            devices: BTreeMap::new(),
            planned: VecDeque::new(),
            connect_faults: VecDeque::new(),
            scheduled: Vec::new(),
            transmits: VecDeque::new(),
            closes: VecDeque::new(),
            received: History::new(limit),
            logins: History::new(limit),
            registrations: 0,
            server_pings: Vec::new(),
            pongs: 0,
            pre_key_uploads: History::new(limit),
            counter: 0,
            codes_finished: VecDeque::new(),
            abrupt: BTreeSet::new(),
            expected_acks: Vec::new(),
            now,
            accounts: accounts::Accounts::default(),
            routing: routing::Routing::default(),
            groups: groups::GroupRegistry::default(),
            local_inbox: BTreeMap::new(),
            accepted: History::new(limit),
            routed: History::new(limit),
            handouts: History::new(limit),
            complaints: Vec::new(),
            expired: 0,
            delivery_faults: BTreeMap::new(),
            receipt_acked: queues::ReceiptAcked::default(),
            media: MediaStore::default(),
        }
    }

    // ---- configuration and inspection ----------------------------------------------------

    /// The root key the certificate chain is signed with: the client's `trusted_roots`.
    pub fn root_public(&self) -> [u8; 32] {
        self.root_public
    }

    /// The endpoint clients should be configured with.
    pub fn endpoint(&self) -> &'static str {
        SIM_ENDPOINT
    }

    /// The configuration (mutable: change the pre-key count or the minimum version mid-run).
    pub fn config_mut(&mut self) -> &mut ServerConfig {
        &mut self.config
    }

    /// The media host's tokens and blobs (`media_conn` answers, uploads, downloads).
    pub fn media(&mut self) -> &mut MediaStore {
        &mut self.media
    }

    /// Server wall-clock time at `now` (Unix seconds, before any per-connection skew).
    pub fn unix_at(&self, now: Instant) -> u64 {
        self.config
            .unix_base
            .saturating_add(now.saturating_duration_since(self.created_at).as_secs())
    }

    /// The registered devices, by noise key.
    pub fn devices(&self) -> &BTreeMap<[u8; 32], Device> {
        &self.devices
    }

    /// Registers a device directly (a test that starts from linked credentials); its account
    /// is created when the server does not know it yet.
    pub fn register_device(&mut self, noise_public: [u8; 32], device: Device) {
        self.ensure_companion(&device, u32::from(device.jid.device_id()), None);
        self.devices.insert(noise_public, device);
    }

    /// Protocol violations the server noticed, oldest first.
    pub fn complaints(&self) -> &[Complaint] {
        &self.complaints
    }

    /// Every stanza received after a handshake, in order (the newest ones under a
    /// `history_limit`).
    pub fn received(&self) -> &[(ConnId, Node)] {
        self.received.kept()
    }

    /// The stanzas received after the first `seen` ever received (those still kept), and the
    /// number received in all: a reader that remembers the total never misses or repeats one.
    pub fn received_since(&self, seen: usize) -> (&[(ConnId, Node)], usize) {
        (self.received.since(seen), self.received.total())
    }

    /// Every ClientPayload received, in order (the newest ones under a `history_limit`).
    pub fn logins(&self) -> &[Login] {
        self.logins.kept()
    }

    /// The logins after the first `seen` ever received (those still kept), and the total.
    pub fn logins_since(&self, seen: usize) -> (&[Login], usize) {
        (self.logins.since(seen), self.logins.total())
    }

    /// How many logins of known devices and how many registrations the server ever received
    /// (not affected by `history_limit`).
    pub fn login_counts(&self) -> (u64, u64) {
        let total = self.logins.total() as u64;
        (total - self.registrations, self.registrations)
    }

    /// Pre-key uploads: connection and number of keys.
    pub fn pre_key_uploads(&self) -> &[(ConnId, usize)] {
        self.pre_key_uploads.kept()
    }

    /// Answers to server pings received.
    pub fn pongs(&self) -> u32 {
        self.pongs
    }

    /// The token-dictionary version connection `id` speaks (from its intro header).
    pub fn dict_version(&self, id: ConnId) -> Option<u8> {
        self.conns.get(&id).map(|c| c.wire.dict_version())
    }

    /// Whether connection `id` finished a login (`<success>` sent), for harnesses that ping
    /// only logged-in clients.
    pub fn is_logged_in(&self, id: ConnId) -> bool {
        self.conns
            .get(&id)
            .is_some_and(|c| matches!(c.role, Role::LoggedIn { .. }))
    }

    /// The device logged in on connection `id`.
    fn conn_device(&self, id: ConnId) -> Option<DeviceAddr> {
        match &self.conns.get(&id)?.role {
            Role::LoggedIn { device, .. } => Some(device.clone()),
            _ => None,
        }
    }

    /// Whether connection `id` went silent ([`Fault::Silent`]): a harness sends it nothing of
    /// its own accord either (no server pings).
    pub fn is_silent(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_some_and(|c| c.silent)
    }

    /// Connections the server still considers open.
    pub fn open_connections(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    // ---- faults ---------------------------------------------------------------------------

    /// Applies `fault` to the next connection opened (at its verdict; `Skew` to its `t`).
    pub fn fault_next(&mut self, fault: Fault) {
        self.fault_connection(0, fault);
    }

    /// Applies `fault` to the `k`-th connection opened from now on (0 = the next one).
    pub fn fault_connection(&mut self, k: usize, fault: Fault) {
        while self.planned.len() <= k {
            self.planned.push_back(Vec::new());
        }
        if let Some(plan) = self.planned.get_mut(k) {
            plan.push(fault);
        }
    }

    /// Refuses the next `n` connects.
    pub fn refuse_next_connects(&mut self, n: usize) {
        self.connect_faults
            .extend(std::iter::repeat_n(ConnectOutcome::Refuse, n));
    }

    /// Forgets the connect faults not yet used (refused and hanging connects).
    pub fn clear_connect_faults(&mut self) {
        self.connect_faults.clear();
    }

    /// Leaves the next `n` connects hanging.
    pub fn hang_next_connects(&mut self, n: usize) {
        self.connect_faults
            .extend(std::iter::repeat_n(ConnectOutcome::Hang, n));
    }

    /// What happens to a connect the harness is about to make (consumes one connect fault).
    pub fn connect_outcome(&mut self) -> ConnectOutcome {
        self.connect_faults
            .pop_front()
            .unwrap_or(ConnectOutcome::Accept)
    }

    /// Applies `fault` to a live connection now.
    pub fn inject(&mut self, id: ConnId, fault: Fault, now: Instant) {
        self.now = self.now.max(now);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match fault {
            Fault::Silent => conn.silent = true,
            Fault::IgnorePings(ignore) => conn.ignore_pings = ignore,
            Fault::Skew(secs) => conn.skew = secs,
            Fault::AbruptClose => {
                self.abrupt.insert(id);
                self.close(id);
            }
            Fault::Stall(duration) => conn.stalled_until = Some(now + duration),
            Fault::Malformed => {
                // A list header claiming more items than the plaintext holds.
                if let Some(bytes) = conn.wire.seal_plain(&[0x00, 0xf9, 0xff, 0xff, 0x01]) {
                    self.emit(id, bytes);
                }
            }
            Fault::Oversized(len) => {
                let [_, a, b, c] = len.to_be_bytes();
                self.emit(id, Bytes::from(vec![a, b, c, 0, 0, 0]));
            }
            Fault::Ping => {
                self.send_ping(id);
            }
            Fault::Notification => {
                self.send_notification(id, now);
            }
            other => {
                if let Some(node) = other.stanza() {
                    self.send(id, &node);
                }
                self.close(id);
            }
        }
    }

    /// Applies `fault` to connection `id` at `at`.
    pub fn schedule(&mut self, at: Instant, id: ConnId, fault: Fault) {
        self.scheduled.push((at, id, fault));
    }

    /// Sends a server ping (`urn:xmpp:ping`) on `id`; returns its id.
    pub fn send_ping(&mut self, id: ConnId) -> String {
        self.counter += 1;
        let ping_id = format!("srv-ping-{}", self.counter);
        self.server_pings.push(ping_id.clone());
        self.send(id, &stanzas::server_ping(&ping_id));
        ping_id
    }

    /// Sends any stanza on `id` (a notification, a message…).
    pub fn send_node(&mut self, id: ConnId, node: &Node) {
        // Before the handshake finished nothing can be sent, so no ack is owed either.
        if self.try_send(id, node) {
            self.expect_ack(id, node);
        }
    }

    // ---- sans-IO verbs ---------------------------------------------------------------------

    /// A client connected (the WebSocket is open).
    pub fn handle_open(&mut self, id: ConnId, now: Instant) {
        self.now = self.now.max(now);
        let ephemeral = KeyPair::generate(&mut self.rng);
        let conn = Conn {
            wire: Wire::new(self.static_key.clone(), ephemeral, self.chain.clone()),
            role: Role::Handshaking,
            silent: false,
            ignore_pings: false,
            skew: 0,
            faults: self.planned.pop_front().unwrap_or_default(),
            pair_code: None,
            stalled_until: None,
            held: Vec::new(),
        };
        let skew = conn.faults.iter().find_map(|f| match f {
            Fault::Skew(s) => Some(*s),
            _ => None,
        });
        // A stall planned for this connection delays its handshake.
        let stall = conn.faults.iter().find_map(|f| match f {
            Fault::Stall(d) => Some(now + *d),
            _ => None,
        });
        self.conns.insert(
            id,
            Conn {
                skew: skew.unwrap_or(conn.skew),
                stalled_until: stall,
                ..conn
            },
        );
    }

    /// Bytes from the client on `id`.
    pub fn handle_bytes(&mut self, id: ConnId, data: &[u8], now: Instant) {
        self.now = self.now.max(now);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Ok(output) = conn.wire.handle_bytes(data) else {
            self.close(id);
            return;
        };
        if conn.silent {
            return;
        }
        for frame in output.send {
            self.emit(id, frame);
        }
        if let Some(finish) = output.finished {
            self.on_client_payload(id, finish.client_static, &finish.client_payload, now);
        }
        for node in output.nodes {
            self.received.push((id, node.clone()));
            if self.conns.get(&id).is_none_or(|c| c.silent) {
                continue;
            }
            self.on_node(id, &node, now);
        }
    }

    /// The client closed `id` (or the harness dropped it).
    pub fn handle_close(&mut self, id: ConnId, _now: Instant) {
        self.abrupt.remove(&id);
        if self.conns.remove(&id).is_some() {
            self.conn_gone(id);
        }
    }

    /// Applies scheduled faults that are due and ends stalls that are over.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let mut released = Vec::new();
        for (id, conn) in &mut self.conns {
            if conn.stalled_until.is_some_and(|until| until <= now) {
                conn.stalled_until = None;
                released.extend(conn.held.drain(..).map(|bytes| (*id, bytes)));
            }
        }
        self.transmits.extend(released);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.scheduled = later;
        for (_, id, fault) in due {
            self.inject(id, fault, now);
        }
    }

    /// The next bytes to deliver to the client.
    pub fn poll_transmit(&mut self) -> Option<(ConnId, Bytes)> {
        self.transmits.pop_front()
    }

    /// The next connection the server closed (deliver after its transmits).
    pub fn poll_close(&mut self) -> Option<ConnId> {
        self.closes.pop_front()
    }

    /// Whether the close of `id` that [`poll_close`](Self::poll_close) returned is a
    /// [`Fault::AbruptClose`]: a transport harness then drops the connection without a
    /// websocket close frame. Asking forgets it.
    pub fn take_abrupt(&mut self, id: ConnId) -> bool {
        self.abrupt.remove(&id)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stalls = self.conns.values().filter_map(|c| c.stalled_until);
        self.scheduled
            .iter()
            .map(|(at, _, _)| *at)
            .chain(stalls)
            .min()
    }

    // ---- internals ------------------------------------------------------------------------

    fn send(&mut self, id: ConnId, node: &Node) {
        self.try_send(id, node);
    }

    /// Seals and queues `node`; `false` when it could not be sent (no such connection, or
    /// its handshake has not finished).
    fn try_send(&mut self, id: ConnId, node: &Node) -> bool {
        match self.conns.get_mut(&id).and_then(|c| c.wire.seal(node)) {
            Some(bytes) => {
                self.emit(id, bytes);
                true
            }
            None => false,
        }
    }

    /// Queues bytes for the client, or holds them while the connection is stalled.
    fn emit(&mut self, id: ConnId, bytes: Bytes) {
        match self.conns.get_mut(&id) {
            Some(conn) if conn.stalled_until.is_some() => conn.held.push(bytes),
            _ => self.transmits.push_back((id, bytes)),
        }
    }

    fn close(&mut self, id: ConnId) {
        if self.conns.remove(&id).is_some() {
            self.conn_gone(id);
            self.closes.push_back(id);
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }
}
