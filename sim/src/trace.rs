//! What a [`Stepper`](crate::Stepper) run did, in order: every output of the connection, every
//! stanza the server received, every harness decision. Tests query it; a failed invariant
//! prints its tail.

use std::fmt;
use std::time::Duration;

use tether_core::binary::Node;
use tether_core::connection::{Action, Event, TransportId};
use tether_core::creds::{PersistSeq, StoreResult};

use crate::server::ConnId;

/// One traced happening.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Traced {
    /// The connection emitted an action.
    Action(Action),
    /// The connection emitted an event.
    Event(Event),
    /// The connection sent bytes on a transport.
    Transmit {
        /// Which transport.
        transport: TransportId,
        /// How many bytes.
        len: usize,
    },
    /// The harness refused a connect.
    Refused(TransportId),
    /// The harness left a connect hanging.
    Hung(TransportId),
    /// The server accepted a connection.
    ServerOpened(ConnId),
    /// The server received a stanza.
    ServerReceived(ConnId, Node),
    /// The server closed a connection.
    ServerClosed(ConnId),
    /// The store answered.
    Store(StoreResult),
    /// The store applied a write durably (before the answer reached the core).
    Durable(PersistSeq),
    /// The phone scanned a QR code (`Err` text when it linked nothing).
    Scanned(Result<ConnId, String>),
    /// The user typed a pair code on the phone (`Err` text when it went nowhere).
    CodeEntered(Result<ConnId, String>),
    /// The harness answered a version fetch.
    VersionAnswered,
    /// A planned reset fired: the link closed after carrying `after` bytes (both sides see
    /// "connection reset by peer").
    LinkReset {
        /// Which server-side connection the link carried.
        conn: ConnId,
        /// The byte budget the reset spent.
        after: u64,
    },
    /// The network did something else to a link (loss in a partition, a connect lost in one).
    Net(String),
    /// A local device reported something.
    Device(crate::device::DeviceEvent),
    /// The client process crashed; a new `Connection` was built from the store alone.
    Crashed {
        /// The process epoch that starts now (transport ids restart at 1).
        epoch: u64,
        /// Whether the store held credentials to start from.
        from_store: bool,
    },
}

/// A traced happening and when (since the run began).
#[derive(Debug, Clone)]
pub struct Record {
    /// Virtual time since the run began.
    pub at: Duration,
    /// What happened.
    pub what: Traced,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.at.as_millis();
        match &self.what {
            Traced::ServerReceived(id, node) => write!(f, "{ms:>9}ms server<-{id}: {node}"),
            other => write!(f, "{ms:>9}ms {other:?}"),
        }
    }
}
