//! Typed errors of the handshake and transport phases.
//!
//! Every peer fault maps to one variant; none of them carries secret material.

use std::fmt;

use thiserror::Error;

/// A field of the handshake, used to say which one was missing, had the wrong length or
/// failed to decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeField {
    /// `HandshakeMessage.clientHello`.
    ClientHello,
    /// `HandshakeMessage.serverHello`.
    ServerHello,
    /// `HandshakeMessage.clientFinish`.
    ClientFinish,
    /// `ClientHello.ephemeral`.
    ClientEphemeral,
    /// `ServerHello.ephemeral`.
    ServerEphemeral,
    /// `ServerHello.static` (the encrypted server static key).
    ServerStatic,
    /// `ServerHello.payload` (the encrypted certificate chain).
    CertChain,
    /// `ClientFinish.static` (the encrypted client static key).
    ClientStatic,
    /// `ClientFinish.payload` (the encrypted `ClientPayload`).
    ClientPayload,
}

impl fmt::Display for HandshakeField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClientHello => "client hello",
            Self::ServerHello => "server hello",
            Self::ClientFinish => "client finish",
            Self::ClientEphemeral => "client ephemeral key",
            Self::ServerEphemeral => "server ephemeral key",
            Self::ServerStatic => "server static key",
            Self::CertChain => "certificate chain payload",
            Self::ClientStatic => "client static key",
            Self::ClientPayload => "client payload",
        })
    }
}

/// Why a handshake failed. Every variant is fatal for the connection attempt; the handshake
/// object refuses further calls afterwards ([`HandshakeError::WrongState`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The frame is not a valid `HandshakeMessage` protobuf (including truncated input).
    #[error("malformed handshake message: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// A handshake message is longer than the accepted maximum (checked before decoding, and
    /// for messages we would send).
    #[error("handshake message of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// The message length.
        len: usize,
        /// The limit ([`super::MAX_HANDSHAKE_MESSAGE_LEN`]).
        max: usize,
    },
    /// A required submessage or field is absent.
    #[error("handshake message has no {0}")]
    Missing(HandshakeField),
    /// A key or encrypted key has the wrong length.
    #[error("{field} is {actual} bytes, expected {expected}")]
    WrongLength {
        /// The field.
        field: HandshakeField,
        /// The required length.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// An AEAD open failed: tampered data, a wrong key, or a peer speaking another variant.
    #[error("decryption of the {0} failed")]
    DecryptFailed(HandshakeField),
    /// A peer public key is a low-order point: the Diffie-Hellman output would be all zero.
    #[error("the {0} is a low-order point")]
    LowOrderKey(HandshakeField),
    /// A method was called out of order, twice, or after an earlier error (caller misuse).
    #[error("handshake call in the wrong state: {0}")]
    WrongState(&'static str),
}

/// Why a transport-phase operation failed. All but `PlaintextTooLarge` (a local mistake) mean
/// the connection must close (`transport.md` §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The frame did not authenticate under the next receive nonce (or is shorter than a tag).
    /// The receive counter does not advance.
    #[error("transport frame failed to decrypt")]
    DecryptFailed,
    /// 2^32 frames were already sent (or received) in this direction; another one would reuse
    /// a nonce.
    #[error("transport nonce counter exhausted")]
    CounterExhausted,
    /// A zero-length transport frame (never valid AES-GCM).
    #[error("empty transport frame")]
    EmptyFrame,
    /// The plaintext would not fit a frame once the tag is added.
    #[error("plaintext of {len} bytes does not fit a frame")]
    PlaintextTooLarge {
        /// The plaintext length.
        len: usize,
    },
}
