//! [`Messaging`]: the sub-machines composed, as the connection drives them.
//!
//! ```text
//!             ┌──────────────────────── Messaging ─────────────────────────┐
//!  stanzas ──▶│ inbox (receive)   outbox (send, retries)   prekeys          │──▶ stanzas now
//!  iq answers │ devices (usync, LID map)   receipts in                      │──▶ events now
//!  loads ────▶│             Shared: cache · loads · commit · iq ids         │──▶ LoadRecords
//!  durable ──▶│                                                             │──▶ commits (persist,
//!             └─────────────────────────────────────────────────────────────┘    then deferred
//!                                                                                 effects)
//! ```
//!
//! Every input runs the sub-machines' `poll`s until none makes progress, then seals the commit
//! (one store transaction per input at most). The connection takes the outputs after each
//! call (`take_*`).

use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use tracing::{debug, warn};

use super::address::UserId;
use super::ctx::{Ctx, IqFor, Shared};
use super::devices::Devices;
use super::groups::{self, Groups};
use super::ids::MessageId;
use super::inbox::{Inbox, InboxConfig};
use super::outbox::{Outbox, OutboxConfig};
use super::prekeys::{PreKeyPolicy, PreKeys};
use super::retention::{Retention, RetentionConfig};
use super::stanza;
use super::store::{Commit, CommitId, Deferred, Durable, RangeFor};
use super::types::{InboxPos, Receipt, ReceiptKind};
use crate::binary::{Jid, Node, Value};
use crate::connection::{CommandError, Event};
use crate::creds::{Credentials, LoadId};
use crate::proto::message::Message;
use crate::records::{RecordData, RecordRead};

/// Messaging settings (part of the connection's `Config`).
#[derive(Clone, Debug)]
pub struct MessagingConfig {
    /// The inbox.
    pub inbox: InboxConfig,
    /// The outbox.
    pub outbox: OutboxConfig,
    /// Records kept in the core's cache between inputs (sessions, device lists…); the cache
    /// is emptied after `idle_after` without messaging work.
    pub cache_capacity: usize,
    /// Rotate the signed pre-key this often (`None`: never; whatsapp-rust: 27 days).
    pub signed_pre_key_rotation: Option<std::time::Duration>,
    /// Ask the server for its pre-key digest after login and upload again on a mismatch.
    pub pre_key_digest_check: bool,
    /// How long processed-message keys, outgoing messages and confirmed inbox entries are kept.
    pub retention: RetentionConfig,
    /// A defect planted on purpose, for the simulator's tests only: a member leaving or being
    /// removed no longer rotates our sender key of the group, so a removed member could still
    /// read what is sent afterwards. The simulator's group checks must catch it; never set it
    /// anywhere else.
    #[doc(hidden)]
    pub planted_keep_sender_key_on_removal: bool,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        Self {
            inbox: InboxConfig::default(),
            outbox: OutboxConfig::default(),
            cache_capacity: 256,
            signed_pre_key_rotation: Some(std::time::Duration::from_secs(27 * 86_400)),
            pre_key_digest_check: true,
            retention: RetentionConfig::default(),
            planted_keep_sender_key_on_removal: false,
        }
    }
}

/// The messaging layer of one connection.
#[derive(Debug)]
pub(crate) struct Messaging {
    shared: Shared,
    inbox: Inbox,
    outbox: Outbox,
    prekeys: PreKeys,
    devices: Devices,
    groups: Groups,
    retention: Retention,
    started: bool,
}

/// What a call needs from the connection.
pub(crate) struct Env<'a> {
    pub(crate) creds: &'a mut Credentials,
    pub(crate) rng: &'a mut ChaCha20Rng,
    pub(crate) now: Instant,
    pub(crate) unix: u64,
    pub(crate) connected: bool,
}

impl Messaging {
    pub(crate) fn new(
        config: &MessagingConfig,
        pre_keys: PreKeyPolicyParts,
        rng: &mut ChaCha20Rng,
    ) -> Self {
        Self {
            shared: Shared::new(config.cache_capacity, rng),
            inbox: Inbox::new(config.inbox.clone()),
            outbox: Outbox::new(config.outbox.clone()),
            prekeys: PreKeys::new(PreKeyPolicy {
                initial_batch: pre_keys.initial_batch,
                batch: pre_keys.batch,
                low_watermark: pre_keys.low_watermark,
                rotation: config.signed_pre_key_rotation,
                retired_kept: 3,
                digest_check: config.pre_key_digest_check,
            }),
            devices: Devices::default(),
            groups: Groups::new(config.planted_keep_sender_key_on_removal),
            retention: Retention::new(config.retention.clone()),
            started: false,
        }
    }

