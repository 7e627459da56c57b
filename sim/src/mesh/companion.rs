//! One Tether companion of a [`Mesh`](super::Mesh): a real `Connection`, its `MemStore`, its
//! own seeded `Network` to the shared server, and the plumbing that answers its actions (as
//! the [`Stepper`](crate::Stepper) does for its one connection).
//!
//! Server-side connection ids carry the companion's index, its process epoch and the
//! transport id: `(index + 1) << 48 | epoch << 32 | transport`, so no two companions and no
//! two processes of one companion share one.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tether_core::connection::{Action, Config, Connection, TransportId};
use tether_core::creds::{CredentialStore, StoreResult};
use tether_core::payload::AppVersion;

use crate::network::{NetConfig, Network};
use crate::server::ConnId;
use crate::store::MemStore;

/// A crash planned at a companion's next durable step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrashPoint {
    /// When it asks for its next write: the write is lost with the process.
    PersistInFlight,
    /// Right after its next write is durable, before the process hears so: the write
    /// survives, what waited for it (receipts, acks, sends) never happens.
    PersistDurable,
    /// Right after the server accepted its next `<message>`: the ack is lost.
    AfterSend,
}

/// One companion (see the module docs).
#[derive(Debug)]
pub struct Companion {
    /// The connection under test.
    pub conn: Connection,
    /// Its durable store.
    pub store: MemStore,
    /// Its network to the server.
    pub net: Network,
    /// How long each store operation takes.
    pub store_delay: Duration,
    pub(super) index: usize,
    pub(super) epoch: u64,
    pub(super) open: BTreeSet<TransportId>,
    config: Config,
    seed: u64,
    client_unix_base: u64,
    /// A crash armed for the next durable step of this kind.
    pub crash_at: Option<CrashPoint>,
}

impl Companion {
    /// A companion whose process starts from `store`.
    pub(super) fn new(
        index: usize,
        config: Config,
        mut store: MemStore,
        seed: u64,
        net: NetConfig,
        now: Instant,
        unix: u64,
    ) -> Self {
        let loaded = store.load().ok().flatten();
        let conn = Connection::from_store(config.clone(), loaded, now, unix, seed_bytes(seed));
        Self {
            conn,
            store,
            net: Network::new(seed, net),
            store_delay: Duration::ZERO,
            index,
            epoch: 0,
            open: BTreeSet::new(),
            config,
            seed,
            client_unix_base: unix,
            crash_at: None,
        }
    }

    /// The server-side id of this process's transport `t`.
    pub fn conn_id(&self, t: TransportId) -> ConnId {
        ConnId(((self.index as u64 + 1) << 48) | (self.epoch << 32) | (t.0 & 0xffff_ffff))
    }

    /// This process's transport behind server-side id `c` (`None`: another companion's, or
    /// an earlier process's).
    pub fn transport_of(&self, c: ConnId) -> Option<TransportId> {
        let mine = (c.0 >> 48) == self.index as u64 + 1 && ((c.0 >> 32) & 0xffff) == self.epoch;
        mine.then_some(TransportId(c.0 & 0xffff_ffff))
    }

    /// The companion whose connection `c` is (by the id alone: it may not exist).
    pub fn index_of(c: ConnId) -> Option<usize> {
        usize::try_from(c.0 >> 48).ok()?.checked_sub(1)
    }

    /// The server side of its current transport.
    pub fn server_conn(&self) -> Option<ConnId> {
        self.conn.transport().map(|t| self.conn_id(t))
    }

    /// Process crashes so far.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A new process from the store's contents only (the caller drops the old one's queued
    /// inputs and closes its sockets).
    pub(super) fn restart(&mut self, now: Instant, elapsed: Duration) -> bool {
        self.epoch += 1;
        self.open.clear();
        self.crash_at = None;
        let loaded = self.store.load().ok().flatten();
        let from_store = loaded.is_some();
        let unix = self.client_unix_base.saturating_add(elapsed.as_secs());
        let mixed = self.seed ^ self.epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.conn =
            Connection::from_store(self.config.clone(), loaded, now, unix, seed_bytes(mixed));
        from_store
    }

    /// Answers a store action against the `MemStore`: the result to hand to the connection,
    /// and whether a write became durable.
    pub(super) fn store_op(&mut self, action: &Action) -> Option<(StoreResult, bool)> {
        if let Action::LoadRecords { id, reads } = action {
            let result = match self.store.read(reads) {
                Ok(data) => StoreResult::Loaded { id: *id, data },
                Err(error) => StoreResult::LoadFailed { id: *id, error },
            };
            return Some((result, false));
        }
        let before = self.store.writes();
        let (seq, outcome) = match action {
            Action::PersistCredentials { seq, delta } => (*seq, self.store.apply(*seq, delta)),
            Action::QuarantineCredentials { seq, reason } => {
                (*seq, self.store.quarantine(*seq, reason))
            }
            _ => return None,
        };
        let durable = self.store.writes() > before;
        let result = match outcome {
            Ok(()) if matches!(action, Action::QuarantineCredentials { .. }) => {
                StoreResult::Quarantined(seq)
            }
            Ok(()) => StoreResult::Persisted(seq),
            Err(error) => StoreResult::Failed { seq, error },
        };
        Some((result, durable))
    }

    /// The version a `FetchVersion` is answered with.
    pub(super) fn version() -> AppVersion {
        AppVersion::new(2, 3000, 1_100_000_000)
    }
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    bytes
}
