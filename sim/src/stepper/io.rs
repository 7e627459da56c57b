//! The [`Stepper`]'s plumbing: draining both sides' outputs into the queue through the
//! [`Network`](crate::network::Network), answering the connection's actions, and delivering
//! queued inputs.

use std::time::Instant;

use bytes::Bytes;
use tether_core::connection::{Action, Event, Output, TransportEvent, VersionError};
use tether_core::creds::{CredentialStore, StoreResult};
use tether_core::reason::TransportFailure;

use super::{Input, Scan, Stepper};
use crate::network::{Direction, Loss, Sent};
use crate::server::{ConnId, ConnectOutcome};
use crate::trace::{Record, Traced};

impl Stepper {
    pub(super) fn push(&mut self, at: Instant, input: Input) {
        self.queued += 1;
        self.queue.insert((at, self.queued), input);
    }

    pub(super) fn record(&mut self, what: Traced) {
        self.trace.push(Record {
            at: self.now - self.base,
            what,
        });
    }

    pub(super) fn drain(&mut self) {
        loop {
            match self.conn.poll_output() {
                Output::Transmit(t) => {
                    self.record(Traced::Transmit {
                        transport: t.transport,
                        len: t.payload.len(),
                    });
                    let id = self.conn_id(t.transport);
                    self.send_net(id, Direction::Up, t.payload);
                }
                Output::Action(action) => {
                    self.record(Traced::Action(action.clone()));
                    self.on_action(action);
                }
                Output::Event(event) => {
                    self.record(Traced::Event(event.clone()));
                    self.check_event(&event);
                    self.on_event(&event);
                }
                Output::Timeout(_) => break,
                _ => {}
            }
        }
        // Everything the server wrote in one go on one connection is one stream segment: the
        // network may coalesce its frames into one message or split them.
        let mut segment: Option<(ConnId, Vec<u8>)> = None;
        while let Some((id, bytes)) = self.server.poll_transmit() {
            match &mut segment {
                Some((current, buf)) if *current == id => buf.extend_from_slice(&bytes),
                _ => {
                    if let Some((prev, buf)) = segment.take() {
                        self.send_net(prev, Direction::Down, Bytes::from(buf));
                    }
                    segment = Some((id, bytes.to_vec()));
                }
            }
        }
        if let Some((prev, buf)) = segment {
            self.send_net(prev, Direction::Down, Bytes::from(buf));
        }
        while let Some(id) = self.server.poll_close() {
            self.record(Traced::ServerClosed(id));
            match self.net.close(id, Direction::Down, self.now) {
                Some(at) => self.push(at, Input::ClosedByServer(id, "closed by the server")),
                None => self.record(Traced::Net(format!(
                    "{id}: close never arrives (link dead)"
                ))),
            }
        }
    }

    fn send_net(&mut self, id: ConnId, dir: Direction, bytes: Bytes) {
        match self.net.send(id, dir, &bytes, self.now) {
            Sent::Deliver(pieces) => {
                for (at, piece) in pieces {
                    match dir {
                        Direction::Up => self.push(at, Input::ToServer(id, piece)),
                        Direction::Down => self.push_down(at, id, piece),
                    }
                }
            }
            Sent::Reset { at, after } => {
                self.record(Traced::LinkReset { conn: id, after });
                self.push(at, Input::CloseToServer(id));
                self.push(at, Input::ClosedByServer(id, "connection reset by peer"));
            }
            Sent::Lost(loss) => {
                let why = match loss {
                    Loss::Partition => "in a partition",
                    Loss::Reset => "after a reset",
                };
                self.record(Traced::Net(format!(
                    "{id}: {} bytes lost {why}",
                    bytes.len()
                )));
            }
        }
    }

    fn push_down(&mut self, at: Instant, id: ConnId, piece: Bytes) {
        match self.chunk {
            // Split every server message further, as a stream transport may.
            Some(size) if size > 0 => {
                for part in piece.chunks(size) {
                    self.push(at, Input::ToClient(id, Bytes::copy_from_slice(part)));
                }
            }
            _ => self.push(at, Input::ToClient(id, piece)),
        }
    }

