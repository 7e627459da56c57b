//! The simulated web client's service-worker script: `GET /sw.js` on its own loopback port
//! (`https://` with the server's [`TestCa`](super::TestCa), else `http://`), carrying the
//! `client_revision` of the version the fake server accepts ([`ServerConfig::min_version`](crate::server::ServerConfig::min_version),
//! else the compiled default), so a client's 405 → version fetch → retry path is tested end
//! to end, TLS included. One request per connection; the requests are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Serves `sw.js` until `stop` turns `true`.
pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    revision: u32,
    hits: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let hits = Arc::clone(&hits);
                match acceptor.clone() {
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            match acceptor.accept(stream).await {
                                Ok(tls) => answer(tls, revision, &hits).await,
                                Err(error) => tracing::info!(%error, "sim web: TLS handshake failed"),
                            }
                        });
                    }
                    None => {
                        tokio::spawn(async move { answer(stream, revision, &hits).await });
                    }
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Reads one request head and answers `/sw.js` (200, the script) or anything else (404).
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, revision: u32, hits: &AtomicU64) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split(' ').nth(1).unwrap_or_default();
    let reply = if path == "/sw.js" {
        hits.fetch_add(1, Ordering::Relaxed);
        let body = script(revision);
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/javascript\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A service-worker script shaped like the web client's, carrying `client_revision`.
fn script(revision: u32) -> String {
    format!(
        "/* tether-sim */ self.__swData=JSON.parse(\"{{\\\"dynamic_data\\\":{{\\\"SiteData\\\":{{\\\"client_revision\\\":{revision},\\\"server_revision\\\":{revision}}}}}}}\");\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_script_parses_as_the_web_clients() {
        let body = script(1_023_456_789);
        let raw = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let version = tether_core::version_fetch::parse_response(raw.as_bytes()).unwrap();
        assert_eq!(version.tertiary, 1_023_456_789);
    }
}
