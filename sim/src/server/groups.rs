//! Groups on the fake server (`messaging.md` §7, issue 15 item 5): a registry of groups, the
//! `w:g2` iqs a client sends (in the shapes whatsmeow and Baileys parse), and the `w:gp2`
//! notifications every participant device gets when the membership or the subject changes.
//! Routing a group message is `group_routing.rs`.
//!
//! ```text
//!  registry: <digits>@g.us ──▶ Group { subject, creator, addressing mode (lid|pn),
//!                                      members: PN user ──▶ member | admin | superadmin }
//!  <iq xmlns=w:g2 type=get to=group><query request=interactive/>  ─▶ <group id subject …>
//!        <participant jid [type] lid|phone_number/>…</group>   (403 not a member, 404 none)
//!  <iq type=get to=@g.us><participating/>                         ─▶ <groups><group/>…</groups>
//!  <iq type=set to=@g.us><create subject key><participant jid/>…   ─▶ <group …/> (creator:
//!        superadmin; unknown users get error="404" and stay out)
//!  <iq type=set to=group><add|remove|promote|demote><participant jid/>…
//!        ─▶ the same element back, a participant the change did not apply to with error=…;
//!           only admins may change a group (403)
//!  <iq type=set to=@g.us><leave><group id/></leave>  ·  <iq type=set to=group><subject>text
//!  every change ─▶ <notification type="w:gp2" from=group participant=actor
//!        addressing_mode><add|remove|promote|demote><participant jid lid|phone_number/>…
//!        (or <subject subject s_o s_t/>) to every device of every member, the removed
//!        ones included, queued and acknowledged like any notification
//! ```
//!
//! The same changes can be made directly ([`FakeServer::create_group`],
//! [`FakeServer::add_group_members`], …): the simulator's scenarios and the loopback
//! server's control interface use them; the notifications are the same.

use std::collections::BTreeMap;

use tether_core::binary::{Content, Jid, Node, Server};

use super::FakeServer;
use super::accounts::{DeviceAddr, Namespace, jid_attr, namespace_of};
use super::queues::{Queued, StanzaClass};
use super::stanzas;

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A plain member.
    Member,
    /// An admin.
    Admin,
    /// The creator (super admin).
    SuperAdmin,
}

impl Role {
    /// Its name: `member`, `admin` or `superadmin`.
    pub fn name(self) -> &'static str {
        self.attr().unwrap_or("member")
    }

    fn attr(self) -> Option<&'static str> {
        match self {
            Self::Member => None,
            Self::Admin => Some("admin"),
            Self::SuperAdmin => Some("superadmin"),
        }
    }

    fn is_admin(self) -> bool {
        self != Self::Member
    }
}

/// One group.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    /// The digits of `<digits>@g.us`.
    pub(crate) id: String,
    pub(crate) subject: String,
    /// The creator's PN user.
    pub(crate) creator: String,
    /// Creation time (Unix seconds).
    pub(crate) created: u64,
    /// When and by whom (PN user) the subject was last set.
    pub(crate) subject_set: (u64, String),
    /// The namespace members are addressed in.
    pub(crate) mode: Namespace,
    /// PN user → role.
    pub(crate) members: BTreeMap<String, Role>,
}

/// Every group the server knows.
#[derive(Debug, Default)]
pub(crate) struct GroupRegistry {
    pub(crate) groups: BTreeMap<String, Group>,
    created: u64,
}

/// Why a group change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// No such group.
    #[error("group {0} does not exist; create it first")]
    NotFound(String),
    /// The actor is not a member, or not an admin for an admin-only change.
    #[error("{actor} may not change group {group}: only its admins can")]
    Forbidden {
        /// The group.
        group: String,
        /// Who tried.
        actor: String,
    },
    /// A JID that names no account the server carries.
    #[error("{0} is not a registered account; add the account to the server first")]
    UnknownUser(String),
    /// A JID that is not a group JID.
    #[error("{0} is not a group JID (<digits>@g.us)")]
    NotAGroup(String),
}

