//! [`Shared`]: the state every messaging sub-machine works through — the record cache, the
//! loads in flight, the commit being assembled, stanzas and events to emit, iq ids — and
//! [`Ctx`], the view of it (plus the credentials, the clock and the random stream) a
//! sub-machine gets for one step.
//!
//! A sub-machine never writes the store or sends a dependent stanza directly: it writes
//! through [`Ctx::put`] / [`Ctx::change`] (cache and commit at once) and queues what depends on
//! those writes with [`Ctx::defer`]; the connection persists the commit and runs the deferred
//! effects only once the store confirms it.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;

use super::store::{Cache, Commit, CommitId, Deferred, Loader};
use crate::binary::{Jid, Node, Server};
use crate::connection::Event;
use crate::creds::{CredentialChange, Credentials};
use crate::records::{RecordWrite, Table};

/// What an iq answer is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IqFor {
    /// The pre-key count after login.
    PreKeyCount,
    /// A pre-key upload of ids below `end`.
    PreKeyUpload {
        /// One past the last uploaded id.
        end: u32,
    },
    /// The pre-key digest check.
    Digest,
    /// A signed pre-key rotation.
    Rotate(u32),
    /// A usync device query for these users (bare user JID strings).
    Usync(Vec<String>),
    /// A bundle fetch for these devices.
    Bundles(Vec<Jid>),
    /// A group's metadata, for a send.
    GroupInfo(Jid),
    /// A group's metadata, asked by the application (reported as an event).
    GroupInfoReport(Jid),
    /// The groups this account is in.
    GroupList,
}

/// State shared by the sub-machines (see the module docs).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cache: Cache,
    pub(crate) loader: Loader,
    commit: Commit,
    next_commit: u64,
    ready: Vec<(CommitId, Commit)>,
    nodes: Vec<Node>,
    events: Vec<Event>,
    iq_prefix: String,
    iq_counter: u64,
    pub(crate) iqs: BTreeMap<String, IqFor>,
    /// Counts everything a step does, so the engine can tell whether polling made progress.
    progress: u64,
}

impl Shared {
    pub(crate) fn new(cache_capacity: usize, rng: &mut impl Rng) -> Self {
        let [a, b, ..] = rng.next_u32().to_be_bytes();
        Self {
            cache: Cache::new(cache_capacity),
            loader: Loader::default(),
            commit: Commit::default(),
            next_commit: 1,
            ready: Vec::new(),
            nodes: Vec::new(),
            events: Vec::new(),
            iq_prefix: format!("{a}.{b}-m"),
            iq_counter: 0,
            iqs: BTreeMap::new(),
            progress: 0,
        }
    }

    /// A view for one step.
    pub(crate) fn ctx<'a>(
        &'a mut self,
        creds: &'a mut Credentials,
        rng: &'a mut ChaCha20Rng,
        now: Instant,
        unix: u64,
        connected: bool,
    ) -> Ctx<'a> {
        Ctx {
            shared: self,
            creds,
            rng,
            now,
            unix,
            connected,
        }
    }

    /// Closes the commit being assembled (if it holds anything) and makes it ready.
    pub(crate) fn seal(&mut self) {
        if self.commit.is_empty() {
            return;
        }
        let id = CommitId(self.next_commit);
        self.next_commit += 1;
        let mut commit = std::mem::take(&mut self.commit);
        commit.then.push(Deferred::Durable(id));
        self.ready.push((id, commit));
    }

    /// Commits ready to persist, in order.
    pub(crate) fn take_commits(&mut self) -> Vec<(CommitId, Commit)> {
        std::mem::take(&mut self.ready)
    }

    /// Stanzas to send now.
    pub(crate) fn take_nodes(&mut self) -> Vec<Node> {
        std::mem::take(&mut self.nodes)
    }

    /// Events to emit now.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Forgets the iqs in flight (their connection is gone); returns what they were for.
    pub(crate) fn drop_iqs(&mut self) -> Vec<IqFor> {
        std::mem::take(&mut self.iqs).into_values().collect()
    }

    fn current(&self) -> CommitId {
        CommitId(self.next_commit)
    }
}

/// One step's view of the shared state.
pub(crate) struct Ctx<'a> {
    shared: &'a mut Shared,
    /// The credentials (changes go through [`Ctx::change`]).
    pub(crate) creds: &'a mut Credentials,
    /// The messaging random stream.
    pub(crate) rng: &'a mut ChaCha20Rng,
    /// Now.
    pub(crate) now: Instant,
    /// Wall-clock seconds now.
    pub(crate) unix: u64,
    /// Whether the connection is logged in.
    pub(crate) connected: bool,
}

