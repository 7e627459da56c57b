//! Device lists and PN↔LID mappings (`messaging.md` §2).
//!
//! ```text
//!  lists(users) ── cached row? ──────────────── yes ─▶ Ready(devices per user)
//!       │ no (after a load)
//!       ▼
//!  usync iq for every missing user (one in flight per user) ─▶ answer: rows + LID mappings
//!       (the waiting job polls again and finds them)
//!
//!  <notification type="devices"> / phash mismatch in an ack ─▶ the user's row is dropped
//!  learn(pn, lid) ─▶ mapping rows; sessions and identities stored under the PN name move to
//!                    the LID name in one commit (the canonical address, DESIGN §10)
//! ```

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use tracing::{debug, warn};

use super::address::{Address, Namespace, UserId};
use super::ctx::{Ctx, IqFor};
use super::rows::{self, DeviceListRow, DeviceRow};
use super::store::RangeFor;
use crate::binary::{Jid, Node, Value};
use crate::records::{RecordRead, Table};

/// One device of a user, as a send fans out to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Device {
    pub(crate) id: u16,
    pub(crate) hosted: bool,
}

/// The device-list sub-machine.
#[derive(Debug, Default)]
pub(crate) struct Devices {
    /// Users with a usync in flight.
    querying: BTreeSet<String>,
    /// PN users whose PN-named records are being moved to their LID name: token → (pn,
    /// lid, the PN-named session rows once read).
    migrations: BTreeMap<u64, Migration>,
    next_migration: u64,
}

/// A PN→LID move in progress.
#[derive(Debug)]
struct Migration {
    pn: UserId,
    lid: UserId,
    rows: Option<Vec<(Bytes, Bytes)>>,
}

/// The answer of [`Devices::lists`].
#[derive(Debug)]
pub(crate) enum Lists {
    /// Every user's devices (a user with no devices maps to an empty list).
    Ready(BTreeMap<UserId, Vec<Device>>),
    /// Loading or querying; poll again.
    Waiting,
}

impl Devices {
    /// The device lists of `users`: cached rows, else a usync (in the users' namespaces;
    /// `<lid/>` asked too, so phone-number users' LIDs are learnt).
    pub(crate) fn lists(&mut self, ctx: &mut Ctx<'_>, users: &[UserId]) -> Lists {
        if !ctx.want(users.iter().map(|u| (Table::Devices, u.key()))) {
            return Lists::Waiting;
        }
        let mut ready = BTreeMap::new();
        let mut missing = Vec::new();
        for user in users {
            match ctx.get(Table::Devices, &user.key()).flatten() {
                Some(bytes) => match rows::decode::<DeviceListRow>(&bytes) {
                    Some(row) => {
                        ready.insert(user.clone(), devices_of(&row));
                    }
                    None => missing.push(user.clone()),
                },
                None => missing.push(user.clone()),
            }
        }
        if missing.is_empty() {
            return Lists::Ready(ready);
        }
        if !ctx.connected {
            return Lists::Waiting;
        }
        let to_ask: Vec<UserId> = missing
            .into_iter()
            .filter(|u| self.querying.insert(u.to_string()))
            .collect();
        if !to_ask.is_empty() {
            let iq = usync_query(ctx, &to_ask);
            ctx.send(iq);
        }
        Lists::Waiting
    }

