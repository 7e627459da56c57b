//! Sending (`messaging.md` §5, §6.6, §8.1): the durable outbox and the fan-out pipeline.
//!
//! ```text
//!  send(to, message) ─▶ id at once; commit: outbox row (queued) + pending marker
//!       │
//!       ▼  (one message at a time, in order)
//!  devices of [recipient, own user] ─▶ sessions (bundle fetch + X3DH where missing)
//!       ─▶ pad + encrypt per device (deviceSentMessage for own devices)
//!       ─▶ commit: advanced sessions + outbox row (encrypted, with the stanza bytes)
//!       ─▶ durable ─▶ the stanza goes on the wire (never before), ack timer starts
//!  <ack class="message"> ─▶ Sent{id, t} (error ⇒ SendFailed{Nack}); commit: row acked
//!  no ack in time / connection lost ─▶ the same bytes again (the server dedups by id), up to
//!       the attempt limit ⇒ SendFailed{Timeout}
//!  <receipt type="retry"> ─▶ the kept plaintext, re-encrypted for that one device (a new
//!       session from the receipt's keys, or a fresh bundle) ─▶ durable ─▶ resend
//! ```
//!
//! Rows are kept for `keep` after they were sent, so retry receipts can be answered after a
//! restart; pending markers let a restart find what still has to go out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use tracing::{debug, info, warn};

use super::address::{Address, Namespace, UserId};
use super::bundle;
use super::ctx::Ctx;
use super::devices::{Devices, Lists};
use super::group_send;
use super::groups::{self, Groups};
use super::ids::MessageId;
use super::outcome::{self, Reported, pending_key, row_key};
use super::padding;
use super::phash;
use super::retry_answer::{self, RetryJob};
use super::rows::{self, OutboxRow, OutboxState};
use super::sessions;
use super::stanza::{self, EncKind};
use super::store::{Deferred, Durable, RangeFor};
use super::types::SendError;
use crate::binary::{self, Jid, Node, Server, TokenDict};
use crate::proto::message::{DeviceSentMessage, Message};
use crate::records::{RecordRead, Table};

/// How the outbox behaves.
#[derive(Clone, Debug)]
pub struct OutboxConfig {
    /// How long to wait for the server's ack on a live connection (whatsmeow: 75 s).
    pub ack_timeout: Duration,
    /// How many times a stanza goes on the wire before `SendFailed{Timeout}`.
    pub max_attempts: u32,
    /// Retry receipts answered per message and device (Baileys: 5).
    pub max_retry_answers: u32,
    /// Which namespace 1:1 messages are addressed in.
    pub addressing: DmAddressing,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(75),
            max_attempts: 3,
            max_retry_answers: 5,
            addressing: DmAddressing::Lid,
        }
    }
}

/// The namespace of 1:1 messages (`messaging.md` §10 open point 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmAddressing {
    /// The recipient's LID whenever the server knows one (whatsmeow).
    Lid,
    /// Whatever the application addressed.
    AsGiven,
}

/// A message being prepared.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) to: Jid,
    pub(crate) message: Bytes,
    pub(crate) kind: String,
    /// When the application sent it (Unix seconds).
    pub(crate) created_at: u64,
    /// Users whose device lists were asked for already (a usync that gave no LID).
    lid_asked: bool,
    /// Devices whose bundle was asked for (and failed, if absent from the sessions).
    pub(crate) bundles_asked: BTreeSet<Address>,
    /// Its row and pending marker are in a commit already. A new message is written with
    /// its encryption (one transaction before the stanza) unless it has to wait for more than
    /// the store (the server, the connection) or the application shuts down first, then at
    /// once; a crash before that write loses a message the application has only an id for,
    /// never one it was told is sent.
    written: bool,
}

