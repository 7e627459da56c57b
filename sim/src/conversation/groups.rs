//! The group of a [`Conversation`](super::Conversation) (issue 15 item 5), in plans of
//! [`ConversationPlan::with_groups`](crate::fault_plan::messaging::ConversationPlan::with_groups):
//! A, B and C in one group (A its admin, LID- or PN-addressed by the seed), sends to it from
//! anyone, and B and C removed and added again with messages in flight.
//!
//! The two invariants of issue 15.5:
//!
//! 1. **Every member device present when a message was accepted gets it exactly once**: the
//!    server logs a group message's recipients (every member device but the sender's) when it
//!    accepts it, so the ledger's invariants 1, 2 and 6 cover group messages as they cover
//!    1:1 ones.
//! 2. **A removed member never decrypts a message sent after the removal was acked** (here):
//!
//! ```text
//!  removal of X (server) ─▶ w:gp2 <remove> to every member device, X's included
//!  companion i acks that notification ─▶ from now on, i's sends to the group are "after"
//!  check (when X is added again — only what was accepted by then — and at the end):
//!     for every "after" message the server accepted: no device of X got it, and X's phone
//!     cannot decrypt any skmsg of it with the sender keys it holds
//! ```
//!
//! Only the companions' sends are watched (the system under test); the phones' sends count
//! for invariant 1. Sends a companion started before it acked the removal are in flight: they
//! may have been encrypted with the key X held, and the server does not route them to X.

use std::collections::BTreeSet;

use tether_core::binary::{Jid, Node, Server};

use super::cast::Cast;
use super::ledger::{Ledger, Party};
use crate::mesh::Mesh;
use crate::server::{DeviceAddr, MemberChange, Namespace};

/// A removal being watched.
#[derive(Debug)]
struct Removal {
    /// The removed account.
    account: u8,
    /// The id of the `w:gp2` notification of the removal.
    notification: String,
    /// Companions (mesh index) that acknowledged it.
    acked: BTreeSet<usize>,
    /// Sends to the group companions started after acknowledging it.
    after: Vec<String>,
    /// The account was added again (and the removal checked then).
    closed: bool,
}

/// The group and the removals being watched.
#[derive(Debug, Default)]
pub(crate) struct GroupWatch {
    group: Option<Jid>,
    removals: Vec<Removal>,
    /// Removals and adds the server applied.
    pub(crate) changes: u64,
}

fn device_jid(user: &str, device: u16, server: Server) -> Jid {
    Jid::device(user, device, server)
}

impl GroupWatch {
    /// The group, once made.
    pub(crate) fn group(&self) -> Option<&Jid> {
        self.group.as_ref()
    }

    /// A's account makes the group of A, B and C.
    pub(crate) fn create(&mut self, mesh: &mut Mesh, cast: &Cast, lid: bool) -> Result<(), String> {
        let members = [cast.user(1, lid), cast.user(2, lid)];
        let mode = if lid { Namespace::Lid } else { Namespace::Pn };
        let group = mesh
            .server
            .create_group(&cast.user(0, false), "Sweep", &members, mode)
            .map_err(|e| format!("the group could not be made: {e}"))?;
        self.group = Some(group);
        Ok(())
    }

    /// A's account adds `account` to the group or removes it.
    pub(crate) fn change(
        &mut self,
        mesh: &mut Mesh,
        cast: &Cast,
        ledger: &Ledger,
        add: bool,
        account: u8,
    ) -> Result<(), String> {
        let Some(group) = self.group.clone() else {
            return Ok(());
        };
        if add {
            // The window of its removals closes: check what was accepted until now.
            for index in 0..self.removals.len() {
                if self.removals[index].account == account && !self.removals[index].closed {
                    self.check(index, mesh, cast, ledger)?;
                    self.removals[index].closed = true;
                }
            }
        }
        let change = if add {
            MemberChange::Add
        } else {
            MemberChange::Remove
        };
        let applied = mesh
            .server
            .change_group_members(
                &group,
                &cast.user(0, false),
                change,
                &[cast.user(account, false)],
            )
            .map_err(|e| format!("the group change was refused: {e}"))?;
        if applied.is_empty() {
            return Ok(());
        }
        self.changes += 1;
        if add {
            return Ok(());
        }
        // A is always a member: its companion's queue holds the notification, newest last.
        let a = &cast.companion_addr[0];
        let queued = mesh
            .server
            .queued(&device_jid(&a.user, a.device, Server::WhatsApp));
        let notification = queued
            .iter()
            .rev()
            .find(|(class, _)| *class == crate::server::StanzaClass::Notification)
            .map(|(_, id)| id.clone())
            .ok_or("the removal's w:gp2 notification was not queued for A's companion")?;
        self.removals.push(Removal {
            account,
            notification,
            acked: BTreeSet::new(),
            after: Vec::new(),
            closed: false,
        });
        Ok(())
    }

