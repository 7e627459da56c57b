//! Tether and the real npm Baileys client (6.17.16) talk to each other through one `SimServer`:
//! Baileys is a companion of phone 0's account, Tether (the tokio adapter on a redb store, as an
//! application runs it) a companion of phone 1's account, so each is the other's contact.
//!
//! - Baileys writes to Tether: the first message reaches Tether's device as a `pkmsg` (a new
//!   Signal session); once Tether answered on that session (a `msg`), Baileys' next one is a
//!   `msg` too. Tether's application gets the exact texts.
//! - Tether replies quoting Baileys' message and reacts to one; Baileys' `messages.upsert`
//!   shows the text, the quote and the reaction. Baileys does the same the other way.
//! - Retries each way: Baileys cannot decrypt Tether's first reply (it holds its session under
//!   the phone number, Tether wrote to the LID) and asks for it again; the server garbles one
//!   of Baileys' messages to Tether, and Tether asks Baileys for it again. Both are recovered.
//! - Offline backlogs: what Tether sends while Baileys is stopped reaches Baileys once after it
//!   comes back; what Baileys sends while Tether is shut down reaches Tether once after it
//!   restarts on the same store.
//!
//! - In a group that Baileys' account made with Tether's: both write to it, a third phone is
//!   added mid-conversation (Tether's next message reaches it) and removed (it does not).
//!
//! Every message is counted on the receiving side: the test fails when one is lost, garbled or
//! delivered twice. Needs `npm ci` in `interop/`; run with `--ignored` (CI does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod baileys_peers;

use std::collections::BTreeMap;
use std::time::Duration;

use baileys_peers::{
    LIMIT, Peer, Tether, assert_no_complaints, eventually, finish, scratch, wait_for_pre_keys,
};
use serde_json::Value as Json;
use tether_core::binary::{Jid, Node, Server, Value};
use tether_core::connection::Event;
use tether_core::messaging::compose::ReactionTarget;
use tether_core::messaging::types::IncomingMessage;
use tether_sim::net::{SimServer, SimServerConfig};
use tether_sim::{MemberChange, Namespace};
use tether_tests::interop::fidelity::{BaileysApp, link_baileys_session_with};

/// Baileys 6.17.16 waits for the phone's app-state key unless it has one (see `fidelity.mjs`).
const BAILEYS_ENV: [(&str, &str); 1] = [("FIDELITY_APP_STATE_KEY_ID", "AAAAAAAA")];

/// The `type` of the `<enc>` that the server got from a client for device `to` (by phone number
/// or by `lid_user`) in message `id`'s first transmission.
fn enc_type_for(server: &SimServer, id: &str, to: &Jid, lid_user: &str) -> Option<String> {
    server.with_server(|s| {
        s.received().iter().find_map(|(_, node)| {
            if node.tag != "message" || node.attr_str("id") != Some(id) {
                return None;
            }
            participants_enc(node, to, lid_user)
        })
    })
}

fn participants_enc(message: &Node, to: &Jid, lid_user: &str) -> Option<String> {
    message
        .child("participants")?
        .child_nodes()
        .iter()
        .find(|entry| {
            jid_attr(entry, "jid").is_some_and(|j| {
                (j.user_str() == to.user_str() || j.user_str() == lid_user)
                    && j.device_id() == to.device_id()
            })
        })
        .and_then(|entry| entry.child("enc"))
        .and_then(|enc| enc.attr_str("type"))
        .map(str::to_owned)
}

/// Attribute `key` of `node` as a JID (written as one, or as a string).
fn jid_attr(node: &Node, key: &str) -> Option<Jid> {
    match node.get_attr(key)? {
        Value::Jid(j) => Some(j.clone()),
        Value::String(s) => s.parse().ok(),
    }
}

