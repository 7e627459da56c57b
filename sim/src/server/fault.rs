//! Scriptable server faults (`DESIGN.md` §7): what a [`FakeServer`](super::FakeServer) does
//! wrong on purpose, applied to the current connection at once
//! ([`FakeServer::inject`](super::FakeServer::inject)) or to the next connection at its verdict
//! ([`FakeServer::fault_next`](super::FakeServer::fault_next)), where it replaces the
//! `<success>` / `<failure>` / `<pair-device>` the server would have sent.
//!
//! Connect-level faults (refuse or hang the next N connects) are not connection faults: the
//! transport never reaches the server. The test harness asks
//! [`FakeServer::connect_outcome`](super::FakeServer::connect_outcome) when it opens a
//! transport.

use std::time::Duration;

use tether_core::binary::Node;

/// One fault on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `<stream:error code="N"/>`, then close (515 restart, 503, 429, 401, 516, …).
    StreamError(u16),
    /// `<stream:error><conflict type="replaced"/></stream:error>`, then close (440).
    Replaced,
    /// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`, then close.
    DeviceRemoved,
    /// `<failure reason="N" [expire="S"]/>`, then close (401, 402 with `expire`, 403, 405, 500…).
    Failure {
        /// The `reason` attribute.
        reason: u16,
        /// The `expire` attribute (ban seconds), for 402.
        expire: Option<u64>,
    },
    /// Half-open: keep accepting bytes, answer nothing, never close.
    Silent,
    /// Close the transport without a word.
    AbruptClose,
    /// Stop (`true`) or resume (`false`) answering client pings (`xmlns="w:p"`); everything
    /// else is still answered. Not a verdict fault.
    IgnorePings(bool),
    /// Shift the server time `t` this connection reports (seconds; not a verdict fault: the
    /// normal verdict follows).
    Skew(i64),
    /// `<stream:error/>` without a code, then close (the core's `StreamError`, `[500]`).
    CodelessStreamError,
    /// An ack-shaped `<stream:error><ack …/></stream:error>`, then close.
    AckShaped,
    /// One frame that decrypts but holds no valid binary node; the server then waits.
    Malformed,
    /// One frame header announcing this many bytes (beyond the client's frame limit), and
    /// nothing more.
    Oversized(u32),
    /// Hold every byte written on the connection for this long, then send them all (a stall;
    /// applied to the next connection, a delayed handshake). Not a verdict fault.
    Stall(Duration),
    /// Send a server ping (`urn:xmpp:ping`) now; the client must answer it. Not a verdict fault.
    Ping,
    /// Send a `<notification>` now; the client must ack it. Not a verdict fault.
    Notification,
}

impl Fault {
    /// Whether this fault takes the place of the connection's verdict.
    pub(crate) fn replaces_verdict(&self) -> bool {
        !matches!(
            self,
            Self::Skew(_) | Self::IgnorePings(_) | Self::Stall(_) | Self::Ping | Self::Notification
        )
    }

    /// The stanza sent before closing, if any.
    pub(crate) fn stanza(&self) -> Option<Node> {
        match self {
            Self::StreamError(code) => {
                Some(Node::new("stream:error").attr("code", code.to_string()))
            }
            Self::Replaced => Some(
                Node::new("stream:error")
                    .children(vec![Node::new("conflict").attr("type", "replaced")]),
            ),
            Self::DeviceRemoved => Some(
                Node::new("stream:error")
                    .attr("code", "401")
                    .children(vec![Node::new("conflict").attr("type", "device_removed")]),
            ),
            Self::Failure { reason, expire } => {
                let mut node = Node::new("failure")
                    .attr("reason", reason.to_string())
                    .attr("location", "sim");
                if let Some(expire) = expire {
                    node = node.attr("expire", expire.to_string());
                }
                Some(node)
            }
            Self::CodelessStreamError => Some(Node::new("stream:error")),
            Self::AckShaped => Some(Node::new("stream:error").children(vec![
                Node::new("ack").attr("id", "sim-ack").attr("class", "message"),
            ])),
            Self::Silent
            | Self::AbruptClose
            | Self::Skew(_)
            | Self::IgnorePings(_)
            | Self::Malformed
            | Self::Oversized(_)
            | Self::Stall(_)
            | Self::Ping
            | Self::Notification => None,
        }
    }
}

/// What happens to a transport the harness opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectOutcome {
    /// The connection reaches the server.
    Accept,
    /// Refused at once (the adapter reports `Failed`).
    Refuse,
    /// Never answers (the core's connect timeout must fire).
    Hang,
}
