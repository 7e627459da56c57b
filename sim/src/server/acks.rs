//! Ack expectations (`session.md` §5.5): the real server expects an `<ack>` for every
//! `message`, `receipt`, `notification` and `call` it delivers. The [`FakeServer`] records each
//! such stanza it sends (with its id and when) and crosses it off when the client's
//! `<ack class=… id=…>` arrives, so tests and the `World` can demand that nothing stays
//! unacknowledged on a live connection.

use std::time::Instant;

use tether_core::binary::{Jid, Node, Server};

use super::{ConnId, FakeServer};

/// Stanza tags the server expects an `<ack>` for.
pub const ACK_EXPECTED: [&str; 4] = ["message", "receipt", "notification", "call"];

impl FakeServer {
    /// Sends `<notification id=… type="server_sync" from="s.whatsapp.net">` on `id` (the
    /// client must ack it); returns its id.
    pub fn send_notification(&mut self, id: ConnId, now: Instant) -> String {
        self.now = self.now.max(now);
        let stanza_id = self.next_id("srv-notif-");
        let node = Node::new("notification")
            .jid_attr("from", Jid::server_jid(Server::WhatsApp))
            .attr("type", "server_sync")
            .attr("id", stanza_id.clone())
            .attr("t", self.unix_at(now).to_string())
            .children(vec![
                Node::new("collection")
                    .attr("name", "regular")
                    .attr("version", "1"),
            ]);
        self.send_node(id, &node);
        stanza_id
    }

    /// Stanzas sent on `id` that expect an `<ack>` and have none yet: their ids and when they
    /// were sent, oldest first.
    pub fn unacked(&self, id: ConnId) -> Vec<(String, Instant)> {
        self.expected_acks
            .iter()
            .filter(|(conn, _, _)| *conn == id)
            .map(|(_, stanza, at)| (stanza.clone(), *at))
            .collect()
    }

    /// Records an ack expectation for `node` sent on `id` (when its tag expects one).
    pub(super) fn expect_ack(&mut self, id: ConnId, node: &Node) {
        if ACK_EXPECTED.contains(&&*node.tag)
            && let Some(stanza) = node.attr_str("id")
        {
            self.expected_acks.push((id, stanza.to_owned(), self.now));
        }
    }

    /// The client's `<ack class=… id=…>` on `id`.
    pub(super) fn on_ack(&mut self, id: ConnId, node: &Node) {
        let Some(stanza) = node.attr_str("id") else {
            return;
        };
        let class = node.attr_str("class").unwrap_or_default();
        if !ACK_EXPECTED.contains(&class) {
            return;
        }
        self.expected_acks
            .retain(|(conn, expected, _)| !(*conn == id && expected == stanza));
    }
}
