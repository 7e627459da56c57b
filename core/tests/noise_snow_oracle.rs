//! `snow` 0.10 as an oracle: with `spec_mode` on, our client and responder produce exactly
//! what textbook `Noise_XX_25519_AESGCM_SHA256` produces (messages, handshake hash, split
//! keys, transport frames) and interoperate with snow in both roles. And the reason the XX
//! state is hand-written at all: snow's standard initiator rejects WhatsApp's ServerHello
//! (`protocol/test-vectors.md` §3.7), because it hashes message 1's empty payload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use bytes::Bytes;
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use tether_core::noise::{
    ClientHandshake, HandshakeError, HandshakeField, HandshakeOptions, KeyPair, PROLOGUE,
    ResponderHandshake, TransportState,
};
use tether_core::proto::handshake::{ClientFinish, HandshakeMessage, ServerHello};

#[allow(dead_code)]
#[path = "vectors/noise_transcript.rs"]
mod vectors;

const PARAMS: &str = "Noise_XX_25519_AESGCM_SHA256";
const SEEDS: u64 = 64;
const FRAMES_PER_DIRECTION: usize = 8;

const SPEC: HandshakeOptions<'static> = HandshakeOptions {
    spec_mode: true,
    ..HandshakeOptions::WHATSAPP
};

/// Everything one run needs, drawn from a seed.
struct Inputs {
    client_static: [u8; 32],
    client_ephemeral: [u8; 32],
    server_static: [u8; 32],
    server_ephemeral: [u8; 32],
    cert_chain: Vec<u8>,
    client_payload: Vec<u8>,
    frames: Vec<Vec<u8>>,
    rng: ChaCha20Rng,
}