    /// Runs `f` with a context, then polls every sub-machine and seals the commit.
    fn step(&mut self, env: Env<'_>, f: impl FnOnce(&mut Parts<'_>, &mut Ctx<'_>)) {
        let Self {
            shared,
            inbox,
            outbox,
            prekeys,
            devices,
            groups,
            retention,
            ..
        } = self;
        let mut ctx = shared.ctx(env.creds, env.rng, env.now, env.unix, env.connected);
        let mut parts = Parts {
            inbox,
            outbox,
            prekeys,
            devices,
            groups,
            retention,
        };
        f(&mut parts, &mut ctx);
        parts.poll(&mut ctx);
        parts.outbox.flush_reported(&mut ctx);
        self.shared.seal();
    }

    /// The first step with credentials: replay the inbox, resume the outbox.
    pub(crate) fn start(&mut self, env: Env<'_>) {
        if self.started || env.creds.device.is_none() {
            return;
        }
        self.started = true;
        self.step(env, |p, ctx| {
            p.inbox.start(ctx);
            p.outbox.start(ctx);
            p.retention.start(ctx.now);
        });
    }

    /// The application shuts down: what is accepted and not written yet is written.
    pub(crate) fn on_shutdown(&mut self, env: Env<'_>) {
        self.step(env, |p, ctx| p.outbox.on_shutdown(ctx));
    }

    /// Logged in.
    pub(crate) fn on_connected(&mut self, env: Env<'_>) {
        self.step(env, |p, ctx| {
            p.prekeys.on_connected(ctx);
            p.outbox.on_connected(ctx);
        });
    }

    /// The transport is gone.
    pub(crate) fn on_disconnected(&mut self) {
        self.shared.drop_iqs();
        self.prekeys.on_disconnected();
        self.devices.on_disconnected();
        self.outbox.on_disconnected();
        self.groups.on_disconnected();
    }

    /// A stanza: `None` if messaging took it, else the stanza back.
    pub(crate) fn on_stanza(&mut self, env: Env<'_>, node: Node) -> Option<Node> {
        match &*node.tag {
            "message" => {
                self.step(env, |p, _| p.inbox.on_message(node));
                None
            }
            "receipt" => {
                self.step(env, |p, ctx| on_receipt(p, ctx, &node));
                None
            }
            "ack" if node.attr_str("class") == Some("message") => {
                let mut taken = false;
                self.step(env, |p, ctx| taken = p.outbox.on_ack(ctx, &node));
                (!taken).then_some(node)
            }
            "notification" => match node.attr_str("type") {
                Some("encrypt") | Some("devices") | Some("w:gp2") => {
                    self.step(env, |p, ctx| on_notification(p, ctx, &node));
                    None
                }
                _ => Some(node),
            },
            _ => Some(node),
        }
    }

    /// An iq answer: `None` if it was for messaging.
    pub(crate) fn on_iq_answer(&mut self, env: Env<'_>, node: Node) -> Option<Node> {
        let id = node.attr_str("id").unwrap_or_default().to_owned();
        let Some(purpose) = self.shared.iqs.remove(&id) else {
            return Some(node);
        };
        let ok = node.attr_str("type") == Some("result");
        self.step(env, |p, ctx| match &purpose {
            IqFor::Usync(asked) => p.devices.on_usync(ctx, asked, &node, ok),
            IqFor::Bundles(asked) => p.outbox.on_bundles(ctx, asked, &node, ok),
            IqFor::GroupInfo(group) => p.groups.on_info(ctx, group, &node, ok, false),
            IqFor::GroupInfoReport(group) => p.groups.on_info(ctx, group, &node, ok, true),
            IqFor::GroupList => p.groups.on_list(ctx, &node, ok),
            _ => p.prekeys.on_answer(ctx, &purpose, &node, ok),
        });
        None
    }

    /// A load answered.
    pub(crate) fn on_loaded(&mut self, env: Env<'_>, id: LoadId, data: Vec<RecordData>) {
        let range = self.shared.loader.answer(&mut self.shared.cache, id, data);
        self.step(env, |p, ctx| {
            if let Some((purpose, rows)) = range {
                match purpose {
                    RangeFor::InboxReplay => p.inbox.on_replay_rows(ctx, rows),
                    RangeFor::InboxRead => p.inbox.on_read_rows(ctx, rows),
                    RangeFor::OutboxPending => p.outbox.on_pending(rows),
                    RangeFor::UserRecords(token) => p.devices.on_user_records(ctx, token, rows),
                    RangeFor::Retention(part) => p.retention.on_rows(ctx, part, rows),
                    RangeFor::PreKeyDigest => p.prekeys.on_digest_rows(ctx, rows),
                }
            }
        });
    }

