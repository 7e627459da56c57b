//! The Noise handshake protobufs (`transport.md` §4.4): `HandshakeMessage` and its three
//! submessages.
//!
//! ```text
//! HandshakeMessage { 2: ClientHello, 3: ServerHello, 4: ClientFinish }
//!   ClientHello  { 1 ephemeral, 2 static, 3 payload, 4..10 unused (extended / padding / PQ) }
//!   ServerHello  { 1 ephemeral, 2 static, 3 payload, 4..6 unused }
//!   ClientFinish { 1 static, 2 payload, 3..5 unused }
//! ```
//!
//! The fields nobody uses (post-quantum mode, padding, "extended" variants) are declared so
//! they parse and are ignored rather than skipped as unknown; Tether never sets them.
//! [`HandshakeMessage::parse`] bounds the input to [`MAX_HANDSHAKE_MESSAGE_LEN`] before
//! decoding.

use bytes::Bytes;
use prost::Message;

use crate::noise::{HandshakeError, MAX_HANDSHAKE_MESSAGE_LEN};

/// The outer message of every handshake frame; exactly one submessage is expected per frame.
#[derive(Clone, PartialEq, Message)]
pub struct HandshakeMessage {
    /// Message 1, client → server.
    #[prost(message, optional, tag = "2")]
    pub client_hello: Option<ClientHello>,
    /// Message 2, server → client.
    #[prost(message, optional, tag = "3")]
    pub server_hello: Option<ServerHello>,
    /// Message 3, client → server.
    #[prost(message, optional, tag = "4")]
    pub client_finish: Option<ClientFinish>,
}

impl HandshakeMessage {
    /// Decodes one handshake frame payload.
    ///
    /// # Errors
    /// [`HandshakeError::Oversized`] if `bytes` is longer than [`MAX_HANDSHAKE_MESSAGE_LEN`]
    /// (checked before decoding), [`HandshakeError::Malformed`] if it is not a valid
    /// `HandshakeMessage` protobuf.
    pub fn parse(bytes: &[u8]) -> Result<Self, HandshakeError> {
        if bytes.len() > MAX_HANDSHAKE_MESSAGE_LEN {
            return Err(HandshakeError::Oversized {
                len: bytes.len(),
                max: MAX_HANDSHAKE_MESSAGE_LEN,
            });
        }
        Ok(Self::decode(bytes)?)
    }
}

/// `HandshakeMessage.ClientHello`: the client's ephemeral key (XX), plus the encrypted static
/// key and payload of an IK resume attempt.
#[derive(Clone, PartialEq, Message)]
pub struct ClientHello {
    /// The client's ephemeral X25519 public key (32 bytes).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub ephemeral: Option<Bytes>,
    /// IK only: the encrypted client static key (48 bytes).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub r#static: Option<Bytes>,
    /// IK only: the encrypted `ClientPayload`.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub payload: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bool, optional, tag = "4")]
    pub use_extended: Option<bool>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "5")]
    pub extended_ciphertext: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "6")]
    pub padded_bytes: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bool, optional, tag = "7")]
    pub send_server_hello_padded_bytes: Option<bool>,
    /// Unused by known clients.
    #[prost(bool, optional, tag = "8")]
    pub simulate_xxkem_fs: Option<bool>,
    /// Unused by known clients; a [`HandshakePqMode`] value.
    #[prost(enumeration = "HandshakePqMode", optional, tag = "9")]
    pub pq_mode: Option<i32>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "10")]
    pub extended_ephemeral: Option<Bytes>,
}

/// `HandshakeMessage.ServerHello`: the server's ephemeral key, its encrypted static key and
/// the encrypted certificate chain.
#[derive(Clone, PartialEq, Message)]
pub struct ServerHello {
    /// The server's ephemeral X25519 public key (32 bytes).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub ephemeral: Option<Bytes>,
    /// The encrypted server static key (48 bytes: 32 + tag).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub r#static: Option<Bytes>,
    /// The encrypted `CertChain`.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub payload: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub extended_static: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "5")]
    pub padding_bytes: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "6")]
    pub extended_ciphertext: Option<Bytes>,
}

/// `HandshakeMessage.ClientFinish`: the client's encrypted static key and `ClientPayload`.
#[derive(Clone, PartialEq, Message)]
pub struct ClientFinish {
    /// The encrypted client static key (48 bytes).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub r#static: Option<Bytes>,
    /// The encrypted `ClientPayload`.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub payload: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub extended_ciphertext: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub padded_bytes: Option<Bytes>,
    /// Unused by known clients.
    #[prost(bool, optional, tag = "5")]
    pub simulate_xxkem_fs: Option<bool>,
}

/// `HandshakeMessage.HandshakePqMode` (whatsmeow's schema). Parsed, never acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum HandshakePqMode {
    /// `HANDSHAKE_PQ_MODE_UNKNOWN`
    Unknown = 0,
    /// `XXKEM`
    Xxkem = 1,
    /// `XXKEM_FS`
    XxkemFs = 2,
    /// `WA_CLASSICAL`
    WaClassical = 3,
    /// `WA_PQ`
    WaPq = 4,
    /// `IKKEM`
    Ikkem = 5,
    /// `IKKEM_FS`
    IkkemFs = 6,
    /// `XXKEM_2`
    Xxkem2 = 7,
    /// `IKKEM_2`
    Ikkem2 = 8,
    /// `XXKEM_EPH`
    XxkemEph = 9,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_all_declared_fields_and_skips_unknown_ones() {
        // clientHello { ephemeral = 01 02, useExtended = true, pqMode = 9, field 99 = 7 }
        let bytes = [
            0x12, 0x0b, 0x0a, 0x02, 0x01, 0x02, 0x20, 0x01, 0x48, 0x09, 0x98, 0x06, 0x07,
        ];
        let msg = HandshakeMessage::parse(&bytes).unwrap();
        let hello = msg.client_hello.unwrap();
        assert_eq!(hello.ephemeral.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(hello.use_extended, Some(true));
        assert_eq!(hello.pq_mode(), HandshakePqMode::XxkemEph);
        assert!(msg.server_hello.is_none() && msg.client_finish.is_none());
    }

    #[test]
    fn rejects_oversized_message_before_decoding() {
        let bytes = vec![0u8; MAX_HANDSHAKE_MESSAGE_LEN + 1];
        assert_eq!(
            HandshakeMessage::parse(&bytes),
            Err(HandshakeError::Oversized {
                len: MAX_HANDSHAKE_MESSAGE_LEN + 1,
                max: MAX_HANDSHAKE_MESSAGE_LEN
            })
        );
    }

    #[test]
    fn rejects_truncated_message_as_malformed() {
        // serverHello declares 5 bytes but only 2 follow.
        let bytes = [0x1a, 0x05, 0x0a, 0x00];
        assert!(matches!(
            HandshakeMessage::parse(&bytes),
            Err(HandshakeError::Malformed(_))
        ));
    }

    #[test]
    fn encodes_fields_in_ascending_order() {
        let msg = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(Bytes::from_static(&[0xaa; 32])),
                ..ClientHello::default()
            }),
            ..HandshakeMessage::default()
        };
        let bytes = msg.encode_to_vec();
        assert_eq!(&bytes[..4], &[0x12, 0x22, 0x0a, 0x20]);
        assert_eq!(bytes.len(), 36);
    }
}
