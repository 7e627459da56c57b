//! Unit tests that need the symmetric-state trace: every intermediate `h`, `ck`, `k` and the
//! split keys of `test-vectors.md` §3.2/§3.6, in both roles.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::symmetric::TraceStep;
use super::{ClientHandshake, HandshakeOptions, KeyPair, ResponderHandshake};

#[allow(dead_code)]
#[path = "../../tests/vectors/noise_transcript.rs"]
mod vectors;

fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn key(hex_str: &str) -> KeyPair {
    KeyPair::from_private_bytes(bytes32(hex_str))
}

/// §3.2 as trace steps (ck and k rows merged), then the split keys of §3.6.
fn expected_trace() -> Vec<TraceStep> {
    let mut steps = Vec::new();
    let mut rows = vectors::TRACE.iter();
    while let Some(&(kind, value)) = rows.next() {
        match kind {
            "h" => steps.push(TraceStep::Hash(bytes32(value))),
            "ck" => {
                let (k_kind, k) = rows.next().unwrap();
                assert_eq!(*k_kind, "k");
                steps.push(TraceStep::Key {
                    ck: bytes32(value),
                    k: bytes32(k),
                });
            }
            other => panic!("unexpected trace row {other}"),
        }
    }
    steps.push(TraceStep::Split {
        k1: bytes32(vectors::CLIENT_WRITE_KEY),
        k2: bytes32(vectors::CLIENT_READ_KEY),
    });
    steps
}

fn transcript_client(options: HandshakeOptions<'_>) -> ClientHandshake {
    ClientHandshake::new(
        key(vectors::CLIENT_STATIC_PRIV),
        key(vectors::CLIENT_EPHEMERAL_PRIV),
        options,
    )
}

fn transcript_responder(options: HandshakeOptions<'_>) -> ResponderHandshake {
    ResponderHandshake::new(
        key(vectors::SERVER_STATIC_PRIV),
        key(vectors::SERVER_EPHEMERAL_PRIV),
        Bytes::from(hex::decode(vectors::CERT_CHAIN).unwrap()),
        options,
    )
}

#[test]
fn client_reaches_every_intermediate_state_of_the_transcript() {
    let mut client = transcript_client(HandshakeOptions::WHATSAPP);
    client
        .read_server_hello(&hex::decode(vectors::SERVER_HELLO).unwrap())
        .unwrap();
    let payload = hex::decode(vectors::CLIENT_PAYLOAD).unwrap();
    let (_, transport) = client.finish(&payload).unwrap();
    assert_eq!(transport.trace, expected_trace());
    assert_eq!(hex::encode(transport.handshake_hash()), vectors::FINAL_H);
}

#[test]
fn responder_reaches_every_intermediate_state_of_the_transcript() {
    let mut server = transcript_responder(HandshakeOptions::WHATSAPP);
    server
        .read_client_hello(&hex::decode(vectors::CLIENT_HELLO).unwrap())
        .unwrap();
    server.server_hello().unwrap();
    let (_, transport) = server
        .read_client_finish(&hex::decode(vectors::CLIENT_FINISH).unwrap())
        .unwrap();
    // The responder computes the same Split; it only uses the keys the other way round.
    assert_eq!(transport.trace, expected_trace());
    let Some(TraceStep::Key { ck, .. }) = transport.trace.iter().rev().nth(2) else {
        panic!("the last MixKey precedes the final MixHash and Split");
    };
    assert_eq!(hex::encode(ck), vectors::FINAL_CK);
}

#[test]
fn spec_mode_adds_exactly_one_mixhash_of_the_empty_payload() {
    let whatsapp = transcript_client(HandshakeOptions::WHATSAPP);
    let spec = transcript_client(HandshakeOptions {
        spec_mode: true,
        ..HandshakeOptions::WHATSAPP
    });
    let after_e = whatsapp.handshake_hash();
    assert_eq!(hex::encode(after_e), vectors::TRACE[1].1);
    let expected: [u8; 32] = Sha256::digest(after_e).into();
    assert_eq!(spec.handshake_hash(), expected);
    assert_eq!(
        whatsapp.symmetric.trace.len() + 1,
        spec.symmetric.trace.len()
    );
}
