//! Every command and event of the control protocol through a real socket, against a backend
//! that records what it is asked (the messaging API it calls is tested end to end through the
//! simulator in `tests/tests/api_messaging.rs`), plus the server's bounds: line cap, line
//! deadline, independent clients, a subscriber that stops reading, peers of another user; and
//! the Node example bot against the same backend (`node_bot`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod commands;
mod node_bot;
mod sends;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use serde_json::{Value, json};
use tether_control::server::Limits;
use tether_control::{Backend, ControlClient, ControlServer, Request};
use tether_core::binary::Jid;
use tether_core::connection::{Command, Event};
use tether_core::driver::{ClientError, MessagingError};
use tether_core::media::{Digests, MediaError, MediaKey, MediaKind, MediaRef, Upload};
use tether_core::messaging::chatstate::ChatState;
use tether_core::messaging::groups::{GroupInfo, GroupParticipant};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::types::{InboxPos, IncomingMessage, SendError};
use tether_core::proto::message::Message;
use tether_net_common::groups::{GroupQueryError, PendingGroupInfo, PendingGroupList};
use tether_net_common::sends::{PendingSend, SendTracker};

#[derive(Default)]
struct Recorded {
    commands: Vec<Command>,
    sends: Vec<(Jid, Message)>,
    stops: u32,
    backups: Vec<PathBuf>,
    uploads: Vec<(MediaKind, PathBuf)>,
}

struct Fake {
    recorded: Mutex<Recorded>,
    tracker: Arc<SendTracker>,
    refuse_commands: bool,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            recorded: Mutex::new(Recorded::default()),
            tracker: SendTracker::new(),
            refuse_commands: false,
        })
    }

    fn commands(&self) -> Vec<Command> {
        self.recorded.lock().unwrap().commands.clone()
    }
}

impl Backend for Fake {
    fn status(&self) -> Value {
        json!({"live": {"state": "connected"}})
    }

    fn send(&self, to: Jid, message: Message) -> Result<PendingSend, MessagingError> {
        let mut r = self.recorded.lock().unwrap();
        r.sends.push((to, message));
        Ok(self
            .tracker
            .watch(MessageId(format!("ID{}", r.sends.len()))))
    }

    fn command(&self, command: Command) -> Result<(), ClientError> {
        if self.refuse_commands {
            return Err(tether_core::connection::CommandError::InvalidState {
                command: "mark read",
                state: "connecting",
            }
            .into());
        }
        self.recorded.lock().unwrap().commands.push(command);
        Ok(())
    }

    fn upload(&self, kind: MediaKind, path: &Path) -> Result<Upload, MediaError> {
        let length = std::fs::metadata(path)
            .map_err(|e| MediaError::Client(format!("cannot read {}: {e}", path.display())))?
            .len();
        self.recorded
            .lock()
            .unwrap()
            .uploads
            .push((kind, path.to_owned()));
        Ok(Upload {
            kind,
            media_key: MediaKey::from_bytes([7; 32]),
            digests: Digests {
                file_sha256: [1; 32],
                file_enc_sha256: [2; 32],
                file_length: length,
            },
            url: None,
            direct_path: "/v/t62.7119-24/fake".into(),
            uploaded_at: 1_800_000_000,
        })
    }

    fn group_info(&self, group: Jid) -> Result<PendingGroupInfo, GroupQueryError> {
        let pending = self.tracker.groups().watch_info(&group);
        self.command(Command::QueryGroup { group })?;
        Ok(pending)
    }

    fn joined_groups(&self) -> Result<PendingGroupList, GroupQueryError> {
        let pending = self.tracker.groups().watch_list();
        self.command(Command::ListGroups)?;
        Ok(pending)
    }

    fn backup(&self, path: &Path) -> Result<Value, String> {
        self.recorded.lock().unwrap().backups.push(path.to_owned());
        Ok(json!({"path": path}))
    }

    fn stop(&self) {
        self.recorded.lock().unwrap().stops += 1;
    }
}

fn socket(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-ctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("s.sock")
}

/// A client whose reads give up after 30 s: a guard against a hang, long enough for a
/// machine under heavy load (10 s once ran out there with nothing wrong).
fn client(path: &Path) -> ControlClient {
    ControlClient::connect(path, Some(Duration::from_secs(30))).unwrap()
}

/// Sends a raw line and reads the next answer (skipping events).
fn raw(c: &mut ControlClient, line: &str) -> Value {
    let (tag, request) = Request::parse(line).unwrap();
    c.send(&request, &tag).unwrap();
    loop {
        let v = c.next_line().unwrap().unwrap();
        if v.get("ok").is_some() {
            return v;
        }
    }
}

fn message(pos: u64, id: &str, text: &str) -> Event {
    let m = Message::text(text);
    Event::Message(Box::new(IncomingMessage {
        inbox: InboxPos(pos),
        id: MessageId(id.into()),
        chat: "15550001111@s.whatsapp.net".parse().unwrap(),
        sender: "15550001111:1@s.whatsapp.net".parse().unwrap(),
        sender_alt: None,
        from_me: false,
        timestamp: 1_800_000_000,
        push_name: None,
        offline: false,
        message_type: "text".into(),
        raw: Bytes::from(m.encode_to_vec()),
        message: m,
        replayed: false,
    }))
}

/// The same entry as a catch-up read emits it.
fn replayed(pos: u64, id: &str, text: &str) -> Event {
    match message(pos, id, text) {
        Event::Message(mut m) => {
            m.replayed = true;
            Event::Message(m)
        }
        other => other,
    }
}

/// Reads events until one named `name`.
fn event(c: &mut ControlClient, name: &str) -> Value {
    loop {
        let v = c.next_line().unwrap().expect("the stream ended");
        if v["event"] == name {
            return v;
        }
    }
}
