//! Groups on a running [`SimServer`](super::SimServer) (issue 15): a phone creates a group or
//! changes its membership as its account, through the fake server's group registry, so every
//! member device — linked companions included — gets the `w:gp2` notifications; a phone sends
//! to a group like to anyone ([`SimServer::send_text`](super::SimServer::send_text) with the
//! group's JID), with its sender key. The control interface's group routes:
//!
//! | request | answer |
//! |---|---|
//! | `GET /groups` | `[{"jid", "subject", "addressing", "members": [{"pn", "lid", "role"}…]}…]` |
//! | `POST /groups?phone=N&subject=S[&addressing=lid\|pn]`, body = members | `{"group": "…@g.us"}` |
//! | `POST /groups/add?phone=N&group=G`, body = members | `{"changed": ["…"]}` (also `remove`, `promote`, `demote`) |
//! | `POST /groups/leave?phone=N&group=G` | `{"ok": true}` |
//!
//! Members are separated by commas or whitespace, each a phone index (see `GET /phones`) or a
//! user JID (`…@s.whatsapp.net` or `…@lid`). A group is LID-addressed unless `addressing=pn`.
//! Phone N must be an admin for add, remove, promote and demote (the creator is).

use serde_json::{Value, json};
use tether_core::binary::{Jid, Server};

use super::SimError;
use super::hub::{Hub, Inner};
use crate::server::{GroupInfo, MemberChange, Namespace};

impl Hub {
    /// The user JID (phone number) of phone `phone`'s account.
    pub(super) fn phone_jid(&self, phone: usize) -> Result<Jid, SimError> {
        self.phones
            .get(phone)
            .map(|p| Jid::user(p.phone.phone_number(), Server::WhatsApp))
            .ok_or(SimError::NoSuchPhone(phone))
    }
}

impl Inner {
    pub(super) fn create_group(
        &self,
        phone: usize,
        subject: &str,
        members: &[Jid],
        addressing: Namespace,
    ) -> Result<Jid, SimError> {
        self.with_hub(|hub, _| {
            let creator = hub.phone_jid(phone)?;
            Ok(hub
                .server
                .create_group(&creator, subject, members, addressing)?)
        })
    }

    pub(super) fn change_group(
        &self,
        phone: usize,
        group: &Jid,
        change: MemberChange,
        members: &[Jid],
    ) -> Result<Vec<Jid>, SimError> {
        self.with_hub(|hub, _| {
            let actor = hub.phone_jid(phone)?;
            Ok(hub
                .server
                .change_group_members(group, &actor, change, members)?)
        })
    }

    pub(super) fn leave_group(&self, phone: usize, group: &Jid) -> Result<(), SimError> {
        self.with_hub(|hub, _| {
            let member = hub.phone_jid(phone)?;
            Ok(hub.server.leave_group(group, &member)?)
        })
    }

    pub(super) fn groups(&self) -> Vec<GroupInfo> {
        self.with_hub(|hub, _| {
            hub.server
                .groups()
                .iter()
                .filter_map(|g| hub.server.group_info(g))
                .collect()
        })
    }

    /// The user JIDs `body` names: phone indexes or user JIDs, separated by commas or
    /// whitespace.
    fn members(&self, body: &str) -> Result<Vec<Jid>, String> {
        let mut members = Vec::new();
        for item in body
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let jid = if item.len() <= 4 && item.bytes().all(|b| b.is_ascii_digit()) {
                let index = item.parse::<usize>().map_err(|e| e.to_string())?;
                self.with_hub(|hub, _| hub.phone_jid(index))
                    .map_err(|e| e.to_string())?
            } else if item.contains('@') {
                item.parse::<Jid>()
                    .map_err(|e| format!("{item:?} is not a JID: {e}"))?
            } else {
                return Err(format!(
                    "{item:?} is neither a phone index (see GET /phones) nor a user JID \
                     (…@s.whatsapp.net or …@lid)"
                ));
            };
            members.push(jid);
        }
        Ok(members)
    }
}

fn group_json(g: &GroupInfo) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| json!({ "pn": m.pn.to_string(), "lid": m.lid.to_string(), "role": m.role.name() }))
        .collect();
    json!({
        "jid": g.jid.to_string(),
        "subject": g.subject,
        "addressing": if g.addressing.is_lid() { "lid" } else { "pn" },
        "members": members,
    })
}

/// Answers a group route of the control interface; `None` when `path` is not one.
/// `param` reads a (decoded) query parameter.
pub(super) fn route(
    inner: &Inner,
    method: &str,
    path: &str,
    param: &dyn Fn(&str) -> Option<String>,
    body: &str,
) -> Option<(u16, Value)> {
    let error = |message: String| (400, json!({ "error": message }));
    let phone = || {
        param("phone")
            .unwrap_or_else(|| "0".to_owned())
            .parse::<usize>()
            .map_err(|_| "give the phone as ?phone=N (see GET /phones)".to_owned())
    };
    let group = || {
        param("group")
            .and_then(|g| g.parse::<Jid>().ok())
            .filter(|g| *g.server() == Server::Group)
            .ok_or_else(|| "give the group as &group=<digits>@g.us (see GET /groups)".to_owned())
    };
    let answer = match (method, path) {
        ("GET", "/groups") => {
            let list: Vec<Value> = inner.groups().iter().map(group_json).collect();
            (200, Value::Array(list))
        }
        ("POST", "/groups") => {
            let addressing = match param("addressing").as_deref() {
                None | Some("lid") => Ok(Namespace::Lid),
                Some("pn") => Ok(Namespace::Pn),
                Some(other) => Err(format!("addressing is lid or pn, not {other:?}")),
            };
            let subject = param("subject").unwrap_or_default();
            let created = phone().and_then(|phone| {
                let members = inner.members(body)?;
                inner
                    .create_group(phone, &subject, &members, addressing?)
                    .map_err(|e| e.to_string())
            });
            match created {
                Ok(group) => (200, json!({ "group": group.to_string() })),
                Err(e) => error(e),
            }
        }
        ("POST", "/groups/leave") => {
            match phone()
                .and_then(|p| Ok((p, group()?)))
                .and_then(|(p, g)| inner.leave_group(p, &g).map_err(|e| e.to_string()))
            {
                Ok(()) => (200, json!({ "ok": true })),
                Err(e) => error(e),
            }
        }
        ("POST", _) if path.starts_with("/groups/") => {
            let change = match path.trim_start_matches("/groups/") {
                "add" => MemberChange::Add,
                "remove" => MemberChange::Remove,
                "promote" => MemberChange::Promote,
                "demote" => MemberChange::Demote,
                _ => return None,
            };
            let changed = phone().and_then(|p| {
                let g = group()?;
                let members = inner.members(body)?;
                inner
                    .change_group(p, &g, change, &members)
                    .map_err(|e| e.to_string())
            });
            match changed {
                Ok(jids) => {
                    let jids: Vec<String> = jids.iter().map(Jid::to_string).collect();
                    (200, json!({ "changed": jids }))
                }
                Err(e) => error(e),
            }
        }
        _ => return None,
    };
    Some(answer)
}