    /// The answer to a usync query.
    pub(crate) fn on_usync(&mut self, ctx: &mut Ctx<'_>, asked: &[String], node: &Node, ok: bool) {
        for user in asked {
            self.querying.remove(user);
        }
        if !ok {
            warn!(answer = %node, "the device query failed");
            // Record empty lists so the waiting sends fail with a typed error instead of
            // asking forever.
            for user in asked {
                if let Some(u) = user.parse::<Jid>().ok().as_ref().and_then(UserId::of) {
                    store_list(ctx, &u, Vec::new(), None);
                }
            }
            return;
        }
        let users = node
            .child("usync")
            .and_then(|u| u.child("list"))
            .map(Node::child_nodes)
            .unwrap_or_default();
        let mut answered = BTreeSet::new();
        for user in users.iter().filter(|n| n.tag == "user") {
            let Some(jid) = jid_value(user.get_attr("jid")) else {
                continue;
            };
            let Some(id) = UserId::of(&jid.to_non_ad()) else {
                continue;
            };
            answered.insert(id.to_string());
            if let Some(lid) = user
                .child("lid")
                .and_then(|l| jid_value(l.get_attr("val")))
                .and_then(|j| UserId::of(&j.to_non_ad()))
                && id.ns == Namespace::Pn
                && lid.ns == Namespace::Lid
            {
                self.learn(ctx, &id, &lid);
            }
            let devices = user.child("devices");
            if devices.and_then(|d| d.child("error")).is_some() {
                warn!(user = %id, "the server refused the device list of a user");
                store_list(ctx, &id, Vec::new(), None);
                continue;
            }
            let list = devices.and_then(|d| d.child("device-list"));
            let hash = list.and_then(|l| l.attr_str("hash")).map(str::to_owned);
            let mut rows = Vec::new();
            for d in list.map(Node::child_nodes).unwrap_or_default() {
                let Some(dev) = d.attr_str("id").and_then(|s| s.parse::<u16>().ok()) else {
                    continue;
                };
                let key_index = d.attr_str("key-index").and_then(|s| s.parse::<u32>().ok());
                // Baileys drops companions without a key index (the server refuses them).
                if dev != 0 && key_index.is_none() {
                    continue;
                }
                rows.push(DeviceRow {
                    id: Some(u32::from(dev)),
                    key_index,
                    hosted: Some(d.attr_str("is_hosted") == Some("true")),
                });
            }
            store_list(ctx, &id, rows, hash);
        }
        // A user the answer left out has no devices we can use.
        for user in asked.iter().filter(|u| !answered.contains(*u)) {
            if let Some(u) = user.parse::<Jid>().ok().as_ref().and_then(UserId::of) {
                store_list(ctx, &u, Vec::new(), None);
            }
        }
    }

    /// Forgets a user's cached list (a `devices` notification, a phash mismatch).
    pub(crate) fn invalidate(ctx: &mut Ctx<'_>, user: &UserId) {
        debug!(%user, "device list invalidated");
        ctx.delete(Table::Devices, user.key());
    }

    /// The LID of a phone-number user, if known (`None`: not cached yet — ask with `want`).
    pub(crate) fn lid_of(ctx: &mut Ctx<'_>, pn: &UserId) -> Option<Option<UserId>> {
        let v = ctx.get(Table::LidMap, &pn_key(pn))?;
        Some(v.and_then(|b| {
            let user = std::str::from_utf8(&b).ok()?;
            Some(UserId {
                user: user.to_owned(),
                ns: Namespace::Lid,
            })
        }))
    }

    /// The mapping rows' keys for `user` (for `want`).
    pub(crate) fn map_key(user: &UserId) -> (Table, Bytes) {
        match user.ns {
            Namespace::Lid | Namespace::HostedLid => (Table::LidMap, lid_key(user)),
            Namespace::Pn | Namespace::Hosted => (Table::LidMap, pn_key(user)),
        }
    }

    /// A PN↔LID pair was seen (usync, message attributes, notifications). New pairs are
    /// stored, and anything stored under the phone-number name moves to the LID name.
    pub(crate) fn learn(&mut self, ctx: &mut Ctx<'_>, pn: &UserId, lid: &UserId) {
        if pn.ns != Namespace::Pn || lid.ns != Namespace::Lid {
            return;
        }
        let known = ctx.get(Table::LidMap, &pn_key(pn)).flatten();
        if known.as_deref() == Some(lid.user.as_bytes()) {
            return;
        }
        ctx.put(Table::LidMap, pn_key(pn), Bytes::from(lid.user.clone()));
        ctx.put(Table::LidMap, lid_key(lid), Bytes::from(pn.user.clone()));
        self.next_migration += 1;
        let token = self.next_migration;
        self.migrations.insert(
            token,
            Migration {
                pn: pn.clone(),
                lid: lid.clone(),
                rows: None,
            },
        );
        let prefix = Address::user_prefix(pn);
        ctx.range(
            RecordRead::prefix(Table::Sessions, prefix, 256),
            RangeFor::UserRecords(token),
        );
    }

    /// The PN-named sessions of a migration were read.
    pub(crate) fn on_user_records(
        &mut self,
        ctx: &mut Ctx<'_>,
        token: u64,
        rows: Vec<(Bytes, Bytes)>,
    ) {
        if let Some(m) = self.migrations.get_mut(&token) {
            m.rows = Some(rows);
        }
        self.poll(ctx);
    }