    /// Companion `companion` sent `node` to the server.
    pub(crate) fn companion_sent(&mut self, companion: usize, node: &Node) {
        if node.tag != "ack" || node.attr_str("class") != Some("notification") {
            return;
        }
        let Some(id) = node.attr_str("id") else {
            return;
        };
        for removal in self.removals.iter_mut().filter(|r| r.notification == id) {
            removal.acked.insert(companion);
        }
    }

    /// Companion `companion` started sending message `id` to the group.
    pub(crate) fn send_started(&mut self, companion: usize, id: &str) {
        for removal in self
            .removals
            .iter_mut()
            .filter(|r| !r.closed && r.acked.contains(&companion))
        {
            removal.after.push(id.to_owned());
        }
    }

    /// The end: every removal still open is checked.
    pub(crate) fn finish(&self, mesh: &Mesh, cast: &Cast, ledger: &Ledger) -> Result<(), String> {
        for index in 0..self.removals.len() {
            if !self.removals[index].closed {
                self.check(index, mesh, cast, ledger)?;
            }
        }
        Ok(())
    }

    /// Invariant 2 for removal `index`, over what the server accepted until now.
    fn check(&self, index: usize, mesh: &Mesh, cast: &Cast, ledger: &Ledger) -> Result<(), String> {
        let (Some(group), Some(removal)) = (&self.group, self.removals.get(index)) else {
            return Ok(());
        };
        let user = cast.phones[usize::from(removal.account)].phone_number();
        let parties: Vec<(&DeviceAddr, Party)> = cast
            .parties
            .iter()
            .filter(|(addr, _)| addr.user == user)
            .map(|(addr, party)| (addr, *party))
            .collect();
        let phone = cast.phone_device[usize::from(removal.account)];
        let accepted: BTreeSet<&str> = mesh
            .server
            .accepted()
            .iter()
            .filter(|a| a.to == *group && a.retry_count.is_none())
            .map(|a| a.id.as_str())
            .collect();
        for id in removal
            .after
            .iter()
            .filter(|id| accepted.contains(id.as_str()))
        {
            for (addr, party) in &parties {
                if ledger.got_any(*party, id) {
                    return Err(format!(
                        "a removed member never decrypts a message sent after the removal was \
                         acked: {addr} (removed, notification {}) got message {id}",
                        removal.notification
                    ));
                }
            }
            for r in mesh
                .server
                .routed()
                .iter()
                .filter(|r| r.id == *id && r.kind == "skmsg")
            {
                let mut senders = vec![device_jid(
                    &r.sender.user,
                    r.sender.device,
                    Server::WhatsApp,
                )];
                if let Some(lid) = mesh
                    .server
                    .alternate_user(&Jid::user(&r.sender.user, Server::WhatsApp))
                {
                    senders.push(device_jid(lid.user_str(), r.sender.device, Server::Lid));
                }
                let device = &mesh.devices[phone].device;
                if senders
                    .iter()
                    .any(|s| device.can_decrypt_group(group, s, &r.ciphertext))
                {
                    return Err(format!(
                        "a removed member never decrypts a message sent after the removal was \
                         acked: the phone of account {} (removed, notification {}) can decrypt \
                         message {id} of {} with the sender key it holds",
                        removal.account, removal.notification, r.sender
                    ));
                }
            }
        }
        Ok(())
    }
}
