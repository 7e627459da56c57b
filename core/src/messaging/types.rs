//! What the messaging layer tells the application, and what it is told.
//!
//! Message content is private: `Debug` shows ids, addresses, times and sizes, never text.

use std::fmt;

use bytes::Bytes;
use prost::Message as _;
use thiserror::Error;

use super::ids::MessageId;
use crate::binary::Jid;
use crate::proto::message::Message;

/// A position in the durable inbox: increases by one per stored message, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct InboxPos(pub u64);

impl fmt::Display for InboxPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A received message, from the durable inbox. Delivered at least once; exactly once if the
/// application confirms it (`Command::Confirm`).
#[derive(Clone, PartialEq)]
pub struct IncomingMessage {
    /// Its inbox position (what the application confirms).
    pub inbox: InboxPos,
    /// The message id (the stanza's `id`).
    pub id: MessageId,
    /// The chat: the other user (1:1) or the group.
    pub chat: Jid,
    /// The sending device, as the stanza named it.
    pub sender: Jid,
    /// The sender's other address (phone number ↔ LID), when known.
    pub sender_alt: Option<Jid>,
    /// Sent by one of this account's own devices (a copy of what it sent elsewhere).
    pub from_me: bool,
    /// The server's timestamp (Unix seconds).
    pub timestamp: u64,
    /// The sender's push name, when the server sent one.
    pub push_name: Option<String>,
    /// Delivered from the offline backlog.
    pub offline: bool,
    /// The `<message type>` (`text`, `media`, `reaction`, …).
    pub message_type: String,
    /// The decoded content.
    pub message: Message,
    /// The content's protobuf bytes, for fields Tether does not model.
    pub raw: Bytes,
    /// Emitted by a `Command::ReplayInbox` read (a consumer catching up), not as a new
    /// message: received live, or replayed at start because it was not confirmed, it is
    /// `false`.
    pub replayed: bool,
}

impl IncomingMessage {
    /// The text (`conversation` or extended text), if it is a text message.
    pub fn text(&self) -> Option<&str> {
        self.message.text_content()
    }

    /// The quoted message, if this replies to one.
    pub fn quoted(&self) -> Option<Quote> {
        let ctx = self.message.context_info()?;
        Some(Quote {
            id: MessageId(ctx.stanza_id.clone()?),
            participant: ctx.participant.as_deref().and_then(|p| p.parse().ok()),
            text: ctx
                .quoted_message
                .as_deref()
                .and_then(Message::text_content)
                .map(str::to_owned),
        })
    }

    /// The users this message mentions.
    pub fn mentions(&self) -> Vec<Jid> {
        self.message
            .context_info()
            .map(|c| {
                c.mentioned_jid
                    .iter()
                    .filter_map(|j| j.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The reaction, if this is one: (the message reacted to, the emoji; empty removes it).
    pub fn reaction(&self) -> Option<(MessageId, String)> {
        let r = self.message.unwrapped().reaction_message.as_ref()?;
        let id = r.key.as_ref()?.id.clone()?;
        Some((MessageId(id), r.text.clone().unwrap_or_default()))
    }

    /// Rebuilds the decoded content from `raw` (rows keep only the bytes).
    pub(crate) fn decode_content(raw: &Bytes) -> Message {
        Message::decode(raw.as_ref()).unwrap_or_default()
    }
}

impl fmt::Debug for IncomingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingMessage")
            .field("inbox", &self.inbox)
            .field("id", &self.id)
            .field("chat", &self.chat)
            .field("sender", &self.sender)
            .field("from_me", &self.from_me)
            .field("timestamp", &self.timestamp)
            .field("offline", &self.offline)
            .field("message_type", &self.message_type)
            .field("content_len", &self.raw.len())
            .field("replayed", &self.replayed)
            .finish_non_exhaustive()
    }
}

/// A reply's reference to the message it quotes.
#[derive(Clone, PartialEq, Eq)]
pub struct Quote {
    /// The quoted message's id.
    pub id: MessageId,
    /// Who sent it (groups, and replies to own messages).
    pub participant: Option<Jid>,
    /// Its text, when it was a text message.
    pub text: Option<String>,
}

impl fmt::Debug for Quote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quote")
            .field("id", &self.id)
            .field("participant", &self.participant)
            .finish_non_exhaustive()
    }
}

