//! The opt-in Prometheus endpoint of `tether run --metrics ADDR` (or config `metrics`): the
//! connection's health in the Prometheus text format (prometheus-client does the exposition),
//! served at `GET /metrics` on a plain thread.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `tether_connection_state{state}` | gauge | 1 for the current state (`connecting`, `pairing`, `connected`, `waiting to reconnect`, `stopping`, `stopped`), 0 for the others |
//! | `tether_connected` | gauge | 1 while logged in |
//! | `tether_reconnects_total` | counter | reconnects scheduled |
//! | `tether_disconnects_total{code, local, cause}` | counter | disconnects by reason code (`local` for codes Tether assigned), `cause` the transport failure kind when there was one |
//! | `tether_last_disconnect_timestamp_seconds` | gauge | when the last disconnect happened |
//! | `tether_keepalive_failures_total` | counter | keepalive pings left unanswered |
//! | `tether_store_persist_seconds` | histogram | how long each durable credential write took |
//! | `tether_messages_received_total` | counter | messages handed to the application from the durable inbox (an entry left unconfirmed when the process stopped is handed over, and counted, again by the next run; a control subscriber's catch-up read is not counted) |
//! | `tether_messages_sent_total` | counter | messages the server acknowledged (`sent` events) |
//! | `tether_send_failures_total` | counter | sends that failed for good (`send_failed` events) |
//! | `tether_decrypt_failures_total` | counter | messages that could not be decrypted after the retry path (`undecryptable` events, catch-up reads not counted) |

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tether_core::connection::Event;
use tether_core::reason::DisconnectReason;

/// The states `tether_connection_state` reports.
const STATES: [&str; 6] = [
    "connecting",
    "pairing",
    "connected",
    "waiting to reconnect",
    "stopping",
    "stopped",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    code: String,
    local: String,
    cause: String,
}

/// The messaging counters, fed from the connection's messaging events.
#[derive(Debug, Clone, Default)]
struct MessagingMetrics {
    received: Counter,
    sent: Counter,
    send_failures: Counter,
    decrypt_failures: Counter,
}

impl MessagingMetrics {
    /// Counts one messaging event; entries a catch-up read replays are not news.
    fn observe(&self, event: &Event) {
        match event {
            Event::Message(m) if !m.replayed => {
                self.received.inc();
            }
            Event::Undecryptable(u) if !u.replayed => {
                self.decrypt_failures.inc();
            }
            Event::Sent { .. } => {
                self.sent.inc();
            }
            Event::SendFailed { .. } => {
                self.send_failures.inc();
            }
            _ => {}
        }
    }
}

/// The connection metrics of one running instance.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    state: Family<StateLabel, Gauge>,
    connected: Gauge,
    reconnects: Counter,
    disconnects: Family<ReasonLabels, Counter>,
    last_disconnect: Gauge,
    keepalive_failures: Counter,
    persist: Histogram,
    messaging: MessagingMetrics,
}

impl Metrics {
    /// Every metric registered, the state `connecting`.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("tether");
        let state = Family::<StateLabel, Gauge>::default();
        let connected = Gauge::default();
        let reconnects = Counter::default();
        let disconnects = Family::<ReasonLabels, Counter>::default();
        let last_disconnect = Gauge::default();
        let keepalive_failures = Counter::default();
        let persist = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        let messaging = MessagingMetrics::default();
        registry.register(
            "connection_state",
            "1 for the connection's current state",
            state.clone(),
        );
        registry.register("connected", "1 while logged in", connected.clone());
        registry.register("reconnects", "Reconnects scheduled", reconnects.clone());
        registry.register(
            "disconnects",
            "Disconnects by reason code (local: assigned by Tether) and transport cause",
            disconnects.clone(),
        );
        registry.register(
            "last_disconnect_timestamp_seconds",
            "Unix time of the last disconnect",
            last_disconnect.clone(),
        );
        registry.register(
            "keepalive_failures",
            "Keepalive pings left unanswered",
            keepalive_failures.clone(),
        );
        registry.register(
            "store_persist_seconds",
            "Duration of each durable credential write",
            persist.clone(),
        );
        registry.register(
            "messages_received",
            "Messages handed to the application from the durable inbox",
            messaging.received.clone(),
        );
        registry.register(
            "messages_sent",
            "Messages sent and acknowledged",
            messaging.sent.clone(),
        );
        registry.register(
            "send_failures",
            "Sends that failed for good",
            messaging.send_failures.clone(),
        );
        registry.register(
            "decrypt_failures",
            "Messages that could not be decrypted",
            messaging.decrypt_failures.clone(),
        );
        let metrics = Self {
            registry,
            state,
            connected,
            reconnects,
            disconnects,
            last_disconnect,
            keepalive_failures,
            persist,
            messaging,
        };
        metrics.set_state("connecting");
        metrics
    }

    fn set_state(&self, current: &str) {
        for s in STATES {
            let label = StateLabel {
                state: s.to_owned(),
            };
            self.state
                .get_or_create(&label)
                .set(i64::from(s == current));
        }
        self.connected.set(i64::from(current == "connected"));
    }

    /// Updates the metrics from one connection event (`state` is the live state after it).
    pub(crate) fn observe(&self, event: &Event, state: &str, unix_secs: u64) {
        match event {
            Event::Disconnected {
                reason,
                reconnect_at,
                ..
            } => {
                self.disconnected(reason, unix_secs);
                if reconnect_at.is_some() && !reason.is_terminal() {
                    self.reconnects.inc();
                }
            }
            Event::KeepAliveTimeout { .. } => {
                self.keepalive_failures.inc();
            }
            other => self.messaging.observe(other),
        }
        if STATES.contains(&state) {
            self.set_state(state);
        }
    }

    fn disconnected(&self, reason: &DisconnectReason, unix_secs: u64) {
        let code = reason.code();
        let labels = ReasonLabels {
            code: code
                .number()
                .map_or_else(|| "none".to_owned(), |n| n.to_string()),
            local: code.is_local().to_string(),
            cause: reason
                .transport_failure()
                .map_or("", |f| f.kind())
                .to_owned(),
        };
        self.disconnects.get_or_create(&labels).inc();
        self.last_disconnect
            .set(i64::try_from(unix_secs).unwrap_or(i64::MAX));
    }

    /// Records one durable credential write's duration.
    pub(crate) fn persisted(&self, took: Duration) {
        self.persist.observe(took.as_secs_f64());
    }

    /// The exposition (Prometheus / OpenMetrics text format).
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `GET /metrics` on `addr` from a plain thread for as long as the process runs.
/// Returns the bound address (port 0 picks a free one).
pub(crate) fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).map_err(|e| {
        format!(
            "cannot serve metrics on {addr}: {e}; pick another address with --metrics HOST:PORT"
        )
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("metrics listener: {e}"))?;
    std::thread::Builder::new()
        .name("tether-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &metrics);
            }
        })
        .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
    Ok(bound)
}

