//! The notifications the server sends about accounts and keys (`messaging.md` §1.4, §2.3,
//! §6.7), queued and acknowledged like messages:
//!
//! - `devices` (`<add>` / `<remove>` with the new `device_hash`, the device and the key-index
//!   list) to the account's other devices and to its contacts' devices, when a companion links
//!   or unlinks;
//! - `encrypt` `<identity/>` to the contacts' devices when an account's phone reinstalled
//!   (its identity key changed);
//! - `encrypt` `<count value=N/>` to a device whose one-time pre-key pool fell below
//!   [`ServerConfig::pre_key_low_threshold`](super::ServerConfig::pre_key_low_threshold)
//!   (one at a time: not again while one is waiting for its ack).

use tether_core::binary::{Jid, Node, Server};

use super::FakeServer;
use super::accounts::{DeviceAddr, Namespace};
use super::queues::{Queued, StanzaClass};

/// What happened to a device list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceChange {
    /// A companion linked.
    Add,
    /// A companion unlinked.
    Remove,
}

impl FakeServer {
    /// Queues a server notification for `to`.
    fn notify(&mut self, to: &DeviceAddr, node: Node) {
        let id = node.attr_str("id").unwrap_or_default().to_owned();
        let entry = Queued {
            class: StanzaClass::Notification,
            id,
            from: None,
            receipt_type: None,
            node,
            queued_at: self.now,
        };
        self.enqueue(to, entry);
    }

    fn notification(&mut self, from: Jid, kind: &str) -> Node {
        let id = self.next_id("srv-notif-");
        Node::new("notification")
            .jid_attr("from", from)
            .attr("type", kind.to_owned())
            .attr("id", id)
            .attr("t", self.unix_at(self.now).to_string())
    }

    /// Delivers a `mediaretry` notification (`media.md` §4.4) that a phone built to the own
    /// device `to` that asked for the re-upload, `from` the account's user as the real server
    /// does. `false` when `to` is no known device.
    pub fn deliver_media_retry(&mut self, to: &Jid, node: Node) -> bool {
        let Some((addr, _)) = self.accounts.resolve(to) else {
            return false;
        };
        let node = node.jid_attr("from", Jid::user(&addr.user, Server::WhatsApp));
        self.notify(&addr, node);
        true
    }

    /// The devices that hear about `user`'s account: its own (but `except`) and every device
    /// of its contacts (with or without the account's own).
    fn audience(&self, user: &str, own: bool, except: Option<&DeviceAddr>) -> Vec<DeviceAddr> {
        let Some(account) = self.accounts.get(user) else {
            return Vec::new();
        };
        let mut users: Vec<&String> = account.contacts.iter().collect();
        if own {
            users.push(&account.pn);
        }
        users
            .into_iter()
            .filter_map(|u| self.accounts.get(u))
            .flat_map(|a| {
                a.devices.keys().map(|d| DeviceAddr {
                    user: a.pn.clone(),
                    device: *d,
                })
            })
            .filter(|a| Some(a) != except)
            .collect()
    }

    /// A companion linked: `devices` `<add>` to the account's other devices and its contacts.
    pub(super) fn notify_devices(&mut self, addr: &DeviceAddr, change: DeviceChange) {
        let key_index = self.accounts.device(addr).map_or(0, |d| d.key_index);
        self.devices_notification(addr, change, key_index);
    }

    /// A companion unlinked (already gone from the account): `devices` `<remove>`.
    pub(super) fn notify_devices_removed(&mut self, addr: &DeviceAddr, key_index: u32) {
        self.devices_notification(addr, DeviceChange::Remove, key_index);
    }

    fn devices_notification(&mut self, addr: &DeviceAddr, change: DeviceChange, key_index: u32) {
        let Some(account) = self.accounts.get(&addr.user) else {
            return;
        };
        let tag = match change {
            DeviceChange::Add => "add",
            DeviceChange::Remove => "remove",
        };
        let mut device = Node::new("device")
            .jid_attr("jid", account.device_jid(addr.device, Namespace::Pn))
            .jid_attr("lid", account.device_jid(addr.device, Namespace::Lid));
        if change == DeviceChange::Add {
            device = device.attr("key-index", key_index.to_string());
        }
        let body = Node::new(tag)
            .attr("device_hash", account.device_hash(Namespace::Pn))
            .attr("device_lid_hash", account.device_hash(Namespace::Lid))
            .children(vec![
                device,
                Node::new("key-index-list")
                    .attr("ts", account.list_ts.to_string())
                    .bytes(account.key_index_list_bytes()),
            ]);
        let (pn, lid) = (
            account.user_jid(Namespace::Pn),
            account.user_jid(Namespace::Lid),
        );
        for target in self.audience(&addr.user, true, Some(addr)) {
            let node = self
                .notification(pn.clone(), "devices")
                .jid_attr("lid", lid.clone())
                .children(vec![body.clone()]);
            self.notify(&target, node);
        }
    }

