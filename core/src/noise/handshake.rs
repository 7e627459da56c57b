//! The client (initiator) side of WhatsApp's XX handshake, plus the field checks both roles
//! share. The state machine is drawn in the [module docs](super).

use std::fmt;

use bytes::Bytes;
use prost::Message;

use super::cipher::{CipherSuite, TAG_LEN};
use super::symmetric::SymmetricState;
use super::transport::{Role, TransportState};
use super::{HandshakeError, HandshakeField, HandshakeOptions, MAX_HANDSHAKE_MESSAGE_LEN};
use crate::crypto::KeyPair;
use crate::proto::handshake::{ClientFinish, ClientHello, HandshakeMessage};

/// Length of an X25519 public key on the wire.
const KEY_LEN: usize = 32;

/// Length of an encrypted static key: key plus tag.
const ENCRYPTED_KEY_LEN: usize = KEY_LEN + TAG_LEN;

/// What the client learns from the server's message 2. The caller verifies `cert_chain`
/// against `server_static` (`transport.md` §5) before calling [`ClientHandshake::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerHelloContents {
    /// The server's static public key `rs`, decrypted.
    pub server_static: [u8; 32],
    /// The decrypted `ServerHello.payload`: a serialized `CertChain`, not yet verified.
    pub cert_chain: Bytes,
}

enum ClientState {
    AwaitingServerHello,
    ReadyToFinish { server_ephemeral: [u8; 32] },
    Failed,
}

/// The client side of the handshake (see the [module docs](super) for the state machine).
pub struct ClientHandshake {
    state: ClientState,
    pub(super) symmetric: SymmetricState,
    static_keypair: KeyPair,
    ephemeral: KeyPair,
}

impl ClientHandshake {
    /// Starts a handshake with the client's long-term noise key and a fresh ephemeral key
    /// (drawn by the caller from its seeded RNG). Message 1 is hashed here, so
    /// [`ClientHandshake::client_hello`] only encodes it.
    #[must_use]
    pub fn new(static_keypair: KeyPair, ephemeral: KeyPair, options: HandshakeOptions<'_>) -> Self {
        Self::with_suite(static_keypair, ephemeral, options, CipherSuite::AesGcm)
    }

    pub(crate) fn with_suite(
        static_keypair: KeyPair,
        ephemeral: KeyPair,
        options: HandshakeOptions<'_>,
        suite: CipherSuite,
    ) -> Self {
        let mut symmetric = SymmetricState::new(suite, options.prologue);
        symmetric.mix_hash(ephemeral.public_key().as_bytes());
        if options.spec_mode {
            symmetric.mix_hash(&[]);
        }
        Self {
            state: ClientState::AwaitingServerHello,
            symmetric,
            static_keypair,
            ephemeral,
        }
    }

