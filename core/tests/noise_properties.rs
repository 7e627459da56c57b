//! Property tests of the handshake and transport: random keys always agree, random frames
//! round-trip in both directions, and tampered, truncated or oversized handshake messages
//! fail with typed errors (never a panic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::Index;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::noise::{
    ClientHandshake, HandshakeError, HandshakeOptions, KeyPair, MAX_HANDSHAKE_MESSAGE_LEN,
    ResponderHandshake,
};

/// A client and a responder with keys drawn from `seed`.
fn pair(seed: [u8; 32], cert_chain: Vec<u8>) -> (ClientHandshake, ResponderHandshake) {
    let mut rng = ChaCha20Rng::from_seed(seed);
    let client = ClientHandshake::new(
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        HandshakeOptions::WHATSAPP,
    );
    let server = ResponderHandshake::new(
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        Bytes::from(cert_chain),
        HandshakeOptions::WHATSAPP,
    );
    (client, server)
}

/// Runs messages 1 and 2; returns the ServerHello bytes.
fn up_to_server_hello(client: &ClientHandshake, server: &mut ResponderHandshake) -> Vec<u8> {
    server.read_client_hello(&client.client_hello()).unwrap();
    server.server_hello().unwrap()
}

/// Errors a bad peer message may cause (not misuse, not our own oversized output).
fn is_peer_fault(error: &HandshakeError) -> bool {
    matches!(
        error,
        HandshakeError::Malformed(_)
            | HandshakeError::Missing(_)
            | HandshakeError::WrongLength { .. }
            | HandshakeError::DecryptFailed(_)
            | HandshakeError::LowOrderKey(_)
    )
}

fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_pairs_agree_and_exchange_a_hundred_frames_each_way(
        seed in any::<[u8; 32]>(),
        cert_chain in prop::collection::vec(any::<u8>(), 0..600),
        client_payload in prop::collection::vec(any::<u8>(), 0..600),
        frames in prop::collection::vec((frame_strategy(), frame_strategy()), 100),
    ) {
        let (mut client, mut server) = pair(seed, cert_chain.clone());
        let server_hello = up_to_server_hello(&client, &mut server);
        let contents = client.read_server_hello(&server_hello).unwrap();
        prop_assert_eq!(&contents.cert_chain[..], &cert_chain[..]);
        let (finish, mut client_transport) = client.finish(&client_payload).unwrap();
        let (received, mut server_transport) = server.read_client_finish(&finish).unwrap();
        prop_assert_eq!(&received.client_payload[..], &client_payload[..]);
        prop_assert_eq!(client_transport.handshake_hash(), server_transport.handshake_hash());

        let mut wire = Vec::new();
        let mut plaintext = Vec::new();
        for (up, down) in &frames {
            wire.clear();
            client_transport.encrypt(up, &mut wire).unwrap();
            prop_assert_eq!(wire.len(), up.len() + 16);
            plaintext.clear();
            server_transport.decrypt_into(&wire, &mut plaintext).unwrap();
            prop_assert_eq!(&plaintext, up);

            wire.clear();
            server_transport.encrypt(down, &mut wire).unwrap();
            prop_assert_eq!(client_transport.decrypt_in_place(&mut wire).unwrap(), &down[..]);
        }
    }
}

proptest! {
    #[test]
    fn tampered_server_hello_fails_with_a_typed_error(
        seed in any::<[u8; 32]>(),
        cert_chain in prop::collection::vec(any::<u8>(), 0..200),
        index in any::<Index>(),
        mask in 1u8..,
    ) {
        let (mut client, mut server) = pair(seed, cert_chain);
        let mut server_hello = up_to_server_hello(&client, &mut server);
        let i = index.index(server_hello.len());
        server_hello[i] ^= mask;
        let error = client.read_server_hello(&server_hello).unwrap_err();
        prop_assert!(is_peer_fault(&error), "byte {}: {:?}", i, error);
        prop_assert!(matches!(
            client.read_server_hello(&server_hello),
            Err(HandshakeError::WrongState(_))
        ));
    }

    #[test]
    fn tampered_client_finish_fails_with_a_typed_error(
        seed in any::<[u8; 32]>(),
        client_payload in prop::collection::vec(any::<u8>(), 0..200),
        index in any::<Index>(),
        mask in 1u8..,
    ) {
        let (mut client, mut server) = pair(seed, b"certs".to_vec());
        let server_hello = up_to_server_hello(&client, &mut server);
        client.read_server_hello(&server_hello).unwrap();
        let (mut finish, _) = client.finish(&client_payload).unwrap();
        let i = index.index(finish.len());
        finish[i] ^= mask;
        let error = server.read_client_finish(&finish).unwrap_err();
        prop_assert!(is_peer_fault(&error), "byte {}: {:?}", i, error);
    }

    #[test]
    fn tampered_client_hello_never_panics(
        seed in any::<[u8; 32]>(),
        index in any::<Index>(),
        mask in 1u8..,
    ) {
        let (client, mut server) = pair(seed, Vec::new());
        let mut hello = client.client_hello();
        let i = index.index(hello.len());
        hello[i] ^= mask;
        // Changing a key byte gives another valid key; anything else is a typed error.
        if let Err(error) = server.read_client_hello(&hello) {
            prop_assert!(is_peer_fault(&error), "byte {}: {:?}", i, error);
        }
    }

    #[test]
    fn truncated_handshake_messages_are_malformed_or_incomplete(
        seed in any::<[u8; 32]>(),
        cert_chain in prop::collection::vec(any::<u8>(), 0..200),
        cut in any::<Index>(),
    ) {
        let (mut client, mut server) = pair(seed, cert_chain);
        let hello = client.client_hello();
        let server_hello = up_to_server_hello(&client, &mut server);
        let truncated_or_missing = |e: &HandshakeError| {
            matches!(e, HandshakeError::Malformed(_) | HandshakeError::Missing(_))
        };

        let (_, mut fresh_server) = pair(seed, Vec::new());
        let short_hello = &hello[..cut.index(hello.len())];
        let error = fresh_server.read_client_hello(short_hello).unwrap_err();
        prop_assert!(truncated_or_missing(&error), "{:?}", error);

        let short_server_hello = &server_hello[..cut.index(server_hello.len())];
        let (mut fresh_client, _) = pair(seed, Vec::new());
        let error = fresh_client.read_server_hello(short_server_hello).unwrap_err();
        prop_assert!(truncated_or_missing(&error), "{:?}", error);

        client.read_server_hello(&server_hello).unwrap();
        let (finish, _) = client.finish(b"payload").unwrap();
        let short_finish = &finish[..cut.index(finish.len())];
        let error = server.read_client_finish(short_finish).unwrap_err();
        prop_assert!(truncated_or_missing(&error), "{:?}", error);
    }

    #[test]
    fn oversized_handshake_messages_are_refused_before_parsing(
        seed in any::<[u8; 32]>(),
        extra in 1usize..4096,
        fill in any::<u8>(),
    ) {
        let len = MAX_HANDSHAKE_MESSAGE_LEN + extra;
        let message = vec![fill; len];
        let oversized = HandshakeError::Oversized { len, max: MAX_HANDSHAKE_MESSAGE_LEN };

        let (mut client, mut server) = pair(seed, Vec::new());
        prop_assert_eq!(server.read_client_hello(&message), Err(oversized.clone()));
        prop_assert_eq!(client.read_server_hello(&message), Err(oversized.clone()));

        let (client, mut server) = pair(seed, Vec::new());
        up_to_server_hello(&client, &mut server);
        prop_assert_eq!(server.read_client_finish(&message).unwrap_err(), oversized);
    }
}