    fn on_action(&mut self, action: Action) {
        match action {
            Action::OpenTransport { id, .. } => {
                self.open.insert(id);
                if self.open.len() > 1 {
                    self.violation(&format!("two transports open: {:?}", self.open));
                }
                self.check_open_credentials();
                self.check_not_stopped();
                let cid = self.conn_id(id);
                match self.server.connect_outcome() {
                    ConnectOutcome::Accept => match self.net.open(cid, self.now) {
                        Some(at) => self.push(at, Input::Open(cid)),
                        None => {
                            self.record(Traced::Net(format!("{cid}: connect lost in a partition")));
                            self.record(Traced::Hung(id));
                        }
                    },
                    ConnectOutcome::Refuse => {
                        self.record(Traced::Refused(id));
                        self.push(self.now, Input::Failed(cid));
                    }
                    _ => self.record(Traced::Hung(id)),
                }
            }
            Action::CloseTransport { id } => {
                self.open.remove(&id);
                let cid = self.conn_id(id);
                if let Some(at) = self.net.close(cid, Direction::Up, self.now) {
                    self.push(at, Input::CloseToServer(cid));
                }
            }
            op @ (Action::PersistCredentials { .. }
            | Action::QuarantineCredentials { .. }
            | Action::LoadRecords { .. }) => {
                self.push(self.now + self.store_delay, Input::StoreOp(op));
            }
            Action::FetchVersion { .. } => self.push(self.now, Input::Version),
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event) {
        match event {
            Event::QrCode { code, .. } => {
                let index = self.qr_seen;
                self.qr_seen += 1;
                if self.scan == Scan::Nth(index) {
                    self.push(self.now + self.scan_delay, Input::Scan(code.clone()));
                }
            }
            Event::PairingCode { code } if self.scan == Scan::PairCode => {
                self.push(self.now + self.scan_delay, Input::EnterCode(code.clone()));
            }
            _ => {}
        }
    }

    pub(super) fn deliver(&mut self, input: Input) {
        let now = self.now;
        match input {
            Input::Open(cid) => {
                // A connect of a crashed process reaches the server after its close: nothing.
                let Some(id) = self.transport_of(cid) else {
                    return;
                };
                self.server.handle_open(cid, now);
                self.record(Traced::ServerOpened(cid));
                self.conn.handle_transport(id, TransportEvent::Opened, now);
            }
            Input::Failed(cid) => {
                if let Some(id) = self.transport_of(cid) {
                    self.open.remove(&id);
                    let failure = TransportFailure::Refused {
                        target: "the simulated server".to_owned(),
                    };
                    self.conn
                        .handle_transport(id, TransportEvent::Failed { failure }, now);
                }
            }
            Input::ToServer(cid, bytes) => {
                self.server.handle_bytes(cid, &bytes, now);
                self.after_server_input();
            }
            Input::CloseToServer(cid) => self.server.handle_close(cid, now),
            Input::ToClient(cid, bytes) => {
                if let Some(id) = self.transport_of(cid) {
                    self.conn.handle_bytes(id, &bytes, now);
                }
            }
            Input::ClosedByServer(cid, why) => {
                if let Some(id) = self.transport_of(cid) {
                    self.open.remove(&id);
                    let detail = format!("{why} (simulated)");
                    self.conn
                        .handle_transport(id, TransportEvent::Closed { detail }, now);
                }
            }
            Input::StoreOp(action) => self.store_op(action),
            Input::Version => {
                self.record(Traced::VersionAnswered);
                let answer = self.version_answer.clone().map_err(VersionError);
                self.conn.handle_version(answer, now);
            }
            Input::Scan(code) => {
                let result = self.phone.scan(&mut self.server, &code, now);
                self.record(Traced::Scanned(result.map_err(|e| e.to_string())));
            }
            Input::EnterCode(code) => {
                let result = self.phone.enter_code(&mut self.server, &code, now);
                self.record(Traced::CodeEntered(result.map_err(|e| e.to_string())));
            }
        }
    }

    fn store_op(&mut self, action: Action) {
        if let Action::LoadRecords { id, reads } = &action {
            let result = match self.store.read(reads) {
                Ok(data) => StoreResult::Loaded { id: *id, data },
                Err(error) => StoreResult::LoadFailed { id: *id, error },
            };
            self.record(Traced::Store(result.clone()));
            self.conn.handle_store(result, self.now);
            return;
        }
        let writes_before = self.store.writes();
        let (seq, outcome) = match &action {
            Action::PersistCredentials { seq, delta } => (*seq, self.store.apply(*seq, delta)),
            Action::QuarantineCredentials { seq, reason } => {
                (*seq, self.store.quarantine(*seq, reason))
            }
            _ => return,
        };
        let result = match outcome {
            Ok(()) => {
                if self.store.writes() > writes_before {
                    self.record(Traced::Durable(seq));
                }
                if matches!(action, Action::QuarantineCredentials { .. }) {
                    StoreResult::Quarantined(seq)
                } else {
                    StoreResult::Persisted(seq)
                }
            }
            Err(error) => StoreResult::Failed { seq, error },
        };
        self.record(Traced::Store(result.clone()));
        self.conn.handle_store(result, self.now);
    }
}
