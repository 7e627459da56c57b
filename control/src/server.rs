//! The server side: a listener on `<store>.sock` and one reader thread plus one writer thread
//! per client, so clients are served independently (a slow or silent one delays nobody).
//!
//! ```text
//!  accept ─▶ peer is this user? ─no─▶ refused (one error line, closed)
//!             │ yes (at most max_clients at once)
//!             ▼
//!  reader: line (≤ max_line bytes, complete within line_deadline; a client that has not
//!          subscribed is closed after idle without a request) ─▶ dispatch ─▶ answer ─┐
//!          send/react with wait: a helper thread waits for the server's ack ─▶ answer ─┤
//!          send_media: the upload first, on the reader (this client's next request waits
//!          for it), then as send ─────────────────────────────────────────────────────┤
//!  hub:    events of subscribers ─────────────────────────────────────────────────────┤
//!  writer: one queue per client ◀──────────────────────────────────────────────────────┘
//!          ─▶ the socket, each write within write_deadline (else the client is closed)
//! ```
//!
//! The bounds are [`Limits`]; a full queue cuts a subscriber off (see [`crate::hub`]).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_core::binary::Jid;
use tether_core::connection::Command;
use tether_core::driver::{ClientError, MessagingError};
use tether_core::media::cards;
use tether_core::messaging::recipient::parse_recipient;
use tether_core::messaging::types::InboxPos;
use tether_core::proto::message::Message;
use tether_net_common::groups::{GroupQueryError, PendingGroupInfo, PendingGroupList, group_jid};
use tether_net_common::sends::PendingSend;

use crate::events::group_json;
use crate::hub::{Hub, QUEUE};
use crate::protocol::{BadRequest, MAX_LINE, Request};
use crate::requests::{Refusal, card_of, media_of, reaction_of, read_command};
pub use crate::requests::{compose_send, sticker_problem};
use crate::socket;

/// How often a reader wakes to check its deadlines and the server's end.
const POLL: Duration = Duration::from_millis(250);

/// The server's bounds ([`Limits::default`] for production; tests shorten them).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Clients served at once; more are refused with an error line (default 64).
    pub max_clients: usize,
    /// The longest request line (default [`MAX_LINE`]).
    pub max_line: usize,
    /// A request line must be complete this long after its first byte arrived (10 s).
    pub line_deadline: Duration,
    /// A client that has not subscribed is closed after this long without a request (120 s).
    pub idle: Duration,
    /// Each write to a client must complete within this (10 s).
    pub write_deadline: Duration,
    /// Lines a client may have waiting to be written; a subscriber whose queue is full is
    /// disconnected (default [`QUEUE`]).
    pub queue: usize,
    /// Sends one client may have waiting for their server ack at once (256).
    pub max_in_flight: usize,
    /// The only user served (default: this process's).
    pub uid: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_clients: 64,
            max_line: MAX_LINE,
            line_deadline: Duration::from_secs(10),
            idle: Duration::from_secs(120),
            write_deadline: Duration::from_secs(10),
            queue: QUEUE,
            max_in_flight: 256,
            uid: socket::own_uid(),
        }
    }
}

/// What the running instance does for the protocol: the connection behind the socket.
pub trait Backend: Send + Sync + 'static {
    /// The `status` answer (`docs/JSON.md`'s status object).
    fn status(&self) -> Value;
    /// Sends a message (durable before it returns); the [`PendingSend`] resolves on the
    /// server's answer.
    fn send(&self, to: Jid, message: Message) -> Result<PendingSend, MessagingError>;
    /// Any other command for the connection (`Confirm`, `ReplayInbox`, `MarkRead`,
    /// `ChatState`, `Presence`).
    fn command(&self, command: Command) -> Result<(), ClientError>;
    /// Encrypts and uploads the file at `path` as `kind` (blocking this thread until the
    /// media host answered); the message that carries it is sent with [`Backend::send`].
    fn upload(
        &self,
        kind: tether_core::media::MediaKind,
        path: &Path,
    ) -> Result<tether_core::media::Upload, tether_core::media::MediaError>;
    /// Asks the server for a group's metadata; the pending query resolves on its answer.
    fn group_info(&self, group: Jid) -> Result<PendingGroupInfo, GroupQueryError>;
    /// Asks the server for the groups this account is in.
    fn joined_groups(&self) -> Result<PendingGroupList, GroupQueryError>;
    /// Writes a consistent copy of the store to `path` (verified) and describes it.
    fn backup(&self, path: &Path) -> Result<Value, String>;
    /// Begins a graceful shutdown.
    fn stop(&self);
}

