//! Steps 1 and 2 of a batch: each queued stanza's sender address and the records its
//! decryption needs, asked for once and pinned in the cache until the batch is processed.

use bytes::Bytes;

use super::Inbox;
use crate::messaging::address::{Address, Namespace, UserId};
use crate::messaging::ctx::Ctx;
use crate::messaging::devices::Devices;
use crate::messaging::rows::{self};
use crate::messaging::sessions::{self};
use crate::messaging::stanza::Envelope;
use crate::records::Table;

impl Inbox {
    /// Steps 1 and 2 for the queued stanzas `from..n`: asks for what is missing; `true` when
    /// every record they need is cached.
    ///
    /// A stanza looked at before is looked at again only up to the first one still waiting:
    /// loads are answered in the order they were asked, and the batch waits for that one
    /// anyway (without this, every answered load re-checked every waiting stanza of the
    /// batch: quadratic in the batch). A stanza never looked at is always looked at, so its
    /// records are asked for as it arrives.
    pub(super) fn gather(&mut self, ctx: &mut Ctx<'_>, from: usize, n: usize) -> bool {
        let mut all = true;
        let mut blocked = false;
        for i in from..n {
            let Some(q) = self.queue.get(i) else { break };
            if q.ready {
                continue;
            }
            let Ok(env) = &q.env else { continue };
            let keys = match &q.keys {
                Some(_) if blocked => {
                    all = false;
                    continue;
                }
                Some(_) => self
                    .queue
                    .get_mut(i)
                    .and_then(|q| q.keys.take())
                    .unwrap_or_default(),
                None => {
                    // 1. The sender's LID mapping, where the stanza does not carry the LID.
                    let map = UserId::of(&env.sender().to_non_ad())
                        .filter(|u| u.ns == Namespace::Pn && env.alt_lid.is_none())
                        .map(|u| Devices::map_key(&u));
                    if let Some(map) = map
                        && !ctx.want_pinned(&[map])
                    {
                        all = false;
                        blocked = true;
                        continue;
                    }
                    self.needs(ctx, env)
                }
            };
            // 2. Everything the decryption needs.
            let ready = ctx.want_pinned(&keys);
            if let Some(q) = self.queue.get_mut(i) {
                q.keys = Some(keys);
                q.ready = ready;
            }
            if !ready {
                all = false;
                blocked = true;
            }
        }
        all
    }

    /// The records the decryption of one stanza needs.
    pub(super) fn needs(&self, ctx: &mut Ctx<'_>, env: &Envelope) -> Vec<(Table, Bytes)> {
        let Some(from) = self.sender_address(ctx, env) else {
            return Vec::new();
        };
        let mut keys = vec![(Table::Processed, dedup_key(ctx, env, &from))];
        let group = env.is_group().then(|| env.from.to_non_ad());
        for enc in &env.encs {
            keys.extend(sessions::needs(
                ctx,
                &from,
                pn_form(env),
                enc,
                group.as_ref(),
            ));
        }
        keys
    }

    /// The sender's canonical address: the LID form when known.
    pub(super) fn sender_address(&self, ctx: &mut Ctx<'_>, env: &Envelope) -> Option<Address> {
        let sender = Address::of(env.sender())?;
        if sender.user.ns != Namespace::Pn {
            return Some(sender);
        }
        if let Some(lid) = env
            .alt_lid
            .as_ref()
            .and_then(|j| UserId::of(&j.to_non_ad()))
        {
            return Some(sender.with_user(&lid));
        }
        match Devices::lid_of(ctx, &sender.user) {
            Some(Some(lid)) => Some(sender.with_user(&lid)),
            _ => Some(sender),
        }
    }
}

/// The phone-number form of the sender, when the stanza names it (lookups accept both).
pub(super) fn pn_form(env: &Envelope) -> Option<Address> {
    let sender = Address::of(env.sender())?;
    if sender.user.ns == Namespace::Pn {
        return Some(sender);
    }
    let pn = env
        .alt_pn
        .as_ref()
        .and_then(|j| UserId::of(&j.to_non_ad()))?;
    Some(sender.with_user(&pn))
}

pub(super) fn dedup_key(_ctx: &Ctx<'_>, env: &Envelope, from: &Address) -> Bytes {
    let chat = if env.is_group() {
        env.from.to_non_ad().to_string()
    } else {
        String::new()
    };
    rows::processed_key(&rows::dedup_hash(&chat, &from.user.to_string(), &env.id))
}
