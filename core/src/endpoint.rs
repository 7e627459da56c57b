//! The few URLs a runtime adapter dials, parsed without any I/O: the WebSocket endpoint
//! (`ws://`, `wss://`), the version URL (`http://`, `https://`) and proxy URLs (see
//! [`crate::proxy`]).
//!
//! Only the shape Tether needs is accepted: `scheme://[user[:password]@]host[:port][/path][?query]`
//! with a DNS name, an IPv4 address or a bracketed IPv6 address. Anything else is a typed
//! [`UrlError`], never a panic.

use std::fmt;

use thiserror::Error;

/// The `Origin` header every WhatsApp Web client sends on the WebSocket upgrade
/// (`transport.md` §2).
pub const WEB_ORIGIN: &str = "https://web.whatsapp.com";

/// Longest URL accepted (bytes).
pub const MAX_URL_LEN: usize = 2048;

/// A URL scheme an adapter can dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// Plain WebSocket (tests, the simulator).
    Ws,
    /// WebSocket over TLS.
    Wss,
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// Whether the connection runs TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Wss | Self::Https)
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        if self.is_tls() { 443 } else { 80 }
    }

    /// Whether this is a WebSocket scheme.
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ws => "ws",
            Self::Wss => "wss",
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Longer than [`MAX_URL_LEN`].
    #[error("url is {len} bytes long, more than the {max} accepted: shorten it")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No `scheme://` prefix.
    #[error("url has no scheme: write it as scheme://host[:port][/path]")]
    MissingScheme,
    /// A scheme this use does not support.
    #[error("url scheme {0:?} is not supported here: use {1}")]
    UnsupportedScheme(String, &'static str),
    /// No host between `//` and the port or path.
    #[error("url has no host: write scheme://host[:port]")]
    MissingHost,
    /// The host has characters no host name or address has.
    #[error("url host is not a valid name or address: use a DNS name, IPv4 or [IPv6]")]
    BadHost,
    /// The port is not a number from 1 to 65535.
    #[error("url port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
    /// User credentials where none may be given.
    #[error("this url may not carry user credentials: remove the user:password@ part")]
    UnexpectedCredentials,
}

/// A URL split into what a dialer needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The scheme.
    pub scheme: Scheme,
    /// Host name or address, without IPv6 brackets, lowercased.
    pub host: String,
    /// Port (the scheme's default when the URL names none).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses a `ws`, `wss`, `http` or `https` URL without user credentials.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let parts = UrlParts::parse(url)?;
        if parts.userinfo.is_some() {
            return Err(UrlError::UnexpectedCredentials);
        }
        let scheme = match parts.scheme.to_ascii_lowercase().as_str() {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(UrlError::UnsupportedScheme(
                    other.to_owned(),
                    "ws://, wss://, http:// or https://",
                ));
            }
        };
        Ok(Self {
            scheme,
            port: parts.port.unwrap_or_else(|| scheme.default_port()),
            host: parts.host,
            path: parts.path,
        })
    }

    /// Parses a URL to open a WebSocket to: `ws://` or `wss://` only.
    pub fn parse_websocket(url: &str) -> Result<Self, UrlError> {
        let target = Self::parse(url)?;
        if !target.scheme.is_websocket() {
            return Err(UrlError::UnsupportedScheme(url.into(), "ws:// or wss://"));
        }
        Ok(target)
    }

    /// `host:port` for a CONNECT request or a SOCKS target (IPv6 in brackets).
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The `Host` header value: the port is left out when it is the scheme's default.
    pub fn host_header(&self) -> String {
        if self.port == self.scheme.default_port() {
            bracketed(&self.host)
        } else {
            self.authority()
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.name(),
            self.authority(),
            self.path
        )
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn authority(host: &str, port: u16) -> String {
    format!("{}:{port}", bracketed(host))
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The generic pieces of a URL, before the scheme is interpreted.
pub(crate) struct UrlParts<'a> {
    pub(crate) scheme: &'a str,
    /// `user[:password]`, still percent-encoded.
    pub(crate) userinfo: Option<&'a str>,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) path: String,
}

impl<'a> UrlParts<'a> {
    pub(crate) fn parse(url: &'a str) -> Result<Self, UrlError> {
        if url.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong {
                len: url.len(),
                max: MAX_URL_LEN,
            });
        }
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::MissingScheme)?;
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(UrlError::MissingScheme);
        }
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        let path = match tail.split_once('#') {
            Some((before, _fragment)) => before,
            None => tail,
        };
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Self {
            scheme,
            userinfo,
            host,
            port,
            path,
        })
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::BadHost)?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(UrlError::BadHost);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::BadHost)?),
        };
        (host, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err(UrlError::BadHost);
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('+') => Some(n),
            _ => return Err(UrlError::BadPort(p.chars().take(16).collect())),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_websocket_accepts_ws_and_refuses_http() {
        let e = Endpoint::parse_websocket("ws://127.0.0.1:9/ws/chat").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 9));
        assert!(matches!(
            Endpoint::parse_websocket("https://web.whatsapp.com/"),
            Err(UrlError::UnsupportedScheme(_, "ws:// or wss://"))
        ));
    }

    #[test]
    fn parses_the_whatsapp_endpoint_with_default_port() {
        let e = Endpoint::parse("wss://web.whatsapp.com/ws/chat").unwrap();
        assert_eq!(e.scheme, Scheme::Wss);
        assert_eq!(e.host, "web.whatsapp.com");
        assert_eq!(e.port, 443);
        assert_eq!(e.path, "/ws/chat");
        assert_eq!(e.host_header(), "web.whatsapp.com");
        assert_eq!(e.authority(), "web.whatsapp.com:443");
    }

    #[test]
    fn parses_a_loopback_endpoint_with_port_and_query() {
        let e = Endpoint::parse("ws://127.0.0.1:8080/ws/chat?x=1#frag").unwrap();
        assert_eq!(e.scheme, Scheme::Ws);
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8080));
        assert_eq!(e.path, "/ws/chat?x=1");
        assert_eq!(e.host_header(), "127.0.0.1:8080");
    }

    #[test]
    fn parses_bracketed_ipv6_and_empty_path() {
        let e = Endpoint::parse("http://[::1]:81").unwrap();
        assert_eq!(e.host, "::1");
        assert_eq!(e.path, "/");
        assert_eq!(e.authority(), "[::1]:81");
    }

    #[test]
    fn rejects_malformed_urls_with_typed_errors() {
        assert_eq!(
            Endpoint::parse("web.whatsapp.com"),
            Err(UrlError::MissingScheme)
        );
        assert!(matches!(
            Endpoint::parse("ftp://x/"),
            Err(UrlError::UnsupportedScheme(..))
        ));
        assert_eq!(Endpoint::parse("ws:///path"), Err(UrlError::MissingHost));
        assert!(matches!(
            Endpoint::parse("ws://h:0/"),
            Err(UrlError::BadPort(_))
        ));
        assert!(matches!(
            Endpoint::parse("ws://h:99999/"),
            Err(UrlError::BadPort(_))
        ));
        assert_eq!(Endpoint::parse("ws://h st/"), Err(UrlError::BadHost));
        assert_eq!(Endpoint::parse("ws://[::1/"), Err(UrlError::BadHost));
        assert_eq!(
            Endpoint::parse("wss://u:p@h/"),
            Err(UrlError::UnexpectedCredentials)
        );
        let long = format!("ws://h/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            Endpoint::parse(&long),
            Err(UrlError::TooLong { .. })
        ));
    }
}