impl Ctx<'_> {
    /// A counter that moves whenever the step does something (writes, sends, loads…).
    pub(crate) fn progress(&self) -> u64 {
        self.shared.progress + self.shared.loader.issued()
    }

    /// A cached record: `None` when not cached (ask with [`Ctx::want`]), `Some(None)` when
    /// known absent.
    pub(crate) fn get(&mut self, table: Table, key: &[u8]) -> Option<Option<Bytes>> {
        self.shared.cache.get(table, key)
    }

    /// Asks for every record in `keys` not cached yet; `true` when all are cached.
    pub(crate) fn want(&mut self, keys: impl IntoIterator<Item = (Table, Bytes)>) -> bool {
        let Shared { cache, loader, .. } = &mut *self.shared;
        loader.want(cache, keys)
    }

    /// [`Self::want`], and the cached ones among `keys` stay cached (pinned) until
    /// [`Self::unpin_all`]: for a job that gathers more records than the cache keeps.
    pub(crate) fn want_pinned(&mut self, keys: &[(Table, Bytes)]) -> bool {
        let Shared { cache, loader, .. } = &mut *self.shared;
        let mut missing = Vec::new();
        for (table, key) in keys {
            if !cache.pin(*table, key) {
                missing.push((*table, key.clone()));
            }
        }
        missing.is_empty() || loader.want(cache, missing)
    }

    /// Every record pinned by [`Self::want_pinned`] may be evicted again.
    pub(crate) fn unpin_all(&mut self) {
        self.shared.cache.unpin_all();
    }

    /// Whether something is waiting for the store (a load) and nothing for the server (an
    /// iq): a job that waits only for loads will go on within this burst of inputs.
    pub(crate) fn waits_only_for_loads(&self) -> bool {
        self.shared.loader.busy() && self.shared.iqs.is_empty()
    }

    /// How many loads were answered so far (a waiting job re-checks when this moved).
    pub(crate) fn loads_answered(&self) -> u64 {
        self.shared.loader.answered()
    }

    /// A range read for a sub-machine.
    pub(crate) fn range(
        &mut self,
        read: crate::records::RecordRead,
        purpose: super::store::RangeFor,
    ) -> crate::creds::LoadId {
        self.shared.loader.range(read, purpose)
    }

    /// Whether this step's commit writes anything yet.
    pub(crate) fn writes_pending(&self) -> bool {
        !self.shared.commit.records.is_empty() || !self.shared.commit.changes.is_empty()
    }

    /// Writes a record (cache and commit).
    pub(crate) fn put(&mut self, table: Table, key: Bytes, value: Bytes) {
        self.shared.progress += 1;
        let id = self.shared.current();
        self.shared
            .cache
            .write(table, key.clone(), Some(value.clone()), id);
        self.shared
            .commit
            .records
            .push(RecordWrite::Put { table, key, value });
    }

    /// Applies one record write (cache and commit).
    pub(crate) fn write(&mut self, write: RecordWrite) {
        match write {
            RecordWrite::Put { table, key, value } => self.put(table, key, value),
            RecordWrite::Delete { table, key } => self.delete(table, key),
        }
    }

    /// Deletes a record (cache and commit).
    pub(crate) fn delete(&mut self, table: Table, key: Bytes) {
        self.shared.progress += 1;
        let id = self.shared.current();
        self.shared.cache.write(table, key.clone(), None, id);
        self.shared
            .commit
            .records
            .push(RecordWrite::Delete { table, key });
    }

    /// Changes the credentials (in memory now, durably with the commit).
    pub(crate) fn change(&mut self, change: CredentialChange) {
        self.shared.progress += 1;
        self.creds.apply_change(&change);
        self.shared.commit.changes.push(change);
    }

    /// Runs `effect` once the current commit is durable.
    pub(crate) fn defer(&mut self, effect: Deferred) {
        self.shared.progress += 1;
        self.shared.commit.then.push(effect);
    }

    /// Sends `node` now (it depends on nothing unpersisted).
    pub(crate) fn send(&mut self, node: Node) {
        self.shared.progress += 1;
        if self.connected {
            self.shared.nodes.push(node);
        }
    }

    /// Emits `event` now.
    pub(crate) fn event(&mut self, event: Event) {
        self.shared.progress += 1;
        self.shared.events.push(event);
    }

    /// A new iq addressed to the server, its answer routed by `purpose`.
    pub(crate) fn iq(&mut self, purpose: IqFor, xmlns: &'static str, kind: &'static str) -> Node {
        self.shared.iq_counter += 1;
        let id = format!("{}{}", self.shared.iq_prefix, self.shared.iq_counter);
        self.shared.iqs.insert(id.clone(), purpose);
        Node::new("iq")
            .attr("id", id)
            .attr("xmlns", xmlns)
            .attr("type", kind)
            .jid_attr("to", Jid::server_jid(Server::WhatsApp))
    }

    /// Random bytes.
    pub(crate) fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill_bytes(&mut out);
        out
    }
}
