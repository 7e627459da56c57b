//! # tether-control
//!
//! The control socket of a running Tether instance, as a library: the line-delimited JSON
//! protocol that lets an application in any language (Node, Python, a shell script with
//! `socat`) use a linked WhatsApp account without bindings — subscribe to events from an inbox
//! position, send, reply, react, mark read, show typing, set presence, confirm, status — plus
//! the operator requests `tether status`, `backup` and `stop` use. `docs/CONTROL.md` documents
//! the protocol; `examples/control-bot.mjs` is a complete Node bot.
//!
//! ```text
//!  app (any language) ──JSON lines──▶ <store>.sock ──▶ ControlServer ──▶ Backend (the connection)
//!                     ◀──answers, events────────────── Hub ◀── publish(every Event)
//! ```
//!
//! - [`server`]: [`ControlServer`] and the [`Backend`] trait an embedder implements (the
//!   `tether` CLI's `run` is one; a multi-account server would run one per account).
//! - [`protocol`]: the requests.
//! - [`events`]: every event as its JSON object (the same as `tether run --json` prints).
//! - [`hub`]: subscribers, each getting every inbox position once.
//! - [`client`]: the client side.
//! - [`status`]: the live status and the status record kept in the store.
//! - [`socket`]: the socket file (mode 0600, stale sockets only) and peer credentials.
//!
//! Security: the socket is created 0600 beside the store (bound under a temporary name, then
//! renamed into place), and both ends check the peer's credentials (`SO_PEERCRED`): only the
//! same user is served, and a client uses only a socket file of its own user (never a link)
//! served by its own user. Lines are capped ([`protocol::MAX_LINE`]),
//! each must arrive within a deadline, clients are served independently, and a subscriber
//! that stops reading is disconnected rather than slowing anyone.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod events;
pub mod hub;
pub mod protocol;
mod requests;
pub mod server;
pub mod socket;
pub mod status;

pub use client::{AskError, ControlClient, ask, ask_peer};
pub use protocol::Request;
pub use server::{Backend, ControlServer};
