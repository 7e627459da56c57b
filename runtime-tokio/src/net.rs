//! Dialing for the tokio adapter: TCP (direct, HTTP CONNECT or SOCKS5), TLS (rustls + ring,
//! webpki roots), the WebSocket upgrade with WhatsApp's `Origin`, one task per transport, and
//! the version fetch. Everything protocol-shaped (URLs, proxy choice, CONNECT bytes, the
//! version answer) is parsed by `tether_core`.

use std::sync::Arc;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::client_async_tls_with_connector_and_config;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use bytes::Bytes;
use futures_util::StreamExt;
use rustls::pki_types::ServerName;
use tether_core::connection::TransportId;
use tether_core::driver::{DialError, Input, Options, StartError};
use tether_core::endpoint::{Endpoint, UrlError};
use tether_core::payload::AppVersion;
use tether_core::proxy::{self, ConnectHandshake, ProxyKind, ProxySetting};
use tether_core::version_fetch;
use tether_net_common::{Received, received, ws_error, ws_request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

type Ws = WebSocketStream<async_tungstenite::tokio::ClientStream<TcpStream>>;

/// How this process dials: TLS client config, proxy setting, WebSocket limits.
pub(crate) struct Net {
    tls: TlsConnector,
    proxy: ProxySetting,
    ws: WebSocketConfig,
}

impl Net {
    pub(crate) fn new(options: &Options) -> Result<Self, StartError> {
        Ok(Self {
            tls: TlsConnector::from(tether_net_common::tls_config()?),
            proxy: options.proxy.clone(),
            ws: tether_net_common::ws_config(options),
        })
    }

    /// TCP to `target`, through the proxy the setting selects.
    async fn tcp(&self, target: &Endpoint) -> Result<TcpStream, DialError> {
        let Some(proxy) = self.proxy.resolve(target, |k| std::env::var(k).ok())? else {
            let addr = (target.host.as_str(), target.port);
            return TcpStream::connect(addr)
                .await
                .map_err(DialError::io(target.authority()));
        };
        let mut tcp = TcpStream::connect((proxy.host.as_str(), proxy.port))
            .await
            .map_err(DialError::io(proxy.to_string()))?;
        match proxy.kind {
            ProxyKind::Http => {
                let request = proxy::connect_request(&target.authority(), proxy.auth.as_ref());
                tcp.write_all(&request)
                    .await
                    .map_err(DialError::io(proxy.to_string()))?;
                let (mut handshake, mut buf) = (ConnectHandshake::new(), [0; 512]);
                loop {
                    let n = tcp
                        .read(&mut buf)
                        .await
                        .map_err(DialError::io(proxy.to_string()))?;
                    if handshake.handle_read(buf.get(..n).unwrap_or_default())? {
                        return Ok(tcp);
                    }
                }
            }
            _ => {
                let dest = (target.host.as_str(), target.port);
                let socks = match &proxy.auth {
                    None => tokio_socks::tcp::Socks5Stream::connect_with_socket(tcp, dest).await,
                    Some(a) => {
                        tokio_socks::tcp::Socks5Stream::connect_with_password_and_socket(
                            tcp,
                            dest,
                            &a.user,
                            &a.password,
                        )
                        .await
                    }
                };
                socks
                    .map(|s| s.into_inner())
                    .map_err(|e| DialError::socks(&proxy, &e))
            }
        }
    }

    /// Opens the WebSocket to `url` (`ws://` or `wss://`) with WhatsApp's `Origin`.
    async fn open(&self, url: &str) -> Result<Ws, DialError> {
        let (target, request) = ws_request(url)?;
        let (tcp, tls) = (self.tcp(&target).await?, Some(self.tls.clone()));
        let (ws, _response) =
            client_async_tls_with_connector_and_config(request, tcp, tls, Some(self.ws))
                .await
                .map_err(ws_error)?;
        Ok(ws)
    }

    /// GETs the version URL (`http://` or `https://`) and parses `client_revision`.
    pub(crate) async fn fetch_version(&self, url: &str) -> Result<AppVersion, DialError> {
        let target = Endpoint::parse(url)?;
        let tcp = self.tcp(&target).await?;
        let io = || DialError::io(target.authority());
        let raw = if target.scheme.is_tls() {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| DialError::Url(UrlError::BadHost))?;
            let tls = self.tls.connect(name, tcp).await.map_err(io())?;
            exchange(tls, &target).await
        } else {
            exchange(tcp, &target).await
        };
        Ok(version_fetch::parse_response(&raw.map_err(io())?)?)
    }
}

/// Sends the version request and reads the answer until the server closes (bounded).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    target: &Endpoint,
) -> std::io::Result<Vec<u8>> {
    stream.write_all(&version_fetch::request(target)).await?;
    let mut raw = Vec::new();
    let limit = version_fetch::MAX_RESPONSE as u64 + 1;
    (&mut stream).take(limit).read_to_end(&mut raw).await?;
    Ok(raw)
}

/// One transport: dial (unless closed first), report `Opened`, then pump messages both ways
/// until either side ends. Dropping the sender of `out` closes it.
pub(crate) async fn run_transport(
    net: Arc<Net>,
    id: TransportId,
    endpoint: String,
    mut out: mpsc::UnboundedReceiver<Bytes>,
    io: mpsc::UnboundedSender<Input>,
) {
    let dialed = tokio::select! {
        dialed = net.open(&endpoint) => dialed,
        () = closed(&mut out) => return,
    };
    let ws = match dialed {
        Ok(ws) => ws,
        Err(e) => {
            let _ = io.send(Input::Failed(id, e.to_string()));
            return;
        }
    };
    drop(net);
    let _ = io.send(Input::Opened(id));
    let (mut tx, mut rx) = ws.split();
    // After a failed write, keep reading: what the server sent before closing (a <failure>,
    // a stream error) must reach the core before the failure does.
    let mut write_failed = None;
    let ended = loop {
        tokio::select! {
            payload = out.recv() => match payload {
                Some(payload) => {
                    if write_failed.is_none()
                        && let Err(e) = tx.send(Message::Binary(payload)).await
                    {
                        write_failed = Some(e.to_string());
                    }
                }
                None => {
                    let _ = tx.close(None).await;
                    return;
                }
            },
            message = rx.next() => match received(id, message, &mut write_failed) {
                Received::Forward(input) => {
                    let _ = io.send(input);
                }
                Received::Skip => {}
                Received::End(input) => break input,
            },
        }
    };
    let _ = io.send(ended);
}

/// Resolves once every sender of `out` is gone (nothing is sent before `Opened`).
async fn closed(out: &mut mpsc::UnboundedReceiver<Bytes>) {
    while out.recv().await.is_some() {}
}