/// A membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Members join.
    Add,
    /// Members are removed.
    Remove,
    /// Members become admins.
    Promote,
    /// Members stop being admins.
    Demote,
}

impl MemberChange {
    fn tag(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Promote => "promote",
            Self::Demote => "demote",
        }
    }

    fn of(tag: &str) -> Option<Self> {
        match tag {
            "add" => Some(Self::Add),
            "remove" => Some(Self::Remove),
            "promote" => Some(Self::Promote),
            "demote" => Some(Self::Demote),
            _ => None,
        }
    }
}

/// What the server knows of a group, for checks and the loopback control interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group (`<digits>@g.us`).
    pub jid: Jid,
    /// Its subject.
    pub subject: String,
    /// The namespace its members are addressed in (`Lid` or `Pn`).
    pub addressing: Namespace,
    /// Its members, in the server's order.
    pub members: Vec<GroupMember>,
}

/// A member of a [`GroupInfo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// The member's phone-number user JID.
    pub pn: Jid,
    /// The member's LID user JID.
    pub lid: Jid,
    /// Its role.
    pub role: Role,
}

/// The digits of a group JID.
fn group_id(group: &Jid) -> Option<&str> {
    (*group.server() == Server::Group).then(|| group.user_str())
}

impl FakeServer {
    fn group(&self, group: &Jid) -> Result<&Group, GroupError> {
        let id = group_id(group).ok_or_else(|| GroupError::NotAGroup(group.to_string()))?;
        self.groups
            .groups
            .get(id)
            .ok_or_else(|| GroupError::NotFound(group.to_string()))
    }

    /// The PN user of an account JID (either namespace).
    fn member_user(&self, jid: &Jid) -> Result<String, GroupError> {
        self.accounts
            .find(jid)
            .map(|(a, _)| a.pn.clone())
            .ok_or_else(|| GroupError::UnknownUser(jid.to_string()))
    }

    /// Creates a group of `creator` (its super admin) and `members`, addressed in `mode`;
    /// every member device gets a `w:gp2` `<add>` notification. Returns the group JID.
    pub fn create_group(
        &mut self,
        creator: &Jid,
        subject: &str,
        members: &[Jid],
        mode: Namespace,
    ) -> Result<Jid, GroupError> {
        let creator = self.member_user(creator)?;
        let mut users = BTreeMap::new();
        for member in members {
            users.insert(self.member_user(member)?, Role::Member);
        }
        users.insert(creator.clone(), Role::SuperAdmin);
        Ok(self.insert_group(creator, subject, users, mode))
    }

    fn insert_group(
        &mut self,
        creator: String,
        subject: &str,
        members: BTreeMap<String, Role>,
        mode: Namespace,
    ) -> Jid {
        self.groups.created += 1;
        let id = format!("1203630{:011}", self.groups.created);
        let now = self.unix_at(self.now);
        let added: Vec<String> = members.keys().cloned().collect();
        let group = Group {
            id: id.clone(),
            subject: subject.to_owned(),
            creator: creator.clone(),
            created: now,
            subject_set: (now, creator.clone()),
            mode,
            members,
        };
        self.groups.groups.insert(id.clone(), group);
        let jid = Jid::user(&id, Server::Group);
        self.notify_group(&jid, &creator, MemberChange::Add, &added, &[]);
        jid
    }

