//! The session half of the fake server: the verdict on a ClientPayload (registration, login,
//! refusal) and the answers to every iq afterwards.

use std::time::Instant;

use prost::Message;
use rand_core::Rng;
use tether_core::binary::Node;
use tether_core::payload::AppVersion;
use tether_core::proto::client_payload::ClientPayload;

use super::accounts::{DeviceAddr, Endpoint};
use super::{Conn, ConnId, FakeServer, Fault, Login, Role, stanzas};

impl FakeServer {
    pub(super) fn on_client_payload(
        &mut self,
        id: ConnId,
        noise: [u8; 32],
        payload: &[u8],
        now: Instant,
    ) {
        let Ok(payload) = ClientPayload::decode(payload) else {
            self.close(id);
            return;
        };
        let version = payload
            .user_agent
            .as_ref()
            .and_then(|ua| ua.app_version.as_ref())
            .map(|v| {
                AppVersion::new(
                    v.primary.unwrap_or(0),
                    v.secondary.unwrap_or(0),
                    v.tertiary.unwrap_or(0),
                )
            });
        let registration = payload.device_pairing_data.is_some();
        self.registrations += u64::from(registration);
        self.logins.push(Login {
            conn: id,
            noise_public: noise,
            username: payload.username,
            device: payload.device,
            registration,
            version,
        });
        let faults = self
            .conns
            .get_mut(&id)
            .map(|c| std::mem::take(&mut c.faults))
            .unwrap_or_default();
        if let Some(fault) = faults.into_iter().find(Fault::replaces_verdict) {
            return self.inject(id, fault, now);
        }
        let outdated = self
            .config
            .min_version
            .is_some_and(|min| version.is_none_or(|v| v < min));
        if outdated {
            return self.refuse(id, 405);
        }
        if registration {
            let refs: Vec<String> = (0..self.config.refs_per_pairing)
                .map(|_| format!("2@sim{:016x}", self.rng.next_u64()))
                .collect();
            let iq_id = self.next_id("pd-");
            let node = stanzas::pair_device(&iq_id, &refs);
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.role = Role::Registering {
                    noise,
                    refs,
                    issued: None,
                };
            }
            return self.send(id, &node);
        }
        let known = self.devices.get(&noise).cloned().filter(|device| {
            payload.username.map(|u| u.to_string()).as_deref() == Some(device.jid.user_str())
                && payload.device == Some(u32::from(device.jid.device_id()))
        });
        let Some(device) = known else {
            return self.refuse(id, 401);
        };
        // Like the real server: a new login of the same device kicks the older connection.
        let older: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(other, c)| {
                **other != id && matches!(c.role, Role::LoggedIn { noise: n, .. } if n == noise)
            })
            .map(|(other, _)| *other)
            .collect();
        for other in older {
            self.inject(other, Fault::Replaced, now);
        }
        let addr = self.ensure_companion(&device, u32::from(device.jid.device_id()), None);
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.role = Role::LoggedIn {
                noise,
                device: addr.clone(),
            };
        }
        let t = self.server_time(id, now);
        self.send(id, &stanzas::success(t, device.lid.as_ref()));
        // A passive login gets its backlog after its <active/> (session.md §2.4).
        let active = payload.passive != Some(true);
        self.go_online(&addr, Endpoint::Conn(id), active);
    }

    fn refuse(&mut self, id: ConnId, reason: u16) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.role = Role::Refused;
        }
        self.inject(
            id,
            Fault::Failure {
                reason,
                expire: None,
            },
            self.created_at,
        );
    }

    pub(super) fn on_node(&mut self, id: ConnId, node: &Node, now: Instant) {
        if node.tag == "ack" {
            self.on_ack(id, node);
        }
        if let Some(device) = self.conn_device(id) {
            if node.tag == "iq"
                && node.attr_str("xmlns") == Some("encrypt")
                && node.attr_str("type") == Some("set")
                && let Some(list) = node.child("list")
            {
                self.pre_key_uploads.push((id, list.child_nodes().len()));
            }
            if self.on_device_stanza(&device, Endpoint::Conn(id), node) {
                return;
            }
        }
        if node.tag != "iq" {
            return; // presence, chat states: nothing to answer
        }
        let kind = node.attr_str("type").unwrap_or_default();
        let iq_id = node.attr_str("id").unwrap_or_default().to_owned();
        if matches!(kind, "result" | "error") {
            if let Some(pos) = self.server_pings.iter().position(|p| *p == iq_id) {
                self.server_pings.remove(pos);
                self.pongs += 1;
                return;
            }
            if node.child("pair-device-sign").is_some() {
                self.on_pair_reply(id, node);
            }
            return;
        }
        let t = self.server_time(id, now);
        match node.attr_str("xmlns").unwrap_or_default() {
            "md" if node.child("link_code_companion_reg").is_some() => {
                self.on_link_code(id, node);
            }
            "md" if node.child("remove-companion-device").is_some() => {
                if let Some(Conn {
                    role: Role::LoggedIn { noise, device },
                    ..
                }) = self.conns.get(&id)
                {
                    let (noise, device) = (*noise, device.clone());
                    self.devices.remove(&noise);
                    self.remove_companion(&device);
                }
                self.send(id, &stanzas::result(&iq_id, None));
            }
            "w:p" => {
                if !self.conns.get(&id).is_some_and(|c| c.ignore_pings) {
                    self.send(id, &stanzas::result(&iq_id, Some(t)));
                }
            }
            _ => self.send(id, &stanzas::result(&iq_id, None)),
        }
    }
}

impl FakeServer {
    /// A stanza from a logged-in `device` (over a connection or locally): messages, receipts,
    /// acks, and the iqs of messaging (`encrypt`, `usync`, `passive`). `false` when it is none
    /// of these (the connection's generic handling answers it).
    pub(super) fn on_device_stanza(
        &mut self,
        device: &DeviceAddr,
        endpoint: Endpoint,
        node: &Node,
    ) -> bool {
        match &*node.tag {
            "message" => self.on_message(device, endpoint, node),
            "receipt" => self.on_receipt(device, endpoint, node),
            "ack" => self.on_device_ack(device, node),
            "iq" => {
                let kind = node.attr_str("type").unwrap_or_default();
                if !matches!(kind, "get" | "set") {
                    return false;
                }
                let answer = match node.attr_str("xmlns").unwrap_or_default() {
                    "encrypt" => self.on_encrypt_iq(device, node),
                    "usync" => self.on_usync(device, node),
                    "w:m" if node.child("media_conn").is_some() => {
                        let unix = self.unix_at(self.now);
                        self.media.media_conn_answer(node, unix)
                    }
                    "w:g2" => self.on_group_iq(device, node),
                    "passive" if node.child("active").is_some() => {
                        let iq_id = node.attr_str("id").unwrap_or_default();
                        let result = stanzas::result(iq_id, None);
                        self.transmit(device, endpoint, &result);
                        self.activate(device);
                        return true;
                    }
                    _ if endpoint == Endpoint::Local => {
                        // A local device's other iqs: a plain result, as on a connection.
                        stanzas::result(node.attr_str("id").unwrap_or_default(), None)
                    }
                    _ => return false,
                };
                self.transmit(device, endpoint, &answer);
            }
            _ => return endpoint == Endpoint::Local,
        }
        true
    }
}
