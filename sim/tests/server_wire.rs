//! The fake server on the wire, driven by hand with the core's client handshake: the intro's
//! dictionary byte picks the token tables (v2 for old clients such as npm Baileys), the chain
//! verifies under the server's own root, and verdicts follow the device registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use bytes::Bytes;
use tether_core::binary::{self, Jid, Node, Server, TokenDict};
use tether_core::cert;
use tether_core::crypto::KeyPair;
use tether_core::frame::{self, FrameDecoder};
use tether_core::noise::{ClientHandshake, HandshakeOptions, TransportState};
use tether_core::payload::{self, LoginParams};
use tether_sim::{ConnId, Device, FakeServer, ServerConfig};

/// Runs a handshake and a login for `username:device` with dictionary `version`; returns the
/// server's first stanza bytes (decrypted, still encoded) and the client transport.
fn login(server: &mut FakeServer, version: u8, noise: &KeyPair) -> (Bytes, TransportState) {
    let (plain, transport, _) = login_on(server, ConnId(1), version, noise);
    (plain, transport)
}

/// Server output for other connections, set aside while logging in on one.
type Others = Vec<(ConnId, Bytes)>;

fn login_on(
    server: &mut FakeServer,
    id: ConnId,
    version: u8,
    noise: &KeyPair,
) -> (Bytes, TransportState, Others) {
    let now = Instant::now();
    server.handle_open(id, now);
    let prologue = [b'W', b'A', frame::INTRO_MAGIC, version];
    let options = HandshakeOptions {
        prologue: &prologue,
        spec_mode: false,
    };
    let mut handshake =
        ClientHandshake::new(noise.clone(), KeyPair::from_private_bytes([2; 32]), options);
    let mut first = Vec::new();
    frame::write_intro(&mut first, None, version).unwrap();
    frame::write_frame(&mut first, &handshake.client_hello()).unwrap();
    server.handle_bytes(id, &first, now);
    assert_eq!(server.dict_version(id), Some(version));

    let mut decoder = FrameDecoder::new(frame::MAX_FRAME_LEN);
    let (_, hello) = server.poll_transmit().expect("server hello");
    decoder.push(&hello);
    let hello = decoder.next_frame().unwrap().unwrap();
    let contents = handshake.read_server_hello(&hello).unwrap();
    cert::verify_chain(
        &contents.cert_chain,
        &contents.server_static,
        server.unix_at(now),
        &[server.root_public()],
    )
    .expect("the chain verifies under the server's own root");
    let login = payload::login_payload(&LoginParams::new(15_551_234_567, 3));
    let (finish, mut transport) = handshake.finish(&login).unwrap();
    let mut framed = Vec::new();
    frame::write_frame(&mut framed, &finish).unwrap();
    server.handle_bytes(id, &framed, now);
    let (mine, others): (Others, Others) =
        std::iter::from_fn(|| server.poll_transmit()).partition(|(to, _)| *to == id);
    decoder.push(&mine.first().expect("a verdict").1);
    let sealed = decoder.next_frame().unwrap().unwrap();
    let plain = transport.decrypt(&sealed).unwrap();
    (Bytes::from(plain), transport, others)
}

#[test]
fn version_2_intro_gets_version_2_tables() {
    let mut server = FakeServer::new(ServerConfig::default(), Instant::now());
    let (plain, _) = login(&mut server, 2, &KeyPair::from_private_bytes([1; 32]));
    let node = binary::decode_plaintext(plain.clone(), TokenDict::v2()).unwrap();
    assert_eq!(node.tag, "failure");
    assert_eq!(node.attr_str("reason"), Some("401"), "unknown device");
    // The same bytes read with the v3 tables are not that stanza.
    let as_v3 = binary::decode_plaintext(plain, TokenDict::v3());
    assert!(as_v3.is_err() || as_v3.unwrap() != node);
}

#[test]
fn known_device_gets_success_with_server_time_and_lid() {
    let now = Instant::now();
    let mut server = FakeServer::new(ServerConfig::default(), now);
    let noise = KeyPair::from_private_bytes([1; 32]);
    let lid = Jid::device("100000000000001", 3, Server::Lid);
    server.register_device(
        noise.public_bytes(),
        Device {
            jid: Jid::device("15551234567", 3, Server::WhatsApp),
            lid: Some(lid.clone()),
        },
    );
    let (plain, _) = login(&mut server, 3, &noise);
    let node: Node = binary::decode_plaintext(plain, TokenDict::v3()).unwrap();
    assert_eq!(node.tag, "success", "{node}");
    let t: u64 = node.attr_str("t").unwrap().parse().unwrap();
    assert_eq!(t, server.unix_at(now));
    assert_eq!(node.get_attr("lid").and_then(|v| v.as_jid()), Some(&lid));
    let login = &server.logins()[0];
    assert_eq!(login.username, Some(15_551_234_567));
    assert!(!login.registration);
}

#[test]
fn wrong_device_number_is_refused() {
    let mut server = FakeServer::new(ServerConfig::default(), Instant::now());
    let noise = KeyPair::from_private_bytes([1; 32]);
    server.register_device(
        noise.public_bytes(),
        Device {
            jid: Jid::device("15551234567", 4, Server::WhatsApp),
            lid: None,
        },
    );
    let (plain, _) = login(&mut server, 3, &noise);
    let node = binary::decode_plaintext(plain, TokenDict::v3()).unwrap();
    assert_eq!(node.attr_str("reason"), Some("401"));
    assert_eq!(server.poll_close(), Some(ConnId(1)));
}

#[test]
fn second_login_of_a_device_replaces_the_first() {
    let mut server = FakeServer::new(ServerConfig::default(), Instant::now());
    let noise = KeyPair::from_private_bytes([1; 32]);
    server.register_device(
        noise.public_bytes(),
        Device {
            jid: Jid::device("15551234567", 3, Server::WhatsApp),
            lid: None,
        },
    );
    let (_, mut first, _) = login_on(&mut server, ConnId(1), 3, &noise);
    let (plain, _, others) = login_on(&mut server, ConnId(2), 3, &noise);
    let node = binary::decode_plaintext(plain, TokenDict::v3()).unwrap();
    assert_eq!(node.tag, "success");
    // The first connection was told it was replaced, then closed.
    let [(to, kicked)] = others.as_slice() else {
        panic!("expected one message for the first connection: {others:?}");
    };
    assert_eq!(*to, ConnId(1));
    let mut decoder = FrameDecoder::new(frame::MAX_FRAME_LEN);
    decoder.push(kicked);
    let plain = first
        .decrypt(&decoder.next_frame().unwrap().unwrap())
        .unwrap();
    let node = binary::decode_plaintext(Bytes::from(plain), TokenDict::v3()).unwrap();
    assert_eq!(node.tag, "stream:error");
    assert_eq!(
        node.child("conflict").and_then(|c| c.attr_str("type")),
        Some("replaced")
    );
    assert_eq!(server.poll_close(), Some(ConnId(1)));
    assert_eq!(server.open_connections(), vec![ConnId(2)]);
}