    /// Applies `change` to `members` of `group` as `actor` (an admin); every member device
    /// (and a removed member's) gets the `w:gp2` notification. Returns the users the change
    /// applied to (a member added twice or removed when absent is left out).
    pub fn change_group_members(
        &mut self,
        group: &Jid,
        actor: &Jid,
        change: MemberChange,
        members: &[Jid],
    ) -> Result<Vec<Jid>, GroupError> {
        let actor_user = self.member_user(actor)?;
        let (id, mode) = {
            let g = self.group(group)?;
            if !g.members.get(&actor_user).is_some_and(|r| r.is_admin()) {
                return Err(GroupError::Forbidden {
                    group: group.to_string(),
                    actor: actor.to_string(),
                });
            }
            (g.id.clone(), g.mode)
        };
        let mut users = Vec::new();
        for member in members {
            users.push(self.member_user(member)?);
        }
        let Some(g) = self.groups.groups.get_mut(&id) else {
            return Err(GroupError::NotFound(group.to_string()));
        };
        let mut applied = Vec::new();
        let mut removed = Vec::new();
        for user in users {
            let done = match change {
                MemberChange::Add => g.members.insert(user.clone(), Role::Member).is_none(),
                MemberChange::Remove => {
                    let gone = g.members.remove(&user).is_some();
                    if gone {
                        removed.push(user.clone());
                    }
                    gone
                }
                MemberChange::Promote | MemberChange::Demote => match g.members.get_mut(&user) {
                    Some(role) if *role != Role::SuperAdmin => {
                        *role = if change == MemberChange::Promote {
                            Role::Admin
                        } else {
                            Role::Member
                        };
                        true
                    }
                    _ => false,
                },
            };
            if done && !applied.contains(&user) {
                applied.push(user);
            }
        }
        if !applied.is_empty() {
            self.notify_group(group, &actor_user, change, &applied, &removed);
        }
        Ok(applied
            .iter()
            .filter_map(|u| self.accounts.get(u).map(|a| a.user_jid(mode)))
            .collect())
    }

    /// Adds `members` to `group` (see [`change_group_members`](Self::change_group_members)).
    pub fn add_group_members(
        &mut self,
        group: &Jid,
        actor: &Jid,
        members: &[Jid],
    ) -> Result<Vec<Jid>, GroupError> {
        self.change_group_members(group, actor, MemberChange::Add, members)
    }

    /// Removes `members` from `group` (see
    /// [`change_group_members`](Self::change_group_members)).
    pub fn remove_group_members(
        &mut self,
        group: &Jid,
        actor: &Jid,
        members: &[Jid],
    ) -> Result<Vec<Jid>, GroupError> {
        self.change_group_members(group, actor, MemberChange::Remove, members)
    }

    /// `member` leaves `group` (no admin needed); the others are told with `<leave>`'s
    /// notification, a `<remove>` whose actor is the member.
    pub fn leave_group(&mut self, group: &Jid, member: &Jid) -> Result<(), GroupError> {
        let user = self.member_user(member)?;
        let id = self.group(group)?.id.clone();
        let left = self
            .groups
            .groups
            .get_mut(&id)
            .and_then(|g| g.members.remove(&user))
            .is_some();
        if left {
            let users = [user.clone()];
            self.notify_group(group, &user, MemberChange::Remove, &users, &users);
        }
        Ok(())
    }

    /// Sets `group`'s subject as `actor` (a member); members get a `<subject>` notification.
    pub fn set_group_subject(
        &mut self,
        group: &Jid,
        actor: &Jid,
        subject: &str,
    ) -> Result<(), GroupError> {
        let actor_user = self.member_user(actor)?;
        let id = self.group(group)?.id.clone();
        let now = self.unix_at(self.now);
        let Some(g) = self.groups.groups.get_mut(&id) else {
            return Err(GroupError::NotFound(group.to_string()));
        };
        if !g.members.contains_key(&actor_user) {
            return Err(GroupError::Forbidden {
                group: group.to_string(),
                actor: actor.to_string(),
            });
        }
        g.subject = subject.to_owned();
        g.subject_set = (now, actor_user.clone());
        let mode = g.mode;
        let child = Node::new("subject")
            .attr("subject", subject.to_owned())
            .attr("s_t", now.to_string())
            .jid_attr("s_o", self.user_jid(&actor_user, mode));
        self.send_gp2(group, &actor_user, child, &[]);
        Ok(())
    }

