//! The HTTP control interface of a [`SimServer`](super::SimServer) (loopback only): a tiny
//! HTTP/1.1 server, one request per connection, JSON answers.
//!
//! | request | answer |
//! |---|---|
//! | `GET /status` | [`SimStats`](super::SimStats) |
//! | `POST /scan`, body = QR string | `{"jid": "…"}` or 400 `{"error": "…"}` |
//! | `POST /pair-code`, body = code | `{"jid": "…"}` or 400 |
//! | `POST /fault[?next=1]`, body = [`parse_fault`](super::parse_fault) syntax | `{"ok": true}` |
//! | `POST /refuse?n=N`, `POST /hang?n=N` | `{"ok": true}` |
//! | `GET /phones` | `[{"index", "phone_number", "lid_user", "push_name"}…]` (0 links companions) |
//! | `POST /send?phone=N&to=JID`, body = text | `{"id": "…"}`: phone N sends the text to `to` |
//! | `GET /received?phone=N[&chat=JID]` | `[{"id", "chat", "sender", "from_me", "text", "t", "offline"}…]` |
//! | `GET /groups`, `POST /groups…` | create groups and change their members: see `groups.rs` |
//!
//! `to` may be a group JID (`…@g.us`): the phone sends with its sender key. Query values are
//! percent-decoded.

use std::sync::Arc;

use serde_json::{Value, json};
use tether_core::binary::Jid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::hub::Inner;
use super::parse_fault;

/// The largest request (head and body) accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// Serves the control interface until `stop` turns `true`.
pub(super) async fn serve(
    listener: TcpListener,
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(request(stream, Arc::clone(&inner)));
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn request(mut stream: TcpStream, inner: Arc<Inner>) {
    let (status, body) = match read_request(&mut stream).await {
        Ok((method, target, body)) => route(&inner, &method, &target, &body),
        Err(message) => (400, json!({ "error": message })),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Error",
    };
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one request: method, target (path and query) and body.
async fn read_request(stream: &mut TcpStream) -> Result<(String, String, String), String> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        read_more(stream, &mut buf).await?;
    };
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>())
        .transpose()
        .map_err(|_| "bad content-length".to_owned())?
        .unwrap_or(0);
    let body_start = head_end + 4;
    if length > MAX_REQUEST {
        return Err("request too large".to_owned());
    }
    while buf.len() < body_start + length {
        read_more(stream, &mut buf).await?;
    }
    let body = buf.get(body_start..body_start + length).unwrap_or_default();
    Ok((method, target, String::from_utf8_lossy(body).into_owned()))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    if buf.len() > MAX_REQUEST {
        return Err("request too large".to_owned());
    }
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => Err("incomplete request".to_owned()),
        Ok(n) => {
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            Ok(())
        }
    }
}

/// Decodes a query value: `%XX` escapes and `+` for a space (an invalid escape stays as is).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers one request.
pub(super) fn route(inner: &Inner, method: &str, target: &str, body: &str) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |key: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| percent_decode(v))
    };
    if let Some(answer) = super::groups::route(inner, method, path, &param, body) {
        return answer;
    }
    let ok = (200, json!({ "ok": true }));
    let error = |message: String| (400, json!({ "error": message }));
    match (method, path) {
        ("GET", "/status") => match serde_json::to_value(inner.stats()) {
            Ok(stats) => (200, stats),
            Err(e) => (500, json!({ "error": e.to_string() })),
        },
        ("POST", "/scan") => match inner.scan_qr(body.trim()) {
            Ok(jid) => (200, json!({ "jid": jid.to_string() })),
            Err(e) => error(e.to_string()),
        },
        ("POST", "/pair-code") => match inner.enter_pair_code(body.trim()) {
            Ok(jid) => (200, json!({ "jid": jid.to_string() })),
            Err(e) => error(e.to_string()),
        },
        ("POST", "/fault") => match parse_fault(body) {
            Ok(fault) if param("next").is_some_and(|v| v != "0") => {
                inner.fault_next(fault);
                ok
            }
            Ok(fault) => {
                inner.inject(fault);
                ok
            }
            Err(e) => error(e.to_string()),
        },
        ("GET", "/phones") => match serde_json::to_value(inner.phones()) {
            Ok(phones) => (200, phones),
            Err(e) => (500, json!({ "error": e.to_string() })),
        },
        ("POST", "/send") => {
            let phone = param("phone").as_deref().unwrap_or("0").parse::<usize>();
            let to = param("to").map(|t| t.parse::<Jid>());
            match (phone, to) {
                (Ok(phone), Some(Ok(to))) => match inner.send_text(phone, &to, body) {
                    Ok(id) => (200, json!({ "id": id })),
                    Err(e) => error(e.to_string()),
                },
                _ => error("give ?phone=N&to=<jid> and the text as the body".to_owned()),
            }
        }
        ("GET", "/received") => {
            let phone = param("phone").as_deref().unwrap_or("0").parse::<usize>();
            let chat = match param("chat").map(|c| c.parse::<Jid>()).transpose() {
                Ok(chat) => chat,
                Err(e) => return error(format!("chat is not a JID: {e}")),
            };
            match phone.map(|p| inner.received(p)) {
                Ok(Ok(received)) => {
                    let list: Vec<Value> = received
                        .iter()
                        .filter(|r| {
                            chat.as_ref()
                                .is_none_or(|c| r.chat.to_non_ad() == c.to_non_ad())
                        })
                        .map(|r| {
                            json!({
                                "id": r.id,
                                "chat": r.chat.to_string(),
                                "sender": r.sender.to_string(),
                                "from_me": r.from_me,
                                "text": r.text,
                                "t": r.t,
                                "offline": r.offline,
                            })
                        })
                        .collect();
                    (200, Value::Array(list))
                }
                Ok(Err(e)) => error(e.to_string()),
                Err(_) => error("give the phone as ?phone=N".to_owned()),
            }
        }
        ("POST", "/refuse" | "/hang") => match param("n").map(|n| n.parse::<usize>()) {
            Some(Ok(n)) => {
                if path == "/refuse" {
                    inner.refuse_next_connects(n);
                } else {
                    inner.hang_next_connects(n);
                }
                ok
            }
            _ => error("give the number of connects as ?n=N".to_owned()),
        },
        _ => (
            404,
            json!({ "error": format!("no such endpoint: {method} {path}") }),
        ),
    }
}
