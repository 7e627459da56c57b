//! Each handshake failure has its own typed error, and calls out of order are refused with
//! `WrongState` rather than corrupting the state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use prost::Message;
use tether_core::noise::{
    ClientHandshake, HandshakeError, HandshakeField, HandshakeOptions, KeyPair,
    MAX_HANDSHAKE_MESSAGE_LEN, ResponderHandshake,
};
use tether_core::proto::handshake::{HandshakeMessage, ServerHello};

#[allow(dead_code)]
#[path = "vectors/noise_transcript.rs"]
mod vectors;

fn key(private_hex: &str) -> KeyPair {
    KeyPair::from_private_bytes(hex::decode(private_hex).unwrap().try_into().unwrap())
}

fn client() -> ClientHandshake {
    ClientHandshake::new(
        key(vectors::CLIENT_STATIC_PRIV),
        key(vectors::CLIENT_EPHEMERAL_PRIV),
        HandshakeOptions::WHATSAPP,
    )
}

fn responder_with(cert_chain: Vec<u8>) -> ResponderHandshake {
    ResponderHandshake::new(
        key(vectors::SERVER_STATIC_PRIV),
        key(vectors::SERVER_EPHEMERAL_PRIV),
        Bytes::from(cert_chain),
        HandshakeOptions::WHATSAPP,
    )
}

fn responder() -> ResponderHandshake {
    responder_with(hex::decode(vectors::CERT_CHAIN).unwrap())
}

fn transcript_server_hello() -> ServerHello {
    let bytes = hex::decode(vectors::SERVER_HELLO).unwrap();
    HandshakeMessage::decode(bytes.as_slice())
        .unwrap()
        .server_hello
        .unwrap()
}

fn encode_server_hello(hello: ServerHello) -> Vec<u8> {
    HandshakeMessage {
        server_hello: Some(hello),
        ..HandshakeMessage::default()
    }
    .encode_to_vec()
}

fn read_modified_server_hello(edit: impl FnOnce(&mut ServerHello)) -> HandshakeError {
    let mut hello = transcript_server_hello();
    edit(&mut hello);
    client()
        .read_server_hello(&encode_server_hello(hello))
        .unwrap_err()
}

fn flip_last_byte(field: &mut Option<Bytes>) {
    let mut bytes = field.take().unwrap().to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    *field = Some(Bytes::from(bytes));
}

#[test]
fn rejects_a_server_hello_with_a_short_ephemeral() {
    let error = read_modified_server_hello(|h| h.ephemeral = Some(Bytes::from(vec![1; 31])));
    assert_eq!(
        error,
        HandshakeError::WrongLength {
            field: HandshakeField::ServerEphemeral,
            expected: 32,
            actual: 31
        }
    );
}