    /// The members of `group` as user JIDs in its addressing namespace, or `None` when there
    /// is no such group.
    pub fn group_members(&self, group: &Jid) -> Option<Vec<Jid>> {
        let g = self.group(group).ok()?;
        Some(g.members.keys().map(|u| self.user_jid(u, g.mode)).collect())
    }

    /// What the server knows of `group`, or `None` when there is no such group.
    pub fn group_info(&self, group: &Jid) -> Option<GroupInfo> {
        let g = self.group(group).ok()?;
        let members = g
            .members
            .iter()
            .filter_map(|(user, role)| {
                let account = self.accounts.get(user)?;
                Some(GroupMember {
                    pn: account.user_jid(Namespace::Pn),
                    lid: account.user_jid(Namespace::Lid),
                    role: *role,
                })
            })
            .collect();
        Some(GroupInfo {
            jid: Jid::user(&g.id, Server::Group),
            subject: g.subject.clone(),
            addressing: g.mode,
            members,
        })
    }

    /// Every current device of every member of `group` (empty when there is none).
    pub fn group_devices(&self, group: &Jid) -> Vec<DeviceAddr> {
        let Ok(g) = self.group(group) else {
            return Vec::new();
        };
        self.member_devices(g.members.keys())
    }

    /// The groups the server knows, as JIDs.
    pub fn groups(&self) -> Vec<Jid> {
        self.groups
            .groups
            .keys()
            .map(|id| Jid::user(id, Server::Group))
            .collect()
    }

