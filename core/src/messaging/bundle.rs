//! Pre-key bundles on the wire (`messaging.md` §3): the fetch iq and the parsing of the
//! `<user>`/`<keys>` containers a bundle answer or a retry receipt carries.

use std::collections::BTreeSet;

use bytes::Bytes;
use tracing::warn;

use super::address::Address;
use super::ctx::{Ctx, IqFor};
use super::sessions::{self, RawBundle};
use super::stanza::jid_attr;
use crate::binary::{Content, Jid, Node};
use crate::records::Table;

/// Loads the sessions of `targets` and asks for the bundles of those without one (each device
/// once per job: `asked`; one fetch in flight per device: `fetching`). `false` while a load or
/// a fetch is outstanding (the job waits); `true` when every target has a session or its bundle
/// fetch is over (those still without a session are left out by the caller).
pub(crate) fn ensure_sessions(
    ctx: &mut Ctx<'_>,
    targets: &[Address],
    asked: &mut BTreeSet<Address>,
    fetching: &mut BTreeSet<Address>,
) -> bool {
    if !ctx.want(targets.iter().map(|a| (Table::Sessions, a.key()))) {
        return false;
    }
    let missing: Vec<Address> = targets
        .iter()
        .filter(|a| sessions::has_session(ctx, a) != Some(true))
        .filter(|a| !asked.contains(*a))
        .cloned()
        .collect();
    if !missing.is_empty() {
        if !ctx.connected {
            return false;
        }
        let wanted: Vec<Jid> = missing
            .iter()
            .filter(|a| fetching.insert((*a).clone()))
            .map(Address::jid)
            .collect();
        asked.extend(missing);
        if !wanted.is_empty() {
            let iq = bundle_query(ctx, wanted);
            ctx.send(iq);
        }
        return false;
    }
    !targets.iter().any(|a| fetching.contains(a))
}

/// The registration id in a `<registration>` child (4 bytes, big endian).
pub(crate) fn registration_of(node: Option<&Node>) -> Option<u32> {
    bytes_of(node).and_then(|b| <[u8; 4]>::try_from(b.as_ref()).ok().map(u32::from_be_bytes))
}

/// A bundle answer: a session for every device that sent a valid bundle.
pub(crate) fn process_answer(ctx: &mut Ctx<'_>, node: &Node) {
    let users = node
        .child("list")
        .map(Node::child_nodes)
        .unwrap_or_default();
    for user in users.iter().filter(|u| u.tag == "user") {
        let Some(device) = jid_attr(user, "jid") else {
            continue;
        };
        let Some(addr) = Address::of(&device) else {
            continue;
        };
        if user.child("error").is_some() {
            warn!(%device, "the server has no bundle for a device");
            continue;
        }
        let registration = registration_of(user.child("registration"));
        let container = user.child("keys").unwrap_or(user);
        match bundle_from_keys(container, registration, device.device_id()) {
            Some(bundle) => {
                sessions::process_bundle(ctx, &addr, &bundle);
            }
            None => warn!(%device, "an unreadable pre-key bundle"),
        }
    }
}

/// `<iq xmlns="encrypt" type="get"><key><user jid reason="identity"/>…`.
pub(crate) fn bundle_query(ctx: &mut Ctx<'_>, devices: Vec<Jid>) -> Node {
    let users = devices
        .iter()
        .map(|d| {
            Node::new("user")
                .jid_attr("jid", d.clone())
                .attr("reason", "identity")
        })
        .collect();
    ctx.iq(IqFor::Bundles(devices), "encrypt", "get")
        .children(vec![Node::new("key").children(users)])
}

/// A bundle from `<registration>` (or `registration`) and key children.
pub(crate) fn bundle_from_keys(
    node: &Node,
    registration: Option<u32>,
    device: u16,
) -> Option<RawBundle> {
    let registration = registration.or_else(|| registration_of(node.child("registration")))?;
    let identity: [u8; 32] = bytes_of(node.child("identity"))?.as_ref().try_into().ok()?;
    let skey = node.child("skey")?;
    let spk_id = super::prekeys::read_u24(&bytes_of(skey.child("id"))?)?;
    let spk: [u8; 32] = bytes_of(skey.child("value"))?.as_ref().try_into().ok()?;
    let sig: [u8; 64] = bytes_of(skey.child("signature"))?
        .as_ref()
        .try_into()
        .ok()?;
    let pre_key = match node.child("key") {
        Some(k) => Some((
            super::prekeys::read_u24(&bytes_of(k.child("id"))?)?,
            bytes_of(k.child("value"))?.as_ref().try_into().ok()?,
        )),
        None => None,
    };
    Some(RawBundle {
        registration_id: registration,
        device,
        identity,
        signed_pre_key: (spk_id, spk, sig),
        pre_key,
    })
}

/// The bytes of `node`, if it holds bytes.
pub(crate) fn bytes_of(node: Option<&Node>) -> Option<Bytes> {
    match &node?.content {
        Content::Bytes(b) => Some(b.clone()),
        _ => None,
    }
}
