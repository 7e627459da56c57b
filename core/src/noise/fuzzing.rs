//! Fuzzing entry points for the handshake (private feature `__fuzzing`; never enable it in a
//! build that talks to a real server).
//!
//! Random bytes almost never pass an AES-GCM tag, so a fuzzer driving the real handshake
//! would only ever exercise the parser. Here the handshake and transport can be built with a
//! **null cipher** instead (the idea of rustls' fuzzing crypto provider): sealing appends 16
//! zero bytes, opening strips 16 bytes without checking them. Everything else — protobuf
//! parsing, length checks, X25519, hashing, key schedule, state machine, counters — is the
//! production code.
//!
//! The entry points panic only when a property is violated, never on malformed input.

use bytes::Bytes;

use super::cipher::{CipherSuite, TAG_LEN};
use super::{
    ClientHandshake, HandshakeError, HandshakeOptions, KeyPair, ResponderHandshake, TransportError,
    TransportState,
};
use crate::proto::handshake::HandshakeMessage;

/// A client handshake whose AEAD is the null cipher; its transport uses it too.
#[must_use]
pub fn null_cipher_client(
    static_keypair: KeyPair,
    ephemeral: KeyPair,
    options: HandshakeOptions<'_>,
) -> ClientHandshake {
    ClientHandshake::with_suite(static_keypair, ephemeral, options, CipherSuite::Null)
}

/// A responder handshake whose AEAD is the null cipher; its transport uses it too.
#[must_use]
pub fn null_cipher_responder(
    static_keypair: KeyPair,
    ephemeral: KeyPair,
    cert_chain: Bytes,
    options: HandshakeOptions<'_>,
) -> ResponderHandshake {
    ResponderHandshake::with_suite(
        static_keypair,
        ephemeral,
        cert_chain,
        options,
        CipherSuite::Null,
    )
}

/// `HandshakeMessage` parser: bytes → message; a parsed message re-encodes to bytes that
/// parse back to the same message.
pub fn fuzz_handshake_message(data: &[u8]) {
    use prost::Message;
    let Ok(message) = HandshakeMessage::parse(data) else {
        return;
    };
    let encoded = message.encode_to_vec();
    let again = HandshakeMessage::decode(encoded.as_slice());
    assert_eq!(again.as_ref(), Ok(&message), "re-encoded message differs");
}

/// Client handshake with the null cipher, driven by server messages taken from `data`.
///
/// Layout: `mode` byte (bit 0: spec mode), then chunks of `u16 BE length || bytes` (the last
/// chunk may be short): the first chunk is the ServerHello, every further chunk an inbound
/// transport frame. Properties: no panic; what the client decrypts is exactly the
/// ciphertext minus the (unchecked) tag; the ClientFinish it writes parses back.
pub fn fuzz_client_handshake(data: &[u8]) {
    let _ = drive_client(data);
}

/// How far [`fuzz_client_handshake`] got (for tests that check the seed reaches the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    Start,
    ServerHelloRead,
    Transport { frames_decrypted: usize },
}

fn drive_client(data: &[u8]) -> Reached {
    let Some((&mode, mut rest)) = data.split_first() else {
        return Reached::Start;
    };
    let options = HandshakeOptions {
        spec_mode: mode & 1 != 0,
        ..HandshakeOptions::WHATSAPP
    };
    let mut client = null_cipher_client(client_static(), client_ephemeral(), options);
    let _ = client.client_hello();
    let server_hello = next_chunk(&mut rest);
    let Ok(contents) = client.read_server_hello(server_hello) else {
        return Reached::Start;
    };
    check_server_hello(server_hello, &contents.server_static, &contents.cert_chain);
    // The certificate chain parser sits right behind the AEAD: hostile bytes reach it too.
    let _ = crate::cert::verify_chain(
        &contents.cert_chain,
        &contents.server_static,
        u64::from(mode) << 24,
        &[contents.server_static],
    );
    let Ok((finish, mut transport)) = client.finish(FUZZ_CLIENT_PAYLOAD) else {
        return Reached::ServerHelloRead;
    };
    check_client_finish(&finish);
    let mut frames_decrypted = 0;
    let mut in_place = false;
    while !rest.is_empty() {
        let frame = next_chunk(&mut rest);
        if check_transport_frame(&mut transport, frame, in_place) {
            frames_decrypted += 1;
        }
        in_place = !in_place;
    }
    Reached::Transport { frames_decrypted }
}

/// The ClientPayload the fuzzed client sends.
const FUZZ_CLIENT_PAYLOAD: &[u8] = b"fuzz client payload";

fn client_static() -> KeyPair {
    KeyPair::from_private_bytes([0x11; 32])
}

fn client_ephemeral() -> KeyPair {
    KeyPair::from_private_bytes([0x22; 32])
}

/// Takes one `u16 BE length || bytes` chunk (shorter if the input ends early).
fn next_chunk<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let (len, body) = match rest {
        [hi, lo, body @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), body),
        _ => (0, &[][..]),
    };
    let (chunk, tail) = body.split_at(len.min(body.len()));
    *rest = tail;
    chunk
}