#[test]
#[ignore = "needs node and npm ci in interop/; CI runs it"]
fn tether_and_baileys_converse_through_the_sim_server() {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        contacts: 1,
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let dir = scratch("baileys-tether");
    let auth = dir.join("baileys-auth");
    let store = dir.join("tether.redb");
    let phones = server.phones();
    let baileys_account = Jid::user(&phones[0].phone_number, Server::WhatsApp);
    let tether_account = Jid::user(&phones[1].phone_number, Server::WhatsApp);

    let (app, baileys_jid) = link_baileys_session_with(&server, &auth, LIMIT, &BAILEYS_ENV)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut baileys = Peer::new(app);
    let mut tether = Tether::start(&server, &store);
    let tether_jid = tether.wait_connected(&server, 1);
    assert_eq!(tether_jid.user_str(), tether_account.user_str());
    wait_for_pre_keys(&server, &[&baileys_jid, &tether_jid]);

    // Baileys → Tether on a new session: a `pkmsg`; Tether's application gets the exact text.
    let text = "hello Tether, from Baileys";
    let id = baileys.send(&format!("send {tether_account} {text}"));
    let first = tether.message(&id);
    assert_eq!(first.text(), Some(text), "Tether got {first:?}");
    assert!(!first.from_me);
    assert_eq!(
        first.chat.user_str(),
        baileys_account.user_str(),
        "{first:?}"
    );
    assert_eq!(
        enc_type_for(&server, &id, &tether_jid, &phones[1].lid_user).as_deref(),
        Some("pkmsg"),
        "Baileys' first message {id} to Tether's device"
    );

    // Tether → Baileys: a reply quoting it, on the session Baileys opened (a `msg`).
    let reply = tether.acked(
        tether
            .client
            .reply(&first, "hello Baileys, from Tether")
            .unwrap(),
    );
    let got = baileys.message(&reply);
    assert_eq!(got["text"], "hello Baileys, from Tether", "{got}");
    assert_eq!(got["quoted"], first.id.0.as_str(), "{got}");
    // The chat is Tether's account, by phone number or by LID (Tether addresses 1:1 messages
    // to the LID when the server knows one).
    let chat = got["chat"]
        .as_str()
        .and_then(|c| c.parse::<Jid>().ok())
        .map(|j| j.user_str().to_owned())
        .unwrap_or_default();
    assert!(
        chat == tether_account.user_str() || chat == phones[1].lid_user,
        "{got}"
    );
    // The reply went out as a `msg` on the session Baileys opened, addressed to Baileys' LID:
    // Tether addresses 1:1 messages to the LID when the server knows one (as whatsmeow does)
    // and keeps each device's session under that one canonical name. Baileys 6.17.16 keys its
    // sessions by the JID string and holds this one under the phone number, so it cannot
    // decrypt it ("No session record"), sends a retry receipt, and Tether's answer (a fresh
    // `pkmsg` to the LID) is what arrived above: the retry path, Baileys asking and Tether answering.
    assert_eq!(
        enc_type_for(&server, &reply, &baileys_jid, &phones[0].lid_user).as_deref(),
        Some("msg"),
        "Tether's reply {reply} to Baileys' device"
    );
    let retried: Vec<&Json> = baileys
        .undecryptable
        .iter()
        .filter(|e| e["id"] == reply.as_str())
        .collect();
    assert!(!retried.is_empty(), "{:?}", baileys.undecryptable);
    assert!(
        retried
            .iter()
            .all(|e| e["stubParameters"][0] == "No session record"),
        "{retried:?}"
    );

    // Baileys → Tether again: its session under Tether's phone number has still had no answer
    // (the reply came on the LID one), so libsignal sends a `pkmsg` again; Tether decrypts it.
    let text = "a second one — ünïcödé ✓";
    let id = baileys.send(&format!("send {tether_account} {text}"));
    let second = tether.message(&id);
    assert_eq!(second.text(), Some(text), "Tether got {second:?}");
    assert_eq!(
        enc_type_for(&server, &id, &tether_jid, &phones[1].lid_user).as_deref(),
        Some("pkmsg"),
        "Baileys' second message {id} to Tether's device"
    );

    // Tether reacts to it; Baileys sees the reaction.
    let reaction = tether.acked(
        tether
            .client
            .react(ReactionTarget::of(&second), "👍")
            .unwrap(),
    );
    let got = baileys.message(&reaction);
    assert_eq!(got["reaction"]["id"], second.id.0.as_str(), "{got}");
    assert_eq!(got["reaction"]["text"], "👍", "{got}");

    // Baileys → Tether: a reply quoting Tether's message, and a reaction to it.
    let quoting = baileys.send(&format!("reply {tether_account} {reply} quoting you back"));
    let msg = tether.message(&quoting);
    assert_eq!(msg.text(), Some("quoting you back"), "{msg:?}");
    assert_eq!(msg.quoted().map(|q| q.id.0), Some(reply.clone()), "{msg:?}");
    let reacting = baileys.send(&format!("react {tether_account} {reply} 🎉"));
    let msg = tether.message(&reacting);
    assert_eq!(
        msg.reaction().map(|(id, emoji)| (id.0, emoji)),
        Some((reply.clone(), "🎉".to_owned())),
        "{msg:?}"
    );

    // A retry from Tether to Baileys: the server corrupts the ciphertext of Baileys' next
    // message to Tether's device once (its MAC fails), Tether asks for it again with a retry
    // receipt, Baileys resends it to that one device on a new session, and Tether's
    // application gets it once.
    assert!(server.with_server(|s| s.garble_next_messages(&tether_jid, 1)));
    let text = "garbled once on the way, recovered by a retry";
    let id = baileys.send(&format!("send {tether_account} {text}"));
    let recovered = tether.message(&id);
    assert_eq!(recovered.text(), Some(text), "{recovered:?}");
    assert!(
        !tether.undecryptable.contains(&id),
        "{:?}",
        tether.undecryptable
    );
    let (retry, resend) = server.with_server(|s| {
        let received = s.received();
        let retry = received
            .iter()
            .map(|(_, n)| n)
            .find(|n| {
                n.tag == "receipt"
                    && n.attr_str("type") == Some("retry")
                    && n.attr_str("id") == Some(id.as_str())
            })
            .cloned();
        let resend = received
            .iter()
            .map(|(_, n)| n)
            .find(|n| {
                n.tag == "message"
                    && n.attr_str("id") == Some(id.as_str())
                    && n.attr_str("device_fanout") == Some("false")
            })
            .cloned();
        (retry, resend)
    });
    // The retry receipt went from Tether to Baileys' account, asking for the first retry.
    let retry = retry.unwrap_or_else(|| panic!("no retry receipt from Tether for {id}"));
    let to =
        jid_attr(&retry, "to").unwrap_or_else(|| panic!("a retry receipt without to: {retry:?}"));
    assert!(
        to.user_str() == baileys_account.user_str() || to.user_str() == phones[0].lid_user,
        "{retry:?}"
    );
    assert_eq!(
        retry.child("retry").and_then(|r| r.attr_str("count")),
        Some("1"),
        "{retry:?}"
    );
    // Baileys' resend: to Tether's device alone, a `pkmsg` (Baileys forces a new session for a
    // retry). Baileys 6.17.16 wraps its `<enc>` in `<participants>` and sets no `count` on it
    // (it passes the receipt's count to `relayMessage`, which does not write it): should a
    // later Baileys write one, it must be the receipt's.
    let resend = resend.unwrap_or_else(|| panic!("no resend of {id} from Baileys"));
    let resent_to =
        jid_attr(&resend, "to").unwrap_or_else(|| panic!("a resend without to: {resend:?}"));
    assert_eq!(resent_to.device_id(), tether_jid.device_id(), "{resend:?}");
    let enc = resend
        .child("participants")
        .and_then(|p| p.child("to"))
        .or(Some(&resend))
        .and_then(|parent| parent.child("enc"))
        .unwrap_or_else(|| panic!("a resend without <enc>: {resend:?}"));
    assert_eq!(enc.attr_str("type"), Some("pkmsg"), "{resend:?}");
    assert!(
        matches!(enc.attr_str("count"), None | Some("1")),
        "{resend:?}"
    );

    // Tether's backlog to Baileys: sent (and acked) while Baileys is stopped, delivered once
    // when it comes back; a last message after the restart marks the end of the backlog.
    baileys.app.quit().expect("Baileys quits");
    let backlog: Vec<(String, String)> = (1..=3)
        .map(|n| {
            let text = format!("while you were away #{n}");
            let id = tether.acked(
                tether
                    .client
                    .send_text(baileys_account.clone(), text.as_str())
                    .unwrap(),
            );
            (id, text)
        })
        .collect();
    let app = BaileysApp::spawn_with(&server.ws_url(), &auth, &BAILEYS_ENV)
        .unwrap_or_else(|e| panic!("{e}"));
    let earlier = std::mem::take(&mut baileys.got);
    let failed_before = std::mem::take(&mut baileys.undecryptable);
    baileys = Peer {
        app,
        got: BTreeMap::new(),
        undecryptable: failed_before,
    };
    let open = loop {
        let event = baileys.next();
        if event["event"] == "open" {
            break event;
        }
    };
    assert!(open["me"].is_string(), "{open}");
    let marker = tether.acked(
        tether
            .client
            .send_text(baileys_account, "welcome back")
            .unwrap(),
    );
    for (id, text) in &backlog {
        let got = baileys.message(id);
        assert_eq!(got["text"], text.as_str(), "{got}");
    }
    baileys.message(&marker);

    // Baileys' backlog to Tether: sent while Tether is shut down, delivered once after it
    // restarts on the same store (nothing replayed: every earlier message was confirmed).
    let before_restart = std::mem::take(&mut tether.got);
    tether.shutdown();
    let backlog_to_tether: Vec<(String, String)> = (1..=3)
        .map(|n| {
            let text = format!("queued for Tether #{n}");
            (baileys.send(&format!("send {tether_account} {text}")), text)
        })
        .collect();
    let mut tether = Tether::start(&server, &store);
    let again = tether.wait_connected(&server, 1);
    assert_eq!(
        again, tether_jid,
        "Tether logged in again as the same device"
    );
    let end = baileys.send(&format!("send {tether_account} the end"));
    for (id, text) in &backlog_to_tether {
        let msg = tether.message(id);
        assert_eq!(msg.text(), Some(text.as_str()), "{msg:?}");
        assert!(!msg.replayed, "{msg:?}");
    }
    tether.message(&end);

    // Exactly once, everywhere: no id came twice on either side, none came back after the
    // restart, and the server saw nothing it complains about.
    for (side, counts) in [
        ("Tether, first run", count(&before_restart)),
        ("Tether, after the restart", count(&tether.got)),
        ("Baileys, first run", count_json(&earlier)),
        ("Baileys, after the restart", count_json(&baileys.got)),
    ] {
        let twice: Vec<_> = counts.iter().filter(|(_, n)| *n > 1).collect();
        assert!(
            twice.is_empty(),
            "{side} got these more than once: {twice:?}"
        );
    }
    for id in before_restart.keys() {
        assert!(
            !tether.got.contains_key(id),
            "Tether got {id} again after the restart"
        );
    }
    for id in earlier.keys() {
        assert!(
            !baileys.got.contains_key(id),
            "Baileys got {id} again after its restart"
        );
    }
    // Anything the server complains about (but Baileys' peer messages to its own phone, see
    // `complaints`) fails the test.
    assert_no_complaints(&server);
    finish(tether, baileys, server, &dir);
}