/// On the wire (or about to be), waiting for the ack.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// The chat, as the application addressed it.
    pub(crate) to: Jid,
    pub(crate) since: Instant,
    pub(crate) attempts: u32,
    pub(crate) stanza: Node,
    pub(crate) phash: Option<String>,
    pub(crate) users: Vec<UserId>,
    /// The stored row without its stanza: the state updates at the ack (or failure) rewrite
    /// it whole, so the plaintext kept for retry receipts survives even when the row is no
    /// longer cached.
    pub(crate) row: OutboxRow,
}

/// The outbox sub-machine.
#[derive(Debug)]
pub(crate) struct Outbox {
    config: OutboxConfig,
    queue: VecDeque<Job>,
    /// Encrypted, durable, not acked: id → stanza.
    in_flight: BTreeMap<String, InFlight>,
    /// Logged in: ack deadlines run only then (offline, nothing can be acked, and a due
    /// deadline that `handle_timeout` skips would make a driver spin).
    online: bool,
    /// Encrypted, commit not durable yet.
    staged: BTreeMap<String, InFlight>,
    retries: VecDeque<RetryJob>,
    /// Answers given per (id, device).
    answered: BTreeMap<(String, String), u32>,
    /// Resends on the wire, not acked: id → the devices they answer, in sending order (the
    /// server acks them in that order on the stream). A refused resend leaves its device
    /// without the message: the application hears of it.
    resends: BTreeMap<String, VecDeque<Jid>>,
    /// Bundles asked for, not answered.
    bundles: BTreeSet<Address>,
    /// Pending markers to load after a restart.
    resume: Resume,
    /// Outcomes taken by the driver, their markers not deleted yet.
    reported: Reported,
}

#[derive(Debug, PartialEq, Eq)]
enum Resume {
    Idle,
    Loading,
    Rows(Vec<String>),
    Done,
}

impl Job {
    /// The stored row of a message not encrypted yet.
    fn row(&self) -> OutboxRow {
        OutboxRow {
            to: Some(self.to.to_string()),
            message: Some(self.message.clone()),
            created_at: Some(self.created_at),
            kind: Some(self.kind.clone()),
            ..OutboxRow::default()
        }
    }
}

impl Outbox {
    pub(crate) fn new(config: OutboxConfig) -> Self {
        Self {
            config,
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            online: false,
            staged: BTreeMap::new(),
            retries: VecDeque::new(),
            answered: BTreeMap::new(),
            resends: BTreeMap::new(),
            bundles: BTreeSet::new(),
            resume: Resume::Idle,
            reported: Reported::default(),
        }
    }

    /// The driver took the outcome (`Sent`/`SendFailed`) of `id`: its marker can go.
    pub(crate) fn reported(&mut self, id: &str) {
        self.reported.push(id);
    }