    /// A deferred effect of a durable commit that concerns messaging.
    pub(crate) fn on_durable(&mut self, env: Env<'_>, durable: Durable) {
        self.step(env, |p, ctx| {
            p.prekeys.on_durable(ctx, &durable);
            p.outbox.on_durable(ctx, &durable);
        });
    }

    /// A commit is durable: its cache entries are clean.
    pub(crate) fn on_commit_durable(&mut self, id: CommitId) {
        self.shared.cache.durable(id);
    }

    /// Sends a message; its id at once.
    pub(crate) fn send(
        &mut self,
        env: Env<'_>,
        to: Jid,
        message: &Message,
    ) -> Result<MessageId, CommandError> {
        if env.creds.device.is_none() {
            return Err(CommandError::NotLinked);
        }
        if UserId::of(&to.to_non_ad()).is_none() && !groups::is_group(&to) {
            return Err(CommandError::InvalidRecipient(to.to_string()));
        }
        let mut id = None;
        self.step(env, |p, ctx| id = Some(p.outbox.send(ctx, to, message)));
        id.ok_or(CommandError::NotLinked)
    }

    /// The application confirms inbox entries.
    pub(crate) fn confirm(&mut self, env: Env<'_>, positions: &[InboxPos]) {
        self.step(env, |p, ctx| p.inbox.confirm(ctx, positions));
    }

    /// Emits every inbox entry from `from` on (confirmed or not), in order, as events.
    pub(crate) fn replay_from(&mut self, env: Env<'_>, from: InboxPos) {
        self.step(env, |p, ctx| p.inbox.read_from(ctx, from.0));
    }

    /// A read receipt for `ids` in `chat`.
    pub(crate) fn mark_read(
        &mut self,
        env: Env<'_>,
        chat: &Jid,
        participant: Option<&Jid>,
        ids: &[MessageId],
    ) {
        let ids: Vec<String> = ids.iter().map(|i| i.0.clone()).collect();
        self.step(env, |_, ctx| {
            if let Some(r) = stanza::read_receipt(chat, participant, &ids, "read", ctx.unix) {
                ctx.send(r);
            }
        });
    }

    /// Asks for a group's metadata (reported as an event).
    pub(crate) fn query_group(&mut self, env: Env<'_>, group: &Jid) {
        self.step(env, |p, ctx| p.groups.query(ctx, group));
    }

    /// Asks for the groups this account is in.
    pub(crate) fn list_groups(&mut self, env: Env<'_>) {
        self.step(env, |p, ctx| p.groups.list(ctx));
    }

    /// The driver took the outcome of send `id` (see [`super::outcome`]).
    pub(crate) fn reported(&mut self, id: &str) {
        self.outbox.reported(id);
    }

    /// The application's presence (delivery receipts follow it).
    pub(crate) fn set_available(&mut self, available: bool) {
        self.inbox.available = available;
    }

    /// Timers.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.outbox.poll_timeout(), self.retention.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires due timers.
    pub(crate) fn handle_timeout(&mut self, env: Env<'_>) {
        self.step(env, |p, ctx| {
            p.outbox.handle_timeout(ctx);
            p.retention.handle_timeout(ctx);
        });
    }

    /// Between inputs: trims the cache (fully when nothing is in progress).
    pub(crate) fn trim(&mut self) {
        let idle = self.inbox.is_idle() && self.groups.is_idle() && !self.shared.loader.busy();
        self.shared.cache.trim(idle.then_some(0));
    }

    /// The store failed: forget writes that will never be durable and loads that will not be
    /// answered.
    pub(crate) fn on_store_failed(&mut self) {
        self.shared.cache.drop_dirty();
        self.shared.loader.reset();
        self.inbox.on_store_failed();
    }

    /// Loads to emit.
    pub(crate) fn take_loads(&mut self) -> Vec<(LoadId, Vec<RecordRead>)> {
        self.shared.loader.take_queued()
    }

    /// Commits to persist.
    pub(crate) fn take_commits(&mut self) -> Vec<(CommitId, Commit)> {
        self.shared.take_commits()
    }

    /// Stanzas to send now.
    pub(crate) fn take_nodes(&mut self) -> Vec<Node> {
        self.shared.take_nodes()
    }

    /// Events to emit now.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        self.shared.take_events()
    }

    /// Inbox entries not yet confirmed (diagnostics).
    pub(crate) fn unconfirmed(&self) -> u64 {
        self.inbox.unconfirmed()
    }
}

/// The pre-key numbers from the connection's config.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreKeyPolicyParts {
    pub(crate) initial_batch: u32,
    pub(crate) batch: u32,
    pub(crate) low_watermark: u32,
}

