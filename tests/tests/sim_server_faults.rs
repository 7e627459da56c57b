//! `SimServer` faults and verbs end to end with a real `Connection` over loopback websockets:
//! refused and hung connects, a stream error on the next connection (through the HTTP control
//! interface), pair-code linking, server pings, and a silent server found by the keepalive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use tether_core::binary::Jid;
use tether_core::connection::{Command, Config, Connection, Event};
use tether_core::reason::{DisconnectReason, LostCause};
use tether_sim::Fault;
use tether_sim::net::{SimServer, SimServerConfig, wall_clock};
use tether_tests::ws_client::{Flow, WsClient};

/// Bound on waiting for each phase (never a speed assertion).
const LIMIT: Duration = Duration::from_secs(60);

fn client(server: &SimServer, seed: u8, configure: impl FnOnce(&mut Config)) -> WsClient {
    let mut config = Config::for_server(server.ws_url(), server.root_public());
    config.reconnect.base_delay = Duration::from_millis(100);
    configure(&mut config);
    WsClient::new(Connection::new(
        config,
        None,
        Instant::now(),
        wall_clock(),
        [seed; 32],
    ))
}

/// Runs `command`, scanning every QR / entering every pair code with the server's phone, until
/// `Connected`. Returns the issued JID, the connected JID and every disconnect reason seen.
async fn link(
    client: &mut WsClient,
    server: &SimServer,
    command: Command,
) -> (Jid, Jid, Vec<DisconnectReason>) {
    let (mut issued, mut connected, mut reasons) = (None, None, Vec::new());
    client
        .conn
        .handle_command(command, Instant::now())
        .expect("command");
    let result = client
        .drive(LIMIT, |_, event| {
            match event {
                Event::QrCode { code, .. } if issued.is_none() => {
                    issued = Some(server.scan_qr(code).expect("scan"));
                }
                Event::PairingCode { code } => {
                    issued = Some(server.enter_pair_code(code).expect("enter code"));
                }
                Event::Disconnected { reason, .. } => reasons.push(reason.clone()),
                Event::Connected { jid } => {
                    connected = Some(jid.clone());
                    return Flow::Done;
                }
                _ => {}
            }
            Flow::Continue
        })
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    (
        issued.expect("issued"),
        connected.expect("connected"),
        reasons,
    )
}

#[tokio::test]
async fn refused_and_hung_connects_are_retried_until_the_client_links() {
    let server = SimServer::start(SimServerConfig::default()).expect("start");
    server.refuse_next_connects(1);
    server.hang_next_connects(1);
    let mut client = client(&server, 11, |c| {
        c.connect_timeout = Duration::from_millis(500)
    });
    let (issued, connected, reasons) = link(&mut client, &server, Command::Connect).await;
    assert_eq!(issued, connected);
    assert!(reasons.len() >= 3, "refused, timed out, 515: {reasons:?}");
    assert!(
        matches!(
            reasons.last(),
            Some(DisconnectReason::RestartRequired { .. })
        ),
        "{reasons:?}"
    );
    let stats = server.stats();
    assert_eq!(
        stats.accepted, 2,
        "refused and hung connects never reach the server: {stats:?}"
    );
}

#[tokio::test]
async fn links_by_pair_code_over_websockets() {
    let server = SimServer::start(SimServerConfig::default()).expect("start");
    let mut client = client(&server, 12, |_| {});
    let phone = server.phone_number();
    let (issued, connected, _) =
        link(&mut client, &server, Command::RequestPairingCode { phone }).await;
    assert_eq!(issued, connected);
    assert_eq!(server.stats().devices, 1);
}