#[test]
fn rejects_a_server_hello_without_its_fields() {
    let error = read_modified_server_hello(|h| h.ephemeral = None);
    assert_eq!(
        error,
        HandshakeError::Missing(HandshakeField::ServerEphemeral)
    );
    let error = read_modified_server_hello(|h| h.r#static = None);
    assert_eq!(error, HandshakeError::Missing(HandshakeField::ServerStatic));
    let error = read_modified_server_hello(|h| h.payload = None);
    assert_eq!(error, HandshakeError::Missing(HandshakeField::CertChain));
}

#[test]
fn rejects_an_encrypted_static_of_the_wrong_length() {
    let error = read_modified_server_hello(|h| {
        let truncated = h.r#static.as_ref().unwrap().slice(..47);
        h.r#static = Some(truncated);
    });
    assert_eq!(
        error,
        HandshakeError::WrongLength {
            field: HandshakeField::ServerStatic,
            expected: 48,
            actual: 47
        }
    );
}

#[test]
fn names_the_step_whose_decryption_failed() {
    let error = read_modified_server_hello(|h| flip_last_byte(&mut h.r#static));
    assert_eq!(
        error,
        HandshakeError::DecryptFailed(HandshakeField::ServerStatic)
    );
    let error = read_modified_server_hello(|h| flip_last_byte(&mut h.payload));
    assert_eq!(
        error,
        HandshakeError::DecryptFailed(HandshakeField::CertChain)
    );
    let error = read_modified_server_hello(|h| h.payload = Some(Bytes::from_static(&[0; 15])));
    assert_eq!(
        error,
        HandshakeError::DecryptFailed(HandshakeField::CertChain)
    );
}

#[test]
fn responder_names_the_step_whose_decryption_failed() {
    let finish = hex::decode(vectors::CLIENT_FINISH).unwrap();
    for (offset, field) in [
        (4, HandshakeField::ClientStatic),
        (finish.len() - 1, HandshakeField::ClientPayload),
    ] {
        let mut server = responder();
        server
            .read_client_hello(&hex::decode(vectors::CLIENT_HELLO).unwrap())
            .unwrap();
        server.server_hello().unwrap();
        let mut tampered = finish.clone();
        tampered[offset] ^= 0x80;
        assert_eq!(
            server.read_client_finish(&tampered).unwrap_err(),
            HandshakeError::DecryptFailed(field)
        );
    }
}

#[test]
fn refuses_a_low_order_server_ephemeral() {
    let error = read_modified_server_hello(|h| h.ephemeral = Some(Bytes::from(vec![0; 32])));
    assert_eq!(
        error,
        HandshakeError::LowOrderKey(HandshakeField::ServerEphemeral)
    );
}

#[test]
fn refuses_a_low_order_client_ephemeral() {
    let mut server = responder();
    let hello = hex::decode(vectors::CLIENT_HELLO).unwrap();
    let mut low_order = hello[..4].to_vec();
    low_order.extend_from_slice(&[0; 32]);
    server.read_client_hello(&low_order).unwrap();
    assert_eq!(
        server.server_hello(),
        Err(HandshakeError::LowOrderKey(HandshakeField::ClientEphemeral))
    );
}

#[test]
fn a_message_of_the_wrong_kind_is_missing_the_expected_one() {
    let client_hello = hex::decode(vectors::CLIENT_HELLO).unwrap();
    assert_eq!(
        client().read_server_hello(&client_hello),
        Err(HandshakeError::Missing(HandshakeField::ServerHello))
    );
    let server_hello = hex::decode(vectors::SERVER_HELLO).unwrap();
    assert_eq!(
        responder().read_client_hello(&server_hello),
        Err(HandshakeError::Missing(HandshakeField::ClientHello))
    );
    let mut server = responder();
    server.read_client_hello(&client_hello).unwrap();
    server.server_hello().unwrap();
    assert_eq!(
        server.read_client_finish(&client_hello).unwrap_err(),
        HandshakeError::Missing(HandshakeField::ClientFinish)
    );
}

#[test]
fn the_size_limit_is_inclusive() {
    // A message of exactly the limit is parsed (and fails for what it contains).
    let at_limit = vec![0u8; MAX_HANDSHAKE_MESSAGE_LEN];
    assert!(matches!(
        client().read_server_hello(&at_limit),
        Err(HandshakeError::Malformed(_))
    ));
    let over = vec![0u8; MAX_HANDSHAKE_MESSAGE_LEN + 1];
    assert!(matches!(
        client().read_server_hello(&over),
        Err(HandshakeError::Oversized { .. })
    ));
}

#[test]
fn refuses_to_write_oversized_messages() {
    let mut client = client();
    client
        .read_server_hello(&hex::decode(vectors::SERVER_HELLO).unwrap())
        .unwrap();
    let error = client
        .finish(&vec![0; MAX_HANDSHAKE_MESSAGE_LEN])
        .unwrap_err();
    assert!(
        matches!(error, HandshakeError::Oversized { .. }),
        "{error:?}"
    );

    let mut server = responder_with(vec![0; MAX_HANDSHAKE_MESSAGE_LEN]);
    server
        .read_client_hello(&hex::decode(vectors::CLIENT_HELLO).unwrap())
        .unwrap();
    let error = server.server_hello().unwrap_err();
    assert!(
        matches!(error, HandshakeError::Oversized { .. }),
        "{error:?}"
    );
}

#[test]
fn client_calls_out_of_order_are_wrong_state() {
    let server_hello = hex::decode(vectors::SERVER_HELLO).unwrap();
    assert!(matches!(
        client().finish(b"payload"),
        Err(HandshakeError::WrongState(_))
    ));

    let mut twice = client();
    twice.read_server_hello(&server_hello).unwrap();
    assert!(matches!(
        twice.read_server_hello(&server_hello),
        Err(HandshakeError::WrongState(_))
    ));
    assert!(
        twice.finish(b"payload").is_ok(),
        "a refused call changes nothing"
    );

    let mut failed = client();
    assert!(failed.read_server_hello(b"\xff").is_err());
    assert!(matches!(
        failed.read_server_hello(&server_hello),
        Err(HandshakeError::WrongState(_))
    ));
    assert!(matches!(
        failed.finish(b"payload"),
        Err(HandshakeError::WrongState(_))
    ));
}

#[test]
fn responder_calls_out_of_order_are_wrong_state() {
    let client_hello = hex::decode(vectors::CLIENT_HELLO).unwrap();
    let client_finish = hex::decode(vectors::CLIENT_FINISH).unwrap();

    let mut server = responder();
    assert!(wrong_state(server.server_hello()));
    assert!(wrong_state(responder().read_client_finish(&client_finish)));
    server.read_client_hello(&client_hello).unwrap();
    assert!(wrong_state(server.read_client_hello(&client_hello)));
    assert!(wrong_state(
        responder_after_hello().read_client_finish(&client_finish)
    ));
    server.server_hello().unwrap();
    assert!(wrong_state(server.server_hello()));
    assert!(server.read_client_finish(&client_finish).is_ok());

    let mut failed = responder();
    assert!(failed.read_client_hello(b"").is_err());
    assert!(wrong_state(failed.read_client_hello(&client_hello)));
    assert!(wrong_state(failed.server_hello()));
}

fn wrong_state<T>(result: Result<T, HandshakeError>) -> bool {
    matches!(result, Err(HandshakeError::WrongState(_)))
}

fn responder_after_hello() -> ResponderHandshake {
    let mut server = responder();
    server
        .read_client_hello(&hex::decode(vectors::CLIENT_HELLO).unwrap())
        .unwrap();
    server
}

#[test]
fn debug_output_never_shows_private_keys() {
    let client = client();
    let server = responder();
    let text = format!("{client:?} {server:?}");
    for private in [
        vectors::CLIENT_STATIC_PRIV,
        vectors::CLIENT_EPHEMERAL_PRIV,
        vectors::SERVER_STATIC_PRIV,
        vectors::SERVER_EPHEMERAL_PRIV,
    ] {
        assert!(!text.contains(private), "{text}");
    }
    assert!(text.contains("<redacted>") && text.contains(vectors::CLIENT_EPHEMERAL_PUB));
}
