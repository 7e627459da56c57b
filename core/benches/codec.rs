//! Binary node codec throughput on a corpus of small stanzas (DESIGN §8).
//!
//! `cargo bench -p tether-core --bench codec`
#![allow(clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tether_core::binary::{Jid, Node, Server, TokenDict, decode, encode};

/// Small stanzas of the shapes that dominate a session: iqs, receipts, acks, presence,
/// notifications, a message with a device fan-out.
fn corpus() -> Vec<Node> {
    let fanout = (0..8)
        .map(|i| {
            Node::new("to")
                .jid_attr("jid", Jid::device("5511999990000", i, Server::WhatsApp))
                .children(vec![
                    Node::new("enc")
                        .attr("v", "2")
                        .attr("type", "msg")
                        .bytes(vec![0xAB; 128]),
                ])
        })
        .collect();
    vec![
        Node::new("iq")
            .attr("id", "12345.6789-1")
            .jid_attr("to", Jid::server_jid(Server::WhatsApp))
            .attr("type", "get")
            .attr("xmlns", "w:p")
            .children(vec![Node::new("ping")]),
        Node::new("receipt")
            .attr("id", "3EB0A1B2C3D4E5F60718")
            .jid_attr("from", Jid::user("5511999990000", Server::WhatsApp))
            .jid_attr(
                "participant",
                Jid::device("5511999990000", 3, Server::WhatsApp),
            )
            .attr("t", "1700000000")
            .attr("type", "read"),
        Node::new("ack")
            .attr("id", "3EB0A1B2C3D4E5F60718")
            .jid_attr("to", Jid::user("5511999990000", Server::WhatsApp))
            .attr("class", "message"),
        Node::new("presence")
            .attr("name", "Zoë 👋")
            .attr("type", "available"),
        Node::new("notification")
            .jid_attr("from", Jid::user("120363012345678901", Server::Group))
            .attr("id", "2345678901")
            .attr("t", "1700000000")
            .attr("type", "w:gp2")
            .children(vec![Node::new("add").children(vec![
                Node::new("participant").jid_attr("jid", Jid::user("123456789012345", Server::Lid)),
            ])]),
        Node::new("message")
            .jid_attr("to", Jid::user("120363012345678901", Server::Group))
            .attr("id", "3EB0A1B2C3D4E5F60718")
            .attr("type", "text")
            .children(vec![Node::new("participants").children(fanout)]),
        Node::new("iq")
            .attr("id", "2")
            .attr("type", "get")
            .attr("xmlns", "usync")
            .children(vec![
                Node::new("usync")
                    .attr("sid", "3")
                    .attr("mode", "query")
                    .attr("context", "interactive")
                    .children(vec![
                        Node::new("query")
                            .children(vec![Node::new("devices").attr("version", "2")]),
                        Node::new("list").children(vec![
                            Node::new("user")
                                .jid_attr("jid", Jid::user("12345678901", Server::WhatsApp)),
                        ]),
                    ]),
            ]),
    ]
}

fn bench(c: &mut Criterion) {
    let dict = TokenDict::v3();
    let nodes = corpus();
    let encoded: Vec<Bytes> = nodes
        .iter()
        .map(|n| {
            let mut out = Vec::new();
            encode(n, dict, &mut out).expect("corpus encodes");
            Bytes::from(out)
        })
        .collect();
    let mut buf = Vec::with_capacity(4096);
    c.bench_function("encode corpus", |b| {
        b.iter(|| {
            for node in &nodes {
                buf.clear();
                encode(black_box(node), dict, &mut buf).expect("encodes");
                black_box(&buf);
            }
        });
    });
    c.bench_function("decode corpus", |b| {
        b.iter(|| {
            for bytes in &encoded {
                black_box(decode(black_box(bytes), dict).expect("decodes"));
            }
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
