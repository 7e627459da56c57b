//! The responder (server) side of WhatsApp's XX handshake, used by the simulator's fake
//! server. The state machine is drawn in the [module docs](super).

use std::fmt;

use bytes::Bytes;
use prost::Message;

use super::cipher::CipherSuite;
use super::handshake::{
    check_outgoing_len, check_outgoing_payload, decrypted_key, encrypted_key, failed, public_key,
};
use super::symmetric::SymmetricState;
use super::transport::{Role, TransportState};
use super::{HandshakeError, HandshakeField, HandshakeOptions};
use crate::crypto::KeyPair;
use crate::proto::handshake::{HandshakeMessage, ServerHello};

/// What the responder learns from the client's message 3.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientFinishContents {
    /// The client's static public key (its noise key), decrypted.
    pub client_static: [u8; 32],
    /// The decrypted `ClientFinish.payload`: the serialized `ClientPayload`.
    pub client_payload: Bytes,
}

enum ResponderState {
    AwaitingClientHello,
    ReadyToSendServerHello { client_ephemeral: [u8; 32] },
    AwaitingClientFinish,
    Failed,
}

/// The server side of the handshake (see the [module docs](super) for the state machine).
pub struct ResponderHandshake {
    state: ResponderState,
    symmetric: SymmetricState,
    static_keypair: KeyPair,
    ephemeral: KeyPair,
    cert_chain: Bytes,
    spec_mode: bool,
}

impl ResponderHandshake {
    /// Starts a handshake with the server's static key, a fresh ephemeral key and the
    /// serialized certificate chain to send (encrypted) in message 2.
    #[must_use]
    pub fn new(
        static_keypair: KeyPair,
        ephemeral: KeyPair,
        cert_chain: Bytes,
        options: HandshakeOptions<'_>,
    ) -> Self {
        Self::with_suite(
            static_keypair,
            ephemeral,
            cert_chain,
            options,
            CipherSuite::AesGcm,
        )
    }

    pub(crate) fn with_suite(
        static_keypair: KeyPair,
        ephemeral: KeyPair,
        cert_chain: Bytes,
        options: HandshakeOptions<'_>,
        suite: CipherSuite,
    ) -> Self {
        Self {
            state: ResponderState::AwaitingClientHello,
            symmetric: SymmetricState::new(suite, options.prologue),
            static_keypair,
            ephemeral,
            cert_chain,
            spec_mode: options.spec_mode,
        }
    }

