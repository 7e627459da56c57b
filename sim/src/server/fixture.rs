//! Test fixture for the messaging modules: a server with two accounts (A: `15550001` /
//! `100001`, B: `15550002` / `100002`) whose devices are local endpoints, and builders for the
//! stanzas clients send.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tether_core::binary::{Jid, Node};

use super::{Device, FakeServer, ServerConfig};
use crate::server::accounts::AccountSpec;

pub(crate) const A_PN: &str = "15550001";
pub(crate) const A_LID: &str = "100001";
pub(crate) const B_PN: &str = "15550002";
pub(crate) const B_LID: &str = "100002";

/// A's companion 2, the sender in most routing tests.
pub(crate) const A2: &str = "100001:2@lid";
/// B's user JID in the LID namespace.
pub(crate) const B_USER: &str = "100002@lid";

/// Every device a message from A2 to B addresses: B's three and A's phone (pkmsg to B0).
pub(crate) fn all_of_b_and_a0() -> Vec<(&'static str, &'static str)> {
    vec![
        ("100002@lid", "pkmsg"),
        ("100002:3@lid", "msg"),
        ("100002:4@lid", "msg"),
        ("100001@lid", "msg"),
    ]
}

pub(crate) fn jid(text: &str) -> Jid {
    text.parse().unwrap()
}

/// A server with accounts A and B; A has companion 2, B has companions 3 and 4.
pub(crate) struct Fixture {
    pub(crate) server: FakeServer,
    pub(crate) now: Instant,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        Self::with(ServerConfig {
            pre_key_count: 0,
            ..ServerConfig::default()
        })
    }

    pub(crate) fn with(config: ServerConfig) -> Self {
        let start = Instant::now();
        let mut server = FakeServer::new(config, start);
        for (pn, lid, name) in [(A_PN, A_LID, "Alice"), (B_PN, B_LID, "Bob")] {
            server
                .add_account(&AccountSpec {
                    phone_number: pn.to_owned(),
                    lid_user: lid.to_owned(),
                    push_name: name.to_owned(),
                })
                .unwrap();
        }
        for (n, (pn, lid, device)) in [(A_PN, A_LID, 2u16), (B_PN, B_LID, 3), (B_PN, B_LID, 4)]
            .into_iter()
            .enumerate()
        {
            server.register_device(
                [n as u8 + 1; 32],
                Device {
                    jid: Jid::device(pn, device, tether_core::binary::Server::WhatsApp),
                    lid: Some(Jid::device(lid, device, tether_core::binary::Server::Lid)),
                },
            );
        }
        // The devices notifications of the setup itself are not what tests look at.
        for addr in server.accounts.all_devices() {
            if let Some(state) = server.accounts.device_mut(&addr) {
                state.queue = super::queues::DeviceQueue::default();
            }
        }
        Self { server, now: start }
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Brings `device` online locally and returns what it got at once (its backlog).
    pub(crate) fn connect(&mut self, device: &str) -> Vec<Node> {
        self.server.connect_local(&jid(device), self.now).unwrap();
        self.server.take_delivered(&jid(device))
    }

    pub(crate) fn submit(&mut self, device: &str, node: &Node) -> Vec<Node> {
        self.server.submit(&jid(device), node, self.now).unwrap();
        self.server.take_delivered(&jid(device))
    }

    pub(crate) fn take(&mut self, device: &str) -> Vec<Node> {
        self.server.take_delivered(&jid(device))
    }
}

/// `<message id to type=text><participants><to jid><enc v=2 type>bytes</enc></to>…`.
pub(crate) fn message(id: &str, to: &str, targets: &[(&str, &str)]) -> Node {
    let participants = targets
        .iter()
        .map(|(device, kind)| {
            Node::new("to").jid_attr("jid", jid(device)).children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", (*kind).to_owned())
                    .bytes(format!("ct-{id}-{device}").into_bytes()),
            ])
        })
        .collect();
    let mut children = vec![Node::new("participants").children(participants)];
    if targets.iter().any(|(_, kind)| *kind == "pkmsg") {
        children.push(Node::new("device-identity").bytes(vec![1, 2, 3]));
    }
    Node::new("message")
        .attr("id", id.to_owned())
        .jid_attr("to", jid(to))
        .attr("type", "text")
        .children(children)
}

/// The `<ack>` among `nodes` for message `id`.
pub(crate) fn ack_of<'a>(nodes: &'a [Node], id: &str) -> Option<&'a Node> {
    nodes
        .iter()
        .find(|n| n.tag == "ack" && n.attr_str("id") == Some(id))
}

/// The tags and ids of `nodes`, for compact assertions (`ib` children by tag).
pub(crate) fn summary(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| match &*n.tag {
            "ib" => format!("ib:{}", n.child_nodes().first().map_or("", |c| &*c.tag)),
            tag => format!("{tag}:{}", n.attr_str("id").unwrap_or_default()),
        })
        .collect()
}
