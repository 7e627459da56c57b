//! # tether-core
//!
//! The sans-IO heart of Tether, a WhatsApp Web (multi-device) client core built to stay
//! connected. This crate owns **no sockets, clocks, threads, files, OS randomness or async**:
//! it turns bytes, transport events, timer ticks (`now` passed in), store results and commands
//! into frames, deadlines, events and actions.
//!
//! What is here today, from the wire up:
//!
//! - [`frame`]: the byte-stream framing under the WebSocket — the intro header (plain and the
//!   edge-routing variant) and 3-byte big-endian length frames, with an incremental decoder that
//!   accepts input split or coalesced at any byte boundary and bounds every frame before
//!   allocating.
//! - [`link`]: one transport attempt — intro, Noise handshake, certificate check, then
//!   encrypted stanzas in and out.
//! - [`noise`]: WhatsApp's variant of the Noise XX handshake (client and responder, sans-IO)
//!   and the AES-256-GCM transport phase that follows it.
//! - [`cert`]: verification of the server's certificate chain (whatsmeow's checks, typed errors)
//!   and a chain builder for test servers.
//! - [`crypto`]: Curve25519 signatures exactly as libsignal makes them ([`crypto::xeddsa`]) and
//!   the X25519 [`crypto::KeyPair`] with redacted `Debug` and wipe-on-drop.
//! - [`payload`]: the login and registration `ClientPayload` bytes from explicit parameters,
//!   with whatsmeow's values as defaults.
//! - [`creds`]: the credentials model, the deltas that change it and the `CredentialStore`
//!   contract ("persist before proceeding").
//! - [`messaging`]: end-to-end encrypted messaging on top of the connection (addresses, message
//!   ids, padding, participant hashes, …).
//! - [`media`]: images, videos, voice notes, documents and stickers — media keys, streaming
//!   encryption and verified decryption, `media_conn`, the HTTP upload and download as sans-IO
//!   exchanges, the message fields and the media-retry flow.
//! - [`records`]: the keyed records the messaging layer keeps in the store (sessions,
//!   identities, pre-keys, sender keys, devices, the outbox and the inbox), read on demand.
//! - [`pairing`]: linking a new companion by QR code or pair code — refs and the QR string,
//!   `<pair-success>` verification (HMAC, account signature) and the signed reply, the pair-code
//!   key exchange — plus the phone's half for the simulator, all as pure functions.
//! - [`proto`]: hand-written prost messages for the handshake, the certificate chain, the
//!   `ClientPayload` and the ADV (device identity) messages.
//! - [`binary`]: the WABinary node codec (`Node`, `Jid`, token dictionaries v2 and v3), the
//!   transport plaintext (flags byte, bounded zlib inflate) and a readable XML-like text form.
//!
//! The connection state machine, [`connection::Connection`], ties these together: one per
//! account, outliving every socket. Its building blocks (DESIGN §4), each sans-IO and tested
//! alone:
//!
//! - [`reason`]: [`reason::DisconnectReason`], one typed reason per disconnect, parsed from
//!   `<stream:error>`, `<failure>` and `<xmlstreamend/>`, with its code, terminality, advice and
//!   the field report's log-line shapes.
//! - [`backoff`]: [`backoff::ReconnectPolicy`], exponential backoff with seeded jitter, the
//!   stable-period counter reset and the per-reason rules (515, 429, 405, bans, cert failures).
//! - [`keepalive`]: [`keepalive::KeepAlive`], client pings, ping deadlines and the dead-socket
//!   timer anchored on the first unanswered send; server ping answers.
//! - [`timer`]: [`timer::Timer`] and [`timer::TimerTable`], every deadline as named data.
//! - [`jitter`]: reproducible uniform draws from a caller-supplied generator.
//!
//! For the runtime adapters (sans-IO too; the adapters only move bytes, time and store calls):
//!
//! - [`driver`]: the [`driver::Driver`] both adapters wrap (single-mutation rule, outbox turned
//!   into [`driver::Job`]s with the current-transport bookkeeping), the `Client` command step,
//!   the store worker's step, seed selection, the adapters' `Options` and error types.
//! - [`endpoint`]: parsing the URLs they dial; the WebSocket `Origin`.
//! - [`proxy`]: proxy URLs, environment selection with `no_proxy`, the HTTP `CONNECT` exchange.
//! - [`version_fetch`]: the `sw.js` request and the `client_revision` parser.
//!
//! Every parser returns a typed error and never panics on hostile input; the fuzz targets in
//! `fuzz/` and the proptest round-trips in `tests/` hold it to that.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backoff;
pub mod binary;
pub mod cert;
pub mod connection;
pub mod creds;
pub mod crypto;
pub mod driver;
pub mod endpoint;
pub mod frame;
pub mod jitter;
pub mod keepalive;
pub mod link;
pub mod media;
pub mod messaging;
pub mod noise;
pub mod pairing;
pub mod payload;
pub mod proto;
pub mod proxy;
pub mod reason;
pub mod records;
pub mod timer;
pub mod version_fetch;

#[cfg(feature = "__fuzzing")]
pub mod fuzzing;
