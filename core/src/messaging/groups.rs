//! Groups (`messaging.md` §7, issue 15): metadata (query, list, cache, `w:gp2` changes) and the
//! sender keys that encrypt group messages.
//!
//! ```text
//!  metadata(group) ── cached row? ── yes ──▶ Ready(participants, addressing mode)
//!        │ no
//!        ▼
//!  <iq xmlns="w:g2" type="get" to=group><query request="interactive"/> ─▶ row stored
//!
//!  <notification type="w:gp2"> ─▶ queued ─▶ (group row and key holders loaded) ─▶
//!        add/remove/promote/demote/subject: row updated, Event::GroupChanged; a member left
//!        or was removed ─▶ our key for the group is dropped: the next send makes a new one
//!        and distributes it to everyone still there (a removed member never decrypts what is
//!        sent after) ─▶ the ack, once those writes are durable (a crash before it makes the
//!        server deliver the notification again, so a removal is never forgotten)
//!
//!  sender keys: ours per group (created on the first send), the senders' per (group, sender
//!  device) from the SKDMs they distribute; the devices that hold our current key are tracked
//!  durably so the SKDM goes only to those that lack it
//! ```

use bytes::Bytes;
use tracing::{debug, info, warn};

use super::address::{Address, UserId};
use super::ctx::{Ctx, IqFor};
use super::rows;
use crate::binary::{Jid, Node, Server, Value};
use crate::connection::Event;
use crate::records::Table;

/// One group member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupParticipant {
    /// The member as the group addresses it (phone number or LID).
    pub jid: Jid,
    /// The member's LID, when known.
    pub lid: Option<Jid>,
    /// The member's phone number, when known.
    pub phone_number: Option<Jid>,
    /// An admin (or the super admin).
    pub is_admin: bool,
    /// The group's creator / super admin.
    pub is_super_admin: bool,
}

/// A group's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group JID.
    pub jid: Jid,
    /// Its subject (name).
    pub subject: String,
    /// `lid` or `pn`: the namespace members are addressed in.
    pub addressing_mode: String,
    /// The creator.
    pub creator: Option<Jid>,
    /// The members.
    pub participants: Vec<GroupParticipant>,
}

/// A change announced by a `w:gp2` notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupChange {
    /// Members were added (or joined).
    Added(Vec<Jid>),
    /// Members were removed (or left: then the actor is the member).
    Removed(Vec<Jid>),
    /// Members became admins.
    Promoted(Vec<Jid>),
    /// Members stopped being admins.
    Demoted(Vec<Jid>),
    /// The subject changed.
    Subject(String),
}

/// A stored group row.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GroupRow {
    #[prost(string, optional, tag = "1")]
    pub(crate) subject: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub(crate) addressing_mode: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub(crate) creator: Option<String>,
    #[prost(message, repeated, tag = "4")]
    pub(crate) participants: Vec<ParticipantRow>,
    #[prost(uint64, optional, tag = "5")]
    pub(crate) fetched_at: Option<u64>,
}

/// A stored member.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub(crate) struct ParticipantRow {
    #[prost(string, optional, tag = "1")]
    pub(crate) jid: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub(crate) lid: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub(crate) phone_number: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub(crate) kind: Option<String>,
}

/// Which devices hold our current sender key of a group.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HoldersRow {
    /// The key id they hold.
    #[prost(uint32, optional, tag = "1")]
    pub(crate) key_id: Option<u32>,
    /// Their address keys.
    #[prost(string, repeated, tag = "2")]
    pub(crate) devices: Vec<String>,
}

/// The answer of [`Groups::metadata`].
#[derive(Debug)]
pub(crate) enum Meta {
    /// The cached metadata.
    Ready(GroupInfo),
    /// The group does not exist or this account is not in it.
    Gone(String),
    /// Loading or querying; poll again.
    Waiting,
}

/// The groups sub-machine.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    /// Groups with a metadata query in flight.
    querying: std::collections::BTreeSet<String>,
    /// Groups the server refused (not a member / not found), this connection.
    refused: std::collections::BTreeMap<String, String>,
    /// `w:gp2` notifications waiting for their group's rows, in arrival order.
    notifications: std::collections::VecDeque<Node>,
    /// The planted defect of `MessagingConfig::planted_keep_sender_key_on_removal`.
    keep_key_on_removal: bool,
}

/// The store key of a group's row.
pub(crate) fn group_key(group: &Jid) -> Bytes {
    Bytes::from(group.to_non_ad().to_string())
}

/// The store key of a sender key: `<group>|<sender address>`.
pub(crate) fn sender_key_key(group: &Jid, sender: &Address) -> Bytes {
    super::record_keys::sender_key(group, sender)
}

