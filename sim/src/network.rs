//! [`Network`]: the seeded, sans-IO network between the connection and the
//! [`FakeServer`](crate::FakeServer) (`DESIGN.md` §7).
//!
//! The transport is a WebSocket: it carries *messages*, and Tether's frames ride inside them.
//! The network re-cuts each direction's byte stream into messages at seeded points, so one
//! message may carry several frames (coalesced) or a piece of one (split); the receiving
//! `FrameDecoder`s must cope. Each piece gets a delivery instant `now + latency + U[0, jitter]`,
//! never earlier than the previous piece of the same direction (a stream keeps its order).
//!
//! ```text
//!  send(id, dir, bytes, now) ─┬─ link reset after N bytes? ─▶ Reset { at }  (both sides close)
//!                             ├─ partitioned / blackholed? ─▶ Lost           (nothing arrives)
//!                             └─ cut into pieces ───────────▶ Deliver([(at, piece), …])
//!  open(id, now) ─┬─ partitioned ─▶ None (the connect hangs)
//!                 └─ otherwise ───▶ Some(at) (one latency later)
//! ```
//!
//! A **partition** is a window of virtual time in which nothing is delivered: a link used
//! during it is blackholed for good (as a NAT that dropped its mapping leaves a half-open
//! socket), and connects made during it hang. The connection's keepalive must notice.
//! A **reset after N bytes** closes the link once its two directions together carried `N`
//! bytes; the bytes beyond are lost and both ends see a close.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::server::ConnId;

/// Which way bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// How the network behaves (fixed for a run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// One-way base latency.
    pub latency: Duration,
    /// Extra one-way delay, uniform in `[0, jitter]`, drawn per piece.
    pub jitter: Duration,
    /// Re-cut each direction's stream into messages of 1..=`max_piece` bytes (`None`: every
    /// write is one message, as sent).
    pub max_piece: Option<usize>,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            max_piece: None,
        }
    }
}

/// What became of bytes handed to [`Network::send`].
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Delivered as these messages at these instants.
    Deliver(Vec<(Instant, Bytes)>),
    /// The link reset now: both ends see a close at `at`; these bytes and all later are lost.
    Reset {
        /// When the ends learn of it.
        at: Instant,
        /// Bytes the link carried before it reset.
        after: u64,
    },
    /// Lost: the link was blackholed by a partition, or reset earlier.
    Lost(Loss),
}

/// Why bytes were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// The link was used during a partition (and stays blackholed).
    Partition,
    /// The link reset earlier; both ends are being told.
    Reset,
}

#[derive(Debug)]
struct Link {
    up_last: Instant,
    down_last: Instant,
    bytes: u64,
    reset_after: Option<u64>,
    dead: Option<Loss>,
}

/// The seeded network (see the module docs).
#[derive(Debug)]
pub struct Network {
    rng: ChaCha20Rng,
    config: NetConfig,
    links: BTreeMap<ConnId, Link>,
    partitions: Vec<(Instant, Instant)>,
    resets: VecDeque<u64>,
}

