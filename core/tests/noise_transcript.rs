//! Replays the WhatsApp Noise XX transcript of `protocol/test-vectors.md` §2.1 and §3 byte
//! for byte, in both roles. (The intermediate `h`/`ck`/`k` trace is checked by the unit tests
//! in `src/noise/tests.rs`, which can see the symmetric state.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use bytes::Bytes;
use tether_core::noise::{
    ClientHandshake, HandshakeOptions, KeyPair, PROLOGUE, ResponderHandshake, TransportState,
};

#[allow(dead_code)]
#[path = "vectors/noise_transcript.rs"]
mod vectors;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn key(private_hex: &str) -> KeyPair {
    KeyPair::from_private_bytes(unhex(private_hex).try_into().unwrap())
}

/// `3-byte BE length || payload` (the real frame codec lives elsewhere).
fn framed(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    assert!(len <= 0x00ff_ffff);
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(payload);
    out
}

fn client() -> ClientHandshake {
    ClientHandshake::new(
        key(vectors::CLIENT_STATIC_PRIV),
        key(vectors::CLIENT_EPHEMERAL_PRIV),
        HandshakeOptions::WHATSAPP,
    )
}

fn responder() -> ResponderHandshake {
    ResponderHandshake::new(
        key(vectors::SERVER_STATIC_PRIV),
        key(vectors::SERVER_EPHEMERAL_PRIV),
        Bytes::from(unhex(vectors::CERT_CHAIN)),
        HandshakeOptions::WHATSAPP,
    )
}

/// Both sides after the full transcript.
fn finished_pair() -> (TransportState, TransportState) {
    let mut client = client();
    client
        .read_server_hello(&unhex(vectors::SERVER_HELLO))
        .unwrap();
    let (finish, client_transport) = client.finish(&unhex(vectors::CLIENT_PAYLOAD)).unwrap();
    let mut server = responder();
    server.read_client_hello(&client_hello_bytes()).unwrap();
    server.server_hello().unwrap();
    let (_, server_transport) = server.read_client_finish(&finish).unwrap();
    (client_transport, server_transport)
}

fn client_hello_bytes() -> Vec<u8> {
    unhex(vectors::CLIENT_HELLO)
}

#[test]
fn transcript_keys_have_the_listed_public_halves() {
    for (private, public) in [
        (
            vectors::CLIENT_EPHEMERAL_PRIV,
            vectors::CLIENT_EPHEMERAL_PUB,
        ),
        (vectors::CLIENT_STATIC_PRIV, vectors::CLIENT_STATIC_PUB),
        (
            vectors::SERVER_EPHEMERAL_PRIV,
            vectors::SERVER_EPHEMERAL_PUB,
        ),
        (vectors::SERVER_STATIC_PRIV, vectors::SERVER_STATIC_PUB),
    ] {
        assert_eq!(hex::encode(key(private).public_key().as_bytes()), public);
    }
    assert_eq!(hex::encode(PROLOGUE), vectors::PROLOGUE);
}

#[test]
fn client_hello_and_first_websocket_message_match() {
    let client = client();
    let hello = client.client_hello();
    assert_eq!(hex::encode(&hello), vectors::CLIENT_HELLO);
    assert_eq!(client.client_hello(), hello, "client_hello is repeatable");
    let mut first_message = PROLOGUE.to_vec();
    first_message.extend_from_slice(&framed(&hello));
    assert_eq!(hex::encode(first_message), vectors::FIRST_WS_MESSAGE);
    assert_eq!(hex::encode(client.handshake_hash()), vectors::TRACE[1].1);
}

#[test]
fn responder_writes_the_transcript_server_hello() {
    let mut server = responder();
    server.read_client_hello(&client_hello_bytes()).unwrap();
    let hello = server.server_hello().unwrap();
    assert_eq!(hex::encode(&hello), vectors::SERVER_HELLO);
    // The fields, as listed separately in §3.4.
    let mut fields = unhex(vectors::SERVER_EPHEMERAL_PUB);
    fields.extend(unhex(vectors::SERVER_HELLO_STATIC));
    fields.extend(unhex(vectors::SERVER_HELLO_PAYLOAD));
    let expected_hello: Vec<u8> = [&[0x1a, 0xd7, 0x02, 0x0a, 0x20][..], &fields[..32]]
        .concat()
        .into_iter()
        .chain([0x12, 0x30])
        .chain(fields[32..80].iter().copied())
        .chain([0x1a, 0x80, 0x02])
        .chain(fields[80..].iter().copied())
        .collect();
    assert_eq!(hello, expected_hello);
    assert_eq!(hex::encode(server.handshake_hash()), vectors::TRACE[8].1);
}