    /// `addr`'s account changed its identity (a reinstalled phone): `<identity/>` to every
    /// device of its contacts.
    pub(super) fn notify_identity_change(&mut self, addr: &DeviceAddr) {
        let Some(account) = self.accounts.get(&addr.user) else {
            return;
        };
        let (pn, lid) = (
            account.user_jid(Namespace::Pn),
            account.user_jid(Namespace::Lid),
        );
        for target in self.audience(&addr.user, false, None) {
            let node = self
                .notification(pn.clone(), "encrypt")
                .jid_attr("lid", lid.clone())
                .children(vec![Node::new("identity")]);
            self.notify(&target, node);
        }
    }

    /// After a bundle fetch: `<count value=N/>` to `addr` when its pool fell below the
    /// threshold and no count notification is already waiting for its ack.
    pub(super) fn maybe_notify_low_pool(&mut self, addr: &DeviceAddr) {
        let Some(state) = self.accounts.device(addr) else {
            return;
        };
        if state.keys.is_none() {
            return;
        }
        let count = self.pool_count(addr);
        if count >= self.config.pre_key_low_threshold {
            return;
        }
        let waiting = state.queue.iter().any(|e| {
            e.class == StanzaClass::Notification
                && e.node.attr_str("type") == Some("encrypt")
                && e.node.child("count").is_some()
        });
        if waiting {
            return;
        }
        let node = self
            .notification(Jid::server_jid(Server::WhatsApp), "encrypt")
            .children(vec![Node::new("count").attr("value", count.to_string())]);
        self.notify(addr, node);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::server::Device;
    use crate::server::fixture::{Fixture, jid, message};

    fn notifications(f: &FakeServer, device: &str) -> Vec<String> {
        f.queued(&jid(device))
            .into_iter()
            .filter(|(c, _)| *c == StanzaClass::Notification)
            .map(|(_, id)| id)
            .collect()
    }

    #[test]
    fn a_linked_companion_is_announced_to_own_devices_and_contacts() {
        let mut f = Fixture::new();
        // A and B become contacts by a message.
        f.submit(
            "100001:2@lid",
            &message("C1", "100002@lid", &[("100002:3@lid", "msg")]),
        );
        f.server.register_device(
            [9; 32],
            Device {
                jid: jid("15550001:5@s.whatsapp.net"),
                lid: Some(jid("100001:5@lid")),
            },
        );
        for device in ["100001@lid", "100001:2@lid", "100002@lid", "100002:4@lid"] {
            assert_eq!(notifications(&f.server, device).len(), 1, "{device}");
        }
        assert!(notifications(&f.server, "100001:5@lid").is_empty());
        let got = f.connect("100002:4@lid");
        let note = got.iter().find(|n| n.tag == "notification").unwrap();
        assert_eq!(note.attr_str("type"), Some("devices"));
        let add = note.child("add").unwrap();
        let account = f.server.accounts.get("15550001").unwrap();
        assert_eq!(
            add.attr_str("device_lid_hash"),
            Some(account.device_hash(Namespace::Lid).as_str())
        );
        assert_eq!(
            add.child("device").unwrap().attr_str("key-index"),
            Some("5")
        );
        assert!(add.child("key-index-list").is_some());
        // Acked: gone.
        let ack = Node::new("ack")
            .attr("class", "notification")
            .attr("id", note.attr_str("id").unwrap().to_owned())
            .jid_attr("to", jid("15550001@s.whatsapp.net"))
            .attr("type", "devices");
        f.submit("100002:4@lid", &ack);
        assert!(notifications(&f.server, "100002:4@lid").is_empty());
    }

    #[test]
    fn an_unlinked_companion_is_announced_with_remove() {
        let mut f = Fixture::new();
        let addr = DeviceAddr {
            user: "15550002".to_owned(),
            device: 4,
        };
        f.server.remove_companion(&addr);
        assert_eq!(
            f.server.account_devices(&jid("100002@lid")),
            Some(vec![0, 3])
        );
        let got = f.connect("100002:3@lid");
        let note = got.iter().find(|n| n.tag == "notification").unwrap();
        assert!(note.child("remove").is_some(), "{note}");
    }
}
