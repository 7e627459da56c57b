//! WhatsApp's Noise XX handshake and the transport phase after it (`transport.md` §4),
//! written by hand because no Noise library can skip the one step WhatsApp leaves out.
//!
//! WhatsApp speaks `Noise_XX_25519_AESGCM_SHA256` with a single deviation: the (empty) payload
//! of message 1 is never mixed into the handshake hash. A textbook implementation performs
//! that MixHash, so from message 2 on every AEAD associated-data value differs and it cannot
//! talk to the server (`transport.md` §4.6). [`HandshakeOptions::spec_mode`] adds the MixHash
//! back, which makes both roles byte-compatible with textbook Noise (tested against `snow`).
//!
//! The handshake is sans-IO: the objects take and return protobuf-encoded handshake messages
//! (frame payloads); framing, the intro header, timeouts and certificate verification belong
//! to the caller. Ephemeral keys are passed in, so the caller draws them from its seeded RNG
//! and tests replay fixed transcripts.
//!
//! Client (initiator), [`ClientHandshake`]:
//!
//! ```text
//! new(s, e, options)            h = name; MixHash(prologue); MixHash(e.pub) [; MixHash("") spec]
//!   │ client_hello() → ClientHello{ephemeral}          (any number of times; pure)
//!   ▼
//! AwaitingServerHello ──read_server_hello(msg)──▶ ReadyToFinish
//!   │  MixHash(re); MixKey(DH(e, re)); rs = DecryptAndHash(static)        returns rs and the
//!   │  MixKey(DH(e, rs)); certs = DecryptAndHash(payload)                 cert-chain bytes:
//!   │                                                                     caller verifies
//!   ▼
//! ReadyToFinish ──finish(client_payload)──▶ (ClientFinish bytes, TransportState)
//!      EncryptAndHash(s.pub); MixKey(DH(s, re)); EncryptAndHash(payload); Split
//! any error ──▶ Failed (every later call returns WrongState)
//! ```
//!
//! Responder (server; used by the simulator), [`ResponderHandshake`]:
//!
//! ```text
//! new(s, e, cert_chain, options) ─read_client_hello(msg)─▶ ReadyToSendServerHello
//!   ─server_hello()─▶ AwaitingClientFinish ─read_client_finish(msg)─▶
//!   (client static, client payload, TransportState)
//! any error ──▶ Failed
//! ```
//!
//! After Split, [`TransportState`] encrypts and decrypts frames with one AES-256-GCM key and
//! u32 counter per direction; counters never wrap.

mod cipher;
mod error;
mod handshake;
mod responder;
mod symmetric;
mod transport;

#[cfg(feature = "__fuzzing")]
pub mod fuzzing;

pub use crate::crypto::KeyPair;
pub use cipher::TAG_LEN;
pub use error::{HandshakeError, HandshakeField, TransportError};
pub use handshake::{ClientHandshake, ServerHelloContents};
pub use responder::{ClientFinishContents, ResponderHandshake};
pub use transport::{MAX_TRANSPORT_PLAINTEXT_LEN, TransportState};

/// `Noise_XX_25519_AESGCM_SHA256` padded with NUL bytes to exactly 32 bytes (used as `h`
/// directly, not hashed).
pub const PROTOCOL_NAME: [u8; 32] = *b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// WhatsApp's prologue: the plain intro header `57 41 06 03`, even when an edge-routing
/// prefix is sent.
pub const PROLOGUE: [u8; 4] = [b'W', b'A', 0x06, 0x03];

/// Largest handshake message accepted or produced (checked before decoding).
pub const MAX_HANDSHAKE_MESSAGE_LEN: usize = 64 * 1024;

/// Options shared by both handshake roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeOptions<'a> {
    /// Mixed into `h` right after initialisation ([`PROLOGUE`] for WhatsApp).
    pub prologue: &'a [u8],
    /// Textbook Noise: also MixHash the empty payload of message 1. `false` for WhatsApp;
    /// `true` only to compare with other Noise implementations.
    pub spec_mode: bool,
}

impl HandshakeOptions<'static> {
    /// What WhatsApp speaks: prologue `57 41 06 03`, message-1 payload not hashed.
    pub const WHATSAPP: Self = Self {
        prologue: &PROLOGUE,
        spec_mode: false,
    };
}

impl Default for HandshakeOptions<'static> {
    fn default() -> Self {
        Self::WHATSAPP
    }
}

#[cfg(test)]
mod tests;
