//! Connectivity: DNS, TCP, the proxy tunnel (HTTP CONNECT or SOCKS5), TLS and the WebSocket
//! upgrade to the endpoint, each with a short timeout. The first failing step ends the walk.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::mpsc;
use std::time::Duration;

use super::Check;

/// A `ws://` or `wss://` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

/// Parses `ws://host[:port]/path` (also `http(s)://` for proxies).
pub(crate) fn parse_url(url: &str) -> Result<Endpoint, String> {
    let (tls, rest) = if let Some(r) = url
        .strip_prefix("wss://")
        .or_else(|| url.strip_prefix("https://"))
    {
        (true, r)
    } else if let Some(r) = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
    {
        (false, r)
    } else if let Some(r) = url
        .strip_prefix("socks5://")
        .or_else(|| url.strip_prefix("socks5h://"))
    {
        (false, r)
    } else {
        return Err(format!(
            "{url:?} is not a ws://, wss://, http://, https:// or socks5:// URL"
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_owned(),
            p.parse().map_err(|_| format!("bad port in {url:?}"))?,
        ),
        _ => (
            authority.to_owned(),
            if tls {
                443
            } else if url.starts_with("socks5") {
                1080
            } else {
                80
            },
        ),
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    };
    Ok(Endpoint {
        tls,
        host: host.trim_matches(['[', ']']).to_owned(),
        port,
        path,
    })
}

fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = mpsc::channel();
    let target = format!("{host}:{port}");
    std::thread::spawn(move || {
        let _ = tx.send(target.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err("no addresses".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs())),
    }
}

/// Walks DNS → TCP → (proxy) → TLS (with the same trust settings as `run`) → WebSocket upgrade
/// to `url`.
pub(crate) fn checks(
    url: &str,
    proxy: Option<&str>,
    trust: &tether_core::driver::TlsTrust,
    timeout: Duration,
) -> Vec<Check> {
    let mut out = Vec::new();
    let ep = match parse_url(url) {
        Ok(ep) => ep,
        Err(e) => {
            out.push(Check::fail(
                "endpoint",
                e,
                "fix `server` in the config or --server",
            ));
            return out;
        }
    };
    let proxy_ep = match proxy.map(parse_url).transpose() {
        Ok(p) => p,
        Err(e) => {
            out.push(Check::fail(
                "proxy",
                e,
                "give the proxy as http://host:port or socks5://host:port",
            ));
            return out;
        }
    };
    let (dial_host, dial_port) = proxy_ep
        .as_ref()
        .map_or((ep.host.as_str(), ep.port), |p| (p.host.as_str(), p.port));
    let addrs = match resolve(dial_host, dial_port, timeout) {
        Ok(a) => {
            out.push(Check::pass("DNS", format!("{dial_host} → {}", a[0].ip())));
            a
        }
        Err(e) => {
            out.push(Check::fail(
                "DNS",
                format!("no network: cannot resolve {dial_host} ({e})"),
                "check the network connection and DNS (/etc/resolv.conf); behind a proxy, give it with --proxy or https_proxy",
            ));
            return out;
        }
    };
    let mut tcp = None;
    let mut last = String::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    let Some(tcp) = tcp else {
        out.push(Check::fail(
            "TCP",
            format!("no connection to {dial_host}:{dial_port} ({last})"),
            "a firewall may block outgoing connections on this port; try another network or a proxy",
        ));
        return out;
    };
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    out.push(Check::pass(
        "TCP",
        format!("connected to {dial_host}:{dial_port}"),
    ));
    let mut tcp = tcp;
    if let (Some(p), Some(raw)) = (&proxy_ep, proxy) {
        let tunnel = if raw.starts_with("socks5") {
            socks5(&mut tcp, &ep)
        } else {
            http_connect(&mut tcp, &ep)
        };
        match tunnel {
            Ok(()) => out.push(Check::pass(
                "proxy",
                format!(
                    "{}:{} opened a tunnel to {}:{}",
                    p.host, p.port, ep.host, ep.port
                ),
            )),
            Err(e) => {
                out.push(Check::fail(
                    "proxy",
                    e,
                    "check the proxy address and that it allows CONNECT to port 443",
                ));
                return out;
            }
        }
    }
    if ep.tls {
        match tls(tcp, &ep, trust) {
            Ok(mut stream) => {
                out.push(Check::pass(
                    "TLS",
                    format!("certificate of {} verified", ep.host),
                ));
                out.push(upgrade(&mut stream, &ep));
            }
            Err(e) => out.push(Check::fail(
                "TLS",
                e,
                "a proxy or firewall may intercept TLS; check the system clock and the network",
            )),
        }
    } else {
        out.push(upgrade(&mut tcp, &ep));
    }
    out
}

fn http_connect(s: &mut TcpStream, ep: &Endpoint) -> Result<(), String> {
    write!(
        s,
        "CONNECT {h}:{p} HTTP/1.1\r\nHost: {h}:{p}\r\n\r\n",
        h = ep.host,
        p = ep.port
    )
    .map_err(|e| format!("proxy write failed: {e}"))?;
    let status = read_head(s)?;
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("the proxy refused the tunnel: {status}"))
    }
}

