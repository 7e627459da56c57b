//! `media_conn` (`media.md` §1): the upload token and the CDN hosts, asked with an iq and kept
//! for `min(ttl, auth_ttl)`.
//!
//! ```text
//! <iq xmlns="w:m" type="set" to="s.whatsapp.net"><media_conn/></iq>
//! → <media_conn auth ttl auth_ttl max_buckets><host hostname [type]/>…</media_conn>
//! ```
//!
//! Hosts are kept primary first, as named (a port included); a download needs only the hosts,
//! so an expired token never fails one.

use std::fmt;
use std::time::{Duration, Instant};

use super::error::MediaConnError;
use crate::binary::Node;

/// Hosts read from one answer at most.
const MAX_HOSTS: usize = 16;

/// The longest token or host name accepted (bytes).
const MAX_ATTR: usize = 1024;

/// The longest lifetime believed (a week): a larger `ttl` is read as this, so a hostile
/// answer cannot push the expiry past what an `Instant` holds.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One CDN host of a `media_conn` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaHost {
    /// `name[:port]`, used as given.
    pub hostname: String,
    /// Named `type="fallback"`.
    pub fallback: bool,
    /// `maxContentLengthBytes`, when given.
    pub max_content_length: Option<u64>,
}

/// A `media_conn` answer (the token is secret: `Debug` leaves it out).
#[derive(Clone, PartialEq, Eq)]
pub struct MediaConn {
    auth: String,
    /// `ttl`: how long the answer is good for.
    pub ttl: Duration,
    /// `auth_ttl`: how long the token is good for, when given.
    pub auth_ttl: Option<Duration>,
    /// `max_buckets`, when given.
    pub max_buckets: Option<u32>,
    /// The hosts, primary first.
    pub hosts: Vec<MediaHost>,
    /// When it was received.
    pub fetched_at: Instant,
}

impl fmt::Debug for MediaConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaConn")
            .field("auth", &"<redacted>")
            .field("ttl", &self.ttl)
            .field("auth_ttl", &self.auth_ttl)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

/// The `media_conn` iq's content (the iq itself is addressed like every iq to the server).
pub fn request_child() -> Node {
    Node::new("media_conn")
}

/// The iq namespace.
pub const XMLNS: &str = "w:m";

impl MediaConn {
    /// A `media_conn` with these values (servers and tests).
    pub fn new(
        auth: impl Into<String>,
        ttl: Duration,
        hosts: Vec<MediaHost>,
        now: Instant,
    ) -> Self {
        Self {
            auth: auth.into(),
            ttl,
            auth_ttl: None,
            max_buckets: None,
            hosts,
            fetched_at: now,
        }
    }

    /// Reads the iq answer received at `now`.
    pub fn parse(iq: &Node, now: Instant) -> Result<Self, MediaConnError> {
        if iq.attr_str("type") == Some("error") {
            let code = iq
                .child("error")
                .and_then(|e| e.attr_str("code"))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            return Err(MediaConnError::Refused(code));
        }
        let node = iq
            .child("media_conn")
            .ok_or_else(|| malformed("no <media_conn> in the answer"))?;
        let auth = node
            .attr_str("auth")
            .filter(|a| !a.is_empty() && a.len() <= MAX_ATTR)
            .ok_or_else(|| malformed("no usable auth token"))?;
        let seconds = |name: &str| -> Result<Option<Duration>, MediaConnError> {
            match node.attr_str(name) {
                None => Ok(None),
                Some(v) => v
                    .parse::<u64>()
                    .map(|s| Some(Duration::from_secs(s).min(MAX_TTL)))
                    .map_err(|_| malformed(&format!("{name} is not a number"))),
            }
        };
        // Without a ttl the answer is used once (whatsapp-rust's default 0).
        let ttl = seconds("ttl")?.unwrap_or(Duration::ZERO);
        let auth_ttl = seconds("auth_ttl")?;
        let max_buckets = node.attr_str("max_buckets").and_then(|v| v.parse().ok());
        let mut hosts = Vec::new();
        for host in node.child_nodes().iter().filter(|c| c.tag == "host") {
            if hosts.len() == MAX_HOSTS {
                break;
            }
            let Some(name) = host
                .attr_str("hostname")
                .filter(|h| !h.is_empty() && h.len() <= MAX_ATTR)
            else {
                continue;
            };
            hosts.push(MediaHost {
                hostname: name.to_owned(),
                fallback: host.attr_str("type") == Some("fallback"),
                max_content_length: host
                    .attr_str("maxContentLengthBytes")
                    .and_then(|v| v.parse().ok()),
            });
        }
        if hosts.is_empty() {
            return Err(malformed("no hosts"));
        }
        hosts.sort_by_key(|h| h.fallback);
        Ok(Self {
            auth: auth.to_owned(),
            ttl,
            auth_ttl,
            max_buckets,
            hosts,
            fetched_at: now,
        })
    }

