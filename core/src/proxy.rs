//! Proxies, sans-IO: parsing proxy URLs, choosing one from the environment (`https_proxy`,
//! `all_proxy`, `no_proxy`, as curl reads them), building the HTTP `CONNECT` request and
//! reading its answer. The adapters only move the bytes; SOCKS5 itself is spoken by the
//! adapter's SOCKS library, which this module only hands the parsed address and credentials.
//!
//! ```text
//!   adapter                                   proxy
//!     │ ── connect_request(target, auth) ──▶    │
//!     │ ◀── "HTTP/1.1 200 …\r\n…\r\n\r\n" ───   │   ConnectHandshake::handle_read → done
//!     │ ══ TLS / WebSocket through the tunnel ═▶│
//! ```

use std::fmt;

use base64::Engine as _;
use thiserror::Error;

use crate::endpoint::{Endpoint, UrlError, UrlParts, authority};

/// Largest `CONNECT` response head accepted (bytes).
pub const MAX_CONNECT_RESPONSE: usize = 8 * 1024;

/// Which protocol the proxy speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// HTTP `CONNECT` tunnel (`http://`).
    Http,
    /// SOCKS5 (`socks5://`, `socks5h://`); the target host name is sent to the proxy.
    Socks5,
}

/// Credentials for the proxy. The password never reaches `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyAuth {
    /// User name (percent-decoded).
    pub user: String,
    /// Password (percent-decoded).
    pub password: String,
}

impl fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A parsed proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// The protocol.
    pub kind: ProxyKind,
    /// Proxy host.
    pub host: String,
    /// Proxy port (1080 for SOCKS5, 80 for HTTP when the URL names none).
    pub port: u16,
    /// Credentials, if the URL carries `user:password@`.
    pub auth: Option<ProxyAuth>,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Prints the proxy without its credentials (safe for logs).
impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
        };
        let user = if self.auth.is_some() { "<user>@" } else { "" };
        write!(f, "{scheme}://{user}{}", authority(&self.host, self.port))
    }
}

impl ProxyUrl {
    /// Parses `http://[user:pass@]host[:port]` or `socks5[h]://[user:pass@]host[:port]`. A URL
    /// without a scheme (`host:port`, as some environments set it) is taken as HTTP.
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let with_scheme;
        let url = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{}", url.trim());
            &with_scheme
        };
        let parts = UrlParts::parse(url).map_err(ProxyError::Url)?;
        let (kind, default_port) = match parts.scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::Http, 80),
            "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
            other => return Err(ProxyError::UnsupportedScheme(other.to_owned())),
        };
        let auth = match parts.userinfo {
            None => None,
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                Some(ProxyAuth {
                    user: percent_decode(user)?,
                    password: percent_decode(password)?,
                })
            }
        };
        Ok(Self {
            kind,
            host: parts.host,
            port: parts.port.unwrap_or(default_port),
            auth,
        })
    }
}

/// Which proxy a connection uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxySetting {
    /// Dial directly.
    Off,
    /// Read `https_proxy` / `all_proxy` (for `ws://` and `http://`: `http_proxy` / `all_proxy`)
    /// and honour `no_proxy`, as curl does.
    #[default]
    FromEnv,
    /// Always use this proxy: `http://host:port` or `socks5://[user:pass@]host:port`.
    Url(String),
}

impl ProxySetting {
    /// The proxy to use for `target`, if any. `env` looks up an environment variable (the
    /// adapter passes `std::env::var`; tests pass a map).
    pub fn resolve(
        &self,
        target: &Endpoint,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ProxyUrl>, ProxyError> {
        match self {
            Self::Off => Ok(None),
            Self::Url(url) => ProxyUrl::parse(url).map(Some),
            Self::FromEnv => proxy_from_env(target, env),
        }
    }
}

/// The proxy the environment asks for to reach `target`, or `None` (no variable set, or
/// `no_proxy` matches the host). Lowercase names win over uppercase ones; an uppercase
/// `HTTP_PROXY` is ignored, as curl does (it can be set by a CGI request header).
pub fn proxy_from_env(
    target: &Endpoint,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ProxyUrl>, ProxyError> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| env(name).filter(|value| !value.trim().is_empty()))
    };
    if let Some(list) = get(&["no_proxy", "NO_PROXY"])
        && no_proxy_matches(&list, &target.host, target.port)
    {
        return Ok(None);
    }
    let names: &[&str] = if target.scheme.is_tls() {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    get(names).map(|url| ProxyUrl::parse(&url)).transpose()
}