impl Groups {
    /// The groups sub-machine; `keep_key_on_removal` plants the simulator's test defect.
    pub(crate) fn new(keep_key_on_removal: bool) -> Self {
        Self {
            keep_key_on_removal,
            ..Self::default()
        }
    }

    /// The group's metadata: cached, else queried.
    pub(crate) fn metadata(&mut self, ctx: &mut Ctx<'_>, group: &Jid) -> Meta {
        let key = group_key(group);
        if let Some(why) = self.refused.get(&group.to_non_ad().to_string()) {
            return Meta::Gone(why.clone());
        }
        if !ctx.want([(Table::Groups, key.clone())]) {
            return Meta::Waiting;
        }
        if let Some(info) = ctx
            .get(Table::Groups, &key)
            .flatten()
            .and_then(|b| rows::decode::<GroupRow>(&b))
            .and_then(|r| info_of(group, &r))
        {
            return Meta::Ready(info);
        }
        if ctx.connected && self.querying.insert(group.to_non_ad().to_string()) {
            let iq = ctx
                .iq(IqFor::GroupInfo(group.to_non_ad()), "w:g2", "get")
                .children(vec![Node::new("query").attr("request", "interactive")]);
            // The query is addressed to the group itself.
            ctx.send(retarget(iq, group.to_non_ad()));
        }
        Meta::Waiting
    }

    /// Asks for the groups this account is in (answer: `Event::Groups`).
    pub(crate) fn list(&mut self, ctx: &mut Ctx<'_>) {
        let iq = ctx.iq(IqFor::GroupList, "w:g2", "get").children(vec![
            Node::new("participating")
                .children(vec![Node::new("participants"), Node::new("description")]),
        ]);
        ctx.send(retarget(iq, Jid::server_jid(Server::Group)));
    }

    /// Asks for one group's metadata and reports it (answer: `Event::GroupInfo`).
    pub(crate) fn query(&mut self, ctx: &mut Ctx<'_>, group: &Jid) {
        self.querying.insert(group.to_non_ad().to_string());
        self.refused.remove(&group.to_non_ad().to_string());
        let iq = ctx
            .iq(IqFor::GroupInfoReport(group.to_non_ad()), "w:g2", "get")
            .children(vec![Node::new("query").attr("request", "interactive")]);
        ctx.send(retarget(iq, group.to_non_ad()));
    }

    /// The answer to a metadata query.
    pub(crate) fn on_info(
        &mut self,
        ctx: &mut Ctx<'_>,
        group: &Jid,
        node: &Node,
        ok: bool,
        report: bool,
    ) {
        self.querying.remove(&group.to_string());
        let parsed = node.child("group").and_then(parse_group);
        match (ok, parsed) {
            (true, Some((jid, row))) => {
                ctx.put(Table::Groups, group_key(&jid), rows::encode(&row));
                if report && let Some(info) = info_of(&jid, &row) {
                    ctx.event(Event::GroupInfo(Box::new(info)));
                }
            }
            _ => {
                let code = node
                    .child("error")
                    .and_then(|e| e.attr_str("code"))
                    .unwrap_or("?")
                    .to_owned();
                warn!(%group, code, "the group query failed");
                let why = match code.as_str() {
                    "404" => "the group does not exist".to_owned(),
                    "403" => "this account is not a member of the group".to_owned(),
                    other => format!("the server refused the group query ({other})"),
                };
                self.refused.insert(group.to_string(), why.clone());
                if report {
                    ctx.event(Event::GroupQueryFailed {
                        group: group.clone(),
                        reason: why,
                    });
                }
            }
        }
    }

    /// The answer to the list of joined groups.
    pub(crate) fn on_list(&mut self, ctx: &mut Ctx<'_>, node: &Node, ok: bool) {
        if !ok {
            warn!(answer = %node, "listing the groups failed");
            let code = node
                .child("error")
                .and_then(|e| e.attr_str("code"))
                .unwrap_or("?");
            ctx.event(Event::GroupQueryFailed {
                group: Jid::server_jid(Server::Group),
                reason: format!("the server refused the list of groups ({code})"),
            });
            return;
        }
        let mut infos = Vec::new();
        for g in node
            .child("groups")
            .map(Node::child_nodes)
            .unwrap_or_default()
            .iter()
            .filter(|g| g.tag == "group")
        {
            if let Some((jid, row)) = parse_group(g) {
                ctx.put(Table::Groups, group_key(&jid), rows::encode(&row));
                if let Some(info) = info_of(&jid, &row) {
                    infos.push(info);
                }
            }
        }
        ctx.event(Event::Groups(infos));
    }