fn answer(stream: TcpStream, metrics: &Metrics) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Drain the head (bounded) so the client sees a clean close.
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or_default();
    let (status, kind, body) = if request.starts_with("GET ") && path == "/metrics" {
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "Tether serves its metrics at GET /metrics\n".to_owned(),
        )
    };
    let mut out = &stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_core::reason::{LostCause, TransportFailure};

    #[test]
    fn events_move_the_connection_metrics() {
        let m = Metrics::new();
        let refused = DisconnectReason::ConnectionLost {
            cause: LostCause::TransportFailed {
                failure: TransportFailure::Refused {
                    target: "x:1".into(),
                },
            },
        };
        let event = Event::Disconnected {
            reason: refused,
            reconnect_at: Some(std::time::Instant::now()),
            attempt: 1,
            max_attempts: None,
        };
        m.observe(&event, "waiting to reconnect", 1_700_000_000);
        m.observe(&Event::KeepAliveTimeout { failures: 1 }, "connected", 0);
        m.persisted(Duration::from_millis(3));
        let text = m.encode();
        for needle in [
            "tether_disconnects_total{code=\"428\",local=\"true\",cause=\"refused\"} 1",
            "tether_reconnects_total 1",
            "tether_keepalive_failures_total 1",
            "tether_connection_state{state=\"connected\"} 1",
            "tether_connected 1",
            "tether_last_disconnect_timestamp_seconds 1700000000",
            "tether_store_persist_seconds_count 1",
            "tether_messages_received_total 0",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }

    #[test]
    fn messaging_events_move_the_message_counters_and_catch_up_reads_do_not() {
        use bytes::Bytes;
        use tether_core::messaging::ids::MessageId;
        use tether_core::messaging::types::{InboxPos, IncomingMessage, SendError, Undecryptable};
        let message = |replayed| {
            Event::Message(Box::new(IncomingMessage {
                inbox: InboxPos(1),
                id: MessageId("A".into()),
                chat: "15550001111@s.whatsapp.net".parse().unwrap(),
                sender: "15550001111@s.whatsapp.net".parse().unwrap(),
                sender_alt: None,
                from_me: false,
                timestamp: 1,
                push_name: None,
                offline: false,
                message_type: "text".into(),
                raw: Bytes::new(),
                message: Default::default(),
                replayed,
            }))
        };
        let undecryptable = |replayed| {
            Event::Undecryptable(Box::new(Undecryptable {
                inbox: InboxPos(2),
                id: MessageId("B".into()),
                chat: "15550001111@s.whatsapp.net".parse().unwrap(),
                sender: "15550001111@s.whatsapp.net".parse().unwrap(),
                timestamp: 1,
                reason: "no session".into(),
                retry_count: 2,
                replayed,
            }))
        };
        let m = Metrics::new();
        for event in [
            message(false),
            message(false),
            message(true),
            undecryptable(false),
            undecryptable(true),
            Event::Sent {
                id: MessageId("S".into()),
                to: "15550001111@s.whatsapp.net".parse().unwrap(),
                t: 1,
            },
            Event::SendFailed {
                id: MessageId("F".into()),
                reason: SendError::nack(479),
            },
        ] {
            m.observe(&event, "connected", 0);
        }
        let text = m.encode();
        for needle in [
            "tether_messages_received_total 2",
            "tether_decrypt_failures_total 1",
            "tether_messages_sent_total 1",
            "tether_send_failures_total 1",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
