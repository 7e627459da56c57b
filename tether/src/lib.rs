//! # tether
//!
//! One dependency for applications: the sans-IO core ([`core`], i.e. `tether_core`), the
//! runtime adapter chosen by cargo feature as `tether::runtime`, the redb credential store
//! ([`RedbStore`]) and the messaging types an application handles.
//!
//! | feature | gives | runs on |
//! |---|---|---|
//! | `runtime-tokio` (default) | `tether::runtime` = `tether::tokio` = `tether_runtime_tokio` | tokio |
//! | `runtime-smol` | `tether::smol` = `tether_runtime_smol` (and `tether::runtime` without tokio) | smol, async-std's executor, any futures-io executor |
//! | `store-redb` (default) | [`RedbStore`] | — |
//! | `thumbnails` (default) | JPEG thumbnails of sent images (the `image` crate) | — |
//!
//! With both runtimes enabled, `runtime` is tokio and the smol adapter stays reachable as
//! `tether::smol`. With neither, the build fails and names the flag to add.
//!
//! ## An echo bot
//!
//! ```no_run
//! use tether::{Config, Event, Options, RedbStore};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let store = RedbStore::open("echo-bot.redb")?;
//!     let config = tether::config_from_env()?.unwrap_or_default();
//!     let (client, mut events) = tether::tokio::start(config, store, Options::default()).await?;
//!     client.connect()?;
//!     while let Some(event) = events.next().await {
//!         match event {
//!             Event::QrCode { code, .. } => println!("scan this with WhatsApp: {code}"),
//!             Event::Message(msg) => {
//!                 if let (false, Some(text)) = (msg.from_me, msg.text()) {
//!                     client.reply(&msg, text)?; // answered later by Event::Sent
//!                 }
//!                 client.confirm(&[msg.inbox])?; // handled: not delivered again
//!             }
//!             Event::Stopped { reason } => return Err(reason.to_string().into()),
//!             _ => {}
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! `examples/echo_tokio.rs` and `examples/echo_smol.rs` are this bot on each runtime; run
//! them against Tether's simulator with `tether sim` and the `TETHER_SERVER` /
//! `TETHER_TRUST_ROOT` it prints ([`config_from_env`]).
//!
//! ## Messages
//!
//! Every received message is an [`Event::Message`] with an [`IncomingMessage`] (text, quote,
//! mentions, reaction, sender, chat, …) from the durable inbox: delivered at least once, and
//! again after a restart until the application confirms its [`InboxPos`] with
//! `client.confirm`. Sends return a [`PendingSend`](runtime::PendingSend) at once (the
//! message id); awaiting it waits for the server's acknowledgement ([`Sent`]) or a typed
//! [`MessagingError`]. `client.reply`, `client.react`, `client.mark_read`, `client.typing`
//! and `client.set_presence` cover the rest; [`Text`] builds replies with quotes and
//! mentions.
//!
//! ## Locations and contact cards
//!
//! `client.send_location(to, latitude, longitude, name, address)` sends a pin (decimal
//! degrees; the place's name and address shown under the map when given) and
//! `client.send_contact(to, display_name, vcard)` a contact card (vCard text, shown as
//! `display_name` or, when that is `None`, as the vCard's `FN`). A `.vcf` file's text holding
//! several cards sends them all in one message, each under its own `FN`. Both check what they
//! are given first ([`SendCardError::Card`]: nothing queued) and then send like `send_text`.
//! Received ones are read with [`Location::of`] and [`ContactCard::of`] (every card of a list
//! in [`ContactCard::cards`]):
//!
//! ```no_run
//! # async fn demo(client: tether::tokio::Client, msg: tether::IncomingMessage)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use tether::{ContactCard, Location};
//!
//! client
//!     .send_location(&msg.chat, 52.520008, 13.404954, Some("Brandenburg Gate"), None)?
//!     .await?;
//! let vcard = std::fs::read_to_string("ada.vcf")?;
//! client.send_contact(&msg.chat, None, &vcard)?.await?;
//! if let Some(place) = Location::of(&msg.message) {
//!     println!("at {}, {} ({:?})", place.latitude, place.longitude, place.name);
//! }
//! if let Some(card) = ContactCard::of(&msg.message) {
//!     for shared in &card.cards {
//!         println!("a card for {:?}", shared.display_name);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Groups
//!
//! Sending to a group is sending to its JID (`…@g.us`): `client.send_text(group, text)`. A
//! group message arrives like any other, with [`IncomingMessage::chat`] the group and
//! [`IncomingMessage::sender`] the member who wrote it. `client.group_info(group)?.await`
//! gives a group's [`GroupInfo`] (subject, members and their roles),
//! `client.joined_groups()?.await` every group the account is in; membership changes arrive
//! as [`Event::GroupChanged`].
#![forbid(unsafe_code)]