/// A running control socket; dropping it stops serving and removes the socket file.
pub struct ControlServer {
    path: PathBuf,
    hub: Arc<Hub>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlServer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Everything a client's threads share.
struct Shared {
    limits: Limits,
    backend: Arc<dyn Backend>,
    hub: Arc<Hub>,
    done: Arc<AtomicBool>,
    clients: AtomicUsize,
}

impl ControlServer {
    /// Serves the protocol at `path` for `backend`. The caller owns the store, so a socket
    /// left there by a crashed owner is stale and is replaced ([`socket::bind`]).
    pub fn serve(path: &Path, backend: Arc<dyn Backend>) -> std::io::Result<Self> {
        Self::serve_with(path, backend, Limits::default())
    }

    /// [`ControlServer::serve`] with other bounds.
    pub fn serve_with(
        path: &Path,
        backend: Arc<dyn Backend>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        let listener = socket::bind(path)?;
        let hub = Arc::new(Hub::new());
        let done = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            limits,
            backend,
            hub: Arc::clone(&hub),
            done: Arc::clone(&done),
            clients: AtomicUsize::new(0),
        });
        let thread = std::thread::Builder::new()
            .name("tether-control".into())
            .spawn(move || accept_loop(&listener, &shared))?;
        Ok(Self {
            path: path.to_owned(),
            hub,
            done,
            thread: Some(thread),
        })
    }

    /// Offers one event of the connection to the subscribers. Call it for every event, in
    /// order.
    pub fn publish(&self, event: &tether_core::connection::Event) {
        self.hub.publish(event);
    }

    /// The hub (subscribers, the JSON of events, recipients of sends).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag. If the socket file was removed behind our
        // back, nothing can wake it: leave the thread to end with the process.
        let woken = UnixStream::connect(&self.path).is_ok();
        if let Some(t) = self.thread.take()
            && woken
        {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.done.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "tether::control", "accept failed: {e}");
                continue;
            }
        };
        let uid = shared.limits.uid;
        if let Err(why) = socket::check_peer(&stream, uid) {
            tracing::warn!(target: "tether::control", "refused a control connection: {why}");
            refuse(
                &stream,
                "refused",
                &format!("refused: this control socket serves only uid {uid}; {why}"),
            );
            continue;
        }
        let max = shared.limits.max_clients;
        if shared.clients.fetch_add(1, Ordering::SeqCst) >= max {
            shared.clients.fetch_sub(1, Ordering::SeqCst);
            refuse(
                &stream,
                "busy",
                &format!(
                    "the owner is busy with other control clients ({max} connected); retry in a \
                     moment"
                ),
            );
            continue;
        }
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("tether-control-client".into())
            .spawn(move || {
                serve_client(stream, &shared);
                shared.clients.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "tether::control", "cannot serve a client: {e}");
        }
    }
}

/// One error line, then close (the client is not served).
fn refuse(stream: &UnixStream, code: &str, error: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let mut w = stream;
    let _ = writeln!(w, "{}", json!({"ok": false, "code": code, "error": error}));
    let _ = stream.shutdown(Shutdown::Both);
}

