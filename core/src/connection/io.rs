//! The values that cross the sans-IO boundary: what goes into a [`Connection`](super::Connection)
//! (`TransportEvent`, `Command`, `StoreResult`, version answers) and what comes out
//! (`Transmit`, `Action`, `Event`, `Output`).

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use thiserror::Error;

use crate::binary::{Jid, Node};
use crate::creds::{CredentialsDelta, LoadId, PersistSeq};
use crate::messaging::groups::{GroupChange, GroupInfo};
use crate::messaging::ids::MessageId;
use crate::messaging::types::{InboxPos, IncomingMessage, Receipt, SendError, Undecryptable};
use crate::proto::message::Message;
use crate::reason::DisconnectReason;
use crate::records::RecordRead;

/// Identifies one transport attempt. Every attempt gets a fresh id; input carrying an old id is
/// ignored, so a late `Closed` from attempt 3 can never end attempt 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransportId(pub u64);

impl fmt::Display for TransportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transport#{}", self.0)
    }
}

/// What happened to a transport, reported by the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportEvent {
    /// The WebSocket is open (TLS and upgrade done).
    Opened,
    /// The peer closed the WebSocket (or the TCP stream ended).
    Closed {
        /// Close code and reason as the adapter saw them, for diagnostics.
        detail: String,
    },
    /// Connecting or an I/O operation failed.
    Failed {
        /// Which step failed and how (DNS, refused, proxy, TLS, upgrade status, I/O).
        failure: crate::reason::TransportFailure,
    },
}

/// One WebSocket binary message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// The transport to send it on.
    pub transport: TransportId,
    /// The bytes (already framed and encrypted).
    pub payload: Bytes,
}

/// Work the adapter must do and answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// Open a WebSocket to `endpoint`; answer with `handle_transport(id, Opened | Failed)`.
    OpenTransport {
        /// The id to report back with.
        id: TransportId,
        /// The WebSocket URL.
        endpoint: String,
    },
    /// Close this WebSocket. It counts as closed from this moment on.
    CloseTransport {
        /// The transport to close.
        id: TransportId,
    },
    /// Apply this change durably, in one transaction; answer with `handle_store`.
    PersistCredentials {
        /// Strictly increasing sequence number.
        seq: PersistSeq,
        /// The change.
        delta: CredentialsDelta,
    },
    /// Read these records ([`crate::records`]); answer with
    /// `handle_store(StoreResult::Loaded{id, ..})` (or `LoadFailed`). Executed in order with
    /// the persists: it sees every persist emitted before it.
    LoadRecords {
        /// The id to answer with.
        id: LoadId,
        /// What to read.
        reads: Vec<RecordRead>,
    },
    /// Move the current identity aside (never delete it); answer with `handle_store`.
    QuarantineCredentials {
        /// Sequence number of this store operation.
        seq: PersistSeq,
        /// Why, recorded with the quarantined identity.
        reason: String,
    },
    /// Fetch the current web client version from `url`; answer with `handle_version`.
    FetchVersion {
        /// Where to fetch it.
        url: String,
    },
}