fn random_bytes(rng: &mut ChaCha20Rng, max_len: usize) -> Vec<u8> {
    let len = usize::try_from(rng.next_u32()).unwrap() % (max_len + 1);
    let mut bytes = vec![0; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

fn inputs(seed: u64) -> Inputs {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut key = || {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        k
    };
    let (client_static, client_ephemeral, server_static, server_ephemeral) =
        (key(), key(), key(), key());
    let cert_chain = random_bytes(&mut rng, 600);
    let client_payload = random_bytes(&mut rng, 600);
    let frames = (0..2 * FRAMES_PER_DIRECTION)
        .map(|_| random_bytes(&mut rng, 300))
        .collect();
    Inputs {
        client_static,
        client_ephemeral,
        server_static,
        server_ephemeral,
        cert_chain,
        client_payload,
        frames,
        rng,
    }
}

fn snow_initiator(static_key: &[u8; 32], ephemeral: &[u8; 32]) -> snow::HandshakeState {
    snow::Builder::new(PARAMS.parse().unwrap())
        .local_private_key(static_key)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(ephemeral)
        .prologue(&PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap()
}

fn snow_responder(static_key: &[u8; 32], ephemeral: &[u8; 32]) -> snow::HandshakeState {
    snow::Builder::new(PARAMS.parse().unwrap())
        .local_private_key(static_key)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(ephemeral)
        .prologue(&PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap()
}

fn snow_write(state: &mut snow::HandshakeState, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    let len = state.write_message(payload, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn snow_read(state: &mut snow::HandshakeState, message: &[u8]) -> Result<Vec<u8>, snow::Error> {
    let mut buf = vec![0u8; 65535];
    let len = state.read_message(message, &mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

/// The Noise message body inside a ClientHello: `e`.
fn client_hello_body(message: &[u8]) -> Vec<u8> {
    let hello = HandshakeMessage::decode(message)
        .unwrap()
        .client_hello
        .unwrap();
    hello.ephemeral.unwrap().to_vec()
}

/// The Noise message body inside a ServerHello: `e || enc(s) || enc(payload)`.
fn server_hello_body(message: &[u8]) -> Vec<u8> {
    let hello = HandshakeMessage::decode(message)
        .unwrap()
        .server_hello
        .unwrap();
    [
        hello.ephemeral.unwrap(),
        hello.r#static.unwrap(),
        hello.payload.unwrap(),
    ]
    .concat()
}

/// The Noise message body inside a ClientFinish: `enc(s) || enc(payload)`.
fn client_finish_body(message: &[u8]) -> Vec<u8> {
    let finish = HandshakeMessage::decode(message)
        .unwrap()
        .client_finish
        .unwrap();
    [finish.r#static.unwrap(), finish.payload.unwrap()].concat()
}

fn wrap_client_hello(body: &[u8]) -> Vec<u8> {
    HandshakeMessage {
        client_hello: Some(tether_core::proto::handshake::ClientHello {
            ephemeral: Some(Bytes::copy_from_slice(body)),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn wrap_server_hello(body: &[u8]) -> Vec<u8> {
    HandshakeMessage {
        server_hello: Some(ServerHello {
            ephemeral: Some(Bytes::copy_from_slice(&body[..32])),
            r#static: Some(Bytes::copy_from_slice(&body[32..80])),
            payload: Some(Bytes::copy_from_slice(&body[80..])),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn wrap_client_finish(body: &[u8]) -> Vec<u8> {
    HandshakeMessage {
        client_finish: Some(ClientFinish {
            r#static: Some(Bytes::copy_from_slice(&body[..48])),
            payload: Some(Bytes::copy_from_slice(&body[48..])),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn our_client(inputs: &Inputs, options: HandshakeOptions<'_>) -> ClientHandshake {
    ClientHandshake::new(
        KeyPair::from_private_bytes(inputs.client_static),
        KeyPair::from_private_bytes(inputs.client_ephemeral),
        options,
    )
}

fn our_responder(inputs: &Inputs, options: HandshakeOptions<'_>) -> ResponderHandshake {
    ResponderHandshake::new(
        KeyPair::from_private_bytes(inputs.server_static),
        KeyPair::from_private_bytes(inputs.server_ephemeral),
        Bytes::from(inputs.cert_chain.clone()),
        options,
    )
}

fn our_encrypt(transport: &mut TransportState, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    transport.encrypt(plaintext, &mut out).unwrap();
    out
}

fn snow_encrypt(transport: &mut snow::TransportState, plaintext: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; plaintext.len() + 16];
    let len = transport.write_message(plaintext, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn snow_decrypt(transport: &mut snow::TransportState, ciphertext: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; ciphertext.len()];
    let len = transport.read_message(ciphertext, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn nonce(counter: u32) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut nonce = [0u8; 12];
    nonce[8..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(nonce)
}

#[test]
fn spec_mode_reproduces_snow_byte_for_byte() {
    for seed in 0..SEEDS {
        let inputs = inputs(seed);

        // snow talking to itself.
        let mut snow_client = snow_initiator(&inputs.client_static, &inputs.client_ephemeral);
        let mut snow_server = snow_responder(&inputs.server_static, &inputs.server_ephemeral);
        let m1 = snow_write(&mut snow_client, &[]);
        snow_read(&mut snow_server, &m1).unwrap();
        let m2 = snow_write(&mut snow_server, &inputs.cert_chain);
        snow_read(&mut snow_client, &m2).unwrap();
        let m3 = snow_write(&mut snow_client, &inputs.client_payload);
        snow_read(&mut snow_server, &m3).unwrap();
        let snow_hash = snow_client.get_handshake_hash().to_vec();
        let (k1, k2) = snow_client.dangerously_get_raw_split();
        let mut snow_client = snow_client.into_transport_mode().unwrap();
        let mut snow_server = snow_server.into_transport_mode().unwrap();

        // Our two roles talking to each other.
        let client = our_client(&inputs, SPEC);
        let mut server = our_responder(&inputs, SPEC);
        let hello = client.client_hello();
        server.read_client_hello(&hello).unwrap();
        let server_hello = server.server_hello().unwrap();
        let mut client = client;
        client.read_server_hello(&server_hello).unwrap();
        let (finish, mut client_transport) = client.finish(&inputs.client_payload).unwrap();
        let (_, mut server_transport) = server.read_client_finish(&finish).unwrap();

        assert_eq!(client_hello_body(&hello), m1, "seed {seed}: message 1");
        assert_eq!(
            server_hello_body(&server_hello),
            m2,
            "seed {seed}: message 2"
        );
        assert_eq!(client_finish_body(&finish), m3, "seed {seed}: message 3");
        assert_eq!(
            &client_transport.handshake_hash()[..],
            &snow_hash[..],
            "seed {seed}: h"
        );
        assert_eq!(
            server_transport.handshake_hash(),
            client_transport.handshake_hash()
        );

        let raw_write = Aes256Gcm::new(&k1.into());
        let raw_read = Aes256Gcm::new(&k2.into());
        let (to_server, to_client) = inputs.frames.split_at(FRAMES_PER_DIRECTION);
        for (counter, (up, down)) in (0u32..).zip(to_server.iter().zip(to_client)) {
            let ours = our_encrypt(&mut client_transport, up);
            assert_eq!(
                ours,
                snow_encrypt(&mut snow_client, up),
                "seed {seed}: client frame"
            );
            assert_eq!(ours, raw_write.encrypt(&nonce(counter), &up[..]).unwrap());
            assert_eq!(server_transport.decrypt(&ours).unwrap(), *up);
            assert_eq!(snow_decrypt(&mut snow_server, &ours), *up);

            let ours = our_encrypt(&mut server_transport, down);
            assert_eq!(
                ours,
                snow_encrypt(&mut snow_server, down),
                "seed {seed}: server frame"
            );
            assert_eq!(ours, raw_read.encrypt(&nonce(counter), &down[..]).unwrap());
            assert_eq!(client_transport.decrypt(&ours).unwrap(), *down);
            assert_eq!(snow_decrypt(&mut snow_client, &ours), *down);
        }
    }
}

#[test]
fn spec_mode_client_interoperates_with_snow_responder() {
    for seed in 0..SEEDS {
        let mut inputs = inputs(seed);
        let mut snow_server = snow_responder(&inputs.server_static, &inputs.server_ephemeral);
        let mut client = our_client(&inputs, SPEC);

        let payload = snow_read(&mut snow_server, &client_hello_body(&client.client_hello()));
        assert_eq!(payload.unwrap(), b"");
        let m2 = snow_write(&mut snow_server, &inputs.cert_chain);
        let contents = client.read_server_hello(&wrap_server_hello(&m2)).unwrap();
        let server_public = KeyPair::from_private_bytes(inputs.server_static);
        assert_eq!(
            &contents.server_static,
            server_public.public_key().as_bytes()
        );
        assert_eq!(contents.cert_chain, inputs.cert_chain);

        let (finish, mut transport) = client.finish(&inputs.client_payload).unwrap();
        let payload = snow_read(&mut snow_server, &client_finish_body(&finish)).unwrap();
        assert_eq!(payload, inputs.client_payload);
        let client_public = KeyPair::from_private_bytes(inputs.client_static);
        assert_eq!(
            snow_server.get_remote_static().unwrap(),
            client_public.public_key().as_bytes()
        );
        assert_eq!(snow_server.get_handshake_hash(), transport.handshake_hash());

        let mut snow_server = snow_server.into_transport_mode().unwrap();
        let frame = random_bytes(&mut inputs.rng, 200);
        assert_eq!(
            snow_decrypt(&mut snow_server, &our_encrypt(&mut transport, &frame)),
            frame
        );
        let reply = snow_encrypt(&mut snow_server, &frame);
        assert_eq!(transport.decrypt(&reply).unwrap(), frame);
    }
}

#[test]
fn snow_initiator_interoperates_with_spec_mode_responder() {
    for seed in 0..SEEDS {
        let mut inputs = inputs(seed);
        let mut snow_client = snow_initiator(&inputs.client_static, &inputs.client_ephemeral);
        let mut server = our_responder(&inputs, SPEC);

        server
            .read_client_hello(&wrap_client_hello(&snow_write(&mut snow_client, &[])))
            .unwrap();
        let cert_chain = snow_read(
            &mut snow_client,
            &server_hello_body(&server.server_hello().unwrap()),
        );
        assert_eq!(cert_chain.unwrap(), inputs.cert_chain);
        let m3 = snow_write(&mut snow_client, &inputs.client_payload);
        let (contents, mut transport) =
            server.read_client_finish(&wrap_client_finish(&m3)).unwrap();
        let client_public = KeyPair::from_private_bytes(inputs.client_static);
        assert_eq!(
            &contents.client_static,
            client_public.public_key().as_bytes()
        );
        assert_eq!(contents.client_payload, inputs.client_payload);
        assert_eq!(snow_client.get_handshake_hash(), transport.handshake_hash());

        let mut snow_client = snow_client.into_transport_mode().unwrap();
        let frame = random_bytes(&mut inputs.rng, 200);
        assert_eq!(
            transport
                .decrypt(&snow_encrypt(&mut snow_client, &frame))
                .unwrap(),
            frame
        );
        assert_eq!(
            snow_decrypt(&mut snow_client, &our_encrypt(&mut transport, &frame)),
            frame
        );
    }
}

/// §3.7: why the XX state is hand-written. snow hashes message 1's empty payload; WhatsApp
/// does not, so every AEAD associated-data value from message 2 on differs.
#[test]
fn snow_initiator_rejects_the_whatsapp_server_hello() {
    let unhex32 = |s: &str| -> [u8; 32] { hex::decode(s).unwrap().try_into().unwrap() };
    let client_static = unhex32(vectors::CLIENT_STATIC_PRIV);
    let client_ephemeral = unhex32(vectors::CLIENT_EPHEMERAL_PRIV);
    let server_hello = hex::decode(vectors::SERVER_HELLO).unwrap();

    let mut snow_client = snow_initiator(&client_static, &client_ephemeral);
    let m1 = snow_write(&mut snow_client, &[]);
    assert_eq!(
        hex::encode(&m1),
        vectors::CLIENT_EPHEMERAL_PUB,
        "message 1 is just e"
    );
    let result = snow_read(&mut snow_client, &server_hello_body(&server_hello));
    assert!(matches!(result, Err(snow::Error::Decrypt)), "{result:?}");

    let spec_client = || {
        ClientHandshake::new(
            KeyPair::from_private_bytes(client_static),
            KeyPair::from_private_bytes(client_ephemeral),
            SPEC,
        )
    };
    assert_eq!(
        spec_client().read_server_hello(&server_hello),
        Err(HandshakeError::DecryptFailed(HandshakeField::ServerStatic)),
        "our spec mode fails at the same step"
    );
    let mut whatsapp_client = ClientHandshake::new(
        KeyPair::from_private_bytes(client_static),
        KeyPair::from_private_bytes(client_ephemeral),
        HandshakeOptions::WHATSAPP,
    );
    assert!(whatsapp_client.read_server_hello(&server_hello).is_ok());
}

/// The converse: a WhatsApp-mode responder is just as incompatible with snow's initiator.
#[test]
fn whatsapp_mode_responder_is_rejected_by_snow() {
    let inputs = inputs(7);
    let mut snow_client = snow_initiator(&inputs.client_static, &inputs.client_ephemeral);
    let mut server = our_responder(&inputs, HandshakeOptions::WHATSAPP);
    server
        .read_client_hello(&wrap_client_hello(&snow_write(&mut snow_client, &[])))
        .unwrap();
    let body = server_hello_body(&server.server_hello().unwrap());
    assert!(matches!(
        snow_read(&mut snow_client, &body),
        Err(snow::Error::Decrypt)
    ));
}
