//! Message routing (`messaging.md` §5.5, §6.1, §6.6, §9.2, §9.3): validate a client's
//! `<message>`, assign its server time, ack it, and queue one stanza per addressed device with
//! only that device's `<enc>`. The server never decrypts.
//!
//! ```text
//!  <message id to=user> <participants><to jid=device><enc/></to>…</participants>
//!     seen before from this device?  ─▶ the same ack again, nothing delivered twice
//!     invalid?                        ─▶ <ack class="message" error=400|479> (and a complaint
//!                                        when a client broke the protocol, not just raced)
//!     otherwise ─▶ t, <ack class="message" id from=to t [phash]> (phash when the addressed
//!                  devices differ from the server's lists), then per <to>:
//!                  <message from=sender (namespace of `to`) id t type notify [sender_pn|
//!                   sender_lid] [recipient …own-device copies]><enc/>[<device-identity/>]
//!  <message id to=device device_fanout="false"><enc count=n/> (a retry resend; Baileys
//!   wraps the <enc> in <participants><to jid=device>, without count)
//!     ─▶ the same, to that one device; dedup per (device, count)
//! ```
//!
//! One job per module:
//!
//! ```text
//!  mod.rs         on_message: picks the route by `to` (user, device, group); the logs
//!  acceptance.rs  dedup of repeats, t, the ack [phash] sent once; the error ack (Nack)
//!  enc.rs         the one valid <enc> of a <to> or of a resend
//!  fanout.rs      a message to a user: <participants> checked, phash, one copy per device
//!  resend.rs      a retry resend to one device: its <enc>, dedup per (device, count)
//!  delivery.rs    the stanza a device gets (§9.3), logged as routed and queued
//! ```
//!
//! Group messages are routed by `group_routing.rs`, with the same acceptance and delivery.
//!
//! Every accepted message and every routed `<enc>` is logged ([`FakeServer::accepted`],
//! [`FakeServer::routed`]) for the simulator's invariants; nothing in them is secret to the
//! server (ciphertext only).

mod acceptance;
mod delivery;
mod enc;
mod fanout;
mod resend;

use bytes::Bytes;
use tether_core::binary::{Jid, Node, Server};

pub(super) use acceptance::{Nack, Routing, nack, refuse};
pub(super) use delivery::{delivered_head, delivered_tail};
pub(super) use enc::{enc_bytes, is_pkmsg, single_enc};

use super::FakeServer;
use super::accounts::{DeviceAddr, Endpoint, jid_attr};

/// A message the server accepted and acked without error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The sending device.
    pub sender: DeviceAddr,
    /// The client's message id.
    pub id: String,
    /// The server time assigned.
    pub t: u64,
    /// The `to` of the stanza (a user, or a device for a retry resend).
    pub to: Jid,
    /// The devices a copy was queued for, in stanza order.
    pub recipients: Vec<DeviceAddr>,
    /// The `count` of a retry resend's `<enc>` (`None`: a fan-out).
    pub retry_count: Option<u32>,
}

/// One `<enc>` the server routed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    /// The sending device.
    pub sender: DeviceAddr,
    /// The device it was queued for.
    pub recipient: DeviceAddr,
    /// The message id.
    pub id: String,
    /// `pkmsg`, `msg` (or `skmsg`).
    pub kind: String,
    /// The ciphertext.
    pub ciphertext: Bytes,
}

impl FakeServer {
    /// A `<message>` from `sender`.
    pub(in crate::server) fn on_message(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        node: &Node,
    ) {
        let Some(id) = node.attr_str("id").map(str::to_owned) else {
            self.complain(Some(sender), "a <message> without an id".to_owned());
            return;
        };
        let to = jid_attr(node, "to");
        let retry = node.attr_str("device_fanout") == Some("false");
        let result = match &to {
            None => Err(nack(400, "a <message> without a to")),
            Some(to) if *to.server() == Server::Group => {
                self.route_group(sender, endpoint, &id, to, node)
            }
            Some(to) if retry => self.route_retry(sender, endpoint, &id, to, node),
            Some(to) => self.route_fanout(sender, endpoint, &id, to, node),
        };
        if let Err(refusal) = result {
            self.refuse_message(sender, endpoint, id, to, refusal);
        }
    }

    /// Every message accepted (the newest ones under a `history_limit`).
    pub fn accepted(&self) -> &[Accepted] {
        self.accepted.kept()
    }

    /// The accepted messages after the first `seen` ever (those still kept), and the total.
    pub fn accepted_since(&self, seen: usize) -> (&[Accepted], usize) {
        (self.accepted.since(seen), self.accepted.total())
    }

    /// Every `<enc>` routed (the newest ones under a `history_limit`).
    pub fn routed(&self) -> &[Routed] {
        self.routed.kept()
    }

    /// The routed `<enc>`s after the first `seen` ever (those still kept), and the total.
    pub fn routed_since(&self, seen: usize) -> (&[Routed], usize) {
        (self.routed.since(seen), self.routed.total())
    }
}
