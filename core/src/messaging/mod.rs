//! End-to-end encrypted messaging (`DESIGN.md` §10, `messaging.md`): the WhatsApp side of it,
//! composed into the connection as small sans-IO sub-machines. The Signal protocol itself is
//! `tether-signal`.
//!
//! Building blocks, each testable alone:
//!
//! - [`address`]: canonical Signal addresses (LID when known) and their store keys.
//! - [`ids`]: message ids.
//! - [`padding`]: the plaintext padding of `<enc v="2">`.
//! - [`phash`]: the participant hash of group stanzas, device lists and acks.
//!
//! For applications:
//!
//! - [`recipient`]: phone numbers, user JIDs and LIDs as people write them → the [`Jid`] to
//!   send to, with typed errors.
//! - [`compose`]: text, replies (quotes), mentions and reactions as the official clients
//!   shape them.
//! - [`chatstate`]: typing indicators.
//!
//! [`Jid`]: crate::binary::Jid

pub mod address;
pub(crate) mod bundle;
pub mod chatstate;
pub mod compose;
pub(crate) mod ctx;
pub(crate) mod devices;
pub(crate) mod engine;
pub mod ids;
pub(crate) mod inbox;
pub(crate) mod outbox;
pub(crate) mod outcome;
pub mod padding;
pub mod phash;
pub(crate) mod prekeys;
pub mod recipient;
pub mod record_keys;
pub(crate) mod retry_answer;
pub(crate) mod rows;
pub(crate) mod sessions;
pub mod stanza;
pub(crate) mod store;
pub mod types;
pub use engine::MessagingConfig;
pub use inbox::{InboxConfig, ReceiptMode};
pub use outbox::{DmAddressing, OutboxConfig};
pub(crate) mod group_send;
pub mod groups;
pub mod retention;
#[cfg(test)]
mod tests;
pub use retention::RetentionConfig;