    /// Message 1: `HandshakeMessage{clientHello{ephemeral}}`, the payload of the first frame
    /// (sent right after the intro header). Always the same bytes for one handshake.
    #[must_use]
    pub fn client_hello(&self) -> Vec<u8> {
        HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(Bytes::copy_from_slice(
                    self.ephemeral.public_key().as_bytes(),
                )),
                ..ClientHello::default()
            }),
            ..HandshakeMessage::default()
        }
        .encode_to_vec()
    }

    /// The handshake hash `h` so far.
    #[must_use]
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.symmetric.handshake_hash()
    }

    /// Reads message 2 (the payload of the server's first frame) and returns the server's
    /// static key and the certificate-chain plaintext, which the caller must verify.
    ///
    /// # Errors
    /// [`HandshakeError::Oversized`], [`HandshakeError::Malformed`],
    /// [`HandshakeError::Missing`], [`HandshakeError::WrongLength`],
    /// [`HandshakeError::LowOrderKey`], [`HandshakeError::DecryptFailed`] (naming the step)
    /// for a bad message; [`HandshakeError::WrongState`] if called twice or after an error.
    /// Any error leaves the handshake failed.
    pub fn read_server_hello(
        &mut self,
        message: &[u8],
    ) -> Result<ServerHelloContents, HandshakeError> {
        match self.state {
            ClientState::AwaitingServerHello => {}
            ClientState::ReadyToFinish { .. } => {
                return Err(HandshakeError::WrongState(
                    "the server hello was already read",
                ));
            }
            ClientState::Failed => return Err(failed()),
        }
        self.state = ClientState::Failed;
        let hello = HandshakeMessage::parse(message)?
            .server_hello
            .ok_or(HandshakeError::Missing(HandshakeField::ServerHello))?;
        let server_ephemeral =
            public_key(hello.ephemeral.as_ref(), HandshakeField::ServerEphemeral)?;
        let encrypted_static =
            encrypted_key(hello.r#static.as_ref(), HandshakeField::ServerStatic)?;
        let encrypted_certs = hello
            .payload
            .ok_or(HandshakeError::Missing(HandshakeField::CertChain))?;

        let symmetric = &mut self.symmetric;
        symmetric.mix_hash(&server_ephemeral);
        symmetric.mix_dh(
            &self.ephemeral,
            &server_ephemeral,
            HandshakeField::ServerEphemeral,
        )?;
        let server_static = decrypted_key(
            symmetric.decrypt_and_hash(encrypted_static, HandshakeField::ServerStatic)?,
            HandshakeField::ServerStatic,
        )?;
        symmetric.mix_dh(
            &self.ephemeral,
            &server_static,
            HandshakeField::ServerStatic,
        )?;
        let cert_chain = symmetric.decrypt_and_hash(&encrypted_certs, HandshakeField::CertChain)?;

        self.state = ClientState::ReadyToFinish { server_ephemeral };
        Ok(ServerHelloContents {
            server_static,
            cert_chain: Bytes::from(cert_chain),
        })
    }

    /// Message 3: encrypts the client's static key and `client_payload` (the serialized
    /// `ClientPayload`), returns the `HandshakeMessage{clientFinish}` bytes to send and the
    /// transport state. Call it only after verifying the certificate chain.
    ///
    /// # Errors
    /// [`HandshakeError::WrongState`] unless [`ClientHandshake::read_server_hello`] succeeded;
    /// [`HandshakeError::LowOrderKey`]; [`HandshakeError::Oversized`] if the message would
    /// exceed [`MAX_HANDSHAKE_MESSAGE_LEN`].
    pub fn finish(
        self,
        client_payload: &[u8],
    ) -> Result<(Vec<u8>, TransportState), HandshakeError> {
        let server_ephemeral = match self.state {
            ClientState::ReadyToFinish { server_ephemeral } => server_ephemeral,
            ClientState::AwaitingServerHello => {
                return Err(HandshakeError::WrongState("finish before the server hello"));
            }
            ClientState::Failed => return Err(failed()),
        };
        check_outgoing_payload(client_payload.len())?;
        let mut symmetric = self.symmetric;
        let encrypted_static =
            symmetric.encrypt_and_hash(self.static_keypair.public_key().as_bytes())?;
        symmetric.mix_dh(
            &self.static_keypair,
            &server_ephemeral,
            HandshakeField::ServerEphemeral,
        )?;
        let encrypted_payload = symmetric.encrypt_and_hash(client_payload)?;
        let message = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(Bytes::from(encrypted_static)),
                payload: Some(Bytes::from(encrypted_payload)),
                ..ClientFinish::default()
            }),
            ..HandshakeMessage::default()
        }
        .encode_to_vec();
        check_outgoing_len(message.len())?;
        Ok((
            message,
            TransportState::from_split(symmetric.split(), Role::Initiator),
        ))
    }
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            ClientState::AwaitingServerHello => "AwaitingServerHello",
            ClientState::ReadyToFinish { .. } => "ReadyToFinish",
            ClientState::Failed => "Failed",
        };
        f.debug_struct("ClientHandshake")
            .field("state", &state)
            .field("static_keypair", &self.static_keypair)
            .field("ephemeral", &self.ephemeral)
            .finish_non_exhaustive()
    }
}

/// The error for any call after a failed step.
pub(super) fn failed() -> HandshakeError {
    HandshakeError::WrongState("an earlier handshake step failed")
}

/// A required plaintext public key of exactly 32 bytes.
pub(super) fn public_key(
    field: Option<&Bytes>,
    name: HandshakeField,
) -> Result<[u8; 32], HandshakeError> {
    let bytes = field.ok_or(HandshakeError::Missing(name))?;
    <[u8; 32]>::try_from(bytes.as_ref()).map_err(|_| HandshakeError::WrongLength {
        field: name,
        expected: KEY_LEN,
        actual: bytes.len(),
    })
}

/// A required encrypted static key of exactly 48 bytes.
pub(super) fn encrypted_key(
    field: Option<&Bytes>,
    name: HandshakeField,
) -> Result<&Bytes, HandshakeError> {
    let bytes = field.ok_or(HandshakeError::Missing(name))?;
    if bytes.len() == ENCRYPTED_KEY_LEN {
        Ok(bytes)
    } else {
        Err(HandshakeError::WrongLength {
            field: name,
            expected: ENCRYPTED_KEY_LEN,
            actual: bytes.len(),
        })
    }
}

/// The plaintext of a 48-byte encrypted key: always 32 bytes once it authenticated.
pub(super) fn decrypted_key(
    plaintext: Vec<u8>,
    name: HandshakeField,
) -> Result<[u8; 32], HandshakeError> {
    let len = plaintext.len();
    <[u8; 32]>::try_from(plaintext).map_err(|_| HandshakeError::WrongLength {
        field: name,
        expected: KEY_LEN,
        actual: len,
    })
}

/// Refuses a payload that cannot fit an outgoing handshake message, before any work.
pub(super) fn check_outgoing_payload(len: usize) -> Result<(), HandshakeError> {
    check_outgoing_len(len.saturating_add(ENCRYPTED_KEY_LEN + TAG_LEN))
}

/// Refuses an outgoing message longer than the peer accepts.
pub(super) fn check_outgoing_len(len: usize) -> Result<(), HandshakeError> {
    if len > MAX_HANDSHAKE_MESSAGE_LEN {
        Err(HandshakeError::Oversized {
            len,
            max: MAX_HANDSHAKE_MESSAGE_LEN,
        })
    } else {
        Ok(())
    }
}