fn count(got: &BTreeMap<String, (usize, Box<IncomingMessage>)>) -> Vec<(String, usize)> {
    got.iter().map(|(id, (n, _))| (id.clone(), *n)).collect()
}

fn count_json(got: &BTreeMap<String, (usize, Json)>) -> Vec<(String, usize)> {
    got.iter().map(|(id, (n, _))| (id.clone(), *n)).collect()
}

/// The group half: phone 0's account (Baileys) makes a group with Tether's account; both write
/// to it; phone 2 is added mid-conversation (Tether's next message reaches it, with the sender
/// key handed over) and removed again (Tether's next message does not reach it: a new sender
/// key). Baileys' and Tether's messages each arrive once with the group as chat and the writer
/// as sender.
#[test]
#[ignore = "needs node and npm ci in interop/; CI runs it"]
fn tether_and_baileys_in_a_group_with_a_member_added_and_removed() {
    let server = SimServer::start(SimServerConfig {
        first_frame_delay: Duration::from_millis(100),
        contacts: 2,
        ..SimServerConfig::default()
    })
    .expect("start the sim server");
    let dir = scratch("baileys-tether-group");
    let auth = dir.join("baileys-auth");
    let store = dir.join("tether.redb");
    let phones = server.phones();
    let baileys_account = Jid::user(&phones[0].phone_number, Server::WhatsApp);
    let tether_account = Jid::user(&phones[1].phone_number, Server::WhatsApp);
    let phone2 = Jid::user(&phones[2].phone_number, Server::WhatsApp);

    let (app, baileys_jid) = link_baileys_session_with(&server, &auth, LIMIT, &BAILEYS_ENV)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut baileys = Peer::new(app);
    let mut tether = Tether::start(&server, &store);
    let tether_jid = tether.wait_connected(&server, 1);
    wait_for_pre_keys(&server, &[&baileys_jid, &tether_jid]);
    // Phone-number addressing. Baileys 6.17.16 predates LID-addressed groups (nothing in it
    // reads `addressing_mode`): its `relayMessage` encodes every participant device under
    // `s.whatsapp.net` whatever the group's participants are, so in a LID-addressed group it
    // asks for the keys of `<lid number>:<device>@s.whatsapp.net`, which names no phone
    // number: the server answers that user with `<error code="406" text="not-acceptable"/>`
    // and Baileys gives up on the send. Baileys versions without LID support failed to send to
    // LID-addressed groups on the real service as well (WhiskeySockets/Baileys issues 1387 and
    // 1478, "No sessions"); the simulator does not accept what names no account.
    let group = server
        .create_group(
            0,
            "Interop",
            std::slice::from_ref(&tether_account),
            Namespace::Pn,
        )
        .expect("phone 0 creates the group");
    let group_str = group.to_string();
    let is_user = |jid: &Json, phone: usize| {
        jid.as_str()
            .and_then(|j| j.parse::<Jid>().ok())
            .is_some_and(|j| {
                j.user_str() == phones[phone].phone_number || j.user_str() == phones[phone].lid_user
            })
    };

    // Baileys → the group: Tether's application gets it with the group as chat.
    let id = baileys.send(&format!("send {group} hello group, from Baileys"));
    let got = tether.message(&id);
    assert_eq!(got.text(), Some("hello group, from Baileys"), "{got:?}");
    assert_eq!(got.chat, group, "{got:?}");
    let sender = [
        Some(got.sender.user_str().to_owned()),
        got.sender_alt.as_ref().map(|j| j.user_str().to_owned()),
    ];
    assert!(
        sender.contains(&Some(baileys_account.user_str().to_owned()))
            || sender.contains(&Some(phones[0].lid_user.clone())),
        "{got:?}"
    );

    // Tether → the group: Baileys shows it with the group as chat and Tether as participant.
    let hi = tether.acked(
        tether
            .client
            .send_text(&group, "hello group, from Tether")
            .unwrap(),
    );
    let seen = baileys.message(&hi);
    assert_eq!(seen["text"], "hello group, from Tether", "{seen}");
    assert_eq!(seen["chat"], group_str.as_str(), "{seen}");
    assert!(is_user(&seen["participant"], 1), "{seen}");

    // Phone 2 joins mid-conversation: Tether hears of it, and its next message reaches phone 2
    // too (the sender key goes to the new member first).
    server
        .change_group(0, &group, MemberChange::Add, std::slice::from_ref(&phone2))
        .expect("phone 0 adds phone 2");
    loop {
        if let Event::GroupChanged { group: g, .. } = tether.next("the member added")
            && g == group
        {
            break;
        }
    }
    let welcome = tether.acked(tether.client.send_text(&group, "welcome, phone 2").unwrap());
    eventually("phone 2 to get Tether's welcome", || {
        server
            .received(2)
            .unwrap()
            .into_iter()
            .find(|m| m.id == welcome)
    });
    baileys.message(&welcome);

    // Phone 2 is removed: Tether's next message reaches Baileys but not phone 2.
    server
        .change_group(
            0,
            &group,
            MemberChange::Remove,
            std::slice::from_ref(&phone2),
        )
        .expect("phone 0 removes phone 2");
    loop {
        if let Event::GroupChanged { group: g, .. } = tether.next("the member removed")
            && g == group
        {
            break;
        }
    }
    let after = tether.acked(
        tether
            .client
            .send_text(&group, "just the two of us")
            .unwrap(),
    );
    let seen = baileys.message(&after);
    assert_eq!(seen["text"], "just the two of us", "{seen}");
    assert!(
        !server.received(2).unwrap().iter().any(|m| m.id == after),
        "phone 2 got a message sent after it was removed"
    );
    // And Baileys writes once more; Tether gets it.
    let last = baileys.send(&format!("send {group} still here"));
    assert_eq!(tether.message(&last).text(), Some("still here"));

    let twice: Vec<_> = count(&tether.got)
        .into_iter()
        .chain(count_json(&baileys.got))
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    finish(tether, baileys, server, &dir);
}
