//! Typed JIDs (`transport.md` §8): `[user[.agent][:device]@]server`.
//!
//! [`Jid`] keeps the five parts of a WhatsApp address — user, agent, device, integrator and
//! server — the way whatsmeow's `types.JID` does, and parses and prints whatsmeow's string
//! grammar, extended so that **every JID the decoder can produce prints to a string that parses
//! back to an equal JID**:
//!
//! | JID | text |
//! |---|---|
//! | server only (empty user, no device) | `s.whatsapp.net` (parsing also accepts Baileys' `@s.whatsapp.net`) |
//! | user | `123@s.whatsapp.net` |
//! | user + device (AD_JID, FB_JID) | `123:4@s.whatsapp.net`, `123:4@msgr` |
//! | explicit device 0 | `123:0@s.whatsapp.net` (see below) |
//! | unknown AD_JID domain byte, kept as the agent | `123.7:4@s.whatsapp.net` (`123.7@…` when the device is 0) |
//! | interop (INTEROP_JID) | `integrator-user:device@interop`, e.g. `5-123:0@interop` (Baileys' spelling) |
//!
//! Rules beyond whatsmeow's, each chosen so that printing is lossless:
//!
//! - **Interop**: whatsmeow prints `user:device@interop` and drops the integrator. Tether prints
//!   Baileys' form `integrator-user:device@interop`, always with both numbers. When parsing an
//!   `interop` JID, a leading run of digits followed by `-` is the integrator; without one the
//!   integrator is 0, so whatsmeow's spelling still parses (a whatsmeow-style interop user that
//!   itself starts with `digits-` is ambiguous and reads as an integrator).
//! - **Users containing `.` or `:`** are printed in the full form `user.agent[:device]`, and
//!   parsing splits the agent at the *last* `.` (and the device at the last `:`), so such users
//!   survive (whatsmeow rejects more than one `.`).
//! - **Explicit device 0**: `123:0@s.whatsapp.net` is kept distinct *on the wire* from
//!   `123@s.whatsapp.net` (Baileys sends the former as an AD_JID with device 0, and the decoder
//!   remembers an AD_JID's device even when it is 0), but the two compare **equal**: JID equality
//!   and hashing ignore whether a device 0 was written.
//! - Numbers are plain ASCII decimal (no sign) and must fit (agent ≤ 255, device and integrator
//!   ≤ 65535); whatsmeow truncates silently. More than one `@` is an error (whatsmeow ignores
//!   what follows the second one).
//!
//! Baileys' own `user_agent:device` notation is never produced; `_` is an ordinary user
//! character here.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use thiserror::Error;

/// A JID server (`transport.md` §8.1).
///
/// Equality and hashing go by the server name, so `Server::Other("lid".into()) == Server::Lid`;
/// [`Server::from_name`] (and `From<&str>`) always picks the named variant.
#[derive(Clone)]
#[non_exhaustive]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users and their devices; alone, the server itself.
    WhatsApp,
    /// `lid`: hidden-number (LID) users and their devices.
    Lid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: broadcast lists and `status@broadcast`.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: hosted (Cloud API) business accounts.
    Hosted,
    /// `hosted.lid`: hosted business accounts by LID.
    HostedLid,
    /// `msgr`: Messenger users (FB_JID on the wire).
    Messenger,
    /// `interop`: interoperability users (INTEROP_JID on the wire).
    Interop,
    /// `bot`: Meta AI bots.
    Bot,
    /// `c.us`: the legacy user server.
    LegacyUser,
    /// `call`: call ids.
    Call,
    /// Any other server name (kept for forward compatibility).
    Other(String),
}

impl Server {
    /// The server for `name`, using a named variant when there is one.
    pub fn from_name(name: &str) -> Self {
        Self::from_known_name(name).unwrap_or_else(|| Self::Other(name.to_owned()))
    }