#[tokio::test]
async fn answers_server_pings() {
    let server = SimServer::start(SimServerConfig {
        server_pings: Some(Duration::from_millis(100)),
        ..SimServerConfig::default()
    })
    .expect("start");
    let mut client = client(&server, 13, |_| {});
    link(&mut client, &server, Command::Connect).await;
    let deadline = Instant::now() + LIMIT;
    while server.stats().pongs < 2 {
        assert!(Instant::now() < deadline, "no pongs: {:?}", server.stats());
        // No event is expected: drive for a slice of time, then look again.
        let _ = client
            .drive(Duration::from_millis(200), |_, _| Flow::Continue)
            .await;
    }
}

#[tokio::test]
async fn a_silent_server_is_found_dead_by_the_keepalive() {
    let server = SimServer::start(SimServerConfig::default()).expect("start");
    let mut client = client(&server, 14, |c| {
        c.keep_alive.interval = Duration::from_millis(300);
        c.keep_alive.timeout = Duration::from_millis(1_000);
        c.keep_alive.ping_deadline = Duration::from_millis(500);
    });
    link(&mut client, &server, Command::Connect).await;
    server.inject(Fault::Silent);
    let mut lost = None;
    let result = client
        .drive(LIMIT, |_, event| match event {
            Event::Disconnected { reason, .. } => {
                lost = Some(reason.clone());
                Flow::Done
            }
            _ => Flow::Continue,
        })
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(
            lost,
            Some(DisconnectReason::ConnectionLost {
                cause: LostCause::DeadSocket
            })
        ),
        "{lost:?}"
    );
}

fn post(base: &str, path: &str, body: &str) -> u16 {
    let authority = base.strip_prefix("http://").expect("http url");
    let mut stream = std::net::TcpStream::connect(authority).expect("connect control");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code")
}

#[tokio::test]
async fn http_control_faults_the_next_connection_and_refuses_connects() {
    let server = SimServer::start(SimServerConfig {
        control: true,
        ..SimServerConfig::default()
    })
    .expect("start");
    let base = server.control_url().expect("control url");
    assert_eq!(post(&base, "/refuse?n=1", ""), 200);
    assert_eq!(post(&base, "/refuse", ""), 400);
    assert_eq!(post(&base, "/fault?next=1", "stream:503"), 200);
    let mut client = client(&server, 15, |_| {});
    let (_, _, reasons) = link(&mut client, &server, Command::Connect).await;
    assert!(
        reasons
            .iter()
            .any(|r| matches!(r, DisconnectReason::ServiceUnavailable { .. })),
        "the next connection got the 503: {reasons:?}"
    );
    assert_eq!(server.stats().accepted, 3, "503, registration, login");
}

/// Opens a bare websocket to `server` and waits until the server counts it open.
async fn bare_socket(
    server: &SimServer,
) -> async_tungstenite::WebSocketStream<async_tungstenite::tokio::TokioAdapter<tokio::net::TcpStream>>
{
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .expect("tcp");
    let (ws, _) = async_tungstenite::tokio::client_async(server.ws_url(), tcp)
        .await
        .expect("upgrade");
    let deadline = Instant::now() + LIMIT;
    while server.stats().open == 0 {
        assert!(Instant::now() < deadline, "the server never saw the socket");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ws
}

#[tokio::test]
async fn an_abrupt_close_drops_the_socket_without_a_close_frame() {
    use async_tungstenite::tungstenite::Message;
    use futures_util::StreamExt;

    let server = SimServer::start(SimServerConfig::default()).expect("start");
    let mut ws = bare_socket(&server).await;
    server.inject(Fault::AbruptClose);
    let next = tokio::time::timeout(LIMIT, ws.next())
        .await
        .expect("an end");
    assert!(
        !matches!(next, Some(Ok(Message::Close(_)))),
        "an abrupt close sends no close frame: {next:?}"
    );
    assert!(!matches!(next, Some(Ok(_))), "{next:?}");

    // Any other close is a websocket close.
    let mut ws = bare_socket(&server).await;
    server.inject(Fault::StreamError(503));
    let next = tokio::time::timeout(LIMIT, ws.next())
        .await
        .expect("an end");
    assert!(matches!(next, Some(Ok(Message::Close(_)))), "{next:?}");
}
