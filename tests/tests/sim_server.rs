//! `tether_sim::net::SimServer` end to end: a real `Connection`, driven over real loopback
//! websockets by `tether_tests::ws_client`, links by QR (the fake phone scans), restarts on the
//! 515, logs in, and obeys injected faults; the HTTP control interface drives the same server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use tether_core::binary::Jid;
use tether_core::connection::{Command, Config, Connection, Event};
use tether_core::reason::DisconnectReason;
use tether_sim::Fault;
use tether_sim::net::{SimServer, SimServerConfig, wall_clock};
use tether_tests::ws_client::{Flow, WsClient};

/// Bound on waiting for each phase (never a speed assertion).
const LIMIT: Duration = Duration::from_secs(60);

fn client(server: &SimServer, seed: u8) -> WsClient {
    let config = Config::for_server(server.ws_url(), server.root_public());
    WsClient::new(Connection::new(
        config,
        None,
        Instant::now(),
        wall_clock(),
        [seed; 32],
    ))
}

/// Links `conn` by QR (scanning with `scan`), through the 515 restart, to `Connected`.
/// Returns the JID the phone issued, the one the client reports, and whether a 515 was seen.
async fn link(client: &mut WsClient, scan: impl Fn(&str) -> Jid) -> (Jid, Jid, bool) {
    let mut issued = None;
    let mut connected = None;
    let mut restarted = false;
    if let Err(e) = client.conn.handle_command(Command::Connect, Instant::now()) {
        panic!("connect refused: {e}");
    }
    let result = client
        .drive(LIMIT, |_, event| {
            match event {
                Event::QrCode { code, .. } if issued.is_none() => issued = Some(scan(code)),
                Event::Disconnected {
                    reason: DisconnectReason::RestartRequired { .. },
                    ..
                } => restarted = true,
                Event::Connected { jid } => {
                    connected = Some(jid.clone());
                    return Flow::Done;
                }
                _ => {}
            }
            Flow::Continue
        })
        .await;
    if let Err(e) = result {
        panic!("linking did not finish: {e}");
    }
    match (issued, connected) {
        (Some(issued), Some(connected)) => (issued, connected, restarted),
        other => panic!("linking incomplete: {other:?}"),
    }
}

/// Drives `conn` until it stops; returns the reason.
async fn until_stopped(client: &mut WsClient) -> DisconnectReason {
    let mut stopped = None;
    let result = client
        .drive(LIMIT, |_, event| match event {
            Event::Stopped { reason } => {
                stopped = Some(reason.clone());
                Flow::Done
            }
            _ => Flow::Continue,
        })
        .await;
    match (result, stopped) {
        (Ok(()), Some(reason)) => reason,
        (result, _) => panic!("the client did not stop: {result:?}"),
    }
}

#[tokio::test]
async fn links_by_qr_restarts_on_515_and_logs_in_over_websockets() {
    let server = SimServer::start(SimServerConfig::default()).expect("start");
    let mut conn = client(&server, 1);
    let (issued, connected, restarted) =
        link(&mut conn, |qr| server.scan_qr(qr).expect("scan")).await;
    assert_eq!(
        issued, connected,
        "the client logs in as the device the phone linked"
    );
    assert!(restarted, "linking ends with the 515 restart");
    let stats = server.stats();
    assert_eq!(
        (stats.registrations, stats.logins, stats.devices),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(
        stats.accepted, 2,
        "one registration socket, one login socket: {stats:?}"
    );
    assert_eq!(stats.open, 1, "{stats:?}");
    server.shutdown();
}

#[tokio::test]
async fn injected_replaced_stops_the_client_with_replaced() {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        ..SimServerConfig::default()
    })
    .expect("start");
    let mut conn = client(&server, 2);
    link(&mut conn, |qr| server.scan_qr(qr).expect("scan")).await;
    server.inject(Fault::Replaced);
    let reason = until_stopped(&mut conn).await;
    assert!(
        matches!(reason, DisconnectReason::Replaced { .. }),
        "{reason:?}"
    );
}