    /// The named variant for `name`, if there is one (never [`Server::Other`]).
    fn from_known_name(name: &str) -> Option<Self> {
        Some(match name {
            "s.whatsapp.net" => Self::WhatsApp,
            "lid" => Self::Lid,
            "g.us" => Self::Group,
            "broadcast" => Self::Broadcast,
            "newsletter" => Self::Newsletter,
            "hosted" => Self::Hosted,
            "hosted.lid" => Self::HostedLid,
            "msgr" => Self::Messenger,
            "interop" => Self::Interop,
            "bot" => Self::Bot,
            "c.us" => Self::LegacyUser,
            "call" => Self::Call,
            _ => return None,
        })
    }

    /// The server name as written in a JID.
    pub fn as_str(&self) -> &str {
        match self {
            Self::WhatsApp => "s.whatsapp.net",
            Self::Lid => "lid",
            Self::Group => "g.us",
            Self::Broadcast => "broadcast",
            Self::Newsletter => "newsletter",
            Self::Hosted => "hosted",
            Self::HostedLid => "hosted.lid",
            Self::Messenger => "msgr",
            Self::Interop => "interop",
            Self::Bot => "bot",
            Self::LegacyUser => "c.us",
            Self::Call => "call",
            Self::Other(name) => name,
        }
    }

    /// The AD_JID domain byte of this server, for the four servers that have one
    /// (`s.whatsapp.net` 0, `lid` 1, `hosted` 128, `hosted.lid` 129).
    pub fn ad_domain(&self) -> Option<u8> {
        match ServerClass::of(self) {
            ServerClass::Ad(domain) => Some(domain),
            _ => None,
        }
    }
}

/// What a server means for the wire form of its JIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerClass {
    /// Devices are carried by AD_JID with this domain byte.
    Ad(u8),
    /// FB_JID.
    Messenger,
    /// INTEROP_JID.
    Interop,
    /// A known server whose JIDs are JID_PAIRs.
    Pair,
    /// An unknown server name: a JID_PAIR once the name is checked.
    Unknown,
}

impl ServerClass {
    pub(crate) fn of_name(name: &str) -> Self {
        Server::from_known_name(name).map_or(Self::Unknown, |server| Self::of(&server))
    }

    pub(crate) fn of(server: &Server) -> Self {
        match server {
            Server::WhatsApp => Self::Ad(0),
            Server::Lid => Self::Ad(1),
            Server::Hosted => Self::Ad(128),
            Server::HostedLid => Self::Ad(129),
            Server::Messenger => Self::Messenger,
            Server::Interop => Self::Interop,
            Server::Group
            | Server::Broadcast
            | Server::Newsletter
            | Server::Bot
            | Server::LegacyUser
            | Server::Call => Self::Pair,
            Server::Other(name) => Self::of_name(name),
        }
    }
}

impl PartialEq for Server {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Other(_), _) | (_, Self::Other(_)) => self.as_str() == other.as_str(),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for Server {}