    /// At start: find what a previous process left unsent.
    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_>) {
        if self.resume != Resume::Idle {
            return;
        }
        self.resume = Resume::Loading;
        ctx.range(
            RecordRead::prefix(Table::Outbox, Bytes::from_static(b"p/"), u32::MAX),
            RangeFor::OutboxPending,
        );
    }

    /// The pending markers of a previous process.
    pub(crate) fn on_pending(&mut self, rows: Vec<(Bytes, Bytes)>) {
        let ids = rows
            .into_iter()
            .filter_map(|(k, _)| Some(std::str::from_utf8(k.strip_prefix(b"p/")?).ok()?.to_owned()))
            .collect();
        self.resume = Resume::Rows(ids);
    }

    /// Accepts a message: the id now; the row with its encryption, or as soon as the message
    /// has to wait for more than the store (see [`Job::written`]).
    pub(crate) fn send(&mut self, ctx: &mut Ctx<'_>, to: Jid, message: &Message) -> MessageId {
        let own = ctx
            .creds
            .device
            .as_ref()
            .map(|d| d.jid.user_str().to_owned())
            .unwrap_or_default();
        let random: [u8; 16] = ctx.random();
        let id = MessageId::generate(ctx.unix, &own, &random);
        self.queue.push_back(Job {
            id: id.0.clone(),
            to,
            message: Bytes::from(message.encode_to_vec()),
            kind: message_type(message).to_owned(),
            created_at: ctx.unix,
            lid_asked: false,
            bundles_asked: BTreeSet::new(),
            written: false,
        });
        id
    }

    /// The application shuts down: every accepted message not written yet is written now, so
    /// the restart sends it.
    pub(crate) fn on_shutdown(&mut self, ctx: &mut Ctx<'_>) {
        for job in &mut self.queue {
            Self::write_accepted(ctx, job, false);
        }
        self.reported.flush(ctx, true);
    }

    /// At the end of a step: the markers of reported outcomes ride on its commit if it writes
    /// anything, and go alone only when no message is waiting to be sent (see
    /// [`Reported::flush`]): an idle account does not keep them, a send does not wait for them.
    pub(crate) fn flush_reported(&mut self, ctx: &mut Ctx<'_>) {
        let idle = self.queue.is_empty();
        self.reported.flush(ctx, idle);
    }

    /// Writes a job's pending marker and retention key into this step's commit, and its
    /// queued row unless `row_written` (the encryption or the failure wrote it).
    fn write_accepted(ctx: &mut Ctx<'_>, job: &mut Job, row_written: bool) {
        if job.written {
            return;
        }
        job.written = true;
        if !row_written {
            let row = OutboxRow {
                state: Some(OutboxState::Queued as i32),
                ..job.row()
            };
            ctx.put(Table::Outbox, row_key(&job.id), rows::encode(&row));
        }
        ctx.put(Table::Outbox, pending_key(&job.id), Bytes::new());
        ctx.put(
            Table::Outbox,
            super::retention::outbox_time_key(job.created_at, &job.id),
            Bytes::new(),
        );
    }

    /// Drives the queue head, the retry answers and the restart resume.
    pub(crate) fn poll(&mut self, ctx: &mut Ctx<'_>, devices: &mut Devices, groups: &mut Groups) {
        self.poll_resume(ctx);
        self.poll_retries(ctx, devices);
        // One message at a time: the head is encrypted before the next starts.
        while let Some(job) = self.queue.front_mut() {
            let step = if groups::is_group(&job.to) {
                group_send::prepare(
                    ctx,
                    devices,
                    groups,
                    &mut self.bundles,
                    &mut self.staged,
                    job,
                )
            } else {
                prepare(
                    ctx,
                    devices,
                    &self.config,
                    &mut self.bundles,
                    &mut self.staged,
                    job,
                )
            };
            match step {
                Step::Wait => break,
                Step::Done(result) => {
                    let Some(mut job) = self.queue.pop_front() else {
                        break;
                    };
                    // The row itself was written by the encryption, or is by the failure.
                    Self::write_accepted(ctx, &mut job, true);
                    if let Err(error) = result {
                        let row = job.row();
                        outcome::failed(ctx, &job.id, row, 0, error);
                    }
                }
            }
        }
        // Waiting for the server (usync, bundles) or the connection: what waits is written.
        if !self.queue.is_empty() && !ctx.waits_only_for_loads() {
            for job in &mut self.queue {
                Self::write_accepted(ctx, job, false);
            }
        }
    }

    fn poll_resume(&mut self, ctx: &mut Ctx<'_>) {
        let Resume::Rows(ids) = &mut self.resume else {
            return;
        };
        if !ctx.want(ids.iter().map(|id| (Table::Outbox, row_key(id)))) {
            return;
        }
        let ids = std::mem::take(ids);
        self.resume = Resume::Done;
        for id in ids {
            let Some(row) = ctx
                .get(Table::Outbox, &row_key(&id))
                .flatten()
                .and_then(|v| rows::decode::<OutboxRow>(&v))
            else {
                ctx.delete(Table::Outbox, pending_key(&id));
                continue;
            };
            match OutboxState::try_from(row.state.unwrap_or(0)) {
                Ok(OutboxState::Queued) => {
                    let Some(to) = row.to.as_deref().and_then(|t| t.parse().ok()) else {
                        continue;
                    };
                    self.queue.push_back(Job {
                        id,
                        to,
                        message: row.message.unwrap_or_default(),
                        kind: row.kind.unwrap_or_else(|| "text".into()),
                        created_at: row.created_at.unwrap_or(ctx.unix),
                        lid_asked: false,
                        bundles_asked: BTreeSet::new(),
                        written: true,
                    });
                }
                Ok(OutboxState::Encrypted) => {
                    let Some(stanza) = row
                        .stanza
                        .as_ref()
                        .and_then(|b| binary::decode(b, TokenDict::v3()).ok())
                    else {
                        warn!(%id, "a stored stanza does not decode; it cannot be resent");
                        let attempts = row.attempts.unwrap_or(0);
                        outcome::failed(
                            ctx,
                            &id,
                            row,
                            attempts,
                            SendError::Invalid("the stored stanza is damaged".into()),
                        );
                        continue;
                    };
                    info!(%id, "resending a message a previous run encrypted");
                    let to = row
                        .to
                        .as_deref()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or_else(|| stanza_to(&stanza));
                    self.in_flight.insert(
                        id,
                        InFlight {
                            to,
                            since: ctx.now,
                            attempts: row.attempts.unwrap_or(0),
                            stanza,
                            phash: None,
                            users: Vec::new(),
                            row: OutboxRow {
                                stanza: None,
                                ..row
                            },
                        },
                    );
                }
                _ => {
                    if !outcome::replay(ctx, &id, &row) {
                        ctx.delete(Table::Outbox, pending_key(&id));
                    }
                }
            }
        }
        if ctx.connected {
            self.resend_all(ctx);
        }
    }

    /// An encrypted message is durable: it may go on the wire.
    pub(crate) fn on_durable(&mut self, ctx: &mut Ctx<'_>, durable: &Durable) {
        if let Durable::OutboxReady(id) = durable
            && let Some(mut flight) = self.staged.remove(id)
        {
            flight.since = ctx.now;
            if ctx.connected {
                flight.attempts += 1;
                ctx.send(flight.stanza.clone());
            }
            self.in_flight.insert(id.clone(), flight);
        }
    }

    /// Logged in: everything encrypted and not acked goes out again (same bytes).
    pub(crate) fn on_connected(&mut self, ctx: &mut Ctx<'_>) {
        self.online = true;
        self.resend_all(ctx);
    }

    fn resend_all(&mut self, ctx: &mut Ctx<'_>) {
        for (id, flight) in &mut self.in_flight {
            debug!(%id, attempt = flight.attempts + 1, "sending");
            flight.attempts += 1;
            flight.since = ctx.now;
            ctx.send(flight.stanza.clone());
        }
    }

    /// The connection is gone: bundle fetches in flight are lost.
    pub(crate) fn on_disconnected(&mut self) {
        self.online = false;
        self.bundles.clear();
        for job in &mut self.queue {
            job.bundles_asked.clear();
        }
        for r in &mut self.retries {
            r.bundle_asked = false;
        }
        // Their retry receipts were not acked either: the server delivers them again.
        self.resends.clear();
    }

    /// `<ack class="message">`.
    pub(crate) fn on_ack(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
        let Some(id) = node.attr_str("id").map(str::to_owned) else {
            return false;
        };
        let Some(flight) = self.in_flight.remove(&id) else {
            return self.on_resend_ack(ctx, &id, node);
        };
        let t = node.attr_str("t").and_then(|t| t.parse().ok());
        if let Some(code) = node.attr_str("error").and_then(|e| e.parse::<u16>().ok()) {
            warn!(%id, code, "the server refused a message");
            outcome::failed(ctx, &id, flight.row, flight.attempts, SendError::nack(code));
            return true;
        }
        if let (Some(theirs), Some(ours)) = (node.attr_str("phash"), flight.phash.as_deref())
            && theirs != ours
        {
            debug!(%id, "the server's device list differs: refreshing it");
            for user in &flight.users {
                Devices::invalidate(ctx, user);
            }
        }
        outcome::acked(ctx, &id, flight.row, flight.to, t, flight.attempts);
        true
    }

    /// The ack of a resend answering a retry receipt: nothing to do when accepted; when
    /// refused, the device that asked will not get the message.
    fn on_resend_ack(&mut self, ctx: &mut Ctx<'_>, id: &str, node: &Node) -> bool {
        let Some(devices) = self.resends.get_mut(id) else {
            return false;
        };
        let device = devices.pop_front();
        if devices.is_empty() {
            self.resends.remove(id);
        }
        if let (Some(device), Some(code)) = (device, node.attr_str("error")) {
            warn!(%id, %device, code, "the server refused a resend");
            retry_answer::unreachable(
                ctx,
                id,
                &device,
                &format!(
                    "it could not decrypt the message and the server refused the message sent \
                     again for it (error {code}; in a group: the sender is no longer a member)"
                ),
            );
        }
        true
    }

    /// Ack deadlines.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if !self.online {
            return None;
        }
        self.in_flight
            .values()
            .map(|f| f.since + self.config.ack_timeout)
            .min()
    }

    /// Resends what was not acked in time; gives up after the attempt limit.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if !ctx.connected {
            return;
        }
        let due: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.since + self.config.ack_timeout <= ctx.now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(flight) = self.in_flight.get_mut(&id) else {
                continue;
            };
            if flight.attempts >= self.config.max_attempts {
                let attempts = flight.attempts;
                let Some(flight) = self.in_flight.remove(&id) else {
                    continue;
                };
                warn!(%id, attempts, "no ack from the server; giving up");
                outcome::failed(
                    ctx,
                    &id,
                    flight.row,
                    attempts,
                    SendError::Timeout { attempts },
                );
                continue;
            }
            flight.attempts += 1;
            flight.since = ctx.now;
            warn!(%id, attempt = flight.attempts, "no ack from the server; sending again");
            ctx.send(flight.stanza.clone());
        }
    }

    /// `<receipt type="retry">` for a message this account sent.
    /// A `<receipt type="retry">`; acknowledged once it is answered (or refused).
    pub(crate) fn on_retry_receipt(&mut self, ctx: &mut Ctx<'_>, node: &Node) {
        let Some(mut job) = RetryJob::from_receipt(node) else {
            if let Some(ack) = stanza::receipt_ack(node) {
                ctx.send(ack);
            }
            return;
        };
        let slot = (job.id.clone(), job.requester.to_string());
        let answered = self.answered.get(&slot).copied().unwrap_or(0);
        if answered >= self.config.max_retry_answers {
            warn!(id = %job.id, from = %job.requester, count = job.count, "retry receipt past the limit; not answering");
            if answered == self.config.max_retry_answers {
                // Said once per device: this device cannot read the message.
                self.answered.insert(slot, answered + 1);
                retry_answer::unreachable(
                    ctx,
                    &job.id,
                    &job.requester,
                    "it still cannot decrypt the message after every resend",
                );
            }
            if let Some(ack) = job.ack.take() {
                ctx.defer(Deferred::Send(ack));
            }
            return;
        }
        // The counts are a soft limit: keep the map bounded.
        if self.answered.len() >= 4096 {
            self.answered.clear();
        }
        self.answered.insert(slot, answered + 1);
        self.retries.push_back(job);
    }

    fn poll_retries(&mut self, ctx: &mut Ctx<'_>, devices: &mut Devices) {
        while let Some(job) = self.retries.front_mut() {
            match retry_answer::answer(ctx, devices, &mut self.bundles, job) {
                Step::Wait => break,
                Step::Done(_) => {
                    let Some(mut job) = self.retries.pop_front() else {
                        break;
                    };
                    if job.resent {
                        if self.resends.len() >= 4096 {
                            self.resends.clear();
                        }
                        self.resends
                            .entry(job.id.clone())
                            .or_default()
                            .push_back(job.requester.clone());
                    }
                    // After the resend, in the same commit's effects.
                    if let Some(ack) = job.ack.take() {
                        ctx.defer(Deferred::Send(ack));
                    }
                }
            }
        }
    }

    /// The answer to a bundle fetch: sessions for the devices that sent a valid bundle.
    pub(crate) fn on_bundles(&mut self, ctx: &mut Ctx<'_>, asked: &[Jid], node: &Node, ok: bool) {
        for j in asked {
            if let Some(a) = Address::of(j) {
                self.bundles.remove(&a);
            }
        }
        if !ok {
            warn!(answer = %node, "the bundle fetch failed");
            return;
        }
        bundle::process_answer(ctx, node);
    }
}

