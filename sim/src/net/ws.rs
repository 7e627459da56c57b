//! The server thread's tasks: the accept loop, one task per websocket connection (reader,
//! writer with the first-frame delay, optional server pings) and the timer task that fires the
//! fake server's deadlines in real time.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::SimServerConfig;
use super::control;
use super::hub::{Inner, Out};
use crate::server::{ConnId, ConnectOutcome};

/// The path real clients connect to.
const CHAT_PATH: &str = "/ws/chat";
/// How long shutdown waits for connections to send their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The server thread's main future: runs until `stop` turns `true`.
pub(super) async fn run(
    inner: Arc<Inner>,
    listener: std::net::TcpListener,
    control: Option<std::net::TcpListener>,
    config: SimServerConfig,
    mut stop: watch::Receiver<bool>,
) {
    let tls = config
        .tls
        .as_ref()
        .map(|ca| tokio_rustls::TlsAcceptor::from(ca.server_config()));
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "sim server: cannot use the listener");
            return;
        }
    };
    let mut tasks = JoinSet::new();
    tasks.spawn(timer(Arc::clone(&inner), stop.clone()));
    if let Some(control) = control {
        match TcpListener::from_std(control) {
            Ok(control) => {
                tasks.spawn(control::serve(control, Arc::clone(&inner), stop.clone()));
            }
            Err(error) => tracing::error!(%error, "sim server: cannot use the control listener"),
        }
    }
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    match inner.connect_outcome() {
                        ConnectOutcome::Refuse => {
                            tracing::info!(%peer, "sim server: refusing a connect (fault)");
                            tasks.spawn(refuse(stream, stop.clone()));
                        }
                        ConnectOutcome::Hang => {
                            tracing::info!(%peer, "sim server: leaving a connect hanging (fault)");
                            tasks.spawn(hang(stream, stop.clone()));
                        }
                        _ => match tls.clone() {
                            Some(acceptor) => {
                                let (inner, config) = (Arc::clone(&inner), config.clone());
                                tasks.spawn(async move {
                                    match acceptor.accept(stream).await {
                                        Ok(tls) => connection(tls, inner, config).await,
                                        Err(error) => tracing::info!(
                                            %error, "sim server: TLS handshake failed"
                                        ),
                                    }
                                });
                            }
                            None => {
                                tasks.spawn(connection(stream, Arc::clone(&inner), config.clone()));
                            }
                        },
                    }
                }
                Err(error) => tracing::warn!(%error, "sim server: accept failed"),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    inner.with_hub(|hub, _| hub.close_all());
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

/// A hung connect: the socket is held open and never upgraded, until the client gives up or
/// the server shuts down (what the client sends is read and dropped).
/// Closes a refused connect before the upgrade: the write side first (the client reads an
/// end of stream), then whatever the client sent is read and dropped until it closes too.
/// Dropping the socket with its request unread would answer with a TCP reset instead, and
/// the client would report "reset by peer" or "closed before answering" by chance.
async fn refuse(mut stream: TcpStream, stop: watch::Receiver<bool>) {
    use tokio::io::AsyncWriteExt as _;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), hang(stream, stop)).await;
}

async fn hang(mut stream: TcpStream, mut stop: watch::Receiver<bool>) {
    let mut sink = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut sink) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return;
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Fires the fake server's scheduled faults when they are due.
async fn timer(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    loop {
        let next = inner.poll_timeout();
        let due = async {
            match next {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => pending().await,
            }
        };
        tokio::select! {
            () = due => inner.with_hub(|hub, now| hub.server.handle_timeout(now)),
            () = inner.timer.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// One websocket connection (over TCP or TLS), from the upgrade to the close.
async fn connection<S>(stream: S, inner: Arc<Inner>, config: SimServerConfig)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The callback's error type is tungstenite's (an HTTP response): not ours to shrink.
    #[allow(clippy::result_large_err)]
    let check_path = |request: &Request, response: Response| {
        let path = request.uri().path();
        if path != CHAT_PATH {
            tracing::info!(
                path,
                "sim server: accepting an upgrade on an unexpected path"
            );
        }
        Ok(response)
    };
    let ws = match async_tungstenite::tokio::accept_hdr_async(stream, check_path).await {
        Ok(ws) => ws,
        Err(error) => {
            tracing::info!(%error, "sim server: websocket upgrade failed");
            return;
        }
    };
    let (sink, mut source) = ws.split();
    let (writer, queue) = mpsc::unbounded_channel();
    let id = inner.with_hub(|hub, now| hub.open(writer, now));
    let reader = async {
        while let Some(message) = source.next().await {
            match message {
                Ok(Message::Binary(data)) => inner.with_hub(|hub, now| {
                    hub.server.handle_bytes(id, &data, now);
                    let (phone, server) = hub.linking_phone();
                    phone.finish_pair_codes(server, now);
                }),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = reader => {}
        () = write(sink, queue, config.first_frame_delay) => {}
        () = ping(&inner, id, config.server_pings) => {}
    }
    inner.with_hub(|hub, now| hub.closed(id, now));
}

/// Sends what the hub queued for one connection. The first frame is the Noise ServerHello; the
/// one after it is the first post-handshake frame, held back by `delay`.
async fn write<S>(mut sink: S, mut queue: mpsc::UnboundedReceiver<Out>, delay: Duration)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let mut sent = 0u64;
    while let Some(out) = queue.recv().await {
        match out {
            Out::Frame(bytes) => {
                if sent == 1 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                sent += 1;
                if sink.send(Message::Binary(bytes)).await.is_err() {
                    return;
                }
            }
            Out::Close => {
                let _ = sink.close().await;
                return;
            }
            Out::Drop => return,
        }
    }
}

/// Pings connection `id` every `interval` once it is logged in (never while it is silent).
async fn ping(inner: &Inner, id: ConnId, interval: Option<Duration>) {
    let Some(interval) = interval else {
        return pending().await;
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        inner.with_hub(|hub, _| {
            if hub.server.is_logged_in(id) && !hub.server.is_silent(id) {
                hub.server.send_ping(id);
            }
        });
    }
}
