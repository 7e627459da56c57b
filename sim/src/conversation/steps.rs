//! The planned steps of a [`Conversation`]: sends (from a companion or a phone, to an
//! account or the group), membership changes, and the messaging faults
//! (`fault_plan/messaging.rs`) applied to the server, a phone or a companion.

use std::time::Duration;

use tether_core::proto::message::Message;

use super::Conversation;
use super::agenda::Agenda;
use super::ledger::Party;
use crate::fault_plan::messaging::{MessagingFault, Sender, Step};
use crate::world::apply::{FaultTarget, apply_to};

impl Conversation {
    pub(super) fn apply(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Send { from, to, lid } => {
                let jid = self.cast.user(*to, *lid);
                self.send(*from, jid)
            }
            Step::GroupSend { from } => match self.groups.group().cloned() {
                Some(group) => self.send(*from, group),
                None => Ok(()),
            },
            Step::GroupChange { add, account } => {
                self.groups
                    .change(&mut self.mesh, &self.cast, &self.ledger, *add, *account)?;
                self.mesh.settle();
                Ok(())
            }
            Step::Fault(fault) => {
                tracing::warn!(?fault, "injecting a planned messaging fault");
                self.fault(fault);
                Ok(())
            }
        }
    }

    pub(super) fn send(
        &mut self,
        from: Sender,
        jid: tether_core::binary::Jid,
    ) -> Result<(), String> {
        self.texts += 1;
        let text = format!("message {} of seed {}", self.texts, self.seed);
        let to_group = *jid.server() == tether_core::binary::Server::Group;
        match from {
            Sender::Companion(account) => {
                let index = self.cast.companion[usize::from(account)];
                let epoch = self.mesh.companions[index].epoch();
                let id = self
                    .mesh
                    .send_message(index, jid, Message::text(text.clone()))
                    .map_err(|e| format!("send refused: {e}"))?;
                self.ledger
                    .send_started(Party::Companion(index), epoch, id.as_str(), &text);
                if to_group {
                    self.groups.send_started(index, id.as_str());
                }
            }
            Sender::Phone(account) => {
                let index = self.cast.phone_device[usize::from(account)];
                let unix = self.mesh.server.unix_at(self.mesh.now());
                let id = self.mesh.devices[index].device.send_text(&jid, &text, unix);
                self.ledger
                    .send_started(Party::Device(index), 0, &id, &text);
                self.mesh.settle();
            }
        }
        Ok(())
    }

    pub(super) fn fault(&mut self, fault: &MessagingFault) {
        let now = self.mesh.now();
        match fault {
            MessagingFault::Connection { companion, fault } => {
                let index = self.cast.companion[usize::from(*companion)];
                let companion = &mut self.mesh.companions[index];
                let current = companion.server_conn();
                apply_to(
                    FaultTarget {
                        server: &mut self.mesh.server,
                        net: &mut companion.net,
                        store: &mut companion.store,
                        current,
                        now,
                    },
                    fault,
                );
            }
            MessagingFault::Crash { companion } => {
                let index = self.cast.companion[usize::from(*companion)];
                self.mesh.crash_restart(index);
            }
            MessagingFault::CrashAt { companion, point } => {
                let index = self.cast.companion[usize::from(*companion)];
                self.mesh.crash_at(index, *point);
            }
            MessagingFault::PhoneAway { account, secs } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.set_online(device, false);
                self.schedule(
                    now + Duration::from_secs(u64::from(*secs)),
                    Agenda::PhoneBack(device),
                );
            }
            MessagingFault::DuplicateDeliveries { companion, n } => {
                let jid = self.companion_jid(*companion);
                self.mesh
                    .server
                    .duplicate_next_deliveries(&jid, u32::from(*n));
            }
            MessagingFault::LoseAcks { companion, n } => {
                let jid = self.companion_jid(*companion);
                self.mesh.server.lose_next_acks(&jid, u32::from(*n));
            }
            MessagingFault::DrainPreKeys { account } => {
                self.cast.drain_pre_keys(&mut self.mesh, *account)
            }
            MessagingFault::RotateSignedPreKey { account } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device].device.rotate_signed_pre_key();
            }
            MessagingFault::Reinstall => {
                let device = self.cast.phone_device[2];
                // Each reinstall makes a new identity (a repeat of one would reissue its
                // pre-key ids under the same identity).
                self.reinstalls += 1;
                let mut private = [0u8; 32];
                private[..8].copy_from_slice(&self.seed.to_le_bytes());
                private[8] = 0x77;
                private[9..17].copy_from_slice(&self.reinstalls.to_le_bytes());
                let identity = tether_signal::IdentityKeyPair::from_private_bytes(private);
                self.mesh.devices[device].device.reinstall(identity);
            }
            MessagingFault::LinkDevice { account } => self.link_on_usync.push(*account),
            MessagingFault::ForgetSessions { account } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device].device.forget_sessions();
            }
            MessagingFault::CorruptSends { account, n } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device]
                    .device
                    .corrupt_next_encs(u32::from(*n));
            }
            MessagingFault::FailDecrypts { account, n } => {
                let device = self.cast.phone_device[usize::from(*account)];
                self.mesh.devices[device]
                    .device
                    .fail_next_decrypts(u32::from(*n));
            }
        }
        self.mesh.settle();
    }

    pub(super) fn companion_jid(&self, companion: u8) -> tether_core::binary::Jid {
        let addr = &self.cast.companion_addr[usize::from(companion)];
        tether_core::binary::Jid::device(
            &addr.user,
            addr.device,
            tether_core::binary::Server::WhatsApp,
        )
    }
}