/// Whether a job finished (with its outcome) or waits.
pub(crate) enum Step {
    Wait,
    Done(Result<(), SendError>),
}

/// Prepares the head message: devices, sessions, encryption, commit.
fn prepare(
    ctx: &mut Ctx<'_>,
    devices: &mut Devices,
    config: &OutboxConfig,
    bundles: &mut BTreeSet<Address>,
    staged: &mut BTreeMap<String, InFlight>,
    job: &mut Job,
) -> Step {
    let Some(own) = ctx.creds.device.clone() else {
        return Step::Done(Err(SendError::Stopped("this device is not linked".into())));
    };
    let Some(mut recipient) = UserId::of(&job.to.to_non_ad()) else {
        return Step::Done(Err(SendError::InvalidRecipient(job.to.to_string())));
    };
    // Addressing: the LID when the server knows one (whatsmeow), else as given.
    if config.addressing == DmAddressing::Lid && recipient.ns == Namespace::Pn {
        if !ctx.want([Devices::map_key(&recipient)]) {
            return Step::Wait;
        }
        match Devices::lid_of(ctx, &recipient).flatten() {
            Some(lid) => recipient = lid,
            None if !job.lid_asked => {
                // A usync in the PN namespace asks for the LID too.
                job.lid_asked = true;
                if let Lists::Waiting = devices.lists(ctx, &[recipient]) {
                    return Step::Wait;
                }
                return Step::Wait;
            }
            None => {}
        }
    }
    let own_user = match (recipient.ns.is_lid(), own.lid.as_ref()) {
        (true, Some(lid)) => UserId {
            user: lid.user_str().to_owned(),
            ns: Namespace::Lid,
        },
        _ => UserId {
            user: own.jid.user_str().to_owned(),
            ns: Namespace::Pn,
        },
    };
    let own_device = own.jid.device_id();
    let to_self = recipient.user == own_user.user;
    let users = if to_self {
        vec![own_user.clone()]
    } else {
        vec![recipient.clone(), own_user.clone()]
    };
    let Lists::Ready(lists) = devices.lists(ctx, &users) else {
        return Step::Wait;
    };
    let mut targets: Vec<(Address, bool)> = Vec::new(); // (device, is own)
    for (user, list) in &lists {
        let is_own = user.user == own_user.user;
        for d in list {
            if is_own && d.id == own_device {
                continue;
            }
            let ns = if d.hosted {
                if user.ns.is_lid() {
                    Namespace::HostedLid
                } else {
                    Namespace::Hosted
                }
            } else {
                user.ns
            };
            let addr = UserId {
                user: user.user.clone(),
                ns,
            }
            .device(d.id);
            targets.push((addr, is_own));
        }
    }
    if !to_self && !targets.iter().any(|(_, own)| !own) {
        return Step::Done(Err(SendError::NoDevices(job.to.to_string())));
    }
    // Sessions: load, then fetch bundles for the devices without one (once per job).
    let addresses: Vec<Address> = targets.iter().map(|(a, _)| a.clone()).collect();
    if !bundle::ensure_sessions(ctx, &addresses, &mut job.bundles_asked, bundles) {
        return Step::Wait;
    }
    // Encrypt for every device that has a session now.
    let message = Message::decode(job.message.as_ref()).unwrap_or_default();
    let media_type = crate::media::mediatype(&message);
    let plain = message.encode_to_vec();
    let dsm = device_sent(message, Some(recipient.jid().to_string())).encode_to_vec();
    let mut participants = Vec::new();
    let mut any_pkmsg = false;
    let mut reached_recipient = false;
    let mut sent_to = Vec::new();
    for (addr, is_own) in &targets {
        let body = if *is_own && !to_self { &dsm } else { &plain };
        let [pad] = ctx.random::<1>();
        let padded = padding::pad(body.clone(), pad);
        let Some((kind, ciphertext)) = sessions::encrypt(ctx, addr, &padded) else {
            continue; // no bundle for it: skipped (whatsmeow)
        };
        any_pkmsg |= kind == EncKind::PreKey;
        reached_recipient |= !is_own || to_self;
        sent_to.push(addr.jid());
        participants.push(stanza::participant(
            &addr.jid(),
            kind,
            ciphertext,
            media_type,
        ));
    }
    if !reached_recipient {
        return Step::Done(Err(SendError::NoDevices(job.to.to_string())));
    }
    let mut node = Node::new("message")
        .attr("id", job.id.clone())
        .jid_attr("to", recipient.jid())
        .attr("type", job.kind.clone());
    if recipient.ns == Namespace::Lid && job.to.server() == &Server::WhatsApp {
        node = node.jid_attr("peer_recipient_pn", job.to.to_non_ad());
    }
    let mut children = vec![Node::new("participants").children(participants)];
    if any_pkmsg && let Some(d) = ctx.creds.device.as_ref() {
        children.push(Node::new("device-identity").bytes(d.account.clone()));
    }
    let node = node.children(children);
    let mut encoded = Vec::new();
    if let Err(e) = binary::encode(&node, TokenDict::v3(), &mut encoded) {
        return Step::Done(Err(SendError::Invalid(e.to_string())));
    }
    let stanza_bytes = Bytes::from(encoded);
    let row = OutboxRow {
        to: Some(job.to.to_string()),
        message: Some(job.message.clone()),
        state: Some(OutboxState::Encrypted as i32),
        created_at: Some(job.created_at),
        stanza: Some(stanza_bytes),
        kind: Some(job.kind.clone()),
        ..OutboxRow::default()
    };
    ctx.put(Table::Outbox, row_key(&job.id), rows::encode(&row));
    let row = OutboxRow {
        stanza: None,
        ..row
    };
    let mut all = sent_to;
    all.push(own.jid);
    staged.insert(
        job.id.clone(),
        InFlight {
            to: job.to.clone(),
            since: ctx.now,
            attempts: 0,
            stanza: node,
            phash: Some(phash::participant_hash(&all)),
            users,
            row,
        },
    );
    ctx.defer(Deferred::Notify(Durable::OutboxReady(job.id.clone())));
    debug!(id = %job.id, devices = targets.len(), "message encrypted");
    Step::Done(Ok(()))
}

/// The `to` of a stanza (a resend whose row lost its chat).
fn stanza_to(stanza: &Node) -> Jid {
    stanza::jid_attr(stanza, "to").unwrap_or_else(|| Jid::server_jid(Server::WhatsApp))
}

/// The copy of `message` for the sender's own other devices (`messaging.md` §5.1): the
/// message inside `deviceSentMessage`, its `messageContextInfo` copied outside too.
pub(super) fn device_sent(message: Message, destination: Option<String>) -> Message {
    let context = message.message_context_info.clone();
    Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: destination,
            message: Some(Box::new(message)),
            phash: None,
        })),
        message_context_info: context,
        ..Message::default()
    }
}

/// The `<message type>` for a message (`messaging.md` §5.5; `media` for media, locations and
/// contacts: `media.md` §3.7).
pub(crate) fn message_type(m: &Message) -> &'static str {
    let m = m.unwrapped();
    if m.reaction_message.is_some() {
        "reaction"
    } else if crate::media::mediatype(m).is_some() {
        "media"
    } else {
        "text"
    }
}
