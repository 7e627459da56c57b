//! [`TransportFailure`]: why a transport could not be opened or broke, as the adapter's dialer
//! saw it, typed by step (DNS, TCP, proxy, TLS, WebSocket upgrade, I/O on an open socket), so
//! operators are told the cause and not only `[428]`.
//!
//! ```text
//!  dial: DNS ──► TCP ──► (proxy tunnel) ──► TLS ──► WebSocket upgrade ──► open ──► I/O
//!        Dns     Refused   Proxy            Tls     UpgradeStatus / Upgrade         Io
//!                Connect
//! ```
//!
//! The adapters build it from their typed errors (OS error kinds, the proxy exchange's
//! `ProxyError`, the upgrade's HTTP status); nothing here parses error text. Timeouts are the
//! core's own timers ([`LostCause::ConnectTimeout`](super::LostCause::ConnectTimeout)).

use std::fmt;

/// Why a transport failed ([`LostCause::TransportFailed`](super::LostCause::TransportFailed)).
/// `Display` gives the specifics for a human (host, port, OS error); no secret ever appears
/// (proxy credentials are never part of a proxy's name).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportFailure {
    /// The host name did not resolve (no such name, no DNS answer, no network).
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's error.
        detail: String,
    },
    /// The peer refused the TCP connection: nothing listens at that address and port.
    Refused {
        /// `host:port`, or the proxy.
        target: String,
    },
    /// The TCP connection failed otherwise (network or host unreachable, reset while
    /// connecting, an OS error).
    Connect {
        /// `host:port`, or the proxy.
        target: String,
        /// The OS error.
        detail: String,
    },
    /// The proxy refused to open the tunnel, or broke the exchange.
    Proxy {
        /// The proxy, without credentials.
        proxy: String,
        /// What it answered.
        detail: String,
    },
    /// The TLS handshake failed (certificate not trusted, name mismatch, the peer closed
    /// during the handshake).
    Tls {
        /// The server name verified.
        host: String,
        /// The TLS library's error.
        detail: String,
    },
    /// The server answered the WebSocket upgrade with this HTTP status instead of 101.
    UpgradeStatus {
        /// The HTTP status.
        status: u16,
    },
    /// The WebSocket upgrade failed otherwise (closed before answering, not HTTP, bad headers).
    Upgrade {
        /// The WebSocket library's error.
        detail: String,
    },
    /// Reading or writing an open connection failed (reset by the peer, broken pipe).
    Io {
        /// The I/O error.
        detail: String,
    },
}

