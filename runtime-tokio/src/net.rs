//! Dialing for the tokio adapter: TCP (direct, HTTP CONNECT or SOCKS5), TLS (rustls + ring,
//! webpki roots), the WebSocket upgrade with WhatsApp's `Origin`, one task per transport, and
//! the version fetch. Everything protocol-shaped (URLs, proxy choice, CONNECT bytes, the
//! version answer) is parsed by `tether_core`.

use std::sync::Arc;

use async_tungstenite::WebSocketStream;
use async_tungstenite::stream::Stream as Switch;
use async_tungstenite::tokio::{ClientStream, TokioAdapter};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use bytes::Bytes;
use futures_util::StreamExt;
use tether_core::connection::TransportId;
use tether_core::driver::{DialError, Input, Options, StartError};
use tether_core::endpoint::Endpoint;
use tether_core::payload::AppVersion;
use tether_core::proxy::{self, ConnectHandshake, ProxyKind, ProxySetting};
use tether_core::version_fetch;
use tether_net_common::{Received, received, server_name, ws_error, ws_request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type Ws = WebSocketStream<ClientStream<TcpStream>>;

/// How this process dials: TLS client config, proxy setting, WebSocket limits.
pub(crate) struct Net {
    tls: TlsConnector,
    proxy: ProxySetting,
    ws: WebSocketConfig,
}

impl Net {
    pub(crate) fn new(options: &Options) -> Result<Self, StartError> {
        Ok(Self {
            tls: TlsConnector::from(tether_net_common::tls_config(options)?),
            proxy: options.proxy.clone(),
            ws: tether_net_common::ws_config(options),
        })
    }

    /// TCP to `target`, through the proxy the setting selects.
    async fn tcp(&self, target: &Endpoint) -> Result<TcpStream, DialError> {
        let Some(proxy) = self.proxy.resolve(target, |k| std::env::var(k).ok())? else {
            return connect(&target.host, target.port, target.authority()).await;
        };
        let mut tcp = connect(&proxy.host, proxy.port, format!("the proxy {proxy}")).await?;
        match proxy.kind {
            ProxyKind::Http => {
                let request = proxy::connect_request(&target.authority(), proxy.auth.as_ref());
                let io = || DialError::io(format!("the proxy {proxy}"));
                tcp.write_all(&request).await.map_err(io())?;
                let (mut handshake, mut buf) = (ConnectHandshake::new(), [0; 512]);
                loop {
                    let n = tcp.read(&mut buf).await.map_err(io())?;
                    let read = buf.get(..n).unwrap_or_default();
                    if handshake
                        .handle_read(read)
                        .map_err(DialError::tunnel(&proxy))?
                    {
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

    /// The TLS handshake with `target` over `tcp`, verified against the trust settings.
    async fn tls(
        &self,
        target: &Endpoint,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, DialError> {
        let name = server_name(target)?;
        (self.tls.connect(name, tcp).await).map_err(DialError::tls(target.host.clone()))
    }

    /// Opens the WebSocket to `url` (`ws://` or `wss://`) with WhatsApp's `Origin`: TCP, then
    /// TLS, then the upgrade, each failing with its own typed error.
    async fn open(&self, url: &str) -> Result<Ws, DialError> {
        let (target, request) = ws_request(url)?;
        let tcp = self.tcp(&target).await?;
        let stream = if target.scheme.is_tls() {
            Switch::Tls(TokioAdapter::new(self.tls(&target, tcp).await?))
        } else {
            Switch::Plain(TokioAdapter::new(tcp))
        };
        let (ws, _response) =
            async_tungstenite::client_async_with_config(request, stream, Some(self.ws))
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
            exchange(self.tls(&target, tcp).await?, &target).await
        } else {
            exchange(tcp, &target).await
        };
        Ok(version_fetch::parse_response(&raw.map_err(io())?)?)
    }
}

impl tether_net_common::media::MediaDial for Net {
    type Stream = TokioAdapter<TlsStream<TcpStream>>;

    async fn dial(&self, target: &Endpoint) -> Result<Self::Stream, DialError> {
        let tcp = self.tcp(target).await?;
        Ok(TokioAdapter::new(self.tls(target, tcp).await?))
    }

    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Resolves `host` (a failure is [`DialError::Dns`]) and connects to its addresses in turn
/// (the last failure is reported for `what`).
async fn connect(host: &str, port: u16, what: String) -> Result<TcpStream, DialError> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(DialError::dns(host))?
        .collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
    if addrs.is_empty() {
        return Err(DialError::dns(host)(last));
    }
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Frames are written whole; Nagle would hold a stanza behind the small frame
                // before it until the server's delayed ACK (~40 ms a send).
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not turn off Nagle's algorithm");
                }
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(DialError::io(what)(last))
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
            let _ = io.send(Input::Failed(id, e.failure()));
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

#[cfg(test)]
mod tests {
    use super::connect;

    #[tokio::test]
    async fn connections_are_made_without_nagle_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = connect("127.0.0.1", port, "the test listener".into())
            .await
            .unwrap();
        assert!(tcp.nodelay().unwrap(), "TCP_NODELAY is set on every dial");
    }
}
