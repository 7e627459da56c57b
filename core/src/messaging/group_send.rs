//! Sending to a group (`messaging.md` §7): one `skmsg` encrypted with our sender key, plus the
//! sender key itself (an SKDM, pairwise) for every member device that does not hold it yet.
//!
//! ```text
//!  metadata ─▶ member users (the group's namespace) + own user ─▶ device lists (usync)
//!    ─▶ our sender key (created if none) ─▶ devices lacking it: sessions (bundles where
//!       missing) ─▶ pairwise SKDM to each ─▶ skmsg for everyone
//!    ─▶ commit: sender key, who holds it, sessions, outbox row ─▶ durable ─▶ the stanza
//! ```
//!
//! Hosted devices are left out of group fan-out (whatsmeow, Baileys). The stanza carries
//! `phash` over every device it addresses, ours included (whatsmeow's rule), and
//! `addressing_mode="lid"` in LID groups.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use prost::Message as _;
use tether_signal::SenderKeyRecord;
use tracing::{debug, warn};

use super::address::{Address, Namespace, UserId};
use super::bundle;
use super::ctx::Ctx;
use super::devices::{Devices, Lists};
use super::groups::{self, Groups, HoldersRow, Meta};
use super::outbox::{InFlight, Job, Step};
use super::padding;
use super::phash;
use super::rows::{self, OutboxRow, OutboxState};
use super::sessions;
use super::stanza::{self, EncKind};
use super::store::{Deferred, Durable};
use super::types::SendError;
use crate::binary::{self, Jid, Node, TokenDict};
use crate::proto::message::{Message, SenderKeyDistributionMessage as Skdm};
use crate::records::Table;