/// With the null cipher the plaintexts are the ciphertexts minus 16 bytes.
fn check_server_hello(message: &[u8], server_static: &[u8; 32], cert_chain: &[u8]) {
    let hello = HandshakeMessage::parse(message)
        .ok()
        .and_then(|m| m.server_hello);
    let hello = hello.as_ref();
    let static_ct = hello
        .and_then(|h| h.r#static.as_deref())
        .unwrap_or_default();
    let payload_ct = hello.and_then(|h| h.payload.as_deref()).unwrap_or_default();
    assert_eq!(
        static_ct.get(..32),
        Some(&server_static[..]),
        "server static"
    );
    assert_eq!(
        payload_ct.get(..payload_ct.len().saturating_sub(TAG_LEN)),
        Some(cert_chain),
        "certificate chain"
    );
}

fn check_client_finish(message: &[u8]) {
    let finish = HandshakeMessage::parse(message)
        .ok()
        .and_then(|m| m.client_finish);
    let static_ct = finish.as_ref().and_then(|f| f.r#static.as_deref());
    assert_eq!(
        static_ct.and_then(|s| s.get(..32)),
        Some(&client_static().public_key().as_bytes()[..]),
        "client finish does not carry the client static key"
    );
}

/// Decrypts one frame (copying or in place); returns whether it decrypted.
fn check_transport_frame(transport: &mut TransportState, frame: &[u8], in_place: bool) -> bool {
    let mut buffer = frame.to_vec();
    let result = if in_place {
        transport
            .decrypt_in_place(&mut buffer)
            .map(|plaintext| plaintext.to_vec())
    } else {
        transport.decrypt(frame)
    };
    match result {
        Ok(plaintext) => {
            let expected = frame.get(..frame.len().saturating_sub(TAG_LEN));
            assert_eq!(Some(&plaintext[..]), expected, "null-cipher plaintext");
            true
        }
        Err(TransportError::EmptyFrame) => {
            assert!(frame.is_empty(), "only an empty frame is EmptyFrame");
            false
        }
        Err(_) => {
            assert!(
                frame.len() < TAG_LEN,
                "the null cipher opens any frame with a tag"
            );
            false
        }
    }
}

/// A well-formed input for [`fuzz_client_handshake`] that reaches the transport phase and
/// decrypts two frames: a starting point for the corpus.
///
/// # Errors
/// Only if the handshake itself is broken.
pub fn client_handshake_seed() -> Result<Vec<u8>, HandshakeError> {
    let options = HandshakeOptions::WHATSAPP;
    let mut client = null_cipher_client(client_static(), client_ephemeral(), options);
    let mut server = null_cipher_responder(
        KeyPair::from_private_bytes([0x33; 32]),
        KeyPair::from_private_bytes([0x44; 32]),
        Bytes::from_static(b"cert chain bytes"),
        options,
    );
    server.read_client_hello(&client.client_hello())?;
    let server_hello = server.server_hello()?;
    client.read_server_hello(&server_hello)?;
    let (finish, _) = client.finish(FUZZ_CLIENT_PAYLOAD)?;
    let (_, mut transport) = server.read_client_finish(&finish)?;
    let mut seed = vec![0u8];
    push_chunk(&mut seed, &server_hello);
    for plaintext in [&b"\x00first frame"[..], b"\x00second"] {
        let mut frame = Vec::new();
        // The null cipher cannot fail and a fresh transport has all its nonces.
        if transport.encrypt(plaintext, &mut frame).is_ok() {
            push_chunk(&mut seed, &frame);
        }
    }
    Ok(seed)
}

fn push_chunk(out: &mut Vec<u8>, chunk: &[u8]) {
    let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(chunk.get(..usize::from(len)).unwrap_or(chunk));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_reaches_the_transport_phase() {
        let seed = client_handshake_seed().unwrap();
        assert_eq!(
            drive_client(&seed),
            Reached::Transport {
                frames_decrypted: 2
            }
        );
    }

    #[test]
    fn every_truncation_of_the_seed_is_handled() {
        let seed = client_handshake_seed().unwrap();
        for len in 0..seed.len() {
            fuzz_client_handshake(&seed[..len]);
        }
        let mut spec = seed;
        spec[0] = 1;
        fuzz_client_handshake(&spec);
    }

    #[test]
    fn every_single_byte_change_of_the_seed_is_handled() {
        let seed = client_handshake_seed().unwrap();
        for i in 0..seed.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut input = seed.clone();
                input[i] ^= mask;
                fuzz_client_handshake(&input);
                fuzz_handshake_message(&input[3..]);
            }
        }
    }

    #[test]
    fn handshake_message_round_trips() {
        let seed = client_handshake_seed().unwrap();
        let len = usize::from(u16::from_be_bytes([seed[1], seed[2]]));
        fuzz_handshake_message(&seed[3..3 + len]);
        fuzz_handshake_message(&[]);
        fuzz_handshake_message(&[0x1a, 0x05]);
    }
}