#[test]
fn client_decrypts_the_server_static_and_the_exact_cert_chain() {
    let mut client = client();
    let contents = client
        .read_server_hello(&unhex(vectors::SERVER_HELLO))
        .unwrap();
    assert_eq!(
        hex::encode(contents.server_static),
        vectors::SERVER_STATIC_PUB
    );
    assert_eq!(hex::encode(&contents.cert_chain), vectors::CERT_CHAIN);
    assert_eq!(hex::encode(client.handshake_hash()), vectors::TRACE[8].1);
}

#[test]
fn client_finish_matches_the_transcript() {
    let mut client = client();
    client
        .read_server_hello(&unhex(vectors::SERVER_HELLO))
        .unwrap();
    let (finish, transport) = client.finish(&unhex(vectors::CLIENT_PAYLOAD)).unwrap();
    assert_eq!(hex::encode(&finish), vectors::CLIENT_FINISH);
    let expected = [
        &[0x22, 0x6f, 0x0a, 0x30][..],
        &unhex(vectors::CLIENT_FINISH_STATIC),
        &[0x12, 0x3b],
        &unhex(vectors::CLIENT_FINISH_PAYLOAD),
    ]
    .concat();
    assert_eq!(finish, expected);
    assert_eq!(&framed(&finish)[..3], &[0x00, 0x00, 0x71]);
    assert_eq!(hex::encode(transport.handshake_hash()), vectors::FINAL_H);
}

#[test]
fn responder_reads_the_client_static_and_payload() {
    let mut server = responder();
    server.read_client_hello(&client_hello_bytes()).unwrap();
    server.server_hello().unwrap();
    let (contents, transport) = server
        .read_client_finish(&unhex(vectors::CLIENT_FINISH))
        .unwrap();
    assert_eq!(
        hex::encode(contents.client_static),
        vectors::CLIENT_STATIC_PUB
    );
    assert_eq!(
        hex::encode(&contents.client_payload),
        vectors::CLIENT_PAYLOAD
    );
    assert_eq!(hex::encode(transport.handshake_hash()), vectors::FINAL_H);
}

#[test]
fn first_transport_frames_match_in_both_roles() {
    let (mut client, mut server) = finished_pair();
    let plaintext = unhex(vectors::TRANSPORT_PLAINTEXT);

    for expected in [vectors::FRAME_CLIENT_0, vectors::FRAME_CLIENT_1] {
        let mut ciphertext = Vec::new();
        client.encrypt(&plaintext, &mut ciphertext).unwrap();
        assert_eq!(hex::encode(framed(&ciphertext)), expected);
        assert_eq!(server.decrypt(&ciphertext).unwrap(), plaintext);
    }

    let mut ciphertext = Vec::new();
    server.encrypt(&plaintext, &mut ciphertext).unwrap();
    assert_eq!(hex::encode(framed(&ciphertext)), vectors::FRAME_SERVER_0);
    let mut received = unhex(vectors::FRAME_SERVER_0).split_off(3);
    assert_eq!(client.decrypt_in_place(&mut received).unwrap(), plaintext);
}

/// The split keys are not exposed; both transports must behave exactly like raw AES-256-GCM
/// under the keys of §3.6 (nonce = 8 zero bytes || u32 BE counter, empty associated data).
#[test]
fn transports_use_the_transcript_split_keys() {
    let (mut client, mut server) = finished_pair();
    let write = Aes256Gcm::new_from_slice(&unhex(vectors::CLIENT_WRITE_KEY)).unwrap();
    let read = Aes256Gcm::new_from_slice(&unhex(vectors::CLIENT_READ_KEY)).unwrap();
    for counter in 0u32..5 {
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&counter.to_be_bytes());
        let nonce = Nonce::from(nonce);
        let message = format!("frame {counter}").into_bytes();
        let payload = || Payload {
            msg: &message,
            aad: b"",
        };

        let mut ours = Vec::new();
        client.encrypt(&message, &mut ours).unwrap();
        assert_eq!(ours, write.encrypt(&nonce, payload()).unwrap());
        let mut theirs = Vec::new();
        server.encrypt(&message, &mut theirs).unwrap();
        assert_eq!(theirs, read.encrypt(&nonce, payload()).unwrap());
        assert_eq!(server.decrypt(&ours).unwrap(), message);
        assert_eq!(client.decrypt(&theirs).unwrap(), message);
    }
}