    /// A `w:gp2` notification: queued until its group's rows are loaded (see [`Self::poll`]).
    pub(crate) fn on_notification(&mut self, node: Node) {
        self.notifications.push_back(node);
    }

    /// Applies the queued notifications in order, each once its rows are cached; the ack of
    /// each goes out once what it changed is durable.
    pub(crate) fn poll(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(node) = self.notifications.front() {
            let Some(group) = jid_attr(node.get_attr("from")) else {
                // Not a group's notification: nothing to apply, still acknowledged.
                if let Some(ack) = super::stanza::notification_ack(node) {
                    ctx.send(ack);
                }
                self.notifications.pop_front();
                continue;
            };
            let key = group_key(&group);
            if !ctx.want([(Table::Groups, key.clone()), (Table::SenderKeyHolders, key)]) {
                return;
            }
            if let Some(node) = self.notifications.pop_front() {
                self.apply(ctx, &group, &node);
                if let Some(ack) = super::stanza::notification_ack(&node) {
                    ctx.defer(super::store::Deferred::Send(ack));
                }
            }
        }
    }

    /// Whether notifications wait for their rows.
    pub(crate) fn is_idle(&self) -> bool {
        self.notifications.is_empty()
    }

    /// The transport is gone: unacknowledged notifications come again on the next login,
    /// metadata queries in flight are lost (the next send asks again), refusals are forgotten.
    pub(crate) fn on_disconnected(&mut self) {
        self.notifications.clear();
        self.querying.clear();
        self.refused.clear();
    }

    /// One notification with its rows cached: the row follows it, a member leaving drops our
    /// sender key for the group, the application hears of every change.
    fn apply(&mut self, ctx: &mut Ctx<'_>, group: &Jid, node: &Node) {
        let group = group.clone();
        let key = group_key(&group);
        let mut row = ctx
            .get(Table::Groups, &key)
            .flatten()
            .and_then(|b| rows::decode::<GroupRow>(&b));
        let mut changes = Vec::new();
        for child in node.child_nodes() {
            let members: Vec<(Jid, ParticipantRow)> = child
                .child_nodes()
                .iter()
                .filter(|p| p.tag == "participant")
                .filter_map(|p| {
                    let jid = jid_attr(p.get_attr("jid"))?;
                    Some((jid, participant_row(p)))
                })
                .collect();
            let jids: Vec<Jid> = members.iter().map(|(j, _)| j.clone()).collect();
            match &*child.tag {
                "add" => {
                    if let Some(row) = row.as_mut() {
                        for (_, p) in members {
                            if !row.participants.iter().any(|q| q.jid == p.jid) {
                                row.participants.push(p);
                            }
                        }
                    }
                    changes.push(GroupChange::Added(jids));
                }
                "remove" | "leave" => {
                    if let Some(row) = row.as_mut() {
                        row.participants
                            .retain(|q| !members.iter().any(|(_, p)| same_member(p, q)));
                    }
                    if !self.keep_key_on_removal {
                        self.rotate(ctx, &group, "a member left or was removed");
                    }
                    changes.push(GroupChange::Removed(jids));
                }
                "promote" | "demote" => {
                    let admin = child.tag == "promote";
                    if let Some(row) = row.as_mut() {
                        for q in &mut row.participants {
                            if members.iter().any(|(_, p)| same_member(p, q)) {
                                q.kind = admin.then(|| "admin".to_owned());
                            }
                        }
                    }
                    changes.push(if admin {
                        GroupChange::Promoted(jids)
                    } else {
                        GroupChange::Demoted(jids)
                    });
                }
                "subject" => {
                    let subject = child.attr_str("subject").unwrap_or_default().to_owned();
                    if let Some(row) = row.as_mut() {
                        row.subject = Some(subject.clone());
                    }
                    changes.push(GroupChange::Subject(subject));
                }
                _ => {}
            }
        }
        if let Some(row) = row {
            ctx.put(Table::Groups, key, rows::encode(&row));
        }
        let actor = jid_attr(node.get_attr("participant"));
        for change in changes {
            ctx.event(Event::GroupChanged {
                group: group.clone(),
                actor: actor.clone(),
                change,
            });
        }
    }

    /// Drops our sender key for `group` (and who holds it): the next send makes a new one.
    pub(crate) fn rotate(&mut self, ctx: &mut Ctx<'_>, group: &Jid, why: &str) {
        info!(%group, why, "rotating our sender key for the group");
        // Our key is kept under the address the group's addressing mode gives us (LID or
        // phone number); the mode may have changed or be unknown here: both go.
        for mode in [None, Some("pn")] {
            if let Some(own) = own_address(ctx, group, mode) {
                ctx.delete(Table::SenderKeys, sender_key_key(group, &own));
            }
        }
        ctx.delete(Table::SenderKeyHolders, group_key(group));
    }
}

