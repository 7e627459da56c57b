//! Signal addresses: which session a device's messages belong to (`messaging.md` §2.4, §2.5;
//! `DESIGN.md` §10 "Addresses").
//!
//! Every device has one **canonical** address: its LID form when the account's LID is known,
//! else its phone-number form. Sessions, identities and sender keys are stored under the
//! canonical address only, and the same canonical address is the key under which work on one
//! session is serialised — two names for one device are the main cause of "Bad MAC" in the
//! field.
//!
//! The store key is libsignal's (and Baileys') address string, so a Baileys auth directory's
//! `session-<address>.json` files map one to one: `<user>[_<domain>].<device>` where the domain
//! is 1 for LID, 128 for hosted, 129 for hosted LID, and absent for a phone number.

use std::fmt;

use bytes::Bytes;

use crate::binary::{Jid, Server};

/// The namespace of a user: phone number or LID (hosted variants kept apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    /// `@s.whatsapp.net`.
    Pn,
    /// `@lid`.
    Lid,
    /// `@hosted` (a hosted business device, phone-number form).
    Hosted,
    /// `@hosted.lid`.
    HostedLid,
}

impl Namespace {
    /// The namespace of a JID's server, if it is a user namespace.
    pub fn of(server: &Server) -> Option<Self> {
        match server {
            Server::WhatsApp => Some(Self::Pn),
            Server::Lid => Some(Self::Lid),
            Server::Hosted => Some(Self::Hosted),
            Server::HostedLid => Some(Self::HostedLid),
            _ => None,
        }
    }

    /// The JID server of this namespace.
    pub fn server(self) -> Server {
        match self {
            Self::Pn => Server::WhatsApp,
            Self::Lid => Server::Lid,
            Self::Hosted => Server::Hosted,
            Self::HostedLid => Server::HostedLid,
        }
    }

    /// libsignal's domain suffix (`None` for phone numbers).
    fn domain(self) -> Option<u8> {
        match self {
            Self::Pn => None,
            Self::Lid => Some(1),
            Self::Hosted => Some(128),
            Self::HostedLid => Some(129),
        }
    }

    /// Whether this is a LID namespace.
    pub fn is_lid(self) -> bool {
        matches!(self, Self::Lid | Self::HostedLid)
    }
}

/// A user (an account) in one namespace: `<user>@<server>` without a device.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId {
    /// The digits.
    pub user: String,
    /// Phone number or LID.
    pub ns: Namespace,
}

impl UserId {
    /// The user of a JID (`None` for groups, servers, broadcasts…).
    pub fn of(jid: &Jid) -> Option<Self> {
        let ns = Namespace::of(jid.server())?;
        let user = jid.user_str();
        if user.is_empty() || jid.agent() != 0 {
            return None;
        }
        Some(Self {
            user: user.to_owned(),
            ns,
        })
    }

    /// The bare user JID.
    pub fn jid(&self) -> Jid {
        Jid::user(&self.user, self.ns.server())
    }

    /// A device of this user.
    pub fn device(&self, device: u16) -> Address {
        Address {
            user: self.clone(),
            device,
        }
    }

    /// A stable key for the store (`<user>@<server>`).
    pub fn key(&self) -> Bytes {
        Bytes::from(format!("{}@{}", self.user, self.ns.server().as_str()))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.ns.server().as_str())
    }
}

/// One device's Signal address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// The account.
    pub user: UserId,
    /// The device number (0 = the phone).
    pub device: u16,
}

impl Address {
    /// The address of a device JID (`None` for non-user JIDs).
    pub fn of(jid: &Jid) -> Option<Self> {
        Some(UserId::of(jid)?.device(jid.device_id()))
    }

    /// The device JID (`user:device@server`).
    pub fn jid(&self) -> Jid {
        Jid::device(&self.user.user, self.device, self.user.ns.server())
    }

    /// The same device under another user id (PN → LID migration).
    #[must_use]
    pub fn with_user(&self, user: &UserId) -> Self {
        user.device(self.device)
    }

    /// libsignal's address string, the store key: `<user>[_<domain>].<device>`.
    pub fn key(&self) -> Bytes {
        Bytes::from(self.to_string())
    }

    /// The store-key prefix of every device of `user` (`<user>[_<domain>].`).
    pub fn user_prefix(user: &UserId) -> Bytes {
        Bytes::from(match user.ns.domain() {
            Some(d) => format!("{}_{d}.", user.user),
            None => format!("{}.", user.user),
        })
    }

    /// Parses a store key back into an address.
    pub fn parse_key(key: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(key).ok()?;
        let (name, device) = text.rsplit_once('.')?;
        let device: u16 = device.parse().ok()?;
        let (user, ns) = match name.rsplit_once('_') {
            Some((user, "1")) => (user, Namespace::Lid),
            Some((user, "128")) => (user, Namespace::Hosted),
            Some((user, "129")) => (user, Namespace::HostedLid),
            Some(_) => return None,
            None => (name, Namespace::Pn),
        };
        if user.is_empty() || !user.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            user: UserId {
                user: user.to_owned(),
                ns,
            },
            device,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.user.ns.domain() {
            Some(d) => write!(f, "{}_{d}.{}", self.user.user, self.device),
            None => write!(f, "{}.{}", self.user.user, self.device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_libsignal_and_round_trip() {
        let lid: Jid = "200000000000002:3@lid".parse().unwrap();
        let a = Address::of(&lid).unwrap();
        assert_eq!(&a.key()[..], b"200000000000002_1.3");
        assert_eq!(Address::parse_key(&a.key()), Some(a.clone()));
        assert_eq!(a.jid(), lid);
        let pn: Jid = "15551234567@s.whatsapp.net".parse().unwrap();
        let p = Address::of(&pn).unwrap();
        assert_eq!(&p.key()[..], b"15551234567.0");
        assert_eq!(Address::parse_key(b"15551234567.0"), Some(p.clone()));
        assert_eq!(&Address::user_prefix(&a.user)[..], b"200000000000002_1.");
        assert_eq!(&Address::user_prefix(&p.user)[..], b"15551234567.");
        for bad in [&b"x.1"[..], b"1_7.1", b"1.x", b".1", b"12", b"1_1.70000"] {
            assert_eq!(Address::parse_key(bad), None, "{bad:?}");
        }
        let g: Jid = "1234-5678@g.us".parse().unwrap();
        assert!(Address::of(&g).is_none());
    }
}