/// Something the application should know.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A QR code to show; the phone scans it to link this device.
    QrCode {
        /// The string to render as a QR code.
        code: String,
        /// When this code stops being valid.
        expires_at: Instant,
    },
    /// A pair code to type on the phone (Linked devices → Link with phone number).
    PairingCode {
        /// The 8-character code.
        code: String,
    },
    /// Linking succeeded; the identity is durable. A restart (515) and login follow.
    Paired {
        /// Own JID on the account.
        jid: Jid,
    },
    /// Logged in and ready.
    Connected {
        /// Own JID.
        jid: Jid,
    },
    /// The transport ended.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// When the next attempt happens; `None` if there is none.
        reconnect_at: Option<Instant>,
        /// The retry this reconnect will be (1-based; 0 for an immediate uncounted restart).
        attempt: u32,
        /// The retry budget, `None` when unlimited.
        max_attempts: Option<u32>,
    },
    /// Terminal: nothing more happens until the application acts.
    Stopped {
        /// Why.
        reason: DisconnectReason,
    },
    /// A keepalive ping went unanswered (the connection may still recover).
    KeepAliveTimeout {
        /// Consecutive unanswered pings.
        failures: u32,
    },
    /// A ping was answered after earlier ones were not.
    KeepAliveRestored,
    /// The local clock disagrees with the server's by more than the threshold.
    ClockSkew {
        /// Server time minus local time (positive: the local clock is behind).
        offset_secs: i64,
    },
    /// A stanza the core does not handle itself (notifications, presence, calls, …), already
    /// acked where the server expects an ack.
    Stanza(Node),
    /// A received message, from the durable inbox: emitted at least once (again after a
    /// restart until the application confirms it with `Command::Confirm`).
    Message(Box<IncomingMessage>),
    /// A received message that could not be decrypted, after the retry receipts ran out
    /// (also from the inbox; confirm it like a message).
    Undecryptable(Box<Undecryptable>),
    /// A receipt for messages this account sent (delivered, read, played…).
    Receipt(Box<Receipt>),
    /// A `Command::ReplayInbox` read emitted its last entry.
    InboxReplayed {
        /// Where the read started.
        from: InboxPos,
        /// The position after the last entry emitted: newer entries arrive as live events.
        next: InboxPos,
    },
    /// The server accepted an outgoing message.
    Sent {
        /// The message id `send_message` returned.
        id: MessageId,
        /// The chat it went to (as the application addressed it).
        to: Jid,
        /// The server's timestamp of the message (Unix seconds).
        t: u64,
    },
    /// An outgoing message could not be sent.
    SendFailed {
        /// The message id.
        id: MessageId,
        /// Why.
        reason: SendError,
    },
    /// A contact's identity key changed (a reinstall, a new phone); their sessions were
    /// replaced.
    IdentityChanged {
        /// The contact (user JID).
        user: Jid,
    },
    /// A group's metadata, answering `Command::QueryGroup`.
    GroupInfo(Box<GroupInfo>),
    /// The groups this account is in, answering `Command::ListGroups`.
    Groups(Vec<GroupInfo>),
    /// A group query failed (not found, not a member, refused).
    GroupQueryFailed {
        /// The group; the `g.us` server JID (no user) when the list of groups failed.
        group: Jid,
        /// Why.
        reason: String,
    },
    /// The media upload token and hosts, answering `Command::MediaConn`.
    MediaConn(Box<crate::media::MediaConn>),
    /// `Command::MediaConn` could not be answered (refused, malformed, connection lost).
    MediaConnFailed {
        /// Why.
        reason: crate::media::MediaConnError,
    },
    /// A group changed (a `w:gp2` notification): members added, removed, promoted…
    GroupChanged {
        /// The group.
        group: Jid,
        /// Who made the change, when the server said.
        actor: Option<Jid>,
        /// What changed.
        change: GroupChange,
    },
}