/// A message that could not be decrypted, after the retry-receipt path ran its course.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecryptable {
    /// Its inbox position (confirm it like a message).
    pub inbox: InboxPos,
    /// The message id.
    pub id: MessageId,
    /// The chat.
    pub chat: Jid,
    /// The sending device.
    pub sender: Jid,
    /// The server's timestamp.
    pub timestamp: u64,
    /// Why it failed.
    pub reason: String,
    /// Retry receipts sent for it.
    pub retry_count: u32,
    /// Emitted by a `Command::ReplayInbox` read (see [`IncomingMessage::replayed`]).
    pub replayed: bool,
}

/// What a receipt says about messages this account sent (or, for `ReadSelf` and friends, about
/// what another own device did).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptKind {
    /// Delivered to the device (two grey ticks).
    Delivered,
    /// Delivered while the device was not marked online (`inactive`).
    DeliveredInactive,
    /// Read (blue ticks).
    Read,
    /// Read by one of this account's own devices, with read receipts off.
    ReadSelf,
    /// A voice note was played.
    Played,
    /// Played by one of this account's own devices.
    PlayedSelf,
    /// Delivered to another device of this account (`sender`).
    Sender,
    /// A peer message was delivered (`peer_msg`).
    PeerMessage,
    /// Another type, kept as received.
    Other(String),
}

impl ReceiptKind {
    /// The kind for a `<receipt type>` (absent: delivered).
    pub fn from_type(kind: Option<&str>) -> Self {
        match kind {
            None | Some("") => Self::Delivered,
            Some("inactive") => Self::DeliveredInactive,
            Some("read") => Self::Read,
            Some("read-self") => Self::ReadSelf,
            Some("played") => Self::Played,
            Some("played-self") => Self::PlayedSelf,
            Some("sender") => Self::Sender,
            Some("peer_msg") => Self::PeerMessage,
            Some(other) => Self::Other(other.to_owned()),
        }
    }

    /// A short stable name (`delivered`, `read`, …).
    pub fn name(&self) -> &str {
        match self {
            Self::Delivered => "delivered",
            Self::DeliveredInactive => "delivered_inactive",
            Self::Read => "read",
            Self::ReadSelf => "read_self",
            Self::Played => "played",
            Self::PlayedSelf => "played_self",
            Self::Sender => "sender",
            Self::PeerMessage => "peer_msg",
            Self::Other(s) => s,
        }
    }
}

/// A receipt for messages this account sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// What happened.
    pub kind: ReceiptKind,
    /// The messages it covers.
    pub ids: Vec<MessageId>,
    /// The chat.
    pub chat: Jid,
    /// The device that received or read the messages (in a group: the member's device, the
    /// same as `participant`).
    pub from: Jid,
    /// In a group, the member device the receipt is about.
    pub participant: Option<Jid>,
    /// The server's timestamp (Unix seconds), when present.
    pub timestamp: Option<u64>,
}

/// Why sending a message failed. Each says what happened and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// The server refused the message (`<ack error=…>`).
    #[error("the server refused the message with error {code} ({meaning})")]
    Nack {
        /// The server's code.
        code: u16,
        /// What the code means, as far as known.
        meaning: &'static str,
    },
    /// No ack came within the limit, over every attempt.
    #[error(
        "the server did not acknowledge the message after {attempts} attempts; check the \
         connection and send it again"
    )]
    Timeout {
        /// How many times it went on the wire.
        attempts: u32,
    },
    /// The recipient has no device to send to (not on WhatsApp, or every bundle was refused).
    #[error("{0} has no device that can receive messages: is the number on WhatsApp?")]
    NoDevices(String),
    /// The recipient address cannot receive messages.
    #[error("{0} is not a user or group JID this client can send to")]
    InvalidRecipient(String),
    /// The message could not be encoded.
    #[error("the message could not be built: {0}")]
    Invalid(String),
    /// One recipient device could not decrypt the message and resending did not help (the
    /// server accepted it; the other devices got it).
    #[error("device {device} did not get the message: {reason}")]
    DeviceUnreachable {
        /// The device.
        device: String,
        /// What happened.
        reason: String,
    },
    /// The connection was logged out or stopped for good before the message was sent.
    #[error("the message was not sent: the connection stopped ({0})")]
    Stopped(String),
}

impl SendError {
    /// The meaning of a message nack code (`messaging.md` §5.6, §6.4).
    pub fn nack(code: u16) -> Self {
        let meaning = match code {
            400 => "bad request: LID addressing not accepted for this account, or mixed namespaces",
            421 => "stale group addressing mode",
            463 => "reach-out time-locked: this account may not start new chats now",
            475 => "new-chat messages capped",
            479 => "stanza rejected: stale device list or malformed addressing",
            _ => "unknown code",
        };
        Self::Nack { code, meaning }
    }
}