impl Hash for Server {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl From<&str> for Server {
    fn from(name: &str) -> Self {
        Self::from_name(name)
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Longest user stored inline (no allocation). Phone numbers, LIDs, group and newsletter ids and
/// legacy `creator-timestamp` group ids all fit.
pub(crate) const INLINE_USER: usize = 22;

/// The user part: inline when short, shared when long, borrowed when it is a token.
#[derive(Clone)]
enum User {
    Static(&'static str),
    Inline { len: u8, bytes: [u8; INLINE_USER] },
    Shared(Arc<str>),
}

impl User {
    fn new(user: &str) -> Self {
        Self::inline(user.as_bytes()).unwrap_or_else(|| Self::Shared(Arc::from(user)))
    }

    /// The inline form of `bytes` (which must be UTF-8), if it fits.
    fn inline(bytes: &[u8]) -> Option<Self> {
        let len = u8::try_from(bytes.len())
            .ok()
            .filter(|_| bytes.len() <= INLINE_USER)?;
        let mut inline = [0u8; INLINE_USER];
        inline[..bytes.len()].copy_from_slice(bytes);
        Some(Self::Inline { len, bytes: inline })
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Static(s) => s.as_bytes(),
            Self::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Shared(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            // Built from a whole `&str`, so always valid UTF-8.
            Self::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Self::Shared(s) => s,
        }
    }
}

/// A decoded user part: a dictionary token (kept borrowed) or text.
pub(crate) enum UserRef<'a> {
    /// A token from the dictionaries.
    Token(&'static str),
    /// Any other text.
    Text(&'a str),
    /// ASCII text of at most [`INLINE_USER`] bytes (an unpacked NIBBLE_8 / HEX_8 string): the
    /// first `len` bytes.
    Inline { bytes: [u8; INLINE_USER], len: u8 },
}

impl UserRef<'_> {
    fn into_user(self) -> User {
        match self {
            Self::Token(s) => User::Static(s),
            Self::Text(s) => User::new(s),
            Self::Inline { bytes, len } => User::Inline {
                len: len.min(INLINE_USER as u8),
                bytes,
            },
        }
    }
}

/// A WhatsApp JID: `[user[.agent][:device]@]server`, plus the integrator of interop JIDs.
///
/// Cheap to clone: users up to 22 bytes are stored inline, longer ones are shared. See the
/// module docs for the text form; `Display` and [`FromStr`] round-trip every JID the decoder
/// produces.
#[derive(Clone)]
pub struct Jid {
    user: User,
    server: Server,
    agent: u8,
    device: u16,
    integrator: u16,
    /// A device 0 that was written explicitly (`user:0@…`, or an AD_JID with device 0): encoded
    /// as an AD_JID on AD servers and printed as `:0`. Ignored by equality.
    explicit_device: bool,
}

impl Jid {
    fn build(user: User, server: Server, agent: u8, device: u16, integrator: u16) -> Self {
        Self {
            user,
            server,
            agent,
            device,
            integrator,
            explicit_device: false,
        }
    }

    /// `user@server`.
    pub fn user(user: &str, server: Server) -> Self {
        Self::build(User::new(user), server, 0, 0, 0)
    }

    /// `user:device@server` (device 0 is the primary device and is not printed).
    pub fn device(user: &str, device: u16, server: Server) -> Self {
        Self::build(User::new(user), server, 0, device, 0)
    }

    /// The server itself as a JID, e.g. `Jid::server_jid(Server::WhatsApp)` = `s.whatsapp.net`
    /// (`FA 00 03` on the wire).
    pub fn server_jid(server: Server) -> Self {
        Self::build(User::Static(""), server, 0, 0, 0)
    }

    /// An interop JID `integrator-user:device@interop`.
    pub fn interop(user: &str, device: u16, integrator: u16) -> Self {
        Self::build(User::new(user), Server::Interop, 0, device, integrator)
    }

    /// The JID an AD_JID with this domain byte and device denotes: domains 0, 1, 128 and 129 select
    /// `s.whatsapp.net`, `lid`, `hosted` and `hosted.lid`; any other value selects
    /// `s.whatsapp.net` and is kept as the agent (whatsmeow's `NewADJID`). The device is kept
    /// even when it is 0.
    pub fn ad(user: &str, domain: u8, device: u8) -> Self {
        Self::from_ad(User::new(user), domain, device)
    }

    fn from_ad(user: User, domain: u8, device: u8) -> Self {
        let (server, agent) = match domain {
            0 => (Server::WhatsApp, 0),
            1 => (Server::Lid, 0),
            128 => (Server::Hosted, 0),
            129 => (Server::HostedLid, 0),
            agent => (Server::WhatsApp, agent),
        };
        let mut jid = Self::build(user, server, agent, u16::from(device), 0);
        jid.explicit_device = device == 0;
        jid
    }

    /// The user part (empty for a server JID).
    pub fn user_str(&self) -> &str {
        self.user.as_str()
    }

    /// The server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The agent: an AD_JID domain byte other than 0, 1, 128, 129 (whatsmeow's `RawAgent`).
    pub fn agent(&self) -> u8 {
        self.agent
    }

    /// The device number (0 = primary device).
    pub fn device_id(&self) -> u16 {
        self.device
    }

    /// The interop integrator (0 unless this is an interop JID).
    pub fn integrator(&self) -> u16 {
        self.integrator
    }

    /// Whether a device 0 was written explicitly (`user:0@…` or an AD_JID with device 0).
    pub fn has_explicit_device(&self) -> bool {
        self.explicit_device
    }

    /// True for a JID that is just a server (`s.whatsapp.net`, `g.us`, …).
    pub fn is_server_only(&self) -> bool {
        self.user.as_bytes().is_empty()
            && self.agent == 0
            && self.device == 0
            && self.integrator == 0
            && !self.explicit_device
    }

    /// The same user without agent and device (`123:4@s.whatsapp.net` → `123@s.whatsapp.net`).
    #[must_use]
    pub fn to_non_ad(&self) -> Self {
        Self::build(
            self.user.clone(),
            self.server.clone(),
            0,
            0,
            self.integrator,
        )
    }

    /// Builds a JID from decoded wire parts (the decoder's path: no re-parsing).
    pub(crate) fn from_wire(
        user: UserRef<'_>,
        server: Server,
        device: u16,
        integrator: u16,
    ) -> Self {
        Self::build(user.into_user(), server, 0, device, integrator)
    }

    /// Builds the JID of a decoded AD_JID.
    pub(crate) fn from_wire_ad(user: UserRef<'_>, domain: u8, device: u8) -> Self {
        Self::from_ad(user.into_user(), domain, device)
    }

    /// The view of this JID the encoder works from.
    pub(crate) fn wire(&self) -> WireJid<'_> {
        WireJid {
            user: self.user.as_bytes(),
            server: self.server.as_str(),
            class: ServerClass::of(&self.server),
            agent: self.agent,
            device: self.device,
            integrator: self.integrator,
            explicit_device: self.explicit_device,
        }
    }
}

/// A JID as the encoder sees it: the user as bytes (no UTF-8 re-check), the server's class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireJid<'a> {
    pub(crate) user: &'a [u8],
    pub(crate) server: &'a str,
    pub(crate) class: ServerClass,
    pub(crate) agent: u8,
    pub(crate) device: u16,
    pub(crate) integrator: u16,
    pub(crate) explicit_device: bool,
}

impl PartialEq for Jid {
    fn eq(&self, other: &Self) -> bool {
        self.user.as_bytes() == other.user.as_bytes()
            && self.server == other.server
            && self.agent == other.agent
            && self.device == other.device
            && self.integrator == other.integrator
    }
}

impl Eq for Jid {}

impl Hash for Jid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.user.as_bytes().hash(state);
        self.server.hash(state);
        (self.agent, self.device, self.integrator).hash(state);
    }
}