#[cfg(not(any(feature = "runtime-tokio", feature = "runtime-smol")))]
compile_error!(
    "tether needs a runtime: enable the `runtime-tokio` feature (the default) or \
     `runtime-smol` (e.g. `tether = { default-features = false, features = [\"runtime-smol\"] }`)"
);

pub use tether_core as core;

/// The selected runtime adapter (tokio when `runtime-tokio` is on).
#[cfg(feature = "runtime-tokio")]
pub use tether_runtime_tokio as runtime;

/// The selected runtime adapter (smol, when `runtime-tokio` is off).
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
pub use tether_runtime_smol as runtime;

/// The tokio adapter, whenever its feature is on.
#[cfg(feature = "runtime-tokio")]
pub use tether_runtime_tokio as tokio;

/// The smol adapter, whenever its feature is on.
#[cfg(feature = "runtime-smol")]
pub use tether_runtime_smol as smol;

/// Where a sent media file comes from: a path, bytes or a reader (`runtime::media_reader`).
pub use runtime::{MediaSource, SendMediaError, media_reader};

/// The credential store on redb: atomic, single owner, crash-safe.
#[cfg(feature = "store-redb")]
pub use tether_store_redb::{RedbStore, RedbStoreError};

pub use tether_core::binary::Jid;
pub use tether_core::connection::{Command, CommandError, Config, Event, State};
pub use tether_core::creds::{CredentialStore, StoreError};
pub use tether_core::driver::{ClientError, MessagingError, Options, Sent, StartError};
pub use tether_core::media::cards::{
    CardError, ContactCard, Location, SendCardError, SharedContact,
};
pub use tether_core::media::{MediaError, MediaKind, MediaOptions};
pub use tether_core::messaging::chatstate::ChatState;
pub use tether_core::messaging::compose::{Quoted, ReactionTarget, Text, reaction};
pub use tether_core::messaging::groups::{GroupChange, GroupInfo, GroupParticipant};
pub use tether_core::messaging::ids::MessageId;
pub use tether_core::messaging::recipient::{IntoRecipient, RecipientError, parse_recipient};
pub use tether_core::messaging::types::{
    InboxPos, IncomingMessage, Quote, Receipt, ReceiptKind, SendError, Undecryptable,
};
pub use tether_core::proto::message::Message;
pub use tether_core::proxy::ProxySetting;
pub use tether_core::reason::DisconnectReason;

/// The README's Rust code compiled as doctests, so its echo bot keeps building against this
/// API (`cargo test -p tether --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Why [`config_from_env`] refused the environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvConfigError {
    /// Only one of the two variables is set.
    #[error(
        "TETHER_SERVER and TETHER_TRUST_ROOT go together (`tether sim` prints both); set both, \
         or neither to connect to WhatsApp"
    )]
    Incomplete,
    /// `TETHER_TRUST_ROOT` is not 64 hex digits.
    #[error("TETHER_TRUST_ROOT must be 64 hex digits (the root key `tether sim` prints)")]
    BadRoot,
}

/// The server to connect to from the environment, for examples and tests against
/// `tether sim`: `TETHER_SERVER` (its WebSocket URL) and `TETHER_TRUST_ROOT` (its root key, 64
/// hex digits). `Ok(None)` when neither is set: use [`Config::default`] (WhatsApp).
pub fn config_from_env() -> Result<Option<Config>, EnvConfigError> {
    let server = std::env::var("TETHER_SERVER").ok();
    let root = std::env::var("TETHER_TRUST_ROOT").ok();
    match (server, root) {
        (None, None) => Ok(None),
        (Some(server), Some(root)) => {
            let mut key = [0; 32];
            hex::decode_to_slice(root.trim(), &mut key).map_err(|_| EnvConfigError::BadRoot)?;
            Ok(Some(Config::for_server(server, key)))
        }
        _ => Err(EnvConfigError::Incomplete),
    }
}
