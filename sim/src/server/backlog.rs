//! Devices coming online and going away, and the offline backlog (`messaging.md` §9.3,
//! `session.md` §5.4).
//!
//! ```text
//!  login (<success> sent) ─┬─ passive login ─▶ wait for <iq xmlns="passive"><active/>
//!                          └─ active ─────────▶ backlog:
//!      queue empty: <ib><offline count="0"/></ib>
//!      otherwise:   <ib><offline_preview count message receipt notification/></ib>,
//!                   every queued stanza in order (offline="0"), <ib><offline count=N/></ib>
//!  afterwards every stanza queued for the device is sent at once; when its connection
//!  closes, whatever it has not acknowledged waits for the next login
//! ```
//!
//! A device can also be online without a wire: [`FakeServer::connect_local`] (a simulated
//! phone, a headless peer) delivers into an inbox the harness drains with
//! [`FakeServer::take_delivered`], and [`FakeServer::submit`] takes its stanzas as if they
//! came over a connection — the same routing, the same queues.

use std::time::Instant;

use tether_core::binary::{Jid, Node};

use super::accounts::{DeviceAddr, Endpoint, Online};
use super::queues::StanzaClass;
use super::{ConnId, FakeServer};

/// Why a local device could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The JID names no device of a registered account.
    #[error(
        "{0} is not a device of a registered account; register the account (or link the device) first"
    )]
    UnknownDevice(String),
}

impl FakeServer {
    /// `device` is online at `endpoint`; `active` delivers its backlog now (a passive login
    /// waits for its `<active/>`).
    pub(super) fn go_online(&mut self, device: &DeviceAddr, endpoint: Endpoint, active: bool) {
        let Some(state) = self.accounts.device_mut(device) else {
            return;
        };
        state.online = Some(Online {
            endpoint,
            active: false,
        });
        if active {
            self.activate(device);
        }
    }

    /// The device's passive login turned active (or it logged in active): deliver the backlog.
    pub(super) fn activate(&mut self, device: &DeviceAddr) {
        let now = self.now;
        let Some(state) = self.accounts.device_mut(device) else {
            return;
        };
        let Some(online) = state.online.as_mut() else {
            return;
        };
        if online.active {
            return;
        }
        online.active = true;
        let endpoint = online.endpoint;
        let expired = state.queue.expire(now);
        self.expired += expired as u64;
        let mut backlog = state.queue.snapshot();
        if self.config.planted == Some(super::PlantedBug::BacklogReversed) {
            backlog.reverse();
        }
        if backlog.is_empty() {
            self.transmit(device, endpoint, &offline_done(0));
            return;
        }
        let count = |class| backlog.iter().filter(|e| e.class == class).count();
        let preview = Node::new("ib").children(vec![
            Node::new("offline_preview")
                .attr("count", backlog.len().to_string())
                .attr("message", count(StanzaClass::Message).to_string())
                .attr("receipt", count(StanzaClass::Receipt).to_string())
                .attr("notification", count(StanzaClass::Notification).to_string()),
        ]);
        self.transmit(device, endpoint, &preview);
        for entry in &backlog {
            let node = entry.node.clone().attr("offline", "0");
            self.transmit(device, endpoint, &node);
        }
        self.transmit(device, endpoint, &offline_done(backlog.len()));
    }

    /// Connection `id` is gone: its device (if it was logged in on it) is offline.
    pub(super) fn conn_gone(&mut self, id: ConnId) {
        let lose = self.config.planted == Some(super::PlantedBug::LoseQueueOnDisconnect);
        for addr in self.accounts.all_devices() {
            if let Some(state) = self.accounts.device_mut(&addr)
                && state
                    .online
                    .is_some_and(|o| o.endpoint == Endpoint::Conn(id))
            {
                state.online = None;
                if lose {
                    state.queue = super::queues::DeviceQueue::default();
                }
            }
        }
    }

    /// Brings `device` (a device of a registered account, in either namespace) online without
    /// a wire: its backlog (or `<ib><offline count="0"/>`) lands in its inbox now, and every
    /// stanza for it afterwards. A device already online elsewhere is taken over.
    pub fn connect_local(&mut self, device: &Jid, now: Instant) -> Result<(), LocalError> {
        self.now = self.now.max(now);
        let (addr, _) = self
            .accounts
            .resolve(device)
            .ok_or_else(|| LocalError::UnknownDevice(device.to_string()))?;
        let previous = self
            .accounts
            .device(&addr)
            .and_then(|s| s.online)
            .map(|o| o.endpoint);
        if let Some(Endpoint::Conn(id)) = previous {
            self.inject(id, super::Fault::Replaced, now);
        }
        self.go_online(&addr, Endpoint::Local, true);
        Ok(())
    }