impl TransportFailure {
    /// A stable machine-readable name: `dns`, `refused`, `connect`, `proxy`, `tls`,
    /// `http_status`, `upgrade` or `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Dns { .. } => "dns",
            Self::Refused { .. } => "refused",
            Self::Connect { .. } => "connect",
            Self::Proxy { .. } => "proxy",
            Self::Tls { .. } => "tls",
            Self::UpgradeStatus { .. } => "http_status",
            Self::Upgrade { .. } => "upgrade",
            Self::Io { .. } => "io",
        }
    }

    /// A short label for log lines: `"DNS lookup failed"`, `"Connection refused"`, …
    pub fn description(&self) -> &'static str {
        match self {
            Self::Dns { .. } => "DNS lookup failed",
            Self::Refused { .. } => "Connection refused",
            Self::Connect { .. } => "Connection failed",
            Self::Proxy { .. } => "Proxy refused the tunnel",
            Self::Tls { .. } => "TLS handshake failed",
            Self::UpgradeStatus { .. } => "WebSocket upgrade refused",
            Self::Upgrade { .. } => "WebSocket upgrade failed",
            Self::Io { .. } => "Connection broken",
        }
    }

    /// What happened, why, and what to do next.
    pub fn advice(&self) -> &'static str {
        match self {
            Self::Dns { .. } => {
                "The server's host name did not resolve: no network, a DNS problem, or a typo in \
                 `server`. Tether retries with backoff. Check the network and DNS \
                 (/etc/resolv.conf) and the configured `server`; `tether doctor` tests each step."
            }
            Self::Refused { .. } => {
                "Nothing accepted the connection at that address and port: the server or proxy \
                 is down, or `server`/`proxy` names the wrong host or port. Tether retries with \
                 backoff. Check the address; `tether doctor` tests each step."
            }
            Self::Connect { .. } => {
                "The connection could not be made (network or host unreachable, or reset while \
                 connecting). Tether retries with backoff. Check the network path, firewalls and \
                 any proxy; `tether doctor` tests each step."
            }
            Self::Proxy { .. } => {
                "The proxy refused or broke the tunnel to the server. Tether retries with \
                 backoff. Check `proxy` (address, user:password) and that the proxy allows \
                 CONNECT to the server's host and port; `tether doctor` tests the tunnel."
            }
            Self::Tls { .. } => {
                "The TLS handshake with the server failed: its certificate is not trusted (a \
                 proxy or firewall intercepting TLS, or a test server whose CA was not given \
                 with --ca-file, caFile or SSL_CERT_FILE), the name does not match, or the \
                 clock is far off. Tether retries with backoff and never connects without \
                 verifying the certificate."
            }
            Self::UpgradeStatus { .. } => {
                "The server, or something on the way, answered the WebSocket upgrade with an \
                 HTTP error instead of switching protocols: a wrong path in `server`, or a proxy \
                 or firewall that blocks WebSockets. Tether retries with backoff."
            }
            Self::Upgrade { .. } => {
                "The WebSocket upgrade did not complete: the server closed the connection before \
                 answering, or answered something that is not a WebSocket handshake. Tether \
                 retries with backoff. Check that `server` is a WhatsApp WebSocket endpoint."
            }
            Self::Io { .. } => {
                "The open connection broke (reset by the peer or something on the network \
                 path). Tether reconnects with backoff. If it repeats, check proxies and \
                 firewalls that may cut long-lived websockets."
            }
        }
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns { host, detail } => write!(f, "cannot resolve {host}: {detail}"),
            Self::Refused { target } => write!(f, "{target} refused the connection"),
            Self::Connect { target, detail } => write!(f, "cannot connect to {target}: {detail}"),
            Self::Proxy { proxy, detail } => write!(f, "proxy {proxy}: {detail}"),
            Self::Tls { host, detail } => write!(f, "TLS with {host} failed: {detail}"),
            Self::UpgradeStatus { status } => write!(
                f,
                "the server answered the WebSocket upgrade with HTTP {status}"
            ),
            Self::Upgrade { detail } => write!(f, "WebSocket upgrade failed: {detail}"),
            Self::Io { detail } => write!(f, "connection broke: {detail}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_name_label_and_advice() {
        let all = [
            TransportFailure::Dns {
                host: "h".into(),
                detail: "d".into(),
            },
            TransportFailure::Refused { target: "t".into() },
            TransportFailure::Connect {
                target: "t".into(),
                detail: "d".into(),
            },
            TransportFailure::Proxy {
                proxy: "p".into(),
                detail: "d".into(),
            },
            TransportFailure::Tls {
                host: "h".into(),
                detail: "d".into(),
            },
            TransportFailure::UpgradeStatus { status: 403 },
            TransportFailure::Upgrade { detail: "d".into() },
            TransportFailure::Io { detail: "d".into() },
        ];
        let kinds: std::collections::BTreeSet<_> = all.iter().map(TransportFailure::kind).collect();
        let labels: std::collections::BTreeSet<_> =
            all.iter().map(TransportFailure::description).collect();
        let advice: std::collections::BTreeSet<_> =
            all.iter().map(TransportFailure::advice).collect();
        assert_eq!(kinds.len(), all.len());
        assert_eq!(labels.len(), all.len());
        assert_eq!(advice.len(), all.len());
        assert_eq!(
            all[5].to_string(),
            "the server answered the WebSocket upgrade with HTTP 403"
        );
    }
}