/// Our own address in a group: the LID form in LID-addressed groups (whatsmeow uses its LID
/// in every group when it has one).
pub(crate) fn own_address(ctx: &Ctx<'_>, _group: &Jid, mode: Option<&str>) -> Option<Address> {
    let device = ctx.creds.device.as_ref()?;
    let use_lid = mode != Some("pn");
    match (&device.lid, use_lid) {
        (Some(lid), true) => Address::of(lid),
        _ => Address::of(&device.jid),
    }
}

/// The users of a group in its addressing namespace.
pub(crate) fn member_users(info: &GroupInfo) -> Vec<UserId> {
    let lid_mode = info.addressing_mode == "lid";
    let mut users: Vec<UserId> = info
        .participants
        .iter()
        .filter_map(|p| {
            let jid = if lid_mode {
                p.lid.as_ref().unwrap_or(&p.jid)
            } else {
                p.phone_number.as_ref().unwrap_or(&p.jid)
            };
            UserId::of(&jid.to_non_ad())
        })
        .collect();
    users.sort();
    users.dedup();
    users
}

fn same_member(a: &ParticipantRow, b: &ParticipantRow) -> bool {
    let ids = |p: &ParticipantRow| {
        [p.jid.clone(), p.lid.clone(), p.phone_number.clone()]
            .into_iter()
            .flatten()
            .map(|s| s.split(['@', ':']).next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let (x, y) = (ids(a), ids(b));
    x.iter().any(|u| !u.is_empty() && y.contains(u))
}

fn retarget(iq: Node, to: Jid) -> Node {
    let mut iq = iq;
    iq.attrs.retain(|a| &*a.key != "to");
    iq.jid_attr("to", to)
}

fn jid_attr(v: Option<&Value>) -> Option<Jid> {
    match v? {
        Value::Jid(j) => Some(j.clone()),
        Value::String(s) => s.parse().ok(),
    }
}

fn participant_row(p: &Node) -> ParticipantRow {
    ParticipantRow {
        jid: jid_attr(p.get_attr("jid")).map(|j| j.to_string()),
        lid: jid_attr(p.get_attr("lid")).map(|j| j.to_string()),
        phone_number: jid_attr(p.get_attr("phone_number")).map(|j| j.to_string()),
        kind: p.attr_str("type").map(str::to_owned),
    }
}

/// Reads a `<group>` node into its JID and row.
fn parse_group(g: &Node) -> Option<(Jid, GroupRow)> {
    let id = g.attr_str("id")?;
    let jid = if id.contains('@') {
        id.parse().ok()?
    } else {
        Jid::user(id, Server::Group)
    };
    let row = GroupRow {
        subject: g.attr_str("subject").map(str::to_owned),
        addressing_mode: g.attr_str("addressing_mode").map(str::to_owned),
        creator: jid_attr(g.get_attr("creator")).map(|j| j.to_string()),
        participants: g
            .child_nodes()
            .iter()
            .filter(|p| p.tag == "participant")
            .map(participant_row)
            .collect(),
        fetched_at: None,
    };
    debug!(group = %jid, members = row.participants.len(), "group metadata");
    Some((jid, row))
}

fn info_of(jid: &Jid, row: &GroupRow) -> Option<GroupInfo> {
    Some(GroupInfo {
        jid: jid.to_non_ad(),
        subject: row.subject.clone().unwrap_or_default(),
        addressing_mode: row.addressing_mode.clone().unwrap_or_else(|| "pn".into()),
        creator: row.creator.as_deref().and_then(|c| c.parse().ok()),
        participants: row
            .participants
            .iter()
            .filter_map(|p| {
                let jid: Jid = p.jid.as_deref()?.parse().ok()?;
                let lid = p
                    .lid
                    .as_deref()
                    .and_then(|l| l.parse().ok())
                    .or_else(|| (jid.server() == &Server::Lid).then(|| jid.clone()));
                let phone_number = p
                    .phone_number
                    .as_deref()
                    .and_then(|l| l.parse().ok())
                    .or_else(|| (jid.server() == &Server::WhatsApp).then(|| jid.clone()));
                Some(GroupParticipant {
                    is_admin: matches!(p.kind.as_deref(), Some("admin" | "superadmin")),
                    is_super_admin: p.kind.as_deref() == Some("superadmin"),
                    jid,
                    lid,
                    phone_number,
                })
            })
            .collect(),
    })
}

/// Whether `jid` is a group.
pub(crate) fn is_group(jid: &Jid) -> bool {
    jid.server() == &Server::Group
}
