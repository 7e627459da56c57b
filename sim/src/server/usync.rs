//! `usync` queries (`messaging.md` §2.1, §9.2): device lists, LIDs and contact checks.
//!
//! ```text
//!  <usync sid mode context …><query><devices version="2"/>[<lid/>][<contact/>]</query>
//!     <list><user jid=…/>… | <user><contact>+digits</contact></user>…</list></usync>
//!  ─▶ <usync sid …><list><user jid=… (namespace as asked)>
//!        <devices><device-list hash="2:…"><device id="0"/><device id="n" key-index="k"/>…
//!           </device-list><key-index-list ts>ADVSignedKeyIndexList</key-index-list></devices>
//!        [<lid val="<lid user>@lid"/>]  [<contact type="in|out">+digits</contact>]
//!     </user>…</list></usync>
//!  an unknown user: <devices><error code="404" text="not-found"/></devices>, no <lid>
//! ```

use tether_core::binary::{Content, Jid, Node, Server};

use super::accounts::{Account, DeviceAddr, Namespace, jid_attr};
use super::{FakeServer, stanzas};

/// What the query asks for.
#[derive(Clone, Copy, Debug, Default)]
struct Wants {
    devices: bool,
    lid: bool,
    contact: bool,
}

fn contact_digits(user: &Node) -> Option<String> {
    let contact = user.child("contact")?;
    let text = match &contact.content {
        Content::String(s) => s.to_string(),
        Content::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        _ => return None,
    };
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

impl FakeServer {
    /// Answers `<iq xmlns="usync">` from `requester`.
    pub(super) fn on_usync(&mut self, requester: &DeviceAddr, iq: &Node) -> Node {
        let iq_id = iq.attr_str("id").unwrap_or_default().to_owned();
        let Some(usync) = iq.child("usync") else {
            self.complain(Some(requester), "a usync iq without <usync>".to_owned());
            return stanzas::iq_error(&iq_id, 400, "bad-request");
        };
        let query = usync.child("query");
        let wants = Wants {
            devices: query.and_then(|q| q.child("devices")).is_some(),
            lid: query.and_then(|q| q.child("lid")).is_some(),
            contact: query.and_then(|q| q.child("contact")).is_some(),
        };
        let users: Vec<Node> = usync
            .child("list")
            .map(|l| l.child_nodes().to_vec())
            .unwrap_or_default();
        let answers = users
            .iter()
            .filter(|u| u.tag == "user")
            .map(|user| self.usync_user(user, wants))
            .collect();
        let mut echo = Node::new("usync");
        for key in ["sid", "mode", "context", "index", "last"] {
            if let Some(value) = usync.attr_str(key) {
                echo = echo.attr(key, value.to_owned());
            }
        }
        stanzas::result(&iq_id, None).children(vec![
            echo.children(vec![Node::new("list").children(answers)]),
        ])
    }

    fn usync_user(&self, user: &Node, wants: Wants) -> Node {
        let asked = jid_attr(user, "jid");
        let digits = contact_digits(user);
        let found = match (&asked, &digits) {
            (Some(jid), _) => self.accounts.find(jid),
            (None, Some(digits)) => self
                .accounts
                .get(digits)
                .map(|account| (account, Namespace::Pn)),
            (None, None) => None,
        };
        let jid = asked.clone().or_else(|| {
            found
                .map(|(a, _)| a.user_jid(Namespace::Pn))
                .or_else(|| digits.as_ref().map(|d| Jid::user(d, Server::WhatsApp)))
        });
        let mut children = Vec::new();
        if wants.devices {
            children.push(match found {
                Some((account, ns)) => devices_node(account, ns),
                None => Node::new("devices").children(vec![
                    Node::new("error")
                        .attr("code", "404")
                        .attr("text", "not-found"),
                ]),
            });
        }
        if wants.lid
            && let Some((account, _)) = found
        {
            children.push(Node::new("lid").jid_attr("val", account.user_jid(Namespace::Lid)));
        }
        if wants.contact {
            let kind = if found.is_some() { "in" } else { "out" };
            let mut contact = Node::new("contact").attr("type", kind);
            if let Some(digits) = &digits {
                contact.content = Content::String(format!("+{digits}").into());
            }
            children.push(contact);
        }
        let mut node = Node::new("user");
        if let Some(jid) = jid {
            node = node.jid_attr("jid", jid);
        }
        node.children(children)
    }
}

/// `<devices>` for `account` in `ns`.
fn devices_node(account: &Account, ns: Namespace) -> Node {
    let devices = account
        .devices
        .iter()
        .map(|(id, state)| {
            let node = Node::new("device").attr("id", id.to_string());
            if *id == 0 {
                node
            } else {
                node.attr("key-index", state.key_index.to_string())
            }
        })
        .collect();
    Node::new("devices").children(vec![
        Node::new("device-list")
            .attr("hash", account.device_hash(ns))
            .children(devices),
        Node::new("key-index-list")
            .attr("ts", account.list_ts.to_string())
            .bytes(account.key_index_list_bytes()),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::server::fixture::{Fixture, jid};

    fn query(protocols: &[&str], users: Vec<Node>) -> Node {
        Node::new("iq")
            .attr("id", "u1")
            .attr("xmlns", "usync")
            .attr("type", "get")
            .children(vec![
                Node::new("usync")
                    .attr("sid", "s1")
                    .attr("mode", "query")
                    .attr("context", "message")
                    .children(vec![
                        Node::new("query").children(
                            protocols
                                .iter()
                                .map(|p| Node::new(p.to_string()).attr("version", "2"))
                                .collect(),
                        ),
                        Node::new("list").children(users),
                    ]),
            ])
    }

    fn user(text: &str) -> Node {
        Node::new("user").jid_attr("jid", jid(text))
    }

    #[test]
    fn devices_are_answered_in_the_namespace_asked_with_hash_and_key_indexes() {
        let mut f = Fixture::new();
        let iq = query(
            &["devices", "lid"],
            vec![
                user("15550002@s.whatsapp.net"),
                user("100001@lid"),
                user("999@lid"),
            ],
        );
        let out = f.submit("100001:2@lid", &iq);
        let usync = out[0].child("usync").unwrap();
        assert_eq!(usync.attr_str("sid"), Some("s1"));
        let users = usync.child("list").unwrap().child_nodes();
        assert_eq!(users.len(), 3);
        assert_eq!(
            jid_attr(&users[0], "jid"),
            Some(jid("15550002@s.whatsapp.net"))
        );
        let list = users[0]
            .child("devices")
            .unwrap()
            .child("device-list")
            .unwrap();
        let ids: Vec<(&str, Option<&str>)> = list
            .child_nodes()
            .iter()
            .map(|d| (d.attr_str("id").unwrap(), d.attr_str("key-index")))
            .collect();
        assert_eq!(ids, vec![("0", None), ("3", Some("3")), ("4", Some("4"))]);
        let pn_hash = tether_core::messaging::phash::participant_hash(
            &[
                "15550002@s.whatsapp.net",
                "15550002:3@s.whatsapp.net",
                "15550002:4@s.whatsapp.net",
            ]
            .map(jid),
        );
        assert_eq!(list.attr_str("hash"), Some(pn_hash.as_str()));
        assert_eq!(
            jid_attr(users[0].child("lid").unwrap(), "val"),
            Some(jid("100002@lid"))
        );
        assert!(
            users[1]
                .child("devices")
                .unwrap()
                .child("key-index-list")
                .is_some()
        );
        // Unknown: an error in place, no lid.
        let unknown = users[2].child("devices").unwrap().child("error").unwrap();
        assert_eq!(unknown.attr_str("code"), Some("404"));
        assert!(users[2].child("lid").is_none());
    }

    #[test]
    fn contact_queries_say_in_or_out() {
        let mut f = Fixture::new();
        let contact = |digits: &str| {
            Node::new("user").children(vec![Node::new("contact").bytes(digits.as_bytes().to_vec())])
        };
        let iq = query(
            &["contact", "lid"],
            vec![contact("+15550002"), contact("+1999")],
        );
        let out = f.submit("100001:2@lid", &iq);
        let users = out[0]
            .child("usync")
            .unwrap()
            .child("list")
            .unwrap()
            .child_nodes();
        assert_eq!(
            users[0].child("contact").unwrap().attr_str("type"),
            Some("in")
        );
        assert_eq!(
            jid_attr(&users[0], "jid"),
            Some(jid("15550002@s.whatsapp.net"))
        );
        assert_eq!(
            users[1].child("contact").unwrap().attr_str("type"),
            Some("out")
        );
    }
}
