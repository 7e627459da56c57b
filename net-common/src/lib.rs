//! # tether-net-common
//!
//! The runtime-agnostic pieces both runtime adapters need beyond the sans-IO
//! [`tether_core`]: the TLS trust configuration ([`trust`]: ring provider, webpki roots plus
//! extra CA files), the
//! tungstenite settings and upgrade request, the mapping of received WebSocket messages to
//! driver [`Input`]s, the start-up values read from the OS (seed, wall clock), and the
//! messaging half of the adapters' `Client` ([`sends`]: waiting for a message's server answer
//! on any executor; [`groups`]: the same for group queries; [`messaging_methods!`]:
//! `send_text`, `reply`, `react`, `mark_read`, `typing`, `set_presence`, `group_info`,
//! `joined_groups`, `confirm`, written once for both adapters). It depends on no
//! async runtime: the adapters bring their own sockets, TLS streams and timers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod groups;
pub mod media;
pub mod media_client;
mod media_download;
mod media_encrypt;
pub mod media_retry;
pub mod media_source;
mod media_verify;
pub mod sends;
#[cfg(feature = "thumbnails")]
pub mod thumbnail;
pub mod trust;

/// The core, for the paths of [`messaging_methods!`] (not an API of its own).
#[doc(hidden)]
pub use tether_core as __core;

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error, Message};
use tether_core::connection::{Config, Connection, TransportId};
use tether_core::creds::{Credentials, PersistSeq};
use tether_core::driver::{DialError, Driver, Input, Options, StartError};
use tether_core::endpoint::{Endpoint, WEB_ORIGIN};
use tether_core::reason::TransportFailure;

/// The rustls client configuration for the adapters' [`Options::trust`] (see
/// [`trust::client_config`]).
pub fn tls_config(options: &Options) -> Result<Arc<rustls::ClientConfig>, StartError> {
    trust::client_config(&options.trust)
}

/// The server name TLS verifies for `target` (a DNS name or an IP address).
pub fn server_name(target: &Endpoint) -> Result<rustls::pki_types::ServerName<'static>, DialError> {
    rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| DialError::Url(tether_core::endpoint::UrlError::BadHost))
}

/// The tungstenite limits from [`Options`]: the read buffer, no write buffering, and the
/// largest message and frame accepted.
pub fn ws_config(options: &Options) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(options.ws_read_buffer)
        .write_buffer_size(0)
        .max_message_size(Some(options.ws_max_message))
        .max_frame_size(Some(options.ws_max_message))
}

/// Parses `url` (`ws://` or `wss://` only) into the target to dial and the upgrade request,
/// which carries WhatsApp's `Origin`.
pub fn ws_request(url: &str) -> Result<(Endpoint, Request), DialError> {
    let target = Endpoint::parse_websocket(url)?;
    let mut request = url.into_client_request().map_err(ws_error)?;
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static(WEB_ORIGIN));
    Ok((target, request))
}

/// A failed WebSocket upgrade as a [`DialError`]: an HTTP answer other than 101 keeps its
/// status ([`DialError::UpgradeStatus`]), anything else is [`DialError::WebSocket`].
pub fn ws_error(e: Error) -> DialError {
    match e {
        Error::Http(response) => DialError::UpgradeStatus(response.status().as_u16()),
        Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            DialError::WebSocket(format!(
                "the server closed the connection before answering the upgrade ({io})"
            ))
        }
        Error::Protocol(
            async_tungstenite::tungstenite::error::ProtocolError::HandshakeIncomplete,
        ) => DialError::WebSocket(
            "the server closed the connection before answering the upgrade".to_owned(),
        ),
        other => DialError::WebSocket(other.to_string()),
    }
}

/// What a transport does with the next item of its WebSocket stream.
#[derive(Debug)]
pub enum Received {
    /// Hand this input to the driver and keep reading.
    Forward(Input),
    /// Nothing for the driver (ping, pong, text); keep reading.
    Skip,
    /// The transport ended: hand this last input to the driver and stop.
    End(Input),
}

/// Maps the next item of transport `id`'s WebSocket stream: binary messages are forwarded, a
/// close frame or the stream's end closes the transport, an error fails it. After a failed
/// write (`write_failed`), the write error is the one reported: what the server sent before
/// closing reaches the core first, then the failure.
pub fn received(
    id: TransportId,
    message: Option<Result<Message, Error>>,
    write_failed: &mut Option<String>,
) -> Received {
    match message {
        Some(Ok(Message::Binary(data))) => Received::Forward(Input::Bytes(id, data)),
        Some(Ok(Message::Close(frame))) => {
            let detail = frame.map_or_else(
                || "close without a code".to_owned(),
                |f| format!("close {}: {}", u16::from(f.code), f.reason),
            );
            Received::End(Input::Closed(id, detail))
        }
        Some(Ok(_)) => Received::Skip,
        Some(Err(e)) => Received::End(Input::Failed(
            id,
            TransportFailure::Io {
                detail: write_failed.take().unwrap_or_else(|| e.to_string()),
            },
        )),
        None => Received::End(Input::Closed(id, "the server ended the stream".into())),
    }
}