fn socks5(s: &mut TcpStream, ep: &Endpoint) -> Result<(), String> {
    let io = |e: std::io::Error| format!("SOCKS5 exchange failed: {e}");
    s.write_all(&[5, 1, 0]).map_err(io)?;
    let mut r = [0u8; 2];
    s.read_exact(&mut r).map_err(io)?;
    if r != [5, 0] {
        return Err("the SOCKS5 proxy wants authentication this check does not send".into());
    }
    let host = ep.host.as_bytes();
    let len = u8::try_from(host.len()).map_err(|_| "host name too long".to_owned())?;
    let mut req = vec![5, 1, 0, 3, len];
    req.extend_from_slice(host);
    req.extend_from_slice(&ep.port.to_be_bytes());
    s.write_all(&req).map_err(io)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(io)?;
    if head[1] != 0 {
        return Err(format!(
            "the SOCKS5 proxy refused the connection (reply code {})",
            head[1]
        ));
    }
    let skip = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        _ => {
            let mut l = [0u8; 1];
            s.read_exact(&mut l).map_err(io)?;
            usize::from(l[0]) + 2
        }
    };
    let mut rest = vec![0u8; skip];
    s.read_exact(&mut rest).map_err(io)
}

fn read_head(s: &mut impl Read) -> Result<String, String> {
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader
        .read_line(&mut status)
        .map_err(|e| format!("no answer: {e}"))?;
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("answer cut short: {e}"))?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    Ok(status.trim().to_owned())
}

fn tls(
    tcp: TcpStream,
    ep: &Endpoint,
    trust: &tether_core::driver::TlsTrust,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let config = tether_net_common::trust::client_config(trust).map_err(|e| e.to_string())?;
    let name =
        rustls::pki_types::ServerName::try_from(ep.host.clone()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| format!("TLS handshake with {} failed: {e}", ep.host))?;
    }
    Ok(stream)
}

fn upgrade(s: &mut (impl Read + Write), ep: &Endpoint) -> Check {
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: https://web.whatsapp.com\r\n\r\n",
        ep.path, ep.host
    );
    if let Err(e) = s.write_all(req.as_bytes()).and_then(|()| s.flush()) {
        return Check::fail(
            "WebSocket",
            format!("sending the upgrade failed: {e}"),
            "check the network",
        );
    }
    match read_head(s) {
        Ok(status) if status.split_whitespace().nth(1) == Some("101") => {
            Check::pass("WebSocket", format!("upgrade accepted ({status})"))
        }
        Ok(status) => Check::fail(
            "WebSocket",
            format!("upgrade refused: {status}"),
            "a proxy or firewall may block WebSockets; allow long-lived WebSocket connections to the endpoint",
        ),
        Err(e) => Check::fail("WebSocket", e, "a proxy or firewall may cut WebSockets"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let e = parse_url("wss://web.whatsapp.com/ws/chat").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (true, "web.whatsapp.com", 443, "/ws/chat")
        );
        let e = parse_url("ws://127.0.0.1:8080/ws/chat").unwrap();
        assert_eq!((e.tls, e.port), (false, 8080));
        let p = parse_url("socks5://user:pw@proxy:1081").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy", 1081));
        assert!(parse_url("ftp://x").is_err());
    }

    /// A one-connection HTTP proxy that accepts CONNECT and then answers the WebSocket upgrade
    /// itself (standing in for the endpoint behind it).
    fn fake_proxy(connect_status: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let connect = read_head(&mut s).unwrap();
            write!(s, "HTTP/1.1 {connect_status}\r\n\r\n").unwrap();
            if connect_status.starts_with("200") {
                let _ = read_head(&mut s);
                write!(
                    s,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
                )
                .unwrap();
            }
            connect
        });
        (port, handle)
    }

    #[test]
    fn walks_through_an_http_proxy_to_the_upgrade() {
        let (port, proxy) = fake_proxy("200 Connection established");
        let checks = checks(
            "ws://chat.example.invalid:8080/ws/chat",
            Some(&format!("http://127.0.0.1:{port}")),
            &tether_core::driver::TlsTrust::builtin_only(),
            Duration::from_secs(5),
        );
        assert!(checks.iter().all(|c| !c.failed()), "{checks:?}");
        assert!(checks.iter().any(|c| c.name == "proxy"));
        assert_eq!(
            proxy.join().unwrap(),
            "CONNECT chat.example.invalid:8080 HTTP/1.1"
        );
    }

    #[test]
    fn a_refused_tunnel_is_a_proxy_failure_with_a_fix() {
        let (port, _proxy) = fake_proxy("403 Forbidden");
        let checks = checks(
            "ws://chat.example.invalid/ws/chat",
            Some(&format!("http://127.0.0.1:{port}")),
            &tether_core::driver::TlsTrust::builtin_only(),
            Duration::from_secs(5),
        );
        let last = checks.last().unwrap();
        assert_eq!(last.name, "proxy");
        assert!(last.failed());
        assert!(last.line().contains("403 Forbidden"), "{}", last.line());
    }
}
