//! The real npm Baileys client (6.17.16) exchanges end-to-end encrypted 1:1 messages with the
//! `SimServer`'s simulated phones: Baileys links to phone 0's account, a contact phone writes
//! to that account (Baileys and phone 0 both decrypt it), and Baileys writes back (the
//! contact phone decrypts it, and phone 0 gets the own-device copy). The server's fidelity:
//! usync answers, bundles, fan-out, per-device delivery and receipts as a real client needs
//! them. Needs `npm ci` in `interop/`; run with `--ignored` (CI does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::binary::{Jid, Server};
use tether_sim::net::{SimServer, SimServerConfig};
use tether_tests::interop::fidelity::{link_baileys_session_with, no_close};

const LIMIT: Duration = Duration::from_secs(60);

/// Polls `f` every 50 ms until it gives `Some` or `LIMIT` passes.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs node and npm ci in interop/; CI runs it"]
fn baileys_and_the_simulated_phones_talk_both_ways() {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        contacts: 1,
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let auth = std::env::temp_dir().join(format!("tether-sim-baileys-msg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&auth);
    std::fs::create_dir_all(&auth).expect("auth dir");
    let env = [("FIDELITY_APP_STATE_KEY_ID", "AAAAAAAA")];
    let (mut app, jid) =
        link_baileys_session_with(&server, &auth, LIMIT, &env).unwrap_or_else(|e| panic!("{e}"));
    let phones = server.phones();
    let account = Jid::user(&phones[0].phone_number, Server::WhatsApp);
    let contact = Jid::user(&phones[1].phone_number, Server::WhatsApp);

    // Contact → the account: Baileys (a companion of it) and phone 0 both get it. Baileys
    // uploaded its pre-keys after login; wait until the server holds them.
    let companion = jid;
    eventually("Baileys' pre-keys", || {
        server
            .with_server(|s| s.pre_key_count(&companion))
            .filter(|n| *n > 0)
    });
    let id = server
        .send_text(1, &account, "hello from the contact")
        .expect("send");
    let message = app
        .wait_for("message", LIMIT, no_close)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(message["id"], id.as_str(), "{message}");
    assert_eq!(message["text"], "hello from the contact");
    assert_eq!(message["fromMe"], false);
    let got = eventually("phone 0's copy", || {
        server.received(0).ok().filter(|r| !r.is_empty())
    });
    assert_eq!(got[0].text.as_deref(), Some("hello from the contact"));

    // Baileys → the contact: the contact phone decrypts it, phone 0 gets the own-device copy.
    app.command(&format!("send {contact} hello from Baileys"))
        .expect("command");
    let sent = app
        .wait_for("sent", LIMIT, |e| {
            if e["event"] == "send-failed" {
                Err(format!("Baileys could not send: {e}"))
            } else {
                no_close(e)
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    let back = eventually("the contact's message", || {
        server
            .received(1)
            .ok()
            .and_then(|r| r.into_iter().find(|m| m.id == sent_id))
    });
    assert_eq!(back.text.as_deref(), Some("hello from Baileys"));
    let copy = eventually("phone 0's own-device copy", || {
        server
            .received(0)
            .ok()
            .and_then(|r| r.into_iter().find(|m| m.id == sent_id))
    });
    assert!(copy.from_me);
    assert!(
        server.with_server(|s| s.complaints().is_empty()),
        "{:?}",
        server.with_server(|s| s.complaints().to_vec())
    );
    app.quit().expect("quit");
    let _ = std::fs::remove_dir_all(&auth);
}