/// The seed: [`Options::seed`], or 32 bytes from the OS random source.
pub fn seed(options: &Options) -> Result<[u8; 32], StartError> {
    options.seed_or(|buf| getrandom::fill(buf).map_err(|e| e.to_string()))
}

/// Builds the [`Connection`] from the loaded credentials (`now` on the adapter's clock, the
/// wall clock read here) and wraps it in the [`Driver`] the adapter shares.
pub fn new_driver(
    config: Config,
    loaded: Option<(Credentials, PersistSeq)>,
    now: Instant,
    seed: [u8; 32],
) -> Arc<Mutex<Driver>> {
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let conn = Connection::from_store(config, loaded, now, unix_now, seed);
    Arc::new(Mutex::new(Driver::new(conn)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use async_tungstenite::tungstenite::protocol::CloseFrame;
    use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    #[test]
    fn ws_request_carries_the_origin_and_refuses_http() {
        let (target, request) = ws_request("ws://127.0.0.1:9/ws/chat").unwrap();
        assert_eq!(target.port, 9);
        assert_eq!(request.headers()["Origin"], WEB_ORIGIN);
        assert!(matches!(
            ws_request("http://127.0.0.1:9/"),
            Err(DialError::Url(_))
        ));
    }

    #[test]
    fn ws_config_applies_the_limits() {
        let mut options = Options::default();
        options.ws_max_message = 1234;
        options.ws_read_buffer = 512;
        let config = ws_config(&options);
        assert_eq!(config.max_message_size, Some(1234));
        assert_eq!(config.max_frame_size, Some(1234));
        assert_eq!(config.read_buffer_size, 512);
        assert_eq!(config.write_buffer_size, 0);
    }

    #[test]
    fn tls_config_builds_with_ring() {
        let mut options = Options::default();
        options.trust = tether_core::driver::TlsTrust::builtin_only();
        assert!(tls_config(&options).is_ok());
    }

    #[test]
    fn an_http_answer_to_the_upgrade_keeps_its_status() {
        let response = async_tungstenite::tungstenite::http::Response::builder()
            .status(403)
            .body(None)
            .unwrap();
        let error = ws_error(Error::Http(Box::new(response)));
        assert!(matches!(error, DialError::UpgradeStatus(403)), "{error}");
        assert_eq!(
            error.failure(),
            TransportFailure::UpgradeStatus { status: 403 }
        );
    }

    #[test]
    fn received_maps_messages_to_driver_inputs() {
        let id = TransportId(4);
        let mut none = None;
        let data = Message::Binary(vec![1, 2].into());
        assert!(matches!(
            received(id, Some(Ok(data)), &mut none),
            Received::Forward(Input::Bytes(i, d)) if i == id && d[..] == [1, 2]
        ));
        assert!(matches!(
            received(id, Some(Ok(Message::Ping(Default::default()))), &mut none),
            Received::Skip
        ));
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        }));
        assert!(matches!(
            received(id, Some(Ok(close)), &mut none),
            Received::End(Input::Closed(_, d)) if d == "close 1001: bye"
        ));
        assert!(matches!(
            received(id, None, &mut none),
            Received::End(Input::Closed(_, d)) if d == "the server ended the stream"
        ));
        let mut write_failed = Some("broken pipe".to_owned());
        assert!(matches!(
            received(id, Some(Err(Error::ConnectionClosed)), &mut write_failed),
            Received::End(Input::Failed(_, TransportFailure::Io { detail })) if detail == "broken pipe"
        ));
        assert!(matches!(
            received(id, Some(Err(Error::ConnectionClosed)), &mut None),
            Received::End(Input::Failed(_, TransportFailure::Io { detail }))
                if detail == Error::ConnectionClosed.to_string()
        ));
    }

    #[test]
    fn seed_uses_the_explicit_one_or_draws_from_the_os() {
        let mut options = Options::default();
        let (a, b) = (seed(&options).unwrap(), seed(&options).unwrap());
        assert_ne!(a, b, "two OS draws of 32 bytes differ");
        options.seed = Some([5; 32]);
        assert_eq!(seed(&options).unwrap(), [5; 32]);
    }
}