/// Whether a `no_proxy` list exempts `host` (and `port`). Entries are separated by commas or
/// spaces: `*` matches everything; a name matches itself and its subdomains (a leading `.` or
/// `*.` is ignored); an IP address or CIDR block (`10.0.0.0/8`) matches addresses in it; an
/// entry with `:port` only matches that port.
pub fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| entry_matches(&entry.to_ascii_lowercase(), host, port))
}

fn entry_matches(entry: &str, host: &str, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let (name, entry_port) = split_entry_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_matches(['[', ']']);
    if let Some((net, bits)) = name.split_once('/') {
        return cidr_contains(net, bits, host);
    }
    if let (Ok(a), Ok(b)) = (
        name.parse::<core::net::IpAddr>(),
        host.parse::<core::net::IpAddr>(),
    ) {
        return a == b;
    }
    let name = name.trim_start_matches("*.").trim_start_matches('.');
    !name.is_empty()
        && (host == name
            || host
                .strip_suffix(name)
                .is_some_and(|prefix| prefix.ends_with('.')))
}

/// Splits `name:port`; an entry with several colons (IPv6) only has a port when bracketed.
fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((addr, after)) = rest.split_once(']')
    {
        return (addr, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (entry, None),
    }
}

fn cidr_contains(net: &str, bits: &str, host: &str) -> bool {
    use core::net::IpAddr;
    let (Ok(net), Ok(bits), Ok(host)) = (
        net.parse::<IpAddr>(),
        bits.parse::<u32>(),
        host.parse::<IpAddr>(),
    ) else {
        return false;
    };
    match (net, host) {
        (IpAddr::V4(n), IpAddr::V4(h)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(h) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(h)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(h) & mask
        }
        _ => false,
    }
}

fn percent_decode(s: &str) -> Result<String, ProxyError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(ProxyError::BadCredentials)?;
            let hex = std::str::from_utf8(hex).map_err(|_| ProxyError::BadCredentials)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ProxyError::BadCredentials)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ProxyError::BadCredentials)
}

/// The HTTP `CONNECT` request asking the proxy for a tunnel to `target` (`host:port`).
pub fn connect_request(target: &str, auth: Option<&ProxyAuth>) -> Vec<u8> {
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", auth.user, auth.password));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// Reads a proxy's answer to `CONNECT`, byte chunk by byte chunk, until the head is complete.
#[derive(Debug, Default)]
pub struct ConnectHandshake {
    head: Vec<u8>,
}

impl ConnectHandshake {
    /// A handshake waiting for the proxy's answer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes read from the proxy (an empty slice means the proxy closed). `Ok(true)`:
    /// the tunnel is open; `Ok(false)`: read more.
    pub fn handle_read(&mut self, data: &[u8]) -> Result<bool, ProxyError> {
        if data.is_empty() {
            return Err(ProxyError::Closed);
        }
        if self.head.len().saturating_add(data.len()) > MAX_CONNECT_RESPONSE {
            return Err(ProxyError::ResponseTooLong(MAX_CONNECT_RESPONSE));
        }
        self.head.extend_from_slice(data);
        let Some(end) = find(&self.head, b"\r\n\r\n") else {
            return Ok(false);
        };
        if end + 4 != self.head.len() {
            return Err(ProxyError::UnexpectedData);
        }
        let status = parse_status_line(&self.head)?;
        match status.code {
            200..=299 => Ok(true),
            407 => Err(ProxyError::AuthRequired),
            code => Err(ProxyError::Refused {
                status: code,
                reason: status.reason,
            }),
        }
    }
}

/// A parsed HTTP status line.
pub(crate) struct StatusLine {
    pub(crate) code: u16,
    /// The reason phrase: printable ASCII only, at most 64 characters.
    pub(crate) reason: String,
}

/// Parses `HTTP/1.x NNN reason\r\n` at the start of `head`.
pub(crate) fn parse_status_line(head: &[u8]) -> Result<StatusLine, ProxyError> {
    let line_end = find(head, b"\r\n").ok_or(ProxyError::NotHttp)?;
    let line = head.get(..line_end).ok_or(ProxyError::NotHttp)?;
    let line = std::str::from_utf8(line).map_err(|_| ProxyError::NotHttp)?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ProxyError::NotHttp);
    }
    let code = parts
        .next()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or(ProxyError::NotHttp)?;
    let reason = parts
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(64)
        .collect();
    Ok(StatusLine { code, reason })
}

