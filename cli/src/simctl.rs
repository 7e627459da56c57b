//! `tether sim`'s HTTP control interface on loopback: the SimServer control routes (`GET
//! /status`, `POST /scan`, `/pair-code`, `/fault[?next=1]`, `/refuse?n=N`, `/hang?n=N`), served
//! here so that the simulated phone can wait `--auto-scan-ms` before completing a scan, as a
//! person would; and the phones' messages: `GET /phones`, `POST /send?phone=N[&to=JID]` (the
//! body is the text; `to` defaults to phone 0's account, i.e. the linked companions), `GET
//! /received?phone=N`; a slow media host on demand: `POST /media/hold?n=N` holds the next N
//! downloads unanswered, `GET /media/held` counts those waiting, `POST /media/release` lets
//! them go. One request per connection, JSON answers, plain threads.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tether_sim::net::{SimServer, parse_fault};

const MAX_BODY: usize = 64 * 1024;

/// Serves the control interface on `listener` until the process exits.
pub(crate) fn serve(listener: TcpListener, server: Arc<SimServer>, scan_delay: Duration) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let server = Arc::clone(&server);
            std::thread::spawn(move || answer(stream, &server, scan_delay));
        }
    });
}

fn answer(stream: TcpStream, server: &SimServer, scan_delay: Duration) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let (status, body) = match read(&stream) {
        Ok((method, target, body)) => route(server, &method, &target, &body, scan_delay),
        Err(e) => (400, json!({"error": e})),
    };
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn read(stream: &TcpStream) -> Result<(String, String, String), String> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let mut parts = line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
        _ => return Err("not an HTTP request".into()),
    };
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).map_err(|e| e.to_string())? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            length = v
                .trim()
                .parse()
                .map_err(|_| "bad content-length".to_owned())?;
        }
    }
    if length > MAX_BODY {
        return Err(format!("body over {MAX_BODY} bytes"));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((method, target, String::from_utf8_lossy(&body).into_owned()))
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn query_n(query: Option<&str>) -> Result<usize, String> {
    query
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("n=")))
        .ok_or_else(|| "give ?n=COUNT".to_owned())?
        .parse()
        .map_err(|_| "n must be a number".to_owned())
}

fn route(
    server: &SimServer,
    method: &str,
    target: &str,
    body: &str,
    scan_delay: Duration,
) -> (u16, Value) {
    let (path, query) = target
        .split_once('?')
        .map_or((target, None), |(p, q)| (p, Some(q)));
    match (method, path) {
        ("GET", "/status") => {
            let s = server.stats();
            (
                200,
                json!({
                    "accepted": s.accepted, "open": s.open, "logins": s.logins,
                    "registrations": s.registrations, "devices": s.devices, "pongs": s.pongs,
                }),
            )
        }
        ("POST", "/scan") => {
            std::thread::sleep(scan_delay);
            match server.scan_qr(body.trim()) {
                Ok(jid) => {
                    outln!("phone: scanned a QR code, linked {jid}");
                    (200, json!({"jid": jid.to_string()}))
                }
                Err(e) => (400, json!({"error": e.to_string()})),
            }
        }
        ("POST", "/pair-code") => match server.enter_pair_code(body.trim()) {
            Ok(jid) => (200, json!({"jid": jid.to_string()})),
            Err(e) => (400, json!({"error": e.to_string()})),
        },
        ("POST", "/fault") => match parse_fault(body) {
            Ok(fault) => {
                if query.is_some_and(|q| q.split('&').any(|kv| kv == "next=1")) {
                    server.fault_next(fault);
                } else {
                    server.inject(fault);
                }
                outln!("control: fault {} injected", body.trim());
                (200, json!({"ok": true}))
            }
            Err(e) => (400, json!({"error": e.to_string()})),
        },
        ("GET", "/phones") => (200, crate::simphones::phones_json(server)),
        ("POST", "/send") => {
            let phone = query_param(query, "phone").unwrap_or("1");
            let Ok(phone) = phone.parse::<usize>() else {
                return (
                    400,
                    json!({"error": "phone must be a number (see GET /phones)"}),
                );
            };
            let to = query_param(query, "to").map(|t| t.replace("%40", "@").replace("%2B", "+"));
            let sent = match query_param(query, "document") {
                Some(name) => crate::simphones::send_document(
                    server,
                    phone,
                    to.as_deref(),
                    name,
                    body.as_bytes(),
                ),
                None => crate::simphones::send(server, phone, to.as_deref(), body),
            };
            match sent {
                Ok((id, to)) => {
                    outln!("phone {phone}: sent {id} to {to}");
                    (200, json!({"id": id, "to": to.to_string()}))
                }
                Err(e) => (400, json!({"error": e})),
            }
        }
        ("GET", "/received") => {
            let Ok(phone) = query_param(query, "phone").unwrap_or("1").parse::<usize>() else {
                return (
                    400,
                    json!({"error": "phone must be a number (see GET /phones)"}),
                );
            };
            match crate::simphones::received_json(server, phone) {
                Ok(v) => (200, v),
                Err(e) => (400, json!({"error": e})),
            }
        }
        ("POST", "/refuse") => match query_n(query) {
            Ok(n) => {
                server.refuse_next_connects(n);
                (200, json!({"ok": true}))
            }
            Err(e) => (400, json!({"error": e})),
        },
        ("POST", "/media/hold") => match query_n(query) {
            Ok(n) => {
                server.hold_media_downloads(n);
                (200, json!({"ok": true}))
            }
            Err(e) => (400, json!({"error": e})),
        },
        ("GET", "/media/held") => (200, json!({"held": server.held_media_downloads()})),
        ("POST", "/media/release") => {
            server.release_media_downloads();
            (200, json!({"ok": true}))
        }
        ("POST", "/hang") => match query_n(query) {
            Ok(n) => {
                server.hang_next_connects(n);
                (200, json!({"ok": true}))
            }
            Err(e) => (400, json!({"error": e})),
        },
        // Groups (`GET /groups`, `POST /groups…`) and whatever else the simulator's own
        // control interface serves.
        _ => match server.control(method, target, body) {
            (404, _) => (
                404,
                json!({"error": format!("no route {method} {path}; see `tether sim --help`")}),
            ),
            answer => answer,
        },
    }
}
