//! The Node example bot (`examples/node/echo-bot.mjs`, the one docs/CONTROL.md shows) against
//! a real control server: it subscribes, answers a text with a quoted echo, confirms the
//! message only after the server acknowledged the echo, leaves its own messages alone, and
//! after a restart resumes from the position it saved. Needs `node` on the PATH (CI has it);
//! without it the test says so and passes.

use std::process::{Child, Command as Process, Stdio};
use std::time::Instant;

use super::*;

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

/// `message`, sent by this account.
fn own(pos: u64, id: &str, text: &str) -> Event {
    match message(pos, id, text) {
        Event::Message(mut m) => {
            m.from_me = true;
            Event::Message(m)
        }
        other => other,
    }
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
    fake.commands()
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
    let fake = Fake::new();
    let server = ControlServer::serve(&socket, fake.clone()).unwrap();

    let mut first = bot(&socket, &state);
    eventually("the bot to subscribe", &mut first, || {
        server.hub().subscribers() == 1
    });
    // No state yet: it asked for new messages only.
    assert!(fake.commands().is_empty());
    server.publish(&own(7, "OWN", "my own words"));
    server.publish(&message(8, "HELLO", "hello"));
    eventually("the echo", &mut first, || {
        !fake.recorded.lock().unwrap().sends.is_empty()
    });
    let (to, echo) = fake.recorded.lock().unwrap().sends[0].clone();
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
        id: MessageId("ID1".into()),
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
        fake.recorded.lock().unwrap().sends.len(),
        1,
        "one echo, none for its own"
    );
    first.kill().unwrap();
    let _ = first.wait();

    // Restarted, it catches up from the saved position.
    let mut second = bot(&socket, &state);
    eventually("the catch-up read", &mut second, || {
        fake.commands()
            .iter()
            .any(|c| matches!(c, Command::ReplayInbox { from: InboxPos(9) }))
    });
    second.kill().unwrap();
    let _ = second.wait();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