    /// Completes the migrations whose records are all at hand: each PN-named session moves to
    /// its LID name (unless a LID-named session exists already, which wins) with its
    /// identity, in this step's commit.
    pub(crate) fn poll(&mut self, ctx: &mut Ctx<'_>) {
        let ready: Vec<u64> = self
            .migrations
            .iter()
            .filter(|(_, m)| m.rows.is_some())
            .map(|(t, _)| *t)
            .collect();
        for token in ready {
            let Some(m) = self.migrations.get(&token) else {
                continue;
            };
            let rows = m.rows.clone().unwrap_or_default();
            let moves: Vec<(Address, Address, Bytes)> = rows
                .into_iter()
                .filter_map(|(k, v)| {
                    let from = Address::parse_key(&k)?;
                    (from.user == m.pn).then(|| (from.clone(), from.with_user(&m.lid), v))
                })
                .collect();
            let keys: Vec<(Table, Bytes)> = moves
                .iter()
                .flat_map(|(from, to, _)| {
                    [
                        (Table::Sessions, to.key()),
                        (Table::Identities, from.key()),
                        (Table::Identities, to.key()),
                    ]
                })
                .collect();
            if !ctx.want(keys) {
                continue; // loading; the next poll completes it
            }
            let (pn, lid) = (m.pn.clone(), m.lid.clone());
            self.migrations.remove(&token);
            for (from, to, record) in &moves {
                if ctx.get(Table::Sessions, &to.key()).flatten().is_none() {
                    ctx.put(Table::Sessions, to.key(), record.clone());
                    if let Some(identity) = ctx.get(Table::Identities, &from.key()).flatten() {
                        ctx.put(Table::Identities, to.key(), identity);
                    }
                }
                ctx.delete(Table::Sessions, from.key());
                ctx.delete(Table::Identities, from.key());
            }
            if !moves.is_empty() {
                debug!(%pn, %lid, devices = moves.len(), "sessions moved to the LID address");
            }
        }
    }

    /// The connection is gone: queries in flight are lost.
    pub(crate) fn on_disconnected(&mut self) {
        self.querying.clear();
    }
}

fn devices_of(row: &DeviceListRow) -> Vec<Device> {
    row.devices
        .iter()
        .filter_map(|d| {
            Some(Device {
                id: u16::try_from(d.id?).ok()?,
                hosted: d.hosted.unwrap_or(false),
            })
        })
        .collect()
}

fn store_list(ctx: &mut Ctx<'_>, user: &UserId, devices: Vec<DeviceRow>, hash: Option<String>) {
    let row = DeviceListRow {
        devices,
        hash,
        fetched_at: Some(ctx.unix),
    };
    ctx.put(Table::Devices, user.key(), rows::encode(&row));
}

fn pn_key(u: &UserId) -> Bytes {
    super::record_keys::lid_of_pn(&u.user)
}

fn lid_key(u: &UserId) -> Bytes {
    super::record_keys::pn_of_lid(&u.user)
}

fn jid_value(v: Option<&Value>) -> Option<Jid> {
    match v? {
        Value::Jid(j) => Some(j.clone()),
        Value::String(s) => s.parse().ok(),
    }
}

/// `<iq xmlns="usync" type="get"><usync sid mode="query" last="true" index="0"
/// context="message"><query><devices version="2"/><lid/></query><list><user jid/>…`.
fn usync_query(ctx: &mut Ctx<'_>, users: &[UserId]) -> Node {
    let asked: Vec<String> = users.iter().map(ToString::to_string).collect();
    let iq = ctx.iq(IqFor::Usync(asked), "usync", "get");
    let sid = iq.attr_str("id").unwrap_or_default().to_owned();
    let list = users
        .iter()
        .map(|u| Node::new("user").jid_attr("jid", u.jid()))
        .collect();
    iq.children(vec![
        Node::new("usync")
            .attr("sid", sid)
            .attr("mode", "query")
            .attr("last", "true")
            .attr("index", "0")
            .attr("context", "message")
            .children(vec![
                Node::new("query").children(vec![
                    Node::new("devices").attr("version", "2"),
                    Node::new("lid"),
                ]),
                Node::new("list").children(list),
            ]),
    ])
}