/// Position of the first `needle` in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Why a proxy could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL does not parse.
    #[error("proxy url is invalid: {0}")]
    Url(UrlError),
    /// A proxy protocol Tether does not speak.
    #[error("proxy scheme {0:?} is not supported: use http://host:port or socks5://host:port")]
    UnsupportedScheme(String),
    /// Bad percent-encoding in the proxy credentials.
    #[error("proxy credentials are not valid percent-encoded UTF-8: encode them as in a URL")]
    BadCredentials,
    /// The proxy closed before the tunnel opened.
    #[error("proxy closed the connection before opening the tunnel: check the proxy's logs")]
    Closed,
    /// The proxy did not answer with HTTP.
    #[error("proxy did not answer CONNECT with an HTTP/1.x status line: is it an HTTP proxy?")]
    NotHttp,
    /// The answer head is too long.
    #[error("proxy answer to CONNECT is longer than {0} bytes: refusing it")]
    ResponseTooLong(usize),
    /// The proxy sent data after its answer, before the client spoke.
    #[error("proxy sent data after its CONNECT answer before the tunnel was used: refusing it")]
    UnexpectedData,
    /// 407: credentials missing or wrong.
    #[error("proxy requires authentication (407): put user:password@ in the proxy url")]
    AuthRequired,
    /// Any other non-2xx answer.
    #[error(
        "proxy refused the tunnel with {status} {reason:?}: check that it allows this host and port"
    )]
    Refused {
        /// HTTP status.
        status: u16,
        /// Reason phrase (sanitized).
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn wss() -> Endpoint {
        Endpoint::parse("wss://web.whatsapp.com/ws/chat").unwrap()
    }

    #[test]
    fn parses_http_and_socks5_proxy_urls() {
        let p = ProxyUrl::parse("http://proxy.local:3128").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (ProxyKind::Http, "proxy.local", 3128)
        );
        assert_eq!(p.auth, None);
        let p = ProxyUrl::parse("socks5://al%40ice:p%3Ass@10.0.0.1").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::Socks5, 1080));
        let auth = p.auth.unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.password.as_str()),
            ("al@ice", "p:ss")
        );
        assert_eq!(
            ProxyUrl::parse("socks5h://h:9").unwrap().kind,
            ProxyKind::Socks5
        );
        assert_eq!(ProxyUrl::parse("h:8080").unwrap().kind, ProxyKind::Http);
    }

    #[test]
    fn proxy_password_never_printed() {
        let p = ProxyUrl::parse("socks5://user:hunter2@h:1").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!format!("{p}").contains("hunter2"));
        assert!(!format!("{:?}", p.auth).contains("hunter2"));
    }

    #[test]
    fn rejects_unsupported_proxy_urls() {
        assert_eq!(
            ProxyUrl::parse("https://h:1"),
            Err(ProxyError::UnsupportedScheme("https".into()))
        );
        assert_eq!(
            ProxyUrl::parse("http://u:%zz@h"),
            Err(ProxyError::BadCredentials)
        );
        assert!(matches!(
            ProxyUrl::parse("http://:1"),
            Err(ProxyError::Url(_))
        ));
    }

    #[test]
    fn env_selection_prefers_https_proxy_then_all_proxy() {
        let t = wss();
        let got = proxy_from_env(
            &t,
            env(&[("all_proxy", "socks5://a:1"), ("HTTPS_PROXY", "http://b:2")]),
        );
        assert_eq!(got.unwrap().unwrap().host, "b");
        let got = proxy_from_env(&t, env(&[("ALL_PROXY", "socks5://a:1")]));
        assert_eq!(got.unwrap().unwrap().kind, ProxyKind::Socks5);
        assert_eq!(
            proxy_from_env(&t, env(&[("http_proxy", "http://c:3")])).unwrap(),
            None
        );
        assert_eq!(
            proxy_from_env(&t, env(&[("https_proxy", "  ")])).unwrap(),
            None
        );
    }

    #[test]
    fn plain_targets_use_http_proxy_but_not_uppercase_http_proxy() {
        let t = Endpoint::parse("ws://sim.local:9000/ws/chat").unwrap();
        assert_eq!(
            proxy_from_env(&t, env(&[("http_proxy", "http://c:3")]))
                .unwrap()
                .unwrap()
                .host,
            "c"
        );
        assert_eq!(
            proxy_from_env(&t, env(&[("HTTP_PROXY", "http://c:3")])).unwrap(),
            None
        );
    }

    #[test]
    fn no_proxy_exempts_matching_hosts() {
        let t = wss();
        let vars = [
            ("https_proxy", "http://p:1"),
            ("no_proxy", "localhost, .whatsapp.com"),
        ];
        assert_eq!(proxy_from_env(&t, env(&vars)).unwrap(), None);
        assert!(no_proxy_matches("*", "anything", 1));
        assert!(no_proxy_matches("whatsapp.com", "web.whatsapp.com", 443));
        assert!(!no_proxy_matches("whatsapp.com", "notwhatsapp.com", 443));
        assert!(no_proxy_matches("127.0.0.0/8", "127.1.2.3", 80));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.0.0.1", 80));
        assert!(no_proxy_matches("::1", "[::1]", 80));
        assert!(no_proxy_matches("[::1]:80", "::1", 80));
        assert!(no_proxy_matches("h:443", "h", 443));
        assert!(!no_proxy_matches("h:443", "h", 80));
        assert!(!no_proxy_matches("", "h", 80));
    }

    #[test]
    fn setting_off_and_url_ignore_the_environment() {
        let vars = [("https_proxy", "http://p:1")];
        assert_eq!(ProxySetting::Off.resolve(&wss(), env(&vars)).unwrap(), None);
        let got = ProxySetting::Url("socks5://s:5".into()).resolve(&wss(), env(&vars));
        assert_eq!(got.unwrap().unwrap().host, "s");
    }

    #[test]
    fn builds_connect_request_with_basic_auth() {
        let auth = ProxyAuth {
            user: "u".into(),
            password: "p".into(),
        };
        let req = connect_request("web.whatsapp.com:443", Some(&auth));
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "CONNECT web.whatsapp.com:443 HTTP/1.1\r\nHost: web.whatsapp.com:443\r\n\
             Proxy-Authorization: Basic dTpw\r\n\r\n"
        );
    }

    #[test]
    fn connect_answer_split_across_reads_opens_the_tunnel() {
        let mut hs = ConnectHandshake::new();
        assert_eq!(hs.handle_read(b"HTTP/1.1 200 Connection est"), Ok(false));
        assert_eq!(hs.handle_read(b"ablished\r\nVia: x\r\n\r"), Ok(false));
        assert_eq!(hs.handle_read(b"\n"), Ok(true));
    }

    #[test]
    fn connect_answer_errors_are_typed() {
        let run = |bytes: &[u8]| ConnectHandshake::new().handle_read(bytes);
        assert_eq!(
            run(b"HTTP/1.1 407 Auth\r\n\r\n"),
            Err(ProxyError::AuthRequired)
        );
        assert_eq!(
            run(b"HTTP/1.0 403 Forbidden\x01\r\n\r\n"),
            Err(ProxyError::Refused {
                status: 403,
                reason: "Forbidden".into()
            })
        );
        assert_eq!(run(b"SSH-2.0-x\r\n\r\n"), Err(ProxyError::NotHttp));
        assert_eq!(run(b"HTTP/1.1 2000 x\r\n\r\n"), Err(ProxyError::NotHttp));
        assert_eq!(run(b""), Err(ProxyError::Closed));
        assert_eq!(
            run(b"HTTP/1.1 200 OK\r\n\r\nextra"),
            Err(ProxyError::UnexpectedData)
        );
        let mut hs = ConnectHandshake::new();
        let junk = vec![b'a'; MAX_CONNECT_RESPONSE];
        assert_eq!(hs.handle_read(&junk), Ok(false));
        assert_eq!(
            hs.handle_read(b"a"),
            Err(ProxyError::ResponseTooLong(MAX_CONNECT_RESPONSE))
        );
    }
}
