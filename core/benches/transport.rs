//! Transport-phase throughput: `TransportState` encrypt + decrypt of one frame against raw
//! `aes-gcm` doing the same work on the same buffers (target: within 1.3×).
//!
//! Run: `cargo bench -p tether-core --bench transport`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tether_core::noise::{
    ClientHandshake, HandshakeOptions, KeyPair, ResponderHandshake, TransportState,
};

const SIZES: [(usize, &str); 2] = [(1024, "1KiB"), (64 * 1024, "64KiB")];

/// A client and a server transport after a real handshake.
fn transports() -> (TransportState, TransportState) {
    let mut client = ClientHandshake::new(
        KeyPair::from_private_bytes([1; 32]),
        KeyPair::from_private_bytes([2; 32]),
        HandshakeOptions::WHATSAPP,
    );
    let mut server = ResponderHandshake::new(
        KeyPair::from_private_bytes([3; 32]),
        KeyPair::from_private_bytes([4; 32]),
        Bytes::from_static(b"certs"),
        HandshakeOptions::WHATSAPP,
    );
    server.read_client_hello(&client.client_hello()).unwrap();
    client
        .read_server_hello(&server.server_hello().unwrap())
        .unwrap();
    let (finish, client_transport) = client.finish(b"payload").unwrap();
    let (_, server_transport) = server.read_client_finish(&finish).unwrap();
    (client_transport, server_transport)
}

fn nonce(counter: u32) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut nonce = [0u8; 12];
    nonce[8..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(nonce)
}

fn roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("transport_encrypt_decrypt");
    for (size, label) in SIZES {
        let plaintext = vec![0x5a_u8; size];
        group.throughput(Throughput::Bytes(size as u64));

        let (mut client, mut server) = transports();
        let mut buf = Vec::with_capacity(size + 16);
        group.bench_function(BenchmarkId::new("tether_in_place", label), |b| {
            b.iter(|| {
                buf.clear();
                client.encrypt(black_box(&plaintext), &mut buf).unwrap();
                black_box(server.decrypt_in_place(&mut buf).unwrap());
            });
        });

        let (mut client, mut server) = transports();
        let mut out = Vec::with_capacity(size);
        group.bench_function(BenchmarkId::new("tether_into", label), |b| {
            b.iter(|| {
                buf.clear();
                out.clear();
                client.encrypt(black_box(&plaintext), &mut buf).unwrap();
                server.decrypt_into(&buf, &mut out).unwrap();
                black_box(&out);
            });
        });

        let cipher = Aes256Gcm::new(&[7u8; 32].into());
        let mut counter = 0u32;
        group.bench_function(BenchmarkId::new("raw_aes_gcm_in_place", label), |b| {
            b.iter(|| {
                let n = nonce(counter);
                counter = counter.wrapping_add(1);
                buf.clear();
                buf.extend_from_slice(black_box(&plaintext));
                cipher.encrypt_in_place(&n, b"", &mut buf).unwrap();
                cipher.decrypt_in_place(&n, b"", &mut buf).unwrap();
                black_box(&buf);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