/// A JID's parts borrowed from a [`Jid`] or from a JID-shaped string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JidParts<'a> {
    pub(crate) user: &'a str,
    pub(crate) server: &'a str,
    pub(crate) agent: u8,
    pub(crate) device: u16,
    pub(crate) integrator: u16,
    pub(crate) explicit_device: bool,
}

impl<'a> JidParts<'a> {
    /// Parses the text form without allocating (the grammar of the module docs).
    pub(crate) fn parse(text: &'a str) -> Result<Self, JidParseError> {
        if text.is_empty() {
            return Err(JidParseError::Empty);
        }
        let Some((mut user, server)) = text.split_once('@') else {
            return Ok(Self::server_only(text));
        };
        if server.contains('@') {
            return Err(JidParseError::MultipleAt);
        }
        if server.is_empty() {
            return Err(JidParseError::EmptyServer);
        }
        let mut parts = Self::server_only(server);
        if server == "interop"
            && let Some((prefix, rest)) = user.split_once('-')
            && is_decimal(prefix)
        {
            parts.integrator = parse_number(prefix).ok_or(JidParseError::InvalidIntegrator)?;
            user = rest;
        }
        let device = if let Some((u, ad)) = user.rsplit_once('.') {
            user = u;
            let (agent, device) = match ad.split_once(':') {
                Some((agent, device)) => (agent, Some(device)),
                None => (ad, None),
            };
            parts.agent = parse_number(agent).ok_or(JidParseError::InvalidAgent)?;
            device
        } else if let Some((u, device)) = user.rsplit_once(':') {
            user = u;
            Some(device)
        } else {
            None
        };
        if let Some(device) = device {
            parts.device = parse_number(device).ok_or(JidParseError::InvalidDevice)?;
            // Interop JIDs always print their device, so there is nothing explicit to remember.
            parts.explicit_device = parts.device == 0 && server != "interop";
        }
        parts.user = user;
        Ok(parts)
    }