impl Network {
    /// A network drawing its jitter and cut points from `seed`.
    pub fn new(seed: u64, config: NetConfig) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0x004e_4554_574f_524b),
            config,
            links: BTreeMap::new(),
            partitions: Vec::new(),
            resets: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Nothing is delivered in `[from, until)`.
    pub fn partition(&mut self, from: Instant, until: Instant) {
        self.partitions.push((from, until));
    }

    /// Whether `at` falls inside a partition.
    pub fn partitioned(&self, at: Instant) -> bool {
        self.partitions
            .iter()
            .any(|(from, until)| *from <= at && at < *until)
    }

    /// Resets link `id` once it has carried `bytes` more bytes (both directions together).
    /// Returns `false` when there is no such live link.
    pub fn reset_after(&mut self, id: ConnId, bytes: u64) -> bool {
        match self.links.get_mut(&id) {
            Some(link) if link.dead.is_none() => {
                link.reset_after = Some(link.bytes.saturating_add(bytes));
                true
            }
            _ => false,
        }
    }

    /// The next link opened resets after `bytes` bytes.
    pub fn reset_next_after(&mut self, bytes: u64) {
        self.resets.push_back(bytes);
    }

    /// A connect on `id` at `now`: when the server sees it open (`None`: it hangs).
    pub fn open(&mut self, id: ConnId, now: Instant) -> Option<Instant> {
        if self.partitioned(now) {
            return None;
        }
        let at = now + self.delay();
        let reset_after = self.resets.pop_front();
        self.links.insert(
            id,
            Link {
                up_last: at,
                down_last: at,
                bytes: 0,
                reset_after,
                dead: None,
            },
        );
        Some(at)
    }

    /// When a close of `id` sent now reaches the other end, after everything sent before it
    /// (`None`: the link is dead — blackholed in a partition, or reset and both ends told).
    pub fn close(&mut self, id: ConnId, dir: Direction, now: Instant) -> Option<Instant> {
        let partitioned = self.partitioned(now);
        let at = now + self.delay();
        match self.links.remove(&id) {
            // A reset already told both ends; a blackholed link tells nobody.
            Some(link) if link.dead.is_some() || partitioned => None,
            Some(link) => Some(at.max(match dir {
                Direction::Up => link.up_last,
                Direction::Down => link.down_last,
            })),
            None => Some(at),
        }
    }

    /// Bytes written on `id` in direction `dir` at `now`.
    pub fn send(&mut self, id: ConnId, dir: Direction, bytes: &[u8], now: Instant) -> Sent {
        let partitioned = self.partitioned(now);
        let Some(link) = self.links.get_mut(&id) else {
            // A link the network never opened (a test's raw transport): as sent, at once.
            return Sent::Deliver(vec![(now, Bytes::copy_from_slice(bytes))]);
        };
        if let Some(loss) = link.dead {
            return Sent::Lost(loss);
        }
        if partitioned {
            link.dead = Some(Loss::Partition);
            return Sent::Lost(Loss::Partition);
        }
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if let Some(limit) = link.reset_after
            && link.bytes.saturating_add(len) > limit
        {
            let after = link.bytes;
            let last = link.up_last.max(link.down_last);
            // Keep a tombstone: whatever either end sends before it learns is lost too.
            link.dead = Some(Loss::Reset);
            let at = (now + self.delay()).max(last);
            return Sent::Reset { at, after };
        }
        link.bytes = link.bytes.saturating_add(len);
        let pieces = self.cut(bytes);
        let mut out = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let candidate = now + self.delay();
            let Some(link) = self.links.get_mut(&id) else {
                break;
            };
            let last = match dir {
                Direction::Up => &mut link.up_last,
                Direction::Down => &mut link.down_last,
            };
            *last = (*last).max(candidate);
            out.push((*last, piece));
        }
        Sent::Deliver(out)
    }

    fn delay(&mut self) -> Duration {
        let jitter = u64::try_from(self.config.jitter.as_micros()).unwrap_or(u64::MAX);
        let extra = if jitter == 0 {
            0
        } else {
            self.rng.next_u64() % (jitter + 1)
        };
        self.config.latency + Duration::from_micros(extra)
    }

    fn cut(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        let Some(max) = self.config.max_piece.filter(|m| *m > 0) else {
            return vec![Bytes::copy_from_slice(bytes)];
        };
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        let mut pieces = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = usize::try_from(1 + self.rng.next_u64() % max).unwrap_or(1);
            let (piece, after) = rest.split_at(take.min(rest.len()));
            pieces.push(Bytes::copy_from_slice(piece));
            rest = after;
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pieces(sent: Sent) -> Vec<(Instant, Bytes)> {
        match sent {
            Sent::Deliver(p) => p,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn pieces_keep_the_stream_and_its_order() {
        let config = NetConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
            max_piece: Some(7),
        };
        let mut net = Network::new(3, config);
        let t0 = Instant::now();
        let id = ConnId(1);
        let opened = net.open(id, t0).unwrap();
        assert!(opened >= t0 + Duration::from_millis(20));
        let data: Vec<u8> = (0..200u8).collect();
        let got = pieces(net.send(id, Direction::Down, &data, t0));
        assert!(got.len() >= 200 / 7);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        let joined: Vec<u8> = got.iter().flat_map(|(_, p)| p.to_vec()).collect();
        assert_eq!(joined, data);
    }

    #[test]
    fn resets_once_the_byte_budget_is_spent() {
        let mut net = Network::new(1, NetConfig::default());
        let t0 = Instant::now();
        let id = ConnId(4);
        net.open(id, t0).unwrap();
        assert!(net.reset_after(id, 10));
        pieces(net.send(id, Direction::Up, &[0; 6], t0));
        assert!(matches!(
            net.send(id, Direction::Down, &[0; 6], t0),
            Sent::Reset { after: 6, .. }
        ));
        assert!(!net.reset_after(id, 10), "the link is gone");
        assert_eq!(
            net.send(id, Direction::Up, b"late", t0),
            Sent::Lost(Loss::Reset),
            "bytes sent before an end learns of the reset are lost"
        );
        assert_eq!(
            net.close(id, Direction::Up, t0),
            None,
            "both ends were told"
        );
    }

    #[test]
    fn a_partition_blackholes_links_and_hangs_connects() {
        let mut net = Network::new(1, NetConfig::default());
        let t0 = Instant::now();
        let id = ConnId(1);
        net.open(id, t0).unwrap();
        net.partition(t0 + Duration::from_secs(5), t0 + Duration::from_secs(10));
        pieces(net.send(id, Direction::Up, b"ok", t0));
        let during = t0 + Duration::from_secs(6);
        assert_eq!(
            net.send(id, Direction::Up, b"x", during),
            Sent::Lost(Loss::Partition)
        );
        assert_eq!(net.open(ConnId(2), during), None);
        let after = t0 + Duration::from_secs(10);
        assert_eq!(
            net.send(id, Direction::Down, b"x", after),
            Sent::Lost(Loss::Partition)
        );
        assert!(net.open(ConnId(3), after).is_some());
    }
}