/// Prepares the head message when it goes to a group.
pub(crate) fn prepare(
    ctx: &mut Ctx<'_>,
    devices: &mut Devices,
    groups: &mut Groups,
    bundles: &mut BTreeSet<Address>,
    staged: &mut BTreeMap<String, InFlight>,
    job: &mut Job,
) -> Step {
    let group = job.to.to_non_ad();
    let info = match groups.metadata(ctx, &group) {
        Meta::Ready(info) => info,
        Meta::Gone(why) => {
            return Step::Done(Err(SendError::InvalidRecipient(format!("{group}: {why}"))));
        }
        Meta::Waiting => return Step::Wait,
    };
    let Some(own) = groups::own_address(ctx, &group, Some(&info.addressing_mode)) else {
        return Step::Done(Err(SendError::Stopped("this device is not linked".into())));
    };
    let mut users = groups::member_users(&info);
    if !users.contains(&own.user) {
        users.push(own.user.clone());
    }
    let Lists::Ready(lists) = devices.lists(ctx, &users) else {
        return Step::Wait;
    };
    let mut targets: Vec<Address> = Vec::new();
    for (user, list) in &lists {
        for d in list.iter().filter(|d| !d.hosted) {
            let addr = UserId {
                user: user.user.clone(),
                ns: user.ns,
            }
            .device(d.id);
            if addr != own {
                targets.push(addr);
            }
        }
    }
    // Sessions live under one canonical address per device (the LID when known), whatever
    // namespace the group addresses its members in: a phone-number-addressed group must not
    // start a second session with a device we already talk to under its LID.
    let pn_users: Vec<UserId> = targets
        .iter()
        .map(|a| a.user.clone())
        .filter(|u| u.ns == Namespace::Pn)
        .collect();
    if !ctx.want(pn_users.iter().map(Devices::map_key)) {
        return Step::Wait;
    }
    let session_of = |ctx: &mut Ctx<'_>, addr: &Address| -> Address {
        if addr.user.ns != Namespace::Pn {
            return addr.clone();
        }
        if let Some(Some(lid)) = Devices::lid_of(ctx, &addr.user) {
            return addr.with_user(&lid);
        }
        // Our own devices: our LID is in the credentials.
        match ctx.creds.device.as_ref() {
            Some(d) if d.jid.user_str() == addr.user.user => d
                .lid
                .as_ref()
                .and_then(|l| UserId::of(&l.to_non_ad()))
                .map_or_else(|| addr.clone(), |lid| addr.with_user(&lid)),
            _ => addr.clone(),
        }
    };
    // Our sender key and who holds it.
    let sk_key = groups::sender_key_key(&group, &own);
    let holders_key = groups::group_key(&group);
    if !ctx.want([
        (Table::SenderKeys, sk_key.clone()),
        (Table::SenderKeyHolders, holders_key.clone()),
    ]) {
        return Step::Wait;
    }
    let mut record = ctx
        .get(Table::SenderKeys, &sk_key)
        .flatten()
        .and_then(|b| SenderKeyRecord::from_bytes(&b).ok())
        .filter(SenderKeyRecord::is_own)
        .unwrap_or_else(|| SenderKeyRecord::generate(&mut *ctx.rng));
    let Some(distribution) = record.distribution_message() else {
        return Step::Done(Err(SendError::Invalid("no sender key".into())));
    };
    let key_id = distribution.key_id().value();
    let holders: BTreeSet<String> = ctx
        .get(Table::SenderKeyHolders, &holders_key)
        .flatten()
        .and_then(|b| rows::decode::<HoldersRow>(&b))
        .filter(|h| h.key_id == Some(key_id))
        .map(|h| h.devices.into_iter().collect())
        .unwrap_or_default();
    let lacking: Vec<Address> = targets
        .iter()
        .filter(|a| !holders.contains(&a.to_string()))
        .cloned()
        .collect();
    // Sessions for the devices that need the key pairwise.
    let lacking: Vec<(Address, Address)> = lacking
        .into_iter()
        .map(|a| (session_of(ctx, &a), a))
        .collect();
    let canonical: Vec<Address> = lacking.iter().map(|(s, _)| s.clone()).collect();
    if !bundle::ensure_sessions(ctx, &canonical, &mut job.bundles_asked, bundles) {
        return Step::Wait;
    }
    let message = Message::decode(job.message.as_ref()).unwrap_or_default();
    // `media.md` §3.7: on the sender-key hand-overs and on the skmsg (whatsmeow).
    let media_type = crate::media::mediatype(&message);
    let skdm = Message {
        sender_key_distribution_message: Some(Skdm {
            group_id: Some(group.to_string()),
            axolotl_sender_key_distribution_message: Some(Bytes::copy_from_slice(
                distribution.as_bytes(),
            )),
        }),
        ..Message::default()
    }
    .encode_to_vec();
    let mut participants = Vec::new();
    let mut any_pkmsg = false;
    let mut now_holding: BTreeSet<String> = holders;
    for (session, addr) in &lacking {
        let [pad] = ctx.random::<1>();
        let Some((kind, ciphertext)) =
            sessions::encrypt(ctx, session, &padding::pad(skdm.clone(), pad))
        else {
            continue; // no bundle: it gets the key after a retry receipt
        };
        any_pkmsg |= kind == EncKind::PreKey;
        now_holding.insert(addr.to_string());
        participants.push(stanza::participant(
            &addr.jid(),
            kind,
            ciphertext,
            media_type,
        ));
    }
    let [pad] = ctx.random::<1>();
    let padded = padding::pad(message.encode_to_vec(), pad);
    let skmsg = match record.encrypt(&padded, &mut *ctx.rng) {
        Ok(b) => b,
        Err(e) => return Step::Done(Err(SendError::Invalid(e.to_string()))),
    };
    let mut all: Vec<Jid> = targets.iter().map(Address::jid).collect();
    all.push(own.jid());
    let phash = phash::participant_hash(&all);
    let mut node = Node::new("message")
        .attr("id", job.id.clone())
        .jid_attr("to", group.clone())
        .attr("type", job.kind.clone())
        .attr("phash", phash.clone());
    if info.addressing_mode == "lid" {
        node = node.attr("addressing_mode", "lid");
    }
    let mut children = Vec::new();
    if !participants.is_empty() {
        children.push(Node::new("participants").children(participants));
    }
    children.push(stanza::enc(
        EncKind::SenderKey,
        Bytes::from(skmsg),
        media_type,
        None,
    ));
    if any_pkmsg && let Some(d) = ctx.creds.device.as_ref() {
        children.push(Node::new("device-identity").bytes(d.account.clone()));
    }
    let node = node.children(children);
    let mut encoded = Vec::new();
    if let Err(e) = binary::encode(&node, TokenDict::v3(), &mut encoded) {
        return Step::Done(Err(SendError::Invalid(e.to_string())));
    }
    ctx.put(Table::SenderKeys, sk_key, Bytes::from(record.to_bytes()));
    ctx.put(
        Table::SenderKeyHolders,
        holders_key,
        rows::encode(&HoldersRow {
            key_id: Some(key_id),
            devices: now_holding.into_iter().collect(),
        }),
    );
    let row = OutboxRow {
        to: Some(group.to_string()),
        message: Some(job.message.clone()),
        state: Some(OutboxState::Encrypted as i32),
        created_at: Some(job.created_at),
        stanza: Some(Bytes::from(encoded)),
        kind: Some(job.kind.clone()),
        ..OutboxRow::default()
    };
    ctx.put(
        Table::Outbox,
        super::outcome::row_key(&job.id),
        rows::encode(&row),
    );
    let row = OutboxRow {
        stanza: None,
        ..row
    };
    staged.insert(
        job.id.clone(),
        InFlight {
            to: group.clone(),
            since: ctx.now,
            attempts: 0,
            stanza: node,
            phash: Some(phash),
            users,
            row,
        },
    );
    ctx.defer(Deferred::Notify(Durable::OutboxReady(job.id.clone())));
    debug!(id = %job.id, %group, devices = targets.len(), skdm = lacking.len(), "group message encrypted");
    if lacking.is_empty() && targets.is_empty() {
        warn!(%group, "a group without other devices");
    }
    Step::Done(Ok(()))
}

/// The pairwise resend for a group retry receipt: the message with our sender key inside, so
/// the requester can read this message and the following ones.
pub(crate) fn retry_body(ctx: &mut Ctx<'_>, group: &Jid, message: Message) -> Message {
    let own = groups::own_address(ctx, group, None);
    let distribution = own.and_then(|own| {
        let bytes = ctx
            .get(Table::SenderKeys, &groups::sender_key_key(group, &own))
            .flatten()?;
        SenderKeyRecord::from_bytes(&bytes)
            .ok()?
            .distribution_message()
    });
    let mut body = message;
    if let Some(d) = distribution {
        body.sender_key_distribution_message = Some(Skdm {
            group_id: Some(group.to_string()),
            axolotl_sender_key_distribution_message: Some(Bytes::copy_from_slice(d.as_bytes())),
        });
    }
    body
}
