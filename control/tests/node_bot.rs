//! The Node example bot (`examples/node/echo-bot.mjs`, the one docs/CONTROL.md shows) against
//! a real control server: it subscribes, answers a text with a quoted echo, confirms the
//! message only after the server acknowledged the echo, leaves its own messages alone, and
//! after a restart resumes from the position it saved. Needs `node` on the PATH (CI has it);
//! without it the test says so and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use serde_json::{Value, json};
use tether_control::{Backend, ControlServer};
use tether_core::binary::Jid;
use tether_core::connection::{Command, Event};
use tether_core::driver::{ClientError, MessagingError};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::types::{InboxPos, IncomingMessage};
use tether_core::proto::message::Message;
use tether_net_common::groups::{GroupQueryError, PendingGroupInfo, PendingGroupList};
use tether_net_common::sends::{PendingSend, SendTracker};

/// A connection that records what it is asked; sends are answered by the test.
#[derive(Default)]
struct Fake {
    commands: Mutex<Vec<Command>>,
    sends: Mutex<Vec<(Jid, Message)>>,
    tracker: Arc<SendTracker>,
}

impl Backend for Fake {
    fn status(&self) -> Value {
        json!({"live": {"state": "connected"}})
    }

    fn upload(
        &self,
        kind: tether_core::media::MediaKind,
        _path: &Path,
    ) -> Result<tether_core::media::Upload, tether_core::media::MediaError> {
        Err(tether_core::media::MediaError::NotUploadable(kind))
    }

    fn send(&self, to: Jid, message: Message) -> Result<PendingSend, MessagingError> {
        let mut sends = self.sends.lock().unwrap();
        sends.push((to, message));
        Ok(self
            .tracker
            .watch(MessageId(format!("ECHO{}", sends.len()))))
    }

    fn command(&self, command: Command) -> Result<(), ClientError> {
        self.commands.lock().unwrap().push(command);
        Ok(())
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

    fn backup(&self, _: &Path) -> Result<Value, String> {
        Err("not here".into())
    }

    fn stop(&self) {}
}

const LIMIT: Duration = Duration::from_secs(30);

/// Polls `f` every 20 ms until it holds; fails after [`LIMIT`] naming `what`.
fn eventually(what: &str, bot: &mut Child, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !f() {
        if let Ok(Some(status)) = bot.try_wait() {
            panic!("the bot exited ({status}) while waiting for {what}");
        }
        if Instant::now() > deadline {
            let _ = bot.kill();
            panic!("timed out after {LIMIT:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn message(pos: u64, id: &str, text: &str, from_me: bool) -> Event {
    let m = Message::text(text);
    Event::Message(Box::new(IncomingMessage {
        inbox: InboxPos(pos),
        id: MessageId(id.into()),
        chat: "15550001111@s.whatsapp.net".parse().unwrap(),
        sender: "15550001111:1@s.whatsapp.net".parse().unwrap(),
        sender_alt: None,
        from_me,
        timestamp: 1_800_000_000,
        push_name: None,
        offline: false,
        message_type: "text".into(),
        raw: Bytes::from(m.encode_to_vec()),
        message: m,
        replayed: false,
    }))
}

fn bot(socket: &Path, state: &Path) -> Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/node/echo-bot.mjs");
    Process::new("node")
        .arg(script)
        .arg(socket)
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start node")
}

fn confirmed(fake: &Fake) -> Vec<u64> {
    fake.commands
        .lock()
        .unwrap()
        .iter()
        .filter_map(|c| match c {
            Command::Confirm { positions } => Some(positions.iter().map(|p| p.0)),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn the_node_echo_bot_answers_confirms_after_the_ack_and_resumes_after_a_restart() {
    if Process::new("node").arg("--version").output().is_err() {
        eprintln!("SKIPPED: node is not installed; the Node example bot was not run");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tether-node-bot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (socket, state) = (dir.join("s.sock"), dir.join("bot.state"));
    let fake = Arc::new(Fake::default());
    let server = ControlServer::serve(&socket, fake.clone()).unwrap();

    let mut first = bot(&socket, &state);
    eventually("the bot to subscribe", &mut first, || {
        server.hub().subscribers() == 1
    });
    // No state yet: it asked for new messages only.
    assert!(fake.commands.lock().unwrap().is_empty());
    server.publish(&message(7, "OWN", "my own words", true));
    server.publish(&message(8, "HELLO", "hello", false));
    eventually("the echo", &mut first, || {
        !fake.sends.lock().unwrap().is_empty()
    });
    let (to, echo) = fake.sends.lock().unwrap()[0].clone();
    assert_eq!(to.to_string(), "15550001111@s.whatsapp.net");
    let text = echo.extended_text_message.as_ref().expect("a quoted reply");
    assert_eq!(text.text.as_deref(), Some("echo: hello"));
    let context = text.context_info.as_ref().expect("it quotes");
    assert_eq!(context.stanza_id.as_deref(), Some("HELLO"));
    // Its own message is confirmed without an answer; the echoed one only after the ack.
    eventually("the own message confirmed", &mut first, || {
        confirmed(&fake) == [7]
    });
    fake.tracker.observe(&Event::Sent {
        id: MessageId("ECHO1".into()),
        to,
        t: 1_800_000_001,
    });
    eventually("the echoed message confirmed", &mut first, || {
        confirmed(&fake) == [7, 8]
    });
    eventually("the state file", &mut first, || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.trim() == "9")
    });
    assert_eq!(
        fake.sends.lock().unwrap().len(),
        1,
        "one echo, none for its own"
    );
    first.kill().unwrap();
    let _ = first.wait();

    // Restarted, it catches up from the saved position.
    let mut second = bot(&socket, &state);
    eventually("the catch-up read", &mut second, || {
        fake.commands
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Command::ReplayInbox { from: InboxPos(9) }))
    });
    second.kill().unwrap();
    let _ = second.wait();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
