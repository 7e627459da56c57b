//! A minimal test-only driver of a real `tether_core::connection::Connection` over
//! async-tungstenite client websockets on tokio, for the `SimServer` tests: it opens the
//! transports the connection asks for, pumps bytes and timers, answers store and version
//! actions at once (credentials are kept in the connection itself), and hands every event to
//! the test until the test says it has seen enough.
//!
//! It is deliberately small and not an adapter: the runtime crates are the real ones.

use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use tether_core::connection::{
    Action, Connection, Event, Output, TransportEvent, TransportId, VersionError,
};
use tether_core::creds::StoreResult;
use tether_core::payload::AppVersion;
use tether_core::reason::TransportFailure;
use tokio::net::TcpStream;

type Socket = WebSocketStream<TokioAdapter<TcpStream>>;

/// What the test's event callback decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep driving.
    Continue,
    /// Stop driving and return.
    Done,
}

/// A connection and its open websocket, kept between [`WsClient::drive`] calls.
#[derive(Debug)]
pub struct WsClient {
    /// The connection under test.
    pub conn: Connection,
    socket: Option<(TransportId, Socket)>,
}

impl WsClient {
    /// Wraps `conn` (no transport open yet).
    pub fn new(conn: Connection) -> Self {
        Self { conn, socket: None }
    }

    /// Drives the connection until `on_event` returns [`Flow::Done`] (returns `Ok`; the
    /// socket stays open for the next call) or `limit` passes (returns `Err` with the events
    /// seen, for the failure message).
    pub async fn drive(
        &mut self,
        limit: Duration,
        on_event: impl FnMut(&mut Connection, &Event) -> Flow,
    ) -> Result<(), String> {
        drive(&mut self.conn, &mut self.socket, limit, on_event).await
    }
}

async fn drive(
    conn: &mut Connection,
    socket: &mut Option<(TransportId, Socket)>,
    limit: Duration,
    mut on_event: impl FnMut(&mut Connection, &Event) -> Flow,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        // Drain everything the connection has to say.
        loop {
            match conn.poll_output() {
                Output::Transmit(t) => {
                    if let Some((id, ws)) = socket.as_mut().filter(|(id, _)| *id == t.transport)
                        && ws.send(Message::Binary(t.payload)).await.is_err()
                    {
                        let id = *id;
                        *socket = None;
                        let failure = TransportFailure::Io {
                            detail: "send failed".to_owned(),
                        };
                        conn.handle_transport(
                            id,
                            TransportEvent::Failed { failure },
                            Instant::now(),
                        );
                    }
                }
                Output::Action(action) => act(conn, action, socket).await,
                Output::Event(event) => {
                    seen.push(format!("{event:?}"));
                    if on_event(conn, &event) == Flow::Done {
                        return Ok(());
                    }
                }
                _ => break,
            }
        }
        let timer = conn.poll_timeout().map_or(deadline, |t| t.min(deadline));
        tokio::select! {
            message = async {
                match socket.as_mut() {
                    Some((_, ws)) => ws.next().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some((id, _)) = socket.as_ref().map(|(id, _)| (*id, ())) else { continue };
                match message {
                    Some(Ok(Message::Binary(data))) => conn.handle_bytes(id, &data, Instant::now()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        *socket = None;
                        let detail = "closed by the server".to_owned();
                        conn.handle_transport(id, TransportEvent::Closed { detail }, Instant::now());
                    }
                    Some(Ok(_)) => {}
                }
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(timer)) => {
                if Instant::now() >= deadline {
                    return Err(format!("gave up after {limit:?}; events: {seen:#?}"));
                }
                conn.handle_timeout(Instant::now());
            }
        }
    }
}

async fn act(conn: &mut Connection, action: Action, socket: &mut Option<(TransportId, Socket)>) {
    let now = Instant::now();
    match action {
        Action::OpenTransport { id, endpoint } => {
            // Bounded by the connection's next deadline (its connect timeout): a hung connect
            // is then the connection's to time out, as with a real adapter.
            let bound = conn
                .poll_timeout()
                .unwrap_or_else(|| now + Duration::from_secs(60));
            let bound = tokio::time::Instant::from_std(bound);
            match tokio::time::timeout_at(bound, open(&endpoint)).await {
                Ok(Ok(ws)) => {
                    *socket = Some((id, ws));
                    conn.handle_transport(id, TransportEvent::Opened, Instant::now());
                }
                Ok(Err(detail)) => {
                    let failure = TransportFailure::Upgrade { detail };
                    conn.handle_transport(id, TransportEvent::Failed { failure }, Instant::now());
                }
                Err(_) => {} // still "connecting": the connection's timer fires next
            }
        }
        Action::CloseTransport { id } => {
            if let Some((_, mut ws)) = socket.take().filter(|(open, _)| *open == id) {
                let _ = ws.close(None).await;
            }
        }
        Action::PersistCredentials { seq, .. } => {
            conn.handle_store(StoreResult::Persisted(seq), now);
        }
        Action::QuarantineCredentials { seq, .. } => {
            conn.handle_store(StoreResult::Quarantined(seq), now);
        }
        Action::FetchVersion { .. } => {
            let version: Result<AppVersion, VersionError> =
                Ok(AppVersion::new(2, 3000, 1_100_000_000));
            conn.handle_version(version, now);
        }
        _ => {}
    }
}

async fn open(endpoint: &str) -> Result<Socket, String> {
    let authority = endpoint
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("not a ws:// URL: {endpoint}"))?;
    let tcp = TcpStream::connect(authority)
        .await
        .map_err(|e| e.to_string())?;
    let (ws, _) = async_tungstenite::tokio::client_async(endpoint, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}