    /// The upload token (secret).
    pub fn auth(&self) -> &str {
        &self.auth
    }

    /// When it must be asked again: `fetched_at + min(ttl, auth_ttl)`.
    pub fn expires_at(&self) -> Instant {
        let lifetime = self
            .auth_ttl
            .map_or(self.ttl, |a| a.min(self.ttl))
            .min(MAX_TTL);
        self.fetched_at
            .checked_add(lifetime)
            .unwrap_or(self.fetched_at)
    }

    /// Whether it is still good at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.expires_at()
    }

    /// The host names, primary first.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.hostname.clone()).collect()
    }

    /// The answer a server sends (`media.md` §6.1: all four attributes, whatsmeow needs them).
    pub fn to_node(&self) -> Node {
        let mut node = Node::new("media_conn")
            .attr("auth", self.auth.clone())
            .attr("ttl", self.ttl.as_secs().to_string())
            .attr(
                "auth_ttl",
                self.auth_ttl.unwrap_or(self.ttl).as_secs().to_string(),
            )
            .attr("max_buckets", self.max_buckets.unwrap_or(12).to_string());
        node = node.children(
            self.hosts
                .iter()
                .map(|h| {
                    Node::new("host")
                        .attr("hostname", h.hostname.clone())
                        .attr("type", if h.fallback { "fallback" } else { "primary" })
                })
                .collect(),
        );
        node
    }
}

fn malformed(what: &str) -> MediaConnError {
    MediaConnError::Malformed(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test's starting instant (tests may read the clock; the core never does).
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn answer(conn: Node) -> Node {
        Node::new("iq").attr("type", "result").children(vec![conn])
    }

    #[test]
    fn parses_hosts_primary_first_and_expires_at_the_shorter_ttl() {
        let now = t0();
        let node = answer(
            Node::new("media_conn")
                .attr("auth", "TOKEN")
                .attr("ttl", "300")
                .attr("auth_ttl", "60")
                .attr("max_buckets", "12")
                .children(vec![
                    Node::new("host")
                        .attr("hostname", "b:2")
                        .attr("type", "fallback"),
                    Node::new("host").attr("hostname", "a:1"),
                    Node::new("other"),
                ]),
        );
        let conn = MediaConn::parse(&node, now).unwrap();
        assert_eq!(conn.host_names(), ["a:1", "b:2"]);
        assert_eq!(conn.auth(), "TOKEN");
        assert_eq!(conn.expires_at(), now + Duration::from_secs(60));
        assert!(conn.is_fresh(now + Duration::from_secs(59)));
        assert!(!conn.is_fresh(now + Duration::from_secs(60)));
        assert!(!format!("{conn:?}").contains("TOKEN"));
        // A hostile ttl is capped, never an overflow.
        let huge = answer(
            Node::new("media_conn")
                .attr("auth", "T")
                .attr("ttl", u64::MAX.to_string())
                .children(vec![Node::new("host").attr("hostname", "a")]),
        );
        let capped = MediaConn::parse(&huge, now).unwrap();
        assert_eq!(capped.expires_at(), now + MAX_TTL);
        let back = MediaConn::parse(&answer(conn.to_node()), now).unwrap();
        assert_eq!(back.host_names(), conn.host_names());
    }

    #[test]
    fn bad_answers_are_typed() {
        let now = t0();
        let error = Node::new("iq")
            .attr("type", "error")
            .children(vec![Node::new("error").attr("code", "401")]);
        assert_eq!(
            MediaConn::parse(&error, now),
            Err(MediaConnError::Refused(401))
        );
        for conn in [
            Node::new("media_conn").attr("ttl", "1"),
            Node::new("media_conn")
                .attr("auth", "x")
                .attr("ttl", "soon"),
            Node::new("media_conn").attr("auth", "x").attr("ttl", "1"),
        ] {
            assert!(matches!(
                MediaConn::parse(&answer(conn), now),
                Err(MediaConnError::Malformed(_))
            ));
        }
    }
}