/// The sub-machines, borrowed for one step.
struct Parts<'a> {
    inbox: &'a mut Inbox,
    outbox: &'a mut Outbox,
    prekeys: &'a mut PreKeys,
    devices: &'a mut Devices,
    groups: &'a mut Groups,
    retention: &'a mut Retention,
}

impl Parts<'_> {
    /// Polls every sub-machine until none makes progress (bounded).
    fn poll(&mut self, ctx: &mut Ctx<'_>) {
        for _ in 0..8 {
            let before = ctx.progress();
            self.devices.poll(ctx);
            self.prekeys.poll(ctx);
            self.retention.poll(ctx);
            self.groups.poll(ctx);
            self.inbox.poll(ctx, self.devices);
            self.outbox.poll(ctx, self.devices, self.groups);
            if ctx.progress() == before {
                break;
            }
        }
    }
}

/// `<receipt>`: acked at once; a retry goes to the outbox, the rest become events.
fn on_receipt(p: &mut Parts<'_>, ctx: &mut Ctx<'_>, node: &Node) {
    let kind = node.attr_str("type");
    if kind == Some("retry") {
        // Acknowledged by the outbox after its answer.
        p.outbox.on_retry_receipt(ctx, node);
        return;
    }
    if let Some(ack) = stanza::receipt_ack(node) {
        ctx.send(ack);
    }
    let jid = |v: Option<&Value>| match v? {
        Value::Jid(j) => Some(j.clone()),
        Value::String(s) => s.parse().ok(),
    };
    let Some(from) = jid(node.get_attr("from")) else {
        return;
    };
    let mut ids: Vec<MessageId> = node
        .attr_str("id")
        .map(|id| MessageId(id.to_owned()))
        .into_iter()
        .collect();
    if let Some(list) = node.child("list") {
        ids.extend(
            list.child_nodes()
                .iter()
                .filter_map(|i| i.attr_str("id"))
                .map(|id| MessageId(id.to_owned())),
        );
    }
    let participant = jid(node.get_attr("participant"));
    let chat = jid(node.get_attr("recipient")).unwrap_or_else(|| from.to_non_ad());
    // A group's receipt comes from the group on behalf of one member device: that device is
    // who received or read it.
    let from = match &participant {
        Some(device) if groups::is_group(&from) => device.clone(),
        _ => from,
    };
    ctx.event(Event::Receipt(Box::new(Receipt {
        kind: ReceiptKind::from_type(kind),
        ids,
        chat,
        from,
        participant,
        timestamp: node.attr_str("t").and_then(|t| t.parse().ok()),
    })));
}

/// `encrypt` (pre-key count, identity change) and `devices` notifications.
fn on_notification(p: &mut Parts<'_>, ctx: &mut Ctx<'_>, node: &Node) {
    if node.attr_str("type") == Some("w:gp2") {
        // Acknowledged by the groups sub-machine once the change is durable.
        p.groups.on_notification(node.clone());
        return;
    }
    if let Some(ack) = stanza::notification_ack(node) {
        ctx.send(ack);
    }
    let jid = |v: Option<&Value>| match v? {
        Value::Jid(j) => Some(j.clone()),
        Value::String(s) => s.parse().ok(),
    };
    match node.attr_str("type") {
        Some("encrypt") => {
            if let Some(count) = node
                .child("count")
                .and_then(|c| c.attr_str("value"))
                .and_then(|v| v.parse().ok())
            {
                p.prekeys.on_count(ctx, count);
            }
            if node.child("identity").is_some()
                && let Some(user) = jid(node.get_attr("from"))
                    .as_ref()
                    .and_then(|j| UserId::of(&j.to_non_ad()))
            {
                debug!(%user, "identity change notification");
                Devices::invalidate(ctx, &user);
                ctx.event(Event::IdentityChanged { user: user.jid() });
            }
        }
        Some("devices") => {
            for attr in ["from", "lid"] {
                if let Some(user) = jid(node.get_attr(attr))
                    .as_ref()
                    .and_then(|j| UserId::of(&j.to_non_ad()))
                {
                    Devices::invalidate(ctx, &user);
                }
            }
        }
        other => warn!(?other, "unexpected notification type routed to messaging"),
    }
}

/// What the connection does with a deferred effect (split out so it can route them).
pub(crate) enum Routed {
    /// Send this stanza.
    Send(Node),
    /// Emit this event.
    Event(Event),
    /// Tell messaging.
    Durable(Durable),
    /// Mark the commit durable in the cache.
    Commit(CommitId),
}

impl From<Deferred> for Routed {
    fn from(d: Deferred) -> Self {
        match d {
            Deferred::Send(n) => Self::Send(n),
            Deferred::Event(e) => Self::Event(e),
            Deferred::Notify(d) => Self::Durable(d),
            Deferred::Durable(c) => Self::Commit(c),
        }
    }
}
