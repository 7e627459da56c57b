//! A tiny HTTP/1.1 client for loopback control interfaces (`tether sim`'s `POST /scan`,
//! `/fault`, `GET /status`). Plain TCP, `Connection: close`, short timeouts.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// Sends one request to `base` (`http://host:port`) and returns the status code and body.
pub(crate) fn request(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| {
            format!("{base:?} is not an http:// URL (give the control URL `tether sim` prints)")
        })?
        .trim_end_matches('/');
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {base}: {e}; is `tether sim` running?"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|e| format!("cannot send to {base}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("no answer from {base}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{base} answered something that is not HTTP"))?;
    Ok((code, body.to_owned()))
}