/// Writes queued lines until the queue closes or a write fails.
fn writer(stream: &UnixStream, rx: &Receiver<String>, deadline: Duration) {
    let _ = stream.set_write_timeout(Some(deadline));
    let mut w = stream;
    for line in rx {
        if w.write_all(line.as_bytes())
            .and_then(|()| w.write_all(b"\n"))
            .is_err()
        {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// The per-client state of the reader.
struct Client {
    tx: SyncSender<String>,
    stream: UnixStream,
    subscription: Option<u64>,
    in_flight: Arc<AtomicUsize>,
}

fn serve_client(stream: UnixStream, shared: &Arc<Shared>) {
    let limits = &shared.limits;
    let (tx, rx) = sync_channel::<String>(limits.queue);
    let (Ok(write_half), Ok(hub_half)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    let writer_thread = std::thread::Builder::new()
        .name("tether-control-writer".into())
        .spawn({
            let deadline = limits.write_deadline;
            move || writer(&write_half, &rx, deadline)
        });
    if writer_thread.is_err() {
        return;
    }
    let mut client = Client {
        tx,
        stream: hub_half,
        subscription: None,
        in_flight: Arc::new(AtomicUsize::new(0)),
    };
    let _ = stream.set_read_timeout(Some(POLL));
    let mut reader = BufReader::new(&stream);
    let mut buf = Vec::new();
    let mut line_started: Option<Instant> = None;
    let mut last_request = Instant::now();
    loop {
        if shared.done.load(Ordering::SeqCst) {
            break;
        }
        let limit = (limits.max_line + 1).saturating_sub(buf.len()) as u64;
        match (&mut reader).take(limit).read_until(b'\n', &mut buf) {
            Ok(0) => {
                if !buf.is_empty() {
                    handle_line(&buf, &mut client, shared);
                }
                break;
            }
            Ok(_) if buf.last() == Some(&b'\n') => {
                if !handle_line(&buf, &mut client, shared) {
                    break;
                }
                buf.clear();
                line_started = None;
                last_request = Instant::now();
            }
            Ok(_) if buf.len() > limits.max_line => {
                answer(
                    &client,
                    &Value::Null,
                    Err(Refusal::new(
                        "too_long",
                        format!(
                            "a request line is at most {} bytes; closing",
                            limits.max_line
                        ),
                    )),
                );
                break;
            }
            // End of stream without a newline: the next read returns 0 and handles it.
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !buf.is_empty() {
                    let started = *line_started.get_or_insert_with(Instant::now);
                    if started.elapsed() > limits.line_deadline {
                        answer(
                            &client,
                            &Value::Null,
                            Err(Refusal::new(
                                "too_slow",
                                format!(
                                    "a request line must arrive within {:.1}s of its first \
                                     byte; closing",
                                    limits.line_deadline.as_secs_f32()
                                ),
                            )),
                        );
                        break;
                    }
                } else if client.subscription.is_none() && last_request.elapsed() > limits.idle {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if let Some(id) = client.subscription.take() {
        shared.hub.unsubscribe(id);
    }
    // Dropping the last sender ends the writer once it has written what is queued (answers
    // of sends still waiting hold their own sender and are written when they come).
}

/// The answer line for a request.
fn answer_line(req: &Value, result: Result<Value, Refusal>) -> String {
    let mut v = match result {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(Value::Null) => json!({}),
        Ok(other) => json!({"value": other}),
        Err(r) => {
            let mut v = json!({"error": r.error, "code": r.code});
            if let (Some(map), Value::Object(extra)) = (v.as_object_mut(), r.extra) {
                map.extend(extra);
            }
            v["ok"] = json!(false);
            v
        }
    };
    if v.get("ok").is_none() {
        v["ok"] = json!(true);
    }
    if !req.is_null() {
        v["req"] = req.clone();
    }
    v.to_string()
}

fn answer(client: &Client, req: &Value, result: Result<Value, Refusal>) {
    let _ = client.tx.send(answer_line(req, result));
}

/// Handles one request line; `false` closes the connection.
fn handle_line(raw: &[u8], client: &mut Client, shared: &Arc<Shared>) -> bool {
    let Ok(line) = std::str::from_utf8(raw) else {
        answer(
            client,
            &Value::Null,
            Err(Refusal::new("bad_request", "the line is not UTF-8")),
        );
        return true;
    };
    if line.trim().is_empty() {
        return true;
    }
    match Request::parse(line) {
        Ok((req, request)) => dispatch(&req, request, client, shared),
        Err(BadRequest { req, error }) => {
            answer(client, &req, Err(Refusal::new("bad_request", error)));
            true
        }
    }
}

fn dispatch(req: &Value, request: Request, client: &mut Client, shared: &Arc<Shared>) -> bool {
    let backend = &shared.backend;
    let result: Result<Value, Refusal> = match request {
        Request::Status => Ok(json!({"status": backend.status()})),
        Request::Stop => {
            backend.stop();
            Ok(json!({}))
        }
        Request::Backup { path } => backend.backup(&path).map_err(|e| Refusal::new("failed", e)),
        Request::Subscribe(s) => {
            if let Some(old) = client.subscription.take() {
                shared.hub.unsubscribe(old);
            }
            // The answer goes first: no event may precede it.
            answer(client, req, Ok(json!({"subscribed": true, "from": s.from})));
            let Ok(stream) = client.stream.try_clone() else {
                return false;
            };
            client.subscription = Some(shared.hub.subscribe(
                client.tx.clone(),
                stream,
                s.from,
                s.events,
            ));
            // The connection runs catch-up reads one at a time, each to its end; the hub gives
            // each subscriber its own positions once.
            if let Some(from) = s.from
                && let Err(e) = backend.command(Command::ReplayInbox {
                    from: InboxPos(from),
                })
            {
                tracing::warn!(target: "tether::control", "cannot replay the inbox: {e}");
            }
            return true;
        }
        Request::Unsubscribe => {
            if let Some(id) = client.subscription.take() {
                shared.hub.unsubscribe(id);
            }
            Ok(json!({}))
        }
        Request::Send(s) => match compose_send(&s, Some(&shared.hub)) {
            Ok((to, message)) => return start_send(req, to, message, s.wait, client, shared),
            Err(e) => Err(Refusal::new("invalid_recipient", e.to_string())),
        },
        Request::SendMedia(m) => match media_of(&m, backend.as_ref()) {
            Ok((to, message)) => return start_send(req, to, message, m.wait, client, shared),
            Err(r) => Err(r),
        },
        Request::SendLocation(l) => {
            let built = cards::location_message(
                l.latitude,
                l.longitude,
                l.name.as_deref(),
                l.address.as_deref(),
            );
            match card_of(&l.to, built) {
                Ok((to, message)) => return start_send(req, to, message, l.wait, client, shared),
                Err(r) => Err(r),
            }
        }
        Request::SendContact(c) => {
            let built = cards::contact_message(c.display_name.as_deref(), &c.vcard);
            match card_of(&c.to, built) {
                Ok((to, message)) => return start_send(req, to, message, c.wait, client, shared),
                Err(r) => Err(r),
            }
        }
        Request::React(r) => match reaction_of(&r) {
            Ok((to, message)) => return start_send(req, to, message, r.wait, client, shared),
            Err(r) => Err(r),
        },
        Request::Read(r) => {
            read_command(&r).and_then(|c| Ok(backend.command(c).map(|()| json!({}))?))
        }
        Request::Typing { chat, state } => parse_recipient(&chat)
            .map_err(|e| Refusal::new("invalid_recipient", e.to_string()))
            .and_then(|to| {
                Ok(backend
                    .command(Command::ChatState { to, state })
                    .map(|()| json!({}))?)
            }),
        Request::Presence { available } => backend
            .command(Command::Presence { available })
            .map(|()| json!({}))
            .map_err(Refusal::from),
        Request::Confirm { positions } => backend
            .command(Command::Confirm {
                positions: positions.into_iter().map(InboxPos).collect(),
            })
            .map(|()| json!({}))
            .map_err(Refusal::from),
        Request::GroupInfo { group } => {
            match group_jid(group.as_str()).and_then(|g| backend.group_info(g)) {
                Ok(pending) => {
                    return answer_later(req, client, shared, async move {
                        pending
                            .await
                            .map(|info| json!({"group": group_json(&info)}))
                    });
                }
                Err(e) => Err(e.into()),
            }
        }
        Request::Groups => match backend.joined_groups() {
            Ok(pending) => {
                return answer_later(req, client, shared, async move {
                    pending.await.map(
                        |list| json!({"groups": list.iter().map(group_json).collect::<Vec<_>>()}),
                    )
                });
            }
            Err(e) => Err(e.into()),
        },
    };
    answer(client, req, result);
    true
}

/// Answers a query when the server answered it: a helper thread waits, so the client's other
/// requests are served meanwhile. Queries count against the client's `max_in_flight` like
/// sends.
fn answer_later(
    req: &Value,
    client: &Client,
    shared: &Shared,
    answer: impl Future<Output = Result<Value, GroupQueryError>> + Send + 'static,
) -> bool {
    let max = shared.limits.max_in_flight;
    if client.in_flight.load(Ordering::SeqCst) >= max {
        self::answer(
            client,
            req,
            Err(Refusal::new(
                "busy",
                format!(
                    "{max} requests of this client are waiting for the server already; wait \
                     for their answers"
                ),
            )),
        );
        return true;
    }
    let (tx, line_req, in_flight) = (
        client.tx.clone(),
        req.clone(),
        Arc::clone(&client.in_flight),
    );
    in_flight.fetch_add(1, Ordering::SeqCst);
    let waited = std::thread::Builder::new()
        .name("tether-control-query".into())
        .spawn(move || {
            let result = futures_lite::future::block_on(answer).map_err(Refusal::from);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(answer_line(&line_req, result));
        });
    if let Err(e) = waited {
        client.in_flight.fetch_sub(1, Ordering::SeqCst);
        self::answer(
            client,
            req,
            Err(Refusal::new(
                "busy",
                format!("cannot wait for the answer: {e}"),
            )),
        );
    }
    true
}

/// Sends, then answers at once (`wait: false`) or when the server answered.
fn start_send(
    req: &Value,
    to: Jid,
    message: Message,
    wait: bool,
    client: &Client,
    shared: &Arc<Shared>,
) -> bool {
    let max = shared.limits.max_in_flight;
    if wait && client.in_flight.load(Ordering::SeqCst) >= max {
        answer(
            client,
            req,
            Err(Refusal::new(
                "busy",
                format!(
                    "{max} sends of this client are waiting for the server already; wait for \
                     their answers (or send with \"wait\": false)"
                ),
            )),
        );
        return true;
    }
    let pending = match shared.backend.send(to.clone(), message) {
        Ok(p) => p,
        Err(e) => {
            answer(client, req, Err(e.into()));
            return true;
        }
    };
    let id = pending.id().clone();
    shared.hub.note_recipient(id.clone(), to.clone());
    let queued = json!({"id": id.as_str(), "to": to.to_string()});
    if !wait {
        drop(pending);
        answer(client, req, Ok(queued));
        return true;
    }
    let (tx, req, in_flight) = (
        client.tx.clone(),
        req.clone(),
        Arc::clone(&client.in_flight),
    );
    in_flight.fetch_add(1, Ordering::SeqCst);
    let waited = std::thread::Builder::new()
        .name("tether-control-send".into())
        .spawn(move || {
            let result = futures_lite::future::block_on(pending)
                .map(|sent| {
                    json!({
                        "id": sent.id.as_str(),
                        "to": to.to_string(),
                        "timestamp_ms": sent.t.saturating_mul(1000),
                    })
                })
                .map_err(Refusal::from);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(answer_line(&req, result));
        });
    if waited.is_err() {
        client.in_flight.fetch_sub(1, Ordering::SeqCst);
        // Without a thread to wait, say that it is queued rather than nothing.
        answer(client, &Value::Null, Ok(queued));
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_carry_ok_req_and_the_refusal_code() {
        let ok = answer_line(&json!(7), Ok(json!({"id": "X"})));
        assert_eq!(ok, r#"{"id":"X","ok":true,"req":7}"#);
        let err: Value = serde_json::from_str(&answer_line(
            &Value::Null,
            Err(MessagingError::Failed {
                id: tether_core::messaging::ids::MessageId("F".into()),
                reason: tether_core::messaging::types::SendError::nack(463),
            }
            .into()),
        ))
        .unwrap();
        assert_eq!(err["ok"], false);
        assert_eq!(err["code"], "send_failed");
        assert_eq!(err["id"], "F");
        assert_eq!(err["nack"], 463);
        assert_eq!(err["reason"], "nack");
        assert!(err.get("req").is_none());
    }
}