    /// The handshake hash `h` so far.
    #[must_use]
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.symmetric.handshake_hash()
    }

    /// Reads message 1 (the payload of the client's first frame, after the intro header).
    /// IK fields (`static`, `payload`) are ignored: this responder speaks XX only.
    ///
    /// # Errors
    /// [`HandshakeError::Oversized`], [`HandshakeError::Malformed`],
    /// [`HandshakeError::Missing`], [`HandshakeError::WrongLength`];
    /// [`HandshakeError::WrongState`] unless this is the first call.
    pub fn read_client_hello(&mut self, message: &[u8]) -> Result<(), HandshakeError> {
        match self.state {
            ResponderState::AwaitingClientHello => {}
            ResponderState::Failed => return Err(failed()),
            _ => {
                return Err(HandshakeError::WrongState(
                    "the client hello was already read",
                ));
            }
        }
        self.state = ResponderState::Failed;
        let hello = HandshakeMessage::parse(message)?
            .client_hello
            .ok_or(HandshakeError::Missing(HandshakeField::ClientHello))?;
        let client_ephemeral =
            public_key(hello.ephemeral.as_ref(), HandshakeField::ClientEphemeral)?;
        self.symmetric.mix_hash(&client_ephemeral);
        if self.spec_mode {
            self.symmetric.mix_hash(&[]);
        }
        self.state = ResponderState::ReadyToSendServerHello { client_ephemeral };
        Ok(())
    }

    /// Message 2: `HandshakeMessage{serverHello{ephemeral, static, payload}}`.
    ///
    /// # Errors
    /// [`HandshakeError::WrongState`] unless [`ResponderHandshake::read_client_hello`]
    /// succeeded and this is the first call; [`HandshakeError::LowOrderKey`] for a low-order
    /// client ephemeral; [`HandshakeError::Oversized`] if the certificate chain is too large.
    pub fn server_hello(&mut self) -> Result<Vec<u8>, HandshakeError> {
        let client_ephemeral = match self.state {
            ResponderState::ReadyToSendServerHello { client_ephemeral } => client_ephemeral,
            ResponderState::AwaitingClientHello => {
                return Err(HandshakeError::WrongState(
                    "server hello before the client hello",
                ));
            }
            ResponderState::AwaitingClientFinish => {
                return Err(HandshakeError::WrongState(
                    "the server hello was already written",
                ));
            }
            ResponderState::Failed => return Err(failed()),
        };
        self.state = ResponderState::Failed;
        check_outgoing_payload(self.cert_chain.len())?;
        let symmetric = &mut self.symmetric;
        symmetric.mix_hash(self.ephemeral.public_key().as_bytes());
        symmetric.mix_dh(
            &self.ephemeral,
            &client_ephemeral,
            HandshakeField::ClientEphemeral,
        )?;
        let encrypted_static =
            symmetric.encrypt_and_hash(self.static_keypair.public_key().as_bytes())?;
        symmetric.mix_dh(
            &self.static_keypair,
            &client_ephemeral,
            HandshakeField::ClientEphemeral,
        )?;
        let encrypted_certs = symmetric.encrypt_and_hash(&self.cert_chain)?;
        let message = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(Bytes::copy_from_slice(
                    self.ephemeral.public_key().as_bytes(),
                )),
                r#static: Some(Bytes::from(encrypted_static)),
                payload: Some(Bytes::from(encrypted_certs)),
                ..ServerHello::default()
            }),
            ..HandshakeMessage::default()
        }
        .encode_to_vec();
        check_outgoing_len(message.len())?;
        self.state = ResponderState::AwaitingClientFinish;
        Ok(message)
    }

    /// Reads message 3 and returns the client's static key, its `ClientPayload` bytes and
    /// the responder's transport state.
    ///
    /// # Errors
    /// [`HandshakeError::Oversized`], [`HandshakeError::Malformed`],
    /// [`HandshakeError::Missing`], [`HandshakeError::WrongLength`],
    /// [`HandshakeError::LowOrderKey`], [`HandshakeError::DecryptFailed`] for a bad message;
    /// [`HandshakeError::WrongState`] unless [`ResponderHandshake::server_hello`] succeeded.
    pub fn read_client_finish(
        self,
        message: &[u8],
    ) -> Result<(ClientFinishContents, TransportState), HandshakeError> {
        match self.state {
            ResponderState::AwaitingClientFinish => {}
            ResponderState::AwaitingClientHello | ResponderState::ReadyToSendServerHello { .. } => {
                return Err(HandshakeError::WrongState(
                    "client finish before the server hello",
                ));
            }
            ResponderState::Failed => return Err(failed()),
        }
        let finish = HandshakeMessage::parse(message)?
            .client_finish
            .ok_or(HandshakeError::Missing(HandshakeField::ClientFinish))?;
        let encrypted_static =
            encrypted_key(finish.r#static.as_ref(), HandshakeField::ClientStatic)?;
        let encrypted_payload = finish
            .payload
            .ok_or(HandshakeError::Missing(HandshakeField::ClientPayload))?;

        let mut symmetric = self.symmetric;
        let client_static = decrypted_key(
            symmetric.decrypt_and_hash(encrypted_static, HandshakeField::ClientStatic)?,
            HandshakeField::ClientStatic,
        )?;
        symmetric.mix_dh(
            &self.ephemeral,
            &client_static,
            HandshakeField::ClientStatic,
        )?;
        let client_payload =
            symmetric.decrypt_and_hash(&encrypted_payload, HandshakeField::ClientPayload)?;
        let contents = ClientFinishContents {
            client_static,
            client_payload: Bytes::from(client_payload),
        };
        Ok((
            contents,
            TransportState::from_split(symmetric.split(), Role::Responder),
        ))
    }
}

impl fmt::Debug for ResponderHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            ResponderState::AwaitingClientHello => "AwaitingClientHello",
            ResponderState::ReadyToSendServerHello { .. } => "ReadyToSendServerHello",
            ResponderState::AwaitingClientFinish => "AwaitingClientFinish",
            ResponderState::Failed => "Failed",
        };
        f.debug_struct("ResponderHandshake")
            .field("state", &state)
            .field("static_keypair", &self.static_keypair)
            .field("ephemeral", &self.ephemeral)
            .field("cert_chain_len", &self.cert_chain.len())
            .finish_non_exhaustive()
    }
}