#[tokio::test]
async fn rejects_a_qr_no_connection_shows() {
    let server = SimServer::start(SimServerConfig::default()).expect("start");
    let qr = "2@nosuchref,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,\
              AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert!(server.scan_qr(qr).is_err());
    assert!(server.scan_qr("not a qr").is_err());
}

/// One HTTP/1.1 request to the control interface: status code and JSON body.
fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let authority = base.strip_prefix("http://").expect("http url");
    let mut stream = std::net::TcpStream::connect(authority).expect("connect control");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("http answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, serde_json::from_str(body).expect("json body"))
}

#[tokio::test]
async fn http_control_scans_reports_status_and_injects_faults() {
    let server = SimServer::start(SimServerConfig {
        control: true,
        ..SimServerConfig::default()
    })
    .expect("start");
    let base = server.control_url().expect("control url");
    let (status, idle) = http(&base, "GET", "/status", "");
    assert_eq!(status, 200);
    assert_eq!(idle["devices"], 0);

    let mut conn = client(&server, 3);
    let (issued, connected, _) = link(&mut conn, |qr| {
        let (status, answer) = http(&base, "POST", "/scan", qr);
        assert_eq!(status, 200, "{answer}");
        answer["jid"].as_str().expect("jid").parse().expect("a JID")
    })
    .await;
    assert_eq!(issued, connected);

    let (status, stats) = http(&base, "GET", "/status", "");
    assert_eq!(status, 200);
    assert_eq!(
        (stats["devices"].as_u64(), stats["open"].as_u64()),
        (Some(1), Some(1))
    );

    let (status, answer) = http(&base, "POST", "/pair-code", "ABCD-EFGH");
    assert_eq!(status, 400, "no pair-code request is pending: {answer}");
    assert!(answer["error"].is_string(), "{answer}");
    let (status, answer) = http(&base, "POST", "/fault", "loud");
    assert_eq!(status, 400, "{answer}");
    let (status, _) = http(&base, "POST", "/fault", "replaced");
    assert_eq!(status, 200);
    let reason = until_stopped(&mut conn).await;
    assert!(
        matches!(reason, DisconnectReason::Replaced { .. }),
        "{reason:?}"
    );
    let (status, _) = http(&base, "GET", "/nowhere", "");
    assert_eq!(status, 404);
}

/// The server's phones own Signal keys and talk to each other through it: a contact phone
/// writes to phone 0 over the control interface, phone 0 answers through the API, and each
/// one's application got the other's text.
#[test]
fn phones_write_to_each_other_through_the_control_interface() {
    let server = SimServer::start(SimServerConfig {
        control: true,
        contacts: 1,
        ..SimServerConfig::default()
    })
    .expect("start");
    let base = server.control_url().expect("control url");
    let (status, phones) = http(&base, "GET", "/phones", "");
    assert_eq!(status, 200);
    let phones = phones.as_array().expect("a list").clone();
    assert_eq!(phones.len(), 2);
    let number = |i: usize| {
        phones[i]["phone_number"]
            .as_str()
            .expect("number")
            .to_owned()
    };
    let path = format!("/send?phone=1&to={}@s.whatsapp.net", number(0));
    let (status, sent) = http(&base, "POST", &path, "hello phone 0");
    assert_eq!(status, 200, "{sent}");
    let (status, got) = http(&base, "GET", "/received?phone=0", "");
    assert_eq!(status, 200);
    assert_eq!(got[0]["text"], "hello phone 0", "{got}");
    assert_eq!(got[0]["id"], sent["id"]);
    let to: Jid = format!("{}@s.whatsapp.net", number(1)).parse().unwrap();
    let id = server.send_text(0, &to, "hello back").expect("send");
    let back = server.received(1).expect("phone 1");
    assert_eq!(back.len(), 1);
    assert_eq!(
        (back[0].id.as_str(), back[0].text.as_deref()),
        (id.as_str(), Some("hello back"))
    );
    let (status, _) = http(&base, "GET", "/received?phone=7", "");
    assert_eq!(status, 400);
    assert!(server.with_server(|s| s.complaints().is_empty()));
}
