//! The clock of a [`Conversation`]: virtual time advances to each planned step through the
//! agenda (what is due at an instant: an application's confirmation, a phone back online, a
//! crashed companion's new process, a device link), with a livelock guard; and the
//! applications' side of the inbox contract (confirm after a delay, or at the end).

use std::time::Instant;

use tether_core::connection::Command;
use tether_core::messaging::types::InboxPos;

use super::Conversation;
use crate::fault_plan::messaging::ConfirmPolicy;
use crate::server::DeviceAddr;

/// Steps at one virtual instant beyond which a run counts as livelocked.
const STILL_STEPS: u64 = 50_000;

/// What to do at an instant.
#[derive(Debug)]
pub(super) enum Agenda {
    /// The application of a companion confirms a message (if its process is still the one
    /// that emitted it).
    Confirm {
        companion: usize,
        epoch: u64,
        pos: InboxPos,
        key: (DeviceAddr, String),
    },
    /// A phone comes back online.
    PhoneBack(usize),
    /// A crashed companion's new process connects.
    Connect(usize),
    /// A headless companion links to the account.
    Link(u8),
}

impl Conversation {
    /// Steps until `deadline`, doing what the agenda says on the way.
    pub(super) fn advance(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            let next = self
                .agenda
                .keys()
                .next()
                .map_or(deadline, |(at, _)| (*at).min(deadline));
            while self.mesh.step(next) {
                self.progressed()?;
                self.absorb()?;
            }
            self.absorb()?;
            self.mesh.run_until_instant(next);
            let now = self.mesh.now();
            let due: Vec<Agenda> = {
                let later = self.agenda.split_off(&(now, u64::MAX));
                std::mem::replace(&mut self.agenda, later)
                    .into_values()
                    .collect()
            };
            for item in due {
                self.on_agenda(item)?;
            }
            if next >= deadline
                && self
                    .agenda
                    .keys()
                    .next()
                    .is_none_or(|(at, _)| *at > deadline)
            {
                return Ok(());
            }
        }
    }

    pub(super) fn schedule(&mut self, at: Instant, item: Agenda) {
        self.agenda_n += 1;
        self.agenda.insert((at, self.agenda_n), item);
    }

    pub(super) fn on_agenda(&mut self, item: Agenda) -> Result<(), String> {
        match item {
            Agenda::Confirm {
                companion,
                epoch,
                pos,
                key,
            } => {
                if self.mesh.companions[companion].epoch() != epoch {
                    return Ok(());
                }
                self.unconfirmed[companion].retain(|(p, _)| *p != pos);
                self.confirm(companion, vec![pos], vec![key])
            }
            Agenda::PhoneBack(device) => {
                self.mesh.set_online(device, true);
                self.absorb()
            }
            Agenda::Connect(companion) => {
                self.mesh
                    .command(companion, Command::Connect)
                    .map_err(|e| format!("connect after a restart refused: {e}"))?;
                self.absorb()
            }
            Agenda::Link(account) => {
                self.cast.link_headless(&mut self.mesh, account);
                self.absorb()
            }
        }
    }

    pub(super) fn progressed(&mut self) -> Result<(), String> {
        let now = self.mesh.now();
        if self.last_instant == Some(now) {
            self.still += 1;
            if self.still > STILL_STEPS {
                return Err(format!(
                    "virtual time moves on: {STILL_STEPS} steps at {:?} (a livelock; due: {})",
                    self.mesh.elapsed(),
                    self.mesh.due_now()
                ));
            }
        } else {
            self.last_instant = Some(now);
            self.still = 0;
        }
        Ok(())
    }

    /// A companion's message came out: confirm it as the application's policy says.
    pub(super) fn emitted(
        &mut self,
        companion: usize,
        epoch: u64,
        pos: InboxPos,
        key: (DeviceAddr, String),
        now: Instant,
    ) {
        let account = self
            .cast
            .companion
            .iter()
            .position(|c| *c == companion)
            .unwrap_or(0);
        match self.plan.confirm[account] {
            ConfirmPolicy::After(delay) => self.schedule(
                now + delay,
                Agenda::Confirm {
                    companion,
                    epoch,
                    pos,
                    key: key.clone(),
                },
            ),
            ConfirmPolicy::AtTheEnd => {}
        }
        self.unconfirmed[companion].push((pos, key));
    }

    /// The applications confirm everything their current processes emitted.
    pub(super) fn confirm_everything(&mut self) -> Result<(), String> {
        for companion in 0..self.unconfirmed.len() {
            let all = std::mem::take(&mut self.unconfirmed[companion]);
            if all.is_empty() {
                continue;
            }
            let (positions, keys): (Vec<InboxPos>, Vec<_>) = all.into_iter().unzip();
            self.confirm(companion, positions, keys)?;
        }
        Ok(())
    }

    pub(super) fn confirm(
        &mut self,
        companion: usize,
        positions: Vec<InboxPos>,
        keys: Vec<(DeviceAddr, String)>,
    ) -> Result<(), String> {
        self.absorb()?;
        self.confirm_waiting[companion] = Some(keys);
        self.mesh
            .command(companion, Command::Confirm { positions })
            .map_err(|e| format!("confirm refused: {e}"))?;
        self.absorb()?;
        if let Some(keys) = self.confirm_waiting[companion].take() {
            let epoch = self.mesh.companions[companion].epoch();
            self.ledger.confirming(companion, epoch, keys, None);
        }
        Ok(())
    }
}
