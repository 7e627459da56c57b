//! What a [`Conversation`] sees: every trace record of the mesh becomes a hashed,
//! instant-free line (FNV-1a: the same seed must give the same hash) and feeds the ledger's
//! and the group watch's checks — deliveries, typed send outcomes, crashes, durable writes,
//! what each companion put on the wire, retry receipts, and the usyncs that fire a planned
//! device link.

use std::time::Instant;

use tether_core::connection::Event;

use super::Conversation;
use super::agenda::Agenda;
use super::ledger::Party;
use super::secrets::TEXT_MARK;
use crate::device::DeviceEvent;
use crate::mesh::{MeshRecord, Who};
use crate::server::{DeviceAddr, PlantedBug};
use crate::trace::Traced;
use crate::world::scrub_instants;

/// FNV-1a over the trace lines.
pub(super) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Conversation {
    pub(super) fn push_line(&mut self, line: String) {
        for byte in line.bytes().chain(std::iter::once(b'\n')) {
            self.hash ^= u64::from(byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        self.lines.push(line);
    }

    /// Takes the new trace records: a hashed line each, and the ledger's checks.
    pub(super) fn absorb(&mut self) -> Result<(), String> {
        let new = self.mesh.take_trace();
        for record in new {
            let text = line(&record);
            if matches!(record.who, Who::Companion(_)) && text.contains(TEXT_MARK) {
                return Err(format!(
                    "no message text in Debug output: a companion's record carried one: {text}"
                ));
            }
            self.push_line(text);
            self.on_record(&record)?;
        }
        self.ledger.check_wire(&self.mesh.server)?;
        self.ledger.check_handouts(&self.mesh.server)?;
        if let Some(complaint) = self.mesh.server.complaints().first() {
            return Err(format!(
                "no protocol violation: the server complained: {} ({:?})",
                complaint.what, complaint.device
            ));
        }
        Ok(())
    }

    pub(super) fn sender_addr(&self, jid: &tether_core::binary::Jid) -> Result<DeviceAddr, String> {
        self.mesh
            .server
            .device_of(jid)
            .ok_or_else(|| format!("a message from {jid}, which names no device"))
    }

    pub(super) fn on_record(&mut self, record: &MeshRecord) -> Result<(), String> {
        let now = self.mesh.now();
        match (&record.who, &record.what) {
            (Who::Companion(i), Traced::Event(event)) => {
                let i = *i;
                let epoch = self.mesh.companions[i].epoch();
                match event {
                    Event::Message(m) => {
                        if self.planted == Some(PlantedBug::PlaintextLogged) {
                            tracing::debug!(
                                target: "tether_core::messaging::inbox",
                                id = %m.id.as_str(),
                                text = ?m.text(),
                                "message received"
                            );
                        }
                        let sender = self.sender_addr(&m.sender)?;
                        self.ledger.delivered(
                            Party::Companion(i),
                            epoch,
                            sender.clone(),
                            m.id.as_str(),
                            m.text(),
                            false,
                        )?;
                        self.emitted(i, epoch, m.inbox, (sender, m.id.as_str().to_owned()), now);
                    }
                    Event::Undecryptable(u) => {
                        let sender = self.sender_addr(&u.sender)?;
                        self.ledger.delivered(
                            Party::Companion(i),
                            epoch,
                            sender.clone(),
                            u.id.as_str(),
                            None,
                            true,
                        )?;
                        self.emitted(i, epoch, u.inbox, (sender, u.id.as_str().to_owned()), now);
                    }
                    Event::Sent { id, .. } => self.ledger.send_finished(id.as_str(), true),
                    Event::SendFailed { id, reason } => {
                        if let tether_core::messaging::types::SendError::DeviceUnreachable {
                            device,
                            ..
                        } = reason
                            && let Some(addr) = device
                                .parse()
                                .ok()
                                .and_then(|jid| self.mesh.server.device_of(&jid))
                        {
                            self.ledger.unreachable(addr, id.as_str());
                        }
                        self.ledger.send_finished(id.as_str(), false);
                    }
                    _ => {}
                }
            }
            (Who::Companion(i), Traced::Crashed { .. }) => {
                let i = *i;
                self.stats.crashes += 1;
                self.ledger.crashed(i, &self.mesh.companions[i].store);
                self.ledger.forget_confirming(i);
                self.unconfirmed[i].clear();
                self.confirm_waiting[i] = None;
                self.schedule(now, Agenda::Connect(i));
            }
            (Who::Companion(i), Traced::Durable(seq)) => self.ledger.durable(*i, seq.0),
            (
                Who::Companion(i),
                Traced::Action(tether_core::connection::Action::PersistCredentials { seq, .. }),
            ) => {
                if let Some(keys) = self.confirm_waiting[*i].take() {
                    let epoch = self.mesh.companions[*i].epoch();
                    self.ledger.confirming(*i, epoch, keys, Some(seq.0));
                }
            }
            (Who::Device(j), Traced::Device(event)) => self.on_device_event(*j, event)?,
            (Who::Server, Traced::ServerReceived(conn, node)) => {
                if node.tag == "receipt" && node.attr_str("type") == Some("retry") {
                    self.stats.retries += 1;
                }
                if let Some(i) = crate::mesh::Companion::index_of(*conn)
                    && i < self.mesh.companions.len()
                {
                    self.groups.companion_sent(i, node);
                    let own = self.cast.companion_addr[i].clone();
                    self.ledger.companion_sent(
                        i,
                        &own,
                        node,
                        &self.mesh.companions[i].store,
                        &self.mesh.server,
                    )?;
                }
                if node.attr_str("xmlns") == Some("usync") && !self.link_on_usync.is_empty() {
                    self.link_if_named(node, now);
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn on_device_event(&mut self, j: usize, event: &DeviceEvent) -> Result<(), String> {
        match event {
            DeviceEvent::Received(r) => {
                let sender = self.sender_addr(&r.sender)?;
                self.ledger.delivered(
                    Party::Device(j),
                    0,
                    sender,
                    &r.id,
                    r.text.as_deref(),
                    false,
                )?;
            }
            DeviceEvent::Undecryptable { id, from, .. } => {
                let sender = self.sender_addr(from)?;
                self.ledger
                    .delivered(Party::Device(j), 0, sender, id, None, true)?;
            }
            DeviceEvent::RetryRequested { id, .. } => {
                self.stats.retries += 1;
                let own = self.mesh.devices[j].device.jid();
                if let Some(addr) = self.mesh.server.device_of(&own) {
                    self.ledger.retried(addr, id);
                }
            }
            DeviceEvent::Sent { id, .. } => self.ledger.send_finished(id, true),
            DeviceEvent::SendFailed { id, .. } => self.ledger.send_finished(id, false),
            _ => {}
        }
        Ok(())
    }

    /// An armed device link fires when a usync names its account.
    pub(super) fn link_if_named(&mut self, iq: &tether_core::binary::Node, now: Instant) {
        let users: Vec<String> = iq
            .child("usync")
            .and_then(|u| u.child("list"))
            .map(|l| {
                l.child_nodes()
                    .iter()
                    .filter_map(|u| crate::server::jid_attr_of(u, "jid"))
                    .filter_map(|j| self.mesh.server.phone_number_of(&j))
                    .collect()
            })
            .unwrap_or_default();
        let armed = std::mem::take(&mut self.link_on_usync);
        for account in armed {
            let pn = self.cast.phones[usize::from(account)]
                .phone_number()
                .to_owned();
            if users.contains(&pn) {
                self.schedule(now, Agenda::Link(account));
            } else {
                self.link_on_usync.push(account);
            }
        }
    }
}

/// A trace line without absolute instants.
fn line(record: &MeshRecord) -> String {
    let ms = record.at.as_millis();
    let what = match &record.what {
        Traced::Transmit { transport, len } => format!("tx {transport} {len}"),
        Traced::ServerReceived(id, node) => format!("server<-{id}: {node}"),
        other => scrub_instants(&format!("{other:?}")),
    };
    format!("{ms:>9}ms {:?} {what}", record.who)
}