/// Commands from the application.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Command {
    /// Start connecting (from `Idle`, or again after `Stopped`).
    Connect,
    /// Link with a pair code for `phone` (digits with country code) instead of the QR.
    RequestPairingCode {
        /// The phone number, digits only (a leading `+` and spaces are accepted).
        phone: String,
    },
    /// Send a raw stanza on the current connection.
    SendNode(Node),
    /// Send an end-to-end encrypted message (see `Connection::send_message`, which also
    /// returns its id). `id`: use this id instead of generating one.
    Send {
        /// The recipient: a user JID (phone number or LID).
        to: Jid,
        /// The content.
        message: Box<Message>,
    },
    /// The application has the messages at these inbox positions: do not emit them again.
    Confirm {
        /// Inbox positions (from `IncomingMessage::inbox` / `Undecryptable::inbox`).
        positions: Vec<InboxPos>,
    },
    /// Emit every inbox entry from this position on again, confirmed or not, in order (for a
    /// consumer that remembers the last position it processed).
    ReplayInbox {
        /// The first position to emit.
        from: InboxPos,
    },
    /// Mark messages read: a read receipt to the chat (`participant` in groups).
    MarkRead {
        /// The chat (user or group JID).
        chat: Jid,
        /// The sender in a group.
        participant: Option<Jid>,
        /// The message ids.
        ids: Vec<MessageId>,
    },
    /// Ask for a group's metadata (answer: `Event::GroupInfo` or `Event::GroupQueryFailed`).
    QueryGroup {
        /// The group JID.
        group: Jid,
    },
    /// Ask for the groups this account is in (answer: `Event::Groups`).
    ListGroups,
    /// Set the presence: `available` makes delivery receipts active.
    Presence {
        /// `true`: available; `false`: unavailable.
        available: bool,
    },
    /// Tell a chat that this account is typing, recording or has stopped (`<chatstate>`).
    ChatState {
        /// The chat (a user or group JID).
        to: Jid,
        /// What the user is doing.
        state: crate::messaging::chatstate::ChatState,
    },
    /// Get the media upload token and hosts (answer: `Event::MediaConn` or
    /// `Event::MediaConnFailed`): from the cache while it is good unless `refresh` (a host
    /// refused the token), else from the server (needs a logged-in connection).
    MediaConn {
        /// Ask the server even if a cached answer is still good.
        refresh: bool,
    },
    /// Tell the server to remove this companion, then quarantine the credentials.
    Logout,
    /// Close the connection and stop (`LocalShutdown`).
    Shutdown,
}

/// Misuse of the API (never caused by the peer).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command does not apply in the current state.
    #[error("{command} is not possible while {state}")]
    InvalidState {
        /// The command.
        command: &'static str,
        /// The state it was given in.
        state: &'static str,
    },
    /// The phone number is not 6–15 digits.
    #[error("{0:?} is not a phone number: give 6 to 15 digits with the country code")]
    InvalidPhone(String),
    /// The recipient is not an address messages can be sent to.
    #[error(
        "{0} is not a user this client can send messages to: give a phone number, a user JID or a LID"
    )]
    InvalidRecipient(String),
    /// Messaging needs a linked device.
    #[error("this device is not linked yet: link it (scan the QR code) before sending messages")]
    NotLinked,
}

/// Why a version fetch failed (reported by the adapter).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("version fetch failed: {0}")]
pub struct VersionError(pub String);

/// One output of [`Connection::poll_output`](super::Connection::poll_output), in drain order.
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Do this and report back.
    Action(Action),
    /// Tell the application.
    Event(Event),
    /// Nothing else to do: call `handle_timeout` at this instant (or never, if `None`).
    Timeout(Option<Instant>),
}

/// A connection's lifecycle state (`DESIGN.md` §4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Created; waiting for `Command::Connect`.
    Idle,
    /// Waiting for the transport to open.
    Connecting,
    /// Noise handshake in progress.
    Handshaking,
    /// Handshake done; waiting for `<success>`, `<failure>` or `pair-device`.
    Authenticating,
    /// Linking a new companion (QR or pair code).
    Pairing,
    /// Logged in.
    Connected,
    /// Waiting to reconnect at the given instant.
    WaitingToReconnect {
        /// When the next attempt starts.
        at: Instant,
    },
    /// Terminal.
    Stopped(DisconnectReason),
}

impl State {
    /// A short name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Handshaking => "handshaking",
            Self::Authenticating => "authenticating",
            Self::Pairing => "pairing",
            Self::Connected => "connected",
            Self::WaitingToReconnect { .. } => "waiting to reconnect",
            Self::Stopped(_) => "stopped",
        }
    }
}

/// Converts a server `t` (Unix seconds) and the local `unix_now` into a signed offset.
pub(crate) fn clock_offset(server_t: u64, unix_now: u64) -> i64 {
    i64::try_from(server_t)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(unix_now).unwrap_or(i64::MAX))
}