    /// Takes `device` offline (a local device): what it has not acknowledged waits for its
    /// next [`connect_local`](Self::connect_local).
    pub fn disconnect_local(&mut self, device: &Jid) {
        let Some((addr, _)) = self.accounts.resolve(device) else {
            return;
        };
        if let Some(state) = self.accounts.device_mut(&addr)
            && state.online.is_some_and(|o| o.endpoint == Endpoint::Local)
        {
            state.online = None;
        }
        self.local_inbox.remove(&addr);
    }

    /// Whether `device` is online (on a connection or locally).
    pub fn is_online(&self, device: &Jid) -> bool {
        self.accounts
            .resolve(device)
            .and_then(|(addr, _)| self.accounts.device(&addr))
            .is_some_and(|s| s.online.is_some())
    }

    /// A stanza from a local `device`, routed as if it came over its connection. Answers and
    /// deliveries land in inboxes ([`take_delivered`](Self::take_delivered)) or on
    /// connections.
    pub fn submit(&mut self, device: &Jid, node: &Node, now: Instant) -> Result<(), LocalError> {
        self.now = self.now.max(now);
        let (addr, _) = self
            .accounts
            .resolve(device)
            .ok_or_else(|| LocalError::UnknownDevice(device.to_string()))?;
        self.on_device_stanza(&addr, Endpoint::Local, node);
        Ok(())
    }

    /// Everything delivered to local `device` since the last call, in order.
    pub fn take_delivered(&mut self, device: &Jid) -> Vec<Node> {
        self.accounts
            .resolve(device)
            .and_then(|(addr, _)| self.local_inbox.remove(&addr))
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// Local devices with something in their inbox.
    pub fn local_pending(&self) -> Vec<Jid> {
        self.local_inbox
            .iter()
            .filter(|(_, inbox)| !inbox.is_empty())
            .filter_map(|(addr, _)| self.accounts.jid(addr, super::accounts::Namespace::Pn))
            .collect()
    }
}

/// `<ib><offline count=N/></ib>`: the backlog is done.
fn offline_done(count: usize) -> Node {
    Node::new("ib").children(vec![Node::new("offline").attr("count", count.to_string())])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::server::fixture::{Fixture, jid, message, summary};
    use crate::server::queues::EXPIRY;

    #[test]
    fn an_empty_queue_still_ends_with_offline_count_zero() {
        let mut f = Fixture::new();
        let got = f.connect("100002:3@lid");
        assert_eq!(summary(&got), vec!["ib:offline"]);
        assert_eq!(
            got[0].child("offline").unwrap().attr_str("count"),
            Some("0")
        );
        assert!(f.server.is_online(&jid("15550002:3@s.whatsapp.net")));
        f.server.disconnect_local(&jid("100002:3@lid"));
        assert!(!f.server.is_online(&jid("100002:3@lid")));
    }

    #[test]
    fn stanzas_older_than_fourteen_days_expire_unseen() {
        let mut f = Fixture::new();
        let targets = [("100002:3@lid", "msg")];
        f.submit("100001:2@lid", &message("E1", "100002@lid", &targets));
        f.advance(EXPIRY - Duration::from_secs(60));
        f.submit("100001:2@lid", &message("E2", "100002@lid", &targets));
        f.advance(Duration::from_secs(60));
        let got = f.connect("100002:3@lid");
        assert_eq!(
            summary(&got),
            vec!["ib:offline_preview", "message:E2", "ib:offline"]
        );
        assert_eq!(f.server.expired(), 1);
    }

    #[test]
    fn unknown_local_devices_are_refused() {
        let mut f = Fixture::new();
        let now = f.now;
        assert!(matches!(
            f.server.connect_local(&jid("100002:9@lid"), now),
            Err(LocalError::UnknownDevice(_))
        ));
        assert!(
            f.server
                .submit(&jid("42@lid"), &Node::new("iq"), now)
                .is_err()
        );
    }

    #[test]
    fn the_backlog_order_is_the_queue_order_unless_the_planted_bug_reverses_it() {
        for planted in [None, Some(crate::server::PlantedBug::BacklogReversed)] {
            let mut f = Fixture::with(crate::server::ServerConfig {
                pre_key_count: 0,
                planted,
                ..crate::server::ServerConfig::default()
            });
            for id in ["X1", "X2"] {
                let targets = [("100002:3@lid", "msg")];
                f.submit("100001:2@lid", &message(id, "100002@lid", &targets));
            }
            let got = summary(&f.connect("100002:3@lid"));
            let expected = if planted.is_some() {
                ["message:X2", "message:X1"]
            } else {
                ["message:X1", "message:X2"]
            };
            assert_eq!(got[1..3], expected);
        }
    }
}