    pub(super) fn member_devices<'a>(
        &self,
        users: impl IntoIterator<Item = &'a String>,
    ) -> Vec<DeviceAddr> {
        let mut devices = Vec::new();
        for user in users {
            if let Some(account) = self.accounts.get(user) {
                devices.extend(account.devices.keys().map(|d| DeviceAddr {
                    user: user.clone(),
                    device: *d,
                }));
            }
        }
        devices
    }

    fn user_jid(&self, user: &str, mode: Namespace) -> Jid {
        self.accounts
            .get(user)
            .map_or_else(|| Jid::user(user, Server::WhatsApp), |a| a.user_jid(mode))
    }

    /// `<participant jid [type] lid|phone_number/>` for `user` in `mode`.
    fn participant_node(&self, user: &str, mode: Namespace, role: Option<Role>) -> Node {
        let Some(account) = self.accounts.get(user) else {
            return Node::new("participant").jid_attr("jid", Jid::user(user, Server::WhatsApp));
        };
        let mut node = Node::new("participant").jid_attr("jid", account.user_jid(mode));
        if let Some(kind) = role.and_then(Role::attr) {
            node = node.attr("type", kind);
        }
        if mode.is_lid() {
            node.jid_attr("phone_number", account.user_jid(Namespace::Pn))
        } else {
            node.jid_attr("lid", account.user_jid(Namespace::Lid))
        }
    }

    /// The `<group>` element of a metadata answer.
    fn group_node(&self, g: &Group) -> Node {
        let mode = if g.mode.is_lid() { "lid" } else { "pn" };
        let participants = g
            .members
            .iter()
            .map(|(u, r)| self.participant_node(u, g.mode, Some(*r)))
            .collect();
        Node::new("group")
            .attr("id", g.id.clone())
            .attr("subject", g.subject.clone())
            .attr("s_t", g.subject_set.0.to_string())
            .jid_attr("s_o", self.user_jid(&g.subject_set.1, g.mode))
            .attr("creation", g.created.to_string())
            .jid_attr("creator", self.user_jid(&g.creator, g.mode))
            .attr("addressing_mode", mode)
            .attr("size", g.members.len().to_string())
            .children(participants)
    }

    /// Sends the `w:gp2` notification of a membership change.
    fn notify_group(
        &mut self,
        group: &Jid,
        actor: &str,
        change: MemberChange,
        users: &[String],
        also: &[String],
    ) {
        let Ok(mode) = self.group(group).map(|g| g.mode) else {
            return;
        };
        let participants = users
            .iter()
            .map(|u| self.participant_node(u, mode, None))
            .collect();
        let child = Node::new(change.tag()).children(participants);
        self.send_gp2(group, actor, child, also);
    }

    /// Queues `<notification type="w:gp2" from=group participant=actor>child` for every
    /// device of every member and of the users in `also`.
    fn send_gp2(&mut self, group: &Jid, actor: &str, child: Node, also: &[String]) {
        let Ok(g) = self.group(group) else {
            return;
        };
        let mode = g.mode;
        let mut users: Vec<String> = g.members.keys().cloned().collect();
        users.extend(also.iter().cloned());
        users.sort();
        users.dedup();
        let audience = self.member_devices(users.iter());
        let id = self.next_id("srv-gp2-");
        let node = Node::new("notification")
            .jid_attr("from", group.clone())
            .attr("type", "w:gp2")
            .attr("id", id.clone())
            .attr("t", self.unix_at(self.now).to_string())
            .jid_attr("participant", self.user_jid(actor, mode))
            .attr("addressing_mode", if mode.is_lid() { "lid" } else { "pn" })
            .children(vec![child]);
        for device in audience {
            let entry = Queued {
                class: StanzaClass::Notification,
                id: id.clone(),
                from: None,
                receipt_type: None,
                node: node.clone(),
                queued_at: self.now,
            };
            self.enqueue(&device, entry);
        }
    }

    /// A `w:g2` iq from `device`: the answer.
    pub(super) fn on_group_iq(&mut self, device: &DeviceAddr, iq: &Node) -> Node {
        let iq_id = iq.attr_str("id").unwrap_or_default().to_owned();
        let to = jid_attr(iq, "to").unwrap_or_else(|| Jid::server_jid(Server::Group));
        let Some(actor) = self
            .accounts
            .get(&device.user)
            .map(|a| a.user_jid(Namespace::Pn))
        else {
            return stanzas::iq_error(&iq_id, 401, "not-authorized");
        };
        let setting = iq.attr_str("type") == Some("set");
        let Some(child) = iq.child_nodes().first().cloned() else {
            return stanzas::iq_error(&iq_id, 400, "bad-request");
        };
        let answered = match (&*child.tag, setting) {
            ("query", false) => self.group_query(&to, &device.user),
            ("participating", false) => Ok(self.participating(&device.user)),
            ("create", true) => self.group_create_iq(&actor, &child),
            ("leave", true) => {
                for g in child.child_nodes().iter().filter(|g| g.tag == "group") {
                    let id = g.attr_str("id").unwrap_or_default();
                    let jid = if id.contains('@') {
                        id.parse().unwrap_or_else(|_| Jid::user(id, Server::Group))
                    } else {
                        Jid::user(id, Server::Group)
                    };
                    if let Err(e) = self.leave_group(&jid, &actor) {
                        tracing::debug!(%e, "a leave was refused");
                    }
                }
                Ok(vec![child.clone()])
            }
            ("subject", true) => {
                let subject = match &child.content {
                    Content::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                    Content::String(s) => s.to_string(),
                    _ => String::new(),
                };
                self.set_group_subject(&to, &actor, &subject)
                    .map(|()| Vec::new())
                    .map_err(|e| match e {
                        GroupError::NotFound(_) | GroupError::NotAGroup(_) => {
                            (404, "item-not-found")
                        }
                        _ => (403, "forbidden"),
                    })
            }
            (tag, true) if MemberChange::of(tag).is_some() => {
                self.group_members_iq(&to, &actor, &child)
            }
            _ => Err((400, "bad-request")),
        };
        match answered {
            Ok(children) => stanzas::result(&iq_id, None)
                .jid_attr("from", to)
                .children(children),
            Err((code, text)) => stanzas::iq_error(&iq_id, code, text),
        }
    }

    fn group_query(&self, group: &Jid, user: &str) -> Result<Vec<Node>, (u16, &'static str)> {
        let g = self.group(group).map_err(|_| (404, "item-not-found"))?;
        if !g.members.contains_key(user) {
            return Err((403, "forbidden"));
        }
        Ok(vec![self.group_node(g)])
    }

    fn participating(&self, user: &str) -> Vec<Node> {
        let groups = self
            .groups
            .groups
            .values()
            .filter(|g| g.members.contains_key(user))
            .map(|g| self.group_node(g))
            .collect();
        vec![Node::new("groups").children(groups)]
    }

    fn group_create_iq(
        &mut self,
        actor: &Jid,
        create: &Node,
    ) -> Result<Vec<Node>, (u16, &'static str)> {
        let subject = create.attr_str("subject").unwrap_or_default().to_owned();
        let creator = self
            .member_user(actor)
            .map_err(|_| (401, "not-authorized"))?;
        let mut members = BTreeMap::new();
        let mut mode = Namespace::Pn;
        for p in create
            .child_nodes()
            .iter()
            .filter(|p| p.tag == "participant")
        {
            let Some(jid) = jid_attr(p, "jid") else {
                continue;
            };
            if namespace_of(&jid).is_some_and(Namespace::is_lid) {
                mode = Namespace::Lid;
            }
            if let Ok(user) = self.member_user(&jid) {
                members.insert(user, Role::Member);
            }
        }
        members.insert(creator.clone(), Role::SuperAdmin);
        let group = self.insert_group(creator, &subject, members, mode);
        let id = group.user_str().to_owned();
        let node = self
            .groups
            .groups
            .get(&id)
            .map(|g| self.group_node(g))
            .ok_or((500, "internal-server-error"))?;
        Ok(vec![node])
    }

    fn group_members_iq(
        &mut self,
        group: &Jid,
        actor: &Jid,
        node: &Node,
    ) -> Result<Vec<Node>, (u16, &'static str)> {
        let Some(change) = MemberChange::of(&node.tag) else {
            return Err((400, "bad-request"));
        };
        let mut known = Vec::new();
        let mut answer = Vec::new();
        for p in node.child_nodes().iter().filter(|p| p.tag == "participant") {
            let Some(jid) = jid_attr(p, "jid") else {
                continue;
            };
            if self.accounts.find(&jid).is_some() {
                known.push(jid);
            } else {
                answer.push(
                    Node::new("participant")
                        .jid_attr("jid", jid)
                        .attr("error", "404"),
                );
            }
        }
        let applied = match self.change_group_members(group, actor, change, &known) {
            Ok(applied) => applied,
            Err(GroupError::NotFound(_) | GroupError::NotAGroup(_)) => {
                return Err((404, "item-not-found"));
            }
            Err(_) => return Err((403, "forbidden")),
        };
        for jid in known {
            let user = jid.user_str();
            let done = applied.iter().any(|a| {
                a.user_str() == user
                    || self.accounts.find(a).map(|(x, _)| &x.pn)
                        == self.accounts.find(&jid).map(|(x, _)| &x.pn)
            });
            let mut p = Node::new("participant").jid_attr("jid", jid);
            if !done {
                // Already in (add: 409) or not in (remove, promote, demote: 404).
                let code = if change == MemberChange::Add {
                    "409"
                } else {
                    "404"
                };
                p = p.attr("error", code);
            }
            answer.push(p);
        }
        Ok(vec![Node::new(change.tag()).children(answer)])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::server::fixture::{Fixture, jid};

    fn kinds(nodes: &[Node]) -> Vec<String> {
        nodes
            .iter()
            .map(|n| format!("{}:{}", n.tag, n.attr_str("type").unwrap_or_default()))
            .collect()
    }

    fn iq(to: &str, kind: &str, child: Node) -> Node {
        Node::new("iq")
            .attr("id", "g1")
            .attr("xmlns", "w:g2")
            .attr("type", kind.to_owned())
            .jid_attr("to", jid(to))
            .children(vec![child])
    }

    fn answer(out: &[Node]) -> Node {
        out.iter()
            .find(|n| n.tag == "iq" && n.attr_str("id") == Some("g1"))
            .cloned()
            .unwrap()
    }

    #[test]
    fn create_query_list_and_membership_changes_in_the_shapes_clients_parse() {
        let mut f = Fixture::new();
        f.connect("100002:3@lid");
        let create = Node::new("create")
            .attr("subject", "Team")
            .attr("key", "k1")
            .children(vec![
                Node::new("participant").jid_attr("jid", jid("100002@lid")),
                Node::new("participant").jid_attr("jid", jid("999@lid")),
            ]);
        let out = f.submit("100001:2@lid", &iq("@g.us", "set", create));
        let created = answer(&out);
        assert_eq!(created.attr_str("type"), Some("result"), "{created}");
        let group = created.child("group").unwrap();
        assert_eq!(group.attr_str("addressing_mode"), Some("lid"));
        assert_eq!(group.attr_str("subject"), Some("Team"));
        let members: Vec<_> = group
            .child_nodes()
            .iter()
            .map(|p| (jid_attr(p, "jid").unwrap().to_string(), p.attr_str("type")))
            .collect();
        assert_eq!(
            members,
            vec![
                ("100001@lid".to_owned(), Some("superadmin")),
                ("100002@lid".to_owned(), None)
            ]
        );
        assert_eq!(
            jid_attr(&group.child_nodes()[1], "phone_number"),
            Some(jid("15550002@s.whatsapp.net"))
        );
        let gid = format!("{}@g.us", group.attr_str("id").unwrap());
        // B's companion heard of it.
        let b3 = f.take("100002:3@lid");
        assert_eq!(kinds(&b3), vec!["notification:w:gp2"]);
        assert!(b3[0].child("add").is_some());

        // Query and list.
        let out = f.submit(
            "100002:3@lid",
            &iq(
                &gid,
                "get",
                Node::new("query").attr("request", "interactive"),
            ),
        );
        assert_eq!(
            answer(&out).child("group").unwrap().attr_str("size"),
            Some("2")
        );
        let out = f.submit(
            "100002:3@lid",
            &iq(
                "@g.us",
                "get",
                Node::new("participating").children(vec![Node::new("participants")]),
            ),
        );
        assert_eq!(answer(&out).child("groups").unwrap().child_nodes().len(), 1);
        // A non-admin may not remove; the admin may; the removed member is told too.
        let remove = || {
            Node::new("remove").children(vec![
                Node::new("participant").jid_attr("jid", jid("100002@lid")),
            ])
        };
        let out = f.submit("100002:3@lid", &iq(&gid, "set", remove()));
        assert_eq!(answer(&out).attr_str("type"), Some("error"));
        let out = f.submit("100001:2@lid", &iq(&gid, "set", remove()));
        let removed = answer(&out);
        assert!(
            removed.child("remove").unwrap().child_nodes()[0]
                .attr_str("error")
                .is_none(),
            "{removed}"
        );
        let b3 = f.take("100002:3@lid");
        assert_eq!(kinds(&b3), vec!["notification:w:gp2"]);
        assert!(b3[0].child("remove").is_some());
        // Now B is not a member: 403.
        let out = f.submit(
            "100002:3@lid",
            &iq(
                &gid,
                "get",
                Node::new("query").attr("request", "interactive"),
            ),
        );
        let error = answer(&out);
        assert_eq!(
            error.child("error").unwrap().attr_str("code"),
            Some("403"),
            "{error}"
        );
        assert_eq!(
            f.server.group_members(&jid(&gid)),
            Some(vec![jid("100001@lid")])
        );
    }
}