    /// The encoder's view of the parsed parts.
    pub(crate) fn wire(&self) -> WireJid<'a> {
        WireJid {
            user: self.user.as_bytes(),
            server: self.server,
            class: ServerClass::of_name(self.server),
            agent: self.agent,
            device: self.device,
            integrator: self.integrator,
            explicit_device: self.explicit_device,
        }
    }

    fn server_only(server: &'a str) -> Self {
        Self {
            user: "",
            server,
            agent: 0,
            device: 0,
            integrator: 0,
            explicit_device: false,
        }
    }
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_number<T: FromStr>(s: &str) -> Option<T> {
    if is_decimal(s) { s.parse().ok() } else { None }
}

/// Why a string is not a JID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JidParseError {
    /// The string is empty.
    #[error("empty jid")]
    Empty,
    /// Nothing follows the `@`.
    #[error("empty server after '@'")]
    EmptyServer,
    /// More than one `@`.
    #[error("more than one '@' in jid")]
    MultipleAt,
    /// The agent after `.` is not a decimal number 0..=255.
    #[error("agent is not a number in 0..=255")]
    InvalidAgent,
    /// The device after `:` is not a decimal number 0..=65535.
    #[error("device is not a number in 0..=65535")]
    InvalidDevice,
    /// The interop integrator is not a decimal number 0..=65535.
    #[error("integrator is not a number in 0..=65535")]
    InvalidIntegrator,
}

impl FromStr for Jid {
    type Err = JidParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let p = JidParts::parse(text)?;
        let mut jid = Self::build(
            User::new(p.user),
            Server::from_name(p.server),
            p.agent,
            p.device,
            p.integrator,
        );
        jid.explicit_device = p.explicit_device;
        Ok(jid)
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_server_only() {
            return f.write_str(self.server.as_str());
        }
        let interop = self.server == Server::Interop;
        if interop {
            write!(f, "{}-", self.integrator)?;
        }
        let user = self.user.as_str();
        f.write_str(user)?;
        let show_device = self.device > 0 || self.explicit_device || interop;
        if self.agent > 0 || user.contains(['.', ':']) {
            write!(f, ".{}", self.agent)?;
        }
        if show_device {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server.as_str())
    }
}

impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(jid: &Jid) {
        let text = jid.to_string();
        let back: Jid = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(&back, jid, "{text}");
        assert_eq!(
            back.has_explicit_device(),
            jid.has_explicit_device(),
            "{text}"
        );
        assert_eq!(back.to_string(), text);
    }

    #[test]
    fn prints_whatsmeow_forms() {
        let cases = [
            (Jid::user("123", Server::WhatsApp), "123@s.whatsapp.net"),
            (
                Jid::device("123", 4, Server::WhatsApp),
                "123:4@s.whatsapp.net",
            ),
            (Jid::device("123", 12, Server::Lid), "123:12@lid"),
            (Jid::server_jid(Server::WhatsApp), "s.whatsapp.net"),
            (Jid::server_jid(Server::Group), "g.us"),
            (Jid::user("status", Server::Broadcast), "status@broadcast"),
            (Jid::device("100", 3, Server::Messenger), "100:3@msgr"),
            (Jid::ad("123", 7, 4), "123.7:4@s.whatsapp.net"),
            (Jid::ad("123", 7, 0), "123.7:0@s.whatsapp.net"),
            (Jid::ad("123", 0, 0), "123:0@s.whatsapp.net"),
            (Jid::ad("123", 129, 2), "123:2@hosted.lid"),
            (Jid::interop("55", 1, 9), "9-55:1@interop"),
            (Jid::interop("55", 0, 0), "0-55:0@interop"),
        ];
        for (jid, text) in cases {
            assert_eq!(jid.to_string(), text);
            round_trip(&jid);
        }
    }

    #[test]
    fn parses_whatsmeow_and_baileys_spellings() {
        let server: Jid = "@s.whatsapp.net".parse().unwrap();
        assert_eq!(server, Jid::server_jid(Server::WhatsApp));
        assert!(server.is_server_only());
        assert_eq!("s.whatsapp.net".parse::<Jid>().unwrap(), server);
        let ad: Jid = "123.5:2@s.whatsapp.net".parse().unwrap();
        assert_eq!((ad.user_str(), ad.agent(), ad.device_id()), ("123", 5, 2));
        let whatsmeow_interop: Jid = "77:3@interop".parse().unwrap();
        assert_eq!(whatsmeow_interop, Jid::interop("77", 3, 0));
        let legacy_group: Jid = "12345678901-1600000000@g.us".parse().unwrap();
        assert_eq!(legacy_group.user_str(), "12345678901-1600000000");
        let explicit: Jid = "123:0@s.whatsapp.net".parse().unwrap();
        assert!(explicit.has_explicit_device());
        assert_eq!(
            explicit,
            Jid::user("123", Server::WhatsApp),
            "explicit :0 compares equal"
        );
        assert_eq!(
            "123@unknown.server".parse::<Jid>().unwrap().server(),
            &Server::Other("unknown.server".into())
        );
    }

    #[test]
    fn rejects_malformed_jids() {
        let cases = [
            ("", JidParseError::Empty),
            ("123@", JidParseError::EmptyServer),
            ("a@b@c", JidParseError::MultipleAt),
            ("123:x@s.whatsapp.net", JidParseError::InvalidDevice),
            ("123:+4@s.whatsapp.net", JidParseError::InvalidDevice),
            ("123:65536@s.whatsapp.net", JidParseError::InvalidDevice),
            ("123.256:1@s.whatsapp.net", JidParseError::InvalidAgent),
            ("123.a@s.whatsapp.net", JidParseError::InvalidAgent),
            ("70000-1:0@interop", JidParseError::InvalidIntegrator),
        ];
        for (text, err) in cases {
            assert_eq!(text.parse::<Jid>(), Err(err), "{text:?}");
        }
    }

    #[test]
    fn odd_users_survive_printing() {
        for jid in [
            Jid::user("a.b", Server::Lid),
            Jid::user("a:b", Server::WhatsApp),
            Jid::device("a.b:c", 3, Server::Group),
            Jid::device("", 3, Server::WhatsApp),
            Jid::ad("", 9, 0),
            Jid::interop("1-2", 4, 0),
            Jid::interop("", 0, 7),
            Jid::user("12345678901234567890123456789", Server::Newsletter),
            Jid::user("x", Server::from_name("some.new.server")),
        ] {
            round_trip(&jid);
        }
    }

    #[test]
    fn server_equality_is_by_name() {
        assert_eq!(Server::Other("lid".to_owned()), Server::Lid);
        assert_eq!(Server::from_name("hosted.lid"), Server::HostedLid);
        assert!(matches!(Server::from_name("hosted.lid"), Server::HostedLid));
        assert_eq!(Server::Hosted.ad_domain(), Some(128));
        assert_eq!(Server::Group.ad_domain(), None);
    }

    #[test]
    fn long_users_are_shared_not_copied() {
        let jid = Jid::user(&"9".repeat(40), Server::Bot);
        let clone = jid.clone();
        assert_eq!(jid, clone);
        assert_eq!(clone.user_str().len(), 40);
    }
}
